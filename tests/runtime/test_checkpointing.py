"""Checkpointing: relative workdirs, latest-and-best retention."""

import jax.numpy as jnp
import numpy as np

from colorize_jax.runtime import checkpointing


def test_relative_workdir_saves_and_restores(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    state = {"w": jnp.arange(4.0)}
    manager = checkpointing.create_manager("runs/relative")
    checkpointing.save(manager, 1, state)
    manager.wait_until_finished()
    restored = checkpointing.restore(manager, 1, checkpointing.abstract_like(state))
    manager.close()
    np.testing.assert_array_equal(restored["w"], state["w"])
    assert (tmp_path / "runs/relative/checkpoints/1").is_dir()


def test_keeps_the_latest_and_the_best(tmp_path):
    manager = checkpointing.create_manager(str(tmp_path), best_metric="psnr")
    for step, psnr in [(1, 20.0), (2, 25.0), (3, 22.0), (4, None)]:
        metrics = None if psnr is None else {"psnr": psnr}
        checkpointing.save(manager, step, {"w": jnp.full((2,), float(step))}, metrics=metrics)
        manager.wait_until_finished()
    assert manager.best_step() == 2
    assert manager.latest_step() == 4
    assert sorted(manager.all_steps()) == [2, 4]
    manager.close()


def test_a_checkpoint_being_written_is_never_taken_as_the_latest(tmp_path):
    state = {"w": jnp.arange(4.0)}
    manager = checkpointing.create_manager(str(tmp_path))
    checkpointing.save(manager, 1, state)
    manager.close()
    # What a kill during the save of step 2 leaves: orbax writes each step into a temporary
    # directory and gives it the step's name only once complete.
    partial = tmp_path / "checkpoints/2.orbax-checkpoint-tmp/state"
    partial.mkdir(parents=True)
    (partial / "_METADATA").write_text('{"tree_metadata": {"w"')
    manager = checkpointing.create_manager(str(tmp_path))
    assert manager.latest_step() == 1 and list(manager.all_steps()) == [1]
    restored = checkpointing.restore(manager, 1, checkpointing.abstract_like(state))
    np.testing.assert_array_equal(restored["w"], state["w"])
    checkpointing.save(manager, 2, {"w": jnp.full((4,), 2.0)})  # the step is saved again
    manager.wait_until_finished()
    assert manager.latest_step() == 2
    manager.close()

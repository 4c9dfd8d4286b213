"""Checkpointing: relative workdirs, latest-and-best retention, when to save, partial restore."""

import jax
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


def test_should_save_follows_the_interval_and_skips_saved_steps(tmp_path):
    manager = checkpointing.create_manager(str(tmp_path), save_interval_steps=3)
    assert [checkpointing.should_save(manager, step) for step in range(1, 8)] == [
        False,
        False,
        True,
        False,
        False,
        True,
        False,
    ]
    assert manager.should_save(3)  # the same as orbax's own answer
    checkpointing.save(manager, 3, {"w": jnp.zeros(2)})
    manager.wait_until_finished()
    assert not checkpointing.should_save(manager, 3)  # saved already
    assert checkpointing.should_save(manager, 6)
    manager.close()


def test_the_default_interval_saves_every_step(tmp_path):
    manager = checkpointing.create_manager(str(tmp_path))
    assert all(checkpointing.should_save(manager, step) for step in range(1, 5))
    manager.close()


def test_a_forced_save_off_the_interval_is_kept_and_can_be_the_best(tmp_path):
    manager = checkpointing.create_manager(str(tmp_path), save_interval_steps=5)
    saved = []
    # Step 7 is an evaluation step (forced, with metrics); step 12 is the last step (forced).
    evaluations, last = {5: 20.0, 7: 25.0, 10: 22.0}, 12
    for step in range(1, last + 1):
        force = step in evaluations or step == last
        if checkpointing.should_save(manager, step, force=force):
            metrics = {"psnr": evaluations[step]} if step in evaluations else None
            checkpointing.save(manager, step, {"w": jnp.full((2,), float(step))}, metrics=metrics)
            manager.wait_until_finished()
            saved.append(step)
    assert saved == [5, 7, 10, 12]
    assert manager.best_step() == 7 and manager.latest_step() == 12
    assert sorted(manager.all_steps()) == [7, 12]
    restored = checkpointing.restore(manager, 7, checkpointing.abstract_like({"w": jnp.zeros(2)}))
    np.testing.assert_array_equal(restored["w"], [7.0, 7.0])
    manager.close()


def test_part_of_the_state_restores_alone(tmp_path):
    """The generator-only restore of inference/restore.py: a partial PyTreeRestore."""
    import orbax.checkpoint as ocp

    state = {
        "networks": {"generator": {"w": jnp.arange(3.0)}, "discriminator": {"w": jnp.ones(4)}},
        "opt_state": {"mu": jnp.zeros(3)},
    }
    manager = checkpointing.create_manager(str(tmp_path), save_interval_steps=10)
    checkpointing.save(manager, 2, state)
    manager.close()
    manager = checkpointing.create_manager(str(tmp_path), read_only=True)
    target = {
        "networks": {"generator": checkpointing.abstract_like(state["networks"]["generator"])}
    }
    restored = manager.restore(
        2,
        args=ocp.args.Composite(
            state=ocp.args.PyTreeRestore(
                item=target,
                restore_args=ocp.checkpoint_utils.construct_restore_args(target),
                partial_restore=True,
            )
        ),
    )["state"]
    manager.close()
    assert jax.tree_util.tree_structure(restored) == jax.tree_util.tree_structure(target)
    np.testing.assert_array_equal(restored["networks"]["generator"]["w"], [0.0, 1.0, 2.0])

"""The workdir's saved config: a checkpoint of another model config is refused unless allowed."""

from __future__ import annotations

import json

import pytest

from colorize_jax.training import loop, run_config
from tests.tiny_training import final_state, tiny_config


def test_structural_differences_are_named_and_others_ignored():
    saved = run_config.as_plain(tiny_config())
    same_shapes = run_config.as_plain(
        tiny_config(learning_rate=0.1, num_train_steps=99, **{"data.flip": False})
    )
    assert run_config.differences(saved, same_shapes) == []
    assert (
        run_config.differences(
            saved, run_config.as_plain(tiny_config(**{"model.init_from": "weights.npz"}))
        )
        == []
    )
    other = run_config.as_plain(tiny_config(**{"model.base_width": 16, "data.color_space": "rgb"}))
    assert run_config.differences(saved, other) == [
        "data.color_space: lab -> rgb",
        "model.base_width: 8 -> 16",
        "network outputs (config.losses, config.classify): 2 -> 3",
    ]
    clipped = run_config.as_plain(tiny_config(grad_clip_norm=0.0))
    assert run_config.differences(saved, clipped) == [
        "optimizer.grad_clip_norm (on or off): True -> False"
    ]


def test_classify_head_outputs_count_as_structure():
    saved = run_config.as_plain(tiny_config("unet_lab_classify"))
    with_regression = run_config.as_plain(tiny_config("unet_lab_classify", **{"losses.l1": 1.0}))
    [difference] = run_config.differences(saved, with_regression)
    assert difference.startswith("network outputs") and difference.endswith("262 -> 264")
    coarser = run_config.as_plain(tiny_config("unet_lab_classify", **{"classify.grid_size": 20}))
    assert run_config.differences(saved, coarser)  # fewer bins, fewer logits


def test_resuming_with_another_model_is_refused_unless_allowed(tmp_path):
    config = tiny_config(eval_every_steps=100)
    loop.train_and_evaluate(config, str(tmp_path), stop_after_steps=2)  # no evaluation
    saved = (tmp_path / "config.json").read_text()

    wider = tiny_config(eval_every_steps=100, **{"model.base_width": 16})
    with pytest.raises(run_config.ConfigChangedError) as error:
        loop.train_and_evaluate(wider, str(tmp_path))
    message = str(error.value)
    assert "holds a checkpoint (step 2) of a different model config" in message
    assert "model.base_width: 8 -> 16" in message and "--allow_config_change" in message
    assert "\n" not in message  # one line on the command line (cli.one_line_errors)
    assert (tmp_path / "config.json").read_text() == saved  # nothing was overwritten
    assert final_state(tmp_path, config)[1] == 2

    # Allowed: a change that keeps the shapes resumes (the dropout rate here).
    dropout = tiny_config(eval_every_steps=100, **{"model.dropout_rate": 0.1})
    with pytest.raises(run_config.ConfigChangedError, match=r"dropout_rate: 0.0 -> 0.1"):
        loop.train_and_evaluate(dropout, str(tmp_path))
    loop.train_and_evaluate(dropout, str(tmp_path), stop_after_steps=1, allow_config_change=True)
    assert final_state(tmp_path, dropout)[1] == 3
    assert json.loads((tmp_path / "config.json").read_text())["model"]["dropout_rate"] == 0.1


def test_config_json_is_replaced_whole(tmp_path):
    run_config.save(tiny_config(), str(tmp_path))
    run_config.save(tiny_config(learning_rate=0.5), str(tmp_path))
    assert run_config.load(str(tmp_path))["optimizer"]["learning_rate"] == 0.5
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]  # no partial file left

"""`defaults.complete`: absent fields from presets, configs of older versions read as they meant."""

import json
import os

import ml_collections
import pytest

from colorize_jax import presets
from colorize_jax.components import defaults
from colorize_jax.inference.restore import as_plain
from tests.tiny_training import REPO, tiny_config

FIXTURE_CONFIG = os.path.join(REPO, "tests", "fixtures", "pre_restructure_workdir", "config.json")


def test_a_minimal_config_takes_every_default_from_the_presets():
    config = ml_collections.ConfigDict(
        {"model": {"name": "unet"}, "losses": {"l1": 1.0}, "data": {"source": "demo"}}
    )
    completed = defaults.complete(config)
    base = presets.base_config()
    assert completed.data.source == "demo"  # what the config sets is kept
    assert completed.data.num_workers == base.data.num_workers
    assert completed.data.image_size == base.data.image_size
    assert as_plain(completed.optimizer) == as_plain(base.optimizer)
    assert completed.scheme == "plain" and tuple(completed.evaluators) == ("pixel", "pretrained")
    assert dict(completed.losses) == {"l1": 1.0}  # the losses are never padded
    assert "num_workers" not in config.data  # the argument is not changed


def test_completion_is_idempotent_and_keeps_set_fields():
    config = tiny_config("pix2pix_lab", complete=False, learning_rate=0.5)
    once = defaults.complete(config)
    assert as_plain(defaults.complete(once)) == as_plain(once)
    assert once.optimizer.learning_rate == 0.5
    assert once.optimizer.warmup_steps == config.optimizer.warmup_steps


def test_an_old_config_json_moves_its_fields_to_the_current_layout():
    saved = json.load(open(FIXTURE_CONFIG))
    assert "learning_rate" in saved and "optimizer" not in saved  # written before the move
    completed = defaults.complete(ml_collections.ConfigDict(saved))
    for field in defaults.LEGACY_OPTIMIZER_FIELDS:
        if field in saved:
            assert completed.optimizer[field] == saved[field]
            assert field not in completed
    assert completed.scheme == "plain"
    expected = ("pixel", "pretrained") if saved.get("eval_perceptual_metrics", True) else ("pixel",)
    assert tuple(completed.evaluators) == expected
    assert "eval_perceptual_metrics" not in completed


def test_an_old_gan_config_trains_adversarially_with_its_discriminator_fields():
    old = ml_collections.ConfigDict(
        {
            "model": {"name": "unet"},
            "losses": {"l1": 100.0, "gan_vanilla": 1.0},
            "learning_rate": 1e-3,
            "warmup_steps": 7,
            "encoder_lr_multiplier": 0.5,
            "eval_perceptual_metrics": False,
            "discriminator": {"model": {"name": "patchgan"}, "learning_rate": 2e-4, "adam_b1": 0.5},
        }
    )
    completed = defaults.complete(old)
    assert completed.scheme == "adversarial"
    assert tuple(completed.evaluators) == ("pixel",)
    d = completed.discriminator.optimizer
    # its own fields, then the generator's, then the defaults; never the encoder's
    assert (d.learning_rate, d.adam_b1, d.warmup_steps) == (2e-4, 0.5, 7)
    assert d.weight_decay == completed.optimizer.weight_decay
    assert d.encoder_lr_multiplier == 1.0 and completed.optimizer.encoder_lr_multiplier == 0.5
    assert "learning_rate" not in completed.discriminator
    assert completed.gan.pretrain_generator_steps == 0


@pytest.mark.parametrize("section", ["classify"])
def test_an_optional_section_is_completed_only_when_present(section):
    config = tiny_config(complete=False)
    assert section not in defaults.complete(config)
    config[section] = ml_collections.ConfigDict({"temperature": 0.5})
    completed = defaults.complete(config)
    assert completed[section].temperature == 0.5
    assert completed[section].grid_size == presets.classify_settings().grid_size


def test_a_config_that_skipped_completion_is_refused_by_name():
    config = tiny_config("pix2pix_lab", complete=False)
    missing = defaults.missing_fields(config)
    # The file's discriminator optimizer sets its rate, not the schedule it takes from the
    # generator's.
    assert "discriminator.optimizer.warmup_steps" in missing
    assert "discriminator.optimizer.learning_rate" not in missing
    assert all(name.split(".")[0] not in ("model", "losses") for name in missing)
    with pytest.raises(ValueError, match=r"the config lacks config\.\S+.*defaults\.complete"):
        defaults.require_complete(config)
    completed = defaults.complete(config)
    assert defaults.missing_fields(completed) == []
    defaults.require_complete(completed)
    del completed.data["flip"]
    assert defaults.missing_fields(completed) == ["data.flip"]

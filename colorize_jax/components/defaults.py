"""Every config made whole: the fields a config leaves out take the defaults of `presets`.

The defaults live in one place, `presets` (each field with its comment there). A config is
completed once, where it enters: at the start of training (`training.loop.train_and_evaluate`)
and where a trained or shipped model is restored (`inference.restore`); the commands that read a
config file of their own (the tools) complete it as they load it. From there on the builder, the
heads, the data settings and the loop read fields directly, with no defaults of their own;
`require_complete` makes a config that skipped this step fail with one line naming the fields.

`complete` also reads configs saved before the current layout (an old workdir's config.json):
their top-level optimizer fields move into `config.optimizer` (the discriminator's into
`config.discriminator.optimizer`), `eval_perceptual_metrics` becomes `config.evaluators`, and
a config without `config.scheme` trains adversarially exactly when it has a discriminator, as it
did then.
"""

from __future__ import annotations

import copy

import ml_collections

from colorize_jax import presets

# Top-level fields of configs saved before config.optimizer existed.
LEGACY_OPTIMIZER_FIELDS = tuple(presets.optimizer_settings())
# The discriminator inherits the generator's optimizer fields it leaves out, but these.
NOT_INHERITED = ("encoder_lr_multiplier", "freeze_encoder_steps")


def complete(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """A copy of `config` with every field the code reads present (see the module docstring).

    Idempotent; fields the config sets are never changed, only moved from their legacy places.
    """
    config = copy.deepcopy(config)
    with config.unlocked():
        _migrate(config)
        _fill(config, presets.base_config(), skip=("model", "losses"))
        if config.get("classify"):
            _fill(config.classify, presets.classify_settings())
        if config.get("discriminator"):
            _fill_discriminator(config)
            if not config.get("gan"):
                config.gan = presets.gan_schedule()
            _fill(config.gan, presets.gan_schedule())
    return config


def require_complete(config: ml_collections.ConfigDict) -> None:
    """Raises ValueError naming the fields `complete` would add, if there are any."""
    missing = missing_fields(config)
    if missing:
        shown = ", ".join(f"config.{name}" for name in missing[:4])
        more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
        raise ValueError(
            f"the config lacks {shown}{more}: complete it first with "
            "colorize_jax.components.defaults.complete (the commands do)"
        )


def missing_fields(config: ml_collections.ConfigDict) -> list[str]:
    """The dotted names of the fields `complete` would add to `config` (none: it is complete)."""
    return sorted(_field_names(complete(config)) - _field_names(config))


def _field_names(config, prefix="") -> set[str]:
    names = set()
    for key, value in config.items():
        if isinstance(value, ml_collections.ConfigDict):
            names |= _field_names(value, f"{prefix}{key}.")
        else:
            names.add(prefix + key)
    return names


def _migrate(config: ml_collections.ConfigDict) -> None:
    """Moves the fields of older configs to their places in the current layout."""
    if "scheme" not in config:
        config.scheme = "adversarial" if config.get("discriminator") else "plain"
    if "evaluators" not in config:
        with_pretrained = config.get("eval_perceptual_metrics", True)
        config.evaluators = ("pixel", "pretrained") if with_pretrained else ("pixel",)
    if "eval_perceptual_metrics" in config:
        del config["eval_perceptual_metrics"]
    sections = [config]
    if config.get("discriminator"):
        sections.append(config.discriminator)
    for section in sections:
        legacy = {k: section[k] for k in LEGACY_OPTIMIZER_FIELDS if k in section}
        if not legacy:
            continue
        if "optimizer" not in section:
            section.optimizer = ml_collections.ConfigDict()
        for key, value in legacy.items():
            if key not in section.optimizer:
                section.optimizer[key] = value
            del section[key]


def _fill(config: ml_collections.ConfigDict, defaults: ml_collections.ConfigDict, skip=()) -> None:
    """Adds the fields of `defaults` that `config` lacks, section by section."""
    for key, value in defaults.items():
        if key in skip:
            continue
        if key not in config:
            config[key] = copy.deepcopy(value)
        elif isinstance(value, ml_collections.ConfigDict) and isinstance(
            config[key], ml_collections.ConfigDict
        ):
            _fill(config[key], value)


def _fill_discriminator(config: ml_collections.ConfigDict) -> None:
    """The discriminator's optimizer: its own fields, else the generator's, else the defaults."""
    discriminator = config.discriminator
    if "optimizer" not in discriminator:
        discriminator.optimizer = ml_collections.ConfigDict()
    inherited = {key: value for key, value in config.optimizer.items() if key not in NOT_INHERITED}
    _fill(discriminator.optimizer, ml_collections.ConfigDict(inherited))
    _fill(discriminator.optimizer, presets.optimizer_settings())

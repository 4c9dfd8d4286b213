"""`python -m colorize_jax.ab_prior`: the ab-bin prior of a dataset, for the classification head.

The logic lives in `colorize_jax.tools.ab_prior`.
"""

from absl import app

from colorize_jax.runtime import cli
from colorize_jax.tools import ab_prior

if __name__ == "__main__":
    from colorize_jax.runtime import cpu

    cpu.apply_defaults()
    app.run(ab_prior.main, flags_parser=cli.config_flags_parser("colorize_jax.ab_prior"))

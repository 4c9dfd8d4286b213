"""`python -m colorize_jax.benchmark`: the training-speed benchmark.

The logic lives in `colorize_jax.tools.benchmark`.
"""

from absl import app

from colorize_jax.runtime import cli
from colorize_jax.tools import benchmark

if __name__ == "__main__":
    from colorize_jax.runtime import cpu

    cpu.apply_defaults()
    benchmark.define_flags()
    app.run(benchmark.main, flags_parser=cli.config_flags_parser("colorize_jax.benchmark"))

"""`python -m colorize_jax.colorize_benchmark`: the colorize (inference) speed benchmark.

The logic lives in `colorize_jax.tools.colorize_benchmark`.
"""

from absl import app

from colorize_jax.tools import colorize_benchmark

if __name__ == "__main__":
    from colorize_jax.runtime import cpu

    cpu.apply_defaults()
    colorize_benchmark.define_flags()
    app.run(colorize_benchmark.main)

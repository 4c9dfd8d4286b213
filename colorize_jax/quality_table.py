"""`python -m colorize_jax.quality_table`: the quality table of experiments.

The logic lives in `colorize_jax.tools.quality_table`.
"""

from absl import app

from colorize_jax.tools import quality_table

if __name__ == "__main__":
    from colorize_jax.runtime import cpu

    cpu.apply_defaults()
    quality_table.define_flags()
    app.run(quality_table.main)

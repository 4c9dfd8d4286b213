"""`python -m colorize_jax.export`: export of a trained generator to ONNX or StableHLO.

The logic lives in `colorize_jax.inference.export`.
"""

from absl import app

from colorize_jax.inference import export

if __name__ == "__main__":
    from colorize_jax.runtime import cpu

    cpu.apply_defaults()
    export.define_flags()
    app.run(export.main)

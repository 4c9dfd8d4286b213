"""The reports' baseline: a plain CNN encoder-decoder without skip connections, L -> ab, MSE.

4 levels of [conv-BN-ReLU-maxpool] (64 -> 512 channels) down and 4 transposed convs up, about
4.3M parameters, trained with a mean squared error on ab, as in the reports' first experiments.
Run:
  python -m colorize_jax.main --config=configs/cnn_lab.py:cpu \
      --config.data.source=folder:PATH --workdir=runs/cnn_lab
Presets: "" / gpu / tpu, cpu (64 px, the 4.3M network unchanged), demo.
"""

from colorize_jax import presets


def get_config(preset: str = ""):
    config = presets.base_config()
    config.model = presets.encoder_decoder_model()
    config.losses.l1 = 0.0
    config.losses.mse = 1.0
    return presets.apply_preset(config, preset)

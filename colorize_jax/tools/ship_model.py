"""Ships a trained workdir's generator inside the package (`models.shipped`).

  python -m colorize_jax.tools.ship_model --workdir=DIR --name=NAME --card=CARD.md
      [--step=N | --checkpoint=best] [--set=vivid_chroma_gain=1.8,render_size=192]
      [--output_dir=colorize_jax/shipped]

Restores the generator alone (no optimizer), applies the --set fields to its config (the decode
and render settings the shipped model keeps: `decode_chroma_gain`, `vivid_chroma_gain`,
`render_size`, ...), and writes OUTPUT_DIR/NAME/: the float16 weights (safetensors), model.json
(step, SHA-256 of the weights, config) and the model card. Then it reads the model back through
`Colorizer` and checks that the float16 weights colorize scikit-image's chelsea like the
float32 checkpoint (mean 8-bit RGB difference printed; over 1.0 it fails and removes the folder).
"""

from __future__ import annotations

import os
import shutil

import jax
import numpy as np
import skimage.data
from absl import app, flags

from colorize_jax.inference import full_resolution, restore
from colorize_jax.models import shipped
from colorize_jax.runtime import cli, sharding

FLAGS = flags.FLAGS
MAX_MEAN_RGB_DIFFERENCE = 1.0  # float16 weights vs float32, 8-bit RGB of chelsea
MAX_WEIGHTS_MB = 12.0


def define_flags() -> None:
    """The command line's flags."""
    flags.DEFINE_string("workdir", None, "Training directory to ship the generator of.")
    flags.DEFINE_string("name", None, "Name of the shipped model (a folder under --output_dir).")
    flags.DEFINE_string("card", None, "Markdown model card to ship with it.")
    flags.DEFINE_integer("step", None, "Checkpoint step (default: see --checkpoint).")
    flags.DEFINE_enum(
        "checkpoint", "latest", ["best", "latest"], "Which checkpoint without --step."
    )
    flags.DEFINE_list("set", [], "Config fields KEY=VALUE the shipped config keeps.")
    flags.DEFINE_string("output_dir", shipped.SHIPPED_DIR, "Folder of the shipped models.")


def ship(workdir, name, card, *, step, checkpoint, overrides, output_dir) -> dict:
    """Writes `workdir`'s generator as shipped model `name`; returns its model.json content."""
    config = restore.load_config(workdir, None)
    for key, value in overrides.items():
        full_resolution.set_config_field(config, key, value)
    mesh = sharding.create_mesh(jax.local_devices()[:1])
    generator, step = restore.restore_generator(config, workdir, mesh, step=step, which=checkpoint)
    directory = os.path.join(output_dir, name)
    variables = jax.device_get({"params": generator.params, "batch_stats": generator.batch_stats})
    described = shipped.write(
        directory,
        name=name,
        variables=variables,
        config=restore.as_plain(config),
        step=step,
        card=card,
    )
    size_mb = os.path.getsize(os.path.join(directory, shipped.WEIGHTS_FILE)) / 2**20
    reference = full_resolution.Colorizer(workdir, step=step, overrides=overrides)
    image = skimage.data.chelsea()
    expected = reference.colorize(image).astype(np.float32)
    written = shipped.open_model(name, root=output_dir)  # read back what was just written
    actual = full_resolution.Colorizer(model=written).colorize(image).astype(np.float32)
    difference = float(np.abs(actual - expected).mean())
    print(
        f"{directory}: {size_mb:.2f} MB of float16 weights, step {step}; chelsea differs from "
        f"the float32 checkpoint by {difference:.3f} (mean 8-bit RGB)"
    )
    if difference > MAX_MEAN_RGB_DIFFERENCE or size_mb > MAX_WEIGHTS_MB:
        shutil.rmtree(directory)
        raise ValueError(
            f"shipping {name} failed its check (difference {difference:.3f}, at most "
            f"{MAX_MEAN_RGB_DIFFERENCE}; {size_mb:.1f} MB, at most {MAX_WEIGHTS_MB}); removed it"
        )
    return described


def main(argv: list[str]) -> None:
    if not (FLAGS.workdir and FLAGS.name and FLAGS.card):
        raise app.UsageError("--workdir, --name and --card are required")
    with open(FLAGS.card) as f:
        card = f.read()
    ship(
        FLAGS.workdir,
        FLAGS.name,
        card,
        step=FLAGS.step,
        checkpoint=FLAGS.checkpoint,
        overrides=dict(item.split("=", 1) for item in FLAGS.set),
        output_dir=FLAGS.output_dir,
    )


def run() -> None:
    """Runs the command line (also the console script `colorize-jax-ship-model`)."""
    cli.run(main, "colorize_jax.tools.ship_model", define_flags=define_flags)


if __name__ == "__main__":
    run()

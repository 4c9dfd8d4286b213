"""Exports a trained generator for deployment: ONNX (jax2onnx) or StableHLO (jax.export).

  python -m colorize_jax.export --workdir=DIR | --model=NAME --format=onnx|stablehlo --output=PATH
      [--checkpoint=best|latest] [--step=N] [--render_size=PX] [--set=KEY=VALUE]
      [--check_image=FILE] [--platforms=cpu,cuda] [--vivid]

Writes the artifact, checks it against the JAX model on --check_image (default scikit-image's
chelsea; beyond the tolerances it removes the artifact and fails) and writes its sidecar
PATH.json: `inference.export` does it all. --model exports a shipped model (`models.shipped`)
instead of a workdir; --vivid bakes in its vivid decode. `python -m colorize_jax.colorize
--onnx=PATH` colorizes with the ONNX model and no JAX. docs/export.md says more.
"""

from __future__ import annotations

from absl import app, flags

from colorize_jax.inference import export, onnx_colorizer
from colorize_jax.inference.export_parity import RGB_TOLERANCE, TARGET_TOLERANCE
from colorize_jax.runtime import cli

FLAGS = flags.FLAGS


def define_flags() -> None:
    """The command line's flags (defined only when run as a program, so importing is free)."""
    flags.DEFINE_string("workdir", None, "Training directory holding checkpoints/ and config.json.")
    flags.DEFINE_string("model", None, "A shipped model to export instead of --workdir.")
    flags.DEFINE_boolean("vivid", False, "Export the model's vivid decode (its vivid_chroma_gain).")
    flags.DEFINE_string("format", None, "Artifact: onnx or stablehlo.")
    flags.DEFINE_string("output", None, "Artifact path; its sidecar is PATH.json.")
    flags.DEFINE_integer("step", None, "Checkpoint step (default: see --checkpoint).")
    flags.DEFINE_enum("checkpoint", "best", ["best", "latest"], "Which checkpoint without --step.")
    flags.DEFINE_integer("render_size", None, "Shorter side the model sees (default: training).")
    flags.DEFINE_list("set", [], "Config overrides KEY=VALUE, e.g. classify.temperature=0.5.")
    flags.DEFINE_string("check_image", None, "Photo of the parity check (default: chelsea).")
    flags.DEFINE_list("platforms", None, "StableHLO platforms, e.g. cpu,cuda (default: this one).")


def main(argv: list[str]) -> None:
    """Exports with the flags' settings; prints the artifact, its sidecar and its parity."""
    if bool(FLAGS.workdir) == bool(FLAGS.model) or not FLAGS.output or not FLAGS.format:
        raise app.UsageError(
            "one of --workdir or --model, --format (onnx or stablehlo) and --output are required"
        )
    described = export.export(
        FLAGS.workdir,
        FLAGS.format,
        FLAGS.output,
        model=FLAGS.model,
        vivid=FLAGS.vivid,
        step=FLAGS.step,
        checkpoint=FLAGS.checkpoint,
        render_size=FLAGS.render_size,
        overrides=dict(item.split("=", 1) for item in FLAGS.set),
        check_image=FLAGS.check_image,
        platforms=FLAGS.platforms,
    )
    print(
        f"exported step {described['step']} of {FLAGS.workdir or FLAGS.model} to {FLAGS.output} "
        f"({described['export_seconds']} s); sidecar {onnx_colorizer.sidecar_path(FLAGS.output)}"
    )
    for row in described["parity"]["checks"]:
        print(
            f"parity vs JAX, input {row['model_input']}: target max {row['target_max_abs']:.2e} "
            f"mean {row['target_mean_abs']:.2e}; 8-bit RGB of the {row['picture']} picture "
            f"max {row['rgb8_max_abs']} mean {row['rgb8_mean_abs']:.4f} (tolerance: target "
            f"max {TARGET_TOLERANCE}, RGB mean {RGB_TOLERANCE})"
        )


def run() -> None:
    """Runs the command line (also the console script `colorize-jax-export`)."""
    cli.run(main, "colorize_jax.export", define_flags=define_flags)


if __name__ == "__main__":
    run()

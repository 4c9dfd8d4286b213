"""Evaluates a trained model on the whole validation split, or on whole colour photos.

  python -m colorize_jax.evaluate --workdir=DIR [--config=FILE[:PRESET] --config.key=value]
      [--step=N | --checkpoint=best] [--output_dir=OUT]
  python -m colorize_jax.evaluate --workdir=DIR --photos=skimage|PATH [--render_size=PX] ...
  python -m colorize_jax.evaluate --model=NAME --photos=skimage|PATH [--vivid] [--set=K=V] ...
  python -m colorize_jax.evaluate --workdir=DIR|--model=NAME --video=CLIP[,CLIP...]
      [--temporal_strength=0.8] [--render_size=PX] ...

Without --config the config saved by training (DIR/config.json) is used; with it, it must build
the same model (decode settings such as `--config.classify.temperature` may differ). The
metrics are those of the evaluators `config.evaluators` names (`evaluation.evaluators`). Writes
metrics.json and sheet.png to --output_dir, by default DIR/eval.

With --photos, each colour photo of the set (scikit-image's `photo_scores.SKIMAGE_PHOTOS`,
or a folder, file or glob) is colorized at full resolution by `full_resolution.Colorizer` (the
network at --render_size, default the training size) and scored against the original with the
same metrics; gray photos are skipped and counted. Writes photos_metrics.json (means, per-photo
figures, names) to --output_dir, by default DIR/eval_photos. A --config applies the fields in
which it differs from the saved config (decode settings) as the Colorizer's overrides, as does
--set=KEY=VALUE; --vivid decodes with the config's `vivid_chroma_gain`. --model=NAME scores a
shipped model (`models.shipped`) instead of a workdir: --photos or --video only, results by
default in runs/eval_photos/NAME.

With --video, each colour clip is grayed, colorized frame by frame with --temporal=none and
--temporal=flow (`evaluation.video_scores`) and compared with the original: per-frame PSNR, SSIM,
CIEDE2000 and colourfulness, and the temporal metrics E_warp and CDC (`video_metrics`). Writes
video_metrics.json to --output_dir, by default DIR/eval_video (runs/eval_video/NAME), and prints
a table.
"""

from __future__ import annotations

import json

from absl import app, flags, logging
from etils import epath
from ml_collections import config_flags

from colorize_jax.evaluation import evaluators, photo_scores, validation, video_scores
from colorize_jax.inference import restore
from colorize_jax.runtime import cli, sharding

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Training directory holding checkpoints/ and config.json.")
config_flags.DEFINE_config_file("config", None, "Config file; default: DIR/config.json.")
flags.DEFINE_integer("step", None, "Checkpoint step to evaluate (default: see --checkpoint).")
flags.DEFINE_enum("checkpoint", "latest", ["latest", "best"], "Which checkpoint to evaluate.")
flags.DEFINE_string(
    "output_dir", None, "Where to write the results (DIR/eval; with --photos DIR/eval_photos)."
)
flags.DEFINE_string(
    "photos", "", "Evaluate on whole colour photos instead: 'skimage' or a folder, file or glob."
)
flags.DEFINE_integer("render_size", None, "With --photos/--video: shorter side the network sees.")
flags.DEFINE_string("model", None, "With --photos/--video: a shipped model, not --workdir.")
flags.DEFINE_boolean("vivid", False, "With --photos/--video: decode with the vivid setting.")
flags.DEFINE_list("set", [], "With --photos/--video: config overrides KEY=VALUE (decode).")
flags.DEFINE_list("video", [], "Evaluate on colour video clips instead (temporal metrics too).")
flags.DEFINE_float("temporal_strength", None, "With --video: the flow blend's strength, 0..1.")


def _evaluate(
    workdir: str, config, step: int | None, which: str, output_dir: str | None = None
) -> epath.Path:
    config = restore.load_config(workdir, config)
    evaluator_names = tuple(config.evaluators)
    evaluators.resolve(evaluator_names)  # an unknown name fails before the model loads
    mesh = sharding.create_mesh()
    generator, step = restore.restore_generator(config, workdir, mesh, step=step, which=which)
    logging.info("evaluating %s at step %d", workdir, step)
    eval_dataset = validation.create_dataset(config, mesh)
    results, _ = validation.evaluate_and_write(
        generator,
        generator.head,
        eval_dataset,
        mesh,
        workdir,
        step=step,
        evaluators=evaluator_names,
        num_sheet_images=config.num_sheet_images,
        eval_dir=output_dir,
    )
    print(json.dumps({**results, "step": step}, sort_keys=True))
    return epath.Path(output_dir) if output_dir else epath.Path(workdir) / "eval"


def _evaluate_with_colorizer(workdir: str | None, config, step: int | None, which: str) -> str:
    """--photos or --video: scores a Colorizer of the workdir or the shipped --model."""
    if FLAGS.video:
        module, spec, extra = video_scores, FLAGS.video, {"strength": FLAGS.temporal_strength}
    else:
        module, spec, extra = photo_scores, FLAGS.photos, {}
    results = module.evaluate_model(
        workdir,
        spec,
        model=FLAGS.model,
        config=config,
        overrides=dict(item.split("=", 1) for item in FLAGS.set),
        vivid=FLAGS.vivid,
        step=step,
        checkpoint=which,
        render_size=FLAGS.render_size,
        **extra,
    )
    if FLAGS.video:
        print(video_scores.table(results))
    else:
        print(
            json.dumps(
                {k: v for k, v in results.items() if not isinstance(v, list)}, sort_keys=True
            )
        )
    folder = "eval_video" if FLAGS.video else "eval_photos"
    default_dir = epath.Path(workdir) / folder if workdir else f"runs/{folder}/{FLAGS.model}"
    return module.write_results(FLAGS.output_dir or str(default_dir), results)


def main(argv: list[str]) -> None:
    if bool(FLAGS.workdir) == bool(FLAGS.model):
        raise app.UsageError("give one of --workdir=DIR and --model=NAME (a shipped model)")
    if FLAGS.photos and FLAGS.video:
        raise app.UsageError("give at most one of --photos and --video")
    if not (FLAGS.photos or FLAGS.video) and (
        FLAGS.render_size is not None or FLAGS.model or FLAGS.vivid or FLAGS.set
    ):
        raise app.UsageError(
            "--render_size, --model, --vivid and --set apply to --photos and --video only"
        )
    if FLAGS.temporal_strength is not None and not FLAGS.video:
        raise app.UsageError("--temporal_strength applies to --video only")
    if FLAGS.photos or FLAGS.video:
        path = _evaluate_with_colorizer(FLAGS.workdir, FLAGS.config, FLAGS.step, FLAGS.checkpoint)
        logging.info("wrote %s", path)
        return
    eval_dir = _evaluate(
        FLAGS.workdir, FLAGS.config, FLAGS.step, FLAGS.checkpoint, FLAGS.output_dir
    )
    logging.info("wrote %s", eval_dir / "metrics.json")


def run() -> None:
    """Runs the command line (also the console script `colorize-jax-evaluate`)."""
    cli.run(main, "colorize_jax.evaluate", config_flag=True)


if __name__ == "__main__":
    run()

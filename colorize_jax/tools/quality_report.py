"""The quality table's report: its columns, rows read from metrics.json, markdown, sheet photos."""

from __future__ import annotations

import json
import os

from colorize_jax.tools.quality_rows import (  # noqa: F401  (the rows live there; known here too)
    CHROMA_GAIN_SWEEP,
    ROWS,
    TEMPERATURE_SWEEP,
    UNBIASED_SWEEP,
    Row,
)

COLUMNS = (
    ("PSNR", "psnr", "{:.2f}"),
    ("SSIM", "ssim", "{:.3f}"),
    ("ΔE2000", "deltae2000", "{:.2f}"),
    ("CF", "colorfulness", "{:.1f}"),
    ("CF truth", "colorfulness_gt", "{:.1f}"),
    ("ΔCF", "colorfulness_gap", "{:.1f}"),  # |CF - CF truth| of the means, as papers report
    ("img ΔCF", "delta_colorfulness", "{:.1f}"),  # mean over images of |CF - CF truth|
    ("AuC", "auc_ab", "{:.3f}"),
    ("acc ΔE<2.3", "acc_de2.3", "{:.3f}"),
    ("acc ΔE<10", "acc_de10", "{:.3f}"),
    # The pretrained networks' metrics (colorize_jax.evaluation.pretrained_metrics).
    ("LPIPS", "lpips_alex", "{:.3f}"),
    ("LPIPS vgg", "lpips_vgg", "{:.3f}"),
    ("FD effnet", "fd_effnet", "{:.2f}"),
    ("top-1 agree", "top1_agreement", "{:.3f}"),
    ("top-1 gray", "top1_agreement_gray", "{:.3f}"),
)
# An evaluation without them (made before they existed) is run again, without retraining.
PERCEPTUAL_KEYS = ("lpips_alex", "lpips_vgg", "fd_effnet", "top1_agreement", "top1_agreement_gray")


def collect(workdir: str, eval_dir: str | None = None, metrics_file: str = "metrics.json") -> dict:
    """The table figures of a finished row (`metrics_file` of `eval_dir`, default DIR/eval)."""
    eval_dir = eval_dir or os.path.join(workdir, "eval")
    metrics = json.load(open(os.path.join(eval_dir, metrics_file)))
    scalars = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
    speeds = [r["train/images_per_second"] for r in scalars if "train/images_per_second" in r]
    params = next(r["model/num_params"] for r in scalars if "model/num_params" in r)
    return {
        **metrics,
        "colorfulness_gap": abs(metrics["colorfulness"] - metrics["colorfulness_gt"]),
        "params": params,
        "images_per_second": sum(speeds) / len(speeds) if speeds else float("nan"),
        "minutes": json.load(open(os.path.join(workdir, "table_timing.json")))["minutes"],
    }


def markdown(results: dict[str, dict], *, training: bool = True) -> str:
    """The table: config, parameters, images/s and minutes (if `training`), then the metrics.

    A metric none of the lines has (the photos' pretrained metrics) is left out; a line
    without one that others have shows "-".
    """
    columns = [c for c in COLUMNS if any(c[1] in r for r in results.values())]
    header = ["config", "params"] + (["img/s", "min"] if training else [])
    header += [title for title, _, _ in columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, r in results.items():
        if r["params"]:
            cells = [name, f"{r['params'] / 1e6:.2f}M"]
            if training:
                cells += [f"{r['images_per_second']:.1f}", f"{r['minutes']:.1f}"]
        else:  # the untrained baseline
            cells = [name, "0"] + (["-", "-"] if training else [])
        cells += [fmt.format(r[key]) if key in r else "-" for _, key, fmt in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


SHEET_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png", "rocket.jpg")


def sheet_photos(size: int) -> list:
    """The centre squares of `SHEET_PHOTOS`, resized to `size` px (uint8 RGB)."""
    import numpy as np
    import skimage.data
    from PIL import Image

    folder = os.path.dirname(skimage.data.__file__)
    images = []
    for name in SHEET_PHOTOS:
        with Image.open(os.path.join(folder, name)) as image:
            image = image.convert("RGB")
            side = min(image.size)
            left, top = (image.width - side) // 2, (image.height - side) // 2
            image = image.crop((left, top, left + side, top + side))
            images.append(np.asarray(image.resize((size, size), Image.LANCZOS)))
    return images

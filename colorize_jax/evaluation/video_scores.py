"""Scores a colorizer on colour video clips: per-frame quality and temporal consistency.

Each clip is read frame by frame, grayed (`full_resolution.gray_version`: its own CIELAB lightness),
colorized through the video path (`inference.video`: the network at its render shape, colour
joined to the frame's full-resolution lightness) and compared with the colour original. The
network runs once per frame; its chroma is then put through each temporal mode ("none": frame
by frame; "flow": `temporal.TemporalFilter`), so the modes differ only in the post-process.

Per mode: the means over frames of `metrics.image_metrics` (PSNR, SSIM, CIEDE2000,
colourfulness, ...), the warp error E_warp and the colour distribution consistency CDC
(`video_metrics`; E_warp's flow and mask come from the gray input frames, computed once per
pair for all modes; pairs across a scene cut of the input are left out), and the per-frame
figures. `warp_error_original` and `cdc_original` are the colour original's own, for reference;
`warp_error_gray` is the gray input's E_warp, about the part of any output's E_warp that its
lightness (the input's) and the warp's interpolation leave, which no chroma can remove. With
both modes, `flow_vs_none` gives E_warp's and CDC's relative change and the PSNR change in dB.
Frames stream through; what is kept per frame is a few numbers.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from absl import logging

from colorize_jax.evaluation import metrics, photo_scores, video_metrics
from colorize_jax.inference import full_resolution, temporal, video, video_io

MODES = ("none", "flow")
RESULTS_FILE = "video_metrics.json"
PER_FRAME_KEYS = ("psnr", "ssim", "deltae2000", "colorfulness")


class _Mode:
    """One temporal mode's post-process and running figures."""

    def __init__(self, name: str, settings: temporal.TemporalSettings):
        self.name = name
        self.filter = temporal.TemporalFilter(settings) if name == "flow" else None
        self.previous: np.ndarray | None = None
        self.figures: dict[str, list[float]] = collections.defaultdict(list)
        self.warp_errors: list[float] = []
        self.consistency = video_metrics.ColourDistributionConsistency()

    def add(self, gray: np.ndarray, ab: np.ndarray, truth: np.ndarray, pair, image_metrics):
        if self.filter is not None:
            ab = self.filter(gray, ab)
        output = video.recombine_frame(gray, ab)  # what `colorize` writes
        figures = image_metrics(output[None], truth[None])
        for key in metrics.KEYS:
            self.figures[key].append(float(figures[key][0]))
        if pair is not None:
            flow, mask = pair
            self.warp_errors.append(video_metrics.warp_error(self.previous, output, flow, mask))
        self.consistency.push(output)
        self.previous = output

    def summary(self) -> dict[str, Any]:
        means = {key: float(np.mean(values)) for key, values in self.figures.items()}
        per_frame = {key: self.figures[key] for key in PER_FRAME_KEYS}
        return means | {
            "warp_error": float(np.mean(self.warp_errors)) if self.warp_errors else 0.0,
            "cdc": self.consistency.value(),
            "scene_cuts": self.filter.num_cuts if self.filter is not None else 0,
            "per_frame": per_frame | {"warp_error": self.warp_errors},
        }


def _originals_and_grays(path: str, kept: collections.deque) -> Iterator[np.ndarray]:
    for index, rgb in enumerate(video_io.read_frames(path)):
        if index == 0 and photo_scores.is_gray(rgb):
            raise ValueError(f"--video={path}: its first frame is gray; give a colour clip")
        kept.append(rgb)
        yield full_resolution.gray_version(rgb)


def evaluate_clip(
    model: video.FrameColorizer,
    path: str,
    *,
    settings: temporal.TemporalSettings | None = None,
    modes: Sequence[str] = MODES,
    batch_size: int = 8,
    info: video_io.VideoInfo | None = None,
) -> dict[str, Any]:
    """Colorizes the colour clip at `path` in each of `modes` and scores it (module docstring).
    `info`: the clip's `video_io.probe`, when the caller has it."""
    import jax  # noqa: PLC0415 - the metrics are JAX; importing this module starts nothing

    unknown = sorted(set(modes) - set(MODES))
    if unknown or not modes:
        raise ValueError(f"unknown temporal modes {unknown}: use {', '.join(MODES)}")
    settings = settings or temporal.TemporalSettings()
    info = info or video_io.probe(path)
    image_metrics = jax.jit(metrics.image_metrics)
    states = [_Mode(name, settings) for name in modes]
    flows = video_metrics.FlowPairs(settings)
    floor: list[float] = []  # E_warp of the colour original
    gray_floor: list[float] = []  # E_warp of the gray input: what the shared lightness leaves
    previous_gray = None
    original_consistency = video_metrics.ColourDistributionConsistency()
    previous_truth = None
    originals: collections.deque = collections.deque()
    grays = _originals_and_grays(path, originals)
    count = 0
    for gray, ab in video.predict_chroma(grays, model, batch_size=batch_size):
        truth = originals.popleft()
        pair = flows.push(temporal.gray_levels(temporal.lightness(gray)))
        for state in states:
            state.add(gray, ab, truth, pair, image_metrics)
        if pair is not None:
            floor.append(video_metrics.warp_error(previous_truth, truth, *pair))
            gray_floor.append(video_metrics.warp_error(previous_gray, gray, *pair))
        original_consistency.push(truth)
        previous_truth, previous_gray = truth, gray
        count += 1
    results = {state.name: state.summary() for state in states}
    logging.info(
        "%s: %s",
        path,
        "; ".join(
            f"{name} PSNR {r['psnr']:.2f} E_warp {r['warp_error']:.5f} CDC {r['cdc']:.5f}"
            for name, r in results.items()
        ),
    )
    report = {
        "clip": path,
        "width": info.width,
        "height": info.height,
        "rate": f"{info.rate.numerator}/{info.rate.denominator}",
        "num_frames": count,
        "temporal_strength": settings.strength,
        "input_scene_cuts": flows.cuts,
        "warp_error_original": float(np.mean(floor)) if floor else 0.0,
        "warp_error_gray": float(np.mean(gray_floor)) if gray_floor else 0.0,
        "cdc_original": original_consistency.value(),
        "modes": results,
    }
    if "none" in results and "flow" in results:
        report["flow_vs_none"] = compare(results["none"], results["flow"])
    return report


def compare(none: Mapping[str, Any], flow: Mapping[str, Any]) -> dict[str, float]:
    """E_warp's and CDC's relative change (-0.3: 30% lower) and PSNR's change in dB, flow
    against none."""

    def relative(key: str) -> float:
        return (flow[key] - none[key]) / none[key] if none[key] > 0 else 0.0

    return {
        "warp_error_change": relative("warp_error"),
        "cdc_change": relative("cdc"),
        "psnr_change_db": flow["psnr"] - none["psnr"],
    }


def evaluate_model(
    workdir: str | None,
    clips: Sequence[str],
    *,
    strength: float | None = None,
    batch_size: int = 8,
    **kwargs: Any,
) -> dict[str, Any]:
    """`evaluate_clip` on each clip with the Colorizer `photo_scores.build_colorizer(workdir,
    **kwargs)` makes; the results hold every clip's report, `step` and `render_size`."""
    if not clips:
        raise ValueError("no clips given: pass --video=CLIP[,CLIP...]")
    infos = [video_io.probe(clip) for clip in clips]  # a bad clip fails before the model loads
    settings = temporal.TemporalSettings(**({} if strength is None else {"strength": strength}))
    colorizer = photo_scores.build_colorizer(workdir, **kwargs)
    reports = [
        evaluate_clip(colorizer, clip, settings=settings, batch_size=batch_size, info=info)
        for clip, info in zip(clips, infos, strict=True)
    ]
    return {"clips": reports, "step": colorizer.step, "render_size": colorizer.render_size}


def table(results: Mapping[str, Any]) -> str:
    """A Markdown table: per clip and mode, PSNR, SSIM, CIEDE2000, colourfulness, E_warp, CDC;
    and the colour original's own colourfulness, E_warp and CDC."""
    lines = [
        "| clip | temporal | PSNR | SSIM | dE2000 | colourfulness | E_warp (1e-3) | CDC (1e-3) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for report in results["clips"]:
        name = os.path.basename(report["clip"])
        colourfulness = next(iter(report["modes"].values()))["colorfulness_gt"]
        lines.append(
            f"| {name} | (original) | | | | {colourfulness:.1f} "
            f"| {1e3 * report['warp_error_original']:.3f} | {1e3 * report['cdc_original']:.3f} |"
        )
        gray = 1e3 * report["warp_error_gray"]
        lines.append(f"| {name} | (gray input) | | | | 0.0 | {gray:.3f} | |")
        for mode, r in report["modes"].items():
            lines.append(
                f"| {name} | {mode} | {r['psnr']:.2f} | {r['ssim']:.4f} | {r['deltae2000']:.2f} "
                f"| {r['colorfulness']:.1f} | {1e3 * r['warp_error']:.3f} | {1e3 * r['cdc']:.3f} |"
            )
    return "\n".join(lines)


def write_results(output_dir: str, results: Mapping[str, Any]) -> str:
    """Writes `results` as OUTPUT_DIR/video_metrics.json (atomically); returns its path."""
    return photo_scores.write_results(output_dir, results, RESULTS_FILE)

"""The web app's page (Gradio Blocks): drop photos, see gray | colorized | original, download.

`build_page` lays out the page around one colorizer; its handlers are thin wrappers of
`web_colorize` that turn its failures into `gr.Error` messages on the page. Every colorization
(an upload, the Colorize button, a sample) shares one queue slot ("colorize"), so browsers take
turns; the queue's bound is `launch`'s. Gradio is an optional dependency (`pip install -e
'.[app]'`): only `colorize_jax.app` imports this module, after pointing GRADIO_TEMP_DIR at its
temporary directory. Photos and videos are two tabs; a video is colorized as `colorize` does it
(`video.colorize_video`, temporal consistency by optical flow), with a frame progress bar.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import gradio as gr
import numpy as np

from colorize_jax.data import sources
from colorize_jax.inference import photo_files, video_io, web_colorize

TITLE = "colorize_jax"
QUEUE_ID = "colorize"
BUSY_NOTE = "Photos are colorized one request at a time; when the queue is full the page says so."


@dataclasses.dataclass(frozen=True)
class Limits:
    """What the page accepts: bytes and pixels per upload, requests waiting in the queue."""

    max_bytes: int = web_colorize.DEFAULT_MAX_BYTES
    max_pixels: int = web_colorize.DEFAULT_MAX_PIXELS
    queue_size: int = 8
    max_video_bytes: int = web_colorize.DEFAULT_MAX_VIDEO_BYTES


def sample_photos() -> list[str]:
    """Paths of scikit-image's sample photos (the demo source's), offered without an upload."""
    return sources.demo_files()


def build_page(
    colorizer: Any, output_dir: str, limits: Limits, samples: Sequence[str] = ()
) -> gr.Blocks:
    """The page for `colorizer`; results are written under `output_dir` (a temporary folder)."""
    cache = web_colorize.SettingsCache(colorizer)
    defaults = web_colorize.controls(colorizer)

    def colorize(
        paths,
        render_size,
        chroma_gain,
        temperature,
        progress=gr.Progress(),  # noqa: B008
    ):
        if not paths:
            raise gr.Error("Drop one or more photos on the upload box first.", title="No photo")
        settings = web_colorize.Settings(
            render_size=int(render_size),
            chroma_gain=None if defaults.chroma_gain is None else float(chroma_gain),
            temperature=None if defaults.temperature is None else float(temperature),
        )
        try:
            variant = cache.get(settings)
        except ValueError as error:
            raise gr.Error(str(error), title="Bad setting") from None
        results, errors = web_colorize.colorize_uploads(
            variant,
            paths,
            output_dir,
            max_bytes=limits.max_bytes,
            max_pixels=limits.max_pixels,
            progress=lambda i, name: progress((i, len(paths)), desc=f"colorizing {name}"),
        )
        if not results:
            raise gr.Error("\n".join(errors), title="Could not colorize", print_exception=False)
        for error in errors:
            gr.Warning(error)
        views = [
            (
                (web_colorize.display_copy(r.gray), web_colorize.display_copy(r.colorized)),
                web_colorize.display_row(r),
            )
            for r in results
        ]
        thumbnails = [(web_colorize.display_copy(r.colorized, 160), r.name) for r in results]
        status = web_colorize.summary(results, errors)
        downloads = [r.download for r in results]
        return status, *views[0], thumbnails, downloads, views

    def colorize_sample(render_size, chroma_gain, temperature, event: gr.SelectData):
        return colorize([samples[event.index]], render_size, chroma_gain, temperature)

    def colorize_video(path, render_size, temporal_mode, strength, progress=gr.Progress()):  # noqa: B008
        if not path:
            raise gr.Error("Drop a video on the upload box first.", title="No video")
        variant = cache.get(web_colorize.Settings(render_size=int(render_size)))

        def on_frame(done: int, total: int | None) -> None:
            progress((done, total or done), desc="colorizing", unit="frames")

        try:
            output = web_colorize.colorize_video_upload(
                variant,
                path,
                output_dir,
                temporal_mode=temporal_mode,
                strength=float(strength),
                max_bytes=limits.max_video_bytes,
                on_frame=on_frame,
            )
        except web_colorize.UploadError as error:
            raise gr.Error(str(error), title="Could not colorize", print_exception=False) from None
        status = f"Colorized {os.path.basename(path)} (temporal: {temporal_mode})."
        return status, output, output

    def show(views, event: gr.SelectData):
        return views[event.index] if event.index < len(views) else gr.skip()

    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(3600, 3600)) as page:
        gr.Markdown(
            f"# {TITLE}: colorize your photos\n"
            f"Model: {getattr(colorizer, 'source', None) or 'exported model'}. "
            "Drop photos below (or pick a sample); each result keeps its photo's size and "
            f"lightness. {BUSY_NOTE}"
        )
        with gr.Tab("Photos", elem_id="photos_tab"):
            with gr.Row():
                with gr.Column(scale=1):
                    files = gr.File(
                        file_count="multiple",
                        label="Photos (drag and drop one or several)",
                        elem_id="photos",
                    )
                    render = _render_slider(defaults, elem_id="render_size")
                    gain = gr.Slider(
                        0.5,
                        2.0,
                        value=defaults.chroma_gain or 1.0,
                        step=0.05,
                        label=f"Chroma gain (vivid: {defaults.vivid_chroma_gain})",
                        visible=defaults.chroma_gain is not None,
                        elem_id="chroma_gain",
                    )
                    temperature = gr.Slider(
                        0.05,
                        1.0,
                        value=defaults.temperature or 0.38,
                        step=0.01,
                        label="Temperature of the colour classes (lower: more vivid)",
                        visible=defaults.temperature is not None,
                        elem_id="temperature",
                    )
                    button = gr.Button("Colorize", variant="primary", elem_id="colorize")
                    gallery_samples = gr.Gallery(
                        [(_thumbnail(path), os.path.basename(path)) for path in samples],
                        label="Or try one of scikit-image's sample photos",
                        columns=3,
                        height=300,
                        allow_preview=False,
                        visible=bool(samples),
                        elem_id="samples",
                    )
                with gr.Column(scale=2):
                    status = gr.Markdown(elem_id="status")
                    slider = gr.ImageSlider(label="Gray | colorized", elem_id="slider")
                    row = gr.Image(
                        label="Gray | colorized | original", interactive=False, elem_id="row"
                    )
                    thumbnails = gr.Gallery(
                        label="Colorized photos (click one to compare it above)",
                        columns=6,
                        fit_columns=False,
                        height=150,
                        allow_preview=False,
                        elem_id="results",
                    )
                    downloads = gr.File(
                        label="Full-resolution results (PNG)",
                        file_count="multiple",
                        interactive=False,
                        elem_id="downloads",
                    )
        with gr.Tab("Video", elem_id="video_tab"):
            with gr.Row():
                with gr.Column(scale=1):
                    video_file = gr.File(
                        label="A video (mp4, mov, mkv, avi, webm)",
                        file_types=list(video_io.VIDEO_EXTENSIONS),
                        elem_id="video",
                    )
                    video_render = _render_slider(defaults, elem_id="video_render_size")
                    temporal_mode = gr.Radio(
                        ["flow", "none"],
                        value="flow",
                        label="Temporal consistency (flow: colour follows the motion)",
                    )
                    strength = gr.Slider(
                        0.0, 1.0, value=0.8, step=0.05, label="Flow strength (1: steadiest)"
                    )
                    video_button = gr.Button(
                        "Colorize video", variant="primary", elem_id="colorize_video"
                    )
                with gr.Column(scale=2):
                    video_status = gr.Markdown(elem_id="video_status")
                    video_result = gr.Video(
                        label="Colorized (same size, frame rate and audio)",
                        interactive=False,
                        elem_id="video_result",
                    )
                    video_download = gr.File(
                        label="Download", interactive=False, elem_id="video_download"
                    )
        views = gr.State([])  # per result: (gray, colorized) for the slider, the row
        settings = [render, gain, temperature]
        outputs = [status, slider, row, thumbnails, downloads, views]
        for event in (files.upload, button.click):
            event(
                colorize, [files, *settings], outputs, concurrency_id=QUEUE_ID, concurrency_limit=1
            )
        gallery_samples.select(
            colorize_sample, settings, outputs, concurrency_id=QUEUE_ID, concurrency_limit=1
        )
        thumbnails.select(show, views, [slider, row], queue=False)
        video_button.click(
            colorize_video,
            [video_file, video_render, temporal_mode, strength],
            [video_status, video_result, video_download],
            concurrency_id=QUEUE_ID,
            concurrency_limit=1,
        )
    return page.queue(default_concurrency_limit=1, max_size=limits.queue_size)


def _render_slider(defaults: web_colorize.Controls, elem_id: str) -> gr.Slider:
    """The render size control: the shorter side the model sees, in steps of its stride."""
    return gr.Slider(
        defaults.stride,
        max(1024, defaults.render_size),
        value=defaults.render_size,
        step=defaults.stride,
        label="Render size: the shorter side the model sees (px)",
        elem_id=elem_id,
    )


def _thumbnail(path: str) -> np.ndarray:
    return web_colorize.display_copy(photo_files.read_photo(path).rgb, 160)

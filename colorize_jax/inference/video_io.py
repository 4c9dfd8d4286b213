"""Video files through PyAV: probing, decoding frames as uint8 RGB, H.264 encoding with the audio
copied untouched.

PyAV (`av` on PyPI) binds FFmpeg's libraries and its wheels carry them, so every container and
codec FFmpeg reads (mp4, mov, mkv, avi, webm; H.264, HEVC, VP9, AV1, ProRes, MPEG-4, ...) is read
without an FFmpeg install or a download, and encoding and muxing happen in the same process (no
pipes to an `ffmpeg` binary, whose frame-rate and timestamp handling would have to be steered by
command-line flags).

Reading (`read_frames`) is a generator: one decoded frame at a time, converted to RGB with the
frame's own colour matrix and range, and turned upright when the stream carries a display
rotation (phone videos), as FFmpeg's command line does: the output is then written upright,
without one. Writing (`VideoWriter`) encodes H.264 (libx264, `crf` quality, BT.709 tagged) at
the input's exact rational frame rate (30000/1001 stays 30000/1001), one frame per input frame,
and copies the input's audio packets into the output untouched, interleaved by time as the
frames arrive. The output is written under a temporary name (`PATH.partial`) and renamed when
complete; a failed or interrupted write removes it. The output is mp4, or Matroska (.mkv) when
it carries more of the input's audio streams unchanged (`VideoInfo.output_extension`); an audio
stream neither can carry unchanged (some AVI codecs: ADPCM, A-law, mu-law) is left out
(`VideoInfo.dropped_audio`) rather than re-encoded.

Problems with an input (not a video, truncated, no video stream, a codec FFmpeg cannot decode)
raise `VideoError`: a ValueError whose one-line message names the file and the reason.
"""

from __future__ import annotations

import dataclasses
import io
import os
from collections.abc import Iterator
from fractions import Fraction

import av
import numpy as np

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm")
DEFAULT_CRF = (
    18  # libx264's constant rate factor: 0 lossless, 23 its default, 18 "visually lossless"
)
DEFAULT_PRESET = "medium"
FALLBACK_RATE = Fraction(25)  # for a stream that states no frame rate at all
# BT.709 matrix, primaries and transfer (AVCOL_*_BT709); limited range (AVCOL_RANGE_MPEG).
BT709, LIMITED_RANGE = 1, 1


class VideoError(ValueError):
    """An input that cannot be read as a video; the message is one line naming the file."""


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What a video file holds, as far as colorizing it is concerned."""

    path: str
    width: int
    height: int
    rate: Fraction  # frames per second, exact (e.g. 30000/1001)
    num_frames: int | None  # as the container states it; None when it does not
    codec: str  # the video codec's name
    start: float  # time of the video stream's first frame, in seconds
    audio_codecs: tuple[str, ...] = ()  # every audio stream's codec name, in stream order
    audio_kept: tuple[bool, ...] = ()  # whether the output carries each one, unchanged
    output_extension: str = ".mp4"  # ".mp4", or ".mkv" where it carries more of the audio
    # The display rotation (counter-clockwise degrees, 0/90/180/270) that phones record as
    # metadata; frames are read upright, so width and height above are the displayed ones.
    rotation: int = 0

    @property
    def dropped_audio(self) -> tuple[str, ...]:
        """The codecs of the audio streams the output cannot carry unchanged."""
        pairs = zip(self.audio_codecs, self.audio_kept, strict=True)
        return tuple(codec for codec, kept in pairs if not kept)


def is_video_path(path: str) -> bool:
    """Whether `path` has a video file extension (`VIDEO_EXTENSIONS`, any case)."""
    return path.lower().endswith(VIDEO_EXTENSIONS)


def _reason(error: BaseException) -> str:
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__


def _open(path: str) -> av.container.InputContainer:
    if os.path.isdir(path) or not os.path.exists(path):
        raise VideoError(f"cannot read video {path}: no such file")
    if os.path.getsize(path) == 0:
        raise VideoError(f"cannot read video {path}: the file is empty")
    try:
        return av.open(path, "r")
    except av.InvalidDataError as error:
        raise VideoError(
            f"cannot read video {path}: not a video file, or truncated ({_reason(error)})"
        ) from None
    except (av.FFmpegError, OSError, UnicodeDecodeError) as error:
        raise VideoError(f"cannot read video {path}: {_reason(error)}") from None


def _video_stream(container: av.container.InputContainer, path: str) -> av.VideoStream:
    if not container.streams.video:
        kinds = ", ".join(stream.type for stream in container.streams) or "none"
        raise VideoError(f"cannot read video {path}: it has no video stream (streams: {kinds})")
    stream = container.streams.video[0]
    context = stream.codec_context
    if context is None or not context.name or context.name == "none":
        raise VideoError(f"cannot read video {path}: unsupported codec (FFmpeg has no decoder)")
    if not context.width or not context.height:
        raise VideoError(f"cannot read video {path}: its video stream has no frame size")
    return stream


def _rate(stream: av.VideoStream) -> Fraction:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and rate > 0:
            return Fraction(rate.numerator, rate.denominator)
    return FALLBACK_RATE


def carries(muxer: str, stream: av.stream.Stream) -> bool:
    """Whether FFmpeg's `muxer` ("mp4", "matroska") takes `stream`'s packets unchanged (tried on
    an in-memory file)."""
    try:
        with av.open(io.BytesIO(), "w", format=muxer) as trial:
            trial.add_stream_from_template(stream)
            trial.start_encoding()
        return True
    except (av.FFmpegError, ValueError, TypeError):
        return False


def upright_turns(frame: av.VideoFrame) -> int:
    """Quarter turns, counter-clockwise, that show `frame` as its display matrix says (0-3)."""
    return round((frame.rotation or 0) / 90) % 4


def _first_frame_rotation(container, stream: av.VideoStream, path: str) -> int:
    """The display rotation of the first frame (decoding it also proves the codec decodes)."""
    try:
        for frame in container.decode(stream):
            return 90 * upright_turns(frame)
    except av.FFmpegError as error:
        raise VideoError(f"cannot decode video {path}: {_reason(error)}") from None
    raise VideoError(f"cannot decode video {path}: no frame decodes")


def probe(path: str) -> VideoInfo:
    """The `VideoInfo` of the video file at `path` (VideoError when it is not a readable video)."""
    with _open(path) as container:
        stream = _video_stream(container, path)
        context = stream.codec_context
        start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        audio = container.streams.audio
        extension, kept = ".mp4", tuple(carries("mp4", s) for s in audio)
        if not all(kept):
            in_matroska = tuple(carries("matroska", s) for s in audio)
            if sum(in_matroska) > sum(kept):
                extension, kept = ".mkv", in_matroska
        rotation = _first_frame_rotation(container, stream, path)
        width, height = context.width, context.height
        if rotation % 180:
            width, height = height, width
        return VideoInfo(
            path=path,
            width=width,
            height=height,
            rotation=rotation,
            rate=_rate(stream),
            num_frames=stream.frames or None,
            codec=context.name,
            start=max(start, 0.0),
            audio_codecs=tuple(s.codec_context.name if s.codec_context else "?" for s in audio),
            audio_kept=kept,
            output_extension=extension,
        )


def read_frames(path: str) -> Iterator[np.ndarray]:
    """Decodes the first video stream of `path`: one (H, W, 3) uint8 RGB array per frame, in
    display order, converted with each frame's own colour matrix and range, and turned upright
    by its display rotation (as FFmpeg's command line does).

    Raises VideoError for an unreadable file, a decoding error, or a file that ends before the
    number of frames its container states (a truncated file).
    """
    container = _open(path)
    decoded = 0
    try:
        stream = _video_stream(container, path)
        stream.thread_type = "AUTO"  # frame and slice threads, as FFmpeg's own tools decode
        expected = stream.frames or None
        for frame in container.decode(stream):
            rgb = frame.to_ndarray(format="rgb24", src_color_range=frame.color_range)
            if turns := upright_turns(frame):
                rgb = np.ascontiguousarray(np.rot90(rgb, turns))
            decoded += 1
            yield rgb
    except av.InvalidDataError as error:
        raise VideoError(
            f"cannot decode video {path}: truncated or damaged at frame {decoded} "
            f"({_reason(error)})"
        ) from None
    except av.FFmpegError as error:
        raise VideoError(
            f"cannot decode video {path} at frame {decoded}: {_reason(error)}"
        ) from None
    finally:
        container.close()
    if decoded == 0:
        raise VideoError(f"cannot decode video {path}: no frame decodes")
    if expected is not None and decoded < expected:
        raise VideoError(
            f"cannot decode video {path}: truncated or damaged, {decoded} of {expected} frames"
        )


def partial_path(path: str) -> str:
    """Where `VideoWriter` writes before renaming to `path`."""
    return path + ".partial"


class VideoWriter:
    """Writes uint8 RGB frames as H.264 at `info`'s size and exact frame rate, with the audio of
    the input `info.path` copied untouched (`copy_audio=False` leaves it out).

    Use as a context manager: leaving it normally finishes the file and renames it to `path`;
    leaving it with an exception (KeyboardInterrupt included) removes the partial file. Frames
    must have the size of `info` (odd sizes are encoded 4:4:4, which 4:2:0 cannot hold).
    """

    def __init__(
        self,
        path: str,
        info: VideoInfo,
        *,
        crf: float = DEFAULT_CRF,
        preset: str = DEFAULT_PRESET,
        copy_audio: bool = True,
    ):
        if os.path.exists(info.path) and os.path.exists(path) and os.path.samefile(path, info.path):
            raise ValueError(f"refusing to write {path}: it is the input")
        self.path, self.info = path, info
        self.temporary = partial_path(path)
        self.num_frames = 0
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        muxer = "mp4" if path.lower().endswith((".mp4", ".m4v", ".mov")) else "matroska"
        options = {"movflags": "+faststart"} if muxer == "mp4" else {}
        self._output = av.open(self.temporary, "w", format=muxer, container_options=options)
        self._audio_input = None
        try:
            self._video = self._add_video_stream(crf, preset)
            self._audio_streams, self._audio_packets = {}, iter(())
            if copy_audio and any(info.audio_kept):
                self._audio_input = av.open(info.path, "r")
                streams = self._audio_input.streams.audio
                kept = [s for s, keep in zip(streams, info.audio_kept, strict=True) if keep]
                for stream in kept:
                    self._audio_streams[stream.index] = self._output.add_stream_from_template(
                        stream
                    )
                self._audio_packets = self._audio_input.demux(*kept)
        except BaseException:
            self._abort()
            raise
        self._offset = round(info.start * info.rate)  # keeps the video's start against the audio

    def _add_video_stream(self, crf: float, preset: str) -> av.VideoStream:
        stream = self._output.add_stream("libx264", rate=self.info.rate)
        stream.width, stream.height = self.info.width, self.info.height
        even = self.info.width % 2 == 0 and self.info.height % 2 == 0
        stream.pix_fmt = "yuv420p" if even else "yuv444p"
        stream.options = {"crf": f"{crf:g}", "preset": preset}
        context = stream.codec_context
        context.colorspace = context.color_primaries = context.color_trc = BT709
        context.color_range = LIMITED_RANGE
        return stream

    def write(self, rgb: np.ndarray) -> None:
        """Encodes the next frame: (height, width, 3) uint8 RGB."""
        if rgb.shape != (self.info.height, self.info.width, 3) or rgb.dtype != np.uint8:
            raise ValueError(
                f"frame of shape {rgb.shape} {rgb.dtype}, expected "
                f"({self.info.height}, {self.info.width}, 3) uint8"
            )
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame = frame.reformat(
            format=self._video.pix_fmt, dst_colorspace="ITU709", dst_color_range="MPEG"
        )
        frame.pts = self._offset + self.num_frames
        self._copy_audio(until=self.info.start + self.num_frames / self.info.rate)
        self._output.mux(self._video.encode(frame))
        self.num_frames += 1

    def _copy_audio(self, until: float) -> None:
        """Muxes the input's audio packets up to time `until` (seconds; one packet beyond)."""
        for packet in self._audio_packets:
            if packet.dts is None:  # the demuxer's end-of-stream marker
                continue
            packet.stream = self._audio_streams[packet.stream_index]
            self._output.mux(packet)
            if packet.pts is not None and packet.pts * packet.time_base > until:
                return

    def close(self) -> None:
        """Flushes the encoder, copies the rest of the audio, closes and renames the file."""
        self._output.mux(self._video.encode(None))
        self._copy_audio(until=float("inf"))
        self._output.close()
        self._close_audio_input()
        os.replace(self.temporary, self.path)

    def _close_audio_input(self) -> None:
        if self._audio_input is not None:
            self._audio_input.close()
            self._audio_input = None

    def _abort(self) -> None:
        try:
            self._output.close()
        except (av.FFmpegError, OSError, ValueError):
            pass  # the partial file goes anyway
        self._close_audio_input()
        if os.path.exists(self.temporary):
            os.remove(self.temporary)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            try:
                self.close()
            except BaseException:
                self._abort()
                raise
        else:
            self._abort()

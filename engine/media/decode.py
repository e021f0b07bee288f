"""Streaming decoding with PyAV: upright RGB frames with their timestamps, and 16 kHz mono audio.

Frames are produced one at a time (never the whole video in memory), optionally thinned to a
target frame rate (by timestamp, so variable frame rates stay right) and scaled to a short side.
Packets that fail to decode are skipped and counted; decoding goes on with the next one.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from engine.errors import MediaError
from engine.jobs import CancelToken
from engine.media.probe import MediaInfo, container_start, open_container, probe, rotation_of

log = logging.getLogger(__name__)

AUDIO_RATE = 16000


@dataclass(frozen=True)
class Frame:
    """One decoded frame. ``index`` counts every decoded frame of the file (also the skipped ones);
    ``time`` is its presentation time in seconds; ``image`` is RGB uint8, upright."""

    index: int
    time: float
    image: np.ndarray


@dataclass
class DecodeStats:
    """Filled while decoding: frames decoded and yielded, packets that could not be decoded,
    frames the decoder flagged as damaged, and whether the file ended early."""

    decoded: int = 0
    yielded: int = 0
    bad_packets: int = 0
    corrupt_frames: int = 0
    ended_early: bool = False

    @property
    def bad(self) -> int:
        return self.bad_packets + self.corrupt_frames


@dataclass(frozen=True)
class Audio:
    """Mono float32 samples in [-1, 1] at ``rate`` Hz; the first one at ``start`` seconds from
    the container's start (the time origin of the video frames too)."""

    samples: np.ndarray
    rate: int
    start: float = 0.0

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.rate


def scaled_size(width: int, height: int, short_side: int | None) -> tuple[int, int]:
    """(width, height) with the short side at most ``short_side`` (even numbers, aspect kept)."""
    if not short_side or min(width, height) <= short_side:
        return width, height
    scale = short_side / min(width, height)
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


@dataclass
class VideoDecoder:
    """Iterate ``frames()`` of ``path``; ``fps`` thins the stream, ``short_side`` shrinks it.

    ``size`` is the (width, height) of the yielded images, ``scale`` maps their pixels back to the
    original displayed frame (original = yielded * scale).
    """

    path: Path
    fps: float | None = None
    short_side: int | None = None
    threads: int = 0
    info: MediaInfo | None = None  # probed here unless given
    stats: DecodeStats = field(init=False, default_factory=DecodeStats)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.info = self.info or probe(self.path)

    @property
    def size(self) -> tuple[int, int]:
        return scaled_size(self.info.width, self.info.height, self.short_side)

    @property
    def scale(self) -> float:
        return self.info.width / self.size[0]

    @property
    def output_fps(self) -> float:
        if self.fps and self.info.fps and self.fps < self.info.fps:
            return self.fps
        return self.info.fps

    def expected_frames(self) -> int:
        """Frames ``frames()`` will yield, estimated from the header."""
        if self.output_fps and self.info.fps:
            return max(1, round(self.info.frame_count * self.output_fps / self.info.fps))
        return self.info.frame_count

    def frames(self, cancel: CancelToken | None = None) -> Iterator[Frame]:
        import av

        self.stats = DecodeStats()
        step = 1.0 / self.fps if self.fps and self.fps < (self.info.fps or 0) else 0.0
        next_time = origin = None
        width, height = self.size
        rotated = self.info.rotation in (90, 270)
        # Scale in the stored orientation, then turn: the short side is the same either way.
        out_w, out_h = (height, width) if rotated else (width, height)
        container = open_container(self.path)
        scaler = Scaler(threads=1)  # beside the backends: slice threads only fight them
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            stream.codec_context.thread_count = self.threads
            start = container_start(container)
            for packet in self._packets(container, stream):
                try:
                    decoded = packet.decode()
                except av.FFmpegError as exc:
                    self.stats.bad_packets += 1
                    log.info("%s: skipped a damaged packet (%s)", self.path.name, exc)
                    continue
                for frame in decoded:
                    index = self.stats.decoded
                    self.stats.decoded += 1
                    if frame.is_corrupt:
                        self.stats.corrupt_frames += 1
                    time = _frame_time(frame, index, self.info.fps) - start
                    if step:
                        # The first frame at or after each point of a regular grid of times.
                        if next_time is not None and time < next_time - 1e-6:
                            continue
                        origin = time if origin is None else origin
                        next_time = origin + (math.floor((time - origin) / step + 1e-6) + 1) * step
                    if cancel is not None:
                        cancel.check()
                    image = upright_rgb(frame, out_w, out_h, scaler)
                    self.stats.yielded += 1
                    yield Frame(index=index, time=time, image=image)
        finally:
            container.close()
        if self.stats.yielded == 0:
            raise MediaError(f"No frame of {self.path} could be decoded.")

    def _packets(self, container, stream):
        """Demuxed packets; a read error part-way (a damaged tail) ends the stream early."""
        import av

        demux = container.demux(stream)
        while True:
            try:
                packet = next(demux)
            except StopIteration:
                return
            except av.FFmpegError as exc:
                self.stats.ended_early = True
                log.warning("%s: reading stopped early (%s)", self.path.name, exc)
                return
            yield packet


def upright_rgb(frame, width: int, height: int, scaler: Scaler) -> np.ndarray:
    """``to_rgb`` at (width, height) in the stored orientation, then turned by the frame's
    rotation metadata (portrait phone videos come out upright)."""
    image = to_rgb(frame, width, height, scaler)
    turns = rotation_of(frame) // 90
    return np.ascontiguousarray(np.rot90(image, turns)) if turns else image


class Scaler:
    """swscale kept from frame to frame: ``frame.reformat`` sets up a new scaler (and starts its
    slice threads) for every frame, about 1 ms per frame; ``threads`` 0 is one per core."""

    def __init__(self, threads: int = 0) -> None:
        from av.video.reformatter import VideoReformatter

        self.threads = threads
        self._reformatter = VideoReformatter()

    def __call__(self, frame, width: int, height: int, format: str):
        return self._reformatter.reformat(
            frame, width=width, height=height, format=format, interpolation="AREA",
            threads=self.threads,
        )  # fmt: skip


def to_rgb(frame, width: int, height: int, scaler: Scaler) -> np.ndarray:
    """The frame as RGB uint8 [height, width, 3], scaled with swscale's area filter by
    ``scaler`` (kept between the frames of a pass).

    Even sizes go through 4:2:0 YUV at the output size and OpenCV's colour conversion: the same
    picture up to chroma rounding, at about half the CPU of swscale's own RGB output.
    """
    if width % 2 or height % 2:
        return scaler(frame, width, height, "rgb24").to_ndarray()
    if (width, height) == (frame.width, frame.height) and frame.format.name == "yuv420p":
        planar = frame
    else:
        planar = scaler(frame, width, height, "yuv420p")
    return cv2.cvtColor(planar.to_ndarray(), cv2.COLOR_YUV2RGB_I420)


def _frame_time(frame, index: int, fps: float) -> float:
    if frame.time is not None:
        return float(frame.time)
    return index / fps if fps else float(index)


def decode_audio(
    path: Path, rate: int = AUDIO_RATE, cancel: CancelToken | None = None
) -> Audio | None:
    """The first audio stream as mono float32 at ``rate`` Hz, or None when the file has none."""
    import av

    path = Path(path)
    container = open_container(path)
    try:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks: list[np.ndarray] = []
        bad = 0
        origin = container_start(container)
        first: float | None = None
        for packet in container.demux(stream):
            if cancel is not None:
                cancel.check()
            try:
                frames = packet.decode()
            except av.FFmpegError:
                bad += 1
                continue
            for frame in frames:
                if first is None and frame.time is not None:
                    first = float(frame.time) - origin
                frame.pts = None
                chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(frame))
        chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
    except av.FFmpegError as exc:
        raise MediaError(f"The audio of {path} cannot be decoded ({exc}).") from exc
    finally:
        container.close()
    if bad:
        log.warning("%s: %d damaged audio packets skipped", path.name, bad)
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    return Audio(samples=samples.astype(np.float32, copy=False), rate=rate, start=first or 0.0)

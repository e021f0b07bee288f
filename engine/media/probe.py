"""What a media file holds: container, streams, size, rotation, frame rate, duration, audio.

``probe`` opens the file with PyAV, reads the stream headers, checks that the sample index does not
point past the end of the file (a truncated download) and decodes the first video frame (which also
carries the display rotation). Every failure a user can cause becomes one ``MediaError`` sentence.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from engine.errors import MediaError

log = logging.getLogger(__name__)

# Packets read while looking for the first decodable video frame before giving up.
_FIRST_FRAME_PACKETS = 300


@dataclass(frozen=True)
class AudioInfo:
    codec: str
    sample_rate: int
    channels: int


@dataclass(frozen=True)
class MediaInfo:
    """Facts about one video file. ``width``/``height`` are as displayed (rotation applied)."""

    path: str
    container: str
    size_bytes: int
    video_codec: str
    coded_width: int
    coded_height: int
    width: int
    height: int
    rotation: int
    fps: float
    frame_count: int
    frame_count_exact: bool
    duration_s: float
    audio: AudioInfo | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def portrait(self) -> bool:
        return self.height > self.width


def check_file(path: Path) -> Path:
    """The path if it names a non-empty regular file, else a ``MediaError``."""
    path = Path(path)
    if not path.exists():
        raise MediaError(f"The file {path} does not exist.")
    if path.is_dir():
        raise MediaError(f"{path} is a folder, not a video file.")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise MediaError(f"The file {path} cannot be read ({exc.strerror}).") from exc
    if size == 0:
        raise MediaError(f"The file {path} is empty (0 bytes).")
    return path


def container_start(container) -> float:
    """The container's start time in seconds: time 0 of every track, the frame reader and the
    overlays (a stream's own time minus this), so video and audio streams that start at
    different offsets stay aligned."""
    import av

    start = container.start_time
    return float(start) / av.time_base if start is not None else 0.0


def open_container(path: Path):
    """An opened PyAV input container, or a ``MediaError`` saying why not."""
    import av

    path = check_file(path)
    try:
        return av.open(str(path), mode="r")
    except PermissionError as exc:
        raise MediaError(f"The file {path} cannot be read (permission denied).") from exc
    except av.error.InvalidDataError as exc:
        raise MediaError(
            f"{path} is not a video file that can be read (it may be truncated or not a video)."
        ) from exc
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"{path} cannot be opened as a video ({_reason(exc)}).") from exc


def rotation_of(frame) -> int:
    """Counter-clockwise display rotation of a decoded frame, in {0, 90, 180, 270}."""
    try:
        degrees = float(frame.rotation or 0)
    except (AttributeError, ValueError, TypeError):
        return 0
    return int(round(degrees / 90.0)) % 4 * 90


def probe(path: Path | str) -> MediaInfo:
    """Facts about ``path``; a ``MediaError`` with one sentence when the file is unusable."""
    import av

    path = Path(path)
    container = open_container(path)
    try:
        if not container.streams.video:
            if container.streams.audio:
                raise MediaError(f"{path} holds only audio; a video stream is needed.")
            raise MediaError(f"{path} holds no video stream.")
        stream = container.streams.video[0]
        size = path.stat().st_size
        _check_index(path, stream, size)
        fps = _fps(stream)
        duration = _duration(container, stream)
        frame_count, exact = _frame_count(stream, fps, duration)
        first = _first_frame(path, container, stream)
        rotation = rotation_of(first)
        coded_w, coded_h = first.width, first.height
        width, height = (coded_h, coded_w) if rotation in (90, 270) else (coded_w, coded_h)
        audio = None
        if container.streams.audio:
            a = container.streams.audio[0].codec_context
            audio = AudioInfo(
                codec=a.name, sample_rate=int(a.sample_rate or 0), channels=a.channels
            )
        if duration <= 0 and fps > 0:
            duration = frame_count / fps
        return MediaInfo(
            path=str(path),
            container=container.format.name,
            size_bytes=size,
            video_codec=stream.codec_context.name,
            coded_width=coded_w,
            coded_height=coded_h,
            width=width,
            height=height,
            rotation=rotation,
            fps=round(fps, 6),
            frame_count=frame_count,
            frame_count_exact=exact,
            duration_s=round(duration, 6),
            audio=audio,
        )
    except av.FFmpegError as exc:
        raise MediaError(f"{path} cannot be read as a video ({_reason(exc)}).") from exc
    finally:
        container.close()


def _reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text).rstrip(".").lower()


def _check_index(path: Path, stream, size: int) -> None:
    """MP4/MOV index where each frame lies; an entry past the end of the file means truncated."""
    try:
        entries = stream.index_entries
        count = len(entries)
        if count == 0:
            return
        last = entries[count - 1]
    except (AttributeError, IndexError):
        return
    if last.pos >= 0 and last.pos + last.size > size:
        raise MediaError(
            f"{path} is truncated: its index points past the end of the file "
            f"(the copy or download did not finish)."
        )


def _fps(stream) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            value = float(Fraction(rate))
            if 0 < value < 1000:
                return value
    return 0.0


def _duration(container, stream) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000
    return 0.0


def _frame_count(stream, fps: float, duration: float) -> tuple[int, bool]:
    if stream.frames and stream.frames > 0:
        return int(stream.frames), True
    return max(int(round(duration * fps)), 0), False


def _first_frame(path: Path, container, stream):
    import av

    errors = 0
    for count, packet in enumerate(container.demux(stream)):
        if count >= _FIRST_FRAME_PACKETS:
            break
        try:
            frames = packet.decode()
        except av.FFmpegError:
            errors += 1
            continue
        if frames:
            return frames[0]
    detail = f" ({errors} damaged packets)" if errors else ""
    raise MediaError(f"{path} has a video stream but no frame of it can be decoded{detail}.")

"""Small test videos written with PyAV: clips of a real recording and broken or unusual files."""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np


def read_frames(src: Path, seconds: float, short_side: int) -> Iterator[np.ndarray]:
    """RGB frames of the first ``seconds`` of ``src``, resized to an even ``short_side``."""
    with av.open(str(src)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            if frame.time is not None and frame.time >= seconds:
                break
            img = frame.to_ndarray(format="rgb24")
            h, w = img.shape[:2]
            scale = short_side / min(h, w)
            size = (_even(w * scale), _even(h * scale))
            yield cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def read_audio(src: Path, seconds: float, rate: int = 16000) -> np.ndarray | None:
    """The first ``seconds`` of the audio of ``src`` as float32 mono at ``rate``, or None."""
    with av.open(str(src)) as container:
        if not container.streams.audio:
            return None
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks = []
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
        return samples[: int(seconds * rate)]


def write_video(
    path: Path,
    frames: Iterable[np.ndarray],
    fps: int = 30,
    rotation: int = 0,
    audio: np.ndarray | None = None,
    audio_rate: int = 16000,
    faststart: bool = False,
    gop: int = 10,
    times: list[float] | None = None,
    audio_start: float = 0.0,
) -> Path:
    """H.264 (+ AAC) from RGB frames; ``rotation``: display matrix degrees, counter-clockwise;
    ``times``: presentation times in seconds (a variable frame rate), else ``fps``;
    ``audio_start``: the presentation time of the first audio sample."""
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as out:
        stream = None
        for i, img in enumerate(frames):
            if stream is None:
                stream = out.add_stream("libx264", rate=fps)
                stream.height, stream.width = img.shape[:2]
                stream.pix_fmt = "yuv420p"
                stream.options = {"g": str(gop), "preset": "ultrafast"}
                if rotation:
                    stream.set_display_rotation(rotation)
                if times is not None:
                    stream.codec_context.time_base = Fraction(1, 1000)
                astream = _add_audio(out, audio_rate) if audio is not None else None
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            if times is not None:
                frame.pts = round(times[i] * 1000)
                frame.time_base = Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
        if audio is not None:
            _write_audio(out, astream, audio, audio_rate, round(audio_start * audio_rate))
    return path


def write_audio_only(path: Path, seconds: float = 1.0, rate: int = 16000) -> Path:
    """An AAC-only .mp4 holding ``tone``."""
    with av.open(str(path), "w", format="mp4") as out:
        _write_audio(out, _add_audio(out, rate), tone(seconds, rate), rate)
    return path


def _add_audio(out, rate: int):
    stream = out.add_stream("aac", rate=rate)
    stream.layout = "mono"
    return stream


def _write_audio(out, stream, samples: np.ndarray, rate: int, offset: int = 0) -> None:
    size = 1024
    samples = samples.astype(np.float32)
    for start in range(0, len(samples), size):
        chunk = samples[start : start + size]
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="fltp", layout="mono")
        frame.sample_rate = rate
        frame.pts = offset + start
        out.mux(stream.encode(frame))
    out.mux(stream.encode())


def clip(src: Path, dst: Path, seconds: float, short_side: int, audio: str | None = "tone") -> Path:
    """The first ``seconds`` of ``src`` re-encoded small (H.264, AAC 16 kHz mono): ``audio``
    "tone" (``tone``: the sports2d demo's own track is silent), "source" (its own) or None."""
    sound = {"tone": lambda: tone(seconds), "source": lambda: read_audio(src, seconds)}
    samples = sound[audio]() if audio else None
    return write_video(dst, read_frames(src, seconds, short_side), audio=samples)


def tone(seconds: float, rate: int = 16000) -> np.ndarray:
    """A test sound: a 440 Hz tone rising and falling twice a second over a little noise."""
    t = np.arange(int(seconds * rate)) / rate
    swell = 0.5 + 0.5 * np.sin(2 * np.pi * 2 * t)
    noise = np.random.default_rng(0).normal(0.0, 0.01, t.size)
    return (0.3 * swell * np.sin(2 * np.pi * 440 * t) + noise).astype(np.float32)


def portrait_rotated(src: Path, dst: Path, seconds: float, short_side: int) -> np.ndarray:
    """A phone-style portrait clip: the upright frames are stored turned sideways with a display
    rotation of 270 degrees. Returns the first upright frame (what a correct decoder shows)."""
    frames = list(read_frames(src, seconds, short_side))
    h, w = frames[0].shape[:2]
    crop_w = _even(h * 9 / 16)
    left = (w - crop_w) // 2
    upright = [f[:, left : left + crop_w] for f in frames]
    stored = [np.ascontiguousarray(np.rot90(f, 1)) for f in upright]
    write_video(dst, stored, rotation=270)
    return upright[0]


def nobody(dst: Path, seconds: float = 1.0, size: tuple[int, int] = (320, 180)) -> Path:
    """A scene with moving coloured shapes and no person in it."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    frames = []
    for i in range(int(seconds * 30)):
        img = np.empty((h, w, 3), np.uint8)
        img[..., 0] = (xx * 255 // w + i * 3) % 256
        img[..., 1] = yy * 255 // h
        img[..., 2] = 90
        cv2.circle(img, (20 + i * 4 % (w - 40), h // 2), 15, (250, 250, 30), -1)
        frames.append(img)
    return write_video(dst, frames)


def one_frame(dst: Path, src: Path | None = None) -> Path:
    """A video of exactly one frame (taken from ``src`` when given)."""
    if src is not None:
        img = next(read_frames(src, 1.0, 240))
    else:
        img = np.full((120, 160, 3), 128, np.uint8)
    return write_video(dst, [img])


def truncated(src: Path, dst: Path, fraction: float = 0.5) -> Path:
    """The first ``fraction`` of the bytes of ``src`` (an unfinished copy)."""
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def corrupt_middle(src: Path, dst: Path, packets: Iterable[int], seed: int = 0) -> Path:
    """A copy of ``src`` whose video packets at the given indices are overwritten with noise."""
    with av.open(str(src)) as container:
        stream = container.streams.video[0]
        spans = [(p.pos, p.size) for p in container.demux(stream) if p.size]
    data = bytearray(src.read_bytes())
    rng = np.random.default_rng(seed)
    for index in packets:
        pos, size = spans[index]
        data[pos : pos + size] = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    dst.write_bytes(bytes(data))
    return dst


def text_named_mp4(dst: Path) -> Path:
    dst.write_text("This is a text file, not a video.\n", encoding="utf-8")
    return dst


def zero_byte(dst: Path) -> Path:
    dst.write_bytes(b"")
    return dst


def odd_path_copy(src: Path, folder: Path) -> Path:
    """A copy of ``src`` under a folder and file name with spaces and non-ASCII characters."""
    target = folder / "vidéos à tester" / "séance 1 – Ünïcode ü.mp4"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, target)
    return target


def count_frames(path: Path) -> int:
    """Decoded video frames of a file, counted by PyAV directly."""
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def _even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def crossing(src: Path, dst: Path, seconds: float = 6.0, fps: int = 10) -> list[dict]:
    """Two real people cut out of the sports2d demo ``src`` (the jumper at 1 s, the walker at
    2 s) sliding past each other in opposite directions over its blurred first frame, the
    jumper in front. Returns the truth: for each frame, {1: jumper box, 2: walker box}."""
    wanted = {0.0: None, 1.0: None, 2.0: None}
    for time, image in zip(_times(src, 2.5), read_frames(src, 2.5, 360), strict=False):
        for t in wanted:
            if wanted[t] is None and time >= t - 1e-3:
                wanted[t] = image
    background = cv2.GaussianBlur(wanted[0.0], (0, 0), 25)
    people = {
        1: _cut(wanted[1.0], 0.31, 0.42, 0.0, 0.50),
        2: _cut(wanted[2.0], 0.745, 0.86, 0.52, 0.97),
    }
    h, w = background.shape[:2]
    count = int(seconds * fps)
    truth, frames = [], []
    for i in range(count):
        img = background.copy()
        boxes = {}
        for person, direction in ((2, -1), (1, 1)):  # the jumper is pasted last: in front
            crop = people[person]
            ch, cw = crop.shape[:2]
            span = w - cw - 40
            x = 20 + (span * i // (count - 1) if direction > 0 else span - span * i // (count - 1))
            y = h - ch - 20
            img[y : y + ch, x : x + cw] = crop
            boxes[person] = (x, y, x + cw, y + ch)
        truth.append(boxes)
        frames.append(img)
    write_video(dst, frames, fps=fps)
    return truth


def _times(src: Path, seconds: float) -> Iterator[float]:
    with av.open(str(src)) as container:
        for frame in container.decode(video=0):
            if frame.time is not None and frame.time >= seconds:
                break
            yield float(frame.time or 0.0)


def _cut(image: np.ndarray, x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
    h, w = image.shape[:2]
    return image[int(y0 * h) : int(y1 * h), int(x0 * w) : int(x1 * w)].copy()

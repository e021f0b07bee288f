"""Overlays on the video: the skeleton (joints coloured by confidence) and the optical flow.

``render`` writes a whole video (H.264 .mp4) or, with ``frame``, one picture (.png/.jpg). The
skeleton comes from the extraction cache (extracted first if needed); the flow picture is computed
on the fly, as it is only wanted for display.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from engine.coco import BONES
from engine.errors import InputError
from engine.jobs import CancelToken, Progress

log = logging.getLogger(__name__)

OVERLAYS = ("skeleton", "flow")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov")


def confidence_colour(conf: float) -> tuple[int, int, int]:
    """RGB from red (0) through yellow (0.5) to green (1)."""
    c = float(np.clip(conf, 0.0, 1.0))
    return (int(255 * min(1.0, 2 - 2 * c)), int(255 * min(1.0, 2 * c)), 0)


def draw_skeleton(image: np.ndarray, coco17: np.ndarray, min_conf: float = 0.05) -> np.ndarray:
    """Draw one pose ([17, 3] x, y in this image's pixels, confidence) on an RGB image in place."""
    size = max(1, round(min(image.shape[:2]) / 240))
    points = [(int(round(x)), int(round(y))) for x, y, _ in coco17]
    for a, b in BONES:
        if min(coco17[a, 2], coco17[b, 2]) >= min_conf:
            cv2.line(image, points[a], points[b], (235, 235, 235), size + 1, cv2.LINE_AA)
    for (x, y), conf in zip(points, coco17[:, 2]):
        if conf >= min_conf:
            cv2.circle(image, (x, y), 2 * size + 1, confidence_colour(conf), -1, cv2.LINE_AA)
            cv2.circle(image, (x, y), 2 * size + 1, (20, 20, 20), 1, cv2.LINE_AA)
    return image


def blend_flow(image: np.ndarray, flow_rgb: np.ndarray, strength: float = 0.8) -> np.ndarray:
    """Mix the flow picture in where there is motion (its brightness is the speed)."""
    flow_rgb = cv2.resize(flow_rgb, (image.shape[1], image.shape[0]))
    alpha = flow_rgb.max(axis=2, keepdims=True).astype(np.float32) * (strength / 255.0)
    mixed = image.astype(np.float32) * (1 - alpha) + flow_rgb.astype(np.float32) * alpha
    return mixed.astype(np.uint8)


class _Skeletons:
    """Pose of a decoded frame index: the track row of that frame or the last one before it."""

    def __init__(self, track, scale: float) -> None:
        self.index = track["frame_index"]
        self.coco = track["coco17"]
        self.detected = track["detected"]
        self.scale = scale

    def at(self, frame_index: int) -> np.ndarray | None:
        row = int(np.searchsorted(self.index, frame_index, side="right")) - 1
        if row < 0 or not self.detected[row]:
            return None
        pose = self.coco[row].copy()
        pose[:, :2] /= self.scale
        return pose


def render(
    video: Path | str,
    output: Path | str,
    overlays: list[str] | tuple[str, ...] = OVERLAYS,
    frame: int | None = None,
    short_side: int | None = 720,
    profile: str = "full",
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    person: str | None = None,
    handovers: Iterable[tuple[float, int]] = (),
) -> Path:
    """Write the overlays of ``video`` to ``output``; returns the output path. The skeleton is
    the subject's (``person``: None/"auto", an id or a point "X,Y[@SECONDS]", then
    ``handovers``)."""
    from engine.extract.config import ExtractionConfig
    from engine.extract.flow import FlowEngine, flow_to_rgb, to_grey
    from engine.extract.pipeline import extract
    from engine.media.decode import VideoDecoder, scaled_size

    video, output = Path(video), Path(output)
    unknown = [o for o in overlays if o not in OVERLAYS]
    if unknown or not overlays:
        raise InputError(f"Overlays must be skeleton and/or flow, not {', '.join(unknown)}.")
    suffix = output.suffix.lower()
    allowed = IMAGE_SUFFIXES if frame is not None else VIDEO_SUFFIXES
    if suffix not in allowed:
        kind = "a picture" if frame is not None else "a video"
        raise InputError(
            f"The output of {kind} must end in {', '.join(allowed)}, not {output.name}."
        )
    report = progress or (lambda fraction, stage: None)
    decoder = VideoDecoder(video, short_side=short_side)
    if frame is not None and not 0 <= frame < max(decoder.info.frame_count, 1):
        raise InputError(
            f"Frame {frame} is outside the video (frames 0 to {decoder.info.frame_count - 1})."
        )
    skeletons = None
    if "skeleton" in overlays:
        config = ExtractionConfig.parse("skeleton", profile).following(person, handovers)
        result = extract(video, config, progress=progress, cancel=cancel)
        status = result.modalities["skeleton"]
        if status.status == "ok":
            skeletons = _Skeletons(status.track, decoder.scale)
        else:
            log.warning("no skeleton to draw: %s", status.reason)
    flow = FlowEngine("dis", "fast") if "flow" in overlays else None
    flow_size = scaled_size(*decoder.size, 256)
    previous = None

    def draw(f) -> np.ndarray:
        nonlocal previous
        image = f.image.copy()
        if flow is not None:
            grey = to_grey(f.image, flow_size)
            if previous is not None:
                image = blend_flow(image, flow_to_rgb(flow(previous, grey)))
            previous = grey
        if skeletons is not None and (pose := skeletons.at(f.index)) is not None:
            draw_skeleton(image, pose)
        return image

    output.parent.mkdir(parents=True, exist_ok=True)
    expected = max(decoder.expected_frames(), 1)
    if frame is not None:
        for f in decoder.frames(cancel):
            if f.index < frame - 1:
                continue
            image = draw(f)
            if f.index >= frame:
                _write_atomic(output, lambda fh, img=image: fh.write(_encode_image(img, suffix)))
                return output
        raise InputError(f"Frame {frame} could not be decoded from {video}.")
    _write_atomic(output, lambda fh: _encode_video(fh, decoder, draw, cancel, report, expected))
    report(1.0, "render")
    return output


def _encode_image(image: np.ndarray, suffix: str) -> bytes:
    ok, data = cv2.imencode(suffix, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise InputError(f"The picture could not be encoded as {suffix}.")
    return data.tobytes()


def _encode_video(fh, decoder, draw, cancel, report: Progress, expected: int) -> None:
    import av

    rate = Fraction(decoder.output_fps or 30).limit_denominator(1000)
    with av.open(fh, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height = decoder.size
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        for count, f in enumerate(decoder.frames(cancel), start=1):
            image = draw(f)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
            report(count / expected, "render")
        out.mux(stream.encode())


def _write_atomic(target: Path, write: Callable) -> None:
    """Write to a temporary file next to ``target`` and rename it into place."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

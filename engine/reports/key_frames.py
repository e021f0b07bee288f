"""A key frame per recording: the frame where the skeleton is seen best, with the overlay drawn."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import AqaError
from engine.store import Store


@dataclass
class KeyFrame:
    image: np.ndarray  # RGB, skeleton drawn
    time_s: float  # where in the recording
    recording_id: int | None = None


def key_frame(video: Path, coco17: np.ndarray, times: np.ndarray, width: int = 480) -> KeyFrame:
    """The frame with the highest mean joint confidence, skeleton drawn, ``width`` pixels wide."""
    import cv2

    from engine.media.reader import FrameReader
    from engine.render import draw_skeleton

    best = int(np.argmax(coco17[..., 2].mean(axis=1)))
    reader = FrameReader(video)
    try:
        image = reader.frame(reader.index_at(float(times[best]))).copy()
    finally:
        reader.close()
    image = draw_skeleton(image, coco17[best])
    height = round(image.shape[0] * width / image.shape[1])
    image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return KeyFrame(image, float(times[best]))


def session_key_frames(store: Store, session_id: int) -> dict[str, KeyFrame]:
    """Item id -> key frame of the item's first extracted recording whose skeleton is cached,
    of the subject chosen for the recording."""
    from engine.extract.config import ExtractionConfig
    from engine.extract.pipeline import extract
    from engine.recording_subject import followed

    frames = {}
    for rec in store.recordings(session_id):
        if rec["item"] in frames or not store.recording_status(rec["id"])["extracted"]:
            continue
        try:
            config = ExtractionConfig.parse("skeleton").following(*followed(store, rec["id"]))
            result = extract(rec["path"], config)
        except AqaError:
            continue  # the video moved or broke since: the report goes on without its picture
        track = result.track("skeleton")
        if track is not None and track.ok:
            frame = key_frame(Path(rec["path"]), track["coco17"], track.times)
            frame.recording_id = rec["id"]
            frames[rec["item"]] = frame
    return frames

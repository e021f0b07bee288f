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
    """Item id -> key frame of the item's first recording extracted or graded with a skeleton:
    the skeleton of ``skeleton_key``, following the subject in force."""
    from engine.recordings import checked_path

    frames = {}
    for rec in store.recordings(session_id):
        key = None if rec["item"] in frames else skeleton_key(store, rec["id"])
        if key is None:
            continue
        try:
            video = checked_path(store, rec["id"])
            track = recorded_skeleton(store, rec["id"], video, key)
        except AqaError:
            continue  # the video moved or changed since: the report goes on without its picture
        if track is not None and track.ok:
            frame = key_frame(video, track["coco17"], track.times)
            frame.recording_id = rec["id"]
            frames[rec["item"]] = frame
    return frames


def skeleton_key(store: Store, recording_id: int) -> str | None:
    """The cache key of the skeleton to picture: the latest proposal's, when it read one (the
    skeleton the grade came from, as the window draws it: ``engine.review.graded_config``), else
    the latest extraction's ("" when unknown); None when there is neither."""
    latest = store.latest_assessment(recording_id)
    details = (latest or {}).get("details") or {}
    if "skeleton" in (details.get("modalities_used") or ()):
        return (details.get("cache_keys") or {}).get("skeleton", "")
    extracted = store.extractions(recording_id, "skeleton", limit=1)
    return (extracted[0]["cache_key"] or "") if extracted else None


def recorded_skeleton(store: Store, recording_id: int, video: Path, key: str):
    """The skeleton ``Track`` cached at ``key``; when the cache has lost it, or it followed
    another subject than the choice in force (stored without extracting again), ``video``
    extracted again as the latest proposal was (``recorded_extraction``) following that
    choice."""
    from engine.cache import Cache
    from engine.extract.config import ExtractionConfig
    from engine.extract.pipeline import extract
    from engine.extract.tracks import Track
    from engine.recording_subject import followed, recorded_extraction
    from engine.store.choices import follows

    track = Cache().load(key, Track.read) if key else None
    choice = store.subject_choice(recording_id)
    if track is not None and follows(track.meta.get("subject") or {}, choice):
        return track
    config = recorded_extraction(store, recording_id).only(["skeleton"])
    if not config.names:
        config = ExtractionConfig.parse("skeleton")
    return extract(video, config.following(*followed(store, recording_id))).track("skeleton")

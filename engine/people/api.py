"""What the extraction and the CLI call: find everyone, then landmarks for the chosen people.

    people = find_people(video)                       # cached per video content
    choice = choose_subject(people, person="auto")    # engine.people.subject
    tracks = poses(video, people, choice, everyone=False)  # {"subject": Track, ...}

Frames are sampled as the ``fast`` extraction profile does (10 per second, short side 360);
coordinates are upright video pixels.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from engine.cache import Cache, cache_key
from engine.extract.tracks import Track
from engine.hashing import file_sha256
from engine.jobs import CancelToken, Progress
from engine.media.decode import Frame, VideoDecoder
from engine.people.detect import detect_people
from engine.people.landmarks import pose_tracks
from engine.people.people import MODALITY, People
from engine.people.subject import Subject
from engine.people.tracker import track_people

VERSION = "1"
SAMPLING = {"fps": 10.0, "short_side": 360}


def open_pose(model_dir: str | Path | None = None, num_threads: int = 2):
    from engine.extract.blazepose import BlazePose

    return BlazePose(model_dir=model_dir, num_threads=num_threads)


def decoder(video: Path, sampling: dict | None = None) -> VideoDecoder:
    """The decoder both passes read the same sampled frames from."""
    return VideoDecoder(Path(video), **(sampling or SAMPLING))


def people_in_frames(
    frames: Iterable[Frame],
    pose,
    scale: float,
    image_size: tuple[int, int],
    total: int = 0,
    progress: Progress | None = None,
) -> People:
    """Detect and track everyone in decoded ``frames`` (pixels times ``scale`` = video pixels)."""
    times, indices, found = [], [], []
    for frame in frames:
        times.append(frame.time)
        indices.append(frame.index)
        found.append(detect_people(pose, frame.image))
        if progress and total:
            progress(min(1.0, len(found) / total), "people")
    times_arr = np.asarray(times, np.float64)
    people = track_people(times_arr, found)
    n, p = len(found), len(people)
    boxes = np.full((n, p, 4), np.nan)
    keypoints = np.full((n, p, 4, 2), np.nan)
    scores = np.zeros((n, p))
    for k, pairs in enumerate(people):
        for f, d in pairs:
            boxes[f, k] = found[f].boxes[d] * scale
            keypoints[f, k] = found[f].keypoints[d] * scale
            scores[f, k] = found[f].scores[d]
    return People(
        times=times_arr,
        frame_index=np.asarray(indices, np.int64),
        ids=tuple(range(1, p + 1)),
        boxes=boxes,
        keypoints=keypoints,
        scores=scores,
        image_size=image_size,
    )


def find_people(
    video: Path | str,
    pose=None,
    sampling: dict | None = None,
    cache: Cache | None = None,
    use_cache: bool = True,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> People:
    """Everyone in ``video`` tracked over the whole clip (cached by the video's content)."""
    video = Path(video)
    pose = pose or open_pose()
    dec = decoder(video, sampling)
    params = {"sampling": sampling or SAMPLING, **pose.params()}
    cache = cache or Cache()
    key = cache_key(file_sha256(video), "track", MODALITY, VERSION, params)
    if use_cache:
        track = cache.load(key, Track.read)
        if track is not None:
            return People.from_track(track)
    size = (dec.info.width, dec.info.height)
    people = people_in_frames(
        dec.frames(cancel), pose, dec.scale, size, dec.expected_frames(), progress
    )
    cache.save(key, people.to_track(VERSION, params).write)
    return people


def poses(
    video: Path | str,
    people: People,
    subject: Subject,
    everyone: bool = False,
    pose=None,
    sampling: dict | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> dict[str, Track]:
    """Skeleton tracks (COCO-17, upright video pixels) on ``people``'s sampled frames:
    ``"subject"`` follows ``subject`` (with its hand-overs); with ``everyone`` also
    ``"person-<id>"`` for every person. The subject track is "missing" with reason "no person
    found" when nobody is in the video."""
    pose = pose or open_pose()
    dec = decoder(Path(video), sampling)
    wanted = {"subject": subject.person_per_frame(people)}
    if everyone:
        for k, person in enumerate(people.ids):
            wanted[f"person-{person}"] = np.where(people.present[:, k], person, 0)
    total = len(people.times)

    def counted(frames: Iterable[Frame]) -> Iterable[Frame]:
        for i, frame in enumerate(frames):
            if progress and total:
                progress(min(1.0, (i + 1) / total), "landmarks")
            yield frame

    return pose_tracks(counted(dec.frames(cancel)), people, wanted, pose, dec.scale)

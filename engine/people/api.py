"""What the extraction and the CLI call: find everyone, then landmarks for the chosen people.

    result = track_subject(video, person="auto")     # all of it in one call, or step by step:
    frames = SampledFrames(video)                     # decoded once, kept for the second pass
    people = find_people(frames)                      # cached per video content
    subject = choose_subject(people, "auto")          # engine.people.subject
    tracks = poses(frames, people, subject)           # {"subject": Track, "person-<id>": ...}

Frames are sampled as the ``fast`` extraction profile does (10 per second, short side 360);
coordinates are upright video pixels. ``find_people`` and ``poses`` also take a video path.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.cache import Cache, cache_key
from engine.extract.tracks import Track
from engine.hashing import file_sha256
from engine.jobs import CancelToken, Progress
from engine.media.decode import Frame, VideoDecoder
from engine.people.detect import detect_people
from engine.people.ids import relabel
from engine.people.landmarks import pose_tracks
from engine.people.people import MODALITY, People
from engine.people.subject import Subject, choose_subject, hand_over
from engine.people.tracker import track_people

VERSION = "3"
SAMPLING = {"fps": 10.0, "short_side": 360}
FILL_S = 1.0
KEEP_MB = 400  # sampled frames kept in memory between the two passes, at most


class SampledFrames:
    """The sampled frames of a video, iterable more than once: the first pass keeps them (up to
    ``keep_mb``) so that the landmark pass does not decode again; a longer video is decoded
    again instead."""

    def __init__(
        self,
        video: Path | str,
        sampling: dict | None = None,
        keep_mb: float = KEEP_MB,
        cancel: CancelToken | None = None,
    ) -> None:
        self.video = Path(video)
        self.sampling = sampling or SAMPLING
        self.decoder = VideoDecoder(self.video, **self.sampling)
        self.keep_bytes = keep_mb * 2**20
        self.cancel = cancel
        self._kept: list[Frame] | None = None

    @property
    def scale(self) -> float:
        """Upright video pixels per sampled-frame pixel."""
        return self.decoder.scale

    def __iter__(self) -> Iterator[Frame]:
        if self._kept is not None:
            for frame in self._kept:
                if self.cancel is not None:
                    self.cancel.check()
                yield frame
            return
        kept: list[Frame] | None = []
        size = 0
        for frame in _ahead(self.decoder.frames(self.cancel)):
            size += frame.image.nbytes
            if kept is not None and size <= self.keep_bytes:
                kept.append(frame)
            else:
                kept = None
            yield frame
        self._kept = kept


def _ahead(frames: Iterator[Frame], depth: int = 8) -> Iterator[Frame]:
    """``frames`` decoded in a thread, up to ``depth`` ahead, so decoding overlaps the models."""
    box: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def produce() -> None:
        item: object = end
        try:
            for item in frames:
                while not stop.is_set():
                    try:
                        box.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
            item = end
        except BaseException as exc:  # handed to the consumer, raised there
            item = exc
        finally:
            if not stop.is_set():
                box.put(item)

    thread = threading.Thread(target=produce, name="people-decode", daemon=True)
    thread.start()
    try:
        while (item := box.get()) is not end:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def _frames(video: Path | str | SampledFrames, sampling, cancel) -> SampledFrames:
    if isinstance(video, SampledFrames):
        return video
    return SampledFrames(video, sampling, cancel=cancel)


def open_pose(model_dir: str | Path | None = None, num_threads: int = 2):
    from engine.extract.blazepose import BlazePose

    return BlazePose(model_dir=model_dir, num_threads=num_threads)


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
        # Every tile on the first frame (a one-frame video), then one tile per frame in turn.
        found.append(detect_people(pose, frame.image, turn=len(found) or None))
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
        fill_gaps(times_arr, boxes[:, k], keypoints[:, k])
    return People(
        times=times_arr,
        frame_index=np.asarray(indices, np.int64),
        ids=tuple(range(1, p + 1)),
        boxes=boxes,
        keypoints=keypoints,
        scores=scores,
        image_size=image_size,
    )


def fill_gaps(times: np.ndarray, boxes: np.ndarray, keypoints: np.ndarray) -> None:
    """Interpolate one person's box and keypoints (in place) across gaps of at most
    ``FILL_S`` between two sightings (frames whose tile was not searched, short misses)."""
    seen = np.flatnonzero(np.isfinite(boxes[:, 0]))
    for a, b in zip(seen[:-1], seen[1:], strict=True):
        if b - a > 1 and times[b] - times[a] <= FILL_S:
            w = ((times[a + 1 : b] - times[a]) / (times[b] - times[a]))[:, None]
            boxes[a + 1 : b] = boxes[a] * (1 - w) + boxes[b] * w
            keypoints[a + 1 : b] = keypoints[a] * (1 - w[..., None]) + keypoints[b] * w[..., None]


def find_people(
    video: Path | str | SampledFrames,
    pose=None,
    sampling: dict | None = None,
    cache: Cache | None = None,
    use_cache: bool = True,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> People:
    """Everyone in ``video`` tracked over the whole clip (cached by the video's content)."""
    frames = _frames(video, sampling, cancel)
    pose = pose or open_pose()
    params = {"sampling": frames.sampling, **pose.params()}
    cache = cache or Cache()
    key = cache_key(file_sha256(frames.video), "track", MODALITY, VERSION, params)
    if use_cache:
        track = cache.load(key, Track.read)
        if track is not None:
            return People.from_track(track)
    dec = frames.decoder
    size = (dec.info.width, dec.info.height)
    people = people_in_frames(frames, pose, dec.scale, size, dec.expected_frames(), progress)
    cache.save(key, people.to_track(VERSION, params).write)
    return people


def poses(
    video: Path | str | SampledFrames,
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
    frames = _frames(video, sampling, cancel)
    pose = pose or open_pose()
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

    return pose_tracks(counted(frames), people, wanted, pose, frames.scale)


@dataclass(frozen=True)
class PeopleResult:
    """Everything ``track_subject`` found: the people, the subject and the skeleton tracks."""

    people: People
    subject: Subject
    tracks: dict[str, Track]

    def to_dict(self) -> dict:
        """The ``people`` and ``subject`` fields of ``aqa tracks --json`` / ``aqa extract
        --json``."""
        return {"people": self.people.summary(), "subject": self.subject.to_dict()}


def track_subject(
    video: Path | str,
    person: str | None = "auto",
    handovers: Iterable[tuple[float, int]] = (),
    everyone: bool = False,
    pose=None,
    sampling: dict | None = None,
    cache: Cache | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    use_cache: bool = True,
) -> PeopleResult:
    """Find and track everyone in ``video`` (cached), choose the subject (``person``: "auto",
    an id or "X,Y[@SECONDS]"; then the stored ``handovers`` [(seconds, id)] applied in order)
    and run the landmarks for the subject (and everyone with ``everyone``); the video is
    decoded once when it fits in memory. ``sampling``: VideoDecoder's ``fps`` and
    ``short_side`` (default ``SAMPLING``, the fast profile's); ``use_cache`` False finds the
    people again. InputError for an unknown id or a point on nobody."""
    frames = SampledFrames(video, sampling, cancel=cancel)
    pose = pose or open_pose()
    people = find_people(frames, pose=pose, cache=cache, use_cache=use_cache, progress=progress)
    by_id = person is not None and person.strip().isdigit()
    if (by_id or handovers) and frames.sampling != SAMPLING:
        # Ids given by the user are those of the reference sampling (engine.people.ids).
        reference = find_people(video, pose=pose, cache=cache, cancel=cancel)
        people = relabel(people, reference)
    subject = choose_subject(people, person)
    for time_s, person_id in handovers:
        subject = hand_over(subject, people, time_s, person_id)
    tracks = poses(frames, people, subject, everyone=everyone, pose=pose, progress=progress)
    return PeopleResult(people, subject, tracks)

"""What the extraction and the CLI call: find everyone, then landmarks for the chosen people.

    result = track_subject(video, person="auto")     # all of it in one call, or step by step:
    frames = sampled_frames(video)                    # decoded once, kept for the second pass
    people = find_people(frames)                      # cached per video content
    subject = choose_subject(people, "auto")          # engine.people.subject
    tracks = poses(frames, people, subject)           # {"subject": Track, "person-<id>": ...}

The extraction drives the same steps from its own single decoding pass: ``PeopleFinder`` is
fed each frame of that pass, and ``follow`` replays the kept frames for the landmarks.
Frames are sampled as the ``fast`` extraction profile does (10 per second, short side 360);
coordinates are upright video pixels. ``find_people`` and ``poses`` also take a video path.
"""

from __future__ import annotations

import math
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
from engine.media.kept import KeptFrames
from engine.people.detect import NOBODY_SEARCHED, FramePeople, detect_people
from engine.people.ids import relabel
from engine.people.landmarks import pose_tracks
from engine.people.people import MODALITY, People
from engine.people.subject import Subject, choose_subject, hand_over
from engine.people.tracker import track_people

VERSION = "4"  # 4: the detector at most DETECT_FPS times per second
SAMPLING = {"fps": 10.0, "short_side": 360}
FILL_S = 1.0
# The detector runs on the first sampled frame at or after each tenth of a second (every frame
# of the fast profile's 10 per second); boxes on the frames between are interpolated.
DETECT_FPS = 10.0


def _read(frames: KeptFrames, cancel: CancelToken | None) -> Iterator[Frame]:
    """``frames``' next pass; decoding (when it is not a replay) runs ahead in a thread."""
    return frames.frames(cancel) if frames.kept is not None else _ahead(frames.frames(cancel))


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


def sampled_frames(video: Path | str | KeptFrames, sampling: dict | None = None) -> KeptFrames:
    """The sampled frames of ``video`` (``sampling``: VideoDecoder's ``fps`` and
    ``short_side``, default ``SAMPLING``), kept in memory by the first pass for the next."""
    if isinstance(video, KeptFrames):
        return video
    return KeptFrames(VideoDecoder(Path(video), **(sampling or SAMPLING)))


def open_pose(model_dir: str | Path | None = None, num_threads: int = 2):
    from engine.extract.blazepose import BlazePose

    return BlazePose(model_dir=model_dir, num_threads=num_threads)


class PeopleFinder:
    """Everyone in a video, fed its sampled frames one by one (``add``) and tracked over the
    whole clip at the end (``finish``); cached by the video's content, the sampling of
    ``frames`` and the detector. When the cache holds the answer, ``people`` is set from the
    start and ``add`` does nothing."""

    def __init__(
        self,
        frames: KeptFrames,
        pose,
        sha256: str | None = None,
        cache: Cache | None = None,
        use_cache: bool = True,
        progress: Progress | None = None,
    ) -> None:
        self.frames, self.pose, self.progress = frames, pose, progress
        decoder = frames.decoder
        sampling = {"fps": decoder.fps, "short_side": decoder.short_side}
        self.params = {"sampling": sampling, **pose.params()}
        self.cache = cache or Cache()
        sha256 = sha256 or file_sha256(decoder.path)
        self.key = cache_key(sha256, "track", MODALITY, VERSION, self.params)
        track = self.cache.load(self.key, Track.read) if use_cache else None
        self.people = People.from_track(track) if track is not None else None
        self.total = frames.expected_frames()
        self._times: list[float] = []
        self._indices: list[int] = []
        self._found: list[FramePeople] = []
        self._runs = 0  # detector runs so far
        self._next: float | None = None  # the time from which the detector runs again

    def add(self, frame: Frame) -> None:
        if self.people is not None:
            return
        self._times.append(frame.time)
        self._indices.append(frame.index)
        if self._next is not None and frame.time < self._next - 1e-6:
            self._found.append(NOBODY_SEARCHED)
        else:  # every tile on the first frame (a one-frame video), then one tile in turn
            self._found.append(detect_people(self.pose, frame.image, turn=self._runs or None))
            self._runs += 1
            origin, step = self._times[0], 1.0 / DETECT_FPS
            self._next = origin + (math.floor((frame.time - origin) / step + 1e-6) + 1) * step
        if self.progress and self.total:
            self.progress(min(1.0, len(self._found) / self.total), "people")

    def finish(self) -> People:
        if self.people is None:
            info = self.frames.info
            self.people = link_people(
                np.asarray(self._times, np.float64),
                np.asarray(self._indices, np.int64),
                self._found,
                self.frames.scale,
                (info.width, info.height),
            )
            self.cache.save(self.key, self.people.to_track(VERSION, self.params).write)
        return self.people


def link_people(
    times: np.ndarray,
    frame_index: np.ndarray,
    found: list[FramePeople],
    scale: float,
    image_size: tuple[int, int],
) -> People:
    """Track the people ``found`` on each sampled frame (pixels times ``scale`` = video
    pixels) over the whole clip."""
    people = track_people(times, found)
    n, p = len(found), len(people)
    boxes = np.full((n, p, 4), np.nan)
    keypoints = np.full((n, p, 4, 2), np.nan)
    scores = np.zeros((n, p))
    for k, pairs in enumerate(people):
        for f, d in pairs:
            boxes[f, k] = found[f].boxes[d] * scale
            keypoints[f, k] = found[f].keypoints[d] * scale
            scores[f, k] = found[f].scores[d]
        fill_gaps(times, boxes[:, k], keypoints[:, k])
    return People(
        times=times,
        frame_index=frame_index,
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
    video: Path | str | KeptFrames,
    pose=None,
    sampling: dict | None = None,
    cache: Cache | None = None,
    use_cache: bool = True,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    compute: bool = True,
) -> People | None:
    """Everyone in ``video`` tracked over the whole clip (cached by the video's content); with
    ``compute`` False only what the cache holds (None when it holds nothing)."""
    frames = sampled_frames(video, sampling)
    pose = pose or open_pose()
    finder = PeopleFinder(frames, pose, cache=cache, use_cache=use_cache, progress=progress)
    if finder.people is None and not compute:
        return None
    if finder.people is None:
        for frame in _read(frames, cancel):
            finder.add(frame)
    return finder.finish()


def poses(
    video: Path | str | KeptFrames,
    people: People,
    subject: Subject,
    everyone: bool = False,
    pose=None,
    sampling: dict | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    then=None,
) -> dict[str, Track]:
    """Skeleton tracks (COCO-17, upright video pixels) on ``people``'s sampled frames:
    ``"subject"`` follows ``subject`` (with its hand-overs); with ``everyone`` also
    ``"person-<id>"`` for every person. The subject track is "missing" with reason "no person
    found" when nobody is in the video. ``then``: see ``pose_tracks``."""
    frames = sampled_frames(video, sampling)
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

    return pose_tracks(counted(_read(frames, cancel)), people, wanted, pose, frames.scale, then)


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


def follow(
    frames: KeptFrames,
    people: People,
    person: str | None = "auto",
    handovers: Iterable[tuple[float, int]] = (),
    everyone: bool = False,
    pose=None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    cache: Cache | None = None,
    then=None,
) -> PeopleResult:
    """Choose the subject among ``people`` (``person``: "auto", an id or "X,Y[@SECONDS]"; then
    the stored ``handovers`` [(seconds, id)] applied in order) and run the landmarks for the
    subject (and everyone with ``everyone``) on ``frames``. InputError for an unknown id or a
    point on nobody. Ids are those of the reference sampling (``engine.people.ids``): people
    found at another one are relabelled to them first — always when the user gave ids, else
    when the reference people are cached (the window and ``aqa tracks`` find them). ``then``
    hears each frame with the subject's box once its landmarks are done (``pose_tracks``)."""
    decoder = frames.decoder
    if {"fps": decoder.fps, "short_side": decoder.short_side} != SAMPLING:
        by_id = person is not None and person.strip().isdigit()
        compute = by_id or bool(handovers)
        reference = find_people(decoder.path, pose, cache=cache, cancel=cancel, compute=compute)
        if reference is not None:
            people = relabel(people, reference)
    subject = choose_subject(people, person)
    for time_s, person_id in handovers:
        subject = hand_over(subject, people, time_s, person_id)
    tracks = poses(frames, people, subject, everyone, pose, None, progress, cancel, then)
    return PeopleResult(people, subject, tracks)


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
    """Find and track everyone in ``video`` (cached), then ``follow`` the subject; the video is
    decoded once when its sampled frames fit in memory. ``sampling``: VideoDecoder's ``fps``
    and ``short_side`` (default ``SAMPLING``, the fast profile's); ``use_cache`` False finds
    the people again."""
    frames = sampled_frames(video, sampling)
    pose = pose or open_pose()
    people = find_people(frames, pose, cache=cache, use_cache=use_cache, progress=progress)
    return follow(frames, people, person, handovers, everyone, pose, progress, cancel, cache)

"""Extraction of one video: probe, hash, decode once, feed every frame backend, log-mel the audio.

Decoding starts in a thread as soon as the video is probed (``engine.media.ahead``), while the
models load; each frame backend runs in its own thread behind a small bounded queue, so
decoding, pose and flow overlap on the cores and memory stays flat; audio runs in a thread of
its own. The BlazePose skeleton follows the configuration's subject: the frames of the same pass
feed the people layer (``engine.people``: everyone detected and tracked), which then chooses the
subject and runs the landmarks on the subject over the pass's frames, kept in memory
(``engine.media.kept``; a video too long for that is decoded again). rgb crops around the person
and flow's figures inside the subject's box follow the skeleton: on a cached skeleton's boxes in
the pass, else behind the running skeleton (``_Chase``), each frame handed on with the box just
found — in the pass for a frame-fed skeleton, during the landmark replay for the people layer.
Results are cached per backend (see ``engine.cache``); a cancelled run keeps no track (only the
people found over a whole pass, when it got that far).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.cache import Cache, cache_key
from engine.device import check_request
from engine.errors import AqaError, Cancelled, InputError, MissingWeightsError
from engine.extract import registry
from engine.extract.config import ExtractionConfig
from engine.extract.flow import add_subject
from engine.extract.registry import AudioBackend, FrameBackend, StreamInfo
from engine.extract.rgb import LiveBoxes
from engine.extract.tracks import Track
from engine.hashing import file_sha256
from engine.jobs import CancelToken, Progress
from engine.media.ahead import ReadAhead
from engine.media.decode import VideoDecoder, decode_audio
from engine.media.kept import KeptFrames
from engine.media.probe import probe

log = logging.getLogger(__name__)

QUEUE_FRAMES = 8
_END = object()


@dataclass
class ModalityResult:
    """What happened to one modality; ``track`` is the data (left out of ``to_dict``)."""

    modality: str
    backend: str
    status: str
    reason: str = ""
    version: str = ""
    device: str = "cpu"
    frames: int = 0
    detection_rate: float | None = None
    seconds: float = 0.0
    cache_key: str | None = None
    cached: bool = False
    needs_files: bool = False  # missing because a weight/model file is not on this machine
    params: dict[str, Any] = field(default_factory=dict)
    track: Track | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("track")
        return data


@dataclass
class ExtractionResult:
    video: str
    sha256: str
    profile: str
    device: str
    media: dict[str, Any]
    decode: dict[str, Any]
    seconds: float
    modalities: dict[str, ModalityResult]
    config: ExtractionConfig | None = None

    @property
    def ok(self) -> bool:
        return any(r.status in ("ok", "fallback") for r in self.modalities.values())

    def track(self, modality: str) -> Track | None:
        result = self.modalities.get(modality)
        return result.track if result is not None and result.status != "error" else None

    def people(self) -> dict[str, Any]:
        """``{"people": [...], "subject": {...}}`` of a skeleton that followed the subject
        (``engine.people``), else both None."""
        track = self.track("skeleton")
        meta = track.meta if track is not None else {}
        return {"people": meta.get("people"), "subject": meta.get("subject")}

    def subject_details(self) -> dict[str, Any] | None:
        """The subject choice as a proposal keeps it (``engine.people.subject.proposal_details``),
        or None without a skeleton that followed the subject."""
        from engine.people.subject import proposal_details

        found = self.people()
        return None if found["subject"] is None else proposal_details(**found)

    def to_dict(self) -> dict[str, Any]:
        duration = self.media.get("duration_s") or 0.0
        return {
            "video": self.video,
            "sha256": self.sha256,
            "profile": self.profile,
            "device": self.device,
            "seconds": round(self.seconds, 3),
            "realtime_factor": round(duration / self.seconds, 2) if self.seconds > 0 else None,
            "media": self.media,
            "decode": self.decode,
            "modalities": {m: r.to_dict() for m, r in self.modalities.items()},
            "extraction": self.config.to_dict() if self.config else None,
            **self.people(),
        }


def extract(
    video: Path | str,
    config: ExtractionConfig | None = None,
    *,
    cache: Cache | None = None,
    use_cache: bool = True,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> ExtractionResult:
    """Extract what ``config`` asks for (default: ``ExtractionConfig()``) from ``video``; raises
    only when the video is unusable."""
    started = time.perf_counter()
    video = Path(video)
    config = config or ExtractionConfig()
    info = probe(video)
    ahead = _read_ahead(video, config, info)
    try:
        return _extract(video, config, info, ahead, started, cache, use_cache, progress, cancel)
    finally:
        if ahead is not None:
            ahead.stop()


def _read_ahead(video: Path, config: ExtractionConfig, info) -> ReadAhead | None:
    """Decoding started while the models load, at the largest short side the frame backends'
    options ask for (the side the pass decodes at, unless a backend chose its own); None
    without a frame backend."""
    frames = [m for m in config.modalities if registry.get(m.modality, m.backend).kind == "frames"]
    if not frames:
        return None
    sides = [config.backend_options(m.modality).get("short_side") for m in frames]
    side = max((s for s in sides if s), default=config.profile_spec.short_side)
    decoder = VideoDecoder(video, fps=config.profile_spec.fps, short_side=side, info=info)
    return ReadAhead(decoder).start()


def _extract(
    video: Path,
    config: ExtractionConfig,
    info,
    ahead: ReadAhead | None,
    started: float,
    cache: Cache | None,
    use_cache: bool,
    progress: Progress | None,
    cancel: CancelToken | None,
) -> ExtractionResult:
    prof = config.profile_spec
    cancel = cancel or CancelToken()
    report = progress or (lambda fraction, stage: None)
    wanted = [(m.modality, m.backend) for m in config.modalities]
    # The CUDA check (a torch import) runs only when a requested backend could use CUDA.
    gpu_capable = any("cuda" in registry.get(m, n).devices for m, n in wanted)
    requested = check_request(config.device)
    used_device = (
        registry.resolve_device(requested) if gpu_capable or requested == "cuda" else "cpu"
    )
    report(0.0, "hash")
    sha = file_sha256(video, fresh=not use_cache)  # --no-cache trusts no remembered hash
    report(1.0, "hash")
    cache = cache or Cache()

    results: dict[str, ModalityResult] = {}
    uncached: set[str] = set()  # tracks shown but not kept under their cache key
    built: list[tuple[ModalityResult, registry.BackendSpec, Any]] = []
    for modality, name in wanted:
        spec = registry.get(modality, name)
        options = config.backend_options(modality)
        result = ModalityResult(modality, spec.name, status="pending", device=used_device)
        results[modality] = result
        try:
            backend = spec.build(device=used_device, **options)
        except MissingWeightsError as exc:
            result.status, result.reason, result.needs_files = "missing", str(exc), True
            continue
        except Exception as exc:  # a broken backend never stops the others
            log.exception("%s/%s could not start", modality, spec.name)
            result.status, result.reason = "error", _sentence(exc)
            continue
        result.version, result.device = backend.version, backend.device
        result.params = backend.params()
        built.append((result, spec, backend))

    # Frames are decoded once, at the largest short side any frame backend asks for.
    sides = [b.short_side for _, s, b in built if s.kind == "frames" and b.short_side]
    decode_side = max(sides, default=prof.short_side)
    decode_params = {"fps": prof.fps, "short_side": decode_side, "origin": "container"}
    frame_jobs: list[tuple[ModalityResult, FrameBackend]] = []
    audio_jobs: list[tuple[ModalityResult, AudioBackend]] = []
    text_jobs: list[tuple[ModalityResult, Any]] = []
    person_crops: list[tuple[ModalityResult, registry.BackendSpec, Any]] = []

    def cached(result, spec, backend) -> bool:
        key_params = dict(result.params)
        if spec.kind == "frames" and backend.tracks_people:
            from engine.people.api import VERSION as PEOPLE_VERSION

            key_params["people"] = {"version": PEOPLE_VERSION, **decode_params}
            key_params["subject"] = config.subject_key()
        elif spec.kind == "frames":
            key_params["decode"] = decode_params
        result.cache_key = cache_key(
            sha, "track", f"{result.modality}/{spec.name}", backend.version, key_params
        )
        found = cache.load(result.cache_key, Track.read) if use_cache else None
        if found is not None:
            _finish(result, found, cached=True, seconds=0.0)
            report(1.0, result.modality)
        return found is not None

    people_job: tuple[ModalityResult, FrameBackend] | None = None
    subject_figures: list[tuple[ModalityResult, registry.BackendSpec, Any]] = []
    for result, spec, backend in built:
        if spec.kind == "frames" and backend.follows_person and "skeleton" in results:
            person_crops.append((result, spec, backend))
        elif spec.kind == "frames" and backend.subject_figures and "skeleton" in results:
            subject_figures.append((result, spec, backend))
        elif cached(result, spec, backend):
            continue
        elif spec.kind == "frames":
            if backend.tracks_people:
                people_job = (result, backend)
            frame_jobs.append((result, backend))
        elif spec.kind == "text":
            text_jobs.append((result, backend))
        else:
            audio_jobs.append((result, backend))
    # rgb crops and flow's figures inside the subject's boxes follow the skeleton: in this pass
    # from a cached track, else behind the running skeleton (the chase), each frame fed with
    # the box just found: in the pass for a frame-fed skeleton, during the landmark replay for
    # the people layer. Without a skeleton rgb crops the centre of the frame.
    skeleton = results.get("skeleton")
    running = next((b for r, b in frame_jobs if r is skeleton), None)
    chasing = running is not None and (running.tracks_people or running.finds_person)
    live = LiveBoxes()
    chase_jobs: list[tuple[ModalityResult, FrameBackend]] = []
    subject_flows: list[tuple[ModalityResult, ModalityResult]] = []  # flow, its in-box figures
    ready = skeleton is not None and skeleton.status == "ok" and skeleton.track is not None
    for result, spec, backend in person_crops:
        if ready:
            backend.use_person_boxes(skeleton.track, skeleton.cache_key)
        elif chasing:
            backend.use_person_boxes(live, skeleton.cache_key)
        result.params = backend.params()
        if not cached(result, spec, backend):
            (chase_jobs if chasing else frame_jobs).append((result, backend))
    for result, spec, backend in subject_figures:
        backend.follow_subject(skeleton.cache_key, skeleton.track if ready else None)
        result.params = backend.params()
        if cached(result, spec, backend):
            continue
        frame_jobs.append((result, backend))
        if chasing:
            found = ModalityResult(result.modality, "subject-box", "pending")
            chase_jobs.append((found, backend.subject_flow_for(live)))
            subject_flows.append((result, found))
        elif skeleton.status == "pending":  # a skeleton that finds no boxes: figures lost
            uncached.add(result.modality)
    chase = _Chase(chase_jobs, live, cancel) if chase_jobs else None

    decode_stats: dict[str, Any] = {}
    decode_key = cache_key(sha, "decode", "pyav", "1", decode_params)
    if ahead is not None and (not frame_jobs or ahead.short_side != decode_side):
        ahead.stop()  # nothing to decode, or at another size
        ahead = None
    decoder = ahead or VideoDecoder(video, fps=prof.fps, short_side=decode_side, info=info)
    # The people layer replays the pass's frames for the subject's landmarks (and the chase).
    frames = KeptFrames(decoder) if people_job is not None else decoder
    if people_job is not None:
        result, backend = people_job

        def landmarks(fraction: float, stage: str, modality=result.modality) -> None:
            report((1 + fraction) / 2, modality)

        backend.follow_subject(
            frames,
            sha,
            config.subject,
            config.handovers,
            cache=cache,
            use_cache=use_cache,
            progress=landmarks,
            cancel=cancel,
            then=chase.feed if chase else None,
        )
    # The text note and the audio run in a thread of their own, alongside the frame backends.
    failures: list[BaseException] = []
    threads = [
        threading.Thread(
            target=_run_side_jobs,
            args=(video, text_jobs, audio_jobs, report, cancel, failures),
            name="extract-side",
            daemon=True,
        )
    ]

    def counts(source) -> dict[str, Any]:
        stats = source.stats
        return {
            "frames_decoded": stats.decoded,
            "frames_used": stats.yielded,
            "bad_packets": stats.bad_packets,
            "corrupt_frames": stats.corrupt_frames,
            "ended_early": stats.ended_early,
            "short_side": decode_side,
            "fps": source.output_fps,
        }

    try:
        for thread in threads:
            thread.start()
        if frame_jobs:
            _run_frames(frames, frame_jobs, report, cancel, chase, skeleton)
            decode_stats = counts(frames)
        for result, found in subject_flows:
            if result.status == "ok" and found.status == "ok":
                add_subject(result.track, found.track)
            elif result.status == "ok" and skeleton.status != "missing":  # lost its figures
                uncached.add(result.modality)
        if isinstance(frames, KeptFrames):
            frames.release()
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=0.1)
        if failures:
            raise failures[0]
        if decode_stats:
            cache.save(decode_key, lambda fh: fh.write(json.dumps(decode_stats).encode()), ".json")
        elif use_cache:  # every track came from the cache: so do the decoder's counts
            found = cache.load(decode_key, lambda p: json.loads(p.read_text()), ".json")
            decode_stats = {**found, "cached": True} if found else {}
    except KeyboardInterrupt as exc:
        cancel.cancel()
        for thread in threads:
            thread.join()
        raise Cancelled("Extraction was cancelled; nothing was saved.") from exc
    except BaseException:
        cancel.cancel()
        for thread in threads:
            thread.join()
        raise

    # rgb that lost its skeleton part-way (an error), flow without its figures inside the
    # subject's boxes, are not kept under the skeleton's key.
    if skeleton and skeleton.status == "error":
        uncached |= {r.modality for r, _ in chase_jobs}
    for result in results.values():
        if result.track is not None and not result.cached and _cacheable(result):
            if result.modality not in uncached:
                cache.save(result.cache_key, result.track.write)
    return ExtractionResult(
        video=str(video),
        sha256=sha,
        profile=prof.name,
        device=used_device,
        media=info.to_dict(),
        decode=decode_stats,
        seconds=time.perf_counter() - started,
        modalities=results,
        config=config,
    )


def _cacheable(result: ModalityResult) -> bool:
    usable = result.status in ("ok", "fallback")
    return usable or (result.status == "missing" and result.cache_key is not None)


def _finish(result: ModalityResult, track: Track, cached: bool, seconds: float) -> None:
    result.track = track
    result.version = track.version or result.version
    result.status, result.reason = track.status, track.reason
    result.frames = track.frames
    result.cached = cached
    result.seconds = round(seconds, 3)
    if "detection_rate" in track.meta:
        result.detection_rate = track.meta["detection_rate"]


def _run_one(result: ModalityResult, run) -> bool:
    """Run one modality's ``run()`` (its Track) and keep it, timed; a cancel goes on to the
    caller, any other exception marks this modality alone as failed. Whether it succeeded."""
    start = time.perf_counter()
    try:
        track = run()
    except Cancelled:
        raise
    except Exception as exc:  # one modality failing never stops the others
        log.exception("%s backend failed", result.modality)
        result.status, result.reason = "error", _sentence(exc)
        return False
    _finish(result, track, cached=False, seconds=time.perf_counter() - start)
    return True


def _run_side_jobs(
    video, text_jobs, audio_jobs, report: Progress, cancel: CancelToken, failure: list
) -> None:
    """The text notes, then the audio; a failing one marks its modality only."""
    try:
        for result, backend in text_jobs:
            _run_one(result, lambda backend=backend: backend.run(cancel=cancel))
        for result, backend in audio_jobs:
            _run_audio(video, result, backend, report, cancel)
    except BaseException as exc:  # re-raised by the caller's thread
        failure.append(exc)


def _run_audio(video, result, backend, report: Progress, cancel: CancelToken) -> None:
    report(0.0, result.modality)
    if _run_one(result, lambda: backend.run(decode_audio(video, cancel=cancel), cancel=cancel)):
        report(1.0, result.modality)


class _Worker(threading.Thread):
    """Feeds frames from its queue to one backend; a failure is kept, and the queue drained.

    With ``then`` (a ``_Chase``), each frame goes on to it after this backend (a skeleton) saw
    it, with the box it found there.
    """

    def __init__(self, result: ModalityResult, backend: FrameBackend, cancel: CancelToken):
        super().__init__(name=f"extract-{result.modality}", daemon=True)
        self.result, self.backend, self.cancel = result, backend, cancel
        self.inbox: queue.Queue = queue.Queue(maxsize=QUEUE_FRAMES)
        self.done = 0
        self.busy = 0.0
        self.error: BaseException | None = None
        self.then: _Chase | None = None

    def run(self) -> None:
        while True:
            frame = self.inbox.get()
            if frame is _END:
                return
            if self.error is None and not self.cancel.cancelled:
                start = time.perf_counter()
                try:
                    self.backend.update(frame)
                except Exception as exc:
                    log.exception("%s backend failed", self.result.modality)
                    self.error = exc
                self.busy += time.perf_counter() - start
                self.done += 1
            if self.then is not None and not self.cancel.cancelled:
                self.then.feed(frame, None if self.error else self.backend.last_box())


class _Chase:
    """The backends that follow the skeleton's boxes (rgb crops, flow's figures inside the
    subject's box), each in a thread of its own: ``feed(frame, box)`` gives them every frame
    of the pass in order, each with the box the skeleton found there (displayed pixels)."""

    def __init__(self, jobs, boxes: LiveBoxes, cancel: CancelToken) -> None:
        self.workers = [_Worker(result, backend, cancel) for result, backend in jobs]
        self.boxes, self.cancel = boxes, cancel
        self.last = -1  # index of the last frame fed
        self.closed = False

    def start(self, stream: StreamInfo) -> None:
        for worker in self.workers:
            worker.backend.start(stream)
            worker.start()

    def feed(self, frame, box) -> None:
        self.boxes.feed(frame.time, box)
        self.last = frame.index
        for worker in self.workers:
            _put(worker.inbox, frame, self.cancel)

    def complete(self, frames) -> None:
        """Feed the frames of the pass not fed yet (the skeleton failed before them), boxless."""
        for frame in frames.frames(cancel=self.cancel):
            if frame.index > self.last:
                self.feed(frame, None)

    def close(self) -> None:
        """Ends the feed and waits for the backends to take the last frame."""
        if not self.closed:
            self.closed = True
            for worker in self.workers:
                _put(worker.inbox, _END, None)
        for worker in self.workers:
            worker.join()


def _run_frames(
    decoder, jobs, report: Progress, cancel: CancelToken, chase=None, skeleton=None
) -> None:
    """Feed every decoded frame to each of ``jobs``; ``chase`` (a ``_Chase``) follows the
    ``skeleton`` result's backend, in this pass or while that backend finishes."""
    stream = StreamInfo(
        width=decoder.size[0],
        height=decoder.size[1],
        scale=decoder.scale,
        fps=decoder.output_fps,
        expected_frames=decoder.expected_frames(),
    )
    fed = [_Worker(result, backend, cancel) for result, backend in jobs]
    for worker in fed:
        if chase is not None and worker.result is skeleton and not worker.backend.tracks_people:
            worker.then = chase
        worker.backend.start(stream)
        worker.start()
    failure: list[BaseException] = []
    try:
        if chase is not None:
            chase.start(stream)
        _decode_into(decoder, fed, report, cancel, stream.expected_frames, failure)
        if failure:
            raise failure[0]
        cancel.check()
        report(1.0, "decode")
        for worker in fed:
            _finish_worker(worker, report)
            if chase is not None and worker.result is skeleton:
                if worker.result.status == "error" and worker.then is None:
                    chase.complete(decoder)  # the replay stopped part-way
                chase.close()
        for worker in chase.workers if chase is not None else ():
            _finish_worker(worker, report)
    finally:
        if chase is not None:
            chase.close()


def _decode_into(decoder, fed, report: Progress, cancel, expected: int, failure: list) -> None:
    """Decode in a thread putting every frame into each worker's queue, until all are done."""

    def produce() -> None:
        try:
            for frame in decoder.frames(cancel=cancel):
                for worker in fed:
                    _put(worker.inbox, frame, cancel)
        except BaseException as exc:
            failure.append(exc)
        finally:
            for worker in fed:
                _put(worker.inbox, _END, None)

    producer = threading.Thread(target=produce, name="extract-decode", daemon=True)
    expected = max(expected, 1)
    try:
        producer.start()
        while producer.is_alive() or any(w.is_alive() for w in fed):
            report(min(decoder.stats.yielded / expected, 1.0), "decode")
            for worker in fed:
                share = worker.backend.frame_share
                report(min(worker.done / expected, 1.0) * share, worker.result.modality)
            producer.join(timeout=0.1)
            if not producer.is_alive():
                for worker in fed:
                    worker.join(timeout=0.1)
    except KeyboardInterrupt:
        cancel.cancel()
        producer.join()
        for worker in fed:
            worker.join()
        raise


def _finish_worker(worker: _Worker, report: Progress) -> None:
    """The backend's track (or its failure) into the worker's result."""
    result = worker.result
    if worker.error is not None:
        result.status, result.reason = "error", _sentence(worker.error)
        return
    start = time.perf_counter()
    try:
        track = worker.backend.finish()
    except (InputError, Cancelled):  # a bad subject choice, a cancel: the whole extraction
        raise
    except Exception as exc:
        log.exception("%s backend failed at the end", result.modality)
        result.status, result.reason = "error", _sentence(exc)
        return
    _finish(result, track, cached=False, seconds=worker.busy + time.perf_counter() - start)
    report(1.0, result.modality)


def _put(inbox: queue.Queue, item, cancel: CancelToken | None) -> None:
    """Put with a timeout loop so a cancelled run never blocks on a full queue."""
    while True:
        try:
            inbox.put(item, timeout=0.1)
            return
        except queue.Full:
            if cancel is not None and cancel.cancelled:
                try:
                    inbox.get_nowait()
                except queue.Empty:
                    pass


def _sentence(exc: BaseException) -> str:
    if isinstance(exc, AqaError):
        return str(exc)
    return f"the backend failed ({type(exc).__name__}: {exc})."

"""What the review screen draws for an extracted recording, computed away from the GUI thread:
the skeleton to overlay, the timeline curves (joint angles, motion energy, audio envelope), and
the recording's people with its subject (who the skeleton follows, and how that was decided)."""

from dataclasses import dataclass, field, replace

import numpy as np

PLOTTED_ANGLES = ("neck", "trunk", "left_knee", "right_knee", "left_elbow", "right_elbow")


@dataclass
class ReviewData:
    """``people``: everyone in the video (``engine.people.People`` at the reference sampling,
    upright video pixels, the ids the CLI and the stored choices use), None when the skeleton was
    not extracted; ``subject`` the skeleton's subject (``Subject.to_dict()``: id, chosen_by,
    ambiguous, reason, swaps, handovers); ``subject_ids`` [people frames] the subject's id on
    each of ``people``'s frames (0: nobody); ``choice`` the recording's stored subject choice
    in force (``Store.subject_choice``), None when it was never set."""

    extraction: object  # engine.extract.pipeline.ExtractionResult
    skeleton: np.ndarray | None = None  # [frames, 17, 3] in the video's displayed pixels
    skeleton_times: np.ndarray | None = None
    width: int = 0
    rows: dict[str, tuple[np.ndarray, dict[str, np.ndarray]]] = field(default_factory=dict)
    people: object | None = None  # engine.people.people.People
    subject: dict | None = None
    subject_ids: np.ndarray | None = None
    choice: dict | None = None
    recording_id: int | None = None


def review_data(result) -> ReviewData:
    """The overlays and timeline rows of an ``ExtractionResult``."""
    data = ReviewData(result, width=int(result.media["width"]))
    skeleton = result.track("skeleton")
    if skeleton is not None and skeleton.ok:
        from engine.kinematics.angles import joint_angles
        from engine.kinematics.skeleton import BodyGeometry, SkeletonSeries

        data.skeleton, data.skeleton_times = skeleton["coco17"], skeleton.times
        series = SkeletonSeries.from_track(skeleton)
        angles = joint_angles(BodyGeometry(series))
        data.rows["angle (°)"] = (series.times, {n: angles[n] for n in PLOTTED_ANGLES})
    flow = result.track("flow")
    if flow is not None and flow.ok:
        data.rows["motion"] = (flow.times, {"mean speed": flow["stats"][:, -1]})
    audio = result.track("audio")
    if audio is not None and audio.ok:
        envelope = np.asarray(next(iter(audio.arrays.values()))).mean(axis=1)
        data.rows["audio"] = (audio.times, {"log-mel energy": envelope})
    return data


def extract_for_review(
    video,
    device: str = "auto",
    progress=None,
    cancel=None,
    config=None,
) -> ReviewData:
    """Extract (or read from the cache) what ``config`` asks for (an ``ExtractionConfig``,
    default: the default one on ``device``) and prepare the review."""
    from engine.extract.config import ExtractionConfig
    from engine.extract.pipeline import extract

    config = replace(config or ExtractionConfig(), device=device)
    result = extract(video, config, progress=progress, cancel=cancel)
    return review_data(result)


def review_recording(
    store,
    recording_id: int,
    device: str = "auto",
    config=None,
    progress=None,
    cancel=None,
    as_graded: bool = True,
) -> ReviewData:
    """The review of a stored recording, following its stored subject choice, with its people
    and subject: extracted (or read from the cache) with ``config``, or with ``as_graded`` and a
    proposal, as that proposal was (``graded_config``)."""
    from engine.extract.config import ExtractionConfig
    from engine.recording_subject import followed, pose_folder
    from engine.recordings import checked_path

    video = checked_path(store, recording_id)
    config = config or ExtractionConfig()
    if as_graded:
        config = graded_config(store, recording_id, config)
    config = config.following(*followed(store, recording_id))
    data = extract_for_review(video, device, progress, cancel, config)
    data.recording_id = recording_id
    data.choice = store.subject_choice(recording_id)
    data.subject = data.extraction.people()["subject"]
    if data.subject is not None:
        _add_people(data, video, pose_folder(config), progress, cancel)
    return data


def graded_config(store, recording_id: int, config):
    """What the review of a graded recording extracts: ``config``'s modalities as the latest
    proposal extracted those it read (its profile, backends and options; ``config``'s device
    and file locations), so that the skeleton drawn is the one the grade came from, found
    cached. ``config`` itself when the recording has no proposal."""
    from engine.recording_subject import graded_extraction

    recorded = graded_extraction(store, recording_id)
    if recorded is None:
        return config
    graded = config.for_model(recorded).only(config.names)
    others = tuple(m for m in config.modalities if m.modality not in graded.names)
    return replace(graded, modalities=graded.modalities + others)


def _add_people(data: ReviewData, video, model_dir, progress, cancel) -> None:
    """Everyone at the reference sampling (cached: found once per video) and the subject's id on
    each of their frames. An automatic choice on another sampling (the full profile) numbers
    people its own way: its subject is then named by the reference person whose box holds the
    skeleton most often."""
    from engine.people.api import find_people, open_pose
    from engine.people.subject import Subject

    pose = open_pose(model_dir)  # the BlazePose files the Settings name, if any
    data.people = find_people(video, pose, progress=progress, cancel=cancel)
    subject = data.subject
    if subject["chosen_by"] == "auto" and data.skeleton is not None:
        held = holders(data.people, data.skeleton, data.skeleton_times)
        if held.any():
            data.subject = subject = {**subject, "id": int(np.bincount(held[held > 0]).argmax())}
    handovers = tuple((float(h["from_s"]), int(h["id"])) for h in subject.get("handovers") or ())
    followed = Subject(subject["id"], subject["chosen_by"], False, "", handovers=handovers)
    data.subject_ids = followed.person_per_frame(data.people)


def holders(people, skeleton: np.ndarray, times: np.ndarray) -> np.ndarray:
    """[people frames] the id of the person whose box holds the skeleton's hip centre (COCO-17,
    upright video pixels; the pose nearest in time; the smallest such box), 0 where none does or
    the hips were not seen."""
    if not people.ids:
        return np.zeros(len(people.times), np.int64)
    from engine.people.people import holds, nearest

    hips = skeleton[nearest(times, people.times)][:, 11:13]  # [frames, 2, 3], the nearest pose
    x, y = (hips[..., i].mean(axis=1)[:, None] for i in (0, 1))
    boxes = people.boxes
    inside = holds(boxes, x, y)
    inside &= (hips[..., 2].min(axis=1) > 0.3)[:, None]
    areas = (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
    smallest = np.where(inside, areas, np.inf).argmin(axis=1)
    return np.where(inside.any(axis=1), np.asarray(people.ids, np.int64)[smallest], 0)

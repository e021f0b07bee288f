"""What the review screen draws for an extracted recording, computed away from the GUI thread:
the skeleton to overlay and the timeline curves (joint angles, motion energy, audio envelope)."""

from dataclasses import dataclass, field, replace

import numpy as np

PLOTTED_ANGLES = ("neck", "trunk", "left_knee", "right_knee", "left_elbow", "right_elbow")


@dataclass
class ReviewData:
    extraction: object  # engine.extract.pipeline.ExtractionResult
    skeleton: np.ndarray | None = None  # [frames, 17, 3] in the video's displayed pixels
    skeleton_times: np.ndarray | None = None
    width: int = 0
    rows: dict[str, tuple[np.ndarray, dict[str, np.ndarray]]] = field(default_factory=dict)


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

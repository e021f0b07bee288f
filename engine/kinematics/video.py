"""The skeleton sequence of a video file, or of a skeleton track saved as ``.npz``."""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Iterable
from pathlib import Path

from engine.errors import InputError, MissingWeightsError
from engine.jobs import CancelToken, Progress
from engine.kinematics.skeleton import SkeletonSeries

log = logging.getLogger(__name__)


def skeleton_from_video(
    path: Path,
    device: str = "auto",
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    person: str | None = None,
    handovers: Iterable[tuple[float, int]] = (),
) -> tuple[SkeletonSeries, str]:
    """The subject's skeleton (``person`` and ``handovers`` as in ``ExtractionConfig``) on every
    frame of ``path`` from the extraction pipeline (cached, so a second measurement of the same
    video reuses it) and a few words on where it came from ("blazepose on cpu, cached, person 1
    (auto)"); InputError when nobody is detected on any frame, MissingWeightsError when
    the pose model files are missing."""
    from engine.extract.config import ExtractionConfig
    from engine.extract.pipeline import extract

    path = Path(path)
    config = ExtractionConfig.parse("skeleton", "full", device).following(person, handovers)
    result = extract(path, config, progress=progress, cancel=cancel)
    skeleton = result.modalities["skeleton"]
    track = result.track("skeleton")
    if skeleton.status == "missing" and track is None:
        raise MissingWeightsError(skeleton.reason)
    if skeleton.status != "ok" or track is None or not track["detected"].any():
        if skeleton.status == "error":
            raise InputError(
                f"The skeleton of {path.name} could not be extracted: {skeleton.reason}"
            )
        raise InputError(f"No person was detected in {path.name}, so nothing can be measured.")
    log.info("%s: person detected on %.0f%% of frames", path.name, 100 * track["detected"].mean())
    size = (int(result.media.get("width", 0)), int(result.media.get("height", 0)))
    source = f"{skeleton.backend} on {skeleton.device}" + (", cached" if skeleton.cached else "")
    subject = result.subject_details()
    if subject is not None and subject["id"] is not None:
        source += f", person {subject['id']} ({subject['chosen_by']})"
    return SkeletonSeries.from_track(track, size), source


def skeleton_from_track_file(path: Path) -> SkeletonSeries:
    """A skeleton track written by the extraction cache (``Track.write``)."""
    from engine.extract.tracks import Track

    path = Path(path)
    try:
        track = Track.read(path)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path.name} is not a readable skeleton track file ({exc}).") from exc
    if track.modality != "skeleton" or "coco17" not in track.arrays:
        raise InputError(f"{path.name} holds a {track.modality} track, not a skeleton track.")
    if not track.ok or not track["detected"].any():
        raise InputError(f"No person was detected in {path.name}, so nothing can be measured.")
    return SkeletonSeries.from_track(track)

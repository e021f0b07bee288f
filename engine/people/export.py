"""Track files: CSV (one row per sampled frame and person) and TRC (OpenSim markers), written
atomically (a temporary file renamed into place; a failed write leaves the previous file)."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path

import numpy as np

from engine.coco import COCO17
from engine.errors import InputError
from engine.extract.tracks import Track
from engine.kinematics.angles import ANGLE_NAMES, joint_angles
from engine.kinematics.skeleton import BodyGeometry, SkeletonSeries


def csv_columns() -> list[str]:
    keypoints = [f"{name}_{axis}" for name in COCO17 for axis in ("x", "y", "score")]
    return ["time_s", "frame", "person", *keypoints, *(f"{a}_deg" for a in ANGLE_NAMES)]


def _angles(track: Track) -> dict[str, np.ndarray]:
    series = SkeletonSeries(track["coco17"], track.times, track["detected"])
    return joint_angles(BodyGeometry(series))


def csv_rows(tracks: list[Track]) -> list[list]:
    """Rows of ``csv_columns`` for the frames where each track's person was found, in time
    order (then person); angles as ``aqa measure`` computes them, empty where unknown."""
    rows = []
    for track in tracks:
        angles = _angles(track)
        for r in np.flatnonzero(track["detected"]):
            keypoints = [round(float(v), 2) for v in track["coco17"][r].reshape(-1)]
            degrees = [
                "" if np.isnan(angles[a][r]) else round(float(angles[a][r]), 2) for a in ANGLE_NAMES
            ]
            rows.append(
                [
                    round(float(track.times[r]), 4),
                    int(track["frame_index"][r]),
                    int(track["person"][r]),
                    *keypoints,
                    *degrees,
                ]
            )
    rows.sort(key=lambda row: (row[0], row[2]))
    return rows


def csv_text(tracks: list[Track]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(csv_columns())
    writer.writerows(csv_rows(tracks))
    return out.getvalue()


def trc_text(track: Track, name: str) -> str:
    """One person's markers in the TRC format of OpenSim (Sports2D, Pose2Sim): 2D pixel
    coordinates with y up (image height minus y), z = 0, empty where not found."""
    rows = np.flatnonzero(track["detected"])
    times = track.times[rows]
    rate = 1.0 / float(np.median(np.diff(times))) if len(times) > 1 else 30.0
    height = float(track.meta.get("image_size", [0, 0])[1])
    head = [
        f"PathFileType\t4\t(X/Y/Z)\t{name}",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame"
        "\tOrigNumFrames",
        f"{rate:.3f}\t{rate:.3f}\t{len(rows)}\t{len(COCO17)}\tpx\t{rate:.3f}\t1\t{len(rows)}",
        "Frame#\tTime\t" + "\t\t\t".join(COCO17),
        "\t\t" + "\t".join(f"X{i}\tY{i}\tZ{i}" for i in range(1, len(COCO17) + 1)),
        "",
    ]
    lines = []
    for n, r in enumerate(rows, start=1):
        values = []
        for x, y, _score in track["coco17"][r]:
            values += [f"{x:.3f}", f"{height - y:.3f}", "0.000"]
        lines.append(f"{n}\t{track.times[r]:.4f}\t" + "\t".join(values))
    return "\n".join(head + lines) + "\n"


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise InputError(f"{path} cannot be written ({exc.strerror or exc}).") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise InputError(
                f"{path} cannot be written ({exc.strerror or exc}); the previous file is kept."
            ) from exc
        raise

"""Per-frame kinematic features for the models: ``kinematic_features`` -> [frames, 61] float32.

Layout (``FEATURE_NAMES`` spells every column):

- ``[0:10]``  joint angles in ``ANGLE_NAMES`` order, degrees / 180 (0..1);
- ``[10:27]`` height of each COCO-17 joint above the hip centre, in body scales (image up > 0);
- ``[27:44]`` the rate of change of those heights, body scales per second (frame times, so
  variable frame rates are right);
- ``[44:61]`` 1 where the COCO-17 joint is confident on that frame, else 0.

Unknown values (a joint not confident, no person on the frame) are 0 in the first three blocks;
the last block tells a model which zeros are unknown.
"""

from __future__ import annotations

import numpy as np

from engine.coco import COCO17
from engine.errors import InputError
from engine.kinematics.angles import ANGLE_NAMES, joint_angles
from engine.kinematics.skeleton import MIN_CONFIDENCE, BodyGeometry, SkeletonSeries

FEATURE_NAMES = (
    tuple(f"angle_{n}" for n in ANGLE_NAMES)
    + tuple(f"height_{n}" for n in COCO17)
    + tuple(f"height_rate_{n}" for n in COCO17)
    + tuple(f"confident_{n}" for n in COCO17)
)


def kinematic_features(
    series: SkeletonSeries, min_confidence: float = MIN_CONFIDENCE
) -> np.ndarray:
    """The [frames, len(FEATURE_NAMES)] feature array of ``series`` (see the module docstring)."""
    body = BodyGeometry(series, min_confidence)
    angles = joint_angles(body)
    frames = series.frames
    heights = np.full((frames, len(COCO17)), np.nan)
    try:
        scale = body.scale
    except InputError:
        scale = None  # no frame shows a torso: heights stay unknown
    if scale is not None:
        heights = (body.hips[:, None, 1] - body.xy[..., 1]) / scale
    if frames > 1:
        rates = np.gradient(heights, series.times, axis=0)
    else:
        rates = np.zeros_like(heights)
    out = np.concatenate(
        [
            np.stack([angles[n] for n in ANGLE_NAMES], axis=1) / 180.0,
            heights,
            rates,
            body.valid.astype(np.float64),
        ],
        axis=1,
    )
    return np.nan_to_num(out, nan=0.0).astype(np.float32)

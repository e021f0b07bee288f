"""Joint angles over time, in degrees, NaN where a joint they need is not confident.

- ``neck``: flexion of the head against the trunk, the angle between hip->shoulder centre and
  shoulder centre->head (ears, else nose); about 0-20 with the head in line with the trunk.
- ``trunk``: the hip->shoulder centre line against the image vertical; 0 upright, 90 lying.
- ``{left,right}_shoulder``: hip-shoulder-elbow; 0 arm along the body, 180 arm straight up.
- ``{left,right}_elbow``: shoulder-elbow-wrist; 180 straight.
- ``{left,right}_hip``: shoulder-hip-knee; 180 straight.
- ``{left,right}_knee``: hip-knee-ankle; 180 straight.
"""

from __future__ import annotations

import numpy as np

from engine.kinematics.skeleton import BodyGeometry

ANGLE_NAMES = (
    "neck",
    "trunk",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
)
# Joint triples (a, vertex, b) of the angles at a joint.
TRIPLES = {
    "shoulder": ("hip", "shoulder", "elbow"),
    "elbow": ("shoulder", "elbow", "wrist"),
    "hip": ("shoulder", "hip", "knee"),
    "knee": ("hip", "knee", "ankle"),
}
UP = np.array([0.0, -1.0])


def angle_between(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Unsigned angle in degrees between vectors [..., 2]; NaN where either is NaN or zero."""
    cross = u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]
    dot = np.sum(u * v, axis=-1)
    zero = (np.linalg.norm(u, axis=-1) == 0) | (np.linalg.norm(v, axis=-1) == 0)
    return np.where(zero, np.nan, np.degrees(np.arctan2(np.abs(cross), dot)))


def joint_angle(a: np.ndarray, vertex: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The angle a-vertex-b in degrees (points [..., 2]); 180 for a straight limb."""
    return angle_between(a - vertex, b - vertex)


def joint_angles(body: BodyGeometry) -> dict[str, np.ndarray]:
    """Every angle of ``ANGLE_NAMES`` as a [frames] array in degrees."""
    trunk = body.shoulders - body.hips
    out = {
        "neck": angle_between(trunk, body.head - body.shoulders),
        "trunk": angle_between(trunk, np.broadcast_to(UP, trunk.shape)),
    }
    for side in ("left", "right"):
        for joint, (a, vertex, b) in TRIPLES.items():
            out[f"{side}_{joint}"] = joint_angle(
                body.joint(f"{side}_{a}"), body.joint(f"{side}_{vertex}"), body.joint(f"{side}_{b}")
            )
    return {name: out[name] for name in ANGLE_NAMES}

"""A stick-figure generator: COCO-17 side-view poses with known angles, for kinematics tests.

A pose is given by the hip position and the absolute direction of each segment in degrees from
straight up, positive towards the way the figure faces (+x); both body sides coincide (side view).
The torso (hip to shoulder) is ``TORSO`` pixels long, so heights in body scales are easy to check.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from engine.kinematics.skeleton import JOINT, SkeletonSeries

TORSO = 100.0
HEAD = 40.0  # shoulder centre to ears
UPPER_ARM, FOREARM, THIGH, SHANK = 60.0, 55.0, 90.0, 85.0
FLOOR = 400.0
IMAGE = (640, 480)


@dataclass(frozen=True)
class Pose:
    trunk: float = 0.0
    head: float = 0.0  # head relative to the trunk (neck flexion, towards the face)
    upper_arm: float = 180.0
    forearm: float = 180.0
    thigh: float = 180.0
    shank: float = 180.0
    hip_x: float = 320.0


def direction(angle: float) -> np.ndarray:
    rad = np.radians(angle)
    return np.array([np.sin(rad), -np.cos(rad)])


def keypoints(pose: Pose) -> np.ndarray:
    """[17, 3] COCO-17 keypoints, confidence 1, the figure's lowest point on the floor."""
    hip = np.zeros(2)
    shoulder = hip + TORSO * direction(pose.trunk)
    head_angle = pose.trunk + pose.head
    ear = shoulder + HEAD * direction(head_angle)
    face = direction(head_angle + 90)
    eye = ear + 10 * direction(head_angle) + 12 * face
    nose = ear + 16 * face
    elbow = shoulder + UPPER_ARM * direction(pose.upper_arm)
    wrist = elbow + FOREARM * direction(pose.forearm)
    knee = hip + THIGH * direction(pose.thigh)
    ankle = knee + SHANK * direction(pose.shank)
    points = {"nose": nose}
    for side in ("left", "right"):
        points |= {
            f"{side}_eye": eye,
            f"{side}_ear": ear,
            f"{side}_shoulder": shoulder,
            f"{side}_elbow": elbow,
            f"{side}_wrist": wrist,
            f"{side}_hip": hip,
            f"{side}_knee": knee,
            f"{side}_ankle": ankle,
        }
    out = np.ones((17, 3))
    for name, xy in points.items():
        out[JOINT[name], :2] = xy
    out[:, 0] += pose.hip_x
    out[:, 1] += FLOOR - out[:, 1].max()
    return out


# Named postures.
SUPINE = Pose(trunk=-90, upper_arm=90, forearm=90, thigh=90, shank=90)
SITTING = Pose(trunk=0, upper_arm=180, forearm=180, thigh=90, shank=180)
KNEELING = Pose(trunk=0, thigh=180, shank=270)  # shank back along the floor
STANDING = Pose(trunk=0, thigh=180, shank=180)


def lerp(a: Pose, b: Pose, t: float) -> Pose:
    """The pose a fraction ``t`` of the way from ``a`` to ``b`` (segment angles interpolated)."""
    fields = ("trunk", "head", "upper_arm", "forearm", "thigh", "shank", "hip_x")
    return replace(a, **{f: (1 - t) * getattr(a, f) + t * getattr(b, f) for f in fields})


def series(
    poses: list[Pose],
    times: np.ndarray | None = None,
    fps: float = 30.0,
    jitter: float = 0.0,
    dropouts: tuple[tuple[int, int], ...] = (),
    seed: int = 0,
) -> SkeletonSeries:
    """A skeleton sequence of ``poses`` at ``fps`` (or at the given ``times``), with Gaussian
    ``jitter`` (pixels) and frame ranges [start, stop) where nobody is detected."""
    rng = np.random.default_rng(seed)
    kp = np.stack([keypoints(p) for p in poses])
    if jitter:
        kp[..., :2] += rng.normal(0, jitter, kp[..., :2].shape)
    detected = np.ones(len(poses), bool)
    for start, stop in dropouts:
        detected[start:stop] = False
        kp[start:stop] = 0.0
    if times is None:
        times = np.arange(len(poses)) / fps
    return SkeletonSeries(kp, times, detected, IMAGE)


def vfr_times(seconds: float, seed: int = 0) -> np.ndarray:
    """Frame times with random steps between 1/45 and 1/20 s covering ``seconds``."""
    rng = np.random.default_rng(seed)
    steps = rng.uniform(1 / 45, 1 / 20, int(seconds * 45) + 2)
    times = np.concatenate([[0.0], np.cumsum(steps)])
    return times[times < seconds]

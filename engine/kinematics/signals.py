"""Per-frame signals the protocol items are measured on.

Each signal gives a ``value`` (the quantity to show and plot, in ``unit``) and a ``level``: the
value's position in its hysteresis band, ``(value - off) / (on - off)``, so 1 or more means "on",
0 or less "off"; conditions that must hold together take the minimum of their levels, conditions
of which either will do the maximum. NaN marks frames where the joints needed are not confident.
Heights are in body scales (the median shoulder-to-hip distance), angles in degrees.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.kinematics.angles import joint_angles
from engine.kinematics.skeleton import BodyGeometry


@dataclass(frozen=True)
class Signal:
    value: np.ndarray
    level: np.ndarray
    unit: str
    description: str


def band(value: np.ndarray, on: float, off: float) -> np.ndarray:
    """Where ``value`` lies in the band: 0 at ``off``, 1 at ``on``."""
    return (value - off) / (on - off)


def head_lift(body: BodyGeometry, p: dict[str, float]) -> Signal:
    """The head (ears, else nose) above the body axis: the head off the surface, lying supine."""
    height = body.height_above_axis(body.head)
    return Signal(height, band(height, p["on"], p["off"]), "body scales", "head above body axis")


def straight_leg_lift(body: BodyGeometry, p: dict[str, float]) -> Signal:
    """Either ankle above the body axis with that knee extended, lying supine."""
    angles = joint_angles(body)
    heights, levels = [], []
    for side in ("left", "right"):
        height = body.height_above_axis(body.joint(f"{side}_ankle"))
        knee = band(angles[f"{side}_knee"], p["knee_on"], p["knee_off"])
        heights.append(height)
        levels.append(np.minimum(band(height, p["on"], p["off"]), knee))
    return Signal(
        np.fmax(*heights), np.fmax(*levels), "body scales", "straight leg's ankle above body axis"
    )


def wrists_above_head(body: BodyGeometry, p: dict[str, float]) -> Signal:
    """Both wrists above the highest of the nose and eyes (the lower wrist counts)."""
    face = np.stack([body.joint(n)[:, 1] for n in ("nose", "left_eye", "right_eye")])
    top = np.fmin.reduce(face, axis=0)  # the highest confident one
    wrists = np.stack([body.joint(f"{side}_wrist")[:, 1] for side in ("left", "right")])
    height = (top - wrists.max(axis=0)) / body.scale
    return Signal(height, band(height, p["on"], p["off"]), "body scales", "lower wrist above eyes")


def trunk_upright(body: BodyGeometry, p: dict[str, float]) -> Signal:
    """How upright the trunk is: 90 minus its angle from vertical (0 lying flat, 90 upright)."""
    upright = 90.0 - joint_angles(body)["trunk"]
    return Signal(upright, band(upright, p["on"], p["off"]), "degrees", "trunk uprightness")


def standing(body: BodyGeometry, p: dict[str, float]) -> Signal:
    """Standing upright: trunk near vertical and the less straight confident knee extended."""
    angles = joint_angles(body)
    upright = 90.0 - angles["trunk"]
    knee = np.fmin(angles["left_knee"], angles["right_knee"])
    level = np.minimum(
        band(upright, p["upright_on"], p["upright_off"]), band(knee, p["knee_on"], p["knee_off"])
    )
    return Signal(upright, level, "degrees", "trunk uprightness (with knees extended)")


# name -> (function, the parameters it reads)
SIGNALS: dict[str, tuple[Callable[[BodyGeometry, dict[str, float]], Signal], tuple[str, ...]]] = {
    "head_lift": (head_lift, ("on", "off")),
    "straight_leg_lift": (straight_leg_lift, ("on", "off", "knee_on", "knee_off")),
    "wrists_above_head": (wrists_above_head, ("on", "off")),
    "trunk_upright": (trunk_upright, ("on", "off")),
    "standing": (standing, ("upright_on", "upright_off", "knee_on", "knee_off")),
}

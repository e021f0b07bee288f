"""Per-item measurement definitions: the ``kinematics`` table of a protocol item, checked.

The protocol file names a method and a signal (``engine.kinematics.signals``) and gives their
parameters; this module checks that every parameter the two need is there and nothing else is.

- ``hold``: the longest hold of the signal; ``max_gap_s`` is the longest run of undetected frames
  that does not break a hold.
- ``repetitions``: the number of rises of the signal from off to on.
- both first take a running median over ``smooth_s`` seconds (``engine.kinematics.smoothing``),
  so that a pose glitch of a frame or two neither breaks a hold nor makes one.
- ``time_to_complete``: from the first frame where the hip centre has risen ``onset`` body scales
  above its median height over the first ``baseline_s`` seconds, to the first frame the signal is on.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import ProtocolError
from engine.kinematics.signals import SIGNALS
from engine.protocols import Item, Kinematics

METHOD_PARAMS = {
    "hold": ("max_gap_s", "smooth_s"),
    "repetitions": ("smooth_s",),
    "time_to_complete": ("onset", "baseline_s"),
}


@dataclass(frozen=True)
class Definition:
    """A checked measurement definition of one item."""

    method: str
    signal: str
    params: dict[str, float]


def check(kinematics: Kinematics, where: str) -> Definition:
    """The definition if its signal is known and its parameters are exactly those needed."""
    if kinematics.signal not in SIGNALS:
        known = ", ".join(SIGNALS)
        raise ProtocolError(f"{where}: unknown signal {kinematics.signal!r}; known: {known}.")
    if kinematics.method not in METHOD_PARAMS:
        raise ProtocolError(f"{where}: unknown measurement method {kinematics.method!r}.")
    needed = set(SIGNALS[kinematics.signal][1]) | set(METHOD_PARAMS[kinematics.method])
    given = dict(kinematics.params)
    if missing := sorted(needed - set(given)):
        raise ProtocolError(f"{where}: the kinematics table lacks {', '.join(missing)}.")
    if extra := sorted(set(given) - needed):
        raise ProtocolError(f"{where}: the kinematics table has unused {', '.join(extra)}.")
    return Definition(kinematics.method, kinematics.signal, given)


def definition_for(protocol_id: str, item: Item) -> Definition | None:
    """The item's checked definition, or None when the protocol defines no measurement for it."""
    if item.kinematics is None:
        return None
    return check(item.kinematics, f"{protocol_id}, item {item.id}")

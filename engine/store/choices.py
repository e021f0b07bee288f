"""Subject choices of a recording (who the skeleton follows) and the proposals they make stale.

A choice is a row of ``subject_choices``: ``person`` the tracked person's id from the start (None:
automatic again) and ``handovers`` [(seconds, id)], "from here on the subject is person id". The
latest row is in force. A proposal is stale when it read the subject's body (skeleton, rgb crops
or flow) and followed someone else than the choice now in force; it is kept, flagged, and graded
again on request.
"""

import json
import math
from collections.abc import Iterable
from typing import Any

from engine.errors import InputError

# Modalities whose features depend on who the subject is.
SUBJECT_MODALITIES = ("skeleton", "rgb", "flow")


def checked_handovers(handovers: Iterable[tuple[float, int]]) -> list[list]:
    """[[seconds, id], ...] in time order; InputError for a negative or non-finite time or id."""
    out = []
    for time_s, person in handovers:
        time_s, person = float(time_s), int(person)
        if not math.isfinite(time_s) or time_s < 0 or person < 1:
            raise InputError(
                f"A hand-over needs a time >= 0 s and a person id >= 1, not {time_s:g}:{person}."
            )
        out.append([round(time_s, 3), person])
    return sorted(out)


def decoded(row: dict[str, Any]) -> dict[str, Any]:
    """A ``subject_choices`` row with its hand-overs as [(seconds, id)]."""
    return {**row, "handovers": [(float(t), int(p)) for t, p in json.loads(row["handovers"])]}


def describe(choice: dict[str, Any], named: bool = True) -> str:
    """``person 2, person 1 from 6.0 s (set by ana on 2026-11-27 16:40 UTC)``; without ``named``
    (de-identified exports) ``... (set by a user)``."""
    start = "chosen automatically" if choice["person"] is None else f"person {choice['person']}"
    parts = [start] + [f"person {p} from {t:.1f} s" for t, p in choice["handovers"]]
    if not named:
        return f"{', '.join(parts)} (set by a user)"
    return (
        f"{', '.join(parts)} (set by {choice['chosen_by']} on {utc_minute(choice['created_at'])})"
    )


def utc_minute(stamp: str) -> str:
    """A stored time (ISO, UTC) as ``2026-11-27 16:40 UTC``."""
    return stamp[:16].replace("T", " ") + " UTC"


def follows(followed: dict[str, Any], choice: dict[str, Any] | None) -> bool:
    """Whether a skeleton that followed ``followed`` (a subject's id, chosen_by and hand-overs,
    as ``Subject.to_dict()``) follows the ``choice`` in force (None: never set)."""
    if choice is None:
        return True
    handovers = [(float(h["from_s"]), int(h["id"])) for h in followed.get("handovers") or ()]
    if choice["person"] is None:
        return followed.get("chosen_by", "auto") == "auto" and not handovers
    return followed.get("id") == choice["person"] and handovers == [
        (round(t, 3), p) for t, p in choice["handovers"]
    ]


def stale_reason(proposal: dict[str, Any], choice: dict[str, Any] | None) -> str | None:
    """Why ``proposal`` (a decoded assessment row) no longer follows the subject ``choice`` in
    force, or None when it does (or does not depend on the subject)."""
    if choice is None:
        return None
    details = proposal.get("details") or {}
    if not set(details.get("modalities_used") or ()) & set(SUBJECT_MODALITIES):
        return None
    followed = details.get("subject") or {}
    if follows(followed, choice):
        return None
    was = f"person {followed['id']}" if followed.get("id") is not None else "another person"
    return f"Made for {was}; the subject is now {describe(choice)}: grade it again."

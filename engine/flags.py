"""Review flags of a stored proposal: what a clinician should look at, each with its reason.

One function, ``proposal_flags``, reads an assessment row (see the store) and returns the flags
that the CLI, the session tree, the grade panel and the PDF all show:

- ``disagrees``: the model's grade differs from the grade the measured criterion gives;
- ``uncertain``: the proposal is uncertain (its probability is spread over several grades);
- ``subject``: the subject was chosen automatically among several people, the choice was
  ambiguous, or the subject's track swapped between people;
- ``missing``: a modality the model reads was missing;
- ``damaged``: the video had unreadable packets or corrupt frames;
- ``stale``: the subject of the recording was changed after the proposal was made.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.store import Store

MARK = "⚠"
LABELS = {
    "disagrees": "differs from measurement",
    "uncertain": "uncertain",
    "subject": "subject",
    "missing": "modality missing",
    "damaged": "damaged video",
    "stale": "subject changed",
}


@dataclass(frozen=True)
class Flag:
    kind: str  # disagrees | uncertain | subject | missing | damaged | stale
    text: str  # one sentence with the reason

    @property
    def label(self) -> str:
        """A few words for a narrow column."""
        return LABELS[self.kind]

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def short_text(flags: list[Flag]) -> str:
    """``⚠ uncertain, damaged video`` (each kind once), or "" without flags."""
    return f"{MARK} " + ", ".join(dict.fromkeys(f.label for f in flags)) if flags else ""


def proposal_flags(proposal: dict[str, Any] | None) -> list[Flag]:
    """The review flags of an assessment row (empty for None or a proposal without doubts)."""
    if proposal is None:
        return []
    details = proposal.get("details") or {}
    flags = [Flag("stale", proposal["stale"])] if proposal.get("stale") else []
    if details.get("disagrees_with_measurement"):
        measured = details.get("measurement_text")
        flags.append(
            Flag(
                "disagrees",
                f"The model proposes {proposal['grade']:g} but the measurement gives "
                f"{details['criterion_grade']:g}" + (f" ({measured})." if measured else "."),
            )
        )
    if proposal.get("uncertain"):
        probs = proposal.get("grade_probs") or []
        top = f" (the most likely grade has {max(probs):.0%})" if probs else ""
        flags.append(Flag("uncertain", f"Uncertain proposal: its probability is spread{top}."))
    flags += _subject_flags(details.get("subject"))
    for modality, why in (details.get("modalities_missing") or {}).items():
        flags.append(Flag("missing", f"No {modality}: {why}."))
    damaged = _damage_text(details.get("decode") or {})
    if damaged:
        flags.append(Flag("damaged", damaged))
    return flags


def recording_flags(store: Store, recording_id: int) -> list[Flag]:
    """The flags of a recording's latest proposal."""
    return proposal_flags(store.latest_assessment(recording_id))


def _subject_flags(subject: dict[str, Any] | None) -> list[Flag]:
    if not subject:
        return []
    flags = []
    people = subject.get("people")
    if subject.get("chosen_by") == "auto" and (people or 0) > 1:
        ambiguous = ", and the choice was ambiguous: please confirm it" * bool(
            subject.get("ambiguous")
        )
        flags.append(
            Flag(
                "subject", f"The subject was chosen automatically among {people} people{ambiguous}."
            )
        )
    elif subject.get("ambiguous"):
        flags.append(Flag("subject", "The choice of the subject was ambiguous: please confirm it."))
    swaps = subject.get("swaps") or []
    if swaps:
        times = [_swap_time(s) for s in swaps]
        at = ", ".join(f"{t:.1f} s" for t in times if t is not None)
        flags.append(
            Flag(
                "subject",
                f"The subject's track swapped between people {len(swaps)} time"
                f"{'s' * (len(swaps) != 1)}" + (f" (at {at})." if at else "."),
            )
        )
    return flags


def _swap_time(swap: Any) -> float | None:
    """The time in seconds of a swap given as a number or a dict with a time."""
    if isinstance(swap, int | float):
        return float(swap)
    if isinstance(swap, dict):
        for key in ("time_s", "time", "t"):
            if isinstance(swap.get(key), int | float):
                return float(swap[key])
    return None


def _damage_text(decode: dict[str, Any]) -> str:
    bad, corrupt = decode.get("bad_packets") or 0, decode.get("corrupt_frames") or 0
    if not (bad or corrupt):
        return ""
    parts = [f"{bad} unreadable packets skipped"] * bool(bad)
    parts += [f"{corrupt} corrupt frames"] * bool(corrupt)
    return f"Damaged video: {' and '.join(parts)}; the result may miss those moments."

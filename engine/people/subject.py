"""Which person is the subject: ranked automatically over the whole clip, or chosen by the user
(an id, or a point at a time), possibly handed over to another person part-way ("from here on
the patient is person 2"); likely identity swaps of the subject's track are found here too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import numpy as np

from engine.errors import InputError
from engine.people.people import People, holds

# Weights of the ranking criteria (each scaled to 0..1 among the clip's people).
WEIGHTS = {"coverage": 0.35, "size": 0.25, "motion": 0.15, "centrality": 0.1, "confidence": 0.15}
AMBIGUOUS_MARGIN = 0.05
SWAP_JUMP = 0.6  # a move of more than this many body radii between two sampled frames
WORDS = {
    "coverage": "in view for more of the clip",
    "size": "larger in the frame",
    "motion": "moves more",
    "centrality": "nearer the centre of the frame",
    "confidence": "detected more confidently",
}
POINT = re.compile(r"^\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*(?:@\s*([\d.]+)\s*)?$")


@dataclass(frozen=True)
class Subject:
    """The subject: person ``id`` from the start, then ``handovers`` [(time_s, id)] in time
    order; ``chosen_by`` "auto" or "user"; ``ambiguous`` when two candidates ranked close;
    ``reason`` one sentence; ``swaps`` times (s) of likely identity swaps in the subject track;
    ``scores`` each person's ranking score, best first."""

    id: int | None
    chosen_by: str
    ambiguous: bool
    reason: str
    swaps: tuple[float, ...] = ()
    handovers: tuple[tuple[float, int], ...] = ()
    scores: dict[int, float] = field(default_factory=dict)

    @property
    def needs_review(self) -> bool:
        """A proposal on this subject is flagged for review: chosen automatically between close
        candidates, or with possible identity swaps the user has not settled."""
        return self.ambiguous or (bool(self.swaps) and self.chosen_by == "auto")

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "chosen_by": self.chosen_by,
            "ambiguous": self.ambiguous,
            "reason": self.reason,
            "swaps": list(self.swaps),
            "needs_review": self.needs_review,
            "handovers": [{"from_s": t, "id": p} for t, p in self.handovers],
            "ranking": [{"id": p, "score": v} for p, v in self.scores.items()],
        }

    def person_per_frame(self, people: People) -> np.ndarray:
        """[frames] the subject's person id on each sampled frame (0: nobody)."""
        ids = np.full(len(people.times), self.id or 0, np.int64)
        for time_s, person in self.handovers:
            ids[people.times >= time_s - 1e-6] = person
        return ids


def criteria(people: People) -> dict[str, np.ndarray]:
    """Each ranking criterion per person, scaled to 0..1 (1 = most subject-like)."""
    seen = people.present
    radius = (people.boxes[..., 2] - people.boxes[..., 0]) / 2
    centres = (people.boxes[..., :2] + people.boxes[..., 2:]) / 2
    w, h = people.image_size
    half_diagonal = max(np.hypot(w, h) / 2, 1.0)
    rows = [np.flatnonzero(seen[:, k]) for k in range(len(people.ids))]
    span = np.array([(r[-1] - r[0] + 1) / max(len(seen), 1) for r in rows])
    # Detections miss people now and then: the span from first to last sighting counts as much.
    raw = {"coverage": (seen.mean(axis=0) + span) / 2}
    raw["size"] = np.array([np.nanmedian(radius[seen[:, k], k]) for k in range(len(people.ids))])
    raw["motion"] = np.array(
        [
            np.nanstd(centres[seen[:, k], k], axis=0).sum() / max(raw["size"][k], 1.0)
            for k in range(len(people.ids))
        ]
    )
    offset = np.linalg.norm(centres - np.array([w / 2, h / 2]), axis=-1) / half_diagonal
    raw["centrality"] = np.array(
        [1.0 - np.nanmean(offset[seen[:, k], k]) for k in range(len(people.ids))]
    )
    scores = np.where(people.scores > 0, people.scores, np.nan)
    raw["confidence"] = np.nan_to_num(np.nanmean(scores, axis=0)) if len(scores) else np.zeros(0)
    return {name: values / max(float(values.max()), 1e-9) for name, values in raw.items()}


def rank(people: People) -> list[tuple[int, float]]:
    """(id, score) best first."""
    if not people.ids:
        return []
    scaled = criteria(people)
    total = sum(WEIGHTS[name] * scaled[name] for name in WEIGHTS)
    order = np.argsort(-total, kind="stable")
    return [(people.ids[k], round(float(total[k]), 4)) for k in order]


def choose_subject(people: People, person: str | None = None) -> Subject:
    """The subject: ``person`` is None/"auto", an id ("2") or a point "X,Y[@SECONDS]" in upright
    video pixels. InputError (one sentence) for an unknown id or a point that hits nobody."""
    ranking = rank(people)
    scores = dict(ranking)
    if person is not None and person.strip().lower() != "auto":
        chosen, how = resolve_person(people, person)
        subject = Subject(chosen, "user", False, how, scores=scores)
    elif not ranking:
        return Subject(None, "auto", False, "no person found")
    elif len(ranking) == 1:
        subject = Subject(ranking[0][0], "auto", False, "the only person in the video")
        subject = replace(subject, scores=scores)
    else:
        subject = _auto(people, ranking)
    return replace(subject, swaps=find_swaps(people, subject))


def _auto(people: People, ranking: list[tuple[int, float]]) -> Subject:
    (best, best_score), (second, second_score) = ranking[:2]
    scaled = criteria(people)
    b, s = people.column(best), people.column(second)
    gains = {name: WEIGHTS[name] * (scaled[name][b] - scaled[name][s]) for name in WEIGHTS}
    rule = max(gains, key=gains.get)
    ambiguous = best_score - second_score < AMBIGUOUS_MARGIN
    reason = (
        f"person {best} chosen automatically among {len(ranking)} people: {WORDS[rule]} than "
        f"person {second} (score {best_score:.2f} vs {second_score:.2f})"
        + ("; the choice is ambiguous, please confirm" if ambiguous else "")
    )
    return Subject(best, "auto", ambiguous, reason, scores=dict(ranking))


def check_person_text(text: str | None) -> None:
    """InputError unless ``text`` is "auto", an id or a point (checked before any slow work)."""
    if text is None or text.strip().lower() == "auto" or text.strip().isdigit():
        return
    if not POINT.match(text):
        raise InputError(
            f"--person takes auto, an id (e.g. 2) or a point X,Y or X,Y@SECONDS, not {text!r}."
        )


def resolve_person(people: People, text: str) -> tuple[int, str]:
    """An id or a point "X,Y[@SECONDS]" -> (person id, how it was chosen)."""
    text = text.strip()
    if text.isdigit():
        person = int(text)
        if person not in people.ids:
            known = ", ".join(str(p) for p in people.ids) or "none"
            raise InputError(f"There is no person {person} in this video (people: {known}).")
        return person, f"person {person} chosen by the user"
    check_person_text(text)
    match = POINT.match(text)
    x, y = float(match[1]), float(match[2])
    time_s = float(match[3]) if match[3] else None
    hit = person_at(people, x, y, time_s)
    when = f" at {time_s:g} s" if time_s is not None else ""
    return hit, f"person {hit} chosen by the user (point {x:g},{y:g}{when})"


def person_at(people: People, x: float, y: float, time_s: float | None = None) -> int:
    """The person whose box holds the point at ``time_s`` (the smallest such box), or over the
    whole clip when no time is given (the person holding it on most frames)."""
    boxes = people.boxes
    inside = holds(boxes, x, y)
    if time_s is not None:
        row = people.row_at(time_s)
        hits = np.flatnonzero(inside[row])
        if hits.size:
            areas = (boxes[row, hits, 2] - boxes[row, hits, 0]) ** 2
            return people.ids[int(hits[np.argmin(areas)])]
        listed = _listing(people.boxes_at(people.times[row]))
        raise InputError(
            f"Nobody is at {x:g},{y:g} at {people.times[row]:.2f} s "
            f"({listed or 'nobody is in the frame then'})."
        )
    counts = inside.sum(axis=0)
    if counts.size == 0 or counts.max() == 0:
        listed = _listing(people.summary())
        raise InputError(f"Nobody is ever at {x:g},{y:g} ({listed or 'nobody was found'}).")
    return people.ids[int(np.argmax(counts))]


def _listing(people: list[dict]) -> str:
    """``person 1 [x0, y0, x1, y1]; person 2 [...]`` for a one-sentence message."""
    return "; ".join(
        f"person {p['id']} [{', '.join(f'{v:.0f}' for v in p['box'])}]" for p in people
    )


def parse_handover(text: str) -> tuple[float, int]:
    """``SECONDS:ID`` (from the ``--from`` option) -> (seconds, id); InputError otherwise."""
    match = re.match(r"^\s*([\d.]+)\s*:\s*(\d+)\s*$", text)
    if not match:
        raise InputError(f"--from takes SECONDS:ID (e.g. 5.2:2), not {text!r}.")
    return float(match[1]), int(match[2])


def hand_over(subject: Subject, people: People, time_s: float, person: int) -> Subject:
    """The subject is ``person`` from ``time_s`` on (a user's fix of an identity swap)."""
    if person not in people.ids:
        raise InputError(f"There is no person {person} in this video.")
    kept = tuple((t, p) for t, p in subject.handovers if t < time_s)
    changed = replace(
        subject,
        chosen_by="user",
        ambiguous=False,
        handovers=(*kept, (round(float(time_s), 3), person)),
        reason=f"{subject.reason}; person {person} from {time_s:g} s on, set by the user",
    )
    return replace(changed, swaps=find_swaps(people, changed))


def find_swaps(people: People, subject: Subject) -> tuple[float, ...]:
    """Times where the subject's track jumps and another person's track explains the jump
    better: someone else was last seen (since the subject's previous sighting) nearer where the
    subject is now than half the jump."""
    if subject.id is None:
        return ()
    ids = subject.person_per_frame(people)
    centres = (people.boxes[..., :2] + people.boxes[..., 2:]) / 2
    radius = (people.boxes[..., 2] - people.boxes[..., 0]) / 2
    swaps = []
    last = None  # (row, column) of the subject's previous observation
    for row, person in enumerate(ids):
        k = people.column(int(person)) if person in people.ids else None
        if k is None or not people.present[row, k]:
            continue
        if last is not None and last[1] == k:
            prev_row = last[0]
            jump = np.linalg.norm(centres[row, k] - centres[prev_row, k])
            if jump > SWAP_JUMP * radius[row, k]:
                # Where each other person was last seen since the subject's previous sighting.
                near = []
                for j in range(len(people.ids)):
                    seen = np.flatnonzero(people.present[prev_row:row, j])
                    if j != k and seen.size:
                        near.append(
                            np.linalg.norm(centres[row, k] - centres[prev_row + seen[-1], j])
                        )
                if near and min(near) < 0.5 * jump:
                    swaps.append(round(float(people.times[row]), 3))
        last = (row, k)
    return tuple(swaps)


def proposal_details(people: list[dict], subject: dict) -> dict:
    """What a proposal keeps of the subject choice (``details["subject"]``) from the people layer's
    ``to_dict()`` fields: id, chosen_by, ambiguous, people (how many), swaps, reason,
    needs_review and handovers."""
    keys = ("id", "chosen_by", "ambiguous", "swaps", "reason", "needs_review", "handovers")
    return {**{k: subject[k] for k in keys}, "people": len(people)}


def describe(details: dict) -> list[str]:
    """The CLI's lines on a subject choice (``proposal_details``): ``subject: person 1 chosen
    automatically among 2 people (rule: larger in the frame than person 2 ...)``, then the
    possible swaps and a request to review when it needs one."""
    reason = details["reason"]
    head, _, rule = reason.partition(": ")
    if details["chosen_by"] == "auto" and rule:
        line = f"{head} (rule: {rule})"
    elif details["id"] is not None and not reason.startswith("person"):
        line = f"person {details['id']}, {reason}"
    else:
        line = reason
    lines = [f"subject: {line}"]
    if details["swaps"]:
        times = ", ".join(f"{t:.2f} s" for t in details["swaps"])
        lines.append(f"possible identity swaps at {times}")
    if details["needs_review"]:
        lines.append("please review the subject: choose with --person, fix a swap with --from")
    return lines

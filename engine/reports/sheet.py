"""The content of a session report: per item the clinician grade and the model's proposal."""

from dataclasses import asdict, dataclass, field
from typing import Any

from engine.flags import proposal_flags
from engine.protocols import get_protocol
from engine.recordings import check_session
from engine.reports.signatures import record_block
from engine.store import Store
from engine.store.choices import describe as describe_choice

DEMO_NOTE = "demo model, trained on synthetic data — not for clinical use"


@dataclass
class ItemRow:
    item: str
    name: str
    range: str
    recordings: list[int]
    grade: float | None  # the clinician's current grade
    rater: str | None
    proposal_grade: float | None = None
    expected_score: float | None = None
    grade_probs: list[float] = field(default_factory=list)
    grades: list[float] = field(default_factory=list)
    uncertain: bool = False
    model_id: str | None = None
    demo: bool = False
    measurement: str = ""
    person: str = ""  # who the proposal's skeleton followed, and who chose them
    flags: list[dict[str, str]] = field(default_factory=list)  # engine.flags.Flag.to_dict()


@dataclass
class SessionReport:
    subject: str
    session_id: int
    date: str
    protocol: str
    protocol_name: str
    examiner: str | None
    items: list[ItemRow]
    total: float | None
    max_total: float | None
    completeness: str
    models: list[str]
    demo_models: bool
    record: dict[str, Any] = field(default_factory=dict)  # engine.reports.signatures

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def session_report(
    store: Store, session_id: int, check_files: bool = True, named: bool = True
) -> SessionReport:
    """Gather the report of ``session_id``: the latest rating and proposal of every item.

    ``check_files`` refuses a session whose videos changed since they were added; without
    ``named`` (de-identified exports) no user's name or date is in the subject's text."""
    summary = store.session_summary(session_id)
    if check_files:
        check_session(store, session_id, allow_missing=True)
    protocol = get_protocol(summary["protocol"])
    recordings = store.recordings(session_id)
    rows = []
    for entry in summary["items"]:
        item = protocol.item(entry["item"])
        recs = [r["id"] for r in recordings if r["item"] == item.id]
        row = ItemRow(
            item=item.id,
            name=item.name,
            range=item.range_text(),
            recordings=recs,
            grade=entry["grade"],
            rater=entry["rater"],
        )
        proposals = [a for r in recs if (a := store.latest_assessment(r))]
        if proposals:
            latest = max(proposals, key=lambda a: a["id"])
            details = latest["details"]
            row.proposal_grade = latest["grade"]
            row.expected_score = latest["expected_score"]
            row.grade_probs = latest["grade_probs"]
            row.grades = details.get("grades", item.grades)
            row.uncertain = bool(latest["uncertain"])
            row.model_id = latest["model_id"]
            row.demo = bool(details.get("demo"))
            row.measurement = details.get("measurement_text", "")
            row.flags = [f.to_dict() for f in proposal_flags(latest)]
            row.person = _person(
                details.get("subject"),
                store.subject_choice(latest["recording_id"]),
                latest["stale"],
                named,
            )
        rows.append(row)
    models = sorted({r.model_id for r in rows if r.model_id})
    session = summary["session"]
    return SessionReport(
        subject=summary["subject"],
        session_id=session_id,
        date=session["date"],
        protocol=protocol.id,
        protocol_name=protocol.name,
        examiner=session["examiner"],
        items=rows,
        total=summary["total"],
        max_total=summary["max_total"],
        completeness=summary["completeness"],
        models=models,
        demo_models=any(r.demo for r in rows),
        record=record_block(store, session_id),
    )


def _person(followed: dict | None, choice: dict | None, stale: str | None, named: bool) -> str:
    """Whom the proposal and its measurement followed: the choice in force when they follow it
    (``person 2 (set by ana on 2026-11-27 10:02)``), else the subject they followed (``person 1,
    chosen automatically among 2 people``; a stale proposal's flag names the subject now); ""
    when no people were tracked."""
    if choice is not None and stale is None:
        return describe_choice(choice, named)
    if not followed or followed.get("id") is None:
        return ""
    if followed.get("chosen_by") == "user":
        return f"person {followed['id']}, chosen by the user"
    people = followed.get("people") or 1
    how = f", chosen automatically among {people} people" if people > 1 else ""
    return f"person {followed['id']}{how}"

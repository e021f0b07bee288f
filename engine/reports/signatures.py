"""The record block of the report: who examined, who graded each item (when, why), the subject's
age and sex when known, and each signature — or "unsigned". A voided signature stays, marked VOID
with who voided it, when and why."""

from typing import Any

from engine.store import Store
from engine.store.choices import utc_minute


def record_block(store: Store, session_id: int) -> dict[str, Any]:
    """The facts the block shows (a plain dict: it travels in ``SessionReport.record``)."""
    session = store.session(session_id)
    subject = store.db["subjects"].get(session["subject_id"])
    names = {u["name"]: u["full_name"] for u in store.users()}
    grades = {}
    for row in store.db.query(
        "select r.item, g.grade, g.rater, g.reason, g.created_at from ratings g "
        "join recordings r on r.id = g.recording_id where r.session_id = ? order by g.id",
        [session_id],
    ):
        grades[row["item"]] = {
            "grade": row["grade"],
            "rater": names.get(row["rater"], row["rater"]),
            "at": row["created_at"],
            "reason": row["reason"] or "",
        }
    age = None
    if subject["birth_year"]:
        age = int(session["date"][:4]) - subject["birth_year"]
    return {
        "examiner": session["examiner"],
        "age": age,
        "sex": subject["sex"],
        "grades": grades,
        "signatures": store.signatures(session_id),
    }


def block_lines(record: dict[str, Any]) -> list[tuple[str, bool, str]]:
    """(text, bold, colour) lines of the block, in reading order."""
    facts = [f"Examiner: {record.get('examiner') or 'not recorded'}"]
    if record.get("age") is not None:
        facts.append(f"age {record['age']} at the exam")
    if record.get("sex"):
        facts.append(f"sex {record['sex']}")
    lines = [("   ·   ".join(facts), False, "#000000")]
    for item, g in record.get("grades", {}).items():
        why = f" — {g['reason']}" if g["reason"] else ""
        lines.append(
            (
                f"{item}: {g['grade']:g} by {g['rater']}, {utc_minute(g['at'])}{why}",
                False,
                "#333333",
            )
        )
    signatures = record.get("signatures", [])
    if not signatures:
        lines.append(("UNSIGNED: no one has signed this session.", True, "#b71c1c"))
    for sig in signatures:
        line = (
            f"Signed ({sig['meaning']}) by {sig['printed_name']}, {utc_minute(sig['signed_at'])}; "
            f"content SHA-256 {sig['content_sha256'][:16]}…"
        )
        if sig["voided_at"]:
            lines.append(
                (
                    f"VOID — {line} Voided by {sig['voided_by']}, {utc_minute(sig['voided_at'])}: "
                    f"{sig['void_reason']}",
                    True,
                    "#b71c1c",
                )
            )
        else:
            lines.append((line, True, "#1b5e20"))
    return lines


def draw_record_block(report, text, x: float, y: float, width: float, bottom: float, new_page):
    """Draw ``block_lines(report.record)`` from ``y`` with the PDF's ``text`` helper; returns the
    new ``y``. ``new_page()`` starts a page and returns its top."""
    for line, bold, colour in block_lines(report.record):
        height = 14 * (1 + len(line) // 110)
        if y + height > bottom:
            y = new_page()
        text(x, y, width, height, line, 8, bold, colour)
        y += height + 2
    return y + 8

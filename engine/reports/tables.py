"""CSV output of session reports."""

import csv
from pathlib import Path

from engine.atomic import atomic_file
from engine.flags import LABELS
from engine.reports.sheet import SessionReport

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
COLUMNS = [
    "subject",
    "session",
    "date",
    "protocol",
    "item",
    "range",
    "clinician_grade",
    "rater",
    "model_grade",
    "expected_score",
    "uncertain",
    "model",
    "demo_model",
    "measurement",
    "subject_person",
    "flags",
]


def report_rows(report: SessionReport) -> list[dict]:
    return [
        {
            "subject": report.subject,
            "session": report.session_id,
            "date": report.date,
            "protocol": report.protocol,
            "item": row.item,
            "range": row.range,
            "clinician_grade": "" if row.grade is None else f"{row.grade:g}",
            "rater": row.rater or "",
            "model_grade": "" if row.proposal_grade is None else f"{row.proposal_grade:g}",
            "expected_score": "" if row.expected_score is None else f"{row.expected_score:.3f}",
            "uncertain": int(row.uncertain),
            "model": row.model_id or "",
            "demo_model": int(row.demo),
            "measurement": row.measurement,
            "subject_person": row.person,
            "flags": ", ".join(dict.fromkeys(LABELS[f["kind"]] for f in row.flags)),
        }
        for row in report.items
    ]


def write_csv(rows: list[dict], path: Path, columns: list[str] = COLUMNS) -> Path:
    """Write ``rows`` atomically, every cell neutralised against formula injection."""
    with atomic_file(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows({k: safe_cell(v) for k, v in row.items()} for row in rows)
    return Path(path)


def safe_cell(value):
    """A text cell a spreadsheet would run as a formula gets a leading ``'`` (OWASP rule).

    Cells starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return are prefixed; numbers
    (a negative number is data, not a formula) are left alone.
    """
    if not isinstance(value, str) or not value.startswith(FORMULA_START):
        return value
    try:
        float(value)
        return value
    except ValueError:
        return "'" + value

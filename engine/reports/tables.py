"""CSV output of session reports."""

import csv
import os
from pathlib import Path

from engine.errors import InputError
from engine.reports.sheet import SessionReport

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
        }
        for row in report.items
    ]


def write_csv(rows: list[dict], path: Path, columns: list[str] = COLUMNS) -> Path:
    """Write ``rows`` atomically (a temporary file renamed into place)."""
    path = Path(path)
    part = path.with_name(path.name + ".part")
    try:
        with open(part, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(part, path)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise InputError(f"{path} cannot be written ({exc.strerror}).") from exc
    return path

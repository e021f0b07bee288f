"""De-identified export: every session with subject codes, dates shifted per subject, no paths.

Each subject's dates move by one random whole number of days (the same for all of that subject's
sessions, so intervals between visits stay true); the offsets are drawn fresh for every export
and never written, so the real dates cannot be read back from an export.
"""

import json
import secrets
from datetime import date, timedelta
from pathlib import Path

from engine.atomic import write_text
from engine.errors import InputError
from engine.reports.sheet import session_report
from engine.reports.tables import COLUMNS, report_rows, write_csv
from engine.store import Store

MAX_SHIFT_DAYS = 365


def export_deidentified(store: Store, folder: Path) -> dict:
    """Write ``sessions.csv`` and ``sessions.json`` into ``folder``; returns what was written."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"The folder {folder} cannot be created ({exc.strerror}).") from exc
    shifts: dict[str, int] = {}
    sessions, rows = [], []
    for subject in store.subjects():
        shifts[subject["code"]] = secrets.randbelow(2 * MAX_SHIFT_DAYS + 1) - MAX_SHIFT_DAYS
        for session in store.sessions(subject["code"]):
            report = session_report(store, session["id"], check_files=False)
            report.date = str(date.fromisoformat(report.date) + timedelta(shifts[subject["code"]]))
            report.examiner = None
            report.record = {}  # names, times and signatures stay out of an export
            for item in report.items:
                item.rater = None
                item.recordings = []
            sessions.append(report.to_dict())
            rows += report_rows(report)
    columns = [c for c in COLUMNS if c != "rater"]
    for row in rows:
        row.pop("rater")
    csv_path = write_csv(rows, folder / "sessions.csv", columns)
    json_path = write_text(
        folder / "sessions.json", json.dumps(sessions, indent=2, ensure_ascii=False)
    )
    return {"sessions": len(sessions), "subjects": len(shifts), "csv": csv_path, "json": json_path}

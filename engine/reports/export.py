"""De-identified export for research: pseudonyms, shifted dates, no database ids, no free text.

Every export draws, per subject, a new random pseudonym (``S-`` and 8 hex digits) and a random
whole number of days between 1 and ``MAX_SHIFT_DAYS``, with a random sign (never 0), by which all
of that subject's dates move, so intervals between visits stay true. A date that would leave
1900-01-01..9999-12-31 is clamped to that end (the export says how many were). The link from
pseudonym to subject code is written only when asked, to a key file outside the export folder.
Ages at the exam replace birth years (90 and over as "90+"); sessions are numbered per subject
(visit 1, 2, ...) instead of carrying database ids; examiners, raters and signatures are left
out, a subject chosen by hand is "set by a user" (no name, no date) and the review flags are
their kinds (their sentences name users and dates); free text (session notes, rating reasons)
only with ``free_text``.

Written files (each via a temporary file and a rename):
- ``sessions.csv`` / ``sessions.json``: one row per item and visit / one object per visit;
- ``redcap_cmas.csv`` + ``redcap_cmas_dictionary.csv``: a REDCap import file for a CMAS
  instrument (``record_id``, ``redcap_event_name``, one field per item, the total,
  ``cmas_complete``) and its data dictionary;
- ``fhir_cmas.json``: a FHIR R4 ``Bundle`` (collection) with the CMAS ``Questionnaire`` written for
  AQA Studio (none is published) and one ``QuestionnaireResponse`` per CMAS visit.
"""

import json
import secrets
from datetime import date
from pathlib import Path
from typing import Any

from engine.atomic import write_text
from engine.errors import InputError
from engine.protocols import get_protocol
from engine.reports import fhir, redcap, tables
from engine.reports.sheet import session_report
from engine.reports.tables import report_rows, write_csv
from engine.store import Store

MAX_SHIFT_DAYS = 365
EARLIEST, LATEST = date(1900, 1, 1), date(9999, 12, 31)
COLUMNS = ["subject", "visit", "date", "age", "sex"] + [
    c for c in tables.COLUMNS if c not in ("subject", "session", "date", "rater")
]


def shift_days() -> int:
    """A random non-zero shift: 1..MAX_SHIFT_DAYS days, earlier or later."""
    return (1 + secrets.randbelow(MAX_SHIFT_DAYS)) * (1 if secrets.randbelow(2) else -1)


def shifted(day: str, days: int) -> tuple[str, bool]:
    """``day`` moved by ``days`` and whether it had to be clamped (an unreadable date is "")."""
    try:
        real = date.fromisoformat(day)
    except (TypeError, ValueError):
        return "", True
    ordinal = real.toordinal() + days
    clamped = not EARLIEST.toordinal() <= ordinal <= LATEST.toordinal()
    ordinal = min(max(ordinal, EARLIEST.toordinal()), LATEST.toordinal())
    return date.fromordinal(ordinal).isoformat(), clamped


def export_deidentified(
    store: Store, folder: Path, key_file: Path | None = None, free_text: bool = False
) -> dict[str, Any]:
    """Write the export into ``folder``; returns counts and the files written."""
    folder = Path(folder)
    if key_file is not None and Path(key_file).resolve().is_relative_to(folder.resolve()):
        raise InputError("The key file must be written outside the export folder.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"The folder {folder} cannot be created ({exc.strerror}).") from exc
    visits, rows, keys, clamped = [], [], {}, 0
    for subject in store.subjects():
        pseudonym = f"S-{secrets.token_hex(4)}"
        keys[pseudonym] = subject["code"]
        days = shift_days()
        for number, session in enumerate(store.sessions(subject["code"]), start=1):
            visit, visit_rows, moved = _visit(store, session, subject, pseudonym, number, days)
            visit["notes"] = session["notes"] if free_text else None
            if free_text:
                visit["reasons"] = _reasons(store, session["id"])
            clamped += moved
            visits.append(visit)
            rows += visit_rows
    files = {
        "csv": write_csv(rows, folder / "sessions.csv", COLUMNS),
        "json": write_text(
            folder / "sessions.json", json.dumps(visits, indent=2, ensure_ascii=False)
        ),
    }
    cmas = [v for v in visits if v["protocol"] == "cmas"]
    if cmas:
        protocol = get_protocol("cmas")
        files["redcap"] = write_csv(
            redcap.records(cmas, protocol), folder / "redcap_cmas.csv", redcap.fields(protocol)
        )
        files["redcap_dictionary"] = write_csv(
            redcap.dictionary(protocol),
            folder / "redcap_cmas_dictionary.csv",
            redcap.DICTIONARY_COLUMNS,
        )
        files["fhir"] = write_text(
            folder / "fhir_cmas.json",
            json.dumps(fhir.bundle(cmas, protocol), indent=2, ensure_ascii=False),
        )
    if key_file is not None:
        lines = ["pseudonym,subject_code"] + [f"{p},{c}" for p, c in keys.items()]
        files["key"] = write_text(Path(key_file), "\n".join(lines) + "\n")
    return {"sessions": len(visits), "subjects": len(keys), "clamped": clamped, "files": files}


def _visit(store, session, subject, pseudonym: str, number: int, days: int):
    report = session_report(store, session["id"], check_files=False, named=False)
    day, moved = shifted(report.date, days)
    age = None
    if subject["birth_year"] and report.date[:4].isdigit():
        years = int(report.date[:4]) - subject["birth_year"]
        age = "90+" if years >= 90 else years
    common = {"subject": pseudonym, "visit": number, "date": day, "age": age}
    visit = {
        **common,
        "sex": subject["sex"],
        "protocol": report.protocol,
        "total": report.total,
        "max_total": report.max_total,
        "items": [
            {
                "item": r.item,
                "grade": r.grade,
                "model_grade": r.proposal_grade,
                "expected_score": r.expected_score,
                "uncertain": r.uncertain,
                "model": r.model_id,
                "demo_model": r.demo,
                "measurement": r.measurement,
                "subject_person": r.person,
                "flags": [f["kind"] for f in r.flags],  # their sentences name users and dates
            }
            for r in report.items
        ],
    }
    dropped = ("session", "rater")  # a database id and a name
    rows = [
        {
            **{k: v for k, v in row.items() if k not in dropped},
            **common,
            "sex": subject["sex"] or "",
        }
        for row in report_rows(report)
    ]
    return visit, rows, int(moved)


def _reasons(store: Store, session_id: int) -> dict[str, str]:
    """The reason given with each item's current grade (free text: only when asked)."""
    return {
        item: g["reason"]
        for item, g in session_report(store, session_id, check_files=False).record["grades"].items()
        if g["reason"]
    }

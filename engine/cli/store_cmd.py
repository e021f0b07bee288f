"""``aqa db|subject|session|recording|rate``: the clinical record."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from engine.cli.output import print_json, print_table
from engine.errors import StoreError
from engine.flags import MARK

if TYPE_CHECKING:
    from engine.store import Store


def register(sub) -> None:
    db = sub.add_parser("db", help="create, inspect, check or back up the database")
    db_sub = db.add_subparsers(dest="action", metavar="ACTION", required=True)
    db_sub.add_parser("init", help="create the database (and migrate an old one)")
    info = db_sub.add_parser("info", help="where the database is and what it holds")
    info.add_argument("--json", action="store_true", help="print JSON")
    db_sub.add_parser("check", help="SQLite integrity and foreign-key check, then `db verify`")
    db_sub.add_parser(
        "verify", help="walk the audit chain and compare every recorded row with its history"
    )
    bk = db_sub.add_parser("backup", help="copy the live database with SQLite's backup API")
    bk.add_argument("path", type=Path, help="the backup file to write")
    db.set_defaults(func=run_db)

    subject = sub.add_parser("subject", help="pseudonymous subjects")
    subject_sub = subject.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = subject_sub.add_parser("add", help="add a subject by pseudonymous code")
    add.add_argument("code", help="pseudonymous code, e.g. JDM-001 (no names)")
    add.add_argument("--birth-year", type=int, help="year of birth, e.g. 2014")
    add.add_argument("--sex", help="as recorded, e.g. F or M")
    add.add_argument("--notes", help="free text (no identifying details)")
    ls = subject_sub.add_parser("list", help="all subjects")
    ls.add_argument("--json", action="store_true", help="print JSON")
    subject.set_defaults(func=run_subject)

    session = sub.add_parser("session", help="exam sessions")
    session_sub = session.add_subparsers(dest="action", metavar="ACTION", required=True)
    new = session_sub.add_parser("new", help="start a session for a subject")
    new.add_argument("--subject", required=True, help="subject code")
    new.add_argument("--protocol", required=True, help="protocol id, e.g. cmas")
    new.add_argument("--date", help="YYYY-MM-DD (default: today)")
    new.add_argument("--examiner", help="the examiner's name")
    new.add_argument("--notes", help="exam notes (also read by the text modality)")
    sls = session_sub.add_parser("list", help="all sessions (or one subject's)")
    sls.add_argument("--subject", help="only this subject's sessions")
    sls.add_argument("--json", action="store_true", help="print JSON")
    show = session_sub.add_parser("show", help="per-item grades, proposals, flags and total")
    show.add_argument("id", type=int, help="session id (see `aqa session list`)")
    show.add_argument("--json", action="store_true", help="print JSON")
    session.set_defaults(func=run_session)

    recording = sub.add_parser("recording", help="videos of a session")
    rec_sub = recording.add_subparsers(dest="action", metavar="ACTION", required=True)
    radd = rec_sub.add_parser(
        "add", help="attach a video to a session item (the item's recording of it if there is one)"
    )
    radd.add_argument("session", type=int, help="session id")
    radd.add_argument("video", type=Path, help="video file")
    radd.add_argument("--item", required=True, help="protocol item id, e.g. head_elevation")
    radd.add_argument("--view", help="camera view, e.g. side")
    rls = rec_sub.add_parser("list", help="recordings with their status and flags")
    rls.add_argument("--session", type=int, help="only this session's recordings")
    rls.add_argument("--json", action="store_true", help="print JSON")
    relink = rec_sub.add_parser("relink", help="point a recording at its moved video (same hash)")
    relink.add_argument("id", type=int, help="recording id (see `aqa recording list`)")
    relink.add_argument("video", type=Path, help="where the video is now")
    recording.set_defaults(func=run_recording)

    rate = sub.add_parser("rate", help="record a clinician grade for a recording")
    rate.add_argument("recording", type=int, help="recording id (see `aqa recording list`)")
    rate.add_argument("grade", type=float, help="the grade, within the item's range")
    rate.add_argument("--reason", help="why, e.g. when correcting an earlier grade")
    rate.set_defaults(func=run_rate)


def run_db(args) -> int:
    from engine.store import Store

    try:
        store = Store()
    except StoreError as exc:
        if args.action != "check":
            raise
        return report_unopenable(exc)
    with store:
        if args.action == "init":
            print(f"database ready: {store.path}")
        elif args.action == "info":
            info = store.info()
            if args.json:
                print_json(info)
            else:
                print(f"database: {info['path']}")
                print(f"schema version: {info['schema_version']}, journal: {info['journal_mode']}")
                for table, count in info["counts"].items():
                    print(f"  {table}: {count}")
        elif args.action in ("check", "verify"):
            return report_problems(store, args.action)
        elif args.action == "backup":
            print(f"backup written: {store.backup(args.path)}")
    return 0


def report_unopenable(exc: StoreError) -> int:
    """``db check`` of a database too damaged to open: what SQLite itself finds."""
    from engine.paths import database_path
    from engine.store.db import check_file

    for p in check_file(database_path()) or [str(exc)]:
        print(f"problem: {p}")
    print(f"{database_path()} FAILED the check; restore a backup")
    return 3


def report_problems(store: Store, action: str) -> int:
    """Print what ``db check`` / ``db verify`` found (the first break first); 3 when any."""
    problems = store.check() if action == "check" else store.verify()
    for p in problems:
        print(f"problem: {p}")
    if problems:
        print(
            f"{store.path} FAILED the {action} ({len(problems)} problem(s), the first listed first)"
        )
        return 3
    rows, head = store.audit_head()
    what = "integrity, foreign-key and audit checks" if action == "check" else "audit verification"
    print(f"ok: {store.path} passed the {what} ({rows} audit rows, head {head})")
    return 0


def run_subject(args) -> int:
    from engine.store import Store

    with Store() as store:
        if args.action == "add":
            row = store.add_subject(args.code, args.birth_year, args.sex, args.notes)
            print(f"subject {row['code']} added (id {row['id']})")
            for other in store.lookalikes(row["code"]):
                print(
                    f"warning: {row['code']!r} looks like the existing subject {other!r}; "
                    "check that it is not the same child",
                    file=sys.stderr,
                )
        else:
            rows = store.subjects()
            if args.json:
                print_json(rows)
            else:
                print_table(rows, ["id", "code", "birth_year", "sex"])
    return 0


def run_session(args) -> int:
    from engine.reports.sheet import session_report
    from engine.store import Store

    with Store() as store:
        if args.action == "new":
            row = store.new_session(
                args.subject, args.protocol, args.date, args.examiner, args.notes
            )
            print(
                f"session {row['id']} created for {args.subject} ({row['protocol']}, {row['date']})"
            )
            return 0
        if args.action == "list":
            rows = session_rows(store, args.subject)
            if args.json:
                print_json(rows)
            elif rows:
                print_table(
                    rows, ["id", "subject", "protocol", "date", "examiner", "videos", "total"]
                )
            else:
                print("no sessions yet: `aqa session new --subject CODE --protocol cmas`")
            return 0
        report = session_report(store, args.id)
        summary = store.session_summary(args.id)
    if args.json:  # the summary, each item with its proposal and flags
        for entry, row in zip(summary["items"], report.items):
            entry.update(proposal_grade=row.proposal_grade, flags=row.flags)
        print_json(summary)
    else:
        print_session(report)
    return 0


def session_rows(store: Store, subject: str | None = None) -> list[dict]:
    codes = {s["id"]: s["code"] for s in store.subjects()}
    rows = []
    for session in store.sessions(subject):
        summary = store.session_summary(session["id"])
        rows.append(
            {
                "id": session["id"],
                "subject": codes[session["subject_id"]],
                "protocol": session["protocol"],
                "date": session["date"],
                "examiner": session["examiner"],
                "videos": len(store.recordings(session["id"])),
                "total": summary["completeness"],
            }
        )
    return rows


def print_session(report) -> None:
    """The session sheet as text: one row per item, then each item's flags with their reasons."""
    print(
        f"session {report.session_id}: subject {report.subject}, {report.protocol_name}, "
        f"{report.date}" + (f", examiner {report.examiner}" if report.examiner else "")
    )
    rows = [
        {
            "item": row.name,
            "range": row.range,
            "videos": len(row.recordings),
            "grade": "-" if row.grade is None else f"{row.grade:g}",
            "rater": row.rater,
            "proposal": "" if row.proposal_grade is None else f"{row.proposal_grade:g}",
            "flags": f"{MARK} {len(row.flags)}" if row.flags else "",
        }
        for row in report.items
    ]
    print_table(rows, ["item", "range", "videos", "grade", "rater", "proposal", "flags"])
    print(f"total: {report.completeness}")
    for row in report.items:
        for flag in row.flags:
            print(f"{MARK} {row.name}: {flag['text']}")


def run_recording(args) -> int:
    from engine.recordings import import_recording, relink
    from engine.store import Store

    with Store() as store:
        if args.action == "relink":
            path = relink(store, args.id, args.video)
            print(f"recording {args.id} now points to {path} (same SHA-256)")
            return 0
        if args.action == "list":
            rows = recording_rows(store, args.session)
            if args.json:
                print_json(rows)
            elif rows:
                print_table(rows, ["id", "session", "item", "view", "file", "status", "flags"])
                for row in rows:
                    for flag in row["flag_reasons"]:
                        print(f"{MARK} recording {row['id']}: {flag}")
            else:
                print("no recordings yet: `aqa recording add SESSION VIDEO --item ITEM`")
            return 0
        row = import_recording(store, args.session, args.video, args.item, args.view)
    if row["reused"]:
        print(
            f"recording {row['id']} of session {args.session} already holds this video "
            f"for item {args.item}: nothing added"
        )
    else:
        print(f"recording {row['id']} added to session {args.session} for item {args.item}")
    return 0


def recording_rows(store: Store, session_id: int | None = None) -> list[dict]:
    from engine.flags import recording_flags, short_text

    sessions = [store.session(session_id)] if session_id is not None else store.sessions()
    rows = []
    for session in sessions:
        for rec in store.recordings(session["id"]):
            status = store.recording_status(rec["id"])
            done = [k for k in ("extracted", "graded", "rated") if status[k]]
            flags = recording_flags(store, rec["id"])
            rows.append(
                {
                    "id": rec["id"],
                    "session": session["id"],
                    "item": rec["item"],
                    "view": rec["view"],
                    "file": Path(rec["path"]).name,
                    "status": ", ".join(done) or "new",
                    "flags": short_text(flags),
                    "flag_reasons": [f.text for f in flags],
                }
            )
    return rows


def run_rate(args) -> int:
    from engine.store import Store

    with Store() as store:
        row = store.rate(args.recording, args.grade, args.reason)
    print(f"recording {row['recording_id']} rated {row['grade']:g} by {row['rater']}")
    return 0

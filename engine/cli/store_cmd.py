"""``aqa db|subject|session|recording|rate``: the clinical record."""

import sys
from pathlib import Path

from engine.cli.output import print_json, print_table
from engine.errors import StoreError
from engine.store import Store


def register(sub) -> None:
    db = sub.add_parser("db", help="create, inspect, check or back up the database")
    db_sub = db.add_subparsers(dest="action", metavar="ACTION", required=True)
    db_sub.add_parser("init", help="create the database (and migrate an old one)")
    info = db_sub.add_parser("info", help="where the database is and what it holds")
    info.add_argument("--json", action="store_true")
    db_sub.add_parser("check", help="SQLite integrity and foreign-key check, then `db verify`")
    db_sub.add_parser(
        "verify", help="walk the audit chain and compare every recorded row with its history"
    )
    bk = db_sub.add_parser("backup", help="copy the live database with SQLite's backup API")
    bk.add_argument("path", type=Path)
    db.set_defaults(func=run_db)

    subject = sub.add_parser("subject", help="pseudonymous subjects")
    subject_sub = subject.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = subject_sub.add_parser("add", help="add a subject by pseudonymous code")
    add.add_argument("code")
    add.add_argument("--birth-year", type=int)
    add.add_argument("--sex")
    add.add_argument("--notes")
    ls = subject_sub.add_parser("list", help="all subjects")
    ls.add_argument("--json", action="store_true")
    subject.set_defaults(func=run_subject)

    session = sub.add_parser("session", help="exam sessions")
    session_sub = session.add_subparsers(dest="action", metavar="ACTION", required=True)
    new = session_sub.add_parser("new", help="start a session for a subject")
    new.add_argument("--subject", required=True, help="subject code")
    new.add_argument("--protocol", required=True, help="protocol id, e.g. cmas")
    new.add_argument("--date", help="YYYY-MM-DD (default: today)")
    new.add_argument("--examiner")
    new.add_argument("--notes")
    show = session_sub.add_parser("show", help="per-item grades, total and completeness")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true")
    session.set_defaults(func=run_session)

    recording = sub.add_parser("recording", help="videos of a session")
    rec_sub = recording.add_subparsers(dest="action", metavar="ACTION", required=True)
    radd = rec_sub.add_parser("add", help="attach a video to a session item")
    radd.add_argument("session", type=int)
    radd.add_argument("video", type=Path)
    radd.add_argument("--item", required=True, help="protocol item id, e.g. head_elevation")
    radd.add_argument("--view", help="camera view, e.g. side")
    relink = rec_sub.add_parser("relink", help="point a recording at its moved video (same hash)")
    relink.add_argument("id", type=int)
    relink.add_argument("video", type=Path)
    recording.set_defaults(func=run_recording)

    rate = sub.add_parser("rate", help="record a clinician grade for a recording")
    rate.add_argument("recording", type=int)
    rate.add_argument("grade", type=float)
    rate.add_argument("--reason")
    rate.set_defaults(func=run_rate)


def run_db(args) -> int:
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
    with Store() as store:
        if args.action == "new":
            row = store.new_session(
                args.subject, args.protocol, args.date, args.examiner, args.notes
            )
            print(
                f"session {row['id']} created for {args.subject} ({row['protocol']}, {row['date']})"
            )
            return 0
        summary = store.session_summary(args.id)
    if args.json:
        print_json(summary)
        return 0
    print_session(summary)
    return 0


def print_session(summary: dict) -> None:
    session = summary["session"]
    print(
        f"session {session['id']}: subject {summary['subject']}, {summary['protocol_name']}, "
        f"{session['date']}" + (f", examiner {session['examiner']}" if session["examiner"] else "")
    )
    rows = [
        {
            "item": i["item"],
            "range": i["range"],
            "videos": i["recordings"],
            "grade": "-" if i["grade"] is None else f"{i['grade']:g}",
            "rater": i["rater"] or "",
        }
        for i in summary["items"]
    ]
    print_table(rows, ["item", "range", "videos", "grade", "rater"])
    print(f"total: {summary['completeness']}")


def run_recording(args) -> int:
    from engine.recordings import import_recording, relink

    with Store() as store:
        if args.action == "relink":
            path = relink(store, args.id, args.video)
            print(f"recording {args.id} now points to {path} (same SHA-256)")
            return 0
        row = import_recording(store, args.session, args.video, args.item, args.view)
    print(f"recording {row['id']} added to session {args.session} for item {args.item}")
    return 0


def run_rate(args) -> int:
    with Store() as store:
        row = store.rate(args.recording, args.grade, args.reason)
    print(f"recording {row['recording_id']} rated {row['grade']:g} by {row['rater']}")
    return 0

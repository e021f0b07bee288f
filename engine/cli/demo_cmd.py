"""``aqa demo``: the main job on the embedded default (local SQLite, bundled demo)."""

from engine.cli.store_cmd import print_session
from engine.store import Store

DEMO_SUBJECT = "DEMO-001"


def register(sub) -> None:
    p = sub.add_parser("demo", help="create the local database with a demo subject and session")
    p.set_defaults(func=run)


def run(args) -> int:
    with Store() as store:
        if not any(s["code"] == DEMO_SUBJECT for s in store.subjects()):
            store.add_subject(DEMO_SUBJECT, notes="demo subject created by `aqa demo`")
        session = store.new_session(DEMO_SUBJECT, "cmas", examiner="demo")
        summary = store.session_summary(session["id"])
        print(f"database: {store.path}")
    print_session(summary)
    return 0

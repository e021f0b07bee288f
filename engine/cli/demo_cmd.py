"""``aqa demo``: the whole job on the embedded default — local SQLite, the bundled demo video,
extraction, grading with the demo model, a clinician grade and the PDF report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from engine.cli.progress import progress_bar
from engine.cli.store_cmd import print_session

if TYPE_CHECKING:
    from engine.store import Store

DEMO_SUBJECT = "DEMO-001"
DEMO_ITEM = "arm_raise_duration"
DEMO_USER = "demo"  # the demo shows jumping jacks: wrists above the head


def register(sub) -> None:
    p = sub.add_parser("demo", help="run the whole job on the demo video (or --video PATH)")
    p.add_argument("--video", type=Path, help="use this video instead of the bundled demo")
    p.add_argument(
        "--device", default="auto", choices=["auto", "cpu", "cuda"], help="where models run"
    )
    p.add_argument(
        "--new", action="store_true", help="start another demo session instead of reusing the last"
    )
    p.set_defaults(func=run)


def demo_login(store: Store) -> None:
    """Work as the logged-in user, else as ``demo`` (password ``demo``), made on a new record."""
    from engine.errors import InputError
    from engine.store.users import LoginError

    if store.user is not None:
        return
    if not store.has_users():
        store.add_user(DEMO_USER, "admin", DEMO_USER, "Demo Clinician")
        print(
            f"created the user {DEMO_USER} (password {DEMO_USER}, an admin) for this demo record; "
            "add your own accounts with `aqa user add`"
        )
    try:
        store.login(DEMO_USER, DEMO_USER)
    except LoginError:
        raise InputError(
            "This database has user accounts but no demo/demo account: run `aqa --user NAME "
            "demo`, or set AQA_HOME to a new folder for the demo."
        ) from None


def run(args) -> int:
    from dataclasses import replace

    from engine.demo_video import demo_video
    from engine.extract.attach import attach
    from engine.extract.pipeline import extract
    from engine.grading.model_files import model_for
    from engine.grading.service import grade_recording, model_extraction
    from engine.paths import cache_dir, data_dir
    from engine.recordings import import_recording
    from engine.reports.key_frames import session_key_frames
    from engine.reports.pdf import write_pdf
    from engine.reports.sheet import session_report
    from engine.store import Store

    if args.video is None:
        cached = (cache_dir() / "sports2d-demo.mp4").exists()
        video = demo_video(cache_dir())
        if not cached:
            print(f"fetched the demo video (sports2d wheel, no dependencies) into {video}")
    else:
        video = args.video
    with Store() as store:
        print(f"database: {store.path}")
        demo_login(store)
        session = _demo_session(store, args.new)
        recording = import_recording(store, session["id"], video, DEMO_ITEM, "front")
        with progress_bar("extract") as bar:
            model = model_for(store, "cmas", DEMO_ITEM)
            config = replace(model_extraction(model["card"]), device=args.device)
            result = extract(video, config, progress=bar)
        if not store.recording_status(recording["id"])["extracted"]:
            attach(store, result, session["id"], DEMO_ITEM, view="front")
        for name, modality in result.modalities.items():
            print(
                f"{name}: {modality.status}" + (f" ({modality.reason})" if modality.reason else "")
            )
        proposal = store.latest_assessment(recording["id"])
        if proposal is None:
            with progress_bar("grade") as bar:
                proposal = grade_recording(store, recording["id"], device=args.device, progress=bar)
        details = proposal["details"]
        print(
            f"model proposal: grade {proposal['grade']:g} (expected {proposal['expected_score']:.2f})"
            f" from {proposal['model_id']} [DEMO model, trained on synthetic data]"
        )
        if details.get("measurement_text"):
            print(f"measurement: {details['measurement_text']}")
        grade = details.get("criterion_grade", proposal["grade"])
        if store.current_rating(recording["id"]) is None:
            store.rate(recording["id"], grade, "demo rating: the measured criterion")
        reports = data_dir() / "reports"
        reports.mkdir(exist_ok=True)
        report = session_report(store, session["id"])
        pdf = write_pdf(
            report,
            reports / f"session-{session['id']}.pdf",
            session_key_frames(store, session["id"]),
        )
    print_session(report)
    print(f"report: {pdf}")
    return 0


def _demo_session(store: Store, new: bool) -> dict:
    """The last demo session, or a new one (with the demo subject) when asked or when none."""
    if not any(s["code"] == DEMO_SUBJECT for s in store.subjects()):
        store.add_subject(DEMO_SUBJECT, notes="demo subject created by `aqa demo`")
    sessions = store.sessions(DEMO_SUBJECT)
    if sessions and not new:
        session = sessions[-1]
        print(f"reusing demo session {session['id']} (add --new for another one)")
        return session
    session = store.new_session(DEMO_SUBJECT, "cmas", examiner="demo")
    print(f"demo session {session['id']} created")
    return session

"""``aqa demo``: the whole job on the embedded default — local SQLite, the bundled demo video,
extraction, grading with the demo model, a clinician grade and the PDF report."""

from pathlib import Path

from engine.cli.progress import progress_bar
from engine.cli.store_cmd import print_session
from engine.store import Store

DEMO_SUBJECT = "DEMO-001"
DEMO_ITEM = "arm_raise_duration"
DEMO_USER = "demo"  # the demo shows jumping jacks: wrists above the head


def register(sub) -> None:
    p = sub.add_parser("demo", help="run the whole job on the demo video (or --video PATH)")
    p.add_argument("--video", type=Path, help="use this video instead of the bundled demo")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
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
    from engine.demo_video import demo_video
    from engine.extract.attach import attach
    from engine.extract.pipeline import extract
    from engine.grading.service import grade_recording
    from engine.paths import cache_dir, data_dir
    from engine.recordings import import_recording
    from engine.reports.key_frames import session_key_frames
    from engine.reports.pdf import write_pdf
    from engine.reports.sheet import session_report

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
        if not any(s["code"] == DEMO_SUBJECT for s in store.subjects()):
            store.add_subject(DEMO_SUBJECT, notes="demo subject created by `aqa demo`")
        session = store.new_session(DEMO_SUBJECT, "cmas", examiner="demo")
        recording = import_recording(store, session["id"], video, DEMO_ITEM, "front")
        with progress_bar("extract") as bar:
            result = extract(video, profile="fast", device=args.device, progress=bar)
        attach(store, result, session["id"], DEMO_ITEM, view="front")
        for name, modality in result.modalities.items():
            print(
                f"{name}: {modality.status}" + (f" ({modality.reason})" if modality.reason else "")
            )
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
        store.rate(recording["id"], grade, "demo rating: the measured criterion")
        reports = data_dir() / "reports"
        reports.mkdir(exist_ok=True)
        pdf = write_pdf(
            session_report(store, session["id"]),
            reports / f"session-{session['id']}.pdf",
            session_key_frames(store, session["id"]),
        )
        summary = store.session_summary(session["id"])
    print_session(summary)
    print(f"report: {pdf}")
    return 0

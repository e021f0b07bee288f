"""``aqa grade``, ``aqa grade-session`` and ``aqa suggest``: model proposals for recordings."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from engine.cli.output import print_json, print_table
from engine.cli.person import add_person_options, person_choice
from engine.cli.progress import progress_bar
from engine.extract.config import ExtractionConfig
from engine.flags import MARK, proposal_flags, short_text
from engine.people.subject import describe as describe_subject

if TYPE_CHECKING:
    from engine.store import Store

DEVICES = ["auto", "cpu", "cuda"]


def register(sub) -> None:
    g = sub.add_parser("grade", help="grade a recording (or a video file) with the item's model")
    g.add_argument("target", help="recording id, or a video file with --protocol and --item")
    g.add_argument("--protocol", help="for a video file: the protocol id")
    g.add_argument("--item", help="for a video file: the item id")
    g.add_argument(
        "--session", type=int, help="for a video file: store the proposal in this session"
    )
    g.add_argument("--model", type=int, help="model id (default: the item's active model)")
    g.add_argument("--modalities", help="comma-separated subset of the model's modalities")
    g.add_argument("--device", default="auto", choices=DEVICES, help="where the model runs")
    add_person_options(g)
    g.add_argument("--json", action="store_true", help="print JSON")
    g.set_defaults(func=run_grade)

    s = sub.add_parser("grade-session", help="grade every recording of a session (resumable)")
    s.add_argument("session", type=int, help="session id")
    s.add_argument("--device", default="auto", choices=DEVICES, help="where the models run")
    s.add_argument("--again", action="store_true", help="also re-grade graded recordings")
    s.set_defaults(func=run_grade_session)

    q = sub.add_parser("suggest", help="recordings whose clinician grade would teach the most")
    q.add_argument("--protocol", required=True, help="protocol id, e.g. cmas")
    q.add_argument("--item", required=True, help="protocol item id")
    q.add_argument("--limit", type=int, default=10, help="how many (default 10)")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(func=run_suggest)


def _modalities(text: str | None) -> list[str] | None:
    return [m.strip() for m in text.split(",") if m.strip()] if text else None


def describe(row: dict) -> str:
    details = row["details"]
    lines = [
        f"proposal: grade {row['grade']:g} (expected score {row['expected_score']:.2f})",
        "distribution: "
        + "  ".join(f"{g:g}:{p:.2f}" for g, p in zip(details["grades"], row["grade_probs"])),
        "modalities used: " + ", ".join(details["modalities_used"]),
    ]
    if details.get("extraction"):
        config = ExtractionConfig.from_dict(details["extraction"])
        lines.append(f"extraction (the model's): {config.summary()}")
    if details.get("settings_differ"):
        differ = ", ".join(details["settings_differ"])
        lines.append(f"your settings differ ({differ}); the model's were used")
    if details.get("subject"):
        lines.extend(describe_subject(details["subject"]))
    if details.get("measurement_text"):
        lines.append(f"measurement: {details['measurement_text']}")
    demo = "  [DEMO model, trained on synthetic data — not for clinical use]"
    lines.append(f"model: {row['model_id']}" + (demo if details.get("demo") else ""))
    lines += [f"{MARK} {flag.text}" for flag in proposal_flags(row)]
    return "\n".join(lines)


def run_grade(args) -> int:
    from engine.errors import InputError
    from engine.grading.service import grade_recording, grade_video
    from engine.store import Store

    person, handovers = person_choice(args)
    with Store() as store, progress_bar() as bar:
        if args.target.isdigit() or args.session is not None:
            recording = _recording(store, args)
            row = grade_recording(
                store,
                recording,
                args.model,
                _modalities(args.modalities),
                args.device,
                bar,
                person=person,
                handovers=handovers,
            )
        else:
            if not (args.protocol and args.item):
                raise InputError("Grading a video file needs --protocol and --item (or --session).")
            from engine.grading.model_files import load_model, model_for

            model = (
                store.model(args.model)
                if args.model
                else model_for(store, args.protocol, args.item)
            )
            result = grade_video(
                Path(args.target),
                args.protocol,
                args.item,
                load_model(model, args.device),
                _modalities(args.modalities),
                args.device,
                progress=bar,
                person=person,
                handovers=handovers,
            )
            row = {**result.row(), "uncertain": result.uncertain}
    if args.json:
        print_json({**row, "flags": [f.to_dict() for f in proposal_flags(row)]})
    else:
        if "recording_id" in row:
            print(f"recording {row['recording_id']}")
        print(describe(row))
    return 0


def _recording(store: Store, args) -> int:
    """The recording to grade: an id, or the session item's recording of the video file."""
    from engine.errors import InputError
    from engine.recordings import import_recording

    if args.target.isdigit():
        return int(args.target)
    if not args.item:
        raise InputError("Grading a video file into a session needs --item.")
    return import_recording(store, args.session, Path(args.target), args.item)["id"]


def run_grade_session(args) -> int:
    from engine.grading.service import grade_session
    from engine.store import Store

    with Store() as store, progress_bar(f"session {args.session}") as bar:
        rows = grade_session(store, args.session, args.again, args.device, bar)
        before = len(store.recordings(args.session))
    print(f"graded {len(rows)} of {before} recordings (the others already had a proposal)")
    for row in rows:
        flags = short_text(proposal_flags(row))
        print(f"recording {row['recording_id']}: grade {row['grade']:g}  {flags}".rstrip())
        for flag in proposal_flags(row):
            print(f"  {MARK} {flag.text}")
    return 0


def run_suggest(args) -> int:
    from engine.grading.learning import suggestions
    from engine.store import Store

    with Store() as store:
        rows = suggestions(store, args.protocol, args.item, args.limit)
    if args.json:
        print_json(rows)
    elif not rows:
        print("nothing to suggest: grade some recordings of this item first")
    else:
        print_table(rows, ["recording", "session", "subject", "grade", "why"])
    return 0

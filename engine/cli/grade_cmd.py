"""``aqa grade``, ``aqa grade-session`` and ``aqa suggest``: model proposals for recordings."""

from pathlib import Path

from engine.cli.output import print_json, print_table
from engine.cli.person import add_person_options, person_choice
from engine.cli.progress import progress_bar
from engine.extract.config import ExtractionConfig
from engine.people.subject import describe as describe_subject
from engine.store import Store


def register(sub) -> None:
    g = sub.add_parser("grade", help="grade a recording (or a video file) with the item's model")
    g.add_argument("target", help="recording id, or a video file with --protocol and --item")
    g.add_argument("--protocol", help="for a video file: the protocol id")
    g.add_argument("--item", help="for a video file: the item id")
    g.add_argument("--model", type=int, help="model id (default: the item's active model)")
    g.add_argument("--modalities", help="comma-separated subset of the model's modalities")
    g.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    add_person_options(g)
    g.add_argument("--json", action="store_true")
    g.set_defaults(func=run_grade)

    s = sub.add_parser("grade-session", help="grade every recording of a session (resumable)")
    s.add_argument("session", type=int)
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    s.add_argument("--again", action="store_true", help="also re-grade graded recordings")
    s.set_defaults(func=run_grade_session)

    q = sub.add_parser("suggest", help="recordings whose clinician grade would teach the most")
    q.add_argument("--protocol", required=True)
    q.add_argument("--item", required=True)
    q.add_argument("--limit", type=int, default=10)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=run_suggest)


def _modalities(text: str | None) -> list[str] | None:
    return [m.strip() for m in text.split(",") if m.strip()] if text else None


def describe(row: dict) -> str:
    details = row["details"]
    lines = [
        f"proposal: grade {row['grade']:g} (expected {row['expected_score']:.2f})"
        + ("  — uncertain, please review" if row["uncertain"] else ""),
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
    for name, why in details["modalities_missing"].items():
        lines.append(f"{name}: missing ({why})")
    if details.get("measurement_text"):
        lines.append(f"measurement: {details['measurement_text']}")
    demo = "  [DEMO model, trained on synthetic data — not for clinical use]"
    lines.append(f"model: {row['model_id']}" + (demo if details.get("demo") else ""))
    return "\n".join(lines)


def run_grade(args) -> int:
    from engine.errors import InputError
    from engine.grading.service import grade_recording, grade_video

    person, handovers = person_choice(args)
    with Store() as store, progress_bar() as bar:
        if args.target.isdigit():
            row = grade_recording(
                store,
                int(args.target),
                args.model,
                _modalities(args.modalities),
                args.device,
                bar,
                person=person,
                handovers=handovers,
            )
        else:
            if not (args.protocol and args.item):
                raise InputError("Grading a video file needs --protocol and --item.")
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
        print_json(row)
    else:
        print(describe(row))
    return 0


def run_grade_session(args) -> int:
    from engine.grading.service import grade_session

    with Store() as store, progress_bar(f"session {args.session}") as bar:
        rows = grade_session(store, args.session, args.again, args.device, bar)
        before = len(store.recordings(args.session))
    print(f"graded {len(rows)} of {before} recordings (the others already had a proposal)")
    for row in rows:
        print(f"recording {row['recording_id']}: grade {row['grade']:g}")
    return 0


def run_suggest(args) -> int:
    from engine.grading.learning import suggestions

    with Store() as store:
        rows = suggestions(store, args.protocol, args.item, args.limit)
    if args.json:
        print_json(rows)
    elif not rows:
        print("nothing to suggest: grade some recordings of this item first")
    else:
        print_table(rows, ["recording", "session", "subject", "grade", "why"])
    return 0

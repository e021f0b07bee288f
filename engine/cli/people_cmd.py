"""``aqa people RECORDING [--person ID|X,Y[@S]] [--from S:ID] [--reason TEXT]``: who a stored
recording's subject is — the people found, the choice in force and its history — and a new choice
(stored with who and when, audited; proposals that followed someone else become stale, and what
depends on the subject is extracted again)."""

import argparse

from engine.cli.output import print_json, print_table
from engine.cli.person import add_person_options, person_choice
from engine.cli.progress import progress_bar


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "people",
        help="the people in a recording's video and which one is the subject (choose: stored, audited)",
    )
    p.add_argument("recording", type=int, help="recording id (see `aqa recording list`)")
    add_person_options(p)
    p.add_argument("--reason", help="why the subject is changed (kept in the history)")
    p.add_argument(
        "--no-extract",
        action="store_true",
        help="store the choice only; the next extraction or grading follows it",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_people)


def run_people(args: argparse.Namespace) -> int:
    from engine.flags import proposal_flags
    from engine.people.api import find_people
    from engine.people.subject import choose_subject
    from engine.recording_subject import choose, extract_again
    from engine.recordings import checked_path
    from engine.store import Store
    from engine.store.choices import describe

    person, handovers = person_choice(args)
    changing = args.person.strip().lower() != "auto" or handovers or args.reason is not None
    with Store() as store, progress_bar(f"recording {args.recording}") as bar:
        video = checked_path(store, args.recording)
        before = store.subject_choice(args.recording)
        if changing:
            choose(store, args.recording, person, handovers, args.reason, progress=bar)
        choice = store.subject_choice(args.recording)
        changed = choice is not None and (before is None or choice["id"] != before["id"])
        result = None
        if changed and not args.no_extract:
            result = extract_again(store, args.recording, progress=bar)
        people = find_people(video, progress=bar)
        automatic = choose_subject(people, None)
        history = store.subject_choices(args.recording)
        stale = [a for a in store.assessments(args.recording) if a["stale"]]
    data = {
        "recording_id": args.recording,
        "people": people.summary(),
        "automatic": automatic.to_dict(),
        "choice": choice,
        "history": history,
        "changed": changed,
        "extracted_again": None if result is None else sorted(result.modalities),
        "stale_proposals": [a["id"] for a in stale],
    }
    if args.json:
        print_json(data)
        return 0
    print(f"recording {args.recording}: {len(people.ids)} people in {video.name}")
    if people.ids:
        print_table(people.summary(), ["id", "first_s", "last_s", "coverage", "box"])
    print(f"automatic choice: {automatic.reason}")
    print("subject: " + (describe(choice) if choice else "chosen automatically (never set)"))
    if len(history) > 1:
        print("earlier choices:")
        for row in history[:-1]:
            print(f"  {describe(row)}")
    if result is not None:
        print(f"extracted again: {', '.join(sorted(result.modalities))}")
    for row in stale:
        flag = next(f for f in proposal_flags(row) if f.kind == "stale")
        print(f"proposal {row['id']} ({row['model_id']}, grade {row['grade']:g}): {flag.text}")
    return 0

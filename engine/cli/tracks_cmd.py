"""``aqa tracks VIDEO|RECORDING [--person ID|X,Y[@S]] [--all] --csv PATH [--trc PATH] [--json]``: every
person in a video tracked over the whole clip, the subject chosen, their keypoints exported.
A stored recording follows its subject choice; ``--person``/``--from`` on it store a new one."""

import argparse
from pathlib import Path

from engine.cli.output import print_json, print_table
from engine.cli.person import add_person_options, person_choice, recording_person
from engine.cli.progress import progress_bar


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tracks",
        help="track every person, choose the subject, export keypoints and angles (CSV, TRC)",
    )
    p.add_argument("video", help="video file, or a recording id (see `aqa recording list`)")
    add_person_options(p)
    p.add_argument("--all", action="store_true", help="landmarks and rows for every person")
    p.add_argument("--csv", type=Path, required=True, help="CSV: one row per frame and person")
    p.add_argument("--trc", type=Path, help="TRC markers of the subject (OpenSim, pixels)")
    p.add_argument("--json", action="store_true", help="print people and subject as JSON")
    p.set_defaults(func=run_tracks)


def run_tracks(args: argparse.Namespace) -> int:
    from engine.errors import InputError
    from engine.people.api import track_subject
    from engine.people.export import csv_text, trc_text, write_atomic
    from engine.people.subject import describe, proposal_details

    person, handovers = person_choice(args)
    if args.video.isdigit() and not Path(args.video).exists():
        from engine.recordings import checked_path
        from engine.store import Store

        with Store() as store, progress_bar("people") as progress:
            recording = int(args.video)
            args.video = checked_path(store, recording)
            person, handovers = recording_person(store, recording, args, progress)
    args.video = Path(args.video)
    if not args.video.is_file():
        raise InputError(f"There is no file {args.video}.")
    for path in (args.csv, args.trc):
        if path is not None and not path.parent.is_dir():
            raise InputError(f"The folder of {path} does not exist.")
    with progress_bar("tracks") as progress:
        result = track_subject(args.video, person, handovers, everyone=args.all, progress=progress)
    people, subject, tracks = result.people, result.subject, result.tracks
    rows = [t for k, t in tracks.items() if k != "subject"] if args.all else [tracks["subject"]]
    write_atomic(args.csv, csv_text(rows))
    written = [str(args.csv)]
    skeleton = tracks["subject"]
    if args.trc is not None and skeleton.ok:
        write_atomic(args.trc, trc_text(skeleton, args.video.name))
        written.append(str(args.trc))
    skeleton_text = "ok" if skeleton.ok else f"missing ({skeleton.reason})"
    if args.json:
        print_json({**result.to_dict(), "skeleton": skeleton_text, "files": written})
        return 0
    print(f"{len(people.ids)} people in {args.video.name}")
    if people.ids:
        print_table(people.summary(), ["id", "first_s", "last_s", "coverage", "box"])
    print("\n".join(describe(proposal_details(people.summary(), subject.to_dict()))))
    print(f"skeleton: {skeleton_text}")
    if args.trc is not None and not skeleton.ok:
        print(f"no TRC written: the subject's skeleton is {skeleton_text}")
    print("wrote " + ", ".join(written))
    return 0

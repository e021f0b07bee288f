"""``--person ID|X,Y[@SECONDS]`` and ``--from SECONDS:ID``: which person the skeleton follows
(``aqa extract``, ``grade``, ``measure``, ``render`` and ``tracks``)."""

import argparse


def add_person_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--person",
        default="auto",
        help="the subject: auto (default), an id, or a point X,Y[@SECONDS] in video pixels",
    )
    parser.add_argument(
        "--from",
        dest="handovers",
        action="append",
        default=[],
        metavar="SECONDS:ID",
        help="from SECONDS on the subject is person ID (fixes an identity swap; repeatable)",
    )


def person_choice(args: argparse.Namespace) -> tuple[str, list[tuple[float, int]]]:
    """(person text, hand-overs), checked before any slow work (InputError: one sentence)."""
    from engine.people.subject import check_person_text, parse_handover

    check_person_text(args.person)
    return args.person, [parse_handover(text) for text in args.handovers]


def recording_person(store, recording_id: int, args: argparse.Namespace, progress=None):
    """(person, hand-overs) an extraction of a stored recording follows: the options when given
    (stored as the recording's choice), else the choice in force."""
    from engine.recording_subject import for_recording

    return for_recording(store, recording_id, *person_choice(args), progress=progress)

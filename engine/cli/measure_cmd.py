"""``aqa measure VIDEO --item ITEM [--protocol cmas] [--json]``: kinematic measurements of an item.

VIDEO may also be a skeleton track saved as ``.npz`` (from the extraction cache), which skips the
pose estimation.
"""

import argparse
import sys
from contextlib import contextmanager
from pathlib import Path

from engine.cli.output import print_json, print_table
from engine.cli.person import add_person_options, person_choice, recording_person


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "measure",
        help="measure an item from the skeleton: held seconds, repetitions, joint angles",
    )
    p.add_argument("video", type=Path, help="video file, or a skeleton track (.npz)")
    p.add_argument("--item", required=True, help="protocol item id, e.g. head_elevation")
    p.add_argument("--protocol", default="cmas", help="protocol id (default: cmas)")
    p.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="where the pose model runs (default: auto)",
    )
    p.add_argument(
        "--session", type=int, help="also file the video under this session's item (its recording)"
    )
    add_person_options(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_measure)


def run_measure(args: argparse.Namespace) -> int:
    from engine.errors import InputError
    from engine.kinematics.measure import measure
    from engine.kinematics.video import skeleton_from_track_file, skeleton_from_video
    from engine.protocols import get_protocol

    get_protocol(args.protocol).item(args.item)  # a wrong item fails before the slow part
    person, handovers = person_choice(args)
    if not args.video.is_file():
        raise InputError(f"There is no file {args.video}.")
    recording = None
    if args.session is not None:
        from engine.recordings import import_recording
        from engine.store import Store

        with Store() as store:
            recording = import_recording(store, args.session, args.video, args.item)
            person, handovers = recording_person(store, recording["id"], args)
    if args.video.suffix.lower() == ".npz":
        series, source = skeleton_from_track_file(args.video), "skeleton track file"
    else:
        with _progress_bar() as progress:
            series, source = skeleton_from_video(
                args.video, args.device, progress=progress, person=person, handovers=handovers
            )
    result = measure(series, args.protocol, args.item)
    if args.json:
        print_json(
            {**result.to_dict(), "skeleton": source, "recording_id": (recording or {}).get("id")}
        )
        return 0
    print(f"{result.item_name} ({result.protocol}/{result.item})")
    if recording is not None:
        print(f"recording {recording['id']} of session {args.session}")
    print(f"skeleton: {source}")
    print(
        f"{result.frames} frames, {result.duration_s:.1f} s, "
        f"person detected on {100 * result.detected_fraction:.0f}% of frames"
    )
    print(result.summary())
    rows = [
        {
            "angle": name,
            "median": _deg(s.median),
            "min": _deg(s.low),
            "max": _deg(s.high),
            "measured": f"{100 * s.known:.0f}%",
        }
        for name, s in result.angles.items()
    ]
    print_table(rows, ["angle", "median", "min", "max", "measured"])
    return 0


def _deg(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


@contextmanager
def _progress_bar():
    """A progress callback drawing a bar on stderr (silent when stderr is not a terminal)."""
    from tqdm import tqdm

    with tqdm(total=100, unit="%", file=sys.stderr, disable=not sys.stderr.isatty()) as bar:

        def update(fraction: float, stage: str) -> None:
            bar.set_description(stage)
            bar.update(round(100 * fraction) - bar.n)

        yield update

"""``aqa extract`` (tracks of a video, cached) and ``aqa render`` (overlays on the video)."""

import argparse
import sys
from pathlib import Path

from engine.cli.output import print_json
from engine.cli.person import add_person_options, person_choice, recording_person
from engine.cli.progress import StageBars


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("extract", help="extract skeleton, optical flow and audio tracks (cached)")
    p.add_argument("video", type=Path, help="video file")
    p.add_argument(
        "--modalities",
        default="skeleton,flow,audio",
        help="comma-separated, optionally with a backend: skeleton,flow:farneback,audio",
    )
    p.add_argument("--profile", choices=["fast", "full"], default="full", help="speed or detail")
    p.add_argument(
        "--device", choices=["auto", "cpu", "cuda"], default="auto", help="where extraction runs"
    )
    p.add_argument("--no-cache", action="store_true", help="recompute even when cached")
    p.add_argument("--session", type=int, help="attach the result to this session's recording")
    p.add_argument("--item", help="protocol item of the recording (with --session)")
    p.add_argument("--view", help="camera view of the recording (with --session)")
    add_person_options(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_extract)

    r = sub.add_parser("render", help="draw the skeleton and/or optical flow on the video")
    r.add_argument("video", type=Path, help="video file")
    r.add_argument("--overlay", default="skeleton,flow", help="skeleton, flow or both")
    r.add_argument(
        "-o", "--output", type=Path, required=True, help="out.mp4, or out.png with --frame"
    )
    r.add_argument("--frame", type=int, help="render only this frame (0-based) to an image")
    r.add_argument("--short-side", type=int, default=720, help="output size (default 720)")
    r.add_argument("--profile", choices=["fast", "full"], default="full", help="speed or detail")
    add_person_options(r)
    r.set_defaults(func=run_render)


def run_extract(args: argparse.Namespace) -> int:
    from engine.errors import InputError
    from engine.extract.config import ExtractionConfig
    from engine.extract.pipeline import extract

    if (args.session is None) != (args.item is None):
        raise InputError("--session and --item go together: give both or neither.")
    store = None
    config = ExtractionConfig.parse(args.modalities, args.profile, args.device)
    config = config.following(*person_choice(args))
    if args.session is not None:
        from engine.extract.attach import check_target
        from engine.store import Store

        store = Store()
        check_target(store, args.session, args.item)
        session = store.session(args.session)
        config = config.for_recording(session["protocol"], args.item, session["notes"] or "")
        known = _known_recording(store, args)
        if known is not None:  # the item's recording of this video follows its subject
            config = config.following(*recording_person(store, known, args))
    bars = StageBars(enabled=sys.stderr.isatty())
    try:
        result = extract(args.video, config, use_cache=not args.no_cache, progress=bars)
        attached = None
        if store is not None:
            from engine.extract.attach import attach

            attached = attach(store, result, args.session, args.item, view=args.view)
            if known is None:  # a new recording: the subject asked for becomes its choice
                recording_person(store, attached["recording_id"], args)
    finally:
        bars.close()
        if store is not None:
            store.close()
    if args.json:
        data = result.to_dict()
        if attached is not None:
            data.update(attached)
        print_json(data)
    else:
        _print_summary(result)
        if attached is not None:
            how = "the item's recording of this video" if attached["reused"] else "a new recording"
            print(
                f"  attached to recording {attached['recording_id']} ({how}) of session {args.session}"
            )
    if not result.ok:
        reasons = "; ".join(f"{m}: {r.reason}" for m, r in result.modalities.items())
        print(f"aqa: nothing could be extracted from {args.video} ({reasons}).", file=sys.stderr)
        return 1
    return 0


def _known_recording(store, args) -> int | None:
    """The id of the session item's recording of this video, if it was added before."""
    from engine.hashing import file_sha256
    from engine.recordings import existing_recording

    if not args.video.is_file():
        return None
    found = existing_recording(store, args.session, args.item, file_sha256(args.video))
    return None if found is None else found["id"]


def _print_summary(result) -> None:
    from engine.people.subject import describe

    data = result.to_dict()
    print(
        f"{data['video']}: profile {data['profile']}, device {data['device']}, "
        f"{data['seconds']:.1f} s ({data['realtime_factor']}x real time)"
    )
    if data["decode"].get("bad_packets") or data["decode"].get("corrupt_frames"):
        d = data["decode"]
        print(
            f"  damaged: {d['bad_packets']} packets skipped, {d['corrupt_frames']} frames flagged"
        )
    for modality, r in data["modalities"].items():
        line = f"  {modality}: {r['status']}"
        if r["reason"]:
            line += f" ({r['reason']})"
        if r["status"] in ("ok", "fallback"):
            line += f", {r['frames']} frames, {r['seconds']:.1f} s"
            if r["detection_rate"] is not None:
                line += f", person detected in {r['detection_rate']:.0%}"
            line += " (cached)" if r["cached"] else ""
        print(line)
    subject = result.subject_details()
    if subject is not None:
        print("\n".join(f"  {line}" for line in describe(subject)))


def run_render(args: argparse.Namespace) -> int:
    from engine.render import render

    overlays = [o.strip() for o in args.overlay.split(",") if o.strip()]
    person, handovers = person_choice(args)
    bars = StageBars(enabled=sys.stderr.isatty())
    try:
        out = render(
            args.video,
            args.output,
            overlays=overlays,
            frame=args.frame,
            short_side=args.short_side,
            profile=args.profile,
            person=person,
            handovers=handovers,
            progress=bars,
        )
    finally:
        bars.close()
    print(out)
    return 0

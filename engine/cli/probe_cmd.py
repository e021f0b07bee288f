"""``aqa probe VIDEO [--json]``: what a media file holds."""

import argparse
from pathlib import Path

from engine.cli.output import print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("probe", help="show container, codecs, size, rotation, fps and audio")
    p.add_argument("video", type=Path, help="video file")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_probe)


def run_probe(args: argparse.Namespace) -> int:
    from engine.media.probe import probe

    info = probe(args.video)
    if args.json:
        print_json(info.to_dict())
        return 0
    audio = info.audio
    stored = f"{info.coded_width}x{info.coded_height}"
    lines = [
        ("file", info.path),
        ("container", info.container),
        ("video", f"{info.video_codec}, {info.width}x{info.height}"),
        ("rotation", f"{info.rotation} degrees" + (f" (stored {stored})" if info.rotation else "")),
        ("fps", f"{info.fps:g}"),
        ("frames", f"{info.frame_count}" + ("" if info.frame_count_exact else " (estimated)")),
        ("duration", f"{info.duration_s:.3f} s"),
        (
            "audio",
            f"{audio.codec}, {audio.sample_rate} Hz, {audio.channels} ch" if audio else "none",
        ),
        ("size", f"{info.size_bytes} bytes"),
    ]
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        print(f"{key.ljust(width)}  {value}")
    return 0

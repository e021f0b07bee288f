"""How smoothly the video view steps through a 1080p recording (offscreen Qt, real decoding).

    python bench/gui.py [--video PATH]

Makes (once, kept in the cache) a 1920x1080 H.264 copy of the sports2d demo with a single keyframe
(x264's default GOP is longer than the clip: the worst case for stepping back), opens it in the
``VideoView`` with the skeleton overlay of a real extraction, and prints, measured in one run, the
milliseconds per step forward, per step back and per random seek (each until the frame is painted)
and the steps per second as a multiple of the video's frame rate (>= 1: stepping keeps up with
playback).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from engine.demo_video import demo_video  # noqa: E402
from engine.paths import data_dir  # noqa: E402


def full_hd_copy(source: Path, folder: Path) -> Path:
    """The source re-encoded at 1920x1080, H.264, one keyframe; made once."""
    import av
    import cv2

    target = folder / f"{source.stem}-1080p.mp4"
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part.mp4")
    with av.open(str(source)) as src, av.open(str(partial), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
        for frame in src.decode(video=0):
            image = cv2.resize(frame.to_ndarray(format="rgb24"), (1920, 1080))
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    os.replace(partial, target)
    return target


def timed(app, action, count: int) -> list[float]:
    """Milliseconds of each call of ``action(n)``, until Qt has painted the result."""
    times = []
    for n in range(count):
        start = time.perf_counter()
        action(n)
        app.processEvents()
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, help="default: a 1080p copy of the sports2d demo")
    args = parser.parse_args()
    video = args.video or full_hd_copy(
        demo_video(data_dir() / "cache"), data_dir() / "cache" / "bench"
    )

    from PySide6.QtWidgets import QApplication

    from app.__main__ import dispose
    from app.video_view import VideoView
    from engine.extract.config import ExtractionConfig
    from engine.extract.pipeline import extract

    app = QApplication.instance() or QApplication([])
    view = VideoView()
    view.resize(1280, 800)
    view.show()
    view.open(video)
    skeleton = extract(video, ExtractionConfig.parse("skeleton", "fast")).track("skeleton")
    view.set_skeleton(skeleton["coco17"], skeleton.times, view.reader.info.width)
    view.show_trails.setChecked(True)
    fps = view.reader.fps
    frames = len(view.reader)
    print(f"video                     {video.name} {view.reader.info.width}x"
          f"{view.reader.info.height} {fps:g} fps {frames} frames (one keyframe)")  # fmt: skip
    view.seek(0)
    forward = timed(app, lambda n: view.step(1), min(frames - 1, 150))
    back = timed(app, lambda n: view.step(-1), min(frames - 1, 60))
    spots = [(n * 7919) % frames for n in range(20)]
    seeks = timed(app, lambda n: view.seek(spots[n]), len(spots))
    for name, values in (("step forward", forward), ("step back", back), ("random seek", seeks)):
        median = statistics.median(values)
        print(
            f"{name:25s} median {median:6.1f} ms, 90th pct "
            f"{statistics.quantiles(values, n=10)[-1]:6.1f} ms, "
            f"{1000 / median / fps:5.2f}x the frame rate"
        )
    view.close_video()
    dispose(app, view)
    return 0


if __name__ == "__main__":
    sys.exit(main())

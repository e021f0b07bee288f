"""Soak the real window on an X server: thousands of random review events, no crash, flat memory.

    xvfb-run -a -s "-screen 0 1920x1080x24" python bench/gui_soak.py [--events 5000] [VIDEO ...]

Runs ``aqa-studio``'s ``MainWindow`` on the xcb platform (QT_QPA_PLATFORM=xcb unless set), imports
the videos (default: the sports2d demo and a 1920x1080 H.264 copy of it) into a fresh session of
the data directory, extracts them through the window's worker, then sends random events with
QTest: arrow keys (step), Space (play/pause, left playing for a few frames), slider drags (seek),
clicks on the overlay boxes, recording switches in the tree and the coach view opened, played,
sought and closed. Events are sent in-process (QTest posts real key and mouse events through
Qt's event loop, the path the X server's events take) so thousands run in a minute and a crash
is the process's own. Prints events per second, peak RSS and the RSS growth after warm-up; the
last line is the same as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "xcb")

from bench.gui import full_hd_copy  # noqa: E402
from engine.demo_video import demo_video  # noqa: E402
from engine.paths import data_dir  # noqa: E402


def rss_mb() -> tuple[float, float]:
    """Resident and peak resident memory of this process in MiB (Linux)."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            key, amount, _unit = line.split()
            values[key] = int(amount) / 1024
    return values["VmRSS:"], values["VmHWM:"]


class Soak:
    """The window and the random events sent to it."""

    def __init__(self, window, recordings: list[int], seed: int):
        self.window = window
        self.recordings = recordings
        self.random = random.Random(seed)
        self.counts: dict[str, int] = {}
        self.actions = [
            (40, self.step),
            (12, self.seek),
            (6, self.play_pause),
            (8, self.toggle_overlay),
            (1, self.switch_recording),
            (1, self.coach_view),
        ]

    def event(self) -> None:
        weights = [w for w, _ in self.actions]
        action = self.random.choices([a for _, a in self.actions], weights)[0]
        self.counts[action.__name__] = self.counts.get(action.__name__, 0) + 1
        action()

    def step(self) -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        key = Qt.Key.Key_Right if self.random.random() < 0.75 else Qt.Key.Key_Left
        QTest.keyClick(self.window, key)
        settle(1)

    def seek(self) -> None:
        from PySide6.QtTest import QTest

        slider = self.window.video.slider
        x = self.random.randrange(2, max(3, slider.width() - 2))
        QTest.mouseClick(slider, _left(), pos=_point(x, slider.height() // 2))
        slider.setValue(self.random.randrange(slider.maximum() + 1))  # a drag's end
        settle(1)

    def play_pause(self) -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        QTest.keyClick(self.window, Qt.Key.Key_Space)
        settle(self.random.randrange(10, 60))
        if self.window.video.playing:
            QTest.keyClick(self.window, Qt.Key.Key_Space)
        settle(1)

    def toggle_overlay(self) -> None:
        from PySide6.QtTest import QTest

        video = self.window.video
        box = self.random.choice([video.show_skeleton, video.show_flow, video.show_trails])
        QTest.mouseClick(box, _left(), pos=_point(8, box.height() // 2))
        settle(1)

    def switch_recording(self) -> None:
        target = self.random.choice(self.recordings)
        self.window.tree.select("recording", target)
        wait_jobs(self.window)

    def coach_view(self) -> None:
        from PySide6.QtTest import QTest

        first = self.window.recording_id
        second = self.random.choice([r for r in self.recordings if r != first])
        view = self.window.open_coach_view(first, second)
        wait_jobs(self.window)
        for _ in range(10):
            view.seek(self.random.uniform(0, view.duration()))
            settle(1)
        QTest.mouseClick(view.play_button, _left())
        settle(self.random.randrange(20, 80))
        QTest.mouseClick(view.play_button, _left())
        view.close()
        view.deleteLater()
        settle(1)


def _left():
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton


def _point(x: int, y: int):
    from PySide6.QtCore import QPoint

    return QPoint(x, y)


def settle(ms: int) -> None:
    """Run the event loop for ``ms`` milliseconds (paints, timers, queued signals and deferred
    deletions, which ``processEvents`` alone leaves for a running loop)."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def wait_jobs(window, limit_s: float = 900.0) -> None:
    """Let the window's queued jobs (extraction, track loading) finish."""
    end = time.monotonic() + limit_s
    while window.jobs.jobs and time.monotonic() < end:
        settle(10)
    settle(1)
    if window.jobs.jobs:
        raise SystemExit(f"gui_soak: jobs still running after {limit_s:.0f} s")


def prepare(window, videos: list[Path]) -> list[int]:
    """A session holding the videos, each extracted through the window's worker."""
    from engine.recordings import import_recording

    store = window.store
    if not store.subjects():
        store.add_subject("SOAK-1")
    session = store.new_session(store.subjects()[0]["code"], "cmas", examiner="soak")
    ids = [
        import_recording(store, session["id"], v, "head_elevation", "side")["id"] for v in videos
    ]
    window.tree.reload()
    for recording in ids:
        window.tree.select("recording", recording)
        if window.extract_selected() is None:
            raise SystemExit("gui_soak: the extraction could not start")
        wait_jobs(window)
    return ids


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="*", type=Path, help="default: the demo and a 1080p copy")
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", default="1366x768", help="window size (default 1366x768)")
    args = parser.parse_args(argv)
    videos = args.videos
    if not videos:
        demo = demo_video(data_dir() / "cache")
        videos = [demo, full_hd_copy(demo, data_dir() / "cache" / "bench")]

    from PySide6.QtWidgets import QApplication

    from app.__main__ import dispose
    from app.main_window import MainWindow
    from app.worker import worker
    from engine.errors import AqaError
    from engine.store import Store

    app = QApplication(sys.argv[:1])
    store = Store()
    window = MainWindow(store)
    width, height = (int(v) for v in args.size.split("x"))
    window.resize(width, height)
    window.move(0, 0)
    window.show()
    window.activateWindow()
    failures: list[str] = []
    import app.main_window as main_window

    # A dialog would stop the soak until someone clicks it: collect its sentence instead.
    main_window.show_error = lambda _parent, text: failures.append(text)
    try:
        recordings = prepare(window, videos)
    except AqaError as exc:
        print(f"gui_soak: {exc}", file=sys.stderr)
        return exc.exit_code
    soak = Soak(window, recordings, args.seed)
    frames = []
    window.video.frameChanged.connect(lambda index, _seconds: frames.append(index))
    samples = []
    warm_rss = None
    started = time.perf_counter()
    for n in range(1, args.events + 1):
        soak.event()
        if n % 250 == 0:
            samples.append(round(rss_mb()[0], 1))
            if n == max(250, args.events // 5 // 250 * 250):
                warm_rss = samples[-1]
    seconds = time.perf_counter() - started
    wait_jobs(window)
    rss, peak = rss_mb()
    result = {
        "platform": app.platformName(),
        "videos": [v.name for v in videos],
        "events": args.events,
        "seconds": round(seconds, 1),
        "events_per_s": round(args.events / seconds, 1),
        "peak_rss_mb": round(peak, 1),
        "rss_growth_after_warmup_mb": round(rss - (warm_rss or rss), 1),
        "rss_samples_mb": samples,
        "counts": soak.counts,
        "frames_shown": len(frames),
        "errors": failures,
    }
    window.close()
    worker().stop()
    store.close()
    dispose(app, window)
    print(
        f"{result['events']} events on {result['platform']} in {result['seconds']} s: "
        f"{result['events_per_s']} events/s, peak RSS {result['peak_rss_mb']} MiB, "
        f"RSS growth after warm-up {result['rss_growth_after_warmup_mb']} MiB"
    )
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

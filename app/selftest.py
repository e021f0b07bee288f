"""``aqa-studio --selftest``: check an installation end to end without touching the user's data.

Runs offscreen with a temporary data directory (``AQA_HOME``) and private settings: loads the
protocol catalog and the pose model files, opens the main window, makes a short clip (the first
seconds of the cached sports2d demo video when there is one, else a drawn moving figure; a tone
for sound, since the demo's own track is silent), imports and extracts it through the window's
job queue, grades it when a grading model is shipped, checks the database and runs the ``aqa``
command line. One line per check; the exit code is 0 only when every required check passed (a
skipped check says why).
"""

from __future__ import annotations

import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

log = logging.getLogger(__name__)

CLIP_SECONDS = 2.0
DRAWN_FPS = 15
CLIP_SIDE = 360
AUDIO_RATE = 16000
EXTRACT_TIMEOUT_S = 600.0
DEMO_NAME = "sports2d-demo.mp4"
MODALITIES = ("skeleton", "flow", "audio")
MIN_DETECTION = 0.5  # share of frames of the demo clip in which the person must be found


@dataclass
class Check:
    name: str
    status: str  # "ok", "FAILED" or "skipped"
    detail: str
    seconds: float

    def line(self) -> str:
        return f"{self.status:<8} {self.name:<14} {self.detail}  ({self.seconds:.1f} s)"


class SelfTest:
    """Runs checks and prints one line each; the run passes when no check FAILED."""

    def __init__(self, out: TextIO):
        self.out = out
        self.checks: list[Check] = []

    def check(self, name: str, fn: Callable[[], str]) -> bool:
        """Run ``fn``: its return is the detail; it raises ``_Skip`` when it cannot run here."""
        started = time.perf_counter()
        try:
            detail = fn()
            status = "ok"
        except _Skip as skip:
            detail, status = str(skip), "skipped"
        except Exception as exc:  # a self-test reports every failure, whatever its kind
            log.debug("self-test check %s failed", name, exc_info=True)
            detail, status = f"{type(exc).__name__}: {exc}", "FAILED"
        result = Check(name, status, detail or "", time.perf_counter() - started)
        self.checks.append(result)
        print(result.line(), file=self.out, flush=True)
        return status == "ok"

    @property
    def passed(self) -> bool:
        return all(c.status != "FAILED" for c in self.checks)


class _Skip(Exception):
    """A check that cannot run here; the message says why."""


def run(out: TextIO | None = None) -> int:
    """The whole self-test; returns the exit code."""
    out = out or _output()
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    saved = {k: os.environ.get(k) for k in ("AQA_HOME", "AQA_POSE_MODELS")}
    started = time.perf_counter()
    test = SelfTest(out)
    print(f"AQA Studio self-test: {_runtime()}", file=out, flush=True)
    try:
        with tempfile.TemporaryDirectory(prefix="aqa-selftest-") as tmp:
            _run_checks(test, Path(tmp))
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    counts = {s: sum(c.status == s for c in test.checks) for s in ("ok", "skipped", "FAILED")}
    verdict = "passed" if test.passed else "FAILED"
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    print(
        f"self-test {verdict}: {summary} in {time.perf_counter() - started:.1f} s",
        file=out,
        flush=True,
    )
    return 0 if test.passed else 1


def _run_checks(test: SelfTest, tmp: Path) -> None:
    state: dict[str, Any] = {}
    # Pose models are looked up with the user's environment (bundle, data dir), before AQA_HOME
    # moves to the temporary directory.
    test.check("pose models", _pose_models)
    os.environ["AQA_HOME"] = str(tmp / "home")
    test.check("protocols", lambda: _protocols(state))
    test.check("text encoder", lambda: _text(state))
    if not test.check("main window", lambda: _main_window(state, tmp)):
        return
    try:
        if test.check("clip", lambda: _clip(state, tmp)) and test.check(
            "import", lambda: _import(state)
        ):
            if test.check("extract", lambda: _extract(state)):
                test.check("grade", lambda: _grade(state))
        test.check("database", lambda: _database(state))
    finally:
        _close(state)
    test.check("cli", _cli)


def _pose_models() -> str:
    from engine.extract.pose_models import find_pose_models

    found = find_pose_models(fetch=not getattr(sys, "frozen", False))
    if found.detector.parent == found.landmark.parent:
        os.environ["AQA_POSE_MODELS"] = str(found.detector.parent)
    return found.source


def _protocols(state: dict[str, Any]) -> str:
    from engine.protocols import catalog

    protocols = catalog()
    if not protocols:
        raise RuntimeError("no protocol in resources/protocols")
    state["protocol"], state["item"], state["model"] = _graded_item(protocols)
    items = sum(len(p.items) for p in protocols.values())
    return f"{len(protocols)} protocols, {items} items ({', '.join(sorted(protocols))})"


def _text(state: dict[str, Any]) -> str:
    """The exam note embedded; MiniLM must be used wherever its files are installed."""
    from engine.extract.text import MINILM, TextBackend, installed_minilm

    track = TextBackend(protocol=state["protocol"], item=state["item"]).run()
    encoder = track.meta["encoder"]
    if installed_minilm() is not None and encoder != MINILM:
        raise RuntimeError(f"MiniLM is installed but the text used {encoder}: {track.reason}")
    return f"{encoder}, {len(track.meta['tokens'])} tokens" + (
        f" ({track.reason})" if track.reason else ""
    )


def _graded_item(protocols: dict) -> tuple[str, str, Path | None]:
    """The first item with a shipped demo model, else the first CMAS item (and no model)."""
    from engine.grading.model_files import demo_dirs

    for protocol in protocols.values():
        for item in protocol.items:
            folders = demo_dirs(protocol.id, item.id)
            if folders:
                return protocol.id, item.id, folders[0]
    first = protocols.get("cmas") or next(iter(protocols.values()))
    return first.id, first.items[0].id, None


def _main_window(state: dict[str, Any], tmp: Path) -> str:
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.settings import Settings
    from engine.store import Store

    qt_app = QApplication.instance() or QApplication(sys.argv[:1])
    state["qt_app"] = qt_app
    state["dialogs"] = []
    store = Store()
    state["store"] = store
    settings = Settings(QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat))
    window = MainWindow(store, settings)
    state["window"] = window
    # Any message box would wait for a click: note its text as a failure and close it.
    watchdog = QTimer(window)
    watchdog.timeout.connect(lambda: _close_dialogs(qt_app, state["dialogs"]))
    watchdog.start(200)
    window.show()
    _spin(qt_app, 0.2)
    if not window.isVisible():
        raise RuntimeError("the main window did not show")
    picture = window.grab()
    if picture.isNull():
        raise RuntimeError("the main window could not be drawn")
    return f"{picture.width()}x{picture.height()} on {qt_app.platformName()}, database {store.path}"


def _clip(state: dict[str, Any], tmp: Path) -> str:
    demo = _cached_demo()
    target = tmp / "selftest-clip.mp4"
    if demo is not None:
        frames, fps = _demo_frames(demo)
        what = f"first {CLIP_SECONDS:g} s of {demo.name} with a tone (its own track is silent)"
    else:
        frames, fps = _drawn_frames(), DRAWN_FPS
        what = "drawn moving figure with a tone"
    count = _write_clip(target, frames, fps, _tone())
    state["clip"], state["real_person"] = target, demo is not None
    return f"{what}: {count} frames at {fps} fps, {target.stat().st_size // 1024} KiB"


def _import(state: dict[str, Any]) -> str:
    from engine.recordings import import_recording

    store, window = state["store"], state["window"]
    subject = store.add_subject("SELFTEST-1", notes="aqa-studio --selftest")
    session = store.new_session(subject["code"], state["protocol"], examiner="self-test")
    recording = import_recording(store, session["id"], state["clip"], state["item"])
    state["recording"] = recording["id"]
    window.tree.reload()
    window.tree.select("recording", recording["id"])
    _spin(state["qt_app"], 0.2)
    _raise_dialogs(state)
    if window.recording_id != recording["id"]:
        raise RuntimeError("selecting the recording in the tree did not open it")
    return f"recording {recording['id']} ({state['protocol']} / {state['item']}) shown"


def _extract(state: dict[str, Any]) -> str:
    qt_app, window, store = state["qt_app"], state["window"], state["store"]
    _wait_for_jobs(qt_app, window)  # the window may be loading tracks already
    job = window.extract_selected()
    if job is None:
        raise RuntimeError("the window started no extraction")
    _wait_for_jobs(qt_app, window)
    _raise_dialogs(state)
    rows = list(
        store.db["extractions"].rows_where("recording_id = ?", [state["recording"]], order_by="id")
    )
    statuses = {row["modality"]: row["status"] for row in rows}
    if {m: statuses.get(m) for m in MODALITIES} != {m: "ok" for m in MODALITIES}:
        reasons = {row["modality"]: row["reason"] for row in rows if row["status"] != "ok"}
        raise RuntimeError(f"modalities: {statuses} {reasons}")
    # The tracks must now come from the cache the window's extraction wrote.
    from engine.extract.config import ExtractionConfig
    from engine.extract.pipeline import extract

    again = extract(state["clip"], ExtractionConfig.parse(MODALITIES, device="cpu"))
    fresh = [m for m, r in again.modalities.items() if not r.cached]
    if fresh:
        raise RuntimeError(f"{', '.join(fresh)} were not cached by the first extraction")
    rate = again.modalities["skeleton"].detection_rate or 0.0
    if state["real_person"] and rate < MIN_DETECTION:
        raise RuntimeError(f"the person in the demo clip was found in only {rate:.0%} of frames")
    return f"skeleton (person in {rate:.0%} of frames), flow, audio stored by the window and cached"


def _grade(state: dict[str, Any]) -> str:
    if state["model"] is None:
        raise _Skip("no grading model ships in resources/models/<protocol>/<item>/")
    from engine.grading.service import grade_recording

    store = state["store"]
    row = grade_recording(store, state["recording"], device="cpu")
    if store.latest_assessment(state["recording"]) is None:
        raise RuntimeError("the proposal was not stored")
    used = ", ".join(row["details"].get("modalities_used", []))
    return f"{state['protocol']} / {state['item']}: grade {row['grade']:g} from {used}"


def _database(state: dict[str, Any]) -> str:
    from engine.store import Store

    path = state["store"].path
    with Store(path) as again:
        problems = again.check()
        counts = again.info()["counts"]
    if problems:
        raise RuntimeError("; ".join(problems))
    shown = ("subjects", "sessions", "recordings", "extractions", "assessments")
    return "integrity ok; " + ", ".join(f"{counts[t]} {t}" for t in shown)


def _cli() -> str:
    if getattr(sys, "frozen", False):
        name = "aqa.exe" if sys.platform == "win32" else "aqa"
        command = [str(Path(sys.executable).with_name(name))]
    else:
        command = [
            sys.executable,
            "-c",
            "import sys; from engine.cli import main; sys.exit(main())",
        ]
    done = subprocess.run(
        command + ["protocols"], capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"`aqa protocols` exited {done.returncode}: {done.stderr.strip()}")
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return (
        f"`aqa protocols` listed {len(lines)} lines ({'frozen' if len(command) == 1 else 'source'})"
    )


# -- helpers -----------------------------------------------------------------------------------
def _output() -> TextIO:
    """stdout, or a file in the temporary folder when a windowed build has none (Windows)."""
    if sys.stdout is not None:
        return sys.stdout
    return open(Path(tempfile.gettempdir()) / "aqa-studio-selftest.txt", "w", encoding="utf-8")


def _runtime() -> str:
    frozen = "frozen" if getattr(sys, "frozen", False) else "from source"
    return f"{frozen}, Python {platform.python_version()}, {platform.system()} {platform.machine()}"


def _spin(qt_app, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        qt_app.processEvents()
        time.sleep(0.01)


def _wait_for_jobs(qt_app, window) -> None:
    end = time.monotonic() + EXTRACT_TIMEOUT_S
    while window.jobs.jobs:
        if time.monotonic() > end:
            window.jobs.cancel_all()
            raise TimeoutError(f"the job queue did not finish in {EXTRACT_TIMEOUT_S:.0f} s")
        qt_app.processEvents()
        time.sleep(0.02)
    qt_app.processEvents()


def _close_dialogs(qt_app, seen: list[str]) -> None:
    from PySide6.QtWidgets import QMessageBox

    dialog = qt_app.activeModalWidget()
    if dialog is not None:
        text = dialog.text() if isinstance(dialog, QMessageBox) else dialog.windowTitle()
        seen.append(text)
        dialog.reject()


def _raise_dialogs(state: dict[str, Any]) -> None:
    if state["dialogs"]:
        messages = "; ".join(state["dialogs"])
        state["dialogs"].clear()
        raise RuntimeError(f"the window showed: {messages}")


def _close(state: dict[str, Any]) -> None:
    window = state.get("window")
    if window is not None:
        window.close()
        window.deleteLater()
        state["qt_app"].processEvents()
    if state.get("store") is not None:
        state["store"].close()


def _cached_demo() -> Path | None:
    """The sports2d demo video where the tests or an earlier run cached it, if anywhere."""
    from engine.paths import cache_dir

    places = [Path(os.environ["AQA_TEST_CACHE"])] if os.environ.get("AQA_TEST_CACHE") else []
    places += [Path.home() / ".cache" / "aqa-studio-tests", cache_dir()]
    return next((p / DEMO_NAME for p in places if (p / DEMO_NAME).is_file()), None)


def _demo_frames(video: Path) -> tuple[list[np.ndarray], int]:
    """The first seconds at the video's own frame rate (the pose tracker follows the person from
    frame to frame; dropping frames loses it in fast moves) and that rate."""
    import av
    import cv2

    frames = []
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        rate = round(float(stream.average_rate or 30))
        for index, frame in enumerate(container.decode(stream)):
            if index >= CLIP_SECONDS * rate:
                break
            image = frame.to_ndarray(format="rgb24")
            size = _size(image.shape[1], image.shape[0])
            frames.append(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
    return frames, rate


def _drawn_frames() -> Iterator[np.ndarray]:
    """A figure (head, trunk, limbs) raising and lowering its arms while stepping sideways."""
    import cv2

    width, height = _size(640, 360)
    for index in range(int(CLIP_SECONDS * DRAWN_FPS)):
        phase = index / (CLIP_SECONDS * DRAWN_FPS)
        image = np.full((height, width, 3), (205, 215, 225), np.uint8)
        x, hip, shoulder = int(width * (0.35 + 0.3 * phase)), int(height * 0.6), int(height * 0.3)
        arm = np.pi * (0.25 + 0.6 * np.sin(np.pi * phase))
        cv2.circle(image, (x, shoulder - 38), 26, (224, 172, 140), -1)
        cv2.line(image, (x, shoulder), (x, hip), (40, 70, 160), 34)
        for side in (-1, 1):
            hand = (int(x + side * 90 * np.sin(arm)), int(shoulder + 90 * np.cos(arm)))
            cv2.line(image, (x + side * 14, shoulder), hand, (224, 172, 140), 14)
            foot = (x + side * 40, int(height * 0.92))
            cv2.line(image, (x + side * 10, hip), foot, (50, 50, 60), 18)
        yield image


def _tone() -> np.ndarray:
    t = np.arange(int(CLIP_SECONDS * AUDIO_RATE)) / AUDIO_RATE
    return (0.2 * np.sin(2 * np.pi * 440 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * t))).astype(
        np.float32
    )


def _size(width: int, height: int) -> tuple[int, int]:
    scale = CLIP_SIDE / min(width, height)
    return 2 * round(width * scale / 2), 2 * round(height * scale / 2)


def _write_clip(path: Path, frames: Iterable[np.ndarray], fps: int, audio: np.ndarray) -> int:
    """H.264 video + AAC audio written with PyAV; returns the number of frames."""
    import av

    count = 0
    with av.open(str(path), "w") as out:
        video = sound = None
        for image in frames:
            if video is None:  # every stream is added before the first packet is written
                video = out.add_stream("libx264", rate=fps)
                video.height, video.width = image.shape[:2]
                video.pix_fmt = "yuv420p"
                video.options = {"preset": "ultrafast"}
                sound = out.add_stream("aac", rate=AUDIO_RATE)
                sound.layout = "mono"
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            out.mux(video.encode(frame))
            count += 1
        if video is None:
            raise RuntimeError("no frames to write")
        out.mux(video.encode())
        _write_audio(out, sound, audio)
    return count


def _write_audio(out, stream, samples: np.ndarray) -> None:
    import av

    chunk = 1024
    for start in range(0, samples.size, chunk):
        part = np.ascontiguousarray(samples[None, start : start + chunk], dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(part, format="fltp", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = start
        out.mux(stream.encode(frame))
    out.mux(stream.encode())

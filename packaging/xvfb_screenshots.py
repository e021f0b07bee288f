"""Screenshots of the real window on an X server (the README's images), driven like a user would.

    AQA_HOME=/tmp/shots aqa demo
    xvfb-run -s "-screen 0 1366x768x24" python packaging/xvfb_screenshots.py OUT_DIR [VIDEO2]

Runs on the xcb platform (not offscreen), the windows filling the X screen: opens the demo session's recording, waits for its
tracks, steps to a frame with the skeleton, flow and people overlays on, grabs the X screen; then grades
again, opens the coach view against a second video (imported into the session) and the settings
dialog with the devices found, grabbing the screen each time.
"""

import sys
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from app.__main__ import dispose
from app.main_window import MainWindow
from engine.recordings import import_recording
from engine.store import Store


def wait(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def wait_for(job, limit_ms: int = 600_000) -> None:
    loop = QEventLoop()
    for signal in (job.signals.finished, job.signals.failed, job.signals.cancelled):
        signal.connect(loop.quit)
    QTimer.singleShot(limit_ms, loop.quit)
    loop.exec()


def grab(app: QApplication, target: Path) -> None:
    wait(500)
    app.primaryScreen().grabWindow(0).save(str(target))
    print(f"wrote {target}")


def main(out: Path, second_video: str | None) -> int:
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv[:1])
    store = Store()
    session = store.sessions()[0]
    first = store.recordings(session["id"])[0]
    window = MainWindow(store)
    screen = app.primaryScreen().size()
    window.resize(screen)
    window.move(0, 0)
    window.show()
    window.tree.reload()
    window.tree.select("recording", first["id"])
    wait_for(window.grade_selected())  # a fresh proposal with per-segment contributions
    window.tree.select("recording", first["id"])
    wait(4000)  # the tracks load in the worker
    window.video.seek(75)
    window.video.show_flow.setChecked(True)
    window.video.show_trails.setChecked(True)
    window.video.show_people.setChecked(True)
    grab(app, out / "main-window.png")

    if second_video:
        second = import_recording(store, session["id"], second_video, first["item"], "front")
        window.tree.reload()
        window.tree.select("recording", second["id"])
        wait_for(window.grade_selected())
        view = window.open_coach_view(first["id"], second["id"])
        while window.jobs.jobs:  # the two skeletons load in the worker
            wait(100)
        view.move(0, 0)
        view.resize(screen)
        view.seek(2.0)  # the shared clock: both videos at 2 s
        grab(app, out / "coach-view.png")
        view.close()

    dialog, job = window.settings_dialog()
    dialog.move(500, 300)
    dialog.show()
    wait_for(job)
    grab(app, out / "settings.png")
    dialog.close()
    window.close()
    store.close()
    dispose(app, window)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None))

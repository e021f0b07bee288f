"""Run by tests/test_gui_people.py on an X server: the window with the sports2d demo, the People
overlay on and a hand-over stored, a real mouse click (xdotool) on the second person's box, the
question (which says the hand-over is replaced) answered with the keyboard; writes screenshots of
the question and of the result and prints what was asked and stored, as JSON.

    xvfb-run -s "-screen 0 1920x1080x24" python tests/gui_people_probe.py OUT VIDEO
"""

import json
import subprocess
import sys
from pathlib import Path

from gui_layout_probe import wait, wait_jobs
from PySide6.QtCore import QPointF, QTimer
from PySide6.QtWidgets import QApplication, QInputDialog

from app.main_window import MainWindow
from engine.recording_subject import hand_over_at
from engine.recordings import import_recording
from engine.store import Store

SECONDS = 2.5  # the man on the box (1) and the walker (2) are both in view
REASON = "the walker is the patient"
HANDOVER_S = 2.0  # "from 2 s on the subject is person 2", stored before the click


def main(out: Path, video: str) -> int:
    app = QApplication(sys.argv[:1])
    store = Store()
    store.add_subject("PEOPLE-1")
    session = store.new_session("PEOPLE-1", "cmas", examiner="Dr People")
    rec = import_recording(store, session["id"], video, "head_elevation", "side")
    window = MainWindow(store)
    window.resize(1366, 768)
    window.move(0, 0)
    window.show()
    window.tree.select("recording", rec["id"])
    window.extract_selected()
    wait_jobs(window)
    window.overlay_actions["people"].trigger()
    window.video.seek_time(SECONDS)
    wait(500)
    before = window.review.subject["id"]
    stored = hand_over_at(store, rec["id"], HANDOVER_S, 2)["id"]
    asked = []

    def question() -> None:
        """While the question is open: its text and a screenshot of the screen."""
        dialog = QApplication.activeModalWidget()
        asked.append(dialog.labelText() if isinstance(dialog, QInputDialog) else None)
        app.primaryScreen().grabWindow(0, 0, 0, 1366, 768).save(str(out / "question.png"))

    x0, y0, x1, y1 = next(p["box"] for p in window.review.people.boxes_at(SECONDS) if p["id"] == 2)
    video = window.video
    shown = QPointF((x0 + x1) / 2 * video.display_scale, (y0 + y1) / 2 * video.display_scale)
    at = video.canvas.mapToGlobal(video.canvas.mapFromScene(video.view.mapViewToScene(shown)))
    # The click opens a modal question: the keys that answer it are sent from another process.
    keys = (
        f"xdotool mousemove {at.x()} {at.y()} click 1; sleep 2; "
        f"xdotool type --delay 20 '{REASON}'; xdotool key Return"
    )
    QTimer.singleShot(1500, question)  # the click comes at once, the typing after 2 s
    typing = subprocess.Popen(["sh", "-c", keys])
    while store.subject_choice(rec["id"])["id"] == stored or window.jobs.jobs:
        wait(100)
    typing.wait()
    wait_jobs(window)
    window.video.seek_time(SECONDS)
    wait(800)
    screen = app.primaryScreen().grabWindow(0, 0, 0, 1366, 768)
    screen.save(str(out / "people-overlay.png"))
    choice = store.subject_choice(rec["id"])
    labels = [item.textItem.toPlainText() for item in video.labels if item.isVisible()]
    report = {
        "before": before,
        "choice": {k: choice[k] for k in ("person", "how", "reason", "chosen_by", "handovers")},
        "asked": asked,
        "after": window.review.subject["id"],
        "labels": sorted(labels),
        "subject_text": window.grades.subject.text(),
        "clicked_at": [at.x(), at.y()],
        "platform": QApplication.platformName(),
    }
    window.close()
    print(json.dumps(report), flush=True)
    from app.worker import worker

    worker().stop()
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2]))

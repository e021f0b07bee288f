"""The desktop app starts, shows the record, takes a clinician grade and closes cleanly."""

import subprocess
import sys

from PySide6.QtCore import Qt

from app.main_window import MainWindow
from engine.recordings import import_recording
from engine.store import Store


def test_session_sheet_and_confirmed_grade(qtbot, vtest_video):
    with Store() as store:
        store.add_subject("GUI-1")
        session = store.new_session("GUI-1", "cmas", examiner="Dr Q")
        rec = import_recording(store, session["id"], vtest_video, "leg_raise", "side")
        store.add_user("drr", "admin", "pw-r", "Dr R")
        store.login("drr", "pw-r")  # what the login dialog at start does
        window = MainWindow(store)
        qtbot.addWidget(window)
        with qtbot.waitActive(window):
            window.show()
            window.activateWindow()
        window.tree.select("session", session["id"])
        assert window.sheet.table.rowCount() == 14
        assert window.sheet.total.text() == "Total: 0/52, 0 of 14 items rated"

        window.tree.select("recording", rec["id"])
        assert window.video.reader is not None and window.video.index == 0
        assert [b.text() for b in window.grades.group.buttons()] == ["0", "1", "2"]
        canvas = window.video.canvas
        canvas.setFocus()
        qtbot.keyClick(canvas, Qt.Key.Key_Right)
        qtbot.keyClick(canvas, Qt.Key.Key_Right)
        qtbot.keyClick(canvas, Qt.Key.Key_Left)
        assert window.video.index == 1
        qtbot.keyClick(canvas, Qt.Key.Key_2)
        qtbot.keyClick(canvas, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
        rating = store.current_rating(rec["id"])
        assert rating["grade"] == 2 and rating["rater"] == "drr"  # the user, not the examiner
        assert window.sheet.total.text() == "Total: 2/52, 1 of 14 items rated"
        assert any(a["action"] == "rate" for a in store.audit_log())
        window.close()


def test_aqa_studio_starts_and_quits():
    result = subprocess.run(
        [sys.executable, "-m", "app", "--quit-after", "300"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_screenshot_of_a_session(tmp_path):
    with Store() as store:
        store.add_subject("SHOT-1")
        store.new_session("SHOT-1", "cmas")
    target = tmp_path / "window.png"
    result = subprocess.run(
        [sys.executable, "-m", "app", "--screenshot", str(target), "--session", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    missing = subprocess.run(
        [sys.executable, "-m", "app", "--screenshot", str(target), "--session", "9"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 2 and "no session 9" in missing.stderr


GUI_SCRIPT = """
import sys
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication
from app.__main__ import dispose
from app.main_window import MainWindow
from engine.recordings import import_recording
from engine.store import Store

app = QApplication([])
store = Store()
window = MainWindow(store)
window.show()
app.processEvents()
shown = "torch" in sys.modules
store.add_subject("P-1")
session = store.new_session("P-1", "cmas")
rec = import_recording(store, session["id"], sys.argv[1], "head_elevation")
window.tree.reload()
window.tree.select("recording", rec["id"])
for start in (window.extract_selected, window.grade_selected):
    job, loop = start(), QEventLoop()
    for signal in (job.signals.finished, job.signals.failed):
        signal.connect(loop.quit)
    QTimer.singleShot(300_000, loop.quit)
    loop.exec()
graded = store.latest_assessment(rec["id"]) is not None
print(shown, "torch" in sys.modules, graded)
window.close()
store.close()
dispose(app, window)
"""


def test_the_gui_process_never_imports_torch(demo_clip, pose_models):
    """Window shown, a recording extracted and graded: torch was imported only by the worker."""
    result = subprocess.run(
        [sys.executable, "-c", GUI_SCRIPT, str(demo_clip)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-3:] == ["False", "False", "True"]

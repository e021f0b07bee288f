"""The desktop app driven like a clinician and a coach would (pytest-qt, offscreen, real videos,
real extraction and the real database)."""

import pytest
import videos
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from app.main_window import MainWindow
from engine.recordings import import_recording
from engine.store import Store


@pytest.fixture
def window(qtbot):
    store = Store()
    win = MainWindow(store)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.jobs.cancel_all()
    win.jobs.wait(30_000)
    store.close()


@pytest.fixture(autouse=True)
def dialogs(monkeypatch):
    """Sentences the app would show in warning dialogs (the box itself cannot be clicked here)."""
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: shown.append(text))
    return shown


def session_with(store: Store, video, item="head_elevation"):
    store.add_subject("GUI-S1")
    session = store.new_session("GUI-S1", "cmas", examiner="Dr G")
    return session, import_recording(store, session["id"], video, item, "side")


def reload(window, kind, row_id):
    window.tree.reload()
    window.tree.select(kind, row_id)


def test_extract_draws_overlay(window, qtbot, demo_clip, pose_models):
    _, rec = session_with(window.store, demo_clip)
    reload(window, "recording", rec["id"])
    job = window.extract_selected()
    with qtbot.waitSignal(job.signals.finished, timeout=300_000):
        pass
    assert window.store.recording_status(rec["id"])["extracted"]
    window.video.seek(30)
    assert window.video.joints.data.size > 5  # joints drawn on the frame
    assert "angle (°)" in window.timeline.plots
    window.video.show_flow.setChecked(True)
    assert window.video.flow.image is not None


def test_cancel_a_running_extraction(window, qtbot, demo_clip, pose_models):
    _, rec = session_with(window.store, demo_clip)
    reload(window, "recording", rec["id"])
    job = window.extract_selected()
    QTimer.singleShot(300, window.cancel_button.click)
    with qtbot.waitSignal(job.signals.cancelled, timeout=120_000):
        pass
    window.jobs.wait(30_000)
    assert not window.store.recording_status(rec["id"])["extracted"]


def test_bad_inputs_are_dialogs(window, qtbot, tmp_path, dialogs, vtest_video):
    window.import_video()
    assert dialogs[-1] == "Select a session to import the video into."
    window.extract_selected()
    assert dialogs[-1] == "Select a recording to extract."
    window.new_session()
    assert dialogs[-1] == "Add a subject first (File > New subject)."
    store = window.store
    _, rec = session_with(store, vtest_video)
    broken = videos.text_named_mp4(tmp_path / "notes.mp4")
    store.db["recordings"].update(rec["id"], {"path": str(broken)})
    reload(window, "recording", rec["id"])
    assert "notes.mp4" in dialogs[-1] and "\n" not in dialogs[-1]
    window.grades.choose(9)
    window.confirm_grade(9, "")
    assert dialogs[-1].startswith("Grade 9 is not valid for Head elevation")
    assert store.ratings(rec["id"]) == []


def test_coach_view_plays_two_videos(window, qtbot, demo_clip, vtest_video):
    store = window.store
    session, first = session_with(store, demo_clip)
    second = import_recording(store, session["id"], vtest_video, "head_elevation")
    view = window.open_coach_view(first["id"], second["id"])
    qtbot.addWidget(view)
    view.toggle_play()
    qtbot.wait(600)
    view.toggle_play()
    assert view.left.index > 0 and view.right.index > 0
    t_left = view.left.reader.time_of(view.left.index)
    t_right = view.right.reader.time_of(view.right.index)
    assert abs(t_left - t_right) < 0.11  # one frame of the 10 fps video
    view.left.seek(30)
    view.mark_starts()
    view.seek(0.5)
    assert view.left.reader.time_of(view.left.index) == pytest.approx(1.5, abs=0.05)
    view.close()
    assert QApplication.instance() is not None

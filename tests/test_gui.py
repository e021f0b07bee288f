"""The desktop app driven like a clinician and a coach would (pytest-qt, offscreen, real videos,
real extraction and the real database)."""

import numpy as np
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
    assert window.tree.currentItem().text(1) == "○ not extracted"
    job = window.extract_selected()
    assert window.tree.currentItem().text(1) == "⟳ extracting"
    with qtbot.waitSignal(job.signals.finished, timeout=300_000):
        pass
    assert window.store.recording_status(rec["id"])["extracted"]
    assert window.tree.currentItem().text(1) == "◐ extracted"
    window.video.seek(30)
    assert window.video.joints.data.size > 5  # joints drawn on the frame
    assert "angle (°)" in window.timeline.plots
    window.video.show_flow.setChecked(True)
    assert window.video.flow.image is not None


def test_rows_shown_later_draw_the_playhead_where_the_video_is(
    window, qtbot, demo_clip, pose_models
):
    """The video stepped to 2 s while the recording is extracted: the timeline rows that appear
    afterwards draw their playhead at 2 s, where the video is (they drew it at 0 until the next
    frame step)."""
    _, rec = session_with(window.store, demo_clip)
    reload(window, "recording", rec["id"])
    window.video.seek_time(2.0)
    seconds = window.video.reader.time_of(window.video.index)
    assert seconds == pytest.approx(2.0, abs=0.05)
    with qtbot.waitSignal(window.extract_selected().signals.finished, timeout=300_000):
        pass
    qtbot.waitUntil(lambda: "angle (°)" in window.timeline.plots)
    assert len(window.timeline.playheads) == 3  # angles, motion, audio
    assert [line.value() for line in window.timeline.playheads] == [seconds] * 3


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


def test_event_loop_stays_responsive_during_an_extraction(window, qtbot, demo_clip, pose_models):
    """A 10 ms timer keeps ticking while the worker extracts: no gap reaches 100 ms.

    The objects hundreds of earlier tests left in this process are moved out of the garbage
    collector's reach first (``gc.freeze``): the app's own GUI process never holds them, and a
    full collection over them is not what this test measures. Collections still run; each one's
    length is reported with a failure.
    """
    import gc
    import time

    _, rec = session_with(window.store, demo_clip)
    reload(window, "recording", rec["id"])
    ticks: list[float] = []
    collections: list[float] = []
    started: list[float] = []

    def note_gc(phase, info):
        if phase == "start":
            started.append(time.perf_counter())
        elif started:
            collections.append(time.perf_counter() - started.pop())

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    gc.collect()
    gc.freeze()
    gc.callbacks.append(note_gc)
    try:
        timer.start()
        job = window.extract_selected()
        with qtbot.waitSignal(job.signals.finished, timeout=300_000):
            pass
        timer.stop()
    finally:
        gc.callbacks.remove(note_gc)
        gc.unfreeze()
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    assert len(ticks) > 50, "the extraction was too short to measure"
    longest = max(collections, default=0.0) * 1000
    assert max(gaps) < 0.1, (
        f"the event loop stalled for {max(gaps) * 1000:.0f} ms "
        f"({len(collections)} garbage collections, the longest {longest:.0f} ms)"
    )
    assert window.store.recording_status(rec["id"])["extracted"]


def test_grade_a_recording_then_confirm(window, qtbot, demo_video, pose_models):
    """Grade with the shipped demo model: distribution, chips, per-segment contributions in the
    timeline; then the clinician's grade is stored and the session total follows."""
    session, rec = session_with(window.store, demo_video, item="head_elevation")
    reload(window, "recording", rec["id"])
    job = window.grade_selected()
    with qtbot.waitSignal(job.signals.finished, timeout=300_000):
        pass
    proposal = window.store.latest_assessment(rec["id"])
    assert proposal is not None and proposal["details"]["demo"]
    assert window.grades.summary.text().startswith("Most likely grade")
    assert "[DEMO model" in window.grades.model.text()
    segments = proposal["details"]["segments"]
    assert len(segments["contribution"]) == len(segments["start"]) >= 2
    assert any(v != 0 for v in segments["contribution"])
    assert "contribution" in window.timeline.plots
    window.grades.choose(4)
    window.grades.reason.setText("held 20 s, steady")
    window.grades.confirm.click()
    rating = window.store.current_rating(rec["id"])
    assert rating["grade"] == 4 and rating["reason"] == "held 20 s, steady"
    assert window.sheet.total.text().startswith("Total: 4/52, 1 of 14 items rated")
    when = rating["created_at"][:16].replace("T", " ")  # stored in UTC, and said to be
    assert window.grades.current.text() == f"Current: 4 by {rating['rater']} ({when} UTC)"


@pytest.mark.parametrize("family", ["dualalign", "mcmoe"])
def test_grade_with_a_chosen_model_of_each_family(
    family, window, qtbot, demo_clip, pose_models, monkeypatch
):
    """Recording > Grade with a model…: the item's models are listed by the worker (the shipped
    MCMoE and DualAlign demos, the active one first) and the chosen one grades the real video."""
    from PySide6.QtWidgets import QInputDialog

    session, rec = session_with(window.store, demo_clip, item="head_elevation")
    reload(window, "recording", rec["id"])
    offered = []

    def pick(parent, title, label, items, current, editable):
        offered.extend(items)
        return next(i for i in items if i.startswith(family)), True

    monkeypatch.setattr(QInputDialog, "getItem", pick)
    job = window.choose_model()
    with qtbot.waitSignal(job.signals.finished, timeout=120_000):
        pass
    qtbot.waitUntil(lambda: window.store.latest_assessment(rec["id"]) is not None, timeout=300_000)
    assert len(offered) == 2 and "active" in offered[0] and "DEMO" in offered[1]
    proposal = window.store.latest_assessment(rec["id"])
    assert proposal["model_id"].startswith(f"{family}/cmas/head_elevation/")
    qtbot.waitUntil(lambda: family in window.grades.model.text(), timeout=30_000)


def test_limssr_grades_through_the_worker_with_the_settings_llm_folder(
    window, qtbot, tmp_path, monkeypatch, demo_clip, capsys
):
    """A LIMSSR model needs its local language model: the Settings' LLM folder reaches the
    worker, which grades the demo video with it; the proposal is in the session's report."""
    from test_limssr import registered_limssr

    from engine.cli import main

    monkeypatch.setenv("AQA_LLM_PATH", "")  # restored after the test, whatever the window sets
    monkeypatch.delenv("AQA_LLM_PATH")
    model_id, backbone = registered_limssr(tmp_path)
    session, rec = session_with(window.store, demo_clip, item="head_elevation")
    reload(window, "recording", rec["id"])
    window.settings.set("llm_path", str(backbone))
    job = window.grade_selected(model_id)
    with qtbot.waitSignal(job.signals.finished, timeout=300_000):
        pass
    proposal = window.store.latest_assessment(rec["id"])
    assert proposal["model_id"] == "limssr/cmas/head_elevation/v1"
    assert set(proposal["details"]["modalities_used"]) == {"flow", "audio"}
    assert main(["report", str(session["id"]), "--pdf", str(tmp_path / "s.pdf")]) == 0
    capsys.readouterr()
    assert main(["report", str(session["id"]), "--json"]) == 0
    assert "limssr/cmas/head_elevation/v1" in capsys.readouterr().out


def test_settings_dialog_lists_the_devices_found(window, qtbot):
    dialog, job = window.settings_dialog()
    with qtbot.waitSignal(job.signals.finished, timeout=120_000):
        pass
    text = dialog.found.text()
    assert text.startswith("CPU:") and "torch" in text and "onnxruntime" in text
    dialog.deleteLater()


def test_settings_refuse_unusable_files(window, tmp_path, dialogs):
    dialog, _ = window.settings_dialog()
    dialog.paths["pose_models"].setText(str(tmp_path))
    dialog.accept()
    assert dialogs[-1] == (
        f"The BlazePose folder {tmp_path} does not hold pose_detection.tflite and "
        "pose_landmark_full.tflite."
    )
    dialog.paths["pose_models"].setText("")
    dialog.skeleton.setCurrentText("onnx")
    dialog.accept()
    assert dialogs[-1] == "The onnx skeleton backend needs an ONNX pose model file."
    assert window.settings.get("skeleton_backend") == "blazepose"  # nothing was saved
    dialog.skeleton.setCurrentText("blazepose")
    dialog.device.setCurrentText("cpu")
    dialog.accept()
    assert window.settings.get("device") == "cpu"
    dialog.deleteLater()


def _accept_modal(fill):
    """Fill and accept the modal dialog that is about to open (its exec() blocks the test)."""

    def run():
        dialog = QApplication.activeModalWidget()
        fill(dialog)
        dialog.accept()

    QTimer.singleShot(200, run)


def test_import_a_real_video_through_the_dialog(window, demo_clip, tmp_path, dialogs):
    store = window.store
    store.add_subject("GUI-S1")
    session = store.new_session("GUI-S1", "cmas", examiner="Dr G")
    reload(window, "session", session["id"])

    def fill(dialog):
        dialog.item.setCurrentIndex(dialog.item.findData("sit_ups"))
        dialog.view.setCurrentText("side")

    _accept_modal(fill)
    window.import_video(demo_clip)
    (rec,) = store.recordings(session["id"])
    assert (rec["item"], rec["view"]) == ("sit_ups", "side")
    assert window.recording_id == rec["id"] and window.video.reader is not None
    assert window.settings.get("last_folder") == str(demo_clip.parent)

    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video")
    _accept_modal(lambda dialog: None)
    window.import_video(notes)
    assert "notes.mp4" in dialogs[-1] and "\n" not in dialogs[-1]
    assert len(store.recordings(session["id"])) == 1


def test_settings_refuse_an_unwritable_data_directory(window, tmp_path, dialogs):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    dialog, _ = window.settings_dialog()
    dialog.data_dir.setText(str(blocker / "data"))
    dialog.accept()
    assert dialogs[-1].startswith(f"The data directory {blocker / 'data'} cannot be written (")
    assert window.settings.get("data_dir") == ""
    dialog.data_dir.setText(str(tmp_path / "new-home"))
    dialog.accept()
    assert window.settings.get("data_dir") == str(tmp_path / "new-home")
    dialog.deleteLater()


def test_window_layout_is_remembered(qtbot, window):
    window.resize(780, 700)  # inside the offscreen screen (800 x 800), so Qt keeps it
    window.splitter.setSizes([300, 200, 260])
    chosen = window.splitter.sizes()
    window.close()
    again = MainWindow(window.store, window.settings)
    qtbot.addWidget(again)
    again.show()
    assert again.size() == window.size()
    assert again.splitter.sizes() == chosen
    again.close()


def test_train_the_items_model_from_the_window(window, qtbot, tmp_path, dialogs):
    """Confirmed grades train a model in the worker: refused with too few, then cross-validated,
    trained and activated in place of the demo model."""
    import numpy as np
    from test_learning import generated_recording

    rng = np.random.default_rng(3)
    store = window.store
    rated = []
    for s in range(6):
        store.add_subject(f"T{s}")
        session = store.new_session(f"T{s}", "cmas")
        for r in range(2):
            grade = int(rng.integers(0, 6))
            video = generated_recording(tmp_path / f"{s}-{r}.mp4", grade, rng)
            rated.append((import_recording(store, session["id"], video, "head_elevation"), grade))
    for rec, grade in rated[:8]:
        store.rate(rec["id"], grade)
    reload(window, "recording", rated[0][0]["id"])
    window.train_item()
    refused = "Training needs at least 10 clinician-rated recordings"
    qtbot.waitUntil(lambda: bool(dialogs) and dialogs[-1].startswith(refused), timeout=300_000)
    window.jobs.wait(30_000)
    for rec, grade in rated[8:]:
        store.rate(rec["id"], grade)
    job = window.train_item()
    with qtbot.waitSignal(job.signals.finished, timeout=600_000):
        pass
    active = store.active_model("cmas", "head_elevation")
    assert not active["demo"] and active["metrics"]["samples"] == 12
    assert "cross-validated SRCC" in window.status_text.text()
    assert "now active" in window.status_text.text()


def test_missing_weight_file_is_a_dialog_and_the_rest_is_extracted(
    window, qtbot, demo_clip, tmp_path, dialogs
):
    """The ONNX pose model chosen in the settings has gone: a dialog names it; flow and audio
    are still extracted and shown."""
    gone = tmp_path / "rtmpose.onnx"
    window.settings.set("skeleton_backend", "onnx")
    window.settings.set("onnx_pose_model", str(gone))
    _, rec = session_with(window.store, demo_clip)
    reload(window, "recording", rec["id"])
    job = window.extract_selected()
    with qtbot.waitSignal(job.signals.finished, timeout=300_000):
        pass
    assert str(gone) in dialogs[-1] and "\n" not in dialogs[-1]
    assert "motion" in window.timeline.plots and "angle (°)" not in window.timeline.plots


def test_pdf_report_is_written_by_the_worker(
    window, qtbot, demo_clip, pose_models, tmp_path, dialogs
):
    """File > Export > Session report: the PDF and its key frame (decoded from the video) are
    made in the worker process while the window stays live (they ran on the GUI thread)."""
    import subprocess

    session, rec = session_with(window.store, demo_clip)
    reload(window, "recording", rec["id"])
    with qtbot.waitSignal(window.extract_selected().signals.finished, timeout=300_000):
        pass
    window.jobs.wait(30_000)
    target = tmp_path / "report.pdf"
    qtbot.wait(50)
    window.tree.select("session", session["id"])
    window._save_name = lambda *_: target
    job = window.export_pdf()
    assert job is not None, "the report was written on the GUI thread"
    assert not target.exists()
    ended = []  # how the job ended: a failure says why instead of waiting out the timeout
    job.signals.finished.connect(lambda _: ended.append("finished"))
    job.signals.failed.connect(lambda message: ended.append(f"failed: {message}"))
    job.signals.cancelled.connect(lambda: ended.append("cancelled"))
    qtbot.waitUntil(lambda: bool(ended), timeout=300_000)
    assert ended == ["finished"], (ended, dialogs)
    assert window.status_text.text() == f"Report written: {target}"
    images = subprocess.run(["pdfimages", "-list", str(target)], capture_output=True, text=True)
    assert len(images.stdout.strip().splitlines()) >= 3  # header, rule, the key frame


def test_coach_view_labels_refuses_and_draws_seconds(
    window, qtbot, demo_video, vtest_video, pose_models, dialogs, tmp_path
):
    """A and B named by subject, item and date; two items refused in one sentence; the
    per-segment difference drawn as bars over the segments' seconds (the whole demo against 7 s
    of vtest: three segments of 3.2 s at most at the fast profile)."""
    import pyqtgraph as pg

    store = window.store
    session, first = session_with(store, demo_video)
    other = import_recording(store, session["id"], vtest_video, "sit_ups")
    assert window.open_coach_view(first["id"], other["id"]) is None
    assert dialogs[-1] == (
        "Only recordings of one item can be compared: A is Head elevation (neck flexion) (0–5), "
        "B is Sit-ups (six variants) (0–6)."
    )
    # vtest's first 21 s (10 fps) written at 30 fps: a 7-s video
    short = videos.clip(vtest_video, tmp_path / "vtest-7s.mp4", 21.0, 288, audio=None)
    second = import_recording(store, session["id"], short, "head_elevation")
    for rec in (first, second):
        reload(window, "recording", rec["id"])
        with qtbot.waitSignal(window.grade_selected().signals.finished, timeout=300_000):
            pass
    view = window.open_coach_view(first["id"], second["id"])
    qtbot.addWidget(view)
    date = session["date"]
    assert view.labels[0].text() == f"A: GUI-S1, Head elevation (neck flexion), {date}"
    assert view.labels[1].text() == f"B: GUI-S1, Head elevation (neck flexion), {date}"
    assert view.chart.getAxis("bottom").labelText == "time in A (s)"
    (bars,) = [i for i in view.chart.getPlotItem().items if isinstance(i, pg.BarGraphItem)]
    starts, ends = np.asarray(bars.opts["x0"]), np.asarray(bars.opts["x1"])
    assert len(starts) == 3 and starts[0] == 0 and ends[-1] <= 7.8  # seconds of the 7.7-s A
    assert np.all(ends - starts > 1.0)  # segments of seconds, not bars 0.8 wide at their index
    view.close()


def test_mark_labels_are_placed_on_the_rows_current_geometry(qtbot):
    """Widened from 150 to 1200 pixels, the timeline shows all four swap labels, each clear of
    the others; the stacking measured the labels through the view's previous transform (it is
    updated lazily, at the next paint), so on some resizes it hid labels that fit (two of four
    here; one of four in a full-suite run of the people test)."""
    from app.timeline import Timeline

    timeline = Timeline()
    qtbot.addWidget(timeline)
    timeline.resize(150, 300)
    timeline.show()
    t = np.linspace(0.0, 80.0, 801)
    timeline.set_row("angle (°)", t, {"neck": np.sin(t)})
    timeline.set_row("motion", t, {"mean speed": np.cos(t)})
    timeline.set_marks([(s, f"swap? {s:.1f} s") for s in (16.0, 20.9, 23.4, 36.6)])
    qtbot.wait(100)
    timeline.resize(1200, 300)
    qtbot.wait(200)
    top = next(iter(timeline.plots.values()))
    labels = [line.label for plot, line in timeline.mark_lines if plot is top]
    assert [label.isVisible() for label in labels] == [True] * 4
    boxes = [label.sceneBoundingRect() for label in labels]
    assert not any(a.intersects(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])

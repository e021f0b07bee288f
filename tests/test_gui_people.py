"""The people of a recording in the window (issue #15, GUI): the People overlay draws everyone's
box with its id, a click on a person makes them the recording's subject (stored, audited, under
the logged-in user), the skeleton follows them afterwards and the proposal made before is stale;
"from here on the subject is person…" stores a hand-over; a click on nobody changes nothing.
From the real sports2d demo through the worker to the database (pytest-qt, offscreen)."""

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import videos
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QInputDialog
from test_gui import dialogs, reload, session_with, window  # noqa: F401 (fixtures)
from test_gui_soak import xvfb_run
from test_subject_extraction import skeleton_model

from engine.review import holders

SECONDS = 2.5  # both the man on the box (1) and the walker (2) are in view


def wait(qtbot, win, timeout=600_000):
    """Until the window's job queue is empty (a fast job may end before its signal could be
    waited for)."""
    qtbot.waitUntil(lambda: not win.jobs.jobs, timeout=timeout)


def click(win, qtbot, x: float, y: float) -> None:
    """A real mouse click on the video at (x, y) upright video pixels."""
    video = win.video
    shown = QPointF(x * video.display_scale, y * video.display_scale)
    at = video.canvas.mapFromScene(video.view.mapViewToScene(shown))
    qtbot.mouseClick(video.canvas.viewport(), Qt.MouseButton.LeftButton, pos=at)


def box_of(win, person: int, seconds: float) -> np.ndarray:
    found = {p["id"]: p["box"] for p in win.review.people.boxes_at(seconds)}
    return np.asarray(found[person])


def share_in_box(win, person: int) -> float:
    """The share of sampled frames where ``person`` is seen and the drawn skeleton's hip centre
    lies inside their box (both in displayed pixels)."""
    people, video = win.review.people, win.video
    k = people.column(person)
    inside = []
    for row in np.flatnonzero(people.present[:, k]):
        pose = video.skeleton[np.argmin(np.abs(video.skeleton_times - people.times[row]))]
        if pose[11:13, 2].min() < 0.3:
            continue
        x, y = pose[11:13, :2].mean(axis=0) / video.display_scale
        x0, y0, x1, y1 = people.boxes[row, k]
        inside.append(x0 <= x <= x1 and y0 <= y <= y1)
    return float(np.mean(inside))


def test_click_a_person_to_make_them_the_subject(
    window,  # noqa: F811
    qtbot,
    demo_clip,
    pose_models,
    tmp_path,
    monkeypatch,
    dialogs,  # noqa: F811
):
    store = window.store
    store.add_user("ana", "admin", "ana-password-1", "Ana Clinician")
    store.login("ana", "ana-password-1")
    # the worker's login, from the environment as a script gives it
    monkeypatch.setenv("AQA_USER", "ana")
    monkeypatch.setenv("AQA_PASSWORD", "ana-password-1")
    session, rec = session_with(store, demo_clip)
    model = skeleton_model(store, tmp_path / "mcmoe")
    reload(window, "recording", rec["id"])
    assert window.extract_selected()
    wait(qtbot, window)
    review = window.review
    assert review.people.ids == (1, 2) and review.subject["id"] == 1
    text = window.grades.subject.text()
    assert text == "Subject: person 1, chosen automatically among 2 people"
    assert share_in_box(window, 1) > 0.9
    assert window.grade_selected(model["id"])
    wait(qtbot, window)
    assert store.latest_assessment(rec["id"])["stale"] is None

    # The People overlay (View menu, remembered): both boxes with their ids, the subject's green.
    window.overlay_actions["people"].trigger()
    assert window.video.show_people.isChecked()
    assert window.settings.qt.value("overlay/people", type=bool)
    window.video.seek_time(SECONDS)
    labels = [item.textItem.toPlainText() for item in window.video.labels if item.isVisible()]
    assert sorted(labels) == ["person 1 (subject)", "person 2"]
    subject_xs = window.video.subject_box.getData()[0] / window.video.display_scale
    assert subject_xs.min() == pytest.approx(box_of(window, 1, SECONDS)[0], abs=0.5)

    # A click on nobody (the top right corner): the status line says so, nothing is asked.
    asked = []
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: asked.append(a[2]) or ("", True))
    click(window, qtbot, review.people.image_size[0] - 3, 3)
    assert window.status_text.text().startswith("Nobody is at ")
    assert not asked and store.subject_choice(rec["id"]) is None and not window.jobs.jobs

    # A click on the walker asks, then stores the choice, extracts again and re-targets.
    monkeypatch.setattr(
        QInputDialog,
        "getText",
        lambda *a, **k: asked.append(a[2]) or ("the walker is the patient", True),
    )
    x0, y0, x1, y1 = box_of(window, 2, SECONDS)
    click(window, qtbot, (x0 + x1) / 2, (y0 + y1) / 2)
    assert "Make person 2 the subject of this recording?" in asked[-1]
    assert "hand-over" not in asked[-1]  # none stored yet
    wait(qtbot, window)
    choice = store.subject_choice(rec["id"])
    assert (choice["person"], choice["chosen_by"]) == (2, "ana")
    assert choice["reason"] == "the walker is the patient" and "@2.5" in choice["how"]
    entry = next(e for e in store.audit_log(limit=20) if e["table_name"] == "subject_choices")
    assert (entry["actor"], entry["action"], entry["row_id"]) == (
        "ana",
        "choose_subject",
        choice["id"],
    )
    assert window.review.subject["id"] == 2 and window.review.choice["id"] == choice["id"]
    assert window.grades.subject.text().startswith("Subject: person 2 (set by ana on ")
    assert share_in_box(window, 2) > 0.9  # the skeleton overlay follows the walker now
    labels = [item.textItem.toPlainText() for item in window.video.labels if item.isVisible()]
    assert sorted(labels) == ["person 1", "person 2 (subject)"]
    stale = store.latest_assessment(rec["id"])["stale"]
    assert stale.startswith("Made for person 1; the subject is now person 2")
    assert stale in window.grades.flags.text()  # the grade panel shows it...
    node = window.tree.currentItem()  # ...and the tree
    assert node.text(1).startswith("● stale  ⚠") and stale in node.toolTip(1)

    # "From here on the subject is person 1", at 2.0 s.
    window.video.seek_time(2.0)
    offered = []
    monkeypatch.setattr(
        QInputDialog, "getItem", lambda *a, **k: offered.append(a[3]) or ("person 1", True)
    )
    assert window.hand_over_here() is not None
    assert offered == [["person 1", "person 2"]]
    wait(qtbot, window)
    choice = store.subject_choice(rec["id"])
    assert (choice["person"], choice["handovers"]) == (2, [(round(window.video.seconds(), 3), 1)])
    assert len(store.subject_choices(rec["id"])) == 2
    labels = [getattr(line, "label", None) for _, line in window.timeline.mark_lines]
    swaps = [f"swap? {t:.1f} s" for t in window.review.subject["swaps"]]
    assert [label.format for label in labels if label] == [*swaps, "→ person 1"]
    assert "person 1 from 2.0 s" in window.grades.subject.text()

    # A click now would replace that hand-over: the question says so (answered No here).
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: asked.append(a[2]) or ("", False))
    click(window, qtbot, (x0 + x1) / 2, (y0 + y1) / 2)
    replaced = f"This replaces the hand-overs stored for it:\n• person 1 from {choice['handovers'][0][0]:.2f} s"
    assert replaced in asked[-1]
    assert not window.jobs.jobs and len(store.subject_choices(rec["id"])) == 2

    # A signed session refuses a new choice with its one sentence.
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("", True))
    store.sign(session["id"], "reviewed", "ana-password-1")
    click(window, qtbot, (x0 + x1) / 2, (y0 + y1) / 2)
    wait(qtbot, window)
    assert "is signed" in dialogs[-1] and len(store.subject_choices(rec["id"])) == 2


def test_swaps_are_marked_on_the_timeline(window, qtbot, vtest_video, clip_dir, pose_models):  # noqa: F811
    """vtest.avi's pedestrians (the whole clip: shorter cuts have no likely swap with today's
    tracker): the automatic subject's likely identity swaps are vertical marks on every timeline
    row, labelled on the top one; the subject is named in the ids the People overlay shows
    (those of the reference sampling)."""
    _, rec = session_with(window.store, vtest_video)
    reload(window, "recording", rec["id"])
    assert window.extract_selected()
    wait(qtbot, window)
    review = window.review
    swaps = review.subject["swaps"]
    assert swaps, "this clip no longer has a likely swap: choose one that has"
    rows = list(window.timeline.plots.values())
    assert len(window.timeline.mark_lines) == len(swaps) * len(rows) and len(rows) >= 2
    top = [line for plot, line in window.timeline.mark_lines if plot is rows[0]]
    assert [line.value() for line in top] == pytest.approx(swaps)
    assert [line.label.format for line in top] == [f"swap? {t:.1f} s" for t in swaps]
    assert [line.toolTip() for line in top] == [f"swap? {t:.1f} s" for t in swaps]
    # labels of swaps a few seconds apart overlapped: they are stacked, or hidden where none fits
    shown = [line.label.sceneBoundingRect() for line in top if line.label.isVisible()]
    assert len(shown) >= 3 and top[0].label.isVisible()
    assert not any(a.intersects(b) for i, a in enumerate(shown) for b in shown[i + 1 :])
    held = holders(review.people, review.skeleton, review.skeleton_times)
    assert review.subject["id"] == np.bincount(held[held > 0]).argmax() > 0
    assert window.grades.subject.text() == (
        f"Subject: person {review.subject['id']}, chosen automatically among "
        f"{len(review.people.ids)} people"
    )


def test_a_click_on_a_turned_phone_video_is_in_upright_pixels(
    window,  # noqa: F811
    qtbot,
    demo_video,
    clip_dir,
    pose_models,
    monkeypatch,
    dialogs,  # noqa: F811
):
    """A portrait phone video (stored sideways, rotation 270) shown scaled down: the click is
    stored as the point in upright video pixels, inside the person's box. Before the extraction
    a click asks for it."""
    path = clip_dir / "portrait-1440-2s.mp4"
    videos.portrait_rotated(demo_video, path, seconds=2.0, short_side=1440)
    _, rec = session_with(window.store, path)
    reload(window, "recording", rec["id"])
    video = window.video
    video.show_people.setChecked(True)
    click(window, qtbot, 100, 300)
    assert dialogs[-1] == "Extract the recording (Ctrl+E) to see the people in it."
    assert window.extract_selected()
    wait(qtbot, window)
    width, height = video.reader.size
    assert height > width and video.display_scale < 0.9
    video.seek_time(1.0)
    x0, y0, x1, y1 = box_of(window, 1, 1.0)
    x, y = (max(x0, 0) + min(x1, video.reader.info.width)) / 2, (y0 + y1) / 2
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("", True))
    click(window, qtbot, x, y)
    wait(qtbot, window)
    choice = window.store.subject_choice(rec["id"])
    assert choice["person"] == 1 and choice["reason"] is None
    px, py = (float(v) for v in choice["how"].split("@")[0].split(","))
    assert abs(px - x) < 2 and abs(py - y) < 2


def test_overlay_video_follows_the_recordings_subject(
    window,  # noqa: F811
    qtbot,
    demo_clip,
    pose_models,
    tmp_path,
    dialogs,  # noqa: F811
):
    """File > Export > Overlay video of a recording whose subject is the walker (person 2): the
    video written in the worker draws the walker's skeleton, as ``render(person="2")`` does, not
    the automatic subject's (the export ignored the recording's choice and drew person 1)."""
    import av

    from engine.recording_subject import choose
    from engine.render import render

    def frames(path: Path) -> np.ndarray:
        with av.open(str(path)) as container:
            return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])

    session, rec = session_with(window.store, demo_clip)
    assert choose(window.store, rec["id"], "2")["person"] == 2
    reload(window, "recording", rec["id"])
    target = tmp_path / "overlay.mp4"
    window._save_name = lambda *_: target
    assert window.export_overlay() is not None
    wait(qtbot, window)
    assert not dialogs and window.status_text.text() == f"Overlay video written: {target}"
    exported = frames(target).astype(np.int16)
    walker = frames(render(demo_clip, tmp_path / "walker.mp4", person="2"))
    automatic = frames(render(demo_clip, tmp_path / "automatic.mp4"))
    assert exported.shape == walker.shape == automatic.shape
    assert np.abs(exported - walker).mean() < 0.05  # the same pictures (0.0 here)
    assert np.abs(exported - automatic).mean() > 1.0  # person 1's skeleton instead (3.1)


@pytest.mark.slow
def test_click_a_person_on_a_real_x_server(demo_clip, pose_models, tmp_path):
    """The real window on Xvfb, a hand-over stored: xdotool clicks the walker's box, types the
    reason and presses Return; the question said the hand-over is replaced, the choice is stored
    without it and the screenshots show the question and the People overlay (looked at)."""
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed (Debian/Ubuntu: apt-get install xdotool)")
    probe = Path(__file__).with_name("gui_people_probe.py")
    done = xvfb_run([sys.executable, str(probe), str(tmp_path), str(demo_clip)],
                    dict(os.environ), 600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["platform"] == "xcb"
    assert (report["before"], report["after"]) == (1, 2)
    choice = report["choice"]
    assert choice["person"] == 2 and choice["reason"] == "the walker is the patient"
    assert "@2.5" in choice["how"] and choice["handovers"] == []
    (question,) = report["asked"]
    assert "Make person 2 the subject of this recording?" in question
    assert "This replaces the hand-overs stored for it:\n• person 2 from 2.00 s" in question
    assert report["labels"] == ["person 1", "person 2 (subject)"]
    assert report["subject_text"].startswith("Subject: person 2 (set by ")
    assert (tmp_path / "people-overlay.png").stat().st_size > 50_000
    assert (tmp_path / "question.png").stat().st_size > 50_000


@pytest.mark.usefixtures("pose_models")
def test_a_graded_recording_shows_the_skeleton_its_grade_came_from(
    window,  # noqa: F811
    qtbot,
    demo_clip,
    tmp_path,
    dialogs,  # noqa: F811
):
    """A recording graded without an extraction (a model on the fast profile, the Settings on
    the full one): the window draws the skeleton the proposal read, found in the cache, after the
    grading and again when the recording is selected (it drew nothing, and once extracted it
    extracted again at the Settings' profile and drew that); Extract still extracts with the
    Settings."""
    session, rec = session_with(window.store, demo_clip)
    model = skeleton_model(window.store, tmp_path / "mcmoe")
    reload(window, "recording", rec["id"])
    wait(qtbot, window)
    assert window.review is None  # neither extracted nor graded: nothing to draw yet
    assert window.grade_selected(model["id"]) is not None
    wait(qtbot, window)
    graded = window.store.latest_assessment(rec["id"])["details"]
    shown = window.review.extraction.modalities["skeleton"]
    assert shown.cache_key == graded["cache_keys"]["skeleton"] and shown.cached
    assert window.status_text.text().startswith("Proposal: grade ")
    assert window.review.skeleton is not None
    assert set(window.review.rows) == {"angle (°)", "audio", "motion"}  # the Settings' flow too
    assert window.review.extraction.config.profile == "fast"
    assert window.grades.subject.text() == "Subject: person 1, chosen automatically among 2 people"
    reload(window, "session", session["id"])
    reload(window, "recording", rec["id"])
    wait(qtbot, window)
    assert window.review.extraction.modalities["skeleton"].cache_key == shown.cache_key
    window.extract_selected()
    wait(qtbot, window)
    extracted = window.review.extraction
    assert extracted.config.profile == "full" and not extracted.modalities["skeleton"].cached
    assert extracted.modalities["skeleton"].cache_key != shown.cache_key
    assert not dialogs


def test_grading_the_session_updates_the_recording_shown(
    window,  # noqa: F811
    qtbot,
    demo_clip,
    pose_models,
    dialogs,  # noqa: F811
):
    """Recording > Grade session while one of its recordings is shown: the grade panel shows
    the new proposal and the video its skeleton (both stayed as before the grading)."""
    _, rec = session_with(window.store, demo_clip)
    reload(window, "recording", rec["id"])
    wait(qtbot, window)
    assert window.review is None and window.grades.model.text() == ""
    assert window.grade_session() is not None
    wait(qtbot, window)
    proposal = window.store.latest_assessment(rec["id"])
    assert window.status_text.text() == "Graded 1 recording"  # stays once the tracks show
    assert window.grades.model.text().startswith(f"Model {proposal['model_id']}")
    shown = window.review.extraction.modalities["skeleton"].cache_key
    assert shown == proposal["details"]["cache_keys"]["skeleton"]
    assert not dialogs

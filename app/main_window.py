"""The main window: the record on the left, the video and its timeline in the centre, the grade
panel and the session sheet on the right; engine work runs in the job queue. The subject of a
recording is chosen here by clicking a person on the video (People overlay) or handed over to
another person from the current time on (Recording menu)."""

import logging
import os
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QSplitter,
)

from app import work
from app.coach_view import CoachView
from app.dialogs import ImportDialog, SessionDialog, SettingsDialog, SubjectDialog, show_error
from app.grade_panel import GradePanel, subject_text
from app.jobs import Job, JobQueue
from app.session_sheet import SessionSheet
from app.session_tree import SessionTree
from app.settings import Settings
from app.timeline import Timeline
from app.video_view import VideoView
from engine.errors import AqaError, InputError
from engine.people.subject import person_at
from engine.protocols import get_protocol
from engine.recordings import import_recording
from engine.store import Store

log = logging.getLogger(__name__)
LAST_PLACE, LAST_FRAME = "last/place", "last/frame"
OVERLAY_KEYS = {"people": "Ctrl+Shift+P"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"}


def model_label(model: dict) -> str:
    """``dualalign v1 — candidate, DEMO, CV SRCC 0.806`` for the model chooser."""
    srcc = (model.get("metrics") or {}).get("cv_srcc")
    parts = [model["status"]] + ["DEMO"] * bool(model["demo"])
    parts += [] if srcc is None else [f"CV SRCC {srcc:.3f}"]
    return f"{model['name']} v{model['version']} — {', '.join(parts)}"


class MainWindow(QMainWindow):
    def __init__(self, store: Store, settings: Settings | None = None):
        super().__init__()
        self.store = store
        self.settings = settings or Settings()
        self.jobs = JobQueue(self)
        self.recording_id: int | None = None
        self.review = None  # engine.review.ReviewData of the recording shown, once loaded
        self._flow_engine = None  # made on first use of the flow overlay
        self.devices: list[str] | None = None  # what the worker found, once asked
        self.setWindowTitle("AQA Studio")
        self.setAcceptDrops(True)
        self.resize(1400, 860)

        self.tree = SessionTree(store)
        self.tree.setMinimumWidth(260)
        self.video = VideoView()
        self.timeline = Timeline()
        self.grades = GradePanel()
        self.sheet = SessionSheet()

        centre = QSplitter(Qt.Orientation.Vertical)
        centre.addWidget(self.video)
        centre.addWidget(self.timeline)
        centre.setStretchFactor(0, 3)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.grades)
        right.addWidget(self.sheet)
        self.splitter = QSplitter()
        for widget in (self.tree, centre, right):
            self.splitter.addWidget(widget)
        for index, factor in enumerate((1, 4, 1)):
            self.splitter.setStretchFactor(index, factor)
        self.splitter.setSizes([330, 700, 400])  # in proportion: 1366 px wide fits the same
        centre.setSizes([460, 300])
        self.setCentralWidget(self.splitter)

        self.progress = QProgressBar()
        self.progress.setMaximumWidth(240)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(self.jobs.cancel_all)
        self.status_text = QLabel(f"Database: {store.path}")
        self.statusBar().addWidget(self.status_text, 1)
        self.statusBar().addPermanentWidget(self.progress)
        self.statusBar().addPermanentWidget(self.cancel_button)

        self._menus()
        self._shortcuts()
        self.tree.sessionSelected.connect(self.show_session)
        self.tree.recordingSelected.connect(self.show_recording)
        self.video.frameChanged.connect(lambda _i, t: self.timeline.set_playhead(t))
        self.video.personClicked.connect(self.person_clicked)
        self.timeline.seekRequested.connect(self.video.seek_time)
        self.grades.confirmed.connect(self.confirm_grade)
        self.jobs.changed.connect(self._jobs_changed)
        self.splitters = {"main": self.splitter, "centre": centre, "right": right}
        geometry = self.settings.geometry("main")
        if geometry is not None:
            self.restoreGeometry(geometry)
        for name, splitter in self.splitters.items():
            state = self.settings.geometry(f"splitter-{name}")
            if state is not None:
                splitter.restoreState(state)
        self.tree.reload()
        self._restore_place()

    # -- menus and keys ------------------------------------------------------------------------
    def _menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        for text, slot, keys in (
            ("New &subject…", self.new_subject, "Ctrl+Shift+N"),
            ("New s&ession…", self.new_session, "Ctrl+N"),
            ("&Import video…", self.import_video, "Ctrl+I"),
            ("&Quit", self.close, QKeySequence.StandardKey.Quit),
        ):
            action = QAction(text, self)
            action.setShortcut(keys)
            action.triggered.connect(slot)
            file_menu.addAction(action)
        export = file_menu.addMenu("E&xport")
        for text, slot in (
            ("Session report (PDF)…", self.export_pdf),
            ("Session sheet (CSV)…", self.export_csv),
            ("Overlay video…", self.export_overlay),
            ("Timeline plots (PNG)…", self.export_plots),
        ):
            action = QAction(text, self)
            action.triggered.connect(slot)
            export.addAction(action)
        sign = QAction("Si&gn session…", self)
        sign.triggered.connect(self.sign_session)
        file_menu.insertAction(file_menu.actions()[-1], sign)
        settings = QAction("Se&ttings…", self)
        settings.triggered.connect(self.edit_settings)
        file_menu.insertAction(file_menu.actions()[-1], settings)
        tools = self.menuBar().addMenu("&Recording")
        for text, slot, keys in (
            ("&Extract", self.extract_selected, "Ctrl+E"),
            ("&Grade", self.grade_selected, "Ctrl+G"),
            ("Grade &with a model…", self.choose_model, "Ctrl+Shift+M"),
            ("Grade the whole &session", self.grade_session, "Ctrl+Shift+G"),
            ("&Train the item's model on confirmed grades", self.train_item, "Ctrl+T"),
            ("&Compare with another recording…", self.compare, "Ctrl+K"),
            ("&From here on the subject is person…", self.hand_over_here, "Ctrl+Shift+H"),
        ):
            action = QAction(text, self)
            action.setShortcut(keys)
            action.triggered.connect(slot)
            tools.addAction(action)
        self._overlay_menu()

    def _overlay_menu(self) -> None:
        """View menu: one checkable action per overlay of the video, in step with its check box
        under the video; each overlay's state is remembered for the next start."""
        view_menu = self.menuBar().addMenu("&View")
        self.overlay_actions = {}
        for name, box in self.video.overlays.items():
            key = f"overlay/{name}"
            box.setChecked(self.settings.qt.value(key, box.isChecked(), type=bool))
            action = QAction(box.text(), self, checkable=True)
            action.setChecked(box.isChecked())
            action.setShortcut(OVERLAY_KEYS.get(name, ""))
            action.toggled.connect(box.setChecked)
            box.toggled.connect(action.setChecked)
            box.toggled.connect(lambda on, key=key: self.settings.qt.setValue(key, on))
            view_menu.addAction(action)
            self.overlay_actions[name] = action

    def _shortcuts(self) -> None:
        keys = {
            Qt.Key.Key_Space: self.video.toggle_play,
            Qt.Key.Key_Right: lambda: self.video.step(1),
            Qt.Key.Key_Left: lambda: self.video.step(-1),
        }
        for key, slot in keys.items():
            QShortcut(key, self, activated=slot)
        for digit in range(10):
            QShortcut(
                Qt.Key(Qt.Key.Key_0 + digit), self, activated=lambda d=digit: self.grades.choose(d)
            )
        for key in ("Ctrl+Return", "Ctrl+Enter"):
            QShortcut(QKeySequence(key), self, activated=self.grades.confirm.click)

    # -- record --------------------------------------------------------------------------------
    def new_subject(self) -> None:
        dialog = SubjectDialog(self)
        if dialog.exec():
            self._try(lambda: self.store.add_subject(**dialog.values()))
            self.tree.reload()

    def new_session(self) -> None:
        subjects = [s["code"] for s in self.store.subjects()]
        if not subjects:
            show_error(self, "Add a subject first (File > New subject).")
            return
        dialog = SessionDialog(subjects, self)
        if dialog.exec():
            row = self._try(lambda: self.store.new_session(**dialog.values()))
            self.tree.reload()
            if row:
                self.tree.select("session", row["id"])

    def import_video(self, path: Path | None = None) -> None:
        session_id = self.tree.selected("session")
        if session_id is None:
            show_error(self, "Select a session to import the video into.")
            return
        protocol = self.store.session(session_id)["protocol"]
        dialog = ImportDialog(protocol, path, self.settings.get("last_folder"), self)
        if dialog.exec():
            values = dialog.values()
            self.settings.set("last_folder", str(values["video"].parent))
            row = self._try(lambda: import_recording(self.store, session_id, **values))
            self.tree.reload()
            if row:
                self.tree.select("recording", row["id"])

    def show_session(self, session_id: int) -> None:
        summary = self._try(lambda: self.store.session_summary(session_id))
        if summary:
            self.sheet.show_summary(summary)

    def show_recording(self, recording_id: int) -> None:
        self.recording_id = recording_id
        recording = self.store.recording(recording_id)
        session = self.store.session(recording["session_id"])
        item = get_protocol(session["protocol"]).item(recording["item"])
        self.grades.set_item(item, self.store.current_rating(recording_id))
        self.show_session(session["id"])
        self.timeline.clear()
        self.review = None
        self.grades.show_subject(subject_text(self.store.subject_choice(recording_id), None, 0))
        self._show_assessment(self.store.latest_assessment(recording_id))
        try:
            self.video.open(recording["path"])
        except AqaError as exc:
            show_error(self, str(exc))
            return
        self.video.set_flow(self._flow_picture)
        self._load_tracks(recording)

    def confirm_grade(self, grade: float, reason: str) -> None:
        if self.recording_id is None:
            return
        row = self._try(lambda: self.store.rate(self.recording_id, grade, reason or None))
        if row:
            self.grades.show_rating(row)
            self.show_session(self.store.recording(self.recording_id)["session_id"])
            self.tree.reload()

    def compare(self) -> None:
        """Open the coach view with the selected recording and one of the same item."""
        if self.recording_id is None:
            show_error(self, "Select the first recording to compare.")
            return
        first = self.store.recording(self.recording_id)
        protocol = self.store.session(first["session_id"])["protocol"]
        choices = {
            f"#{r['id']} {self._describe(r)} — {Path(r['path']).name}": r
            for s in self.store.sessions()
            if s["protocol"] == protocol
            for r in self.store.recordings(s["id"])
            if r["id"] != first["id"] and r["item"] == first["item"]
        }
        if not choices:
            name = get_protocol(protocol).item(first["item"]).name
            show_error(self, f"Import a second recording of {name} to compare with.")
            return
        name, ok = QInputDialog.getItem(
            self, "Compare", "Second recording:", list(choices), 0, False
        )
        if ok:
            self.open_coach_view(self.recording_id, choices[name]["id"])

    def _describe(self, recording: dict) -> str:
        """Subject, item and date of a recording, as the coach view labels it."""
        session = self.store.session(recording["session_id"])
        subject = self.store.db["subjects"].get(session["subject_id"])["code"]
        item = get_protocol(session["protocol"]).item(recording["item"])
        return f"{subject}, {item.name}, {session['date']}"

    def open_coach_view(self, first: int, second: int) -> CoachView | None:
        """Recordings of one item side by side; other pairs are refused with a sentence."""
        rows = [self.store.recording(first), self.store.recording(second)]
        sessions = [self.store.session(r["session_id"]) for r in rows]
        items = [get_protocol(s["protocol"]).item(r["item"]) for s, r in zip(sessions, rows)]
        if (sessions[0]["protocol"], rows[0]["item"]) != (sessions[1]["protocol"], rows[1]["item"]):
            show_error(
                self,
                f"Only recordings of one item can be compared: A is {items[0].name} "
                f"({items[0].low:g}–{items[0].high:g}), B is {items[1].name} "
                f"({items[1].low:g}–{items[1].high:g}).",
            )
            return None
        view = CoachView()
        try:
            view.open(rows[0]["path"], rows[1]["path"])
        except AqaError as exc:
            show_error(self, str(exc))
            return None
        view.set_labels(*(self._describe(r) for r in rows))
        for side, row in zip((view.left, view.right), rows, strict=True):
            if _has_tracks(self.store, row["id"]):
                job = self._tracks_job(row, "Loading the tracks of", work.load_recording)
                job.signals.finished.connect(lambda review, side=side: _draw_skeleton(side, review))
                self.submit(job)
        assessments = [self.store.latest_assessment(r["id"]) for r in rows]
        if all(assessments):
            view.show_scores(*assessments, *(segment_rows(a) for a in assessments))
        self.coach_view = view
        view.resize(1200, 700)
        view.show()
        return view

    def edit_settings(self) -> None:
        dialog, job = self.settings_dialog()
        dialog.exec()
        if job is not None and job in self.jobs.jobs:  # a finished job drops its connections
            job.signals.finished.disconnect(dialog.show_devices)
        dialog.deleteLater()

    def settings_dialog(self) -> tuple[SettingsDialog, Job | None]:
        """The settings dialog, and the job that fills in the devices found (the first time;
        later dialogs show what it found)."""
        from engine.paths import data_dir

        dialog = SettingsDialog(self.settings, data_dir(), self)
        if self.devices is not None:
            dialog.show_devices(self.devices)
            return dialog, None
        job = self.submit(Job("Looking for devices", work.find_devices))
        job.signals.finished.connect(lambda lines: setattr(self, "devices", lines))
        job.signals.finished.connect(dialog.show_devices)
        return dialog, job

    # -- engine work ---------------------------------------------------------------------------
    def extract_selected(self) -> Job | None:
        if self.recording_id is None:
            show_error(self, "Select a recording to extract.")
            return None
        recording = self.store.recording(self.recording_id)
        job = self._tracks_job(recording, "Extracting", work.extract_recording)
        job.signals.finished.connect(lambda result: self._extracted(recording["id"], result))
        return self._submit_on(recording["id"], "extracting", job)

    def grade_selected(self, model_id: int | None = None) -> Job | None:
        """Grade the selected recording with ``model_id`` (default: the item's active model)."""
        if self.recording_id is None:
            show_error(self, "Select a recording to grade.")
            return None
        recording_id = self.recording_id
        device = self._grading_environment()
        job = Job(
            "Grading", work.grade_recording, self.store.path, recording_id, device,
            settings=self.settings.extraction(), model_id=model_id or None,
        )  # fmt: skip
        job.signals.finished.connect(lambda row: self._graded(recording_id, row))
        return self._submit_on(recording_id, "grading", job)

    def _grading_environment(self) -> str:
        """The device to grade on; the Settings' LLM folder (LIMSSR models) goes to the worker
        as ``AQA_LLM_PATH`` with the job."""
        llm = self.settings.get("llm_path")
        if llm:
            os.environ["AQA_LLM_PATH"] = llm
        return self.settings.get("device")

    def choose_model(self) -> Job | None:
        """List the models of the selected recording's item (in the worker: reading their cards
        imports torch), then grade with the one the user picks."""
        if self.recording_id is None:
            show_error(self, "Select a recording to grade.")
            return None
        job = Job("Finding the item's models", work.item_models, self.store.path, self.recording_id)
        job.signals.finished.connect(self._pick_model)
        return self.submit(job)

    def _pick_model(self, rows: list[dict]) -> None:
        if not rows:
            show_error(self, "The item has no model yet: rate recordings and train one.")
            return
        labels = [model_label(m) for m in rows]
        label, ok = QInputDialog.getItem(self, "Grade with a model", "Model:", labels, 0, False)
        if ok:
            self.grade_selected(rows[labels.index(label)]["id"])

    def grade_session(self) -> Job | None:
        session_id = self.tree.selected("session")
        if session_id is None:
            show_error(self, "Select a session to grade.")
            return None
        device = self._grading_environment()
        job = Job(
            "Grading the session", work.grade_session, self.store.path, session_id, device,
            settings=self.settings.extraction(),
        )  # fmt: skip
        job.signals.finished.connect(lambda n: self._session_graded(session_id, n))
        return self.submit(job)

    def train_item(self) -> Job | None:
        """Train a model for the selected recording's item on every confirmed grade of it."""
        if self.recording_id is None:
            show_error(self, "Select a recording of the item to train.")
            return None
        recording = self.store.recording(self.recording_id)
        protocol = self.store.session(recording["session_id"])["protocol"]
        device = self.settings.get("device")
        job = Job(
            f"Training {recording['item']}",
            work.train_item,
            self.store.path,
            protocol,
            recording["item"],
            device,
        )
        job.signals.finished.connect(self._trained)
        return self.submit(job)

    def _trained(self, outcome: dict) -> None:
        model, metrics = outcome["model"], outcome["metrics"]
        verdict = "now active" if outcome["activated"] else "kept as a candidate"
        before = outcome["previous_cv_srcc"]
        compared = "" if before is None else f" (active model: {before:.3f})"
        self.status_text.setText(
            f"{model['name']} v{model['version']} for {model['item']}: cross-validated SRCC "
            f"{metrics['cv_srcc']:.3f}{compared}, {verdict}"
        )
        if self.recording_id is not None:
            self.show_recording(self.recording_id)

    def _graded(self, recording_id: int, row: dict) -> None:
        self.tree.reload()
        outcome = f"Proposal: grade {row['grade']:g}"
        self.status_text.setText(outcome)
        if recording_id == self.recording_id:
            self._show_assessment(row)
            self._load_tracks(self.store.recording(recording_id), outcome)  # what it graded

    def _session_graded(self, session_id: int, count: int) -> None:
        self.tree.reload()
        self.show_session(session_id)
        outcome = f"Graded {count} recording" + ("" if count == 1 else "s")
        self.status_text.setText(outcome)
        shown = None if self.recording_id is None else self.store.recording(self.recording_id)
        if shown is not None and shown["session_id"] == session_id:  # graded with the others
            self._show_assessment(self.store.latest_assessment(shown["id"]))
            self._load_tracks(shown, outcome)

    # -- exports -------------------------------------------------------------------------------
    def _save_name(self, title: str, pattern: str) -> Path | None:
        folder = self.settings.get("last_folder")
        name, _ = QFileDialog.getSaveFileName(self, title, folder, pattern)
        if not name:
            return None
        self.settings.set("last_folder", str(Path(name).parent))
        return Path(name)

    def _session_to_export(self) -> int | None:
        session_id = self.tree.selected("session")
        if session_id is None:
            show_error(self, "Select a session to export.")
        return session_id

    def export_pdf(self) -> Job | None:
        """Write the session's PDF report in the worker (its key frames are decoded there)."""
        session_id = self._session_to_export()
        if session_id is None:
            return None
        target = self._save_name("Session report", "PDF (*.pdf)")
        if target is None:
            return None
        job = Job(
            "Writing the session report", work.write_report, self.store.path, session_id, target
        )
        job.signals.finished.connect(
            lambda path: self.status_text.setText(f"Report written: {path}")
        )
        return self.submit(job)

    def export_csv(self) -> None:
        session_id = self._session_to_export()
        if session_id is None:
            return
        target = self._save_name("Session sheet", "CSV (*.csv)")
        if target:
            from engine.reports.sheet import session_report
            from engine.reports.tables import report_rows, write_csv

            self._try(
                lambda: write_csv(report_rows(session_report(self.store, session_id)), target)
            )

    def export_overlay(self) -> Job | None:
        """Write the recording's overlay video in the worker, following its subject."""
        if self.recording_id is None:
            show_error(self, "Select a recording to export.")
            return None
        target = self._save_name("Overlay video", "MP4 video (*.mp4)")
        if target is None:
            return None
        job = Job(
            "Exporting the overlay video",
            work.render_overlay,
            self.store.path,
            self.recording_id,
            target,
        )
        job.signals.finished.connect(
            lambda path: self.status_text.setText(f"Overlay video written: {path}")
        )
        return self.submit(job)

    def export_plots(self) -> None:
        target = self._save_name("Timeline plots", "PNG image (*.png)")
        if target and not self.timeline.canvas.grab().save(str(target)):
            show_error(self, f"{target} could not be written.")

    def _submit_on(self, recording_id: int, what: str, job: Job) -> Job:
        """Submit a job on one recording, shown as ``what`` in the tree while it runs."""
        for signal in (job.signals.finished, job.signals.failed, job.signals.cancelled):
            signal.connect(lambda *_: self.tree.set_busy(recording_id, None))
        self.tree.set_busy(recording_id, what)
        return self.submit(job)

    def submit(self, job: Job) -> Job:
        job.signals.progress.connect(self._progress)
        job.signals.failed.connect(lambda message: show_error(self, message))
        job.signals.cancelled.connect(lambda: self.status_text.setText(f"{job.title}: cancelled"))
        return self.jobs.submit(job)

    def _extracted(self, recording_id: int, review) -> None:
        from engine.extract.attach import attach

        result = review.extraction
        recording = self.store.recording(recording_id)
        attach(self.store, result, recording["session_id"], recording["item"], recording["view"])
        self.tree.reload()
        if recording_id == self.recording_id:
            self._show_review(review)
        self.status_text.setText(f"Extracted in {result.seconds:.1f} s")
        # A modality without its files, or one that failed, is the user's to know about.
        problems = [
            r.reason for r in result.modalities.values() if r.needs_files or r.status == "error"
        ]
        if problems:
            show_error(self, " ".join(problems))

    def _load_tracks(self, recording: dict, status: str | None = None) -> None:
        """Show the cached tracks of an extracted or graded recording (reading the cache in the
        job queue): those its latest proposal was computed from, once it is graded; then
        ``status`` in the status line (default: which video is shown)."""
        if not _has_tracks(self.store, recording["id"]):
            return

        def show(review) -> None:
            if recording["id"] == self.recording_id:
                self._show_review(review)
                self.status_text.setText(status or f"Showing {Path(recording['path']).name}")

        job = self._tracks_job(recording, "Loading the tracks of", work.load_recording)
        job.signals.finished.connect(show)
        self.submit(job)

    def _show_assessment(self, row: dict | None) -> None:
        """The proposal in the grade panel and its per-segment contributions in the timeline."""
        self.grades.show_assessment(row)
        starts, ends, values = segment_rows(row)
        if len(values):
            self.timeline.set_bars("contribution", starts, ends, values)

    def _tracks_job(self, recording: dict, doing: str, func) -> Job:
        """A job running ``func`` (``work.extract_recording`` or ``work.load_recording``) for
        the review tracks of ``recording``, with the settings' backends."""
        return Job(
            f"{doing} {Path(recording['path']).name}",
            func,
            self.store.path,
            recording["id"],
            self.settings.get("device"),
            self.settings.extraction(),
        )

    def _show_review(self, review) -> None:
        self.review = review
        _draw_skeleton(self.video, review)
        self.video.set_people(review.people, review.subject_ids)
        for title, (times, curves) in review.rows.items():
            self.timeline.set_row(title, times, curves)
        subject = review.subject or {}
        marks = [(t, f"swap? {t:.1f} s") for t in subject.get("swaps") or ()]
        marks += [(h["from_s"], f"→ person {h['id']}") for h in subject.get("handovers") or ()]
        self.timeline.set_marks(marks)
        people = 0 if review.people is None else len(review.people.ids)
        self.grades.show_subject(subject_text(review.choice, review.subject, people))

    # -- the subject ---------------------------------------------------------------------------
    def _people_shown(self):
        """The people of the recording shown, or None (after saying why)."""
        if self.recording_id is None:
            show_error(self, "Select a recording first.")
            return None
        if self.review is None or self.review.people is None:
            show_error(self, "Extract the recording (Ctrl+E) to see the people in it.")
            return None
        return self.review.people

    def person_clicked(self, x: float, y: float, seconds: float) -> Job | None:
        """A click on the video with the People overlay on: ask whether the person there becomes
        the recording's subject (saying which stored hand-overs that replaces); a click on nobody
        says so in the status line."""
        people = self._people_shown()
        if people is None:
            return None
        try:
            person = person_at(people, x, y, seconds)
        except InputError as exc:
            self.status_text.setText(str(exc))
            return None
        choice = self.store.subject_choice(self.recording_id) or {}
        dropped = "".join(
            f"\n• person {other} from {time_s:.2f} s"
            for time_s, other in choice.get("handovers", ())
        )
        if dropped:
            dropped = f"\n\nThis replaces the hand-overs stored for it:{dropped}"
        reason, ok = QInputDialog.getText(
            self,
            "Subject of the recording",
            f"Make person {person} the subject of this recording?{dropped}\n\nReason (optional):",
        )
        if not ok:
            return None
        point = f"{x:.1f},{y:.1f}@{seconds:.3f}"
        return self._change_subject(
            f"Making person {person} the subject of",
            work.choose_subject, point, reason.strip() or None,
        )  # fmt: skip

    def hand_over_here(self) -> Job | None:
        """ "From here on the subject is person…": one of the people seen at the current time."""
        people = self._people_shown()
        if people is None:
            return None
        seconds = round(self.video.seconds(), 3)
        seen = [p["id"] for p in people.boxes_at(seconds)]
        if not seen:
            show_error(self, f"Nobody is in the frame at {seconds:.2f} s: go to a frame where the "
                       "person is seen.")  # fmt: skip
            return None
        labels = [f"person {p}" for p in seen]
        label, ok = QInputDialog.getItem(
            self, "Hand over the subject", f"From {seconds:.2f} s on the subject is:", labels, 0,
            False,
        )  # fmt: skip
        if not ok:
            return None
        person = seen[labels.index(label)]
        return self._change_subject(
            f"Handing the subject over to person {person} in", work.hand_over, seconds, person
        )

    def _change_subject(self, doing: str, func, *args) -> Job:
        """Store a subject change in the worker (under the logged-in user), extract again and
        show the review that follows the new subject; proposals made before become stale."""
        recording = self.store.recording(self.recording_id)
        job = Job(
            f"{doing} {Path(recording['path']).name}", func, self.store.path, recording["id"],
            *args, self.settings.get("device"), self.settings.extraction(),
        )  # fmt: skip
        job.signals.finished.connect(lambda review: self._subject_changed(recording["id"], review))
        return self._submit_on(recording["id"], "extracting", job)

    def _subject_changed(self, recording_id: int, review) -> None:
        self._extracted(recording_id, review)
        if recording_id == self.recording_id:
            self._show_assessment(self.store.latest_assessment(recording_id))
        self.status_text.setText(
            subject_text(review.choice, review.subject, len(getattr(review.people, "ids", ())))
        )

    def _flow_picture(self, index: int):
        """The HSV flow picture into frame ``index`` (DIS at a quarter of the display size)."""
        if self.video.reader is None or index == 0:
            return None
        from engine.extract.flow import FlowEngine, flow_to_rgb, to_grey

        if self._flow_engine is None:
            self._flow_engine = FlowEngine("dis", "ultrafast")
        reader = self.video.reader
        w, h = reader.size
        small = (max(2, w // 4), max(2, h // 4))
        prev, curr = (to_grey(reader.frame(i), small) for i in (index - 1, index))
        return flow_to_rgb(self._flow_engine(prev, curr))

    def _progress(self, fraction: float, stage: str) -> None:
        self.progress.setValue(int(100 * fraction))
        self.status_text.setText(f"{stage}…")

    def _jobs_changed(self) -> None:
        busy = bool(self.jobs.jobs)
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if not busy and self.status_text.text().endswith("…"):
            self.status_text.setText("Ready")

    # -- helpers -------------------------------------------------------------------------------
    def sign_session(self) -> None:
        """Sign the selected session (the password again); it is then locked."""
        from app.sign_dialog import SignDialog

        session_id = self.tree.selected("session")
        if session_id is None:
            show_error(self, "Select the session to sign.")
            return
        user = self._try(self.store.current_user)
        if user is None:
            return
        dialog = SignDialog(session_id, user["full_name"], self)
        if dialog.exec() and self._try(lambda: self.store.sign(session_id, **dialog.values())):
            self.show_session(session_id)

    def _try(self, action):
        """Run ``action``; a user-caused error becomes a dialog and the result None."""
        try:
            return action()
        except AqaError as exc:
            show_error(self, str(exc))
            return None

    def dragEnterEvent(self, event) -> None:
        urls = event.mimeData().urls()
        if urls and all(Path(u.toLocalFile()).suffix.lower() in VIDEO_SUFFIXES for u in urls):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        for url in event.mimeData().urls():
            self.import_video(Path(url.toLocalFile()))

    def _restore_place(self) -> None:
        """Select the session or recording shown when the app was last closed, at its frame."""
        kind, row_id = self.settings.qt.value(LAST_PLACE, ["", 0])[:2] or ("", 0)
        if kind not in ("session", "recording"):
            return
        self.tree.select(kind, int(row_id))
        if kind == "recording" and self.recording_id == int(row_id):
            self.video.seek(int(self.settings.qt.value(LAST_FRAME, 0)))

    def closeEvent(self, event) -> None:
        # Where the user was, for the next start (QSettings directly: these are not options).
        place = self.tree.current_key()
        if place is not None:
            self.settings.qt.setValue(LAST_PLACE, list(place))
            self.settings.qt.setValue(LAST_FRAME, max(self.video.index, 0))
        self.jobs.cancel_all()
        self.jobs.wait(5000)
        self.video.close_video()
        self.settings.save_geometry("main", self.saveGeometry())
        for name, splitter in self.splitters.items():
            self.settings.save_geometry(f"splitter-{name}", splitter.saveState())
        super().closeEvent(event)


def _has_tracks(store: Store, recording_id: int) -> bool:
    """Whether the recording was extracted or graded (its tracks are cached)."""
    status = store.recording_status(recording_id)
    return status["extracted"] or status["graded"]


def segment_rows(assessment: dict | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start, end (s) and contribution (item units) of each segment of a stored proposal."""
    segments = ((assessment or {}).get("details") or {}).get("segments") or {}
    return tuple(np.asarray(segments.get(k, []), float) for k in ("start", "end", "contribution"))


def _draw_skeleton(view, review) -> None:
    if review.skeleton is not None:
        view.set_skeleton(review.skeleton, review.skeleton_times, review.width)

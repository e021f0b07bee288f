"""The main window: the record on the left, the video and its timeline in the centre, the grade
panel and the session sheet on the right; engine work runs in the job queue."""

import logging
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QInputDialog,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QSplitter,
)

from app.coach_view import CoachView
from app.dialogs import ImportDialog, SessionDialog, SettingsDialog, SubjectDialog, show_error
from app.grade_panel import GradePanel
from app.jobs import Job, JobQueue
from app.session_sheet import SessionSheet
from app.session_tree import SessionTree
from app.settings import Settings
from app.timeline import Timeline
from app.video_view import VideoView
from engine.errors import AqaError
from engine.protocols import get_protocol
from engine.recordings import import_recording
from engine.store import Store

log = logging.getLogger(__name__)
PLOTTED_ANGLES = ("neck", "trunk", "left_knee", "right_knee", "left_elbow", "right_elbow")
VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"}


class MainWindow(QMainWindow):
    def __init__(self, store: Store, settings: Settings | None = None):
        super().__init__()
        self.store = store
        self.settings = settings or Settings()
        self.jobs = JobQueue(self)
        self.recording_id: int | None = None
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
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setSizes([300, 760, 380])
        centre.setSizes([560, 240])
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
        self.timeline.seekRequested.connect(self.video.seek_time)
        self.grades.confirmed.connect(self.confirm_grade)
        self.jobs.changed.connect(self._jobs_changed)
        geometry = self.settings.geometry("main")
        if geometry is not None:
            self.restoreGeometry(geometry)
        self.tree.reload()

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
        settings = QAction("Se&ttings…", self)
        settings.triggered.connect(self.edit_settings)
        file_menu.insertAction(file_menu.actions()[-1], settings)
        tools = self.menuBar().addMenu("&Recording")
        for text, slot, keys in (
            ("&Extract", self.extract_selected, "Ctrl+E"),
            ("&Compare with another recording…", self.compare, "Ctrl+K"),
        ):
            action = QAction(text, self)
            action.setShortcut(keys)
            action.triggered.connect(slot)
            tools.addAction(action)

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
        dialog = ImportDialog(protocol, path, self)
        if dialog.exec():
            values = dialog.values()
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
        self.grades.show_assessment(self.store.latest_assessment(recording_id))
        self.show_session(session["id"])
        self.timeline.clear()
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
        rater = self.store.session(self.store.recording(self.recording_id)["session_id"])[
            "examiner"
        ]
        row = self._try(
            lambda: self.store.rate(self.recording_id, grade, rater or "clinician", reason or None)
        )
        if row:
            self.grades.show_rating(row)
            self.show_session(self.store.recording(self.recording_id)["session_id"])
            self.tree.reload()

    def compare(self) -> None:
        """Open the coach view with the selected recording and one the user picks."""
        if self.recording_id is None:
            show_error(self, "Select the first recording to compare.")
            return
        choices = {
            f"#{r['id']} {r['item']} — {Path(r['path']).name}": r
            for s in self.store.sessions()
            for r in self.store.recordings(s["id"])
            if r["id"] != self.recording_id
        }
        if not choices:
            show_error(self, "Import a second recording to compare with.")
            return
        name, ok = QInputDialog.getItem(
            self, "Compare", "Second recording:", list(choices), 0, False
        )
        if ok:
            self.open_coach_view(self.recording_id, choices[name]["id"])

    def open_coach_view(self, first: int, second: int) -> CoachView | None:
        rows = [self.store.recording(first), self.store.recording(second)]
        view = CoachView()
        try:
            view.open(rows[0]["path"], rows[1]["path"])
        except AqaError as exc:
            show_error(self, str(exc))
            return None
        assessments = [self.store.latest_assessment(r["id"]) for r in rows]
        if all(assessments):
            view.show_scores(*assessments)
        self.coach_view = view
        view.resize(1200, 700)
        view.show()
        return view

    def edit_settings(self) -> None:
        from engine.paths import data_dir

        dialog = SettingsDialog(
            self.settings, data_dir(), "CPU always; CUDA is checked when used", self
        )
        if dialog.exec():
            dialog.save()

    # -- engine work ---------------------------------------------------------------------------
    def extract_selected(self) -> Job | None:
        if self.recording_id is None:
            show_error(self, "Select a recording to extract.")
            return None
        recording = self.store.recording(self.recording_id)
        device = self.settings.get("device")

        def work(progress, cancel):
            from engine.extract.pipeline import extract

            return extract(recording["path"], device=device, progress=progress, cancel=cancel)

        job = Job(f"Extracting {Path(recording['path']).name}", work)
        job.signals.finished.connect(lambda result: self._extracted(recording["id"], result))
        return self.submit(job)

    def submit(self, job: Job) -> Job:
        job.signals.progress.connect(self._progress)
        job.signals.failed.connect(lambda message: show_error(self, message))
        job.signals.cancelled.connect(lambda: self.status_text.setText(f"{job.title}: cancelled"))
        return self.jobs.submit(job)

    def _extracted(self, recording_id: int, result) -> None:
        for modality in result.modalities.values():
            row = {
                "modality": modality.modality,
                "backend": modality.backend,
                "version": modality.version,
                "params": modality.params,
                "cache_key": modality.cache_key,
                "status": modality.status,
                "reason": modality.reason,
            }
            self.store.add_extraction(recording_id, row)
        self.tree.reload()
        if recording_id == self.recording_id:
            self._show_tracks(result)
        self.status_text.setText(f"Extracted in {result.seconds:.1f} s")

    def _load_tracks(self, recording: dict) -> None:
        """Show cached tracks of an extracted recording (reading the cache in the job queue)."""
        if not self.store.recording_status(recording["id"])["extracted"]:
            return

        def work(progress, cancel):
            from engine.extract.pipeline import extract

            return extract(recording["path"], progress=progress, cancel=cancel)

        job = Job("Loading tracks", work)
        job.signals.finished.connect(
            lambda result: recording["id"] == self.recording_id and self._show_tracks(result)
        )
        self.submit(job)

    def _show_tracks(self, result) -> None:
        skeleton = result.track("skeleton")
        width = result.media["width"]
        if skeleton is not None and skeleton.ok:
            self.video.set_skeleton(skeleton["coco17"], skeleton.times, width)
            from engine.kinematics.angles import joint_angles
            from engine.kinematics.skeleton import BodyGeometry, SkeletonSeries

            series = SkeletonSeries.from_track(skeleton)
            angles = joint_angles(BodyGeometry(series))
            shown = {name: angles[name] for name in PLOTTED_ANGLES}
            self.timeline.set_row("angle (°)", series.times, shown)
        flow = result.track("flow")
        if flow is not None and flow.ok:
            self.timeline.set_row("motion", flow.times, {"mean speed": flow["stats"][:, -1]})
        audio = result.track("audio")
        if audio is not None and audio.ok:
            envelope = np.asarray(next(iter(audio.arrays.values()))).mean(axis=1)
            self.timeline.set_row("audio", audio.times, {"log-mel energy": envelope})

    def _flow_picture(self, index: int):
        if self.video.reader is None or index == 0:
            return None
        from engine.extract.flow import FlowEngine, flow_to_rgb, to_grey

        reader = self.video.reader
        w, h = reader.size
        small = (max(2, w // 4), max(2, h // 4))
        prev, curr = (to_grey(reader.frame(i), small) for i in (index - 1, index))
        return flow_to_rgb(FlowEngine("dis", "ultrafast")(prev, curr))

    def _progress(self, fraction: float, stage: str) -> None:
        self.progress.setValue(int(100 * fraction))
        self.status_text.setText(f"{stage}…")

    def _jobs_changed(self) -> None:
        busy = bool(self.jobs.jobs)
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)

    # -- helpers -------------------------------------------------------------------------------
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

    def closeEvent(self, event) -> None:
        self.jobs.cancel_all()
        self.jobs.wait(5000)
        self.video.close_video()
        self.settings.save_geometry("main", self.saveGeometry())
        super().closeEvent(event)

"""Dialogs that ask the user for a new subject, a new session or a video to import.

Each dialog only collects values; the caller hands them to the engine, and any refusal comes back
as one sentence shown with ``show_error``.
"""

from datetime import date
from pathlib import Path

from PySide6.QtCore import QDate
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QWidget,
)

from engine.protocols import catalog, get_protocol


def show_error(parent: QWidget | None, message: str) -> None:
    QMessageBox.warning(parent, "AQA Studio", message)


class _Form(QDialog):
    def __init__(self, title: str, parent: QWidget | None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.form = QFormLayout(self)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.buttons = buttons

    def finish(self) -> None:
        self.form.addRow(self.buttons)


class SubjectDialog(_Form):
    def __init__(self, parent: QWidget | None = None):
        super().__init__("New subject", parent)
        self.code = QLineEdit()
        self.code.setPlaceholderText("pseudonymous code, e.g. JDM-017")
        self.birth_year = QSpinBox()
        self.birth_year.setRange(0, date.today().year)
        self.birth_year.setSpecialValueText("unknown")
        self.sex = QComboBox()
        self.sex.addItems(["", "F", "M", "other"])
        self.form.addRow("Code", self.code)
        self.form.addRow("Birth year", self.birth_year)
        self.form.addRow("Sex", self.sex)
        self.finish()

    def values(self) -> dict:
        return {
            "code": self.code.text(),
            "birth_year": self.birth_year.value() or None,
            "sex": self.sex.currentText() or None,
        }


class SessionDialog(_Form):
    def __init__(self, subjects: list[str], parent: QWidget | None = None):
        super().__init__("New session", parent)
        self.subject = QComboBox()
        self.subject.addItems(subjects)
        self.protocol = QComboBox()
        for protocol in catalog().values():
            self.protocol.addItem(protocol.name, protocol.id)
        self.protocol.setCurrentIndex(self.protocol.findData("cmas"))
        self.date = QDateEdit(QDate.currentDate())
        self.date.setCalendarPopup(True)
        self.examiner = QLineEdit()
        self.form.addRow("Subject", self.subject)
        self.form.addRow("Protocol", self.protocol)
        self.form.addRow("Date", self.date)
        self.form.addRow("Examiner", self.examiner)
        self.finish()

    def values(self) -> dict:
        return {
            "subject_code": self.subject.currentText(),
            "protocol": self.protocol.currentData(),
            "on": self.date.date().toString("yyyy-MM-dd"),
            "examiner": self.examiner.text() or None,
        }


class ImportDialog(_Form):
    """A video file and the protocol item it records."""

    def __init__(
        self,
        protocol_id: str,
        path: Path | None = None,
        folder: str = "",
        parent: QWidget | None = None,
    ):
        super().__init__("Import video", parent)
        self.folder = folder
        self.path = QLineEdit(str(path) if path else "")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path)
        row.addWidget(browse)
        self.item = QComboBox()
        for item in get_protocol(protocol_id).items:
            self.item.addItem(f"{item.name} ({item.range_text()})", item.id)
        self.view = QComboBox()
        self.view.setEditable(True)
        self.view.addItems(["", "side", "front", "top"])
        self.form.addRow("Video", row)
        self.form.addRow("Item", self.item)
        self.form.addRow("Camera view", self.view)
        self.finish()

    def _browse(self) -> None:
        name, _ = QFileDialog.getOpenFileName(
            self, "Video", self.folder, "Videos (*.mp4 *.mov *.avi *.mkv *.webm);;All files (*)"
        )
        if name:
            self.path.setText(name)

    def values(self) -> dict:
        return {
            "video": Path(self.path.text()),
            "item": self.item.currentData(),
            "view": self.view.currentText() or None,
        }


class SettingsDialog(_Form):
    """Device (with the devices found), skeleton backend, local weight files, the data folder."""

    def __init__(self, settings, data_dir: Path, parent: QWidget | None = None):
        super().__init__("Settings", parent)
        self.settings = settings
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda"])
        self.device.setCurrentText(settings.get("device"))
        self.found = QLabel("Looking for devices…")
        self.found.setWordWrap(True)
        self.skeleton = QComboBox()
        self.skeleton.addItems(["blazepose", "onnx"])
        self.skeleton.setCurrentText(settings.get("skeleton_backend"))
        self.paths = {key: QLineEdit(settings.get(key)) for key in PATH_SETTINGS}
        self.form.addRow("Device", self.device)
        self.form.addRow("Found", self.found)
        self.form.addRow("Skeleton backend", self.skeleton)
        for key, label in PATH_SETTINGS.items():
            self.form.addRow(label, self.paths[key])
        self.data_dir = QLineEdit(str(data_dir))
        self.form.addRow("Data directory", self.data_dir)
        self.form.addRow("", QLabel("A new data directory is used from the next start."))
        self.finish()

    def show_devices(self, lines: list[str]) -> None:
        self.found.setText("\n".join(lines))
        self.adjustSize()

    def accept(self) -> None:
        problem = self.problem()
        if problem:
            show_error(self, problem)
            return
        self.save()
        super().accept()

    def problem(self) -> str | None:
        """One sentence about the first path that cannot be used, else None."""
        folder = self.paths["pose_models"].text().strip()
        if folder:
            from engine.extract.pose_models import DETECTOR_FILE, LANDMARK_FILE

            missing = [
                f for f in (DETECTOR_FILE, LANDMARK_FILE) if not (Path(folder) / f).is_file()
            ]
            if missing:
                return f"The BlazePose folder {folder} does not hold {' and '.join(missing)}."
        onnx = self.paths["onnx_pose_model"].text().strip()
        if onnx and not Path(onnx).is_file():
            return f"The ONNX pose model {onnx} does not exist; give an .onnx file."
        if self.skeleton.currentText() == "onnx" and not onnx:
            return "The onnx skeleton backend needs an ONNX pose model file."
        llm = self.paths["llm_path"].text().strip()
        if llm and not (Path(llm) / "config.json").is_file():
            return f"The LLM folder {llm} has no config.json (a Hugging Face model folder)."
        return writable_folder_problem(self.data_dir.text().strip())

    def save(self) -> None:
        self.settings.set("device", self.device.currentText())
        self.settings.set("skeleton_backend", self.skeleton.currentText())
        self.settings.set("data_dir", self.data_dir.text().strip())
        for key, edit in self.paths.items():
            self.settings.set(key, edit.text().strip())


def writable_folder_problem(folder: str) -> str | None:
    """One sentence when ``folder`` cannot hold the data directory (created if absent), else None."""
    if not folder:
        return "Give a data directory."
    path = Path(folder).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".aqa-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        return f"The data directory {path} cannot be written ({exc.strerror or exc})."
    return None


PATH_SETTINGS = {
    "pose_models": "BlazePose model folder",
    "onnx_pose_model": "ONNX pose model file",
    "llm_path": "LLM folder (LIMSSR)",
}

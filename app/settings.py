"""Persisted settings (QSettings) with a schema version and environment overrides.

``AQA_DEVICE`` overrides the device, ``AQA_HOME`` the data directory (read by the engine; the
``data_dir`` setting fills it in at start-up when it is not set).
"""

import os

from PySide6.QtCore import QSettings

SCHEMA = 2
DEFAULTS = {
    "device": "auto",
    "skeleton_backend": "blazepose",
    "pose_models": "",
    "onnx_pose_model": "",
    "llm_path": "",
    "last_folder": "",
    "data_dir": "",
}


class Settings:
    def __init__(self, settings: QSettings | None = None):
        self.qt = settings or QSettings("AQA Studio", "AQA Studio")
        if int(self.qt.value("schema", 0)) < SCHEMA:
            self._migrate(int(self.qt.value("schema", 0)))

    def _migrate(self, old: int) -> None:
        for key, value in DEFAULTS.items():
            if self.qt.value(key) is None:
                self.qt.setValue(key, value)
        self.qt.setValue("schema", SCHEMA)

    def get(self, key: str) -> str:
        if key == "device" and os.environ.get("AQA_DEVICE"):
            return os.environ["AQA_DEVICE"]
        return str(self.qt.value(key, DEFAULTS[key]))

    def set(self, key: str, value: str) -> None:
        if key not in DEFAULTS:
            raise KeyError(key)
        self.qt.setValue(key, value)
        self.qt.sync()

    def apply_data_dir(self) -> None:
        """Use the chosen data directory for this run, unless AQA_HOME says otherwise."""
        if self.get("data_dir") and not os.environ.get("AQA_HOME"):
            os.environ["AQA_HOME"] = self.get("data_dir")

    def extraction(self):
        """What the Settings dialog chose, as the engine's ``ExtractionConfig`` (the GUI's
        extractions use it; grading reports where it differs from the model's)."""
        from engine.extract.config import DEFAULT_MODALITIES, ExtractionConfig

        folder = self.get("pose_models") or None
        if self.get("skeleton_backend") == "onnx":
            skeleton = {"model": self.get("onnx_pose_model") or None, "pose_model_dir": folder}
        else:
            skeleton = {"model_dir": folder}
        backend = self.get("skeleton_backend")
        modalities = [f"skeleton:{backend}", *DEFAULT_MODALITIES[1:]]
        return ExtractionConfig.parse(
            modalities, device=self.get("device"), options={"skeleton": skeleton}
        )

    def geometry(self, name: str):
        return self.qt.value(f"geometry/{name}")

    def save_geometry(self, name: str, value) -> None:
        self.qt.setValue(f"geometry/{name}", value)

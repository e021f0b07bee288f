"""AQA Studio desktop app (PySide6 + pyqtgraph). Only Qt code lives here."""

import engine  # noqa: E402, F401 (its thread settings apply before numpy loads)

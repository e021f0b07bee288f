"""AQA Studio desktop app (PySide6 + pyqtgraph). Only Qt code lives here."""

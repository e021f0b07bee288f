"""The session sheet: each item's current grade and the total against the protocol maximum."""

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

COLUMNS = ["Item", "Range", "Videos", "Grade", "Rater"]


class SessionSheet(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.title = QLabel("Select a session")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)  # names elide, not raters
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 4)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setWordWrap(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.total = QLabel("")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 0, 0, 0)
        layout.setSpacing(2)
        for w in (self.title, self.table, self.total):
            layout.addWidget(w)

    def show_summary(self, summary: dict) -> None:
        session = summary["session"]
        self.title.setText(f"{summary['subject']} — {summary['protocol_name']} — {session['date']}")
        self.table.setRowCount(len(summary["items"]))
        for row, item in enumerate(summary["items"]):
            grade = "" if item["grade"] is None else f"{item['grade']:g}"
            values = [item["name"], item["range"], str(item["recordings"]), grade, item["rater"]]
            for col, value in enumerate(values):
                self.table.setItem(row, col, QTableWidgetItem(value or ""))
        self.total.setText(f"Total: {summary['completeness']}")
        # Every item in view without scrolling (14 CMAS rows fit a 768-pixel-high screen).
        rows = sum(self.table.rowHeight(r) for r in range(self.table.rowCount()))
        frame = 2 * self.table.frameWidth()
        self.table.setMinimumHeight(
            self.table.horizontalHeader().sizeHint().height() + rows + frame
        )

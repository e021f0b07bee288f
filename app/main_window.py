"""The main window: subjects -> sessions in a tree, the selected session's sheet beside it."""

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.errors import AqaError
from engine.store import Store

SESSION_ROLE = Qt.ItemDataRole.UserRole


class MainWindow(QMainWindow):
    def __init__(self, store: Store):
        super().__init__()
        self.store = store
        self.setWindowTitle("AQA Studio")
        self.resize(1100, 700)

        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Subjects and sessions"])
        self.tree.currentItemChanged.connect(self._show_selected)

        self.title = QLabel("Select a session")
        self.title.setWordWrap(True)
        self.sheet = QTableWidget(0, 4)
        self.sheet.setHorizontalHeaderLabels(["Item", "Range", "Videos", "Grade"])
        self.sheet.horizontalHeader().setStretchLastSection(True)
        self.total = QLabel("")

        right = QWidget()
        layout = QVBoxLayout(right)
        layout.addWidget(self.title)
        layout.addWidget(self.sheet)
        layout.addWidget(self.total)

        splitter = QSplitter()
        splitter.addWidget(self.tree)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 3)
        self.setCentralWidget(splitter)
        self.statusBar().showMessage(f"Database: {store.path}")
        self.reload()

    def reload(self) -> None:
        self.tree.clear()
        for subject in self.store.subjects():
            node = QTreeWidgetItem([subject["code"]])
            self.tree.addTopLevelItem(node)
            for session in self.store.sessions(subject["code"]):
                child = QTreeWidgetItem([f"{session['date']}  {session['protocol']}"])
                child.setData(0, SESSION_ROLE, session["id"])
                node.addChild(child)
            node.setExpanded(True)

    def show_session(self, session_id: int) -> None:
        try:
            summary = self.store.session_summary(session_id)
        except AqaError as exc:
            QMessageBox.warning(self, "AQA Studio", str(exc))
            return
        self.title.setText(f"{summary['subject']} — {summary['protocol_name']}")
        self.sheet.setRowCount(len(summary["items"]))
        for row, item in enumerate(summary["items"]):
            grade = "" if item["grade"] is None else f"{item['grade']:g}"
            values = [item["name"], item["range"], str(item["recordings"]), grade]
            for col, value in enumerate(values):
                self.sheet.setItem(row, col, QTableWidgetItem(value))
        self.sheet.resizeColumnsToContents()
        self.total.setText(f"Total: {summary['completeness']}")

    def _show_selected(self, current: QTreeWidgetItem | None, _previous) -> None:
        session_id = current.data(0, SESSION_ROLE) if current else None
        if session_id is not None:
            self.show_session(session_id)

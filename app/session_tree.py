"""Subjects -> sessions -> recordings, with a status mark per recording."""

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHeaderView, QTreeWidget, QTreeWidgetItem

from engine.flags import MARK, Flag, recording_flags
from engine.store import Store

KIND_ROLE = Qt.ItemDataRole.UserRole
ID_ROLE = Qt.ItemDataRole.UserRole + 1


def status_text(status: dict, busy: str | None = None, flags: list[Flag] = ()) -> str:
    """A short status mark: what runs now or what has been done, and the review flags."""
    if busy:
        text = f"⟳ {busy}"
    elif status["rated"]:
        text = "✔ rated"
    elif status["graded"]:  # a proposal made for another subject is no grade to rely on
        text = "● stale" if any(f.kind == "stale" for f in flags) else "● graded"
    elif status["extracted"]:
        text = "◐ extracted"
    else:
        text = "○ not extracted"
    kinds = len({f.kind for f in flags})  # how many kinds to review; the reasons in the tooltip
    if kinds:
        return f"{text}  {MARK} {kinds}"
    return text + (f"  {MARK} review" if status["needs_review"] else "")


class SessionTree(QTreeWidget):
    """Emits ``sessionSelected(id)`` and ``recordingSelected(id)``."""

    sessionSelected = Signal(int)
    recordingSelected = Signal(int)

    def __init__(self, store: Store):
        super().__init__()
        self.store = store
        self.setHeaderLabels(["Subjects, sessions, recordings", "Status"])
        # The status column keeps its full text and stays in view; long names elide instead.
        header = self.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.busy: dict[int, str] = {}  # recording id -> the job running on it
        self.currentItemChanged.connect(self._selected)

    def set_busy(self, recording_id: int, what: str | None) -> None:
        """Show ``what`` (e.g. "extracting") as the recording's status; None clears it."""
        if what is None:
            self.busy.pop(recording_id, None)
        else:
            self.busy[recording_id] = what
        self.reload()

    def reload(self) -> None:
        """Rebuild from the database, keeping the selection (quietly: nothing is re-opened)."""
        selected = self._key(self.currentItem())
        self.blockSignals(True)
        try:
            self._rebuild(selected)
        finally:
            self.blockSignals(False)

    def _rebuild(self, selected) -> None:
        self.clear()
        for subject in self.store.subjects():
            subject_node = self._node(self, subject["code"], "subject", subject["id"])
            for session in self.store.sessions(subject["code"]):
                label = f"{session['date']}  {session['protocol'].upper()}  #{session['id']}"
                session_node = self._node(subject_node, label, "session", session["id"])
                for rec in self.store.recordings(session["id"]):
                    view = f" ({rec['view']})" if rec["view"] else ""
                    label = f"{rec['item']}{view} — {Path(rec['path']).name}"
                    node = self._node(session_node, label, "recording", rec["id"])
                    status = self.store.recording_status(rec["id"])
                    flags = recording_flags(self.store, rec["id"])
                    node.setText(1, status_text(status, self.busy.get(rec["id"]), flags))
                    tip = "\n".join(f"{MARK} {f.text}" for f in flags)
                    for column in (0, 1):
                        node.setToolTip(column, tip)
                session_node.setExpanded(True)
            subject_node.setExpanded(True)
        if selected:
            self.select(*selected)

    def select(self, kind: str, row_id: int) -> None:
        for node in self._walk():
            if self._key(node) == (kind, row_id):
                self.setCurrentItem(node)
                return

    def current_key(self) -> tuple[str, int] | None:
        """(kind, id) of the selected node, or None."""
        return self._key(self.currentItem())

    def selected(self, kind: str) -> int | None:
        """The id of the selected node of ``kind`` or of its ancestor of that kind."""
        node = self.currentItem()
        while node is not None:
            if node.data(0, KIND_ROLE) == kind:
                return node.data(0, ID_ROLE)
            node = node.parent()
        return None

    def _node(self, parent, label: str, kind: str, row_id: int) -> QTreeWidgetItem:
        node = QTreeWidgetItem([label, ""])
        node.setData(0, KIND_ROLE, kind)
        node.setData(0, ID_ROLE, row_id)
        if isinstance(parent, QTreeWidget):
            parent.addTopLevelItem(node)
        else:
            parent.addChild(node)
        return node

    def _walk(self):
        stack = [self.topLevelItem(i) for i in range(self.topLevelItemCount())]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(node.child(i) for i in range(node.childCount()))

    @staticmethod
    def _key(node: QTreeWidgetItem | None):
        return None if node is None else (node.data(0, KIND_ROLE), node.data(0, ID_ROLE))

    def _selected(self, current, _previous) -> None:
        key = self._key(current)
        if key is None:
            return
        if key[0] == "session":
            self.sessionSelected.emit(key[1])
        elif key[0] == "recording":
            self.recordingSelected.emit(key[1])

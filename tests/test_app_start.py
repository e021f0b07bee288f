"""The desktop app starts, shows the record and closes cleanly (offscreen)."""

import subprocess
import sys

from app.main_window import MainWindow
from engine.store import Store


def test_main_window_lists_sessions_and_shows_sheet(qtbot):
    with Store() as store:
        store.add_subject("GUI-1")
        session = store.new_session("GUI-1", "cmas")
        window = MainWindow(store)
        qtbot.addWidget(window)
        window.show()
        subject_node = window.tree.topLevelItem(0)
        assert subject_node.text(0) == "GUI-1"
        window.tree.setCurrentItem(subject_node.child(0))
        assert window.sheet.rowCount() == 14
        assert window.total.text() == "Total: 0/52, 0 of 14 items rated"
        assert session["id"] == 1


def test_aqa_studio_starts_and_quits():
    result = subprocess.run(
        [sys.executable, "-m", "app", "--quit-after", "300"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr

"""The record in the desktop app: the login at start and "Sign session…".

(In a file of its own that runs before any test draws a PDF: the PDF writer makes a
QGuiApplication when none exists, and widgets need a QApplication.)"""

import pytest
from test_record_signatures import record  # noqa: F401  (the fixture)

from engine.store import Store


def log_in(qtbot, store: Store, name: str, password: str):
    """The login dialog with ``name`` and ``password`` typed in and OK pressed (it stays open
    with the engine's sentence when they are wrong)."""
    from app.login import LoginDialog

    dialog = LoginDialog(store)
    qtbot.addWidget(dialog)
    dialog.name.setText(name)
    dialog.password.setText(password)
    dialog.try_login()
    return dialog


@pytest.mark.usefixtures("record")
def test_gui_login_at_start_and_sign_session(qtbot, monkeypatch):
    """The login dialog (wrong password: the engine's sentence, then a login) and Sign session…
    on the main window; the session is then locked for the window's rating too."""
    from PySide6.QtWidgets import QDialog

    import app.sign_dialog
    from app.main_window import MainWindow

    monkeypatch.delenv("AQA_USER")
    monkeypatch.delenv("AQA_PASSWORD")
    with Store() as store:
        dialog = log_in(qtbot, store, "boss", "nope")
        assert "password is wrong" in dialog.message.text() and store.user is None
        dialog.password.setText("boss-pw")
        dialog.try_login()
        assert dialog.result() == QDialog.DialogCode.Accepted and store.user["name"] == "boss"
        window = MainWindow(store)
        qtbot.addWidget(window)
        window.tree.select("session", 1)
        monkeypatch.setattr(app.sign_dialog.SignDialog, "exec", lambda self: 1)
        monkeypatch.setattr(
            app.sign_dialog.SignDialog,
            "values",
            lambda self: {"meaning": "approved", "password": "boss-pw"},
        )
        window.sign_session()
        (sig,) = store.signatures(1)
        assert sig["printed_name"] == "Dr Boss" and sig["voided_at"] is None
        errors = []
        monkeypatch.setattr("app.main_window.show_error", lambda parent, text: errors.append(text))
        window.tree.select("recording", 1)
        window.confirm_grade(1, "")
        assert errors and "is signed (approved by Dr Boss" in errors[0]
        window.close()
    from engine.store.users import forget_login

    forget_login()


def login_in_worker(progress=None, cancel=None) -> tuple:
    """(user, password) the worker process works as; whether its environment (as set and as any
    program reading /proc sees it) holds the password. Runs in the GUI's worker."""
    import os
    from pathlib import Path

    from engine.store.users import process_login

    name, password = process_login()
    seen = Path(f"/proc/{os.getpid()}/environ").read_bytes()
    return name, password(), "AQA_PASSWORD" in os.environ, password().encode() in seen


@pytest.mark.usefixtures("record")
def test_gui_login_reaches_the_worker_outside_any_environment(qtbot, monkeypatch):
    """The login dialog's user and password reach the worker process with each job (its stores
    open as that user), but neither process's environment holds the password."""
    import os

    from app.worker import worker
    from engine.store.users import forget_login

    monkeypatch.delenv("AQA_USER")
    monkeypatch.delenv("AQA_PASSWORD")
    worker().stop()  # the next job starts a worker after the login, with the GUI's environment
    try:
        with Store() as store:
            log_in(qtbot, store, "boss", "boss-pw")
            assert store.user["name"] == "boss" and "AQA_PASSWORD" not in os.environ
            found = worker().submit(login_in_worker).result(timeout=120)
            assert found == ("boss", "boss-pw", False, False)
            forget_login()  # logged out in the GUI: the next job carries no login
            monkeypatch.setenv("AQA_USER", "drR")  # (a script's own environment still counts)
            monkeypatch.setenv("AQA_PASSWORD", "boss-pw")
            assert worker().submit(login_in_worker).result(timeout=120)[:3] == (
                "drR",
                "boss-pw",
                True,
            )
    finally:
        worker().stop()
        forget_login()

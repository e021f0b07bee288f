"""The login at start (only when the record has user accounts; a record without any is a
single-user record). The engine checks the password and counts failures (lockout)."""

import os

from PySide6.QtWidgets import QDialog, QLabel, QLineEdit, QWidget

from app.dialogs import _Form
from engine.errors import AqaError
from engine.store import Store
from engine.store.users import use_login


class LoginDialog(_Form):
    """User name and password; stays open with the engine's sentence until a login succeeds."""

    def __init__(self, store: Store, parent: QWidget | None = None):
        super().__init__("AQA Studio — log in", parent)
        self.store = store
        self.name = QLineEdit(os.environ.get("AQA_USER", ""))
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.form.addRow("User", self.name)
        self.form.addRow("Password", self.password)
        self.form.addRow(self.message)
        self.buttons.accepted.disconnect()
        self.buttons.accepted.connect(self.try_login)
        self.finish()

    def try_login(self) -> None:
        name, password = self.name.text().strip(), self.password.text()
        try:
            self.store.login(name, password)
        except AqaError as exc:
            self.message.setText(str(exc))
            self.password.clear()
            return
        # The worker process opens its own store: each job carries this login through the pipe
        # to it (app.worker), never through an environment another program could read.
        use_login(name, lambda: password)
        self.accept()


def login_at_start(store: Store) -> bool:
    """True when work may start: no accounts, or a successful login."""
    if not store.has_users():
        return True
    return LoginDialog(store).exec() == QDialog.DialogCode.Accepted

""" "Sign session…": the meaning and the password again; the engine signs and locks."""

from PySide6.QtWidgets import QComboBox, QLabel, QLineEdit

from app.dialogs import _Form
from engine.store.signatures import MEANINGS


class SignDialog(_Form):
    def __init__(self, session_id: int, signer: str, parent=None):
        super().__init__(f"Sign session {session_id}", parent)
        self.form.addRow(QLabel(f"Signing as {signer}. A signed session is locked until an admin "
                           "unlocks it with a reason."))  # fmt: skip
        self.meaning = QComboBox()
        self.meaning.addItems(MEANINGS)
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.form.addRow("Meaning", self.meaning)
        self.form.addRow("Password", self.password)
        self.finish()

    def values(self) -> dict:
        return {"meaning": self.meaning.currentText(), "password": self.password.text()}

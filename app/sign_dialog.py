""" "Sign session…": the meaning and the password again; the engine signs and locks."""

from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit

from engine.store.signatures import MEANINGS


class SignDialog(QDialog):
    def __init__(self, session_id: int, signer: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"Sign session {session_id}")
        form = QFormLayout(self)
        form.addRow(QLabel(f"Signing as {signer}. A signed session is locked until an admin "
                           "unlocks it with a reason."))  # fmt: skip
        self.meaning = QComboBox()
        self.meaning.addItems(MEANINGS)
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow("Meaning", self.meaning)
        form.addRow("Password", self.password)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def values(self) -> dict:
        return {"meaning": self.meaning.currentText(), "password": self.password.text()}

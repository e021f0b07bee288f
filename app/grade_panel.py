"""The grade panel: the model's proposal, the measurement, and the clinician's controls.

The proposal is shown as a bar chart over the item's grades with the expected score, an
uncertainty flag, modality chips (used / missing and why) and the model with its DEMO badge.
The clinician picks a grade (buttons or digit keys), may add a reason, and confirms. Under the
item's name: who the recording's subject is and how that was decided.
"""

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QDoubleSpinBox,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from engine.flags import MARK, proposal_flags
from engine.protocols import Item
from engine.store.choices import describe, utc_minute

CHIP_HTML = '<span style="color: white; background-color: {};">&nbsp;{}&nbsp;</span>'
USED, MISSING, FLAG = "#2e7d32", "#9e9e9e", "#b71c1c"


class GradePanel(QWidget):
    """Emits ``confirmed(grade, reason)`` when the clinician confirms a grade."""

    confirmed = Signal(float, str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.item: Item | None = None

        self.heading = QLabel("No recording selected")
        self.heading.setWordWrap(True)
        self.subject = QLabel("")  # who the skeleton follows
        self.subject.setWordWrap(True)
        self.chart = pg.PlotWidget()
        self.chart.setMinimumHeight(80)
        self.chart.setMaximumHeight(110)
        self.chart.setMouseEnabled(x=False, y=False)
        self.chart.setLabel("left", "probability")
        self.chart.setLabel("bottom", "grade")
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.flags = QLabel("")  # the review flags, each with its reason
        self.flags.setWordWrap(True)
        self.flags.setStyleSheet(f"color: {FLAG};")
        self.chips = QLabel("")  # modality chips as one wrapping line (no width of their own)
        self.chips.setWordWrap(True)
        self._chip_texts: list[str] = []
        self._chip_tips: list[str] = []
        self.measurement = QLabel("")
        self.measurement.setWordWrap(True)
        self.model = QLabel("")
        self.model.setWordWrap(True)

        proposal = QGroupBox("Model proposal")
        box = QVBoxLayout(proposal)
        for w in (self.chart, self.summary, self.flags, self.chips, self.measurement, self.model):
            box.addWidget(w)
        box.addStretch(1)  # a tall screen leaves the room below, not between the lines

        rating = QGroupBox("Clinician grade")
        self.buttons = QGridLayout()
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        self.score = QDoubleSpinBox()
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("reason (optional)")
        self.confirm = QPushButton("Confirm grade (Ctrl+Enter)")
        self.confirm.clicked.connect(self._confirm)
        self.current = QLabel("")
        rbox = QVBoxLayout(rating)
        rbox.addLayout(self.buttons)
        rbox.addWidget(self.score)
        confirm_row = QHBoxLayout()
        confirm_row.addWidget(self.reason, 1)
        confirm_row.addWidget(self.confirm)
        rbox.addLayout(confirm_row)
        rbox.addWidget(self.current)
        for box_layout in (box, rbox):
            box_layout.setSpacing(3)
            box_layout.setContentsMargins(6, 4, 6, 4)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addWidget(self.heading)
        layout.addWidget(self.subject)
        scroll = QScrollArea()  # many flags on a laptop screen scroll instead of overlapping
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(proposal)
        layout.addWidget(scroll, 1)
        layout.addWidget(rating)
        self.set_item(None)

    # -- content -------------------------------------------------------------------------------
    def set_item(self, item: Item | None, current: dict[str, Any] | None = None) -> None:
        """Show the controls for ``item`` and its current clinician rating."""
        self.item = item
        for button in self.group.buttons():
            self.group.removeButton(button)
            button.deleteLater()
        self.heading.setText(item.name if item else "No recording selected")
        self.subject.setText("")
        graded = bool(item and item.integer)
        for n, grade in enumerate(item.grades if graded else []):
            button = QPushButton(str(grade))
            button.setMinimumWidth(28)  # seven to a row fit a laptop's panel
            button.setCheckable(True)
            self.group.addButton(button, grade)
            self.buttons.addWidget(button, n // 7, n % 7)
        self.score.setVisible(bool(item) and not graded)
        if item and not graded:
            self.score.setRange(item.low, item.high)
            self.score.setDecimals(2)
        self.confirm.setEnabled(item is not None)
        self.show_rating(current)
        self.show_assessment(None)

    def show_rating(self, rating: dict[str, Any] | None) -> None:
        if rating is None:
            self.current.setText("Not rated yet")
            return
        self.current.setText(
            f"Current: {rating['grade']:g} by {rating['rater']} ({utc_minute(rating['created_at'])})"
        )
        if self.item and self.item.integer and self.group.button(int(rating["grade"])):
            self.group.button(int(rating["grade"])).setChecked(True)
        elif self.item:
            self.score.setValue(rating["grade"])

    def show_assessment(self, assessment: dict[str, Any] | None) -> None:
        """An assessment row (see the store) or None."""
        self.chart.clear()
        self._clear_chips()
        self.chart.setVisible(assessment is not None)  # no empty axes before a proposal
        if assessment is None:
            self.summary.setText("No proposal yet: extract and grade the recording.")
            self.flags.setText("")
            self.measurement.setText("")
            self.model.setText("")
            return
        details = assessment.get("details") or {}
        probs = np.asarray(assessment["grade_probs"], dtype=float)
        grades = details.get("grades") or list(range(len(probs)))
        self.chart.addItem(pg.BarGraphItem(x=grades, height=probs, width=0.7, brush="#1565c0"))
        self.chart.getAxis("bottom").setTicks([[(g, f"{g:g}") for g in grades]])  # grades only
        self.chart.setYRange(0, 1)
        expected = assessment["expected_score"]
        self.chart.addItem(pg.InfiniteLine(expected, pen=pg.mkPen("#e65100", width=2)))
        self.summary.setText(
            f"Most likely grade {assessment['grade']:g}, expected score {expected:.2f}"
        )
        flags = proposal_flags(assessment)
        self.flags.setText("\n".join(f"{MARK} {f.text}" for f in flags))
        for name in details.get("modalities_used", []):
            self._chip(name, USED, "used")
        for name, why in details.get("modalities_missing", {}).items():
            self._chip(name, MISSING, why)
        self.chips.setText(" ".join(self._chip_texts))
        self.chips.setToolTip("\n".join(self._chip_tips))
        disagrees = any(f.kind == "disagrees" for f in flags)  # that flag gives the measurement
        self.measurement.setText("" if disagrees else details.get("measurement_text", ""))
        self.measurement.setVisible(bool(self.measurement.text()))  # no blank line
        badge = "  [DEMO model: synthetic data, not for clinical use]"
        self.model.setText(
            f"Model {assessment['model_id']}" + (badge if details.get("demo") else "")
        )

    def show_subject(self, text: str) -> None:
        self.subject.setText(text)

    # -- keyboard helpers ----------------------------------------------------------------------
    def choose(self, grade: int) -> bool:
        button = self.group.button(grade)
        if button is None:
            return False
        button.setChecked(True)
        return True

    def _confirm(self) -> None:
        if self.item is None:
            return
        if self.item.integer:
            grade = self.group.checkedId()
            if grade < 0:
                return
        else:
            grade = self.score.value()
        self.confirmed.emit(float(grade), self.reason.text())
        self.reason.clear()

    def _chip(self, name: str, colour: str, tooltip: str) -> None:
        self._chip_texts.append(CHIP_HTML.format(colour, name))
        self._chip_tips.append(f"{name}: {tooltip}")

    def _clear_chips(self) -> None:
        self._chip_texts.clear()
        self._chip_tips.clear()
        self.chips.setText("")
        self.chips.setToolTip("")


def subject_text(choice: dict | None, subject: dict | None, people: int) -> str:
    """Who the recording's subject is: the stored ``choice`` in force (``Store.subject_choice``)
    when the user set one, else the extraction's automatic ``subject`` among ``people``."""
    if choice is not None and (choice["person"] is not None or choice["handovers"]):
        return f"Subject: {describe(choice)}"
    if subject is None:
        return "Subject: chosen automatically (named once the tracks are loaded or extracted)"
    if subject["id"] is None:
        return "Subject: nobody was found in the video"
    if people > 1:
        return f"Subject: person {subject['id']}, chosen automatically among {people} people"
    return f"Subject: person {subject['id']}, the only person in the video"

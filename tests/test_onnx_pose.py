"""Top-down ONNX pose: decoding, the affine crop and its inverse, and clear errors for bad files.

The ONNX models are tiny torch modules exported by the test itself whose outputs are known: fixed
heatmaps / SimCC vectors with peaks at chosen places, and "blob" models whose peaks follow a bright
disc in the input crop, so that a keypoint found in the crop must land on the disc in the frame.
"""

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.errors import InputError, MissingWeightsError
from engine.extract.onnx_pose import (
    CropBox,
    OnnxPoseBackend,
    OnnxTopDownPose,
    decode_heatmaps,
    decode_simcc,
)
from engine.extract.registry import StreamInfo
from engine.media.decode import Frame

IN_W, IN_H = 48, 64  # model input (aspect 0.75, like 192x256)
HM_W, HM_H = 12, 16  # heatmap: stride 4
SPLIT = 2.0  # SimCC split ratio
FRAME_W, FRAME_H = 320, 240
BOX = (40.0, 20.0, 112.0, 116.0)  # 72 x 96: aspect 0.75, so padding is the only change
BOX_W_PADDED = (BOX[2] - BOX[0]) * 1.25
RNG = np.random.default_rng(7)
# Peaks of the fixed heatmaps (cells), away from integers and half cells.
PEAKS = np.stack(
    [RNG.uniform(1.5, HM_W - 2.5, 17), RNG.uniform(1.5, HM_H - 2.5, 17)], axis=1
).astype(np.float32)
PEAKS = np.where(np.abs(PEAKS - np.round(PEAKS)) < 0.1, PEAKS + 0.2, PEAKS)
# Per-keypoint offsets (heatmap cells / SimCC bins) of the blob models.
OFFSETS = np.stack([np.arange(17) % 5 - 2, np.arange(17) // 5 - 1], axis=1)


def _gaussians(peaks: np.ndarray, w: int, h: int, sigma: float = 1.5) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    d2 = (xs[None] - peaks[:, 0, None, None]) ** 2 + (ys[None] - peaks[:, 1, None, None]) ** 2
    return np.exp(-d2 / (2 * sigma**2)).astype(np.float32)


class FixedHeatmaps(torch.nn.Module):
    def __init__(self, heatmaps: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("hm", torch.from_numpy(heatmaps)[None])

    def forward(self, x):
        return self.hm + 0.0 * x.mean()


class FixedSimcc(torch.nn.Module):
    def __init__(self, x_bins: np.ndarray, y_bins: np.ndarray, swap: bool = False) -> None:
        super().__init__()
        sx = np.zeros((1, 17, int(IN_W * SPLIT)), np.float32)
        sy = np.zeros((1, 17, int(IN_H * SPLIT)), np.float32)
        sx[0, np.arange(17), x_bins] = 0.9
        sy[0, np.arange(17), y_bins] = 0.8
        self.register_buffer("sx", torch.from_numpy(sx))
        self.register_buffer("sy", torch.from_numpy(sy))
        self.swap = swap

    def forward(self, x):
        zero = 0.0 * x.mean()
        return (self.sy + zero, self.sx + zero) if self.swap else (self.sx + zero, self.sy + zero)


def _shift_kernels(offsets: np.ndarray, radius: int, dims: int) -> torch.Tensor:
    """Delta kernels so that output channel k at p equals the input at p - offset_k."""
    size = 2 * radius + 1
    if dims == 2:
        w = torch.zeros(17, 1, size, size)
        for k, (dx, dy) in enumerate(offsets):
            w[k, 0, radius - dy, radius - dx] = 1.0
    else:
        w = torch.zeros(17, 1, size)
        for k, d in enumerate(offsets):
            w[k, 0, radius - d] = 1.0
    return w


class BlobHeatmaps(torch.nn.Module):
    """Heatmap k = the bright part of the red channel, pooled to stride 4, moved by OFFSETS[k]."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("kernel", _shift_kernels(OFFSETS, 3, 2))

    def forward(self, x):
        bright = F.avg_pool2d(F.relu(x[:, :1]), 4)
        return F.conv2d(bright, self.kernel, padding=3)


class BlobSimcc(torch.nn.Module):
    """SimCC vectors: the bright part's column / row profile at SPLIT bins per pixel, moved."""

    def __init__(self) -> None:
        super().__init__()
        # One offset unit = 4 input pixels = 8 bins, as one heatmap cell of BlobHeatmaps.
        self.register_buffer("kx", _shift_kernels(OFFSETS[:, 0] * 8, 16, 1))
        self.register_buffer("ky", _shift_kernels(OFFSETS[:, 1] * 8, 16, 1))

    def forward(self, x):
        bright = F.relu(x[:, :1])
        px = F.interpolate(bright.sum(dim=2), scale_factor=SPLIT, mode="nearest")
        py = F.interpolate(bright.sum(dim=3), scale_factor=SPLIT, mode="nearest")
        return F.conv1d(px, self.kx, padding=16), F.conv1d(py, self.ky, padding=16)


def _export(
    module, path: Path, outputs=("heatmaps",), channels: int = 3, dtype=torch.float32
) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            module.eval().to(dtype),
            (torch.zeros(1, channels, IN_H, IN_W, dtype=dtype),),
            str(path),
            input_names=["input"],
            output_names=list(outputs),
            dynamo=False,
        )
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("onnx")
    x_bins = RNG.integers(2, int(IN_W * SPLIT) - 2, 17)
    y_bins = RNG.integers(2, int(IN_H * SPLIT) - 2, 17)
    simcc = ("simcc_x", "simcc_y")
    paths = {
        "fixed_heatmap": _export(
            FixedHeatmaps(_gaussians(PEAKS, HM_W, HM_H)), folder / "fixed_hm.onnx"
        ),
        "fixed_simcc": _export(FixedSimcc(x_bins, y_bins), folder / "fixed_simcc.onnx", simcc),
        "swapped_simcc": _export(
            FixedSimcc(x_bins, y_bins, swap=True), folder / "swapped.onnx", simcc[::-1]
        ),
        "blob_heatmap": _export(BlobHeatmaps(), folder / "blob_hm.onnx"),
        "half_heatmap": _export(
            FixedHeatmaps(_gaussians(PEAKS, HM_W, HM_H)), folder / "half.onnx", dtype=torch.float16
        ),
        "blob_simcc": _export(BlobSimcc(), folder / "blob_simcc.onnx", simcc),
        "grey_input": _export(BlobHeatmaps(), folder / "grey.onnx", channels=1),
        "ten_keypoints": _export(
            FixedHeatmaps(_gaussians(PEAKS[:10], HM_W, HM_H)), folder / "ten.onnx"
        ),
    }
    paths["bins"] = (x_bins, y_bins)
    return paths


def _to_frame(points_input: np.ndarray, box=BOX) -> np.ndarray:
    """Input pixels -> frame pixels for BOX (aspect already 0.75): written out by hand."""
    x0, y0, x1, y1 = box
    w, h = (x1 - x0) * 1.25, (y1 - y0) * 1.25
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return np.stack(
        [points_input[:, 0] * w / IN_W + cx - w / 2, points_input[:, 1] * h / IN_H + cy - h / 2],
        axis=1,
    )


def _frame_with_disc(centre: tuple[float, float], radius: float = 6.0) -> np.ndarray:
    ys, xs = np.mgrid[0:FRAME_H, 0:FRAME_W]
    disc = (xs - centre[0]) ** 2 + (ys - centre[1]) ** 2 <= radius**2
    frame = np.zeros((FRAME_H, FRAME_W, 3), np.uint8)
    frame[disc] = 255
    return frame


def _fixed_box(_frame):
    return BOX


def test_decode_heatmaps_quarter_refinement():
    points, scores = decode_heatmaps(_gaussians(PEAKS, HM_W, HM_H))
    nearest = np.round(PEAKS)
    expected = nearest + 0.25 * np.sign(PEAKS - nearest)
    np.testing.assert_allclose(points, expected, atol=1e-6)
    assert np.all(scores > 0.8) and np.all(scores <= 1.0)


def test_decode_heatmaps_keeps_border_maxima_unrefined():
    hm = np.zeros((1, 5, 5), np.float32)
    hm[0, 0, 4] = 1.0
    hm[0, 1, 4] = 0.5
    points, _ = decode_heatmaps(hm)
    assert points.tolist() == [[4.0, 0.0]]


def test_decode_simcc_divides_by_split_ratio():
    sx = np.zeros((2, 20), np.float32)
    sy = np.zeros((2, 30), np.float32)
    sx[0, 7], sx[1, 12] = 0.9, 0.4
    sy[0, 21], sy[1, 3] = 0.6, 0.8
    points, scores = decode_simcc(sx, sy, 2.0)
    assert points.tolist() == [[3.5, 10.5], [6.0, 1.5]]
    np.testing.assert_allclose(scores, [0.6, 0.4])


def test_crop_box_round_trip():
    region = CropBox.around((10, 50, 30, 60), aspect=0.75)
    assert region.width / region.height == pytest.approx(0.75)
    assert region.width == pytest.approx(20 * 1.25)  # the wider side is kept, the other grown
    matrix = region.matrix(IN_W, IN_H)
    points = np.array([[12.0, 55.0], [29.0, 51.0]])
    inside = points @ matrix[:, :2].T + matrix[:, 2]
    np.testing.assert_allclose(region.to_frame(inside, IN_W, IN_H), points, atol=1e-9)


def test_fixed_heatmaps_map_back_to_frame(models):
    pose = OnnxTopDownPose(models["fixed_heatmap"], device="cpu", detector=_fixed_box)
    result = pose.process(np.zeros((FRAME_H, FRAME_W, 3), np.uint8))
    nearest = np.round(PEAKS)
    cells = nearest + 0.25 * np.sign(PEAKS - nearest)
    expected = _to_frame(cells * (IN_W / HM_W))
    assert result.detected and result.source == "detector"
    np.testing.assert_allclose(result.coco17[:, :2], expected, atol=1e-3)


def test_float16_model(models):
    half = OnnxTopDownPose(models["half_heatmap"], device="cpu", detector=_fixed_box)
    full = OnnxTopDownPose(models["fixed_heatmap"], device="cpu", detector=_fixed_box)
    assert half.layout.input_type == "float16"
    frame = np.zeros((FRAME_H, FRAME_W, 3), np.uint8)
    a, b = half.process(frame).coco17, full.process(frame).coco17
    # float16 rounding can flip the quarter-cell step of a nearly symmetric peak: half a cell.
    half_cell = 0.5 * (IN_W / HM_W) * BOX_W_PADDED / IN_W
    assert np.abs(a[:, :2] - b[:, :2]).max() <= half_cell + 1e-6
    assert np.median(np.abs(a[:, :2] - b[:, :2])) < 1e-3
    np.testing.assert_allclose(a[:, 2], b[:, 2], atol=2e-3)


@pytest.mark.parametrize("name", ["fixed_simcc", "swapped_simcc"])
def test_fixed_simcc_map_back_to_frame(models, name):
    pose = OnnxTopDownPose(models[name], device="cpu", detector=_fixed_box)
    assert pose.layout.kind == "simcc" and pose.layout.split_ratio == SPLIT
    result = pose.process(np.zeros((FRAME_H, FRAME_W, 3), np.uint8))
    x_bins, y_bins = models["bins"]
    expected = _to_frame(np.stack([x_bins, y_bins], axis=1) / SPLIT)
    np.testing.assert_allclose(result.coco17[:, :2], expected, atol=1e-3)
    np.testing.assert_allclose(result.coco17[:, 2], 0.8)


@pytest.mark.parametrize("name,cell", [("blob_heatmap", 4.0), ("blob_simcc", 1.0)])
def test_blob_found_through_the_crop_and_tracked(models, name, cell):
    """A disc seen in the crop gives keypoints at the disc (+ the model's offsets) in the frame;
    the next frame's box comes from these keypoints and follows the disc as it moves."""
    pose = OnnxTopDownPose(models[name], device="cpu", detector=_fixed_box)
    stride = 4.0  # input pixels per offset unit
    box = BOX
    for centre, source in (((70.0, 60.0), "detector"), ((78.0, 66.0), "tracked")):
        # Frame pixels per input pixel: the box, grown to aspect 0.75, padded by 1.25.
        w, h = box[2] - box[0], box[3] - box[1]
        scale = 1.25 * max(w, 0.75 * h) / IN_W
        result = pose.process(_frame_with_disc(centre))
        assert result.detected and result.source == source
        expected = np.array(centre) + OFFSETS * stride * scale
        error = np.abs(result.coco17[:, :2] - expected).max()
        assert error <= cell * scale, (error, cell * scale)  # one heatmap cell / input pixel
        box = result.box


def test_whole_frame_without_detector(models):
    pose = OnnxTopDownPose(models["fixed_simcc"], device="cpu")
    box, source = pose.person_box(np.zeros((FRAME_H, FRAME_W, 3), np.uint8))
    assert source == "frame" and box == (0.0, 0.0, FRAME_W, FRAME_H)


def test_nobody_found_gives_empty_frame(models):
    pose = OnnxTopDownPose(models["blob_heatmap"], device="cpu", detector=_fixed_box)
    result = pose.process(np.zeros((FRAME_H, FRAME_W, 3), np.uint8))  # no disc: all scores 0
    assert not result.detected and not result.coco17.any()


def test_backend_track_in_video_pixels(models):
    backend = OnnxPoseBackend(models["blob_heatmap"], device="auto", detector="none")
    backend.start(StreamInfo(FRAME_W, FRAME_H, scale=2.0, fps=25.0, expected_frames=3))
    centres = [(150.0, 120.0), (154.0, 118.0), (158.0, 116.0)]
    for i, centre in enumerate(centres):
        backend.update(Frame(index=i, time=i / 25.0, image=_frame_with_disc(centre, 10.0)))
    track = backend.finish()
    assert track.ok and track.backend == "onnx" and track["coco17"].shape == (3, 17, 3)
    assert track["detected"].all()
    # Keypoint 7 has offset (0, 0); the track is in the original video's pixels (x2).
    nose_like = track["coco17"][:, 7, :2] / 2.0
    np.testing.assert_allclose(nose_like[1:], np.array(centres[1:]), atol=8.0)
    # The provider is what the session runs on, not what onnxruntime lists as available.
    assert track.meta["provider"] == backend.pose.session.get_providers()[0]
    assert backend.params()["decoder"] == "heatmap"


def test_missing_model_file(tmp_path):
    path = tmp_path / "rtmpose.onnx"
    with pytest.raises(MissingWeightsError, match="rtmpose.onnx does not exist"):
        OnnxTopDownPose(path, device="cpu")


def test_corrupt_model_file(tmp_path):
    path = tmp_path / "broken.onnx"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(MissingWeightsError, match="broken.onnx is not a readable ONNX model"):
        OnnxTopDownPose(path, device="cpu")


def test_wrong_input_shape(models):
    with pytest.raises(InputError, match=r"grey.onnx takes input of shape \[1, 1, 64, 48\]"):
        OnnxTopDownPose(models["grey_input"], device="cpu")


def test_wrong_output_layout(models):
    with pytest.raises(InputError, match=r"ten.onnx gives outputs of shapes \[\(1, 10, 16, 12\)\]"):
        OnnxTopDownPose(models["ten_keypoints"], device="cpu")


def test_backend_needs_a_model():
    with pytest.raises(MissingWeightsError, match="needs a model file"):
        OnnxPoseBackend(None, device="cpu", detector="none")


def test_blazepose_detector_gives_the_person_box(models, demo_video):
    """On a real frame the BlazePose detector's body circle, as a box, holds BlazePose's own
    landmarks; the backend builds that detector when asked."""
    import av

    from engine.extract import pose_models
    from engine.extract.blazepose import BlazePose
    from engine.extract.pose_models import DETECTOR_FILE, LANDMARK_FILE

    folder = Path.home() / ".cache" / "aqa-studio-tests" / "blazepose"
    if not ((folder / DETECTOR_FILE).is_file() and (folder / LANDMARK_FILE).is_file()):
        try:
            pose_models.fetch_pose_models(folder)
        except MissingWeightsError as exc:
            pytest.skip(f"BlazePose model files cannot be fetched here: {exc}")
    with av.open(str(demo_video)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index == 45:  # the athlete is in view (see test_blazepose)
                image = frame.to_ndarray(format="rgb24")
                break
    landmarks = BlazePose(model_dir=folder, fetch=False).process(image)
    assert landmarks.detected
    backend = OnnxPoseBackend(
        models["fixed_simcc"], device="cpu", detector="blazepose", pose_model_dir=str(folder)
    )
    box, source = backend.pose.person_box(image)
    assert source == "detector"
    x0, y0, x1, y1 = landmarks.box
    assert box[0] <= x0 and box[2] >= x1 and box[1] <= y0 + 20 and box[3] >= y1
    assert (box[2] - box[0]) < 0.6 * image.shape[1]  # a person box, not the frame


def test_cuda_provider_gives_the_cpu_result_where_it_runs(models):
    from engine.device import CUDA_PROVIDER

    on_gpu = OnnxTopDownPose(models["fixed_heatmap"], device="auto", detector=_fixed_box)
    if on_gpu.provider != CUDA_PROVIDER:
        pytest.skip("onnxruntime's CUDA provider does not run here")
    on_cpu = OnnxTopDownPose(models["fixed_heatmap"], device="cpu", detector=_fixed_box)
    frame = _frame_with_disc((70.0, 60.0))
    np.testing.assert_allclose(
        on_gpu.process(frame).coco17, on_cpu.process(frame).coco17, atol=1e-3
    )

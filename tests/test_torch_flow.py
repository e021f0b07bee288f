"""TV-L1 flow in torch (CPU here; the same code runs on CUDA): accuracy on known synthetic motion
against OpenCV's DIS and Farneback, batching, and the backend's track layout on a real video."""

import cv2
import numpy as np
import pytest
import torch

from engine.extract.flow import FARNEBACK, FlowBackend
from engine.extract.registry import StreamInfo
from engine.extract.torch_flow import TorchFlowBackend, TvL1Params, tvl1_flow
from engine.media.decode import VideoDecoder

SIZE = (96, 128)  # (H, W) of the synthetic frames
BORDER = 12  # pixels left out of the error: motion brings in content from outside the frame


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Small tensors on 2 busy cores: torch's thread pool only adds waiting (10x slower here)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _texture(seed: int = 0) -> np.ndarray:
    """Smooth random texture (two scales of blurred noise), grey uint8, with a margin."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(SIZE[0] + 40, SIZE[1] + 40)).astype(np.float32)
    image = cv2.GaussianBlur(noise, (0, 0), 2.0) + 1.5 * cv2.GaussianBlur(noise, (0, 0), 5.0)
    image = (image - image.min()) / (image.max() - image.min()) * 255
    return image.astype(np.uint8)


def _moved(matrix: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A frame, the frame moved by the affine ``matrix`` (src -> dst) and the true flow."""
    big = _texture(seed)
    h, w = big.shape
    moved = cv2.warpAffine(
        big, matrix, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT
    )
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    gx = matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2] - xs
    gy = matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2] - ys
    crop = (slice(20, 20 + SIZE[0]), slice(20, 20 + SIZE[1]))
    truth = np.stack([gx, gy], axis=-1)[crop].astype(np.float32)
    return big[crop].copy(), moved[crop].copy(), truth


def _shift(dx: float, dy: float, seed: int = 0):
    return _moved(np.array([[1, 0, dx], [0, 1, dy]], np.float64), seed)


def _rotation(degrees: float, seed: int = 0):
    centre = (20 + SIZE[1] / 2, 20 + SIZE[0] / 2)
    return _moved(cv2.getRotationMatrix2D(centre, degrees, 1.0), seed)


def _epe(flow: np.ndarray, truth: np.ndarray) -> float:
    d = (flow - truth)[BORDER:-BORDER, BORDER:-BORDER]
    return float(np.sqrt((d**2).sum(-1)).mean())


def _ours(i0: np.ndarray, i1: np.ndarray, params: TvL1Params | None = None) -> np.ndarray:
    a = torch.from_numpy(i0)[None].float()
    b = torch.from_numpy(i1)[None].float()
    return tvl1_flow(a, b, params)[0].permute(1, 2, 0).numpy()


def _opencv(i0: np.ndarray, i1: np.ndarray) -> dict[str, float]:
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    farneback = cv2.calcOpticalFlowFarneback(i0, i1, None, flags=0, **FARNEBACK)
    return {"dis": dis.calc(i0, i1, None), "farneback": farneback}


@pytest.mark.parametrize(
    "case",
    [lambda: _shift(2.5, -1.0), lambda: _rotation(3.0), lambda: _shift(-6.3, 4.2, seed=1)],
    ids=["shift(2.5,-1.0)", "rotation 3deg", "shift(-6.3,4.2)"],
)
def test_known_motion_as_accurate_as_opencv(case):
    i0, i1, truth = case()
    ours = _epe(_ours(i0, i1), truth)
    reference = {name: _epe(flow, truth) for name, flow in _opencv(i0, i1).items()}
    # Measured (px): shift 0.008 (DIS-medium 0.029, Farneback 0.005), rotation 0.041 (0.062,
    # 0.101), large shift 0.063 (0.104, 0.063).
    assert ours < 0.1, (ours, reference)
    assert ours <= 1.5 * min(reference.values()) + 0.02, (ours, reference)


def test_static_frames_give_zero_flow():
    i0, _, _ = _shift(0.0, 0.0)
    assert np.abs(_ours(i0, i0)).max() < 1e-3


def test_batch_matches_single_pairs():
    pairs = [_shift(2.5, -1.0), _rotation(-2.0, seed=2), _shift(1.0, 3.0, seed=3)]
    i0 = torch.from_numpy(np.stack([p[0] for p in pairs])).float()
    i1 = torch.from_numpy(np.stack([p[1] for p in pairs])).float()
    batched = tvl1_flow(i0, i1)
    for k in range(len(pairs)):
        single = tvl1_flow(i0[k : k + 1], i1[k : k + 1])[0]
        assert torch.allclose(batched[k], single, atol=1e-3)


def test_rejects_mismatched_batches():
    with pytest.raises(ValueError):
        tvl1_flow(torch.zeros(2, 32, 32), torch.zeros(2, 32, 31))


def _feed(backend, video, frames: int):
    decoder = VideoDecoder(video, short_side=240)
    width, height = decoder.size
    backend.start(StreamInfo(width, height, decoder.scale, decoder.output_fps, frames))
    for i, frame in enumerate(decoder.frames()):
        if i == frames:
            break
        backend.update(frame)
    return backend.finish()


def test_backend_track_matches_opencv_layout(vtest_video):
    """8 real frames, batches of 3 pairs (so batch boundaries fall mid-video)."""
    ours = _feed(TorchFlowBackend(device="cpu", short_side=120, batch=3), vtest_video, 8)
    dis = _feed(FlowBackend(method="dis", short_side=120), vtest_video, 8)
    assert ours.ok and ours.backend == "tvl1-torch"
    assert ours["stats"].shape == dis["stats"].shape
    assert ours.meta["layout"] == dis.meta["layout"]
    assert list(ours["valid"]) == [False] + [True] * 7
    assert np.array_equal(ours["frame_index"], dis["frame_index"])
    assert np.isfinite(ours["stats"]).all() and not ours["stats"][0].any()
    # Pedestrians walk: both methods see motion, of similar overall size (mean speed column).
    speed_ours, speed_dis = ours["stats"][1:, -1], dis["stats"][1:, -1]
    assert speed_ours.mean() > 0
    assert 0.3 < speed_ours.mean() / speed_dis.mean() < 3.0
    assert ours.params["warps"] == 5 and ours.params["method"] == "tvl1"


def test_backend_refuses_unknown_preset():
    with pytest.raises(ValueError):
        TorchFlowBackend(preset="slowest")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    i0, i1, truth = _rotation(3.0)
    a, b = torch.from_numpy(i0)[None].float(), torch.from_numpy(i1)[None].float()
    on_cpu = tvl1_flow(a, b)
    on_gpu = tvl1_flow(a.cuda(), b.cuda()).cpu()
    assert (on_gpu - on_cpu).abs().max() < 0.05
    assert _epe(on_gpu[0].permute(1, 2, 0).numpy(), truth) < 0.1

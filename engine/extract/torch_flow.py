"""Dense optical flow in torch (pyramidal TV-L1), batched, so that flow runs on CUDA without weights.

The solver is the duality-based TV-L1 method of Zach, Pock and Bischof (2007) as detailed by
Sánchez, Meinhardt-Llopis and Facciolo (IPOL 2013): on each level of an image pyramid, coarse to
fine, the second image is warped by the current flow a few times; after each warp the linearised
data term is solved point-wise by thresholding and the total variation of each flow component by
Chambolle's projection, alternately for a fixed number of iterations (no data-dependent stopping,
so a batch of frame pairs runs in lock step on the GPU). A small median filter after each warp
removes outliers, as OpenCV's implementation does.

The backend feeds consecutive frames in batches and summarises each field with the statistics of
``engine.extract.flow`` (same row layout as the DIS and Farneback backends).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from engine.extract.flow import SPEED_EDGES, FlowBackend, FlowStatistics, to_grey
from engine.extract.registry import StreamInfo
from engine.media.decode import scaled_size


@dataclass(frozen=True)
class TvL1Params:
    """Solver settings; images are grey levels 0..255 (``lam`` is relative to that range)."""

    tau: float = 0.25  # dual step
    lam: float = 0.15  # weight of the data term
    theta: float = 0.3  # coupling between the two sub-problems
    warps: int = 5  # warps per pyramid level
    iterations: int = 10  # thresholding + projection steps per warp
    zoom: float = 0.5  # size ratio between pyramid levels
    max_levels: int = 5
    min_size: int = 16  # smallest image side on the coarsest level
    median: bool = True  # 3x3 median filter of the flow after each warp


# The extraction profiles' speed presets (named after DIS's) as solver effort.
EFFORT: dict[str, dict[str, int]] = {
    "ultrafast": {"warps": 3, "iterations": 10},
    "fast": {"warps": 5, "iterations": 10},
    "medium": {"warps": 5, "iterations": 20},
}


def _gradient(image):
    """Central differences (one-sided at the border) of [N, 1, H, W]: x and y."""
    import torch

    gx = torch.zeros_like(image)
    gy = torch.zeros_like(image)
    gx[..., 1:-1] = 0.5 * (image[..., 2:] - image[..., :-2])
    gx[..., 0] = image[..., 1] - image[..., 0]
    gx[..., -1] = image[..., -1] - image[..., -2]
    gy[..., 1:-1, :] = 0.5 * (image[..., 2:, :] - image[..., :-2, :])
    gy[..., 0, :] = image[..., 1, :] - image[..., 0, :]
    gy[..., -1, :] = image[..., -1, :] - image[..., -2, :]
    return gx, gy


def _forward_diff_into(u, out) -> None:
    """Forward differences of u [N, C, H, W] into ``out`` [N, C, 2, H, W], whose last column
    (x) and last row (y) stay zero: the far border has no forward neighbour."""
    out[:, :, 0, :, :-1] = u[..., 1:] - u[..., :-1]
    out[:, :, 1, :-1, :] = u[..., 1:, :] - u[..., :-1, :]


def _divergence(p):
    """The negative adjoint of the forward differences: [N, C, 2, H, W] -> [N, C, H, W]."""
    px, py = p[:, :, 0], p[:, :, 1]
    div = px + py
    div[..., 1:] -= px[..., :-1]
    div[..., 1:, :] -= py[..., :-1, :]
    return div


# Paeth's exchange network: after these 19 min/max swaps the 5th of 9 values is their median.
_MEDIAN9_SWAPS = (
    (1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8), (0, 3),
    (5, 8), (4, 7), (3, 6), (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2),
)  # fmt: skip


def _median3(u):
    """3x3 median filter of [N, C, H, W] with replicated borders."""
    import torch
    import torch.nn.functional as F

    h, w = u.shape[-2:]
    padded = F.pad(u, (1, 1, 1, 1), mode="replicate")
    v = [padded[..., i : i + h, j : j + w] for i in range(3) for j in range(3)]
    for a, b in _MEDIAN9_SWAPS:
        v[a], v[b] = torch.minimum(v[a], v[b]), torch.maximum(v[a], v[b])
    return v[4]


def _warp(images, flow):
    """Sample [N, K, H, W] at x + flow(x) (bilinear, border values outside)."""
    import torch
    import torch.nn.functional as F

    n, _, h, w = images.shape
    ys = torch.arange(h, dtype=flow.dtype, device=flow.device).view(1, h, 1)
    xs = torch.arange(w, dtype=flow.dtype, device=flow.device).view(1, 1, w)
    gx = (xs + flow[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys + flow[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack([gx, gy], dim=-1)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=True)


def _pyramid_sizes(h: int, w: int, params: TvL1Params) -> list[tuple[int, int]]:
    sizes = [(h, w)]
    while len(sizes) < params.max_levels:
        nh, nw = round(sizes[-1][0] * params.zoom), round(sizes[-1][1] * params.zoom)
        if min(nh, nw) < params.min_size:
            break
        sizes.append((nh, nw))
    return sizes


def _solve_level(i0, i1, u, params: TvL1Params):
    """TV-L1 on one pyramid level: i0, i1 [N, 1, h, w], u [N, 2, h, w] initial flow."""
    import torch

    lt = params.lam * params.theta
    taut = params.tau / params.theta
    i1x, i1y = _gradient(i1)
    stacked = torch.cat([i1, i1x, i1y], dim=1)
    p = torch.zeros((*u.shape[:2], 2, *u.shape[2:]), dtype=u.dtype, device=u.device)
    du = torch.zeros_like(p)
    for _ in range(params.warps):
        warped = _warp(stacked, u)
        i1w, grad = warped[:, 0:1], warped[:, 1:3]
        g2 = (grad * grad).sum(dim=1, keepdim=True)
        rho_c = i1w - (grad * u).sum(dim=1, keepdim=True) - i0
        # Thresholding: v = u + clamp(-rho / |grad|^2, -lt, lt) * grad, which is the three cases
        # (rho < -lt g2, rho > lt g2, otherwise) of the point-wise solution at once.
        neg_inv_g2 = torch.where(g2 > 1e-10, -1.0 / g2.clamp_min(1e-10), torch.zeros_like(g2))
        for _ in range(params.iterations):
            rho = (grad * u).sum(dim=1, keepdim=True).add_(rho_c)
            step = rho.mul_(neg_inv_g2).clamp_(-lt, lt)
            u = torch.addcmul(u, step, grad).add_(_divergence(p), alpha=params.theta)
            _forward_diff_into(u, du)
            norm = (du * du).sum(dim=2, keepdim=True).sqrt_()
            p = (p + taut * du).div_(norm.mul_(taut).add_(1.0))
        if params.median:
            u = _median3(u)
    return u


def tvl1_flow(i0, i1, params: TvL1Params | None = None):
    """Flow from each image of ``i0`` to the matching one of ``i1``.

    ``i0``, ``i1``: [N, H, W] grey levels (0..255) on any torch device. Returns [N, 2, H, W]
    (dx, dy) in pixels with ``i1(x + flow(x)) ~ i0(x)``, the convention of OpenCV's flow.
    """
    import torch
    import torch.nn.functional as F

    params = params or TvL1Params()
    if i0.shape != i1.shape or i0.ndim != 3:
        raise ValueError(
            f"expected two [N, H, W] batches of equal shape, got {i0.shape}, {i1.shape}"
        )
    with torch.no_grad():
        images = torch.stack([i0, i1], dim=1).float()  # [N, 2, H, W]
        n, _, h, w = images.shape
        sizes = _pyramid_sizes(h, w, params)
        levels = [images]
        for size in sizes[1:]:
            levels.append(F.interpolate(levels[-1], size=size, mode="bilinear", antialias=True))
        u = torch.zeros((n, 2, *sizes[-1]), dtype=images.dtype, device=images.device)
        for k in range(len(sizes) - 1, -1, -1):
            level = levels[k]
            lh, lw = sizes[k]
            if u.shape[-2:] != (lh, lw):
                sy, sx = lh / u.shape[-2], lw / u.shape[-1]
                u = F.interpolate(u, size=(lh, lw), mode="bilinear", align_corners=False)
                u = u * torch.tensor([sx, sy], dtype=u.dtype, device=u.device).view(1, 2, 1, 1)
            u = _solve_level(level[:, 0:1], level[:, 1:2], u, params)
        return u


class TorchFlowBackend(FlowBackend):
    """Flow statistics from TV-L1 in torch, frame pairs batched on the chosen device (the
    whole frame only)."""

    modality = "flow"
    version = "1"
    subject_figures = False

    def __init__(
        self,
        device: str = "cpu",
        short_side: int = 256,
        grid: tuple[int, int] = (4, 4),
        bins: int = 8,
        batch: int | None = None,
        preset: str = "fast",
        **solver: Any,
    ) -> None:
        self.device = device
        self.method = "tvl1"
        self.name = "tvl1-torch"
        self.flow_side = short_side
        self.short_side = None
        self.grid = tuple(grid)
        self.bins = bins
        # Pairs per solver call: batching pays on CUDA; on the CPU it only delays cancellation.
        self.batch = max(1, int(batch)) if batch else (8 if device.startswith("cuda") else 1)
        if preset not in EFFORT:
            raise ValueError(f"unknown flow preset {preset!r}")
        self.preset = preset
        self.solver = TvL1Params(**{**EFFORT[preset], **solver})

    def params(self) -> dict[str, Any]:
        # The device is not part of the key: CPU and CUDA run the same arithmetic.
        return {
            "method": self.method,
            "short_side": self.flow_side,
            "grid": list(self.grid),
            "bins": self.bins,
            "speed_edges": list(SPEED_EDGES),
            **asdict(self.solver),
        }

    def start(self, stream: StreamInfo) -> None:
        import torch

        self.size = scaled_size(stream.width, stream.height, self.flow_side)
        self.stats = FlowStatistics(*self.size, grid=self.grid, bins=self.bins)
        self._torch_device = torch.device(self.device)
        self._prev = None
        self._rows, self._times, self._index, self._valid = [], [], [], []
        self._pending: list[tuple[int, np.ndarray, float]] = []  # row, grey, dt
        self._fps = stream.fps or 30.0

    def update(self, frame) -> None:
        grey = to_grey(frame.image, self.size)
        if self._prev is None:
            self._rows.append(np.zeros(self.stats.dim, np.float32))
            self._valid.append(False)
            self._base = grey
        else:
            prev_time = self._prev
            dt = frame.time - prev_time
            dt = dt if dt > 1e-6 else 1.0 / self._fps
            self._rows.append(None)
            self._valid.append(True)
            self._pending.append((len(self._rows) - 1, grey, dt))
        self._prev = frame.time
        self._times.append(frame.time)
        self._index.append(frame.index)
        if len(self._pending) >= self.batch:
            self._flush()

    def _flush(self) -> None:
        """Run the pending pairs (the previous batch's last frame, then the new ones) at once."""
        import torch

        if not self._pending:
            return
        greys = [self._base] + [grey for _, grey, _ in self._pending]
        frames = torch.from_numpy(np.stack(greys)).to(self._torch_device, torch.float32)
        flow = tvl1_flow(frames[:-1], frames[1:], self.solver)
        fields = flow.permute(0, 2, 3, 1).contiguous().cpu().numpy()
        for (row, _, dt), field in zip(self._pending, fields):
            self._rows[row] = self.stats(field, dt)
        self._base = greys[-1]
        self._pending = []

    def finish(self):
        self._flush()
        return super().finish()

"""Data-parallel training over several processes with ``torch.distributed``.

Every process builds the same network from the same seed and draws the same global batches (the
same shuffling and crops); process ``r`` of ``n`` trains on rows ``r, r + n, ...`` of each batch,
and after the backward pass the gradients are averaged over the processes, each weighted by its
share of the batch, so every process takes the same optimiser step. For networks whose loss is a
mean over the rows (the late-fusion baseline) this is the single-process step on the same batch,
up to the order of float sums; batch-coupled parts (MCMoE's BatchNorm statistics and hardest-
triplet mining, DualAlign's contrast) see each process's rows only, as in PyTorch's DDP. After
each epoch the processes' running BatchNorm statistics are averaged, and the first process
validates for all: every process keeps the same network and stops at the same epoch.

The processes find each other through torchrun's variables (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``): ``torchrun --nproc-per-node N -m ...`` works
as well as ``aqa train --nproc N``, which starts the N processes itself on this machine. The
backend is gloo on the CPU and nccl on CUDA.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

from engine.errors import InputError


def world_size() -> int:
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    return rank() == 0


def join(device: str) -> str | None:
    """Join the process group the environment names (torchrun's variables) and return the
    device this process trains on; None when it runs alone. ``device``: the asked one; CUDA
    (nccl) needs a GPU for each process of this machine: ``auto`` with fewer GPUs trains on the
    CPU (gloo), ``cuda`` is refused with one sentence."""
    import torch
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return None
    local = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ["WORLD_SIZE"]))
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    chosen = group_device(device, local, gpus)
    if chosen == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if chosen == "cuda" else "gloo")
    return chosen


def group_device(device: str, local: int, gpus: int) -> str:
    """Where ``local`` processes of one machine with ``gpus`` GPUs train when ``device`` is asked
    for: CUDA only with a GPU each (nccl cannot share one), else the CPU; InputError when
    ``cuda`` was asked for and cannot be had."""
    if device == "cuda" and gpus < local:
        raise InputError(
            f"{local} training processes on CUDA need a GPU each and this machine has {gpus}; "
            f"use --nproc {gpus} or --device cpu."
            if gpus
            else "CUDA training was asked for but torch finds no CUDA device here."
        )
    return "cuda" if device == "cuda" or (device == "auto" and gpus >= local) else "cpu"


def leave() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def launch(target: Callable[..., int], args: tuple, nproc: int) -> int:
    """Run ``target(*args)`` in ``nproc`` processes on this machine with torchrun's variables
    set; returns the first non-zero exit code (0 when all succeeded)."""
    import torch.multiprocessing as mp

    port = _free_port()
    context = mp.start_processes(
        _child, args=(target, args, nproc, port), nprocs=nproc, join=False, start_method="spawn"
    )
    try:
        while not context.join():
            pass
    except mp.ProcessExitedException as exc:
        return exc.exit_code or 1
    except mp.ProcessRaisedException:
        return 1
    return 0


def _child(local_rank: int, target, args: tuple, nproc: int, port: int) -> None:
    import torch

    os.environ.update(
        RANK=str(local_rank),
        LOCAL_RANK=str(local_rank),
        WORLD_SIZE=str(nproc),
        LOCAL_WORLD_SIZE=str(nproc),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // nproc))
    code = target(*args)
    if code:
        raise SystemExit(code)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def broadcast_weights(model) -> None:
    """Every process starts from the first process's weights (as DDP does)."""
    import torch.distributed as dist

    for tensor in list(model.parameters()) + list(model.buffers()):
        dist.broadcast(tensor.data, src=0)


def shard(batch, part: int, parts: int):
    """Rows ``part, part + parts, ...`` of a ``datasets.Batch``."""
    from dataclasses import replace

    rows = slice(part, None, parts)
    return replace(
        batch,
        features={m: t[rows] for m, t in batch.features.items()},
        available=batch.available[rows],
        target=batch.target[rows],
        scores=batch.scores[rows],
        index=batch.index[rows],
        valid={m: t[rows] for m, t in batch.valid.items()},
    )


def average_gradients(model, loss: Any, weight: float) -> float:
    """Replace each gradient by the weighted sum over the processes (``weight``: this process's
    share of the batch; 0 with ``loss`` None for a process without rows) and return the loss
    summed the same way. A parameter no process computed a gradient for keeps none."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    grads = [
        (p.grad.detach() * weight) if p.grad is not None else torch.zeros_like(p) for p in params
    ]
    seen = [1.0 if p.grad is not None else 0.0 for p in params]
    device = params[0].device
    value = float(loss.detach()) * weight if loss is not None else 0.0
    tail = torch.tensor([*seen, value], device=device, dtype=grads[0].dtype)
    *summed, tail = _summed([*grads, tail])
    for p, grad, count in zip(params, summed, tail[:-1].tolist(), strict=True):
        p.grad = grad.clone() if count else None
    return float(tail[-1])


def average_running_statistics(model) -> None:
    """Average the running statistics of normalisation layers (BatchNorm's mean and variance)
    over the processes. Each process's running mean follows its own rows' batch means; with
    shards of one size their average is the running mean of the whole batches. The averaged
    variance leaves out the spread between the shards' means."""
    import torch
    import torch.distributed as dist

    stats = [
        tensor
        for module in model.modules()
        for tensor in (getattr(module, "running_mean", None), getattr(module, "running_var", None))
        if isinstance(tensor, torch.Tensor)
    ]
    if not stats:
        return
    for tensor, total in zip(stats, _summed(stats), strict=True):
        tensor.copy_(total / dist.get_world_size())


def _summed(tensors: list) -> list:
    """Each of ``tensors`` summed over the processes (one all-reduce for all of them)."""
    import torch
    import torch.distributed as dist

    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat)
    parts = flat.split([t.numel() for t in tensors])
    return [part.view_as(t) for part, t in zip(parts, tensors, strict=True)]


def from_first(values: list[float], device) -> list[float]:
    """The first process's ``values`` (the same number in every process), in every process."""
    import torch
    import torch.distributed as dist

    shared = torch.tensor(values, dtype=torch.float64, device=device)
    dist.broadcast(shared, src=0)
    return shared.tolist()

"""Training throughput of a grading network in samples per second (for ``bench/``)."""

from __future__ import annotations

import copy
import time

from engine.training.datasets import input_lengths


def training_throughput(
    model,
    batch_size: int = 8,
    steps: int = 5,
    warmup: int = 1,
    device: str = "cpu",
    lengths: dict[str, int] | None = None,
    seed: int = 0,
) -> float:
    """Samples/s of full training steps (forward with losses, backward, Adam) on random inputs.

    Runs on a copy, so ``model`` is left untouched; every modality is present (the network's
    own training-time masking still applies). ``lengths`` defaults to the network's own.
    """
    import torch

    from engine.training.trainer import total_loss

    net = copy.deepcopy(model).to(device).train()
    lengths = lengths or input_lengths(net)
    gen = torch.Generator().manual_seed(seed)
    feats = {
        m: torch.randn(batch_size, lengths[m], d, generator=gen).to(device)
        for m, d in net.input_dims.items()
    }
    available = torch.ones(batch_size, len(net.modalities), dtype=torch.bool, device=device)
    target = torch.rand(batch_size, generator=gen).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-5)

    def step() -> None:
        loss = total_loss(net(feats, available, target=target).losses, type(net).__name__)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return batch_size * steps / (time.perf_counter() - start)

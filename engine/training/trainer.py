"""Train one grading network on a feature set: seeded, early-stopped, CUDA + AMP when present.

The network computes its own named losses when given a target (``GradeOutput.losses``); the
training loss is their sum. After each epoch the model is scored on the validation rows with all
their modalities, and the weights with the best SRCC (ties: lower MSE) are kept, as the official
MCMoE code keeps its best full-modality checkpoint.
"""

from __future__ import annotations

import copy
import logging
import math
import random
import time
from dataclasses import dataclass, field

import numpy as np

from engine.device import select_torch_device
from engine.errors import InputError
from engine.jobs import CancelToken, Progress
from engine.training import distributed
from engine.training.config import TrainConfig, network_defaults
from engine.training.datasets import FeatureDataset, input_lengths, iterate_batches
from engine.training.evaluate import predict
from engine.training.metrics import mse, srcc

log = logging.getLogger(__name__)


@dataclass
class EpochLog:
    epoch: int
    loss: float
    lr: float
    val_srcc: float | None = None
    val_mse: float | None = None


@dataclass
class TrainResult:
    """What a training run did; the model passed in now holds the selected weights."""

    best_epoch: int
    epochs_run: int
    val_srcc: float | None
    val_mse: float | None
    seconds: float
    samples_per_s: float
    device: str
    amp: bool
    config: TrainConfig = field(default_factory=TrainConfig)  # the settings it ran with
    history: list[EpochLog] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_optimizer(params, config: TrainConfig):
    import torch

    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return cls(params, lr=config.lr, weight_decay=config.weight_decay)


def make_scheduler(optimizer, config: TrainConfig):
    import torch

    if config.schedule == "constant":
        return None
    return torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=config.epochs, eta_min=config.lr * config.lr_min_ratio
    )


def _to(batch, device: str):
    feats = {m: t.to(device, non_blocking=True) for m, t in batch.features.items()}
    valid = {m: t.to(device, non_blocking=True) for m, t in batch.valid.items()}
    return feats, batch.available.to(device), batch.target.to(device), valid


def train_step(
    model,
    batch,
    optimizer,
    scaler,
    device: str,
    amp: bool,
    grad_clip: float | None,
    weight: float | None = None,
):
    """One optimisation step; returns the summed loss. ``weight``: in data-parallel training,
    this process's share of the global batch (``engine.training.distributed``); its rows may
    be none."""
    import torch

    optimizer.zero_grad(set_to_none=True)
    loss = None
    if len(batch.target):
        feats, available, target, valid = _to(batch, device)
        with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=amp):
            out = model(feats, available, target=target, valid=valid)
        loss = total_loss(out.losses, type(model).__name__)
        scaler.scale(loss).backward()
    if weight is not None:
        from engine.training.distributed import average_gradients

        value = average_gradients(model, loss, weight)
    else:
        value = float(loss.detach())
    if grad_clip is not None:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(optimizer)
    scaler.update()
    return value


def validate(model, data: FeatureDataset, lengths, device: str, parts: int) -> tuple[float, float]:
    """SRCC and MSE on ``data``; in data-parallel training the first process's, shared with
    the others so that all of them keep the same epoch and stop together."""
    metrics = [math.nan, math.nan]
    if distributed.is_main():
        scores, truth = predict(model, data, lengths, device=device)[:2]
        metrics = [srcc(scores, truth), mse(scores, truth)]
    if parts > 1:
        metrics = distributed.from_first(metrics, device)
    return metrics[0], metrics[1]


def total_loss(losses: dict, who: str):
    """The training loss: the network's ``total`` where it reports one, else the sum of terms."""
    if not losses:
        raise RuntimeError(f"{who} returned no training losses for a target.")
    if "total" in losses:
        return losses["total"].float()
    return sum(v.float() for v in losses.values())


def training_lengths(model, config: TrainConfig) -> dict[str, int]:
    """Steps per modality: the model's own, or ``config.segments`` for its temporal inputs."""
    lengths = input_lengths(model, fallback=config.segments)
    if config.segments is None:
        return lengths
    return {m: (config.segments if t > 1 else t) for m, t in lengths.items()}


def train_model(
    model,
    train_data: FeatureDataset,
    config: TrainConfig | None = None,
    val_data: FeatureDataset | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> TrainResult:
    """Train ``model`` in place and leave the selected (best validation) weights in it.

    Without ``config`` a network built by ``models.build`` trains with its preset's defaults
    (``engine.training.config.default_config``).
    """
    import torch

    if len(train_data) == 0:
        raise InputError("There are no training samples.")
    if config is None:
        config = network_defaults(model, train_data.spec.target)
    seed_everything(config.seed)
    rng = np.random.default_rng(config.seed)
    device = select_torch_device(config.device).device
    amp = bool(config.amp and device == "cuda")
    model.to(device)
    parts, part = distributed.world_size(), distributed.rank()
    if parts > 1:
        distributed.broadcast_weights(model)
    optimizer = make_optimizer(model.parameters(), config)
    scheduler = make_scheduler(optimizer, config)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    modalities, dims = list(model.modalities), dict(model.input_dims)
    lengths = training_lengths(model, config)

    best_state, best_key, best_epoch = None, None, -1
    best_val: tuple[float | None, float | None] = (None, None)
    history: list[EpochLog] = []
    stale, samples, busy = 0, 0, 0.0
    started = time.perf_counter()
    for epoch in range(config.epochs):
        model.train()
        losses = []
        for batch in iterate_batches(
            train_data, modalities, dims, lengths, config.batch_size, rng, shuffle=True
        ):
            if cancel is not None:
                cancel.check()
            t0 = time.perf_counter()
            if parts > 1:
                mine = distributed.shard(batch, part, parts)
                weight = len(mine.target) / len(batch.target)
                args = (mine, optimizer, scaler, device, amp, config.grad_clip, weight)
            else:
                args = (batch, optimizer, scaler, device, amp, config.grad_clip)
            loss = train_step(model, *args)
            busy += time.perf_counter() - t0
            samples += len(batch.target)
            if not math.isfinite(loss):
                raise InputError(
                    f"Training diverged at epoch {epoch + 1} (loss {loss}); lower the learning rate."
                )
            losses.append(loss)
        lr = optimizer.param_groups[0]["lr"]
        if scheduler is not None:
            scheduler.step()
        entry = EpochLog(epoch + 1, float(np.mean(losses)) if losses else math.nan, lr)
        if parts > 1:
            distributed.average_running_statistics(model)
        if val_data is not None and len(val_data):
            entry.val_srcc, entry.val_mse = validate(model, val_data, lengths, device, parts)
            key = (_finite(entry.val_srcc, -2.0), -entry.val_mse)
            if best_key is None or key > best_key:
                best_key, best_epoch, stale = key, epoch + 1, 0
                best_state = copy.deepcopy(model.state_dict())
                best_val = (entry.val_srcc, entry.val_mse)
            else:
                stale += 1
        history.append(entry)
        log.info("epoch %d loss %.4f val srcc %s", entry.epoch, entry.loss, entry.val_srcc)
        if progress is not None:
            note = f"epoch {epoch + 1}/{config.epochs}, loss {entry.loss:.4f}"
            if entry.val_srcc is not None:
                note += f", val SRCC {entry.val_srcc:.3f}"
            progress((epoch + 1) / config.epochs, note)
        if config.patience is not None and stale >= config.patience:
            log.info("early stop after epoch %d (best %d)", epoch + 1, best_epoch)
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        best_epoch = len(history)
    model.eval()
    return TrainResult(
        best_epoch=best_epoch,
        epochs_run=len(history),
        val_srcc=best_val[0],
        val_mse=best_val[1],
        seconds=time.perf_counter() - started,
        samples_per_s=samples / busy if busy > 0 else math.nan,
        device=device,
        amp=amp,
        config=config,
        history=history,
    )


def _finite(value: float, fallback: float) -> float:
    return value if value is not None and math.isfinite(value) else fallback

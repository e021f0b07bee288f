"""Training settings and the papers' defaults per model and preset.

MCMoE (paper + official ``main.py``/README): Adam, weight decay 1e-4, batch 32, cosine annealing to
1% of the initial rate, lr 1e-4 (FS1000) / 2e-4 (Fis-V, RG), epochs per target, seeds 1 / 3 / 0,
95 / 124 / 68 segments; the checkpoint kept is the one with the best full-modality test SRCC.
DualAlign (paper, Sec. 5.1): SGD, lr 1e-2 with cosine annealing, weight decay 1e-4, 103 frames.
The paper gives neither momentum, batch size nor epochs; we take momentum 0.9, batch 8 (the
official config's batch of 1 leaves the batch-wise GRAM contrast without negatives; 8 as in
``models.dualalign``) and the official config's 150 epochs. Segment counts come from the network's
own configuration unless ``segments`` overrides them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from engine.errors import InputError


@dataclass(frozen=True)
class TrainConfig:
    """How one model is trained."""

    epochs: int = 100
    lr: float = 1e-4
    optimizer: str = "adam"  # adam | adamw | sgd
    weight_decay: float = 1e-4
    momentum: float = 0.9  # sgd only
    batch_size: int = 32
    schedule: str = "cosine"  # cosine | constant
    lr_min_ratio: float = 0.01  # cosine floor as a fraction of lr
    segments: int | None = None  # T for every temporal modality; None: the model's own lengths
    seed: int = 0
    patience: int | None = None  # epochs without validation improvement before stopping
    device: str = "auto"  # auto | cpu | cuda
    amp: bool = True  # mixed precision (float16 autocast + grad scaling) on CUDA
    grad_clip: float | None = None

    def __post_init__(self) -> None:
        if self.optimizer not in ("adam", "adamw", "sgd"):
            raise InputError(f"Unknown optimiser {self.optimizer!r}; use adam, adamw or sgd.")
        if self.schedule not in ("cosine", "constant"):
            raise InputError(f"Unknown schedule {self.schedule!r}; use cosine or constant.")
        if self.device not in ("auto", "cpu", "cuda"):
            raise InputError(f"Unknown device {self.device!r}; use auto, cpu or cuda.")
        if self.epochs < 1 or self.batch_size < 1 or (self.segments or 1) < 1 or self.lr <= 0:
            raise InputError("Epochs, batch size, segments and learning rate must be positive.")

    def to_json(self) -> dict:
        return asdict(self)

    def with_overrides(self, **overrides) -> TrainConfig:
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise InputError(f"Unknown training setting {unknown[0]!r}.")
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


_MCMOE_EPOCHS = {
    "fs1000": {"TES": 360, "PCS": 460, "SS": 360, "TR": 210, "PE": 520, "CO": 520, "IN": 390},
    "fisv": {"TES": 460, "PCS": 510},
    "rg": {"Ball": 410, "Clubs": 560, "Hoop": 270, "Ribbon": 300},
}
_MCMOE = {
    "fs1000": TrainConfig(epochs=400, lr=1e-4, seed=1),
    "fisv": TrainConfig(epochs=460, lr=2e-4, seed=3),
    "rg": TrainConfig(epochs=410, lr=2e-4, seed=0),
}
_DUALALIGN = TrainConfig(epochs=150, lr=1e-2, optimizer="sgd", momentum=0.9, batch_size=8)


def default_config(model: str, preset: str, target: str | None = None) -> TrainConfig:
    """The paper's optimiser and schedule for ``model``/``preset`` (epochs by target if known).

    Presets outside the papers (the app's own, small ones) take the defaults their network
    module declares (MCMoE ``TRAINING_DEFAULTS``, DualAlign's preset ``train`` entry).
    """
    if model == "mcmoe" and preset in _MCMOE:
        base = _MCMOE[preset]
        epochs = _MCMOE_EPOCHS[preset].get(target or "")
        return replace(base, epochs=epochs) if epochs else base
    if model == "dualalign" and preset in ("mm-jdm", "rg", "fisv"):
        return _DUALALIGN
    return TrainConfig().with_overrides(**_network_defaults(model, preset))


def _network_defaults(model: str, preset: str) -> dict:
    import importlib

    try:
        module = importlib.import_module(f"models.{model}")
    except ImportError:
        return {}
    if hasattr(module, "TRAINING_DEFAULTS"):
        found = dict(module.TRAINING_DEFAULTS.get(preset, {}))
    else:
        found = dict(getattr(module, "PRESETS", {}).get(preset, {}).get("train", {}))
    if "final_lr_ratio" in found:
        found["lr_min_ratio"] = found.pop("final_lr_ratio")
    known = {f.name for f in fields(TrainConfig)}
    return {k: v for k, v in found.items() if k in known}

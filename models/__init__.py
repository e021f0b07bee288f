"""Grading networks (torch ``nn.Module`` only; no file or database access except checkpoints).

``build(name, preset, **overrides)`` returns a module with ``.modalities``, ``.input_dims`` and
``forward(features, available) -> GradeOutput``; ``save``/``load`` write and read checkpoint
directories (safetensors + model card).
"""

from models import registry
from models.checkpoint import load, save
from models.output import GradeOutput
from models.registry import available_models, presets


def build(name: str, preset: str, **overrides):
    """Network ``name`` with the configuration of ``preset``; remembers how it was built so that
    ``save`` can write a card that ``load`` rebuilds it from."""
    module = registry.build(name, preset, **overrides)
    module.build_args = {"name": name, "preset": preset, "overrides": overrides}
    return module


__all__ = ["GradeOutput", "available_models", "build", "load", "presets", "save"]

"""Inference helpers: weights prepared once per module and linear layers packed for oneDNN.

At batch 1 the grading networks spend most of their time in matrix products of a few hundred
rows. oneDNN multiplies by a weight reordered ("packed") once for the CPU's kernels about 10%
faster than the default BLAS call, and can apply a ReLU on the way out. Packed weights are used
only where no gradient is recorded, for float32 on the CPU; elsewhere the plain product runs.

Prepared weights live outside the module (so copies and pickles never see them) until
``train()``/``eval()``, a state load or a move (``to``) drops them: after changing weights in place
by hand, call ``eval()`` again.
"""

import weakref
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_PREPARED: "weakref.WeakKeyDictionary[nn.Module, Any]" = weakref.WeakKeyDictionary()
# smaller weights stay with the plain product: packing them costs more at the first call (after
# each train()/eval() switch, e.g. a validation per epoch) than it saves
PACK_FROM = 65_536  # 256 x 256


def prepared(module: nn.Module, build: Callable[[], Any]) -> Any:
    """``build()`` (run without gradients) once for ``module`` until it is dropped."""
    value = _PREPARED.get(module)
    if value is None:
        with torch.no_grad():
            value = _PREPARED[module] = build()
    return value


class Prepared:
    """Mixin for a module using ``prepared``: train()/eval(), state loads and moves drop it."""

    def train(self, mode: bool = True):
        _PREPARED.pop(self, None)
        return super().train(mode)

    def _load_from_state_dict(self, *args, **kwargs):
        _PREPARED.pop(self, None)
        return super()._load_from_state_dict(*args, **kwargs)

    def _apply(self, *args, **kwargs):
        _PREPARED.pop(self, None)
        return super()._apply(*args, **kwargs)


def linear_fn(
    weight: Tensor, bias: Tensor | None, activation: str = "none"
) -> Callable[[Tensor], Tensor]:
    """x -> x @ weight.T + bias, then ``activation`` ("none", "relu" or "gelu", the erf form).
    Built where no gradient is recorded, for a float32 weight of ``PACK_FROM`` elements or more on
    the CPU, it multiplies by a packed weight (oneDNN, the activation applied on the way out);
    otherwise it is the plain product."""
    act = _ACTIVATIONS[activation]
    if (
        not torch.is_grad_enabled()
        and weight.numel() >= PACK_FROM
        and weight.device.type == "cpu"
        and weight.dtype == torch.float32
        and _has_onednn()
    ):
        packed = torch.ops.mkldnn._reorder_linear_weight(weight)
        algorithm = "none" if activation == "gelu" else ""  # gelu: the erf form
        return lambda x: torch.ops.mkldnn._linear_pointwise(
            x, packed, bias, activation, [], algorithm
        )
    if act is None:
        return lambda x: F.linear(x, weight, bias)
    return lambda x: act(F.linear(x, weight, bias))


_ACTIVATIONS = {"none": None, "relu": F.relu, "gelu": F.gelu}


def _has_onednn() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


class Linear(Prepared, nn.Linear):
    """nn.Linear (same parameters) that uses a packed weight in eval where no gradient is
    recorded."""

    def forward(self, x: Tensor) -> Tensor:
        if self.training or torch.is_grad_enabled():
            return super().forward(x)
        return prepared(self, lambda: linear_fn(self.weight, self.bias))(x)

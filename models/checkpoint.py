"""Model checkpoints: a directory with ``model.safetensors`` and a JSON model card ``card.json``.

Loading never unpickles: tensors come from safetensors, the architecture is rebuilt from the card
through the registry. Released ``.pkl`` state dicts of other code bases are read with
``torch.load(weights_only=True)``, which refuses anything but tensors and plain containers.
"""

import datetime as dt
import json
import os
import pickle
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

WEIGHTS = "model.safetensors"
CARD = "card.json"
FORMAT_VERSION = 1
_CARD_FIELDS = ("label_range", "data_hash", "metrics")
MAX_CARD_BYTES = 1 << 20  # a card is a few kilobytes
MAX_CARD_DEPTH = 32
_TOO_DEEP = object()
MAX_PARAMETERS = 500_000_000  # about 2 GB of float32: more than any preset by far


class CheckpointError(ValueError):
    """A checkpoint cannot be used (the message is one sentence for the user)."""


class UnsafeCheckpointError(CheckpointError):
    """A weight file holds more than tensors (it could run code when unpickled)."""


class CheckpointMismatchError(CheckpointError):
    """The tensors of a checkpoint do not fit the network its card (or preset) describes."""


def save(
    module: nn.Module, directory: str | Path, card_extra: dict[str, Any] | None = None
) -> Path:
    """Write ``module`` (built by ``models.build``) to ``directory``, atomically.

    ``card_extra`` may hold ``label_range``, ``data_hash`` and ``metrics`` (stored as card fields)
    and anything else JSON-serialisable (stored under ``extras``).
    """
    from safetensors.torch import save_file

    build_args = getattr(module, "build_args", None)
    if build_args is None:
        raise CheckpointError("Only networks built with models.build can be saved.")
    extra = dict(card_extra or {})
    card = {
        "format": FORMAT_VERSION,
        "name": build_args["name"],
        "preset": build_args["preset"],
        "overrides": build_args["overrides"],
        "config": module.config_dict() if hasattr(module, "config_dict") else None,
        "modalities": list(module.modalities),
        "input_dims": dict(module.input_dims),
        **{key: extra.pop(key, None) for key in _CARD_FIELDS},
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "extras": extra,
    }
    text = json.dumps(card, indent=2, ensure_ascii=False, default=_json_default)
    tensors = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    target = Path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        save_file(tensors, str(tmp / WEIGHTS), metadata={"format": str(FORMAT_VERSION)})
        with open(tmp / CARD, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        _replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _replace_dir(new: Path, target: Path) -> None:
    if not target.exists():
        os.replace(new, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
    os.replace(target, old / "previous")
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)


def _json_default(value: Any) -> Any:
    if isinstance(value, tuple | set):
        return list(value)
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def read_card(directory: str | Path) -> dict[str, Any]:
    """The model card of a checkpoint directory."""
    path = Path(directory) / CARD
    try:
        if path.stat().st_size > MAX_CARD_BYTES:
            raise CheckpointError(f"The model card {path} is larger than {MAX_CARD_BYTES} bytes.")
        card = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{directory} is not a model checkpoint (no {CARD}).") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"The model card {path} cannot be read: {exc}.") from None
    except RecursionError:
        card = _TOO_DEEP  # deeper than the parser goes
    if card is _TOO_DEEP or _depth(card) > MAX_CARD_DEPTH:
        raise CheckpointError(f"The model card {path} is nested more than {MAX_CARD_DEPTH} deep.")
    if not isinstance(card, dict) or not {"name", "preset"} <= card.keys():
        raise CheckpointError(f"The model card {path} does not name a model and preset.")
    return card


def _depth(value: Any) -> int:
    """How deep lists and dicts nest in ``value`` (without recursion; stops past the limit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_CARD_DEPTH:
            break
        children = item.values() if isinstance(item, dict) else item
        if isinstance(item, dict | list):
            stack.extend((child, level + 1) for child in children)
    return deepest


def build_from_card(card: dict[str, Any], where: str | Path) -> nn.Module:
    """The network a card describes, sized first on the meta device (no memory): a card asking
    for more than ``MAX_PARAMETERS`` parameters is refused before anything is allocated."""
    import models

    overrides = card.get("overrides") or {}
    try:
        if not isinstance(overrides, dict):
            raise TypeError("'overrides' is not a mapping")
        count = _meta_parameters(card["name"], card["preset"], overrides)
        if count > MAX_PARAMETERS:
            raise CheckpointError(
                f"The model card in {where} asks for {count:,} parameters; at most "
                f"{MAX_PARAMETERS:,} are loaded."
            )
        return models.build(card["name"], card["preset"], **overrides)
    except CheckpointError:
        raise
    except (TypeError, ValueError, OverflowError, RuntimeError, KeyError) as exc:
        raise CheckpointError(
            f"The model card in {where} describes no buildable model: {exc}"
        ) from None


def _meta_parameters(name: str, preset: str, overrides: dict) -> int:
    """Parameters of the network built on the meta device (no memory). A network that reads
    weight files while it is built (LIMSSR's language model) cannot be built there: 0, and
    its size is bounded by those files."""
    import models

    try:
        with torch.device("meta"):
            sized = models.build(name, preset, **overrides)
    except (RuntimeError, NotImplementedError, OSError):
        return 0
    return sum(p.numel() for p in sized.parameters())


def load(directory: str | Path, device: str | torch.device = "cpu", **settings) -> nn.Module:
    """Rebuild the network a checkpoint directory describes and load its tensors (eval mode).

    ``settings`` replace build settings of the card that belong to this machine (LIMSSR's
    ``llm_path``)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    card = read_card(directory)
    overrides = {**(card.get("overrides") or {}), **settings}
    module = build_from_card({**card, "overrides": overrides}, directory)
    path = Path(directory) / WEIGHTS
    try:
        tensors = load_file(str(path), device=str(device))
    except FileNotFoundError:
        raise CheckpointError(f"{directory} has no {WEIGHTS}.") from None
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"The weights {path} cannot be read: {exc}.") from None
    load_state(module, tensors)
    return module.to(device).eval()


def load_state(module: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Copy ``tensors`` into ``module``; refuse (naming the tensor) any that is missing,
    unexpected or of the wrong shape."""
    expected = module.state_dict()
    for name, ours in expected.items():
        if name not in tensors:
            raise CheckpointMismatchError(f"The checkpoint has no tensor {name!r}.")
        if tuple(tensors[name].shape) != tuple(ours.shape):
            raise CheckpointMismatchError(
                f"Tensor {name!r} has shape {tuple(tensors[name].shape)} in the checkpoint but "
                f"{tuple(ours.shape)} in the model."
            )
    for name in tensors:
        if name not in expected:
            raise CheckpointMismatchError(f"The checkpoint has an unexpected tensor {name!r}.")
    module.load_state_dict(tensors, strict=True)


def read_torch_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict saved with ``torch.save`` (e.g. released ``.pkl`` weights), read without
    running code: anything but tensors and plain containers is refused."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"The weight file {path} does not exist.") from None
    except (pickle.UnpicklingError, RuntimeError, EOFError, AttributeError) as exc:
        if isinstance(exc, pickle.UnpicklingError) or "weights_only" in str(exc):
            raise UnsafeCheckpointError(
                f"Refusing {path}: it holds objects other than tensors, and loading it could run "
                "code."
            ) from None
        raise CheckpointError(f"The weight file {path} cannot be read: {exc}.") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} does not hold a state dict of tensors.")
    return state

"""Where grading models live and how one is loaded for grading.

A model is a checkpoint directory (``models.checkpoint``: safetensors + card) registered in the
store per (protocol, item). Models trained here live under ``<data dir>/models``; the demo models
ship in ``resources/models/<protocol>/<item>/<network>`` and are registered (DEMO) as soon as the
item's models are asked for (grading, ``aqa models list``, the window).
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import InputError, MissingWeightsError
from engine.paths import data_dir, resources_dir
from engine.store import Store

RESOURCE = "resource:"
LLM_ENV = "AQA_LLM_PATH"  # local directory of the language model LIMSSR models run on


def demo_dirs(protocol: str, item: str) -> list[Path]:
    """The shipped demo models of (protocol, item), one folder per network."""
    folder = resources_dir() / "models" / protocol / item
    return sorted(p.parent for p in folder.glob("*/card.json"))


def trained_dir(protocol: str, item: str, name: str, version: int) -> Path:
    return data_dir() / "models" / protocol / item / f"{name}-v{version}"


def resolve(path: str) -> Path:
    """A stored model path; demo models are stored relative to the installed resources."""
    if path.startswith(RESOURCE):
        return resources_dir() / path[len(RESOURCE) :]
    return Path(path)


def register_demos(store: Store, protocol: str, item: str) -> list[dict[str, Any]]:
    """Register the item's shipped demo models that the store does not know yet (DEMO).

    When the item has no active model, the demo with the best cross-validated SRCC on its
    synthetic data becomes active; the others stay selectable candidates. Returns the new rows.
    """
    from models.checkpoint import read_card

    rows = store.models(protocol, item)
    for row in rows:  # demos of an older layout whose files are gone
        if (
            row["demo"]
            and row["status"] != "retired"
            and not (resolve(row["path"]) / "card.json").is_file()
        ):
            store.set_model_status(row["id"], "retired", actor="aqa")
    known = {m["path"] for m in rows}
    added = []
    for folder in demo_dirs(protocol, item):
        path = f"{RESOURCE}{folder.relative_to(resources_dir()).as_posix()}"
        if path in known:
            continue
        card = read_card(folder)
        added.append(
            store.register_model(
                protocol, item, card["name"], path, card, card.get("metrics"), demo=True,
                actor="aqa",
            )
        )  # fmt: skip
    if added and store.active_model(protocol, item) is None:
        demos = [m for m in store.models(protocol, item) if m["demo"]]
        best = max(demos, key=lambda m: (m["metrics"] or {}).get("cv_srcc") or -1.0)
        store.set_model_status(best["id"], "active", actor="aqa")
    return added


def model_for(store: Store, protocol: str, item: str) -> dict[str, Any]:
    """The active model of (protocol, item), registering the shipped demo models first."""
    register_demos(store, protocol, item)
    active = store.active_model(protocol, item)
    if active is None:
        raise MissingWeightsError(
            f"There is no model for {protocol} / {item} yet: rate some recordings and run "
            f"`aqa train --protocol {protocol} --item {item}`."
        )
    return active


@dataclass
class LoadedModel:
    model_id: str
    version: int
    demo: bool
    card: dict[str, Any]
    network: Any  # a models.build network in eval mode
    segmenting: str
    anchors: np.ndarray | None  # prototype anchor values (0..1) of prototype networks
    device: str

    def predict(
        self,
        features: dict[str, np.ndarray],
        used: list[str],
        valid: dict[str, np.ndarray] | None = None,
    ) -> tuple[float, np.ndarray]:
        """Normalised score and grade probabilities from [T, D] features of the ``used`` ones;
        ``valid`` ([T] bool per modality, None: all) marks the segments that hold data."""
        scores, probs = self.predict_many([features], used, None if valid is None else [valid])
        return float(scores[0]), probs[0]

    def predict_many(
        self,
        samples: list[dict[str, np.ndarray]],
        used: list[str],
        valid: list[dict[str, np.ndarray]] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scores [B] and grade probabilities [B, G] of several samples, in one batch.

        ``valid`` holds, per sample, [T] bool arrays keyed like its features (None: every
        segment is valid); padding to the network's length is marked invalid, and a used
        modality without a valid segment is graded as missing.
        """
        import torch

        from engine.training.datasets import crop_or_pad, input_lengths

        net = self.network
        lengths = input_lengths(net)
        cuts = [
            crop_or_pad({m: s[m] for m in net.modalities}, lengths, None, v)
            for s, v in zip(samples, valid or [None] * len(samples), strict=True)
        ]

        def stack(part: int, m: str, dtype) -> torch.Tensor:
            return torch.as_tensor(np.stack([c[part][m] for c in cuts]), dtype=dtype).to(
                self.device
            )

        batch = {m: stack(0, m, torch.float32) for m in net.modalities}
        ok = {m: stack(1, m, torch.bool) for m in net.modalities}
        row = [m in used for m in net.modalities]
        available = torch.tensor([row] * len(samples), device=self.device)
        for i, m in enumerate(net.modalities):
            available[:, i] &= ok[m].any(dim=1)
        if not bool(available.any(dim=1).all()):
            raise InputError("No modality of this recording has a valid segment to grade from.")
        with torch.inference_mode():
            out = net(batch, available, valid=ok)
        return out.score.float().cpu().numpy(), out.grade_probs.float().cpu().numpy()


def load_model(row: dict[str, Any], device: str = "auto") -> LoadedModel:
    """Load a registered model onto the device (CUDA when asked for or available)."""
    from engine.extract.registry import resolve_device
    from models.checkpoint import CheckpointError, load

    used_device = resolve_device(device)
    folder = resolve(row["path"])
    card = row["card"]
    settings = {"llm_path": llm_directory(card)} if card.get("name") == "limssr" else {}
    try:
        network = load(folder, device=used_device, **settings)
    except (CheckpointError, OSError) as exc:
        raise MissingWeightsError(
            f"Model {row['name']} v{row['version']} for {row['item']} cannot be loaded from "
            f"{folder} ({exc})."
        ) from exc
    network.eval()
    anchors = getattr(network, "grades", None)
    return LoadedModel(
        model_id=f"{row['name']}/{row['protocol']}/{row['item']}/v{row['version']}",
        version=row["version"],
        demo=bool(row["demo"]),
        card=card,
        network=network,
        segmenting=card.get("extras", {}).get("segmenting", "clips:32"),
        anchors=None if anchors is None else anchors.float().cpu().numpy(),
        device=used_device,
    )


def llm_directory(card: dict[str, Any]) -> str:
    """The local language-model directory (``AQA_LLM_PATH``) for a LIMSSR model card, after
    checking that it is the backbone the model was trained on."""
    config = card.get("config") or {}
    backbone = config.get("backbone") or {}
    name = config.get("llm") or backbone.get("model_type") or "its language model"
    path = os.environ.get(LLM_ENV)
    if not path:
        raise MissingWeightsError(
            f"This LIMSSR model runs on a local copy of {name}: set {LLM_ENV} to its directory."
        )
    try:
        found = json.loads((Path(path).expanduser() / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise MissingWeightsError(
            f"{LLM_ENV} ({path}) is not a language-model directory (no readable config.json)."
        ) from None
    for key, value in backbone.items():
        if found.get(key) != value:
            raise MissingWeightsError(
                f"The language model in {LLM_ENV} ({path}) is not the one this LIMSSR model was "
                f"trained on ({key} {found.get(key)}, the model needs {value})."
            )
    return path

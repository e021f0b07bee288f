"""Any ONNX image backbone as an rgb backend, on onnxruntime (CUDA provider when it really runs).

The model takes one float input ``[batch, 3, height, width]`` (height = width; the batch axis may
be fixed to 1) and returns an embedding ``[batch, D]``, a feature map ``[batch, C, h, w]``
(averaged over h, w) or tokens ``[batch, L, D]`` (averaged over L). Pixels are normalised with
``mean`` / ``std`` in [0, 1] units (ImageNet's by default, as torchvision-style exports expect).

onnxruntime-gpu lists the CUDA provider even where CUDA cannot load and then quietly falls back to
the CPU, so the provider in use is read from ``session.get_providers()`` after loading
(``engine.device.create_onnx_session``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import InputError, MissingWeightsError
from engine.extract.rgb import ImageEmbeddingBackend
from engine.hashing import file_sha256

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class OnnxImageModel:
    """An onnxruntime session of an image backbone: ``run([B, 3, S, S] float32) -> [B, D]``."""

    def __init__(
        self, path: str | Path, device: str = "cpu", input_size: int | None = None
    ) -> None:
        from engine.device import CUDA_PROVIDER, create_onnx_session

        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise MissingWeightsError(
                f"The ONNX image model {self.path} does not exist: give the path of a local .onnx "
                "file that takes images [batch, 3, height, width]."
            )
        try:
            # "auto": CUDA when the pipeline found a GPU and onnxruntime's provider really loads.
            # On the CPU it always runs beside decoding and pose (engine.extract.pipeline): one
            # thread spends about a tenth less CPU per crop than a pool of two, and never spins.
            choice = create_onnx_session(
                self.path, "auto" if device == "cuda" else "cpu", threads=1, spin=False
            )
        except InputError:
            raise
        except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
            raise MissingWeightsError(
                f"{self.path} is not a loadable ONNX model ({type(exc).__name__}): give an intact "
                ".onnx file that takes images [batch, 3, height, width]."
            ) from exc
        self.session = choice.session
        self.provider = choice.provider
        self.device = "cuda" if choice.provider == CUDA_PROVIDER else "cpu"
        log.info("%s: %s", self.path.name, choice.describe())
        inputs = self.session.get_inputs()
        self.input_name = inputs[0].name
        self.input_size, self.fixed_batch = self._check_input(inputs, input_size)

    def _check_input(self, inputs, input_size: int | None) -> tuple[int, bool]:
        shape = list(inputs[0].shape)
        expected = "one float input [batch, 3, height, width] with height = width"
        static = [d if isinstance(d, int) else None for d in shape]
        if (
            len(inputs) != 1
            or "float" not in inputs[0].type
            or len(shape) != 4
            or static[1] not in (3, None)
            or (static[2] and static[3] and static[2] != static[3])
        ):
            found = ", ".join(f"{i.name} {list(i.shape)} {i.type}" for i in inputs)
            raise InputError(
                f"The ONNX model {self.path} takes {found}; the rgb backend needs {expected}."
            )
        size = static[2] or static[3] or input_size
        if size is None:
            raise InputError(
                f"The ONNX model {self.path} has no fixed image size: give the input size it expects."
            )
        if input_size is not None and input_size != size:
            raise InputError(
                f"The ONNX model {self.path} takes {size}x{size} images, not {input_size}x{input_size}."
            )
        return int(size), static[0] == 1

    def run(self, batch: np.ndarray) -> np.ndarray:
        if self.fixed_batch and len(batch) > 1:
            return np.concatenate([self.run(batch[i : i + 1]) for i in range(len(batch))])
        out = np.asarray(self.session.run(None, {self.input_name: batch})[0], np.float32)
        if out.ndim == 4:
            return out.mean(axis=(2, 3))
        if out.ndim == 3:
            return out.mean(axis=1)
        if out.ndim == 2:
            return out
        raise InputError(
            f"The ONNX model {self.path} returns shape {list(out.shape)}; the rgb backend needs "
            "[batch, D], [batch, C, h, w] or [batch, tokens, D]."
        )


def normalise(crops: np.ndarray, mean: tuple, std: tuple) -> np.ndarray:
    """[B, S, S, 3] uint8 -> [B, 3, S, S] float32, ``(x / 255 - mean) / std``."""
    scale = np.float32(1.0 / 255.0) / np.asarray(std, np.float32)
    offset = np.asarray(mean, np.float32) / np.asarray(std, np.float32)
    out = crops.astype(np.float32) * scale - offset
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


class OnnxImageBackend(ImageEmbeddingBackend):
    """Embeddings of the person crop from a user-supplied ONNX image backbone."""

    name = "onnx"
    version = "2"

    def __init__(
        self,
        device: str = "cpu",
        model: str | None = None,
        input_size: int | None = None,
        mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD,
        fps: float = 4.0,
        margin: float = 0.2,
        batch_size: int = 8,
        short_side: int | None = None,
    ) -> None:
        super().__init__(fps=fps, margin=margin, batch_size=batch_size, short_side=short_side)
        if not model:
            raise MissingWeightsError(
                "The onnx rgb backend needs a local .onnx image model: give its path."
            )
        self.model = OnnxImageModel(model, device, input_size)
        self.device = self.model.device
        self.mean, self.std = tuple(mean), tuple(std)
        self.model_sha256 = file_sha256(self.model.path)

    @property
    def input_size(self) -> int:
        return self.model.input_size

    def params(self) -> dict[str, Any]:
        return {
            **self.crop_params(),
            "model_sha256": self.model_sha256[:16],
            "mean": list(self.mean),
            "std": list(self.std),
        }

    def meta(self) -> dict[str, Any]:
        return {"model": self.model.path.name, "provider": self.model.provider}

    def embed(self, crops: np.ndarray) -> np.ndarray:
        return self.model.run(normalise(crops, self.mean, self.std))

"""Device selection (``auto | cpu | cuda``) for torch and for onnxruntime sessions.

CUDA is used only where it really runs: for torch, ``torch.cuda.is_available()`` and a small
operation on the device succeeds; for onnxruntime, the session's ``get_providers()`` lists
``CUDAExecutionProvider`` after creation (onnxruntime-gpu lists CUDA among the *available*
providers even where its libraries cannot load, and then silently falls back to the CPU).
Every choice says which device or provider runs and why, so that it can be printed.
"""

import contextlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path

from engine.errors import InputError

log = logging.getLogger(__name__)

DEVICE_CHOICES = ("auto", "cpu", "cuda")
CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"
# onnxruntime's logger levels: 2 warning (its default), 4 fatal.
_ORT_WARNING = 2
_ORT_FATAL = 4


@dataclass(frozen=True)
class DeviceChoice:
    """Where torch work runs: ``device`` is ``"cpu"`` or ``"cuda"``; ``detail`` says why."""

    requested: str
    device: str
    detail: str

    def describe(self) -> str:
        """One line for the user, e.g. ``device: cuda (NVIDIA H100, requested auto)``."""
        return f"device: {self.device} ({self.detail}, requested {self.requested})"


@dataclass(frozen=True)
class OnnxChoice:
    """An onnxruntime session and the provider that actually runs it."""

    session: object
    requested: str
    provider: str
    detail: str

    @property
    def device(self) -> str:
        return "cuda" if self.provider == CUDA_PROVIDER else "cpu"

    def describe(self) -> str:
        return f"onnxruntime: {self.provider} ({self.detail}, requested {self.requested})"


def check_request(requested: str) -> str:
    """The normalised request, or InputError naming the accepted values."""
    value = (requested or "auto").strip().lower()
    if value not in DEVICE_CHOICES:
        raise InputError(f"Unknown device {requested!r}; use one of: {', '.join(DEVICE_CHOICES)}.")
    return value


def _torch_cuda_problem() -> str | None:
    """None when torch can run a small operation on CUDA, else why not (one phrase)."""
    import torch

    if not torch.cuda.is_available():
        if torch.version.cuda is None:
            return f"this torch build ({torch.__version__}) has no CUDA support"
        return "torch sees no CUDA device"
    try:
        probe = torch.ones(8, device="cuda")
        float((probe * 2).sum().item())
    except (RuntimeError, AssertionError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        return f"a test operation on CUDA failed ({first})"
    return None


def select_torch_device(requested: str = "auto") -> DeviceChoice:
    """Pick the torch device: CUDA for ``auto`` when it really runs, else CPU.

    ``cuda`` that cannot run raises InputError with the reason.
    """
    value = check_request(requested)
    if value == "cpu":
        return DeviceChoice(value, "cpu", "CPU requested")
    problem = _torch_cuda_problem()
    if problem is None:
        import torch

        name = torch.cuda.get_device_name(torch.cuda.current_device())
        return DeviceChoice(value, "cuda", name)
    if value == "cuda":
        raise InputError(f"CUDA was requested but cannot be used: {problem}.")
    log.info("CUDA not used: %s", problem)
    return DeviceChoice(value, "cpu", problem)


def _set_ort_log_level(level: int) -> None:
    import onnxruntime as ort

    ort.set_default_logger_severity(level)


def _preload_cuda_libraries() -> None:
    """Let onnxruntime find CUDA/cuDNN libraries installed as pip packages (nvidia-*).

    ``onnxruntime.preload_dlls`` prints what it cannot load on stdout; that text is logged instead
    so that it never mixes into the CLI's JSON output.
    """
    import onnxruntime as ort

    preload = getattr(ort, "preload_dlls", None)
    if preload is None:
        return
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            preload()
    except (OSError, RuntimeError) as exc:
        log.info("onnxruntime.preload_dlls failed: %s", exc)
    if printed.getvalue().strip():
        log.info("onnxruntime.preload_dlls: %s", " ".join(printed.getvalue().split()))


def create_onnx_session(
    path: str | Path, requested: str = "auto", threads: int = 0, spin: bool = True
) -> OnnxChoice:
    """An onnxruntime session for the model at ``path`` on the requested device.

    ``auto`` asks for CUDA when onnxruntime offers it and keeps the CPU otherwise (quietly: the
    fallback's log noise is muted and the reason is kept in ``detail``). ``cuda`` raises InputError
    when the created session does not list the CUDA provider. Loading errors propagate from
    onnxruntime (the caller turns them into a sentence naming the file).
    """
    import onnxruntime as ort

    value = check_request(requested)
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    if not spin:  # idle worker threads sleep instead of spinning (CPU a busy machine lacks)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    available = ort.get_available_providers()
    if value == "cpu":
        session = ort.InferenceSession(str(path), options, providers=[CPU_PROVIDER])
        return OnnxChoice(session, value, CPU_PROVIDER, "CPU requested")
    if CUDA_PROVIDER not in available:
        detail = f"this onnxruntime build ({ort.__version__}) has no CUDA provider"
        if value == "cuda":
            raise InputError(f"CUDA was requested for {Path(path).name} but {detail}.")
        session = ort.InferenceSession(str(path), options, providers=[CPU_PROVIDER])
        return OnnxChoice(session, value, CPU_PROVIDER, detail)
    _preload_cuda_libraries()
    if value == "auto":
        _set_ort_log_level(_ORT_FATAL)
    try:
        session = ort.InferenceSession(str(path), options, providers=[CUDA_PROVIDER, CPU_PROVIDER])
    finally:
        _set_ort_log_level(_ORT_WARNING)
    running = session.get_providers()
    if CUDA_PROVIDER in running:
        return OnnxChoice(session, value, CUDA_PROVIDER, "CUDA provider loaded")
    detail = "onnxruntime's CUDA provider could not load its CUDA/cuDNN libraries"
    if value == "cuda":
        raise InputError(
            f"CUDA was requested for {Path(path).name} but {detail} "
            "(onnxruntime-gpu needs matching CUDA and cuDNN libraries)."
        )
    log.info("onnxruntime runs %s on the CPU: %s", Path(path).name, detail)
    return OnnxChoice(session, value, CPU_PROVIDER, detail)


def describe_devices() -> list[str]:
    """What this machine offers, one line each: the CPU, torch's CUDA, onnxruntime's provider
    (checked by starting a one-node session, since the available list can promise CUDA)."""
    import os

    lines = [f"CPU: {os.cpu_count()} logical cores (always available)"]
    torch_choice = select_torch_device("auto")
    lines.append(
        f"torch (models, rgb, audio, TV-L1 flow): {torch_choice.device}, {torch_choice.detail}"
    )
    lines.append("LiteRT (BlazePose skeleton): CPU")
    try:
        import onnxruntime as ort
    except ImportError:
        lines.append("onnxruntime: not installed (ONNX pose and image models unavailable)")
        return lines
    lines.append(f"onnxruntime {ort.__version__} (ONNX models): {_onnx_probe()}")
    return lines


def _onnx_probe() -> str:
    """The provider a session for an ONNX model would run on here."""
    import tempfile

    try:
        import onnx
        from onnx import TensorProto, helper
    except ImportError:
        import onnxruntime as ort

        return "providers offered: " + ", ".join(ort.get_available_providers())
    value = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "probe",
        [value],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "probe.onnx"
        onnx.save(model, path)
        choice = create_onnx_session(path, "auto")
    return f"{choice.provider} ({choice.detail})"

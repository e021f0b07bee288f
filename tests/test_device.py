"""Device selection for torch and onnxruntime.

The real checks run against this machine's torch and onnxruntime-gpu (which lists the CUDA
provider even where CUDA cannot load). Where a GPU would be needed, ``torch.cuda.is_available``
is patched to claim a device: that mocks torch, not our code, and shows that a claimed device on
which a test operation fails is not used.
"""

import warnings

import onnxruntime as ort
import pytest
import torch

from engine.device import (
    CPU_PROVIDER,
    CUDA_PROVIDER,
    check_request,
    create_onnx_session,
    select_torch_device,
)
from engine.errors import InputError

TORCH_CUDA = torch.cuda.is_available()


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("device") / "conv.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            torch.nn.Conv2d(3, 4, 3), (torch.zeros(1, 3, 16, 16),), str(path), dynamo=False
        )
    return path


@pytest.mark.parametrize("text,expected", [("auto", "auto"), (" CUDA ", "cuda"), ("", "auto")])
def test_requests_are_normalised(text, expected):
    assert check_request(text) == expected


def test_unknown_device_is_refused():
    with pytest.raises(InputError, match="Unknown device 'gpu'; use one of: auto, cpu, cuda"):
        check_request("gpu")


def test_cpu_is_always_cpu():
    choice = select_torch_device("cpu")
    assert choice.device == "cpu" and "requested cpu" in choice.describe()


def test_auto_uses_cuda_only_when_present():
    choice = select_torch_device("auto")
    assert choice.device == ("cuda" if TORCH_CUDA else "cpu")
    if not TORCH_CUDA:
        assert "CUDA" in choice.detail or "no CUDA device" in choice.detail


@pytest.mark.skipif(TORCH_CUDA, reason="torch runs on CUDA here")
def test_cuda_request_without_cuda_is_a_sentence():
    with pytest.raises(InputError, match="^CUDA was requested but cannot be used: .*\\.$"):
        select_torch_device("cuda")


@pytest.mark.skipif(TORCH_CUDA, reason="needs a torch that cannot run on CUDA")
def test_claimed_but_unusable_cuda_is_not_used(monkeypatch):
    """torch.cuda.is_available is patched to True; the test operation on CUDA then fails."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    choice = select_torch_device("auto")
    assert choice.device == "cpu" and "test operation on CUDA failed" in choice.detail
    with pytest.raises(InputError, match="test operation on CUDA failed"):
        select_torch_device("cuda")


def test_onnx_cpu(onnx_model):
    choice = create_onnx_session(onnx_model, "cpu")
    assert choice.provider == CPU_PROVIDER and choice.session.get_providers() == [CPU_PROVIDER]


def test_onnx_auto_reports_the_provider_that_runs(onnx_model):
    choice = create_onnx_session(onnx_model, "auto")
    running = choice.session.get_providers()
    assert choice.provider == running[0]
    assert choice.device == ("cuda" if running[0] == CUDA_PROVIDER else "cpu")
    if CUDA_PROVIDER in ort.get_available_providers() and CUDA_PROVIDER not in running:
        # onnxruntime-gpu without loadable CUDA libraries (this machine): listed, yet not running.
        assert "could not load" in choice.detail


def test_onnx_cuda_request_fails_clearly_when_cuda_cannot_run(onnx_model):
    probe = create_onnx_session(onnx_model, "auto")
    if probe.provider == CUDA_PROVIDER:
        assert create_onnx_session(onnx_model, "cuda").provider == CUDA_PROVIDER
        return
    with pytest.raises(InputError, match="^CUDA was requested for conv.onnx but "):
        create_onnx_session(onnx_model, "cuda")


def test_onnx_auto_keeps_stdout_and_stderr_clean(onnx_model, capfd):
    """The fallback's log lines and preload_dlls' prints would spoil ``--json`` output."""
    capfd.readouterr()
    create_onnx_session(onnx_model, "auto")
    out, err = capfd.readouterr()
    assert out == "" and err == ""

"""The inference paths of the grading networks (folded batch norms, merged layers, packed and
cached weights, attention over unprojected tokens) give the outputs of the layers run one by one,
on checkpoints saved before these paths existed, and leave copies and training untouched."""

import copy
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import models
from models.dualalign import example_inputs
from models.inference import Linear, linear_fn

SHIPPED = Path(__file__).resolve().parents[1] / "resources" / "models"


def layer_by_layer(model, feats, available, valid):
    """MCMoE's outputs through its modules one by one: the training structure (one expert call
    per stream, the fusion and decoder modules) with batch norms on their running statistics,
    no dropout, no random masking, and plain (unpacked) products."""
    model.eval()
    model.training = True  # the network's own flag selects the training structure
    model.draw_training_mask = lambda available: available
    try:
        with torch.enable_grad():
            out = model(feats, available, valid=valid)
    finally:
        del model.draw_training_mask
        model.eval()
    return out


def inputs(model, batch=3, segments=16, seed=0):
    gen = torch.Generator().manual_seed(seed)
    feats = {m: torch.randn(batch, segments, d, generator=gen) for m, d in model.input_dims.items()}
    available = torch.ones(batch, len(model.modalities), dtype=torch.bool)
    available[1, 0] = False  # one sample without its first modality (generated)
    valid = {m: torch.rand(batch, segments, generator=gen) > 0.2 for m in model.modalities}
    for v in valid.values():
        v[:, 0] = True
    return feats, available, valid


@pytest.mark.parametrize("item", ["rg/ball", "cmas/all_fours"])
def test_shipped_mcmoe_checkpoint_grades_as_its_layers_one_by_one(item):
    model = models.load(SHIPPED / item / "mcmoe")  # saved before the inference paths existed
    feats, available, valid = inputs(model, segments=model.config.segments)
    with torch.inference_mode():
        fast = model(feats, available, valid=valid)
    slow = layer_by_layer(model, feats, available, valid)
    assert (fast.score - slow.score).abs().max() < 1e-5
    assert (fast.grade_probs - slow.grade_probs).abs().max() < 1e-5
    assert (fast.modality_weights - slow.modality_weights).abs().max() < 1e-6
    assert slow.score.std() > 1e-3  # the samples differ: the comparison can fail


def test_packed_mcmoe_of_the_paper_size_grades_as_its_layers_one_by_one():
    """At the released size every product is packed (oneDNN), with its activation fused."""
    torch.manual_seed(0)
    model = models.build("mcmoe", "fs1000").eval()
    with torch.no_grad():  # trained-looking batch norms and layer norms
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm1d):
                module.running_mean.normal_(0, 0.3)
                module.running_var.uniform_(0.5, 1.5)
            if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.LayerNorm)):
                module.weight.normal_(1, 0.2)
                module.bias.normal_(0, 0.2)
    feats, available, valid = inputs(model, segments=24)
    with torch.inference_mode():
        fast = model(feats, available, valid=valid)
        whole = model(feats, torch.ones_like(available))  # every stream, no mask
    slow = layer_by_layer(model, feats, available, valid)
    slow_whole = layer_by_layer(model, feats, torch.ones_like(available), None)
    assert (fast.score - slow.score).abs().max() < 1e-5
    assert (fast.grade_probs - slow.grade_probs).abs().max() < 1e-5
    assert (whole.grade_probs - slow_whole.grade_probs).abs().max() < 1e-5
    assert (fast.modality_weights - slow.modality_weights).abs().max() < 1e-6
    assert slow.grade_probs.std() > 1e-3 and (slow.score - slow_whole.score).abs().max() > 1e-4


def test_copies_of_a_model_that_graded_are_independent_and_equal():
    model = models.build("mcmoe", "small", hidden=32).eval()
    feats, available, valid = inputs(model)
    with torch.inference_mode():
        before = model(feats, available, valid=valid).score
    twin = copy.deepcopy(model)  # the packed weights live outside the module
    with torch.inference_mode():
        assert torch.equal(twin(feats, available, valid=valid).score, before)
    twin.train()
    twin(feats, available, target=torch.rand(3), valid=valid).losses["total"].backward()
    torch.optim.SGD(twin.parameters(), lr=0.5).step()
    twin.eval()
    with torch.inference_mode():
        assert not torch.allclose(twin(feats, available, valid=valid).score, before)
        assert torch.equal(model(feats, available, valid=valid).score, before)


def test_packed_linear_equals_the_plain_product_and_trains_as_nn_linear():
    torch.manual_seed(0)
    layer = Linear(256, 384).eval()  # large enough to be packed
    x = torch.randn(2, 7, 256)
    with torch.inference_mode():
        packed = layer(x)
    assert (packed - F.linear(x, layer.weight, layer.bias)).abs().max() < 1e-5
    assert set(layer.state_dict()) == {"weight", "bias"}
    layer.train()
    layer(x).square().sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0


@pytest.mark.parametrize(("activation", "fn"), [("relu", F.relu), ("gelu", F.gelu)])
def test_activation_applied_by_the_packed_product_equals_the_plain_one(activation, fn):
    torch.manual_seed(0)
    weight, bias = torch.randn(384, 256) * 0.1, torch.randn(384)  # large enough to be packed
    x = torch.randn(3, 9, 256)
    with torch.inference_mode():
        fused = linear_fn(weight, bias, activation)(x)
    plain = F.linear(x, weight, bias)
    expected = fn(plain)
    assert (fused - expected).abs().max() < 1e-5
    assert (expected - plain).abs().max() > 0.1  # the activation changes the outputs


def test_dualalign_mm_jdm_at_batch_one_is_unchanged_by_unprojected_attention():
    torch.manual_seed(0)
    model = models.build("dualalign", "mm-jdm").eval()
    feats, available = example_inputs(model)
    with torch.inference_mode():
        fast = model(feats, available)
    model.train()  # no dropout layers active below: the projected path, the same function
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        if hasattr(module, "attn_dropout"):
            module.attn_dropout = 0.0
    with torch.no_grad():
        slow = model(feats, available)
    assert (fast.embedding - slow.embedding).abs().max() < 1e-4
    assert (fast.grade_probs - slow.grade_probs).abs().max() < 1e-5

"""Finite losses and gradients where the peers produce NaN: cos θ = ±1, zero and huge features,
and bf16 autocast (math in float32, proxies kept float32)."""

import pytest
import torch

from .conftest import HEAD_NAMES, N_CLASSES, all_heads


def loss_and_gradients(head, x, y):
    x = x.detach().clone().requires_grad_()
    head.zero_grad(set_to_none=True)
    loss = head(x, y)
    loss.backward()
    grads = [x.grad] + [p.grad for p in head.parameters() if p.grad is not None]
    return loss, grads


def assert_finite(loss, grads):
    assert torch.isfinite(loss).all(), loss
    for grad in grads:
        assert torch.isfinite(grad).all()


def proxies(head):
    return head.weight.detach().clone()


@pytest.mark.parametrize("head_name", HEAD_NAMES)
def test_finite_where_cosine_is_plus_or_minus_one(head_name, head):
    head.train()
    w = proxies(head)
    y = torch.arange(N_CLASSES)
    for x in (w, -w, 3.0 * w):  # every sample exactly on (or opposite) its own proxy
        assert_finite(*loss_and_gradients(head, x, y))


@pytest.mark.parametrize("head_name", HEAD_NAMES)
def test_finite_at_a_zero_embedding(head_name, head):
    x = torch.randn(4, head.embedding_dim)
    x[1] = 0.0
    assert_finite(*loss_and_gradients(head, x, torch.tensor([0, 1, 2, 3])))


@pytest.mark.parametrize("magnitude", [1e15, 1e30])
@pytest.mark.parametrize("head_name", HEAD_NAMES)
def test_finite_at_huge_norms(head_name, head, magnitude):
    if magnitude > 1e18 and not uses_only_the_direction(head_name):
        pytest.skip("logits grow with the feature norm: (1e30)^2 overflows float32 by nature")
    x = magnitude * torch.randn(4, head.embedding_dim)
    loss, grads = loss_and_gradients(head, x, torch.tensor([0, 1, 2, 3]))
    assert_finite(loss, grads)


def uses_only_the_direction(head_name):
    if head_name.startswith(("softmax", "ring", "sphereface-r")):
        return "hard" in head_name
    return head_name != "sphereface"


def test_normalised_heads_are_scale_invariant_even_at_huge_norms():
    head = all_heads()["normface"]
    x, y = torch.randn(4, head.embedding_dim), torch.tensor([0, 1, 2, 3])
    torch.testing.assert_close(head(1e30 * x, y), head(x, y))


@pytest.mark.parametrize("head_name", HEAD_NAMES)
def test_bf16_autocast_computes_in_float32_and_keeps_float32_proxies(head_name, head):
    torch.manual_seed(1)
    backbone = torch.nn.Linear(6, head.embedding_dim)
    inputs, y = torch.randn(8, 6), torch.randint(0, N_CLASSES, (8,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        features = backbone(inputs)
        assert features.dtype == torch.bfloat16
        loss, logits = head(features, y, return_logits=True)
    assert loss.dtype == torch.float32 and logits.dtype == torch.float32
    assert head.weight.dtype == torch.float32
    loss.backward()
    assert head.weight.grad.dtype == torch.float32
    assert_finite(loss, [head.weight.grad, backbone.weight.grad])
    # exactly the float32 computation on the bf16 features
    head.zero_grad()
    torch.testing.assert_close(head(features.detach().float(), y), loss.detach())

"""Gradients: float64 gradcheck of every head, and characteristic gradient detachment."""

import math

import pytest
import torch

from hypersphere_sklearn import heads
from hypersphere_sklearn.heads._base import cosine_matrix, unit_vectors

from .conftest import DETACHED, N_CLASSES, UNDETACHED, two_class_setup


def batch(n=6, dim=4, n_classes=N_CLASSES, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = 2 * torch.randn(n, dim, generator=g, dtype=torch.float64)
    y = torch.randint(0, n_classes, (n,), generator=g)
    return x.requires_grad_(), y


def loss_of_inputs(head, y):
    """The head's loss as a function of (x, *parameters), for gradcheck."""
    names = [name for name, _ in head.named_parameters()]

    def loss(x, *params):
        state = dict(zip(names, params, strict=True))
        return torch.func.functional_call(head, state, (x, y))

    return loss, [p.detach().clone().requires_grad_() for p in head.parameters()]


# Detached heads differ from finite differences by design; the CGD tests below cover them.
@pytest.mark.parametrize("head_name", UNDETACHED)
def test_gradcheck_every_head_float64(head_name, head):
    head = head.double()
    x, y = batch()
    if head_name.startswith("ring-"):
        head.ring_term(x.detach())
    fn, params = loss_of_inputs(head, y)
    assert torch.autograd.gradcheck(fn, (x, *params), eps=1e-6, atol=1e-6, rtol=1e-5)


def detached_surrogate(head, x, y):
    """CE(S·(cos θ + Δ)) with the margin offset Δ held constant: what CGD differentiates."""
    direction, norms = unit_vectors(x)
    cos = cosine_matrix(direction, head.weight)
    scale = head.feature_scale(norms)
    with torch.no_grad():
        offset = head.logits_from_cosine(cos, y, norms) / scale - cos
    return head.loss(scale * (cos + offset), y, x)


@pytest.mark.parametrize("head_name", DETACHED)
def test_detached_heads_backpropagate_the_plain_cosine_logits(head_name, head):
    head = head.double()
    x, y = batch()
    loss = head(x, y)
    grads = torch.autograd.grad(loss, (x, head.weight))
    surrogate = detached_surrogate(head, x, y)
    assert surrogate.item() == pytest.approx(loss.item(), rel=1e-12)
    expected = torch.autograd.grad(surrogate, (x, head.weight))
    for got, want in zip(grads, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def cosine_gradient(gradient_detach):
    """∂L/∂cos θ_y for losses.md §5's example: s = 30, m = 1.5, θ_y = 30°, v1, hard."""
    head = heads.SphereFaceRHead(2, 2, margin=1.5, scale=30.0, gradient_detach=gradient_detach)
    head = head.double()
    x, y = two_class_setup(head)
    cos = torch.tensor([[math.cos(math.radians(30)), math.cos(math.radians(60))]],
                       dtype=torch.float64, requires_grad=True)
    logits = head.logits_from_cosine(cos, y, x.norm(dim=1, keepdim=True))
    loss = torch.nn.functional.cross_entropy(logits, y)
    loss.backward()
    return loss.item(), cos.grad[0, 0].item()


def test_cgd_gradient_is_that_of_scaled_cosine_and_value_keeps_the_margin():
    value_cgd, grad_cgd = cosine_gradient(True)
    value_full, grad_full = cosine_gradient(False)
    assert value_cgd == pytest.approx(0.002001, abs=1e-6)
    assert value_full == pytest.approx(value_cgd, rel=1e-12)
    assert grad_cgd == pytest.approx(-0.059964, abs=1e-6)
    assert grad_full == pytest.approx(-0.127203, abs=1e-6)
    # the factor between them is dψ/dcos θ = m·sin(mθ)/sin θ at θ = 30°, m = 1.5
    assert grad_full / grad_cgd == pytest.approx(1.5 * math.sin(math.radians(45)) / 0.5, rel=1e-9)


def test_cgd_keeps_gradients_bounded_near_zero_angle():
    """Without detachment dψ/dcos θ grows like 1/sin θ near θ = 0 for non-integer m."""
    for cgd, bounded in ((True, True), (False, False)):
        head = heads.SphereFaceRHead(2, 2, margin=1.5, scale=30.0, gradient_detach=cgd).double()
        cos = torch.tensor([[1 - 1e-5, 0.0]], dtype=torch.float64, requires_grad=True)
        logits = head.logits_from_cosine(cos, torch.tensor([0]), torch.ones(1, 1, dtype=cos.dtype))
        grad, = torch.autograd.grad(logits[0, 0], cos)
        assert (abs(grad[0, 0].item()) <= 30.0 + 1e-9) == bounded


def test_learnable_scalars_get_gradients_and_the_scale_floor_holds():
    x, y = batch()
    head = heads.NormFaceHead(N_CLASSES, 4, scale=8.0, learn_scale=True).double()
    head(x, y).backward()
    assert head.scale.grad is not None and head.scale.grad.abs().item() > 0
    with torch.no_grad():
        head.scale.fill_(-3.0)
    _, logits = head(x, y, return_logits=True)
    assert logits.abs().max().item() <= 0.01 + 1e-12
    l2 = heads.L2SoftmaxHead(N_CLASSES, 4, alpha=6.0, learn_alpha=True).double()
    l2(x, y).backward()
    assert l2.alpha.grad.abs().item() > 0
    fixed = heads.NormFaceHead(N_CLASSES, 4, scale=8.0)
    assert "scale" not in dict(fixed.named_parameters()) and "scale" in fixed.state_dict()

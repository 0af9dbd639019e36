"""The loss values: the hand-derived vectors of losses.md §7, and every head recomputed by hand."""

import math

import pytest
import torch

from hypersphere_sklearn import heads

from . import reference as ref
from .conftest import DIM, HEAD_NAMES, N_CLASSES, two_class_setup

# losses.md §7: two classes, unit proxies (1, 0) and (0, 1), one class-0 feature at 30°.
VECTORS = [
    ("NormFace s=10", lambda: heads.NormFaceHead(2, 2, scale=10.0), 1.0, 0.025401),
    (
        "CosFace s=10 m=0.35",
        lambda: heads.CosFaceHead(2, 2, scale=10.0, margin=0.35),
        1.0,
        0.616227,
    ),
    ("ArcFace s=10 m=0.5", lambda: heads.ArcFaceHead(2, 2, scale=10.0, margin=0.5), 1.0, 0.596807),
    (
        "A-Softmax m=4 |x|=2 lambda=0",
        lambda: heads.SphereFaceHead(2, 2, margin=4, lambda_base=0.0, lambda_min=0.0),
        2.0,
        2.126928,
    ),
    (
        "A-Softmax m=4 |x|=2 lambda=5",
        lambda: heads.SphereFaceHead(2, 2, margin=4, lambda_base=0.0, lambda_min=5.0),
        2.0,
        0.564333,
    ),
    (
        "SphereFace-R v1 hard s=30 m=1.5",
        lambda: heads.SphereFaceRHead(2, 2, margin=1.5, scale=30.0, version="v1"),
        1.0,
        0.002001,
    ),
    (
        "SphereFace-R v2 hard s=30 m=1.5",
        lambda: heads.SphereFaceRHead(2, 2, margin=1.5, scale=30.0, version="v2"),
        1.0,
        0.048614,
    ),
    ("C-contrastive m=1", lambda: heads.CContrastiveHead(2, 2, margin=1.0), 1.0, 0.267949),
    ("C-triplet m=0.8", lambda: heads.CTripletHead(2, 2, margin=0.8), 1.0, 0.067949),
]


@pytest.mark.parametrize(
    "make, norm, expected", [v[1:] for v in VECTORS], ids=[v[0] for v in VECTORS]
)
def test_hand_derived_vectors(make, norm, expected):
    head = make()
    x, y = two_class_setup(head, norm=norm)
    assert head(x, y).item() == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    "make, norm, expected", [v[1:] for v in VECTORS], ids=[v[0] for v in VECTORS]
)
def test_hand_derived_vectors_do_not_depend_on_proxy_norm_or_dtype(make, norm, expected):
    head = make().double()
    x, y = two_class_setup(head, norm=norm)
    with torch.no_grad():
        head.weight.mul_(torch.tensor([[3.0], [0.25]], dtype=torch.float64))
    assert head(x, y).item() == pytest.approx(expected, abs=1e-6)


def test_ring_loss_vector():
    """Features (3, 4) and (0, 1), R = 2, λ = 0.01: term 0.025 and ∂/∂R = −0.01."""
    head = heads.RingLossHead(heads.SoftmaxHead(2, 2), ring_weight=0.01, radius=2.0)
    x = torch.tensor([[3.0, 4.0], [0.0, 1.0]])
    term = head.ring_term(x)
    assert term.item() == pytest.approx(0.025, abs=1e-7)
    term.backward()
    assert head.radius.grad.item() == pytest.approx(-0.01, abs=1e-7)
    total = head(x, torch.tensor([0, 1]))
    assert total.item() == pytest.approx(head.primary(x, torch.tensor([0, 1])).item() + 0.025)


def test_ring_loss_gradient_is_radial():
    """∂/∂x_i = (λ/B)(1 − R/‖x_i‖)·x_i."""
    head = heads.RingLossHead(heads.SoftmaxHead(3, 4), ring_weight=0.3, radius=1.5).double()
    x = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    head.ring_term(x).backward()
    norms = x.detach().norm(dim=1, keepdim=True)
    expected = 0.3 / 6 * (1 - 1.5 / norms) * x.detach()
    torch.testing.assert_close(x.grad, expected)


def test_ring_radius_starts_at_first_batch_mean_norm_unless_given():
    head = heads.RingLossHead(heads.SoftmaxHead(3, 4))
    first, second = 5 * torch.randn(8, 4), torch.randn(8, 4)
    head(first, torch.zeros(8, dtype=torch.long))
    assert head.radius.item() == pytest.approx(first.norm(dim=1).mean().item(), rel=1e-6)
    head(second, torch.zeros(8, dtype=torch.long))
    assert head.radius.item() == pytest.approx(first.norm(dim=1).mean().item(), rel=1e-6)
    given = heads.RingLossHead(heads.SoftmaxHead(3, 4), radius=7.0)
    given(first, torch.zeros(8, dtype=torch.long))
    assert given.radius.item() == 7.0
    assert given.weight is given.primary.weight


def random_batch(n=7, dim=DIM, n_classes=N_CLASSES, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = 3 * torch.randn(n, dim, generator=g, dtype=torch.float64)
    y = torch.randint(0, n_classes, (n,), generator=g)
    return x, y


def numpy_of(*tensors):
    return [t.detach().numpy() for t in tensors]


def reference_loss(name, head, x, y):
    """The hand-written formula for the head ``name`` of ``conftest.all_heads``."""
    xn, yn = numpy_of(x, y)
    w = head.weight.detach().numpy()
    if name.startswith("ring-"):
        radius = float(head.radius)
        return reference_loss(name[5:], head.primary, x, y) + ref.ring_term(
            xn, radius, head.ring_weight
        )
    if name == "softmax":
        return ref.softmax_loss(xn, yn, w, head.bias.detach().numpy())
    if name.startswith("l2softmax"):
        return ref.l2_softmax_loss(
            xn, yn, w, head.bias.detach().numpy(), float(head.alpha.detach())
        )
    if name.startswith("normface"):
        return ref.normface_loss(xn, yn, w, float(head.scale.detach()))
    if name.startswith("c-contrastive"):
        return ref.c_contrastive_loss(xn, yn, w, head.margin, head.hardest_negative)
    if name.startswith("c-triplet"):
        return ref.c_triplet_loss(xn, yn, w, head.margin, head.hardest_negative)
    if name == "cosface":
        return ref.cosface_loss(xn, yn, w, float(head.scale), head.margin)
    if name.startswith("arcface"):
        return ref.arcface_loss(xn, yn, w, float(head.scale), head.margin, head.beyond_pi)
    if name.startswith("sphereface-r"):
        return ref.sphereface_r_loss(
            xn,
            yn,
            w,
            head.margin,
            float(head.scale),
            head.version,
            head.feature_norm,
            head.norm_penalty,
        )
    if name.startswith("sphereface"):
        scale = None if head.scale is None else float(head.scale)
        return ref.a_softmax_loss(xn, yn, w, head.margin, head.current_lambda(), scale)
    raise AssertionError(f"no reference for {name}")


@pytest.mark.parametrize("head_name", HEAD_NAMES)
def test_every_head_matches_its_formula_recomputed_by_hand(head_name, head):
    head = head.double()
    x, y = random_batch()
    if head_name.startswith("ring-"):
        head.ring_term(x)  # initialise R from this batch, as the first forward would
    expected = reference_loss(head_name, head, x, y)
    assert head(x, y).item() == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_margins_act_across_the_whole_angle_range():
    """ψ over θ in [0, π] against the formula, including θ + m > π for ArcFace."""
    theta = torch.linspace(0.0, math.pi, 181, dtype=torch.float64)
    cos = torch.cos(theta)[:, None]
    cases = {
        heads.ArcFaceHead(2, 2, margin=0.5): lambda t: (
            math.cos(t + 0.5) if t + 0.5 <= math.pi else math.cos(t) - 0.5 * math.sin(0.5)
        ),
        heads.ArcFaceHead(2, 2, margin=0.5, beyond_pi="easy"): lambda t: (
            math.cos(t + 0.5) if math.cos(t) > 0 else math.cos(t)
        ),
        heads.SphereFaceHead(2, 2, margin=4, lambda_base=0, lambda_min=0): lambda t: (
            (-1) ** math.floor(4 * t / math.pi) * math.cos(4 * t) - 2 * math.floor(4 * t / math.pi)
        ),
        heads.SphereFaceRHead(2, 2, margin=1.7): lambda t: math.cos(min(1.7 * t, math.pi)),
    }
    for head, formula in cases.items():
        expected = torch.tensor([formula(t) for t in theta.tolist()], dtype=torch.float64)
        got = head.target(cos).squeeze(1)
        # acos is clamped 1e-6 away from ±1, which moves ψ by O(sqrt(1e-6)) at the very ends.
        torch.testing.assert_close(got, expected, atol=2e-2, rtol=0)
        torch.testing.assert_close(got[1:-1], expected[1:-1], atol=1e-9, rtol=0)
        if getattr(head, "beyond_pi", None) != "easy":  # the easy margin jumps at θ = π/2
            # ψ is non-increasing in θ: the margin never rewards a worse angle
            assert torch.all(got[1:] <= got[:-1] + 1e-12)


def test_logits_carry_the_margin_only_on_the_target():
    head = heads.CosFaceHead(N_CLASSES, DIM, scale=10.0, margin=0.3).double()
    x, y = random_batch()
    loss, logits = head(x, y, return_logits=True)
    plain = head.predict_logits(x)
    target = torch.nn.functional.one_hot(y, N_CLASSES).bool()
    torch.testing.assert_close(logits[~target], plain[~target])
    torch.testing.assert_close(logits[target], plain[target] - 10.0 * 0.3)
    assert loss.item() == pytest.approx(torch.nn.functional.cross_entropy(logits, y).item())


def test_sphereface_r_v2_keeps_plain_cosine_on_the_target():
    head = heads.SphereFaceRHead(N_CLASSES, DIM, scale=10.0, margin=1.5, version="v2").double()
    x, y = random_batch()
    _, logits = head(x, y, return_logits=True)
    plain = head.predict_logits(x)
    target = torch.nn.functional.one_hot(y, N_CLASSES).bool()
    torch.testing.assert_close(logits[target], plain[target])
    cos = plain[~target] / 10.0
    torch.testing.assert_close(logits[~target], 10.0 * torch.cos(torch.acos(cos) / 1.5))


def test_sphereface_lambda_anneals_with_training_iterations_only():
    head = heads.SphereFaceHead(N_CLASSES, DIM)
    x, y = random_batch()
    x = x.float()
    assert head.current_lambda() == 1000.0
    for _ in range(3):
        head(x, y)
    assert int(head.iteration) == 3
    assert head.current_lambda() == pytest.approx(1000.0 / (1 + 0.12 * 3))
    head.eval()
    head(x, y)
    assert int(head.iteration) == 3
    head.iteration.fill_(10**6)
    assert head.current_lambda() == 5.0
    assert "iteration" in head.state_dict()


def test_sphereface_r_margin_warms_up_for_unnormalised_features():
    assert heads.SphereFaceRHead(3, 2, feature_norm="hard").margin_warmup_steps == 0
    head = heads.SphereFaceRHead(3, 2, margin=1.6, feature_norm="none", margin_warmup_steps=4)
    assert head.current_margin() == 1.0
    x, y = torch.randn(5, 2), torch.randint(0, 3, (5,))
    for expected in (1.0, 1.15, 1.3, 1.45, 1.6, 1.6):
        assert head.current_margin() == pytest.approx(expected)
        head(x, y)
    assert heads.SphereFaceRHead(3, 2, feature_norm="soft").margin_warmup_steps == 2000


def test_normface_bound_is_the_simplex_loss_floor():
    """At the bound, n proxies on a regular simplex with features on them give loss 0.01."""
    n = 5
    s = heads.normface_scale_lower_bound(n)
    simplex = torch.eye(n, dtype=torch.float64) - 1.0 / n  # a regular simplex, centred
    head = heads.NormFaceHead(n, n, scale=s).double()
    with torch.no_grad():
        head.weight.copy_(simplex)
    loss = head(simplex, torch.arange(n))
    assert loss.item() == pytest.approx(0.01, rel=1e-6)  # s is stored in float32
    smaller = heads.NormFaceHead(n, n, scale=s - 0.1, learn_scale=True).double()
    with torch.no_grad():
        smaller.weight.copy_(simplex)
    assert smaller(simplex, torch.arange(n)).item() > 0.01


# losses.md §2 lists 6.12, 11.50 and 13.87; it solves with exp(0.01) − 1 ≈ 0.01, which moves
# the last value by 0.005. The library inverts the floor exactly (checked on the simplex above).
@pytest.mark.parametrize("n, expected", [(10, 6.12), (1_000, 11.50), (10_572, 13.865)])
def test_normface_bound_values(n, expected):
    assert heads.normface_scale_lower_bound(n) == pytest.approx(expected, abs=5e-3)


@pytest.mark.parametrize("n, expected", [(10, 4.28), (1_000, 9.10), (10_000, 11.41)])
def test_l2softmax_alpha_bound_values(n, expected):
    assert heads.l2softmax_alpha_lower_bound(n) == pytest.approx(expected, abs=5e-3)
    assert heads.l2softmax_alpha_lower_bound(n, p=0.9) == pytest.approx(
        math.log(0.9 * (n - 2) / 0.1)
    )

"""Agreement with pytorch-metric-learning where the math is the same (loss and gradients)."""

import math

import pytest
import torch
from pytorch_metric_learning import losses

from hypersphere_sklearn import heads

N_CLASSES, DIM, BATCH = 12, 16, 32

PAIRS = {
    "normface": (
        lambda: heads.NormFaceHead(N_CLASSES, DIM, scale=16.0),
        lambda: losses.NormalizedSoftmaxLoss(N_CLASSES, DIM, temperature=1 / 16.0),
    ),
    "cosface": (
        lambda: heads.CosFaceHead(N_CLASSES, DIM, scale=30.0, margin=0.35),
        lambda: losses.CosFaceLoss(N_CLASSES, DIM, margin=0.35, scale=30.0),
    ),
    # pytorch-metric-learning takes ArcFace's margin in degrees.
    "arcface": (
        lambda: heads.ArcFaceHead(N_CLASSES, DIM, scale=30.0, margin=0.5),
        lambda: losses.ArcFaceLoss(N_CLASSES, DIM, margin=math.degrees(0.5), scale=30.0),
    ),
    "arcface-large-margin": (
        lambda: heads.ArcFaceHead(N_CLASSES, DIM, scale=10.0, margin=1.2),
        lambda: losses.ArcFaceLoss(N_CLASSES, DIM, margin=math.degrees(1.2), scale=10.0),
    ),
    "a-softmax": (
        lambda: heads.SphereFaceHead(N_CLASSES, DIM, margin=4, lambda_base=0.0, lambda_min=0.0),
        lambda: losses.SphereFaceLoss(N_CLASSES, DIM, margin=4, scale=1.0),
    ),
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", list(PAIRS))
def test_loss_and_gradients_agree_with_pytorch_metric_learning(name, dtype):
    torch.manual_seed(0)
    ours, theirs = (make() for make in PAIRS[name])
    ours = ours.to(dtype)
    with torch.no_grad():  # pytorch-metric-learning stores the proxies as (dim, n_classes)
        theirs.W.data = ours.weight.detach().t().clone()
    x = (3 * torch.randn(BATCH, DIM, dtype=dtype)).requires_grad_()
    x_theirs = x.detach().clone().requires_grad_()
    y = torch.randint(0, N_CLASSES, (BATCH,))

    loss = ours(x, y)
    expected = theirs(x_theirs, y)
    loss.backward()
    expected.backward()
    tolerance = dict(rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(loss, expected.to(loss.dtype), **tolerance)
    torch.testing.assert_close(x.grad, x_theirs.grad, **tolerance)
    torch.testing.assert_close(ours.weight.grad, theirs.W.grad.t(), **tolerance)


def test_arcface_fallback_region_is_exercised():
    """With m = 1.2 rad some random samples have θ + m > π, where the variants differ."""
    torch.manual_seed(0)
    head = heads.ArcFaceHead(N_CLASSES, DIM, margin=1.2)
    x, y = 3 * torch.randn(BATCH, DIM), torch.randint(0, N_CLASSES, (BATCH,))
    cos = head.predict_logits(x).gather(1, y[:, None]) / float(head.scale)
    assert (torch.acos(cos) + 1.2 > math.pi).any()

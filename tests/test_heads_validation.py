"""Bad arguments and inputs raise a clear ValueError naming the argument; low scales warn."""

import copy
import pickle
import warnings

import pytest
import torch

from hypersphere_sklearn import heads

BAD_ARGUMENTS = [
    (lambda: heads.NormFaceHead(10, 4, scale=-1.0), "scale"),
    (lambda: heads.NormFaceHead(10, 4, scale=0.0), "scale"),
    (lambda: heads.NormFaceHead(10, 4, scale=float("nan")), "scale"),
    (lambda: heads.NormFaceHead(10, 4, scale_min=-1.0, learn_scale=True), "scale_min"),
    (lambda: heads.CosFaceHead(10, 4, scale=-30.0), "scale"),
    (lambda: heads.CosFaceHead(10, 4, margin=-0.1), "margin"),
    (lambda: heads.ArcFaceHead(10, 4, scale=-30.0), "scale"),
    (lambda: heads.ArcFaceHead(10, 4, margin=4.0), "margin"),
    (lambda: heads.ArcFaceHead(10, 4, beyond_pi="wrap"), "beyond_pi"),
    (lambda: heads.L2SoftmaxHead(10, 4, alpha=-2.0), "alpha"),
    (lambda: heads.SphereFaceRHead(10, 4, margin=0.9), "margin"),
    (lambda: heads.SphereFaceRHead(10, 4, scale=-1.0), "scale"),
    (lambda: heads.SphereFaceRHead(10, 4, version="v3"), "version"),
    (lambda: heads.SphereFaceRHead(10, 4, feature_norm="medium"), "feature_norm"),
    (lambda: heads.SphereFaceRHead(10, 4, margin_warmup_steps=-5), "margin_warmup_steps"),
    (lambda: heads.SphereFaceRHead(10, 4, norm_penalty=-0.1), "norm_penalty"),
    (lambda: heads.SphereFaceHead(10, 4, margin=0), "margin"),
    (lambda: heads.SphereFaceHead(10, 4, margin=1.5), "margin"),
    (lambda: heads.SphereFaceHead(10, 4, lambda_min=-1.0), "lambda_min"),
    (lambda: heads.CContrastiveHead(10, 4, margin=-1.0), "margin"),
    (lambda: heads.CTripletHead(10, 4, margin="0.8"), "margin"),
    (lambda: heads.SoftmaxHead(1, 4), "n_classes"),
    (lambda: heads.SoftmaxHead(10, 0), "embedding_dim"),
    (lambda: heads.SoftmaxHead(10.5, 4), "n_classes"),
    (lambda: heads.RingLossHead(torch.nn.Linear(4, 10)), "primary"),
    (lambda: heads.RingLossHead(heads.SoftmaxHead(10, 4), ring_weight=-1.0), "ring_weight"),
    (lambda: heads.RingLossHead(heads.SoftmaxHead(10, 4), radius=-1.0), "radius"),
    (lambda: heads.normface_scale_lower_bound(1), "n_classes"),
    (lambda: heads.l2softmax_alpha_lower_bound(10, p=1.5), "p"),
]


@pytest.mark.parametrize("make, argument", BAD_ARGUMENTS)
def test_bad_arguments_raise_value_error_naming_the_argument(make, argument):
    with pytest.raises(ValueError, match=rf"\b{argument}\b"):
        make()


@pytest.mark.parametrize(
    "embeddings, labels, argument",
    [
        (torch.randn(4, 3), torch.tensor([0, 1, 2, 3]), "embeddings"),  # wrong dimension
        (torch.randn(4), torch.tensor([0]), "embeddings"),  # not 2-D
        (torch.randn(0, 4), torch.zeros(0, dtype=torch.long), "embeddings"),  # empty
        (torch.randint(0, 5, (4, 4)), torch.tensor([0, 1, 2, 3]), "embeddings"),  # integers
        ([[0.0] * 4], torch.tensor([0]), "embeddings"),  # not a tensor
        (torch.randn(4, 4), torch.tensor([0, 1, 2]), "labels"),  # length mismatch
        (torch.randn(4, 4), torch.tensor([0, 1, 2, 10]), "labels"),  # outside range
        (torch.randn(4, 4), torch.tensor([0, -1, 2, 3]), "labels"),  # negative
        (torch.randn(4, 4), torch.tensor([0.0, 1.0, 2.0, 3.0]), "labels"),  # float labels
        (torch.randn(4, 4), [0, 1, 2, 3], "labels"),  # not a tensor
    ],
)
@pytest.mark.parametrize(
    "make",
    [
        lambda: heads.SoftmaxHead(10, 4),
        lambda: heads.NormFaceHead(10, 4),
        lambda: heads.CTripletHead(10, 4),
        lambda: heads.SphereFaceRHead(10, 4),
        lambda: heads.RingLossHead(heads.CosFaceHead(10, 4)),
    ],
)
def test_bad_inputs_raise_value_error_naming_them(make, embeddings, labels, argument):
    with pytest.raises(ValueError, match=argument):
        make()(embeddings, labels)


def test_out_of_range_message_says_how_to_fix_it():
    with pytest.raises(ValueError, match=r"labels must lie in \[0, n_classes=10\); got values "
                                         r"from 0 to 12"):
        heads.NormFaceHead(10, 4)(torch.randn(2, 4), torch.tensor([0, 12]))


@pytest.mark.parametrize(
    "make",
    [
        lambda: heads.NormFaceHead(1000, 4, scale=5.0),
        lambda: heads.L2SoftmaxHead(1000, 4, alpha=5.0),
    ],
)
def test_fixed_scale_below_the_bound_warns(make):
    with pytest.warns(heads.LowScaleWarning, match="lower bound"):
        make()


@pytest.mark.parametrize(
    "make",
    [
        lambda: heads.NormFaceHead(1000, 4, scale=5.0, learn_scale=True),
        lambda: heads.NormFaceHead(1000, 4, scale=12.0),
        lambda: heads.L2SoftmaxHead(1000, 4, alpha=5.0, learn_alpha=True),
        lambda: heads.L2SoftmaxHead(1000, 4, alpha=9.2),
        lambda: heads.L2SoftmaxHead(2, 4, alpha=0.1),
    ],
)
def test_learnable_or_large_enough_scale_does_not_warn(make):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make()


@pytest.mark.parametrize(
    "make",
    [
        lambda: heads.SphereFaceRHead(6, 4, feature_norm="soft", version="v2"),
        lambda: heads.SphereFaceHead(6, 4),
        lambda: heads.RingLossHead(heads.L2SoftmaxHead(6, 4, learn_alpha=True)),
        lambda: heads.NormFaceHead(6, 4, learn_scale=True),
    ],
)
def test_heads_survive_deepcopy_pickle_and_state_dict(make):
    head = make()
    x, y = torch.randn(5, 4), torch.tensor([0, 1, 2, 3, 5])
    head(x, y)  # advance schedules, initialise the ring radius
    head.eval()
    for other in (copy.deepcopy(head), pickle.loads(pickle.dumps(head))):
        torch.testing.assert_close(other(x, y), head(x, y))
    fresh = make().eval()
    fresh.load_state_dict(head.state_dict())
    torch.testing.assert_close(fresh(x, y), head(x, y))


def test_repr_shows_hyperparameters():
    text = repr(heads.SphereFaceRHead(6, 4, version="v2", feature_norm="soft"))
    assert "version='v2'" in text and "feature_norm='soft'" in text and "margin=1.5" in text

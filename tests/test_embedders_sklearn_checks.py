"""scikit-learn's estimator checks on every embedder in its 2-D configuration."""

from sklearn.utils.estimator_checks import parametrize_with_checks

import hypersphere_sklearn as hs

EMBEDDERS = [
    hs.SoftmaxEmbedder,
    hs.NormFaceEmbedder,
    hs.CContrastiveEmbedder,
    hs.CTripletEmbedder,
    hs.L2SoftmaxEmbedder,
    hs.RingLossEmbedder,
    hs.CosFaceEmbedder,
    hs.ArcFaceEmbedder,
    hs.SphereFaceEmbedder,
    hs.SphereFaceREmbedder,
]


def small(cls):
    """A small MLP trained for two epochs: what the checks need, quickly."""
    return cls(
        backbone="mlp", embedding_dim=8, max_epochs=2, batch_size=16,
        verbose=0, random_state=0,
    )


#: Checks that cannot pass, with the reason. Empty: every check passes. (scikit-learn skips
#: check_array_api_input by itself unless SCIPY_ARRAY_API=1 is set; the embedders take NumPy
#: input, not other array-API namespaces.)
EXPECTED_FAILURES = {}


@parametrize_with_checks(
    [small(cls) for cls in EMBEDDERS],
    expected_failed_checks=lambda estimator: EXPECTED_FAILURES,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)

"""Fuzzing with hypothesis: shapes, dtypes and values of X, y, pairs and hyperparameters.

The estimators, the verifier and the metrics may refuse an input only with a ``ValueError`` or
``TypeError`` (a :class:`~hypersphere_sklearn.TrainingDivergedError` is a ``ValueError``), and
finite inputs never give NaN outputs. ``scripts/test.sh`` runs these with a fixed seed
(``HYPOTHESIS_PROFILE=ci``); ``HYPOTHESIS_PROFILE=explore`` searches longer with fresh seeds.
"""

import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import hypersphere_sklearn as hs
from hypersphere_sklearn import metrics
from hypersphere_sklearn.model_selection import make_pairs

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=100,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", deadline=None, max_examples=1000,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ALLOWED = (ValueError, TypeError)
DTYPES = [np.uint8, np.uint16, np.int16, np.int64, np.float16, np.float32, np.float64, np.bool_]


def finite_elements(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return st.floats(width=8 * dtype.itemsize, allow_nan=False, allow_infinity=False)
    return None


@st.composite
def arrays(draw, shape, dtypes=DTYPES):
    dtype = draw(st.sampled_from(dtypes))
    return draw(hnp.arrays(dtype, shape, elements=finite_elements(dtype)))


def mostly(valid, invalid):
    """Valid values three times in four (and in the simplest examples, which hypothesis tries
    first and shrinks towards), so that most examples get as far as training."""
    return st.integers(0, 3).flatmap(lambda k: valid if k < 3 else invalid)


@st.composite
def labels(draw, n):
    """Labels for n samples: usually 2-4 identities as integers or strings; sometimes one
    identity, float labels or a wrong count."""
    if draw(mostly(st.just(True), st.just(False))):
        k = draw(st.integers(2, 4))
        codes = np.array(draw(st.permutations(np.arange(n) % k)), dtype=int)
        names = np.array(["ann", "bob", "eve", "joe"]) if draw(st.booleans()) else np.arange(4)
        return names[codes]
    n = draw(st.sampled_from([max(n - 1, 0), n + 1, n]))
    pool = draw(st.sampled_from([[0.5, -1.0], [7], ["x"]]))
    return np.array(draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n)))


@st.composite
def training_data(draw):
    n = draw(mostly(st.integers(4, 14), st.integers(0, 3)))
    kind = draw(st.sampled_from(["features", "NHW", "NHWC", "NCHW"]))
    side = mostly(st.integers(6, 12), st.integers(1, 5))
    shape = {"features": (n, draw(mostly(st.integers(1, 5), st.just(0)))),
             "NHW": (n, draw(side), draw(side)),
             "NHWC": (n, draw(side), draw(side), draw(st.sampled_from([1, 3]))),
             "NCHW": (n, draw(st.sampled_from([1, 3])), draw(side), draw(side))}[kind]
    return draw(arrays(shape)), draw(labels(n))


ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)
HYPERPARAMETERS = {
    "lr": mostly(st.floats(1e-4, 1.0), ANY_FLOAT),
    "batch_size": mostly(st.integers(1, 40), st.one_of(st.integers(-1, 0), st.floats(0, 10))),
    "max_epochs": mostly(st.integers(1, 2), st.integers(-1, 0)),
    "embedding_dim": mostly(st.one_of(st.none(), st.integers(1, 12)), st.integers(-1, 0)),
    "weight_decay": mostly(st.floats(0, 1), ANY_FLOAT),
    "max_grad_norm": mostly(st.one_of(st.none(), st.floats(1e-3, 10)), ANY_FLOAT),
    "calibration_holdout": mostly(st.one_of(st.floats(0, 0.9), st.integers(0, 5)),
                                  st.one_of(st.floats(-0.5, 1.5), st.integers(-1, 0))),
    "random_flip": st.booleans(),
    "random_shift": mostly(st.floats(0, 0.5), ANY_FLOAT),
    "flip_fusion": st.booleans(),
    "mixed_precision": mostly(st.sampled_from([None, "bf16"]), st.just("fp8")),
}

METHODS = {
    hs.NormFaceEmbedder: {"scale": mostly(st.floats(1, 64), ANY_FLOAT),
                          "learn_scale": st.booleans()},
    hs.CosFaceEmbedder: {"margin": mostly(st.floats(0, 1), ANY_FLOAT),
                         "scale": mostly(st.floats(1, 64), ANY_FLOAT)},
    hs.ArcFaceEmbedder: {"margin": mostly(st.floats(0, 1), ANY_FLOAT)},
    hs.SphereFaceREmbedder: {"margin": mostly(st.floats(1, 3), ANY_FLOAT),
                             "feature_norm": mostly(st.sampled_from(["hard", "soft", "none"]),
                                                    st.just("other")),
                             "version": st.sampled_from(["v1", "v2"])},
    hs.SphereFaceEmbedder: {"margin": mostly(st.integers(1, 4), st.integers(-1, 0))},
    hs.L2SoftmaxEmbedder: {"alpha": mostly(st.floats(1, 64), ANY_FLOAT)},
    hs.CTripletEmbedder: {"margin": mostly(st.floats(0, 2), ANY_FLOAT)},
    hs.CContrastiveEmbedder: {"margin": mostly(st.floats(0, 2), ANY_FLOAT)},
    hs.RingLossEmbedder: {"ring_weight": mostly(st.floats(0, 1), ANY_FLOAT),
                          "radius": mostly(st.one_of(st.none(), st.floats(1, 100)), ANY_FLOAT)},
    hs.SoftmaxEmbedder: {},
}


@st.composite
def embedders(draw):
    cls = draw(st.sampled_from(list(METHODS)))
    chosen = draw(st.sets(st.sampled_from(sorted(HYPERPARAMETERS)), max_size=2))
    params = {name: draw(HYPERPARAMETERS[name]) for name in chosen}
    own = METHODS[cls]
    params.update({name: draw(strategy) for name, strategy in own.items()
                   if draw(st.booleans())})
    return cls(**{"max_epochs": 1, "batch_size": 8, "verbose": 0, "random_state": 0,
                  **params})


@given(embedders(), training_data())
def test_embedders_refuse_clearly_and_never_return_nan(embedder, data):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            Z = embedder.fit_transform(X, y)
        except ALLOWED as error:
            event(f"refused: {type(error).__name__}: {str(error)[:60]}")
            return
    event("trained")
    assert Z.shape == (len(X), embedder.embedding_dim_)
    assert np.isfinite(Z).all()


@st.composite
def embeddings(draw, n=None, d=None):
    n = draw(st.integers(0, 12)) if n is None else n
    d = draw(st.integers(0, 5)) if d is None else d
    return draw(arrays((n, d), dtypes=[np.float16, np.float32, np.float64, np.int64,
                                       np.bool_]))


VERIFIER_PARAMETERS = {
    "calibration": st.sampled_from(["accuracy", "far", "eer", "fixed", "best"]),
    "target_far": st.floats(allow_nan=True, allow_infinity=True),
    "threshold": st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    "max_genuine_pairs": st.integers(-1, 50),
    "chunk_size": st.integers(-1, 7),
    "unknown_label": st.sampled_from([-1, "unknown", None]),
}


@given(st.data())
def test_the_verifier_refuses_clearly_and_never_returns_nan(data):
    chosen = data.draw(st.sets(st.sampled_from(sorted(VERIFIER_PARAMETERS)), max_size=3))
    params = {name: data.draw(VERIFIER_PARAMETERS[name]) for name in chosen}
    E = data.draw(embeddings())
    y = data.draw(labels(len(E)))
    try:
        verifier = hs.CosineVerifier(**params).fit(E, y)
    except ALLOWED:
        return
    assert np.isfinite(verifier.threshold_) and np.isfinite(verifier.templates_).all()
    probes = data.draw(embeddings(d=data.draw(st.sampled_from([E.shape[1], E.shape[1] + 1]))))
    for method in (verifier.predict, verifier.decision_function):
        try:
            out = method(probes)
        except ALLOWED:
            continue
        assert len(out) == len(probes)
        if method is verifier.decision_function:
            assert np.isfinite(out).all()
    other = data.draw(embeddings(d=E.shape[1]))
    try:
        similarity = verifier.similarity(probes, other)
    except ALLOWED:
        return
    assert np.isfinite(similarity).all() and (np.abs(similarity) <= 1 + 1e-6).all()


SCORE_DTYPES = [np.float16, np.float32, np.float64, np.int64]


@st.composite
def scored_pairs(draw):
    n = draw(st.integers(0, 30))
    scores = draw(arrays((n,), dtypes=SCORE_DTYPES))
    m = draw(st.sampled_from([n, n, n, n + 1]))
    same = draw(hnp.arrays(np.bool_, (m,)))
    return scores, same


@given(scored_pairs(), st.floats(allow_nan=True, allow_infinity=True),
       st.one_of(st.none(), st.integers(1, 12)))
def test_metrics_refuse_clearly_and_never_return_nan(pairs, far, n_folds):
    scores, same = pairs
    folds = None if n_folds is None else np.arange(len(scores)) % n_folds
    calls = [
        lambda: metrics.best_accuracy_threshold(scores, same),
        lambda: metrics.threshold_at_far(scores, same, far),
        lambda: metrics.tar_at_far(scores, same, far),
        lambda: metrics.equal_error_rate(scores, same),
        lambda: metrics.kfold_accuracy(scores, same, folds=folds),
        lambda: metrics.verification_report(scores, same, threshold=0.0, fars=(far,),
                                            folds=folds),
    ]
    for call in calls:
        try:
            result = call()
        except ALLOWED:
            continue
        values = list(result.values()) if isinstance(result, dict) else [result]
        numbers = []
        for value in values:
            if isinstance(value, metrics.KFoldAccuracy):
                numbers += [value.mean, value.std, *value.thresholds, *value.accuracies]
            else:
                numbers += list(np.ravel(value))
        assert not np.isnan(np.asarray(numbers, dtype=np.float64)).any(), call


@given(st.data())
def test_pair_similarity_refuses_bad_pairs_and_never_returns_nan(data):
    E = data.draw(embeddings())
    n_pairs = data.draw(st.integers(0, 10))
    pairs = data.draw(arrays((n_pairs, data.draw(st.sampled_from([2, 2, 3]))),
                             dtypes=[np.int64, np.int8, np.float64, np.uint8]))
    for normalized in (False, True):
        try:
            scores = metrics.pair_similarity(E, pairs, normalized=normalized)
        except ALLOWED:
            continue
        assert scores.shape == (n_pairs,) and not np.isnan(scores).any()
        if not normalized:
            assert (np.abs(scores) <= 1 + 1e-6).all()


@given(st.data())
def test_make_pairs_gives_valid_index_pairs(data):
    y = data.draw(labels(data.draw(st.integers(0, 20))))
    try:
        pairs, same = make_pairs(y, max_genuine=data.draw(st.integers(-1, 30)),
                                 random_state=0)
    except ALLOWED:
        return
    assert pairs.shape == (len(same), 2) and ((pairs >= 0) & (pairs < len(y))).all()
    np.testing.assert_array_equal(same, y[pairs[:, 0]] == y[pairs[:, 1]])


@pytest.mark.parametrize("cls", [hs.NormFaceEmbedder, hs.SoftmaxEmbedder])
def test_huge_finite_inputs_give_finite_embeddings(cls):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 4)), np.repeat(np.arange(4), 10)
    embedder = cls(max_epochs=1, verbose=0, random_state=0).fit(X, y)
    extreme = np.array([[1e300, -1e300, 0, 1], [3e38, 3e38, 3e38, 3e38]])
    with pytest.raises(ValueError, match="too large"):
        embedder.transform(extreme)
    assert np.isfinite(embedder.transform(np.float32(extreme[1:]))).all()
    images = np.full((8, 8, 8), 1e300)
    fitted = cls(max_epochs=1, verbose=0, random_state=0, batch_size=4).fit(
        rng.random((8, 8, 8)), np.repeat([0, 1], 4))
    assert np.isfinite(fitted.transform(images)).all()

"""Bad input raises a clear ValueError naming the problem, before any training starts."""

import numpy as np
import pytest

import hypersphere_sklearn as hs

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, size=(12, 8, 8), dtype=np.uint8)
LABELS = np.repeat([0, 1, 2], 4)


def with_nan():
    images = IMAGES.astype(np.float32)
    images[3, 2, 2] = np.nan
    return images


def with_inf():
    images = IMAGES.astype(np.float32)
    images[5, 0, 0] = np.inf
    return images


BAD_FIT_INPUTS = [
    ("NaN pixels", with_nan(), LABELS, "NaN or inf pixels"),
    ("inf pixels", with_inf(), LABELS, "NaN or inf pixels"),
    ("five dimensions", IMAGES[:, None, None], LABELS, "must be 2-D data"),
    ("one dimension", np.arange(12.0), LABELS, "Expected 2D array"),
    ("empty images", IMAGES[:0], LABELS[:0], "empty"),
    ("empty 2-D", np.zeros((0, 5)), LABELS[:0], "0 sample"),
    ("one class", IMAGES, np.zeros(12, dtype=int), "only 1 class"),
    ("length mismatch", IMAGES, LABELS[:-1], "12 samples but y has 11 labels"),
    ("ragged object array", np.array([np.zeros((8, 8)), np.zeros((6, 6))] * 6, dtype=object),
     LABELS, "images of different sizes"),
    ("strings as images", np.full((12, 8, 8), "a", dtype=object), LABELS,
     "could not be read as numbers"),
    ("labels with None", IMAGES, np.array([0, 1, None] * 4, dtype=object), "missing values"),
    ("labels with NaN", IMAGES, np.array([0.0, 1.0, np.nan] * 4), "missing values"),
    ("no labels", IMAGES, None, "requires y"),
    ("ambiguous channels", RNG.integers(0, 255, size=(12, 8, 8, 7), dtype=np.uint8), LABELS,
     "cannot tell the channels"),
]


@pytest.mark.parametrize(
    "X, y, message", [case[1:] for case in BAD_FIT_INPUTS], ids=[c[0] for c in BAD_FIT_INPUTS]
)
def test_bad_fit_input_raises_before_training(X, y, message):
    embedder = hs.NormFaceEmbedder(max_epochs=1, verbose=0)
    with pytest.raises(ValueError, match=message):
        embedder.fit(X, y)
    assert not embedder.initialized_ and not hasattr(embedder, "module_")


BAD_PARAMETERS = [
    ({"max_epochs": 0}, "max_epochs"),
    ({"batch_size": -3}, "batch_size"),
    ({"lr": -1.0}, "lr"),
    ({"weight_decay": -1e-3}, "weight_decay"),
    ({"lr_schedule": "step"}, "lr_schedule"),
    ({"mixed_precision": "fp8"}, "mixed_precision"),
    ({"embedding_dim": 0}, "embedding_dim"),
    ({"random_shift": 0.6}, "random_shift"),
    ({"random_shift": -0.1}, "random_shift"),
    ({"scale": -2.0}, "scale"),
]


@pytest.mark.parametrize("params, name", BAD_PARAMETERS)
def test_bad_hyperparameters_name_themselves(params, name):
    with pytest.raises(ValueError, match=name):
        hs.NormFaceEmbedder(**{"max_epochs": 1, "verbose": 0, **params}).fit(IMAGES, LABELS)


@pytest.mark.parametrize(
    "embedder, name",
    [
        (hs.SphereFaceREmbedder(margin=0.5), "margin"),
        (hs.SphereFaceREmbedder(version="v9"), "version"),
        (hs.SphereFaceREmbedder(feature_norm="soft-ish"), "feature_norm"),
        (hs.ArcFaceEmbedder(beyond_pi="wrap"), "beyond_pi"),
        (hs.RingLossEmbedder(primary="triplet"), "primary"),
        (hs.RingLossEmbedder(margin=0.3), "margin is not a parameter"),
        (hs.RingLossEmbedder(ring_weight=-1), "ring_weight"),
    ],
)
def test_bad_loss_hyperparameters_name_themselves(embedder, name):
    embedder.set_params(max_epochs=1, verbose=0)
    with pytest.raises(ValueError, match=name):
        embedder.fit(IMAGES, LABELS)


@pytest.fixture(scope="module")
def fitted():
    return hs.NormFaceEmbedder(max_epochs=1, verbose=0, random_state=0).fit(IMAGES, LABELS)


@pytest.mark.parametrize(
    "X, message",
    [
        (RNG.integers(0, 256, size=(3, 10, 10), dtype=np.uint8), "10x10 images"),
        (RNG.integers(0, 256, size=(3, 8, 8, 3), dtype=np.uint8), "3 channel"),
        (np.zeros((3, 64)), "fitted on 8x8 images"),
        (with_nan(), "NaN or inf"),
        (IMAGES[:0], "empty"),
    ],
)
def test_bad_transform_input(fitted, X, message):
    with pytest.raises(ValueError, match=message):
        fitted.transform(X)


def test_transform_before_fit_raises_not_fitted():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        hs.NormFaceEmbedder().transform(IMAGES)

"""EnsembleEmbedder: several seeds of one embedder, embedding as one."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from hypersphere_sklearn import (
    CosineVerifier,
    EnsembleEmbedder,
    NormFaceEmbedder,
    SphereFaceEmbedder,
)
from hypersphere_sklearn.verification import Embeddings


def small(**params):
    return NormFaceEmbedder(backbone="mlp", embedding_dim=8, max_epochs=2, batch_size=16,
                            verbose=0, **params)


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    y = np.repeat(np.arange(12), 10)
    X = rng.normal(size=(12, 6))[y] + 0.3 * rng.normal(size=(len(y), 6))
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return EnsembleEmbedder(small(calibration_holdout=3), n_estimators=3,
                            random_state=7).fit(X, y)


@parametrize_with_checks(
    [EnsembleEmbedder(small(random_state=0), random_state=0)],
    expected_failed_checks=lambda estimator: {
        "check_methods_sample_order_invariance": (
            "bit-for-bit float32 equality after reordering rows; see "
            "test_embedders_sklearn_checks.py"
        ),
    },
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_cosines_are_the_mean_of_the_networks_cosines(fitted, data):
    X, _ = data
    E = fitted.transform(X)
    assert E.dtype == np.float32 and E.shape == (len(X), 24)
    assert_allclose(np.linalg.norm(E, axis=1), 1.0, rtol=1e-5)
    parts = [member.transform(X) for member in fitted.estimators_]
    assert_allclose(E, np.hstack(parts) / np.sqrt(3), rtol=1e-6)
    mean_cosine = np.mean([P @ P.T for P in parts], axis=0)
    assert_allclose(E @ E.T, mean_cosine, atol=1e-5)
    # and the networks differ, or the average would be a single network
    assert not np.allclose(parts[0], parts[1], atol=1e-3)


def test_first_network_is_the_estimator_trained_alone(fitted, data):
    X, y = data
    alone = small(calibration_holdout=3, random_state=7).fit(X, y)
    assert fitted.seeds_ == [7, 8, 9]
    assert_array_equal(fitted.holdout_classes_, alone.holdout_classes_)
    assert_allclose(fitted.estimators_[0].transform(X), alone.transform(X), atol=1e-6)


def test_every_network_trains_on_the_same_identities(fitted, data):
    X, y = data
    assert len(fitted.holdout_classes_) == 3
    assert_array_equal(fitted.classes_, np.arange(12))
    for member in fitted.estimators_[1:]:
        assert len(member.holdout_classes_) == 0
        assert_array_equal(member.classes_, fitted.training_classes_)
    assert_array_equal(fitted.training_classes_,
                       np.setdiff1d(np.arange(12), fitted.holdout_classes_))
    E = fitted.fit_transform(X, y)
    assert isinstance(E, Embeddings)
    assert_array_equal(E.calibration_mask, np.isin(y, fitted.holdout_classes_))


def test_in_a_pipeline_the_verifier_calibrates_on_the_held_out_people(data):
    X, y = data
    pipe = Pipeline([("embed", EnsembleEmbedder(small(calibration_holdout=4), random_state=0)),
                     ("verify", CosineVerifier())]).fit(X, y)
    embed = pipe.named_steps["embed"]
    held_out = np.isin(y, embed.holdout_classes_)
    expected = CosineVerifier().fit(embed.transform(X)[held_out], y[held_out]).threshold_
    assert pipe.named_steps["verify"].threshold_ == pytest.approx(expected)


def test_parallel_training_gives_the_same_networks(data):
    X, y = data
    serial = EnsembleEmbedder(small(), random_state=3).fit(X, y)
    parallel = EnsembleEmbedder(small(), random_state=3, n_jobs=2).fit(X, y)
    assert_allclose(parallel.transform(X), serial.transform(X), atol=1e-5)


def test_fit_member_is_the_hook_for_each_network(data):
    X, y = data
    seen = []

    class Recording(EnsembleEmbedder):
        def fit_member(self, index, member, X, y):
            seen.append((index, member.random_state, member.calibration_holdout, len(X)))
            return super().fit_member(index, member, X, y)

    ensemble = Recording(small(calibration_holdout=2), random_state=5).fit(X, y)
    trained = np.isin(y, ensemble.training_classes_).sum()
    assert seen == [(0, 5, 2, len(X)), (1, 6, 0, trained)]


def test_seeds_are_drawn_afresh_without_a_random_state(data):
    X, y = data
    ensemble = EnsembleEmbedder(small(), n_estimators=2)
    assert ensemble.make_seeds() != ensemble.make_seeds()
    drawn = EnsembleEmbedder(small(), random_state=np.random.RandomState(0)).make_seeds()
    assert drawn == EnsembleEmbedder(small(), random_state=np.random.RandomState(0)).make_seeds()


def test_default_estimator_is_sphereface():
    ensemble = EnsembleEmbedder()
    assert ensemble.estimator is None
    params = EnsembleEmbedder(SphereFaceEmbedder(max_epochs=3)).get_params()
    assert params["estimator__max_epochs"] == 3


def test_composes_clone_pickle_and_set_output(fitted, data):
    X, _ = data
    assert clone(fitted).get_params()["n_estimators"] == 3
    restored = pickle.loads(pickle.dumps(fitted))
    assert_allclose(restored.transform(X), fitted.transform(X))
    names = fitted.get_feature_names_out()
    assert names[0] == "ensembleembedder0" and len(names) == 24
    pd = pytest.importorskip("pandas")
    frame = clone(fitted).set_output(transform="pandas").fit(X, data[1]).transform(X)
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == list(names)


@pytest.mark.parametrize("params, message", [
    ({"n_estimators": 0}, "n_estimators must be an integer >= 1"),
    ({"n_estimators": 1.5}, "n_estimators must be an integer >= 1"),
    ({"estimator": CosineVerifier()}, "estimator must be an embedder of this library"),
])
def test_bad_parameters_are_named(data, params, message):
    X, y = data
    with pytest.raises(ValueError, match=message):
        EnsembleEmbedder(**{"estimator": small(), **params}).fit(X, y)


def test_transform_before_fit_says_so(data):
    from sklearn.exceptions import NotFittedError
    with pytest.raises(NotFittedError):
        EnsembleEmbedder(small()).transform(data[0])


def test_each_network_checkpoints_to_its_own_folder(data, tmp_path):
    X, y = data
    ensemble = EnsembleEmbedder(small(checkpoint_dir=tmp_path), random_state=0).fit(X, y)
    assert [m.checkpoint_dir for m in ensemble.estimators_] == [
        str(tmp_path / "network0"), str(tmp_path / "network1")]
    assert all(any((tmp_path / f"network{i}").iterdir()) for i in range(2))
    # resumed from their own checkpoints, the networks stay two different networks
    again = EnsembleEmbedder(small(checkpoint_dir=tmp_path, warm_start=True),
                             random_state=0).fit(X, y)
    assert_allclose(again.transform(X), ensemble.transform(X), atol=1e-6)
    assert not np.allclose(*[m.transform(X) for m in again.estimators_], atol=1e-3)


def test_a_fit_member_that_returns_another_network_is_refused(data):
    X, y = data

    class Wrong(EnsembleEmbedder):
        def fit_member(self, index, member, X, y):
            return member.set_params(random_state=99, calibration_holdout=4).fit(X, y)

    with pytest.raises(ValueError, match="network 0 holds out other identities"):
        Wrong(small(calibration_holdout=4), random_state=0).fit(X, y)


def test_save_names_how_to_keep_an_ensemble(fitted, tmp_path):
    from hypersphere_sklearn import save
    with pytest.raises(TypeError, match=r"estimators_\[i\]\.save\(path\)"):
        save(Pipeline([("embed", fitted)]), tmp_path / "m.safetensors")
    assert not (tmp_path / "m.safetensors").exists()

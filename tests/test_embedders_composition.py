"""The embedders in scikit-learn's machinery: clone, params, Pipeline, GridSearchCV with
identity-disjoint folds, cross_validate, pickle and joblib."""

import pickle

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_validate
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

import hypersphere_sklearn as hs

ALL = [
    hs.SoftmaxEmbedder, hs.NormFaceEmbedder, hs.CContrastiveEmbedder, hs.CTripletEmbedder,
    hs.L2SoftmaxEmbedder, hs.RingLossEmbedder, hs.CosFaceEmbedder, hs.ArcFaceEmbedder,
    hs.SphereFaceEmbedder, hs.SphereFaceREmbedder,
]


def pair_auc(estimator, X, y):
    """AUC of cosine similarity over all pairs of the (unseen) identities in X."""
    Z = estimator.transform(X)
    Z = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    i, j = np.triu_indices(len(Z), 1)
    return roc_auc_score(y[i] == y[j], np.sum(Z[i] * Z[j], axis=1))


def quick(cls=hs.CosFaceEmbedder, **params):
    return cls(**{"max_epochs": 2, "batch_size": 32, "verbose": 0, "random_state": 0, **params})


@pytest.mark.parametrize("cls", ALL)
def test_get_params_is_exactly_the_signature(cls):
    import inspect

    embedder = cls()
    expected = set(inspect.signature(cls).parameters)
    assert set(embedder.get_params(deep=False)) == expected
    assert not any(key.startswith("_") for key in embedder.get_params(deep=True))
    assert "device" in expected and "random_state" in expected


def test_loss_hyperparameters_are_plain_arguments():
    assert {"scale", "margin"} <= set(hs.CosFaceEmbedder().get_params())
    assert {"scale", "margin"} <= set(hs.ArcFaceEmbedder().get_params())
    assert {"scale", "margin", "version", "feature_norm", "gradient_detach"} <= set(
        hs.SphereFaceREmbedder().get_params()
    )
    assert {"ring_weight", "radius", "primary"} <= set(hs.RingLossEmbedder().get_params())
    assert "alpha" in hs.L2SoftmaxEmbedder().get_params()
    assert not any(k.startswith("criterion__") for k in hs.CosFaceEmbedder().get_params())


def test_clone_keeps_prefixed_arguments_and_drops_fitted_state(faces_16px):
    images, target = faces_16px
    embedder = quick(
        backbone="small-cnn", backbone__widths=(4, 8, 8), iterator_train__num_workers=0,
        device="cpu",  # compared bitwise: GPU kernels need not be deterministic
    )
    embedder.fit(images, target)
    copy = clone(embedder)
    assert copy.get_params()["backbone__widths"] == (4, 8, 8)
    assert not hasattr(copy, "module_") and not hasattr(copy, "classes_")
    np.testing.assert_array_equal(copy.fit(images, target).transform(images),
                                  embedder.transform(images))


def test_set_params_on_a_fitted_embedder_takes_effect_at_the_next_fit(faces_16px):
    images, target = faces_16px
    embedder = quick().fit(images, target)
    embedder.set_params(scale=7.0, margin=0.1, backbone__widths=(4, 4, 4))
    embedder.fit(images, target)
    assert float(embedder.criterion_.scale) == 7.0 and embedder.criterion_.margin == 0.1
    assert embedder.module_[1].features[0][0].out_channels == 4


def test_pipeline_with_a_downstream_model(faces_16px):
    images, target = faces_16px
    pipe = Pipeline([("embed", quick(max_epochs=3)), ("knn", KNeighborsClassifier(1))])
    pipe.fit(images[::2], target[::2])
    assert pipe.score(images[1::2], target[1::2]) > 0.5  # 40 identities: chance is 0.025


def test_grid_search_over_scale_and_margin_with_identity_disjoint_folds(faces_16px):
    images, target = faces_16px
    pipe = Pipeline([("identity", FunctionTransformer()), ("embed", quick())])
    search = GridSearchCV(
        pipe,
        {"embed__scale": [8.0, 16.0], "embed__margin": [0.1, 0.3]},
        cv=GroupKFold(n_splits=2),
        scoring=pair_auc,
        n_jobs=2,
    )
    search.fit(images, target, groups=target)
    assert len(search.cv_results_["params"]) == 4
    assert search.best_params_["embed__scale"] in (8.0, 16.0)
    assert 0.5 < search.best_score_ <= 1.0
    assert search.best_estimator_.named_steps["embed"].transform(images[:3]).shape == (3, 128)


def test_group_k_fold_folds_are_identity_disjoint(faces_16px):
    _, target = faces_16px
    for train, test in GroupKFold(n_splits=4).split(target, target, groups=target):
        assert not set(target[train]) & set(target[test])


def test_cross_validate(faces_16px):
    images, target = faces_16px
    result = cross_validate(quick(hs.NormFaceEmbedder), images, target, groups=target,
                            cv=GroupKFold(n_splits=2), scoring=pair_auc)
    assert result["test_score"].shape == (2,) and np.all(result["test_score"] > 0.5)


@pytest.mark.parametrize("cls", ALL)
def test_pickle_and_joblib_give_identical_transforms(cls, tmp_path, faces_16px):
    images, target = faces_16px
    embedder = quick(cls).fit(images, target)
    expected = embedder.transform(images)
    restored = pickle.loads(pickle.dumps(embedder))
    np.testing.assert_array_equal(restored.transform(images), expected)
    joblib.dump(embedder, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(loaded.transform(images), expected)
    assert restored.get_params()["device"] == "auto"


def test_pickled_pipeline(tmp_path, faces_16px):
    images, target = faces_16px
    pipe = Pipeline([("embed", quick()), ("knn", KNeighborsClassifier(1))]).fit(images, target)
    joblib.dump(pipe, tmp_path / "pipe.joblib")
    loaded = joblib.load(tmp_path / "pipe.joblib")
    np.testing.assert_array_equal(loaded.predict(images), pipe.predict(images))
    np.testing.assert_array_equal(loaded[:-1].transform(images), pipe[:-1].transform(images))

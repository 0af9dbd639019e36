"""Several networks of one method, trained with different seeds, embedding as one."""

import numbers
import os

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    clone,
)
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, column_or_1d

from .embedders import HypersphereEmbedder, SphereFaceEmbedder
from .embedders._base import embedder_tags
from .heads._validation import check_int
from .verification import Embeddings

__all__ = ["EnsembleEmbedder"]


class EnsembleEmbedder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Networks of one embedder trained with different seeds, whose cosines are averaged.

    Each network is a clone of ``estimator`` with its own ``random_state``: the same method,
    backbone and recipe, a different start and order of batches. ``transform`` concatenates
    the networks' unit-norm embeddings and divides by the square root of their number, so
    the result is unit-norm again and the cosine of two rows is the mean of the networks'
    cosines: in a pipeline, before a :class:`~hypersphere_sklearn.CosineVerifier` or any other
    model, it takes a single embedder's place. (It has no ``partial_fit``, and the safe model
    format stores its networks one by one: ``estimators_[i].save(path)``.)

    All the networks train on the same identities. The first network chooses the
    identities held out of training (its ``calibration_holdout``) exactly as it would alone,
    and the others train on the rest and hold out nothing, so that inside a pipeline the
    verifier calibrates on people no network saw. With ``checkpoint_dir``, network ``i``
    checkpoints to its subfolder ``network{i}``, so an interrupted fit with
    ``warm_start=True`` resumes each network from its own checkpoint.

    Parameters
    ----------
    estimator : HypersphereEmbedder, default=None
        The embedder to train several times (unfitted; it is cloned). None means
        ``SphereFaceEmbedder()``.
    n_estimators : int, default=2
        Number of networks.
    n_jobs : int or None, default=None
        Networks trained at the same time (joblib processes, at most ``n_estimators``); None
        means 1, -1 as many as there are cores. joblib gives each process its share of the
        cores for torch's threads.
    random_state : int, RandomState instance or None, default=None
        With an int ``r``, network ``i`` gets ``random_state=r + i``, so the first one is
        ``estimator`` with ``random_state=r`` trained alone. Otherwise the seeds are drawn
        from it (fresh ones each fit when None). Either way it replaces the estimator's own
        ``random_state``.

    Attributes
    ----------
    estimators_ : list of HypersphereEmbedder
        The fitted networks.
    seeds_ : list of int
        Their ``random_state``.
    classes_ : ndarray
        Every identity label seen in ``fit``.
    holdout_classes_ : ndarray
        Identities held out of training (by every network).
    training_classes_ : ndarray
        Identities every network trained on.
    embedding_dim_ : int
        Width of the embeddings: the sum of the networks' widths.
    n_features_in_ : int
        Number of features of 2-D training data (not set for images).

    See Also
    --------
    SphereFaceEmbedder : The default network.
    CosineVerifier : Verification and identification over the embeddings.

    References
    ----------
    .. [1] Y. Sun, X. Wang and X. Tang, "Deep Learning Face Representation from Predicting
       10,000 Classes", CVPR 2014 (face verification from the features of several networks).

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from hypersphere_sklearn import EnsembleEmbedder, NormFaceEmbedder
    >>> X, y = make_blobs(n_samples=60, centers=3, n_features=8, random_state=0)
    >>> ensemble = EnsembleEmbedder(NormFaceEmbedder(max_epochs=2, verbose=0), random_state=0)
    >>> ensemble.fit(X, y).transform(X).shape
    (60, 256)
    """

    def __init__(self, estimator=None, *, n_estimators=2, n_jobs=None, random_state=None):
        self.estimator = estimator
        self.n_estimators = n_estimators
        self.n_jobs = n_jobs
        self.random_state = random_state

    def __sklearn_tags__(self):
        return embedder_tags(super().__sklearn_tags__())

    def __sklearn_is_fitted__(self):
        return hasattr(self, "estimators_")

    @property
    def _n_features_out(self):
        return self.embedding_dim_

    # -- hooks -----------------------------------------------------------------------------
    def make_seeds(self):
        """The ``random_state`` of each network.

        Returns
        -------
        list of int
        """
        check_int("n_estimators", self.n_estimators, 1)
        if isinstance(self.random_state, numbers.Integral):
            return [int(self.random_state) + i for i in range(self.n_estimators)]
        rng = check_random_state(self.random_state)
        return [int(seed) for seed in rng.randint(2**31 - 1, size=self.n_estimators)]

    def fit_member(self, index, member, X, y):
        """Fit one network; override it to load networks trained before, say.

        Parameters
        ----------
        index : int
            The network's position (0 chooses the held-out identities).
        member : HypersphereEmbedder
            The configured clone: its seed, its own ``checkpoint_dir`` subfolder, and for
            networks after the first ``calibration_holdout=0``.
        X, y : ndarray
            Its training data: every sample for network 0, the samples of network 0's
            training identities for the others.

        Returns
        -------
        HypersphereEmbedder
            The fitted network.
        """
        return member.fit(X, y)

    # -- fitting ---------------------------------------------------------------------------
    def configured_members(self, seeds):
        """Clones of the estimator, one per seed, ready to fit."""
        base = SphereFaceEmbedder() if self.estimator is None else self.estimator
        if not isinstance(base, HypersphereEmbedder):
            raise ValueError(
                "estimator must be an embedder of this library such as SphereFaceEmbedder(); "
                f"got {type(base).__name__}."
            )
        members = []
        for index, seed in enumerate(seeds):
            member = clone(base).set_params(random_state=seed)
            if index:
                member.set_params(calibration_holdout=0)
            if base.checkpoint_dir is not None:  # one network's checkpoint must not be another's
                member.set_params(
                    checkpoint_dir=os.path.join(os.fspath(base.checkpoint_dir), f"network{index}"))
            members.append(member)
        return members

    def fit(self, X, y):
        """Train every network on the identities of ``y``.

        Parameters
        ----------
        X : array-like or list of paths
            Training images (or 2-D data), as the estimator takes them.
        y : array-like of shape (n_samples,)
            Identity labels.

        Returns
        -------
        self : EnsembleEmbedder
        """
        seeds = self.make_seeds()
        members = self.configured_members(seeds)
        # validated once, as the first network would (unreadable files left out), so that
        # the held-out identities drawn here are the ones it draws
        X, _, classes, encoded = members[0].checked_fit_data(X, y)
        labels = classes[encoded]
        holdout = members[0].choose_holdout(classes)
        rest = np.flatnonzero(~np.isin(labels, holdout))
        jobs = [(X, labels)] + [(X[rest], labels[rest])] * (len(members) - 1)
        for name in ("estimators_", "n_features_in_"):  # not shipped to the workers, not stale
            vars(self).pop(name, None)
        n_jobs = min(effective_n_jobs(self.n_jobs), len(members))
        fitted = Parallel(n_jobs=n_jobs)(
            delayed(self.fit_member)(index, member, *data)
            for index, (member, data) in enumerate(zip(members, jobs, strict=True))
        )
        first = fitted[0]
        if not np.array_equal(first.holdout_classes_, holdout):
            raise ValueError(
                "network 0 holds out other identities than the ensemble chose for it; a "
                "fit_member override must return a network fitted on this X and y."
            )
        self.estimators_, self.seeds_ = fitted, seeds
        self.classes_, self.holdout_classes_ = first.classes_, first.holdout_classes_
        self.training_classes_ = first.training_classes_
        self.embedding_dim_ = sum(member.embedding_dim_ for member in fitted)
        if hasattr(first, "n_features_in_"):  # set for 2-D data only
            self.n_features_in_ = first.n_features_in_
        return self

    def fit_transform(self, X, y=None):
        """Fit, then embed X. Inside a pipeline the result also marks the rows of the
        identities held out of training, as a single embedder's does."""
        embeddings = self.fit(X, y).transform(X)
        if not len(self.holdout_classes_):
            return embeddings
        return Embeddings(embeddings, np.isin(column_or_1d(y), self.holdout_classes_))

    def transform(self, X):
        """Unit-norm float32 embeddings: the networks' embeddings side by side, divided by
        the square root of their number.

        Parameters
        ----------
        X : array-like or list of paths
            Images (or 2-D data) shaped like the training data.

        Returns
        -------
        ndarray of shape (n_samples, embedding_dim_)
        """
        check_is_fitted(self)
        parts = [member.transform(X) for member in self.estimators_]
        return np.hstack(parts) / np.float32(np.sqrt(len(parts)))

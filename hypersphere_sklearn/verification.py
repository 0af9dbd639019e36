"""CosineVerifier: same person or not by cosine similarity, and open-set identification."""

import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from .metrics import (
    accepts,
    best_accuracy_threshold,
    equal_error_rate,
    normalize_rows,
    pair_dots,
    threshold_at_far,
)
from .model_selection import (
    count_genuine_pairs,
    genuine_pair_scores,
    impostor_pairs,
    make_pairs,
)
from .persistence import ModelFileError, SavableMixin, decode, encode

__all__ = ["CosineVerifier", "Embeddings"]

CALIBRATIONS = ("accuracy", "far", "eer", "fixed")


class Embeddings(np.ndarray):
    """Embeddings that remember which rows belong to identities held out of training.

    An embedder's ``fit_transform`` returns this inside a pipeline, so that the
    :class:`CosineVerifier` after it can calibrate its threshold on people the network never
    saw. Anywhere else it behaves as the plain array it is.
    """

    def __new__(cls, array, calibration_mask):
        obj = np.asarray(array).view(cls)
        obj.calibration_mask = np.asarray(calibration_mask, dtype=bool)
        return obj

    def __array_finalize__(self, obj):
        self.calibration_mask = getattr(obj, "calibration_mask", None)


def unit_rows(E, what="embeddings", zero="raise"):
    """Rows scaled to unit norm. All-zero rows have no direction: they raise a ValueError, or
    with ``zero="keep"`` stay zero (cosine 0 to everything, as scikit-learn's
    ``cosine_similarity`` has it)."""
    unit = normalize_rows(E)
    if zero == "raise":
        zeros = unit[:, :1].sum(axis=1) == 0  # candidates; only they need a full look
        zeros[zeros] = ~np.any(unit[zeros] != 0, axis=1)
        if zeros.any():
            rows = np.flatnonzero(zeros)[:5].tolist()
            raise ValueError(
                f"{what} has all-zero rows {rows}: a zero vector has no direction to compare "
                "by cosine. Remove them or check the embedder."
            )
    return unit


def rows_and_norms(E):
    """``(rows, norms)`` with ``rows[i] · rows[j] / (norms[i] · norms[j])`` the cosine of
    ``E``'s rows ``i`` and ``j``: ``E`` itself and its row norms when every norm lies within
    the fourth roots of the dtype's smallest and largest normal numbers, so that no product of
    two rows over- or underflows; otherwise :func:`unit_rows` (exact for any magnitude) and
    norms of one. All-zero rows raise a ValueError, as in :func:`unit_rows`."""
    norms = np.sqrt(np.einsum("ij,ij->i", E, E))
    info = np.finfo(norms.dtype)
    if np.all((norms >= info.tiny ** 0.25) & (norms <= info.max ** 0.25)):  # False for NaN
        return E, norms
    return unit_rows(E), np.ones(len(E), dtype=norms.dtype)


def pair_cosines(rows, norms, pairs):
    """Cosine of each pair of :func:`rows_and_norms`' ``rows``, in their dtype."""
    i, j = pairs.T
    return (pair_dots(rows, pairs) / (norms[i] * norms[j])).astype(rows.dtype)


class CosineVerifier(SavableMixin, ClassifierMixin, BaseEstimator):
    """Face verification and open-set identification over embeddings by cosine similarity.

    ``fit`` enrols one template per identity (the normalised mean direction of its
    embeddings) and calibrates ``threshold_`` on the genuine and impostor pairs its labels
    define: every genuine pair and a seeded sample of impostor pairs. Two embeddings are the
    same person when their cosine reaches the threshold; ``predict`` names the nearest
    template's identity when its cosine reaches the threshold, and ``unknown_label`` otherwise.

    Calibrating on embeddings of the images the embedder was trained on is biased: those
    pairs look more alike than pairs of people never seen, so the threshold comes out too high.
    Inside ``Pipeline([("embed", SomeEmbedder()), ("verify", CosineVerifier())])`` the
    embedders hold out a share of identities from training (``calibration_holdout``) and the
    verifier calibrates on those; alternatively call :meth:`calibrate` with embeddings of
    held-out people.

    Parameters
    ----------
    calibration : {"accuracy", "far", "eer", "fixed"}, default="accuracy"
        How ``threshold_`` is chosen: best pair accuracy, the lowest threshold with a
        false-accept rate of at most ``target_far``, the equal-error-rate point, or the given
        ``threshold``.
    target_far : float, default=1e-3
        False-accept rate for ``calibration="far"``.
    threshold : float or None, default=None
        The threshold for ``calibration="fixed"``.
    unknown_label : object, default=-1
        What ``predict`` returns for a probe no template accepts.
    max_genuine_pairs : int, default=1_000_000
        At most this many genuine pairs (a seeded sample beyond); as many impostor pairs are
        drawn.
    chunk_size : int, default=4096
        Probes and templates are compared in blocks of this many, bounding memory.
    random_state : int, RandomState instance or None, default=0
        Seeds the pair sampling.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Enrolled identities.
    templates_ : ndarray of shape (n_classes, n_features)
        Unit-norm template of each identity.
    threshold_ : float
        Cosine threshold of "same person".
    calibrated_on_ : str
        ``"held-out identities"``, ``"training identities"`` or ``"fixed"``.
    n_features_in_ : int
        Embedding dimension.

    See Also
    --------
    hypersphere_sklearn.metrics.kfold_accuracy : the LFW protocol on pair scores.
    hypersphere_sklearn.model_selection.verification_scorer : scoring for model selection.

    Examples
    --------
    >>> import numpy as np
    >>> from hypersphere_sklearn import CosineVerifier
    >>> E = np.array([[1, 0.1], [1, -0.1], [0.1, 1], [-0.1, 1]])
    >>> verifier = CosineVerifier().fit(E, ["ann", "ann", "bob", "bob"])
    >>> verifier.predict([[0.9, 0.05], [-1, 0]]).tolist()
    ['ann', -1]
    >>> verifier.verify([[1, 0]], [[0, 1]]).tolist()
    [False]
    """

    def __init__(self, calibration="accuracy", target_far=1e-3, threshold=None,
                 unknown_label=-1, max_genuine_pairs=1_000_000, chunk_size=4096,
                 random_state=0):
        self.calibration = calibration
        self.target_far = target_far
        self.threshold = threshold
        self.unknown_label = unknown_label
        self.max_genuine_pairs = max_genuine_pairs
        self.chunk_size = chunk_size
        self.random_state = random_state

    # -- checks ----------------------------------------------------------------------------
    def check_parameters(self):
        if self.calibration not in CALIBRATIONS:
            raise ValueError(f"calibration must be one of {CALIBRATIONS}; got "
                             f"{self.calibration!r}.")
        if self.calibration == "fixed" and not isinstance(self.threshold, numbers.Real):
            raise ValueError("calibration='fixed' needs threshold=<a cosine in [-1, 1]>.")
        if self.calibration == "far" and not 0 <= self.target_far <= 1:
            raise ValueError(f"target_far must be in [0, 1]; got {self.target_far}.")
        for name in ("chunk_size", "max_genuine_pairs"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")

    def check_embeddings(self, E, reset, zero="raise"):
        E = validate_data(self, E, reset=reset, dtype=[np.float32, np.float64])
        return unit_rows(E, zero=zero)

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, E, y):
        """Enrol a template per identity and calibrate ``threshold_``.

        Parameters
        ----------
        E : array-like of shape (n_samples, n_features)
            Embeddings (any norm; they are normalised).
        y : array-like of shape (n_samples,)
            Identity labels.

        Returns
        -------
        self
        """
        self.check_parameters()
        mask = getattr(E, "calibration_mask", None)
        # Zero rows cannot be paired for calibration; enrolment alone can skip them.
        fixed = self.calibration == "fixed"
        E = self.check_embeddings(E, reset=True, zero="keep" if fixed else "raise")
        y = self.check_labels(y, len(E))
        with warnings.catch_warnings():
            # one embedding per identity is an ordinary gallery, not a regression target
            warnings.filterwarnings("ignore", "The number of unique classes", UserWarning)
            check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2 and self.calibration != "fixed":
            raise ValueError(
                "y has only 1 class: a threshold cannot be learned from one identity. Pass "
                "several identities, or calibration='fixed' with a threshold."
            )
        sums = np.zeros((len(self.classes_), E.shape[1]), dtype=np.float64)
        np.add.at(sums, codes, E)
        self.templates_ = unit_rows(sums, "templates", zero="keep").astype(np.float32)
        if self.calibration == "fixed":
            self.threshold_, self.calibrated_on_ = float(self.threshold), "fixed"
            return self
        if mask is not None and len(mask) == len(E) and self.can_calibrate(y[mask]):
            self.threshold_ = self.threshold_from(E[mask], y[mask])
            self.calibrated_on_ = "held-out identities"
        else:
            self.threshold_ = self.threshold_from(E, y)
            self.calibrated_on_ = "training identities"
        return self

    def calibrate(self, E, y):
        """Set ``threshold_`` from pairs of other (held-out) identities; templates stay."""
        check_is_fitted(self)
        self.check_parameters()
        # not normalised: calibration_scores divides by the norms instead of copying E
        E = validate_data(self, E, reset=False, dtype=[np.float32, np.float64])
        self.threshold_ = self.threshold_from(E, self.check_labels(y, len(E)))
        self.calibrated_on_ = "held-out identities"
        return self

    @staticmethod
    def check_labels(y, n_samples):
        if y is None:
            raise ValueError("CosineVerifier requires y to be passed, but the target y is "
                             "None. Pass the identity of every embedding.")
        y = column_or_1d(y, warn=True)
        if len(y) != n_samples:
            raise ValueError(f"E has {n_samples} embeddings but y has {len(y)} labels.")
        return y

    @staticmethod
    def can_calibrate(y):
        _, counts = np.unique(y, return_counts=True)
        return len(counts) >= 2 and counts.max() >= 2

    def threshold_from(self, E, y):
        """The threshold the ``calibration`` strategy picks on the pairs of ``(E, y)``."""
        _, counts = np.unique(y, return_counts=True)
        if len(counts) < 2:
            raise ValueError("calibration needs at least 2 identities; got 1.")
        if counts.max() < 2:
            raise ValueError(
                "no genuine pair: every identity has a single embedding, so no same-person "
                "pair can be formed. Pass at least two embeddings of some identities."
            )
        scores, same = self.calibration_scores(E, y)
        if self.calibration == "accuracy":
            return best_accuracy_threshold(scores, same)[0]
        if self.calibration == "far":
            return threshold_at_far(scores, same, self.target_far)
        return equal_error_rate(scores, same)[1]

    def calibration_scores(self, E, y):
        """Cosines and same/different labels of the pairs of :func:`make_pairs` on ``(E, y)``.

        ``E``'s rows may have any norm: each pair's dot product is divided by the two norms
        instead of normalising ``E`` first, which would copy all of it (unless some norm is
        so large or small that products would leave floating range; then ``E`` is
        normalised). When every genuine pair is used, their scores come from per-identity
        Gram matrices (:func:`genuine_pair_scores`), which read each embedding once; the
        impostor pairs, drawn exactly as ``make_pairs`` draws them, are scored pair by pair.
        """
        E, norms = rows_and_norms(E)
        n_genuine = count_genuine_pairs(y)
        if self.max_genuine_pairs is not None and n_genuine > self.max_genuine_pairs:
            pairs, same = make_pairs(y, max_genuine=self.max_genuine_pairs,
                                     random_state=self.random_state)
            return pair_cosines(E, norms, pairs), same
        impostors = impostor_pairs(y, n_genuine, check_random_state(self.random_state))
        scores = np.concatenate([genuine_pair_scores(E, y, self.chunk_size),
                                 pair_cosines(E, norms, impostors)])
        # float32 embeddings give float32 scores, which sort twice as fast as float64
        return scores.astype(E.dtype, copy=False), np.arange(len(scores)) < n_genuine

    # -- using it --------------------------------------------------------------------------
    def decision_function(self, E):
        """Cosine of each embedding to each template, shape (n_samples, n_classes).

        For two identities, the difference of the two cosines (class 1 minus class 0), as
        scikit-learn expects of a binary classifier.
        """
        check_is_fitted(self)
        E = self.check_embeddings(E, reset=False, zero="keep").astype(np.float32)
        scores = np.concatenate([
            E[start:start + self.chunk_size] @ self.templates_.T
            for start in range(0, len(E), self.chunk_size)
        ])
        return scores[:, 1] - scores[:, 0] if len(self.classes_) == 2 else scores

    def nearest_templates(self, E):
        """Index and cosine of the nearest template of each row, in blocks of ``chunk_size``."""
        best = np.full(len(E), -np.inf, dtype=np.float32)
        index = np.zeros(len(E), dtype=np.int64)
        for p in range(0, len(E), self.chunk_size):
            probes = E[p:p + self.chunk_size]
            for t in range(0, len(self.templates_), self.chunk_size):
                block = probes @ self.templates_[t:t + self.chunk_size].T
                arg = block.argmax(axis=1)
                value = block[np.arange(len(block)), arg]
                better = value > best[p:p + len(probes)]
                best[p:p + len(probes)][better] = value[better]
                index[p:p + len(probes)][better] = arg[better] + t
        return index, best

    def predict(self, E):
        """Open-set identification: the nearest identity, or ``unknown_label`` below threshold.

        An all-zero embedding has cosine 0 to every template.
        """
        check_is_fitted(self)
        E = self.check_embeddings(E, reset=False, zero="keep").astype(np.float32)
        index, best = self.nearest_templates(E)
        known = accepts(best, self.threshold_)
        labels = self.classes_[index]
        if known.all():
            return labels
        dtype = np.result_type(labels.dtype, np.asarray(self.unknown_label).dtype)
        if labels.dtype.kind in "USO" or np.asarray(self.unknown_label).dtype.kind in "USO":
            dtype = object
        out = labels.astype(dtype)
        out[~known] = self.unknown_label
        return out

    def similarity(self, A, B):
        """Row-wise cosine similarity of two equally long sets of embeddings."""
        check_is_fitted(self)
        A = self.check_embeddings(A, reset=False)
        B = self.check_embeddings(B, reset=False)
        if len(A) != len(B):
            raise ValueError(f"A has {len(A)} rows but B has {len(B)}; pairs need equal "
                             "lengths.")
        return np.einsum("ij,ij->i", A, B)

    def verify(self, A, B):
        """Same person (True) or not, for each pair of rows of A and B."""
        return accepts(self.similarity(A, B), self.threshold_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    # -- safe persistence (see hypersphere_sklearn.persistence) ----------------------------
    FITTED = ("classes_", "threshold_", "calibrated_on_", "n_features_in_", "feature_names_in_")

    def export_state(self, training_state=False):
        """``(attributes, tensors)`` of the fitted verifier, for the safe file format."""
        import torch

        attributes = {name: encode(getattr(self, name)) for name in self.FITTED
                      if hasattr(self, name)}
        return attributes, {"templates": torch.from_numpy(np.ascontiguousarray(self.templates_))}

    def import_state(self, attributes, tensors, path="the model file"):
        for name in self.FITTED:
            if name in attributes:
                setattr(self, name, decode(attributes[name]))
        self.templates_ = tensors["templates"].numpy()
        expected = (len(self.classes_), self.n_features_in_)
        if self.templates_.shape != expected:
            raise ModelFileError(f"{path} holds templates of shape {self.templates_.shape} for "
                                 f"{expected[0]} classes of {expected[1]} features.")
        return self


"""Face-verification metrics from similarity scores of pairs and their same/different labels.

Convention: a pair is declared "same person" when its score is ``>= threshold``. Every
function sorts the scores once, so it is O(n log n) in the number of pairs.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.utils.validation import column_or_1d

__all__ = [
    "KFoldAccuracy",
    "accepts",
    "best_accuracy_threshold",
    "equal_error_rate",
    "kfold_accuracy",
    "pair_similarity",
    "roc_auc_score",
    "roc_curve",
    "tar_at_far",
    "threshold_at_far",
    "verification_report",
]


def check_scores(scores, same):
    """Validate ``(scores, same)``: equal-length 1-D, finite scores, both classes present.

    float32 scores stay float32 (half the memory and faster sorts); others become float64.
    """
    scores = np.asarray(scores)
    if scores.dtype not in (np.float32, np.float64):
        scores = scores.astype(np.float64)
    scores = column_or_1d(scores)
    same = column_or_1d(np.asarray(same)).astype(bool)
    if len(scores) != len(same):
        raise ValueError(f"scores has {len(scores)} pairs but same has {len(same)}.")
    if not np.isfinite(scores).all():
        raise ValueError("scores contains NaN or inf.")
    if same.all() or not same.any():
        kind = "impostor (different-person)" if same.all() else "genuine (same-person)"
        raise ValueError(f"the pairs hold no {kind} pair; both kinds are needed.")
    return scores, same


def accepts(scores, threshold):
    """Which scores a threshold accepts (``score >= threshold``), compared in float64.

    NumPy compares a float32 array with a scalar threshold in float32, which can round a
    threshold between two neighbouring float32 scores (the float64 midpoint that
    :func:`best_accuracy_threshold` returns) onto the lower one and accept it.

    Parameters
    ----------
    scores : array-like of float
        Similarity scores of pairs.
    threshold : float
        A pair is accepted when its score is at least this.

    Returns
    -------
    accepted : ndarray of bool, the shape of ``scores``

    Examples
    --------
    >>> accepts(np.array([0.9, 0.5], dtype=np.float32), 0.7).tolist()
    [True, False]
    """
    return np.asarray(scores, dtype=np.float64) >= float(threshold)


def best_accuracy_threshold(scores, same):
    """The threshold that maximises pair accuracy, and that accuracy.

    Candidates are all the cuts between consecutive distinct scores (and above the highest);
    the threshold returned lies midway between the two scores around the best cut.

    Parameters
    ----------
    scores : array-like of shape (n_pairs,)
        Similarity of each pair.
    same : array-like of shape (n_pairs,)
        True for genuine (same-person) pairs.

    Returns
    -------
    threshold : float
    accuracy : float

    Examples
    --------
    >>> best_accuracy_threshold([0.9, 0.8, 0.3, 0.1], [True, True, False, False])
    (0.55, 1.0)
    """
    scores, same = check_scores(scores, same)
    genuine, impostor = np.sort(scores[same]), np.sort(scores[~same])
    # The best cut accepts everything from some genuine score up (lowering a threshold to the
    # next genuine score only gains), or nothing. For each genuine score g: TP = #genuine >= g,
    # TN = #impostor < g, both by binary search in the sorted scores.
    true_pos = len(genuine) - np.searchsorted(genuine, genuine, side="left")
    true_neg = np.searchsorted(impostor, genuine, side="left")
    correct = true_pos + true_neg
    k = int(np.argmax(correct))
    if correct[k] < len(impostor):  # accepting nothing is better
        with np.errstate(over="ignore"):  # above the largest float is inf: accept nothing
            above = np.nextafter(max(genuine[-1], impostor[-1]), np.inf)
        return float(above), float(len(impostor) / len(scores))
    # in float64, where the midpoint of two neighbouring float32 scores lies strictly between
    cut = float(genuine[k])  # argmax takes the first of tied genuine scores: below < cut
    below_g = float(genuine[k - 1]) if k > 0 else -np.inf
    below_i = float(impostor[true_neg[k] - 1]) if true_neg[k] > 0 else -np.inf
    below = max(below_g, below_i)
    threshold = cut if not np.isfinite(below) else cut / 2.0 + below / 2.0  # no overflow
    return float(threshold), float(correct[k] / len(scores))


def threshold_at_far(scores, same, far):
    """The lowest threshold whose false-accept rate on the impostor pairs is at most ``far``."""
    scores, same = check_scores(scores, same)
    if not 0.0 <= far <= 1.0:
        raise ValueError(f"far must be in [0, 1]; got {far}.")
    impostors = np.sort(scores[~same])[::-1]
    allowed = int(np.floor(far * len(impostors)))
    if allowed >= len(impostors):
        return float(impostors[-1])
    with np.errstate(over="ignore"):  # above the largest float is inf: accept no impostor
        return float(np.nextafter(impostors[allowed], np.inf))


def tar_at_far(scores, same, far):
    """True-accept rate of the genuine pairs at the threshold of :func:`threshold_at_far`.

    Examples
    --------
    >>> tar_at_far([0.9, 0.7, 0.8, 0.2], [True, True, False, False], far=0.0)
    0.5
    """
    threshold = threshold_at_far(scores, same, far)
    scores, same = check_scores(scores, same)
    return float(np.mean(accepts(scores[same], threshold)))


def equal_error_rate(scores, same):
    """The equal error rate (where false-accept and false-reject rates cross) and its threshold.

    Interpolated linearly on the ROC curve between the two points around the crossing.

    Examples
    --------
    >>> eer, threshold = equal_error_rate([0.9, 0.6, 0.7, 0.2], [True, True, False, False])
    >>> eer
    0.5
    """
    scores, same = check_scores(scores, same)
    fpr, tpr, thresholds = roc_curve(same, scores)
    fnr = 1.0 - tpr
    i = int(np.argmax(fpr >= fnr))
    if i == 0:
        return float(fpr[0]), float(thresholds[0])
    d0, d1 = fnr[i - 1] - fpr[i - 1], fnr[i] - fpr[i]
    w = d0 / (d0 - d1) if d0 != d1 else 0.0
    eer = fpr[i - 1] + w * (fpr[i] - fpr[i - 1])
    finite = np.isfinite(thresholds[i - 1])
    upper = thresholds[i - 1] if finite else thresholds[i]
    return float(eer), float((1.0 - w) * upper + w * thresholds[i])  # no overflow


@dataclass
class KFoldAccuracy:
    """Result of :func:`kfold_accuracy`."""

    mean: float
    std: float
    accuracies: np.ndarray
    thresholds: np.ndarray

    def __str__(self):
        return f"{100 * self.mean:.2f} ± {100 * self.std:.2f} %"


def kfold_accuracy(scores, same, folds=None, n_folds=10):
    """The LFW protocol: the threshold chosen on k − 1 folds, accuracy on the held-out fold.

    Parameters
    ----------
    scores, same : array-like of shape (n_pairs,)
        Pair similarities and same/different labels.
    folds : array-like of shape (n_pairs,) or None
        Fold index of each pair (LFW View 2 gives them); None splits the pairs, in order, into
        ``n_folds`` consecutive folds as the LFW files are laid out.
    n_folds : int, default=10
        Number of folds when ``folds`` is None.

    Returns
    -------
    KFoldAccuracy
        ``mean`` and ``std`` (population standard deviation, as the LFW results page reports)
        of the per-fold accuracies, and each fold's accuracy and threshold.

    Examples
    --------
    >>> scores = [0.9, 0.8, 0.7, 0.2, 0.1, 0.3]
    >>> same = [True, True, True, False, False, False]
    >>> print(kfold_accuracy(scores, same, folds=[0, 1, 2, 0, 1, 2]))
    100.00 ± 0.00 %
    """
    scores, same = check_scores(scores, same)
    if folds is None:
        folds = np.arange(len(scores)) * n_folds // len(scores)
    folds = column_or_1d(np.asarray(folds))
    if len(folds) != len(scores):
        raise ValueError(f"folds has {len(folds)} entries for {len(scores)} pairs.")
    labels = np.unique(folds)
    if len(labels) < 2:
        raise ValueError("kfold_accuracy needs at least 2 folds.")
    accuracies, thresholds = [], []
    for fold in labels:
        test = folds == fold
        threshold, _ = best_accuracy_threshold(scores[~test], same[~test])
        thresholds.append(threshold)
        accuracies.append(np.mean(accepts(scores[test], threshold) == same[test]))
    accuracies = np.asarray(accuracies)
    return KFoldAccuracy(float(accuracies.mean()), float(accuracies.std()), accuracies,
                         np.asarray(thresholds))


def rescaled(rows):
    """``(rows / scale, scale)`` with ``scale`` each row's largest magnitude (1 for zero rows)."""
    scale = np.abs(rows).max(axis=1, initial=0)
    scale[scale == 0] = 1
    return rows / scale[:, None], scale


def normalize_rows(E):
    """Rows scaled to unit norm; all-zero rows stay zero. Exact for huge and tiny values too."""
    norms = np.sqrt(np.einsum("ij,ij->i", E, E))
    risky = ~np.isfinite(norms) | (norms < np.sqrt(np.finfo(norms.dtype).tiny))
    unit = E / np.where(risky | (norms == 0), 1, norms)[:, None]
    if risky.any():
        rows, _ = rescaled(E[risky])
        norms = np.sqrt(np.einsum("ij,ij->i", rows, rows))
        unit[risky] = rows / np.where(norms == 0, 1, norms)[:, None]
    return unit


def check_pairs(pairs, n_rows):
    """``pairs`` as an (n_pairs, 2) array of row indices in ``[0, n_rows)``."""
    pairs = np.asarray(pairs)
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise ValueError(f"pairs must have shape (n_pairs, 2); got {pairs.shape}.")
    if len(pairs) == 0:
        return pairs.astype(np.int64)
    if pairs.dtype.kind not in "iu":
        raise ValueError(f"pairs must hold integer row indices; got dtype {pairs.dtype}.")
    if pairs.min() < 0 or pairs.max() >= n_rows:
        raise ValueError(f"pairs index rows {pairs.min()}..{pairs.max()} but the embeddings "
                         f"have {n_rows} rows.")
    return pairs


def pair_similarity(embeddings, pairs, normalized=False, chunk_size=1024):
    """Cosine similarity of each pair ``(i, j)`` of rows of ``embeddings``, in chunks.

    Computed in the embeddings' floating dtype (float32 embeddings stay float32). With
    ``normalized=True`` the rows are taken to be unit vectors already and only dot products
    are computed. Chunks of about a thousand pairs keep the gathered rows in cache (three
    times faster than chunks of 4,096 at dimension 512 on a 2-core machine). An all-zero row
    has cosine 0 to everything, as in scikit-learn's ``cosine_similarity``.

    Raises ``ValueError`` for embeddings with NaN or inf, and for pairs that are not an
    ``(n_pairs, 2)`` array of row indices within the embeddings.
    """
    embeddings = np.asarray(embeddings)
    if embeddings.ndim != 2:
        raise ValueError(f"embeddings must be 2-D (n_rows, n_features); got shape "
                         f"{embeddings.shape}.")
    if embeddings.dtype.kind not in "biuf":
        raise TypeError(f"embeddings must hold numbers; got dtype {embeddings.dtype}.")
    if embeddings.dtype.kind != "f":
        embeddings = embeddings.astype(np.float64)
    if not np.isfinite(embeddings).all():
        raise ValueError("embeddings contain NaN or inf.")
    pairs = check_pairs(pairs, len(embeddings))
    if not normalized:  # unit rows (all-zero rows stay zero: cosine 0 to everything)
        embeddings = normalize_rows(embeddings)
    return pair_dots(embeddings, pairs, chunk_size)


def pair_dots(rows, pairs, chunk_size=1024):
    """Dot product of each pair of ``rows``, unchecked: :func:`pair_similarity`'s kernel, for
    callers that have validated both already (in the rows' dtype, stored as float64)."""
    out = np.empty(len(pairs), dtype=np.float64)
    for start in range(0, len(pairs), chunk_size):
        i, j = pairs[start:start + chunk_size].T
        out[start:start + len(i)] = np.einsum("ij,ij->i", rows.take(i, axis=0),
                                              rows.take(j, axis=0))
    return out


def verification_report(scores, same, threshold=None, fars=(1e-2, 1e-3), folds=None):
    """The usual verification figures in one dictionary.

    Keys: ``auc``, ``eer``, ``best_accuracy`` (and its ``best_threshold``), ``accuracy`` at
    ``threshold`` when one is given, ``kfold`` (a :class:`KFoldAccuracy`) when ``folds``
    are given, and ``tar@far=<far>`` for each ``far``.
    """
    scores, same = check_scores(scores, same)
    best_threshold, best_accuracy = best_accuracy_threshold(scores, same)
    report = {
        "auc": float(roc_auc_score(same, scores)),
        "eer": equal_error_rate(scores, same)[0],
        "best_accuracy": best_accuracy,
        "best_threshold": best_threshold,
    }
    if threshold is not None:
        report["accuracy"] = float(np.mean(accepts(scores, threshold) == same))
    if folds is not None:
        report["kfold"] = kfold_accuracy(scores, same, folds)
    for far in fars:
        report[f"tar@far={far:g}"] = tar_at_far(scores, same, far)
    return report

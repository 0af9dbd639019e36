"""Pairs from identity labels, and scorers that judge a pipeline on identities it never saw.

Use the scorers with folds that keep identities apart, so that each test fold holds only
people the embedder was not trained on::

    GridSearchCV(pipe, grid, cv=GroupKFold(5), scoring=VERIFICATION_SCORING, refit="auc")
    search.fit(images, names, groups=names)
"""

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import column_or_1d

from .metrics import accepts, pair_similarity, roc_auc_score, tar_at_far

__all__ = [
    "VERIFICATION_SCORING",
    "genuine_pairs",
    "impostor_pairs",
    "make_pairs",
    "verification_scorer",
]


def identities_by_size(y):
    """For each number ``size`` > 1 of samples per identity: ``(size, members)``, where
    ``members`` (identities, size) holds the sample indices of every identity of that size.
    Identities of one size are handled together, one triangle of indices for all."""
    y = column_or_1d(np.asarray(y))
    _, codes, counts = np.unique(y, return_inverse=True, return_counts=True)
    order = np.argsort(codes, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    for size in np.unique(counts[counts > 1]):
        first = starts[counts == size]
        yield int(size), order[first[:, None] + np.arange(size)]


def count_genuine_pairs(y):
    """How many same-label pairs ``y`` has: the sum over identities of ``n·(n − 1)/2``."""
    _, counts = np.unique(column_or_1d(np.asarray(y)), return_counts=True)
    return int(np.sum(counts * (counts - 1)) // 2)


def genuine_pair_scores(embeddings, y, chunk_size=4096):
    """Cosine of every genuine pair of :func:`genuine_pairs` (unsampled), in its order.

    Computed identity by identity as Gram matrices (one batched matrix product per identity
    size) rather than by gathering both rows of every pair: each embedding is read once
    instead of once per pair it is in. A Gram matrix holds its rows' squared norms on its
    diagonal, so rows of any norm give cosines without being normalised first; they must
    not be all-zero, and their norms must leave the products in floating range (see
    ``CosineVerifier.calibration_scores``).
    """
    E = np.asarray(embeddings)
    chunks = []
    for size, members in identities_by_size(y):
        a, b = np.triu_indices(size, 1)
        step = max(1, chunk_size // size)  # identities per batched product
        for start in range(0, len(members), step):
            block = rows_at(E, members[start:start + step])  # (identities, size, dim)
            gram = np.matmul(block, block.transpose(0, 2, 1))
            norms = np.sqrt(np.diagonal(gram, axis1=1, axis2=2))
            chunks.append((gram[:, a, b] / (norms[:, a] * norms[:, b])).ravel())
    return np.concatenate(chunks) if chunks else np.empty(0, dtype=E.dtype)


def rows_at(E, index):
    """``E[index]``, as a view of ``E`` when ``index`` is a run of consecutive rows.

    Labels grouped by identity, as most datasets store them, give such runs; the view saves
    copying every embedding once more.
    """
    flat = index.ravel()
    if len(flat) > 1 and np.all(np.diff(flat) == 1):
        return E[flat[0]:flat[-1] + 1].reshape(index.shape + E.shape[1:])
    return E[index]


def genuine_pairs(y, max_pairs=None, random_state=None):
    """Every pair ``(i, j)``, ``i < j``, of samples with the same label (a sample when there
    are more than ``max_pairs``)."""
    chunks = []
    for size, members in identities_by_size(y):
        a, b = np.triu_indices(size, 1)
        chunks.append(np.stack([members[:, a].ravel(), members[:, b].ravel()], axis=1))
    pairs = np.concatenate(chunks) if chunks else np.empty((0, 2), dtype=np.int64)
    pairs = np.sort(pairs, axis=1)
    if max_pairs is not None and len(pairs) > max_pairs:
        keep = check_random_state(random_state).choice(len(pairs), max_pairs, replace=False)
        pairs = pairs[np.sort(keep)]
    return pairs.astype(np.int64)


def count_impostor_pairs(codes):
    counts = np.bincount(codes)
    n = len(codes)
    return (n * (n - 1) - np.sum(counts * (counts - 1))) // 2


def impostor_pairs(y, n_pairs, random_state=None):
    """``n_pairs`` distinct pairs ``(i, j)``, ``i < j``, of samples with different labels,
    drawn uniformly (all of them when there are no more than ``n_pairs``)."""
    y = column_or_1d(np.asarray(y))
    _, codes = np.unique(y, return_inverse=True)
    n, total = len(codes), count_impostor_pairs(codes)
    rng = check_random_state(random_state)
    if n_pairs >= total or n_pairs > total // 2:
        i, j = np.triu_indices(n, 1)
        different = codes[i] != codes[j]
        everything = np.stack([i[different], j[different]], axis=1)
        if n_pairs >= total:
            return everything.astype(np.int64)
        keep = rng.choice(total, n_pairs, replace=False)
        return everything[np.sort(keep)].astype(np.int64)
    # rejection sampling of encoded pairs i * n + j until enough distinct ones; the first
    # n_pairs distinct keys in draw order are kept, so the sample is uniform
    candidates = np.empty(0, dtype=np.int64)
    while True:
        keys, drawn_at = first_draws(candidates, n * n)
        if len(keys) >= n_pairs:
            break
        draw = int(1.2 * (n_pairs - len(keys))) + 16
        i, j = rng.randint(0, n, draw), rng.randint(0, n, draw)
        i, j = np.minimum(i, j), np.maximum(i, j)
        ok = codes[i] != codes[j]
        candidates = np.concatenate([candidates[np.sort(drawn_at)],
                                     i[ok].astype(np.int64) * n + j[ok]])
    if len(keys) > n_pairs:  # the n_pairs drawn first, still in key order
        keys = keys[drawn_at <= np.partition(drawn_at, n_pairs - 1)[n_pairs - 1]]
    return np.stack([keys // n, keys % n], axis=1)


def first_draws(candidates, n_keys):
    """The distinct values of ``candidates`` (all below ``n_keys``) in increasing order, and
    the position of each one's first occurrence.

    When value and position fit together in 63 bits, one plain sort of ``value << bits |
    position`` orders by value and then by position, so each value's first entry is its
    first draw: several times faster than the stable argsort (and gather) it otherwise takes.
    """
    bits = max(len(candidates) - 1, 1).bit_length()
    if (n_keys - 1).bit_length() + bits <= 63:
        ordered = np.sort((candidates << bits) | np.arange(len(candidates)))
        values, positions = ordered >> bits, ordered & ((1 << bits) - 1)
    else:
        order = np.argsort(candidates, kind="stable")
        values, positions = candidates[order], order
    first = np.ones(len(values), dtype=bool)
    first[1:] = values[1:] != values[:-1]
    return values[first], positions[first]


def make_pairs(y, impostors="balanced", max_genuine=None, random_state=None):
    """Verification pairs from identity labels: genuine pairs and sampled impostor pairs.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Identity labels.
    impostors : "balanced", "all" or int, default="balanced"
        As many impostor pairs as genuine ones (the LFW protocol's balance), every impostor
        pair, or that many (drawn uniformly without replacement, seeded).
    max_genuine : int or None, default=None
        Keep a seeded sample of at most this many genuine pairs.
    random_state : int, RandomState instance or None, default=None
        Seeds the sampling.

    Returns
    -------
    pairs : ndarray of shape (n_pairs, 2)
        Row indices into ``y``, genuine pairs first.
    same : ndarray of shape (n_pairs,) of bool
        True for genuine pairs.

    Examples
    --------
    >>> pairs, same = make_pairs(["a", "a", "b", "b", "b"], random_state=0)
    >>> pairs[same].tolist()
    [[0, 1], [2, 3], [2, 4], [3, 4]]
    >>> int((~same).sum())
    4
    """
    rng = check_random_state(random_state)
    genuine = genuine_pairs(y, max_genuine, rng)
    if isinstance(impostors, str):
        if impostors not in ("balanced", "all"):
            raise ValueError(f"impostors must be 'balanced', 'all' or an int; got {impostors!r}.")
        _, codes = np.unique(column_or_1d(np.asarray(y)), return_inverse=True)
        count = len(genuine) if impostors == "balanced" else count_impostor_pairs(codes)
    else:
        count = int(impostors)
        if count < 0:
            raise ValueError(f"impostors must be >= 0; got {impostors}.")
    impostor = impostor_pairs(y, count, rng)
    pairs = np.concatenate([genuine, impostor])
    same = np.concatenate([np.ones(len(genuine), bool), np.zeros(len(impostor), bool)])
    return pairs, same


def embed_and_threshold(estimator, X):
    """Embeddings of X from a fitted pipeline (or embedder), and its verifier's threshold."""
    steps = getattr(estimator, "steps", None)
    if steps is not None and hasattr(steps[-1][1], "threshold_"):
        embedded = estimator[:-1].transform(X) if len(steps) > 1 else X
        return embedded, steps[-1][1].threshold_
    if hasattr(estimator, "threshold_"):
        return X, estimator.threshold_
    return estimator.transform(X), None


def verification_scorer(metric="auc", far=1e-3, random_state=0):
    """A scorer for ``GridSearchCV``/``cross_validate`` that verifies pairs of a test fold.

    It embeds the fold with the fitted pipeline, builds all genuine pairs of the fold and as
    many impostor pairs (seeded), and reports:

    - ``"accuracy"``: pair accuracy at the threshold the pipeline's ``CosineVerifier``
      calibrated at fit (the pipeline must end with one);
    - ``"auc"``: area under the ROC curve of the cosine similarities;
    - ``"tar"``: true-accept rate at false-accept rate ``far``.

    With identity-disjoint folds (``GroupKFold`` or ``GroupShuffleSplit`` with
    ``groups=y``) the fold's people are unseen, as in a real deployment.

    Parameters
    ----------
    metric : {"accuracy", "auc", "tar"}, default="auc"
    far : float, default=1e-3
        False-accept rate for ``"tar"``.
    random_state : int, default=0
        Seeds the impostor pairs, the same for every candidate.

    Returns
    -------
    callable
        ``scorer(estimator, X, y) -> float``, higher is better.
    """
    if metric not in ("accuracy", "auc", "tar"):
        raise ValueError(f"metric must be 'accuracy', 'auc' or 'tar'; got {metric!r}.")

    def score(estimator, X, y):
        embeddings, threshold = embed_and_threshold(estimator, X)
        pairs, same = make_pairs(y, random_state=random_state)
        if not same.any() or same.all():
            raise ValueError("the test fold needs at least one genuine and one impostor pair; "
                             "use folds with several images of several people.")
        scores = pair_similarity(embeddings, pairs)
        if metric == "auc":
            return float(roc_auc_score(same, scores))
        if metric == "tar":
            return tar_at_far(scores, same, far)
        if threshold is None:
            raise ValueError("metric='accuracy' needs a pipeline that ends with a "
                             "CosineVerifier, whose calibrated threshold it uses.")
        return float(np.mean(accepts(scores, threshold) == same))

    score.__name__ = f"verification_{metric}"
    return score


#: Multi-metric scoring for GridSearchCV(scoring=VERIFICATION_SCORING, refit="auc").
VERIFICATION_SCORING = {
    "accuracy": verification_scorer("accuracy"),
    "auc": verification_scorer("auc"),
    "tar@far=1e-2": verification_scorer("tar", far=1e-2),
}

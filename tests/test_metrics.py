"""Verification metrics and pair generation, against brute force and direct computation."""

import itertools

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from hypersphere_sklearn import metrics
from hypersphere_sklearn.model_selection import (
    first_draws,
    genuine_pairs,
    impostor_pairs,
    make_pairs,
)


def random_scores(n=400, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    same = rng.random(n) < 0.4
    scores = rng.normal(size=n) + 1.2 * same
    if ties:
        scores = np.round(scores, 1)
    return scores, same


def accuracy_at(scores, same, threshold):
    return np.mean((scores >= threshold) == same)


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_best_accuracy_threshold_matches_brute_force(seed, ties):
    scores, same = random_scores(seed=seed, ties=ties)
    threshold, accuracy = metrics.best_accuracy_threshold(scores, same)
    candidates = np.concatenate([np.unique(scores), [scores.max() + 1]])
    brute = max(accuracy_at(scores, same, t) for t in candidates)
    assert accuracy == pytest.approx(brute)
    assert accuracy_at(scores, same, threshold) == pytest.approx(brute)


@pytest.mark.parametrize("far", [0.0, 0.01, 0.1, 0.3])
def test_threshold_at_far_is_the_lowest_threshold_meeting_the_far(far):
    scores, same = random_scores(ties=True, seed=3)
    threshold = metrics.threshold_at_far(scores, same, far)
    impostors = scores[~same]
    assert np.mean(impostors >= threshold) <= far
    lower = [t for t in np.unique(scores) if t < threshold]
    # any lower candidate threshold would accept too many impostors
    assert all(np.mean(impostors >= t) > far for t in lower)
    assert metrics.tar_at_far(scores, same, far) == pytest.approx(
        np.mean(scores[same] >= threshold))


def test_equal_error_rate_is_where_far_and_frr_cross():
    scores, same = random_scores(n=4000, seed=1)
    eer, threshold = metrics.equal_error_rate(scores, same)
    far = np.mean(scores[~same] >= threshold)
    frr = np.mean(scores[same] < threshold)
    assert abs(far - eer) < 0.01 and abs(frr - eer) < 0.01
    grid = np.linspace(scores.min(), scores.max(), 2001)
    gaps = [abs(np.mean(scores[~same] >= t) - np.mean(scores[same] < t)) for t in grid]
    best = grid[int(np.argmin(gaps))]
    assert eer == pytest.approx(np.mean(scores[~same] >= best), abs=0.01)


def test_kfold_accuracy_matches_a_direct_computation():
    scores, same = random_scores(n=600, seed=2)
    folds = np.repeat(np.arange(10), 60)
    result = metrics.kfold_accuracy(scores, same, folds)
    direct = []
    for k in range(10):
        train, test = folds != k, folds == k
        candidates = np.concatenate([np.unique(scores[train]), [np.inf]])
        t = max(candidates, key=lambda c: (accuracy_at(scores[train], same[train], c), -c))
        direct.append(accuracy_at(scores[test], same[test], t))
    np.testing.assert_allclose(result.accuracies, direct)
    assert result.mean == pytest.approx(np.mean(direct))
    assert result.std == pytest.approx(np.std(direct))
    consecutive = metrics.kfold_accuracy(scores, same)  # same folds, from the order
    np.testing.assert_allclose(consecutive.accuracies, result.accuracies)
    assert "±" in str(result)


def test_report_and_auc():
    scores, same = random_scores()
    report = metrics.verification_report(scores, same, threshold=0.5)
    assert report["auc"] == pytest.approx(roc_auc_score(same, scores))
    assert report["accuracy"] == pytest.approx(accuracy_at(scores, same, 0.5))
    assert {"eer", "best_accuracy", "tar@far=0.01", "tar@far=0.001"} <= set(report)


@pytest.mark.parametrize(
    "scores, same, message",
    [([0.1, 0.2], [True, True], "impostor"), ([0.1, 0.2], [False, False], "genuine"),
     ([0.1, np.nan], [True, False], "NaN"), ([0.1, 0.2, 0.3], [True, False], "pairs")],
)
def test_bad_scores(scores, same, message):
    with pytest.raises(ValueError, match=message):
        metrics.best_accuracy_threshold(scores, same)


def test_pair_similarity():
    rng = np.random.default_rng(0)
    E = rng.normal(size=(30, 5))
    pairs = rng.integers(0, 30, size=(100, 2))
    expected = [E[i] @ E[j] / np.linalg.norm(E[i]) / np.linalg.norm(E[j]) for i, j in pairs]
    # float32 products, as for embeddings
    np.testing.assert_allclose(metrics.pair_similarity(E, pairs, chunk_size=7), expected,
                               atol=1e-6)


def test_genuine_pairs_are_all_same_label_pairs():
    y = np.array([3, 1, 3, 2, 1, 3, 9])
    pairs = genuine_pairs(y)
    expected = {(i, j) for i, j in itertools.combinations(range(len(y)), 2) if y[i] == y[j]}
    assert {tuple(p) for p in pairs} == expected and len(pairs) == len(expected)


@pytest.mark.parametrize("count", [5, 40, 1000])
def test_impostor_pairs_are_distinct_different_label_pairs(count):
    y = np.repeat(np.arange(8), 6)
    pairs = impostor_pairs(y, count, random_state=0)
    total = (48 * 47 - 8 * 6 * 5) // 2
    assert len(pairs) == min(count, total)
    assert np.all(y[pairs[:, 0]] != y[pairs[:, 1]]) and np.all(pairs[:, 0] < pairs[:, 1])
    assert len({tuple(p) for p in pairs}) == len(pairs)
    np.testing.assert_array_equal(pairs, impostor_pairs(y, count, random_state=0))


def first_distinct_impostors(y, count, seed):
    """The sampling rule written out pair by pair: draw (i, j) in batches from the same random
    stream, keep each different-label pair the first time it comes, stop at ``count``."""
    rng, n, kept = np.random.RandomState(seed), len(y), {}
    while len(kept) < count:
        draw = int(1.2 * (count - len(kept))) + 16
        i, j = rng.randint(0, n, draw), rng.randint(0, n, draw)
        for a, b in zip(np.minimum(i, j), np.maximum(i, j), strict=True):
            if y[a] != y[b]:
                kept.setdefault((int(a), int(b)), len(kept))
    return sorted(pair for pair, order in kept.items() if order < count)


@pytest.mark.parametrize("identities,per_identity,count", [(3, 4, 20), (8, 6, 100),
                                                           (50, 3, 2000)])
def test_impostor_sampling_keeps_the_first_distinct_pairs_drawn(identities, per_identity,
                                                               count):
    y = np.repeat(np.arange(identities), per_identity)
    for seed in range(3):
        expected = first_distinct_impostors(y, count, seed)
        np.testing.assert_array_equal(impostor_pairs(y, count, random_state=seed), expected)


@pytest.mark.parametrize("n_keys", [1000, 2**62])  # packed into one sort / stable argsort
def test_first_draws_are_the_distinct_keys_and_their_first_positions(n_keys):
    candidates = np.random.default_rng(0).integers(0, 1000, 5000) * (n_keys // 1000)
    values, positions = first_draws(candidates, n_keys)
    expected_values, expected_first = np.unique(candidates, return_index=True)
    np.testing.assert_array_equal(values, expected_values)
    np.testing.assert_array_equal(positions, expected_first)
    assert len(first_draws(candidates[:0], n_keys)[0]) == 0


def test_make_pairs_balanced_all_and_counted():
    y = np.repeat(["a", "b", "c"], 4)
    pairs, same = make_pairs(y, random_state=0)
    assert same.sum() == 18 and (~same).sum() == 18
    assert np.array_equal(y[pairs[:, 0]] == y[pairs[:, 1]], same)
    _, every = make_pairs(y, impostors="all")
    assert (~every).sum() == 48
    _, few = make_pairs(y, impostors=5, max_genuine=4, random_state=1)
    assert few.sum() == 4 and (~few).sum() == 5
    with pytest.raises(ValueError, match="impostors"):
        make_pairs(y, impostors="many")


def test_float32_scores_of_neighbouring_values_are_still_split():
    low = np.float32(0.5)
    high = np.nextafter(low, np.float32(1))  # the next float32: no float32 lies between
    scores = np.array([high, low], dtype=np.float32)
    threshold, accuracy = metrics.best_accuracy_threshold(scores, [True, False])
    assert accuracy == 1.0 and float(low) < threshold < float(high)
    assert ((scores.astype(np.float64) >= threshold) == [True, False]).all()


def test_a_float32_score_one_ulp_below_the_threshold_is_rejected_everywhere():
    # the midpoint of two neighbouring float32 scores rounds onto the lower one in float32
    low = np.float32(0.5)
    high = np.nextafter(low, np.float32(1))
    scores = np.array([high, low, high, low], dtype=np.float32)
    same = np.array([True, False, True, False])
    threshold, _ = metrics.best_accuracy_threshold(scores, same)
    assert (scores >= threshold).all()  # the NumPy 2 comparison this guards against
    assert metrics.accepts(scores, threshold).tolist() == same.tolist()
    assert metrics.verification_report(scores, same, threshold)["accuracy"] == 1.0
    assert metrics.kfold_accuracy(scores, same, folds=[0, 0, 1, 1]).mean == 1.0

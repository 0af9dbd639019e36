"""CosineVerifier: enrolment, calibration strategies, open-set identification, pairs, and its
place at the end of a pipeline on real faces."""

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import Pipeline

import hypersphere_sklearn as hs
from hypersphere_sklearn.metrics import pair_similarity
from hypersphere_sklearn.model_selection import (
    VERIFICATION_SCORING,
    genuine_pair_scores,
    genuine_pairs,
    make_pairs,
    verification_scorer,
)
from hypersphere_sklearn.verification import Embeddings, rows_and_norms


def clustered(n_people=6, per_person=8, dim=16, spread=0.35, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_people, dim))
    y = np.repeat(np.arange(n_people), per_person)
    return centres[y] + spread * rng.normal(size=(len(y), dim)), y


def test_templates_are_normalised_mean_directions():
    E, y = clustered()
    verifier = hs.CosineVerifier().fit(E, y)
    unit = E / np.linalg.norm(E, axis=1, keepdims=True)
    for k, label in enumerate(verifier.classes_):
        mean = unit[y == label].mean(axis=0)
        np.testing.assert_allclose(verifier.templates_[k], mean / np.linalg.norm(mean),
                                   rtol=1e-5, atol=1e-6)


def test_accuracy_calibration_agrees_with_brute_force_over_all_thresholds():
    E, y = clustered(spread=0.9)
    verifier = hs.CosineVerifier().fit(E, y)
    pairs, same = make_pairs(y, random_state=0)
    scores = pair_similarity(E, pairs)
    best = max(np.mean((scores >= t) == same) for t in np.append(scores, np.inf))
    assert np.mean((scores >= verifier.threshold_) == same) == pytest.approx(best)
    assert verifier.calibrated_on_ == "training identities"


@pytest.mark.parametrize("max_genuine", [None, 10])
def test_calibration_scores_are_those_of_make_pairs(max_genuine):
    # uneven identity sizes, so that several batched Gram products and a sampled case occur
    rng = np.random.default_rng(3)
    y = np.repeat(np.arange(7), [1, 2, 3, 3, 5, 2, 4])
    E = rng.standard_normal((len(y), 6)).astype(np.float32)
    E *= rng.uniform(0.1, 10, len(E))[:, None].astype(np.float32)  # cosines, not dot products
    verifier = hs.CosineVerifier(max_genuine_pairs=max_genuine, random_state=4)
    scores, same = verifier.calibration_scores(E, y)
    pairs, expected_same = make_pairs(y, max_genuine=max_genuine, random_state=4)
    np.testing.assert_array_equal(same, expected_same)
    assert scores.dtype == np.float32
    np.testing.assert_allclose(scores, pair_similarity(E, pairs), atol=1e-6)


@pytest.mark.parametrize("y", [
    [4, 1, 4, 1, 4, 9, 1, 4],  # identities interleaved: rows gathered
    [1, 1, 1, 4, 4, 4, 4, 9, 7, 7, 7],  # grouped: Gram products of views of E
    [1, 1, 1, 4, 4, 4, 2, 2, 2, 4, 7, 7],  # one identity split: some views, some gathers
])
def test_genuine_pair_scores_are_the_cosines_of_genuine_pairs_in_blocks(y):
    y = np.array(y)
    E = np.random.default_rng(0).standard_normal((len(y), 3)) * np.arange(1, len(y) + 1)[:, None]
    expected = [E[i] @ E[j] / np.linalg.norm(E[i]) / np.linalg.norm(E[j])
                for i, j in genuine_pairs(y)]
    for chunk_size in (1, 5, 4096):  # one identity per product up to all at once
        np.testing.assert_allclose(genuine_pair_scores(E, y, chunk_size), expected)


def test_far_and_eer_and_fixed_calibrations():
    E, y = clustered(spread=0.9)
    pairs, same = make_pairs(y, random_state=0)
    verifier = hs.CosineVerifier(calibration="far", target_far=0.05).fit(E, y)
    scores = verifier.similarity(E[pairs[:, 0]], E[pairs[:, 1]])  # the verifier's arithmetic
    far = verifier.threshold_
    assert np.mean(scores[~same] >= far) <= 0.05
    assert np.mean(scores[~same] >= far - 1e-3) > 0.05 or far <= scores[~same].min()
    eer = hs.CosineVerifier(calibration="eer").fit(E, y).threshold_
    assert abs(np.mean(scores[~same] >= eer) - np.mean(scores[same] < eer)) < 0.05
    fixed = hs.CosineVerifier(calibration="fixed", threshold=0.25).fit(E, y)
    assert fixed.threshold_ == 0.25 and fixed.calibrated_on_ == "fixed"


def test_open_set_predict_returns_unknown_for_someone_never_enrolled():
    E, y = clustered(n_people=7)
    enrolled = y < 6
    verifier = hs.CosineVerifier(unknown_label=-1).fit(E[enrolled], y[enrolled])
    stranger = verifier.predict(E[~enrolled])
    assert np.mean(stranger == -1) >= 0.9
    assert np.mean(verifier.predict(E[enrolled]) == y[enrolled]) >= 0.95
    names = np.array(["ann", "bob", "cyd", "dan", "eve", "fay", "gus"])[y]
    by_name = hs.CosineVerifier(unknown_label="unknown").fit(E[enrolled], names[enrolled])
    assert set(by_name.predict(E[~enrolled])) <= {"unknown", *names}
    assert "unknown" in set(by_name.predict(E[~enrolled]))


def test_decision_function_verify_similarity_and_score():
    E, y = clustered()
    verifier = hs.CosineVerifier().fit(E, y)
    decision = verifier.decision_function(E)
    assert decision.shape == (len(E), 6) and np.all(np.abs(decision) <= 1 + 1e-6)
    np.testing.assert_allclose(verifier.similarity(E[:5], E[5:10]),
                               pair_similarity(E, np.c_[np.arange(5), np.arange(5, 10)]),
                               atol=1e-6)
    same = verifier.verify(E[:-1], E[1:])
    assert same.dtype == bool and np.mean(same == (y[:-1] == y[1:])) > 0.9
    assert verifier.score(E, y) > 0.9


def test_chunked_identification_equals_one_block():
    E, y = clustered(n_people=30, per_person=4, spread=0.8)
    big = hs.CosineVerifier(chunk_size=10_000).fit(E, y)
    small = hs.CosineVerifier(chunk_size=3).fit(E, y)
    np.testing.assert_array_equal(big.predict(E), small.predict(E))
    np.testing.assert_allclose(big.decision_function(E), small.decision_function(E), atol=1e-6)


def test_calibrate_moves_the_threshold_and_keeps_the_templates():
    E, y = clustered(n_people=8)
    verifier = hs.CosineVerifier().fit(E[y < 5], y[y < 5])
    templates = verifier.templates_.copy()
    verifier.calibrate(E[y >= 5] * 0.5 + np.random.default_rng(1).normal(size=(24, 16)),
                       y[y >= 5])
    assert verifier.calibrated_on_ == "held-out identities"
    np.testing.assert_array_equal(verifier.templates_, templates)


@pytest.mark.parametrize("dtype, scale, divided", [
    (np.float32, 1e-3, True), (np.float32, 7.0, True), (np.float32, 1e5, True),
    (np.float32, 1e-30, False), (np.float32, 1e30, False),
    (np.float64, 1e30, True), (np.float64, 1e-100, False), (np.float64, 1e100, False),
])
def test_calibrate_needs_no_normalised_rows_whatever_their_norms(dtype, scale, divided):
    # rows scaled by factors across two decades around `scale`: moderate norms are divided
    # out of the pair products (E is not copied), extreme ones are normalised first
    E, y = clustered(n_people=8, spread=0.6)
    unit = (E / np.linalg.norm(E, axis=1, keepdims=True)).astype(dtype)
    factors = scale * np.geomspace(0.1, 10, len(E))[np.random.default_rng(2).permutation(len(E))]
    scaled = (unit * factors[:, None]).astype(dtype)
    assert (rows_and_norms(scaled)[0] is scaled) == divided
    on_unit = hs.CosineVerifier().fit(unit, y).calibrate(unit, y)
    on_scaled = hs.CosineVerifier().fit(unit, y).calibrate(scaled, y)
    assert on_scaled.threshold_ == pytest.approx(on_unit.threshold_, abs=1e-5)
    scores, _ = on_scaled.calibration_scores(scaled, y)
    assert scores.dtype == dtype and np.all(np.abs(scores) <= 1 + 1e-6)
    with pytest.raises(ValueError, match="all-zero rows \\[3\\]"):
        on_scaled.calibrate(np.where(np.arange(len(E))[:, None] == 3, 0, scaled), y)


def test_held_out_rows_of_pipeline_embeddings_are_used_for_calibration():
    E, y = clustered(n_people=8, spread=0.6)
    mask = y >= 5
    verifier = hs.CosineVerifier().fit(Embeddings(E, mask), y)
    assert verifier.calibrated_on_ == "held-out identities"
    assert verifier.threshold_ == hs.CosineVerifier().fit(E[mask], y[mask]).threshold_
    assert len(verifier.classes_) == 8  # all identities are enrolled all the same


BAD = [
    ("NaN", lambda v, E, y: v.fit(np.where(np.eye(len(E), E.shape[1]) > 0, np.nan, E), y), "NaN"),
    ("zero vectors", lambda v, E, y: v.fit(np.vstack([E, np.zeros((1, 16))]), np.append(y, 0)),
     "all-zero"),
    ("one identity", lambda v, E, y: v.fit(E, np.zeros(len(E))), "only 1 class"),
    ("no genuine pair", lambda v, E, y: v.fit(E[::8], y[::8]), "no genuine pair"),
    ("length mismatch", lambda v, E, y: v.fit(E, y[:-1]), "labels"),
    ("bad calibration", lambda v, E, y: v.set_params(calibration="median").fit(E, y),
     "calibration"),
    ("fixed without threshold", lambda v, E, y: v.set_params(calibration="fixed").fit(E, y),
     "threshold"),
]


@pytest.mark.parametrize("call, message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_fit_input(call, message):
    E, y = clustered()
    with pytest.raises(ValueError, match=message):
        call(hs.CosineVerifier(), E, y)


def test_bad_input_after_fit():
    E, y = clustered()
    verifier = hs.CosineVerifier().fit(E, y)
    with pytest.raises(ValueError, match="features"):
        verifier.predict(E[:, :8])
    with pytest.raises(ValueError, match="equal lengths"):
        verifier.similarity(E[:3], E[:4])
    with pytest.raises(ValueError, match="all-zero"):
        verifier.verify(np.zeros((1, 16)), E[:1])
    with pytest.raises(ValueError, match="NaN"):
        verifier.predict(np.full((1, 16), np.nan))


# -- on real faces -------------------------------------------------------------------------------


def test_pipeline_fit_predict_score_on_faces(faces_32px):
    """Enrol 36 people from half their images; identify the other half, and turn away the 4
    people never enrolled. A 1:N search needs a stricter threshold than 1:1 verification (the
    best of 36 impostor templates is closer than a typical impostor): calibrate at a low FAR.
    """
    images, people = faces_32px
    enrolled = people < 36
    probes, truth = images[enrolled][1::2], people[enrolled][1::2]
    results = {}
    for calibration in ("accuracy", "far"):
        pipe = Pipeline([
            ("embed", hs.ArcFaceEmbedder(max_epochs=12, verbose=0, random_state=0,
                                         device="cpu")),  # the figures measured on the CPU
            ("verify", hs.CosineVerifier(calibration=calibration, target_far=0.01)),
        ]).fit(images[enrolled][::2], people[enrolled][::2])
        results[calibration] = (pipe.score(probes, truth),
                                np.mean(pipe.predict(probes) == -1),
                                np.mean(pipe.predict(images[~enrolled]) == -1))
    accuracy, _, _ = results["accuracy"]
    assert accuracy > 0.85  # measured 0.92
    accuracy, known_rejected, strangers_rejected = results["far"]
    assert accuracy > 0.5 and strangers_rejected > 0.7  # measured 0.68 and 0.9
    assert strangers_rejected > known_rejected + 0.3


def test_grid_search_with_verification_scorers_and_identity_disjoint_folds(faces_32px):
    images, people = faces_32px
    pipe = Pipeline([("embed", hs.CosFaceEmbedder(max_epochs=6, verbose=0, random_state=0)),
                     ("verify", hs.CosineVerifier())])
    search = GridSearchCV(
        pipe, {"embed__scale": [8.0, 30.0], "embed__margin": [0.1, 0.35]},
        cv=GroupKFold(n_splits=2), scoring=VERIFICATION_SCORING, refit="auc", n_jobs=2,
    )
    search.fit(images, people, groups=people)
    results = search.cv_results_
    assert len(results["params"]) == 4
    for metric in VERIFICATION_SCORING:
        assert np.all((results[f"mean_test_{metric}"] >= 0) & (results[f"mean_test_{metric}"] <= 1))
    assert np.all(results["mean_test_auc"] > 0.7)
    assert search.best_params_ == results["params"][int(np.argmax(results["mean_test_auc"]))]
    assert search.best_estimator_.predict(images[:3]).shape == (3,)


def test_accuracy_scorer_needs_a_verifier(faces_16px):
    images, people = faces_16px
    embedder = hs.NormFaceEmbedder(max_epochs=1, verbose=0, random_state=0).fit(images, people)
    assert 0 <= verification_scorer("auc")(embedder, images, people) <= 1
    with pytest.raises(ValueError, match="CosineVerifier"):
        verification_scorer("accuracy")(embedder, images, people)


def test_a_cosine_one_float32_ulp_below_the_threshold_is_rejected():
    def just_above(cosine):  # the float64 midpoint to the next float32
        return (float(cosine) + float(np.nextafter(cosine, np.float32(2)))) / 2

    E = np.eye(3, dtype=np.float32)[:2]
    probe = np.array([[0.6, 0.0, 0.8]], dtype=np.float32)
    verifier = hs.CosineVerifier(unknown_label=-1, calibration="fixed", threshold=0.0)
    verifier.fit(E, [0, 1])
    _, cosine = verifier.nearest_templates(verifier.check_embeddings(probe, reset=False))
    verifier.threshold_ = float(cosine[0])
    assert verifier.predict(probe).tolist() == [0]
    verifier.threshold_ = just_above(cosine[0])
    assert np.float32(verifier.threshold_) == cosine[0]  # in float32 it would be accepted
    assert verifier.predict(probe).tolist() == [-1]
    verifier.threshold_ = just_above(verifier.similarity(probe, E[:1])[0])
    assert np.float32(verifier.threshold_) == verifier.similarity(probe, E[:1])[0]
    assert verifier.verify(probe, E[:1]).tolist() == [False]

"""scikit-learn's estimator checks on CosineVerifier: every check passes.

The checks treat a classifier as closed-set: predict must agree with the argmax of
decision_function on training data. A threshold of −1 makes the verifier exactly that (no
probe is ever rejected as unknown), so the checks run on that configuration; the open-set
behaviour with a calibrated threshold is tested in test_verifier.py. The checks' integer
data holds all-zero rows, which enrolment and identification accept (cosine 0) while
calibration and pair verification reject them.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from hypersphere_sklearn import CosineVerifier


@parametrize_with_checks([CosineVerifier(calibration="fixed", threshold=-1.0)])
def test_sklearn_compatible_verifier(estimator, check):
    check(estimator)

"""Grid search over scale and margin with identity-disjoint folds.

    python examples/grid_search.py [--fast]

GroupKFold with groups=people keeps every person in one fold only, so each candidate is judged
on people its network never saw, with the verification scorers (accuracy at the calibrated
threshold, AUC, TAR at FAR 1e-2); the best by AUC is refitted on everyone.
"""

import argparse

from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import Pipeline

from hypersphere_sklearn import CosFaceEmbedder, CosineVerifier
from hypersphere_sklearn.datasets import load_olivetti_faces
from hypersphere_sklearn.model_selection import VERIFICATION_SCORING


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fast", action="store_true", help="1 epoch on 16x16 images")
    args = parser.parse_args(argv)

    faces, people = load_olivetti_faces(return_X_y=True)
    step, epochs = (4, 1) if args.fast else (2, 10)
    faces = faces[:, ::step, ::step]
    pipe = Pipeline([("embed", CosFaceEmbedder(max_epochs=epochs, verbose=0, random_state=0)),
                     ("verify", CosineVerifier())])
    search = GridSearchCV(
        pipe,
        {"embed__scale": [16.0, 30.0], "embed__margin": [0.1, 0.35]},
        cv=GroupKFold(n_splits=3),
        scoring=VERIFICATION_SCORING,
        refit="auc",
    )
    search.fit(faces, people, groups=people)
    results = search.cv_results_
    print("scale  margin  accuracy  AUC    TAR@FAR=1e-2")
    for k, params in enumerate(results["params"]):
        print(f"{params['embed__scale']:5g}  {params['embed__margin']:6g}  "
              f"{results['mean_test_accuracy'][k]:.3f}     {results['mean_test_auc'][k]:.3f}  "
              f"{results['mean_test_tar@far=1e-2'][k]:.3f}")
    print("best:", search.best_params_)
    return search


if __name__ == "__main__":
    main()

"""The methods compared on LFW View 1 (the development protocol), person-disjoint.

    python examples/lfw_view1.py [--fast] [--lfw path/to/lfw_deepfunneled_62x47_gray_uint8.npz]

Trains each method on every image of the people who appear in no pair of View 1's test set,
then verifies its 1,000 pairs: accuracy at the threshold the verifier calibrated on held-out
training people, the LFW 10-fold accuracy on those pairs, and the AUC. Needs the preprocessed
LFW arrays (shared/data/lfw/ in this project, or --lfw / $HYPERSPHERE_LFW). The benchmarks
hold the long, tuned version of this comparison.
"""

import argparse

import numpy as np
from sklearn.pipeline import Pipeline

from hypersphere_sklearn import (
    ArcFaceEmbedder,
    CosFaceEmbedder,
    CosineVerifier,
    NormFaceEmbedder,
    SoftmaxEmbedder,
    SphereFaceREmbedder,
)
from hypersphere_sklearn.datasets import load_lfw_arrays
from hypersphere_sklearn.datasets._lfw import people_outside
from hypersphere_sklearn.metrics import accepts, kfold_accuracy, pair_similarity, roc_auc_score

METHODS = {
    "softmax": (SoftmaxEmbedder, {}),
    "NormFace": (NormFaceEmbedder, {"scale": 16.0}),
    "CosFace": (CosFaceEmbedder, {"scale": 30.0, "margin": 0.25}),
    "ArcFace": (ArcFaceEmbedder, {"scale": 30.0, "margin": 0.3}),
    "SphereFace-R": (SphereFaceREmbedder, {"scale": 30.0, "margin": 1.4}),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fast", action="store_true",
                        help="2 methods, 1 epoch, 1,500 training images")
    parser.add_argument("--lfw", help="the LFW arrays (.npz or its folder)")
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args(argv)

    lfw = load_lfw_arrays(args.lfw)
    train = people_outside(lfw.view1_test.pairs, lfw.target)
    X, y = lfw.images[train], lfw.target[train]
    methods, epochs = METHODS, args.epochs
    if args.fast:
        keep = np.isin(y, np.unique(y)[np.bincount(y)[np.unique(y)] >= 4][:300])
        X, y, epochs = X[keep][:1500], y[keep][:1500], 1
        methods = {k: METHODS[k] for k in ("softmax", "CosFace")}
    pairs, same = lfw.view1_test.pairs, lfw.view1_test.same
    used = np.unique(pairs)
    print(f"training on {len(X)} images of {len(np.unique(y))} people; "
          f"{len(pairs)} View 1 test pairs")
    results = {}
    for name, (cls, params) in methods.items():
        pipe = Pipeline([("embed", cls(max_epochs=epochs, verbose=0, random_state=0, **params)),
                         ("verify", CosineVerifier())]).fit(X, y)
        scores = pair_similarity(pipe[:-1].transform(lfw.images[used]),
                                 np.searchsorted(used, pairs))
        accuracy = float(np.mean(accepts(scores, pipe[-1].threshold_) == same))
        folds = np.arange(len(pairs)) * 10 // len(pairs)
        results[name] = (accuracy, kfold_accuracy(scores, same, folds),
                         float(roc_auc_score(same, scores)))
        print(f"{name:14s} accuracy {accuracy:.3f}  10-fold {results[name][1]}  "
              f"AUC {results[name][2]:.3f}")
    return results


if __name__ == "__main__":
    main()

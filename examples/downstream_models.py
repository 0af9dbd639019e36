"""Embeddings as features for other scikit-learn models, and two pictures of them.

    python examples/downstream_models.py [--fast] [--out folder]

An embedder is a transformer: its unit-norm embeddings feed an SVC or a k-NN classifier in a
pipeline. The embeddings of the test images are drawn with t-SNE, and a NormFace embedding of
dimension 3 on the sphere, as in the papers' figures.
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from sklearn.manifold import TSNE  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.svm import SVC  # noqa: E402

from hypersphere_sklearn import ArcFaceEmbedder, NormFaceEmbedder  # noqa: E402
from hypersphere_sklearn.datasets import load_olivetti_faces  # noqa: E402
from hypersphere_sklearn.plotting import plot_hypersphere  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fast", action="store_true", help="1 epoch on 16x16 images")
    parser.add_argument("--out", default="downstream-output")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    faces, people = load_olivetti_faces(return_X_y=True)
    step, epochs = (4, 1) if args.fast else (2, 15)
    faces = faces[:, ::step, ::step]
    X_train, X_test, y_train, y_test = train_test_split(faces, people, stratify=people,
                                                        test_size=0.3, random_state=0)
    scores = {}
    for name, model in (("SVC", SVC(kernel="linear")), ("1-NN", KNeighborsClassifier(1))):
        embedder = ArcFaceEmbedder(max_epochs=epochs, calibration_holdout=0, verbose=0,
                                   random_state=0)
        pipe = make_pipeline(embedder, model).fit(X_train, y_train)
        scores[name] = pipe.score(X_test, y_test)
        print(f"{name} on ArcFace embeddings: {scores[name]:.3f} accuracy on unseen images")

    embedded = pipe[0].transform(X_test)
    points = TSNE(perplexity=10, random_state=0).fit_transform(embedded)
    figure, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(points[:, 0], points[:, 1], c=y_test, cmap="tab20", s=10)
    ax.set_title("t-SNE of ArcFace embeddings (test images)")
    figure.savefig(out / "tsne.png", dpi=120, bbox_inches="tight")

    few = people < 8
    sphere = NormFaceEmbedder(embedding_dim=3, scale=8.0, max_epochs=4 * epochs, batch_size=16,
                              calibration_holdout=0, verbose=0, random_state=0)
    ax = plot_hypersphere(sphere.fit(faces[few], people[few]).transform(faces[few]), people[few])
    ax.figure.savefig(out / "sphere.png", dpi=120, bbox_inches="tight")
    print(f"plots written to {out}/tsne.png and {out}/sphere.png")
    return scores


if __name__ == "__main__":
    main()

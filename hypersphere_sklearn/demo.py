"""``hypersphere-sklearn demo``: the methods compared on the bundled Olivetti faces.

Person-disjoint throughout: people 0-29 train (a grid search over scale and margin with
identity-disjoint folds, then a refit of the best setting), people 30-39 are never seen and
give the verification pairs every method is judged on.
"""

import time

import numpy as np
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import Pipeline

from . import embedders
from .datasets import load_olivetti_faces
from .metrics import pair_similarity, verification_report
from .model_selection import make_pairs, verification_scorer
from .verification import CosineVerifier

#: method -> (embedder class, grid over its loss hyperparameters)
METHODS = {
    "softmax (baseline)": (embedders.SoftmaxEmbedder, {}),
    "NormFace": (embedders.NormFaceEmbedder, {"scale": [8.0, 16.0]}),
    "CosFace": (embedders.CosFaceEmbedder, {"scale": [16.0, 30.0], "margin": [0.1, 0.3]}),
    "ArcFace": (embedders.ArcFaceEmbedder, {"scale": [16.0, 30.0], "margin": [0.2, 0.5]}),
    "SphereFace-R v1": (embedders.SphereFaceREmbedder,
                        {"scale": [16.0, 30.0], "margin": [1.2, 1.5]}),
}
QUICK_METHODS = {
    "softmax (baseline)": METHODS["softmax (baseline)"],
    "CosFace": (embedders.CosFaceEmbedder, {"margin": [0.1, 0.3]}),
}


def say(message):
    print(message, flush=True)


def pipeline(cls, epochs, seed):
    embedder = cls(max_epochs=epochs, batch_size=32, verbose=0, random_state=seed)
    return Pipeline([("embed", embedder), ("verify", CosineVerifier())])


def select(cls, grid, images, people, epochs, seed):
    """The best pipeline of a grid search with identity-disjoint folds (or the only one)."""
    if not grid:
        return pipeline(cls, epochs, seed).fit(images, people), {}
    search = GridSearchCV(
        pipeline(cls, epochs, seed),
        {f"embed__{name}": values for name, values in grid.items()},
        cv=GroupKFold(n_splits=2),
        scoring=verification_scorer("auc"),
    )
    search.fit(images, people, groups=people)
    best = {key.split("__")[1]: value for key, value in search.best_params_.items()}
    return search.best_estimator_, best


def evaluate(model, images, people):
    pairs, same = make_pairs(people, random_state=0)
    scores = pair_similarity(model[:-1].transform(images), pairs)
    order = np.random.default_rng(0).permutation(len(pairs))  # folds mix both kinds
    folds = np.empty(len(pairs), dtype=int)
    folds[order] = np.arange(len(pairs)) % 10
    return scores, same, verification_report(scores, same, threshold=model[-1].threshold_,
                                             fars=(1e-2,), folds=folds)


def table(rows):
    lines = ["| method | best setting | accuracy | 10-fold accuracy | AUC | TAR@FAR=1e-2 |",
             "|---|---|---|---|---|---|"]
    base = rows[0][2]["auc"]
    for name, best, figures in rows:
        setting = ", ".join(f"{k}={v:g}" for k, v in best.items()) or "—"
        delta = "" if name == rows[0][0] else f" ({figures['auc'] - base:+.3f})"
        lines.append(
            f"| {name} | {setting} | {figures['accuracy']:.3f} | {figures['kfold']} | "
            f"{figures['auc']:.3f}{delta} | {figures['tar@far=0.01']:.3f} |"
        )
    return "\n".join(lines)


def plots(out, curves, best_name, best_scores, threshold, images, people, epochs, seed):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plotting import plot_hypersphere, plot_roc, plot_score_histograms

    ax = plot_roc(curves)
    ax.set_title("ROC on 10 unseen people (Olivetti)")
    ax.figure.savefig(out / "roc.png", dpi=120, bbox_inches="tight")
    plt.close(ax.figure)

    scores, same = best_scores
    ax = plot_score_histograms(scores, same, threshold=threshold)
    ax.set_title(f"{best_name}: genuine and impostor pairs of unseen people")
    ax.figure.savefig(out / "histograms.png", dpi=120, bbox_inches="tight")
    plt.close(ax.figure)

    # the papers' figure: a NormFace embedding of dimension 3 of a few people (80 images need
    # more, smaller steps than the comparison to spread over the sphere)
    few = people < 8
    sphere = embedders.NormFaceEmbedder(embedding_dim=3, scale=8.0, max_epochs=4 * epochs,
                                        batch_size=16, calibration_holdout=0, verbose=0,
                                        random_state=seed)
    features = sphere.fit(images[few], people[few]).transform(images[few])
    ax = plot_hypersphere(features, people[few])
    ax.set_title("NormFace, embedding_dim=3: 8 people on the sphere")
    ax.figure.savefig(out / "sphere.png", dpi=120, bbox_inches="tight")
    plt.close(ax.figure)


def run_demo(out, quick=False, epochs=10, seed=0):
    """Run the demo and write ``results.md``, ``roc.png``, ``histograms.png`` and
    ``sphere.png`` into ``out``; return the results table."""
    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    images, people = load_olivetti_faces(return_X_y=True)
    step = 4 if quick else 2  # 16x16 or 32x32 pixels
    images = images[:, ::step, ::step].copy()
    epochs = 1 if quick else epochs
    methods = QUICK_METHODS if quick else METHODS
    train, test = people < 30, people >= 30
    say(f"demo: Olivetti faces at {images.shape[1]}x{images.shape[2]}, 30 people to train, "
        f"10 unseen people to verify; {epochs} epochs; writing to {out}/")
    rows, curves, best = [], {}, None
    for number, (name, (cls, grid)) in enumerate(methods.items(), 1):
        if grid:
            candidates = int(np.prod([len(v) for v in grid.values()]))
            plan = f"{candidates} settings x 2 identity-disjoint folds, then a refit"
        else:
            plan = "one fit (nothing to tune)"
        say(f"[{number}/{len(methods)}] {name}: {plan} ...")
        tick = time.perf_counter()
        model, setting = select(cls, grid, images[train], people[train], epochs, seed)
        scores, same, figures = evaluate(model, images[test], people[test])
        rows.append((name, setting, figures))
        curves[name] = (scores, same)
        if best is None or figures["auc"] > best[1]["auc"]:
            best = (name, figures, (scores, same), model[-1].threshold_)
        say(f"      AUC {figures['auc']:.3f}, accuracy {figures['accuracy']:.3f} "
            f"({time.perf_counter() - tick:.0f} s)")
    results = table(rows)
    say("\nverification of 10 unseen people (all genuine pairs + as many impostors):\n")
    say(results)
    say("\nplots ...")
    plots(out, curves, best[0], best[2], best[3], images, people, epochs, seed)
    (out / "results.md").write_text(
        "# hypersphere-sklearn demo\n\n"
        f"Olivetti faces, {images.shape[1]}x{images.shape[2]}, trained on people 0-29, "
        f"verified on people 30-39; {epochs} epochs, seed {seed}.\n\n{results}\n\n"
        "![ROC](roc.png)\n![histograms](histograms.png)\n![sphere](sphere.png)\n"
    )
    say(f"wrote {out}/results.md, roc.png, histograms.png, sphere.png "
        f"({time.perf_counter() - start:.0f} s)")
    return results

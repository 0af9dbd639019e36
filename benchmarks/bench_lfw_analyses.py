"""The papers' analyses reproduced on LFW View 1, and a grid search heat map.

    python benchmarks/bench_lfw_analyses.py run [--studies scale alpha margin ring grid]
    python benchmarks/bench_lfw_analyses.py plot [--out docs/images]
    python benchmarks/bench_lfw_analyses.py run --quick     # tiny (used by the tests)

Studies, each trained on View 1's development-training people (those in no ``pairsDevTest``
pair) who have at least two images, and verified on the 1,000 ``pairsDevTest`` pairs (LFW
10-fold accuracy on them):

- ``scale``: NormFace's scale ``s`` (Wang et al., 2017), with the lower bound of its
  Proposition 2 for the number of training identities;
- ``alpha``: L2-softmax's radius ``α`` (Ranjan et al., 2017), with the bound of its eq. 4;
- ``margin``: SphereFace-R's multiplicative margin, with and without its characteristic
  gradient detachment (Liu et al., 2022);
- ``ring``: the distribution of raw feature norms of the test images after training with
  softmax and with Ring loss on softmax (Zheng et al., 2018);
- ``grid``: ``GridSearchCV`` over CosFace's scale x margin on those people with at least ten
  images, with identity-disjoint folds (``GroupKFold``, ``groups=y``), scored by the
  verification scorers (AUC, accuracy at the calibrated threshold, TAR at FAR 1e-2).

Each finished point is appended to ``benchmarks/results/lfw_analyses.jsonl`` (and skipped when
run again), so the plots can be redrawn without training.
"""

import argparse
import hashlib
import json
import sys
import warnings
from datetime import date
from pathlib import Path

import numpy as np
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import Pipeline

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_description, timed  # noqa: E402
from bench_lfw import (  # noqa: E402
    append_result,
    fit_pipeline,
    pair_scores,
    raw_feature_norms,
    read_results,
    report_dict,
)

from hypersphere_sklearn import (  # noqa: E402
    CosFaceEmbedder,
    CosineVerifier,
    L2SoftmaxEmbedder,
    NormFaceEmbedder,
    RingLossEmbedder,
    SoftmaxEmbedder,
    SphereFaceREmbedder,
)
from hypersphere_sklearn.datasets import load_lfw_arrays  # noqa: E402
from hypersphere_sklearn.datasets._lfw import people_outside  # noqa: E402
from hypersphere_sklearn.heads import (  # noqa: E402
    l2softmax_alpha_lower_bound,
    normface_scale_lower_bound,
)
from hypersphere_sklearn.model_selection import VERIFICATION_SCORING  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "lfw_analyses.jsonl"
IMAGES = Path(__file__).resolve().parents[1] / "docs" / "images"

#: study -> list of (label, embedder class, parameters)
SWEEPS = {
    "scale": [(f"s={s}", NormFaceEmbedder, {"scale": float(s)}) for s in (2, 4, 16, 64)],
    "alpha": [(f"alpha={a}", L2SoftmaxEmbedder, {"alpha": float(a)}) for a in (4, 16, 64)],
    "margin": [(f"m={m}, detach={d}", SphereFaceREmbedder,
                {"margin": m, "gradient_detach": d})
               for d in (True, False) for m in (1.0, 1.5, 2.0)],
    "ring": [("softmax", SoftmaxEmbedder, {}), ("ring loss + softmax", RingLossEmbedder, {}),
             ("ring loss + softmax, weight 0.1", RingLossEmbedder, {"ring_weight": 0.1})],
}
GRID = {"embed__scale": [16.0, 32.0, 64.0], "embed__margin": [0.1, 0.25, 0.4]}
GRID_MIN_IMAGES = 10  # the search's 27 fits on the people with at least 10 images
#: The training recipe of every study: the library's defaults of the day the recorded points
#: were run (2026-11-23), kept so that a point run again, or a new one, is trained alike.
RECIPE = {"random_shift": 0.0, "weight_decay": 5e-4}


def training_people(lfw, min_images=2):
    """View 1's development-training people with at least ``min_images`` images."""
    mask = people_outside(lfw.view1_test.pairs, lfw.target)
    counts = np.bincount(lfw.target[mask], minlength=len(lfw.target_names))
    mask &= counts[lfw.target] >= min_images
    return lfw.images[mask], lfw.target[mask]


def sweep_point(lfw, X, y, cls, params, epochs, seed):
    embedder = cls(max_epochs=epochs, random_state=seed, verbose=0, **RECIPE, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LowScaleWarning below the bounds is the point here
        pipe, seconds = fit_pipeline(embedder, X, y)
    scores = pair_scores(embedder, lfw.images, lfw.view1_test.pairs)
    record = report_dict(scores, lfw.view1_test.same, pipe[-1].threshold_)
    record["train_seconds"] = round(seconds, 1)
    record["trained_classes"] = len(embedder.classes_) - len(embedder.holdout_classes_)
    if cls in (SoftmaxEmbedder, RingLossEmbedder):
        used = np.unique(lfw.view1_test.pairs)
        norms = raw_feature_norms(embedder, lfw.images[used])
        record["norm_percentiles"] = np.percentile(norms, [1, 5, 25, 50, 75, 95, 99]).tolist()
        record["norms"] = np.round(norms, 3).tolist()
        if cls is RingLossEmbedder:
            record["learned_radius"] = float(embedder.criterion_.radius.item())
    return record


def grid_point(X, y, epochs, seed, quick=False):
    pipe = Pipeline([("embed", CosFaceEmbedder(max_epochs=epochs, random_state=seed,
                                               verbose=0, **RECIPE)),
                     ("verify", CosineVerifier())])
    grid = {"embed__scale": GRID["embed__scale"][:2], "embed__margin": [0.25]} if quick else GRID
    search = GridSearchCV(pipe, grid, cv=GroupKFold(n_splits=2 if quick else 3),
                          scoring=VERIFICATION_SCORING, refit=False)
    seconds, _ = timed(lambda: search.fit(X, y, groups=y))
    results = search.cv_results_
    return {
        "params": [{k: float(v) for k, v in p.items()} for p in results["params"]],
        **{f"mean_test_{name}": results[f"mean_test_{name}"].tolist()
           for name in VERIFICATION_SCORING},
        **{f"std_test_{name}": results[f"std_test_{name}"].tolist()
           for name in VERIFICATION_SCORING},
        "train_seconds": round(seconds, 1),
    }


def run(args):
    lfw = load_lfw_arrays(args.lfw)
    X, y = training_people(lfw, args.min_images)
    if args.quick:
        keep = np.isin(y, np.unique(y)[:150])
        X, y = X[keep], y[keep]
    n_train_people = len(np.unique(y))
    done = {record["key"] for record in read_results(args.results)}
    machine = machine_description()
    print(f"# {len(X)} training images of {n_train_people} people, {args.epochs} epochs "
          f"({args.grid_epochs} in the grid search); "
          f"machine: {machine}")
    for study in args.studies:
        points = [("grid", None, None)] if study == "grid" else SWEEPS[study]
        if args.quick:
            points = points[:1]
        for label, cls, params in points:
            epochs = args.grid_epochs if study == "grid" else args.epochs
            setting = [study, label, epochs, args.seed, args.min_images, args.quick]
            key = hashlib.sha256(json.dumps(setting).encode()).hexdigest()[:16]
            if key in done:
                print(f"{study} {label}: already in {args.results}, skipped")
                continue
            if study == "grid":
                keep = np.bincount(y)[y] >= GRID_MIN_IMAGES
                record = grid_point(X[keep], y[keep], args.grid_epochs, args.seed, args.quick)
                record.update(train_images=int(keep.sum()),
                              train_people=len(np.unique(y[keep])))
            else:
                record = sweep_point(lfw, X, y, cls, params, args.epochs, args.seed)
                record["params"] = params
            record.setdefault("train_images", len(X))
            record.setdefault("train_people", n_train_people)
            record.update(key=key, study=study, label=label, epochs=epochs,
                          seed=args.seed, min_images=args.min_images, quick=args.quick,
                          machine=machine, date=date.today().isoformat())
            append_result(args.results, record)
            figure = record.get("kfold_mean", max(record.get("mean_test_auc", [0])))
            print(f"{study} {label}: {100 * figure:.2f} % ({record['train_seconds']:.0f} s)",
                  flush=True)
    return 0


def trained_classes(record):
    """Identities the network was trained on; records written before that field was kept
    were all made with the default calibration_holdout=0.2 (20 % of the people held out)."""
    people = record["train_people"]
    return record.get("trained_classes", people - round(0.2 * people))


def latest(records, study, quick):
    """The newest record of each label of a study."""
    found = {}
    for record in records:
        if record["study"] == study and record["quick"] == quick:
            found[record["label"]] = record
    return found


def plot(args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_results(args.results)
    args.out.mkdir(parents=True, exist_ok=True)
    written = []

    def save(fig, name):
        path = args.out / name
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    for study, param, bound, xlabel in (
        ("scale", "scale", normface_scale_lower_bound, "NormFace scale s"),
        ("alpha", "alpha", l2softmax_alpha_lower_bound, "L2-softmax radius α"),
    ):
        points = latest(records, study, args.quick)
        if not points:
            continue
        rows = sorted(points.values(), key=lambda r: r["params"][param])
        fig, ax = plt.subplots(figsize=(5, 3.4))
        ax.plot([r["params"][param] for r in rows], [100 * r["kfold_mean"] for r in rows], "o-")
        classes = trained_classes(rows[0])
        ax.axvline(bound(classes), color="gray", ls="--",
                   label=f"the paper's lower bound, {classes} classes")
        ax.set(xscale="log", xlabel=xlabel, ylabel="View 1 accuracy, 10-fold (%)")
        ax.minorticks_off()
        ax.set_xticks([r["params"][param] for r in rows],
                      [f"{r['params'][param]:g}" for r in rows])
        ax.legend(loc="best")
        save(fig, f"lfw_{study}_sweep.png")

    points = latest(records, "margin", args.quick)
    if points:
        fig, ax = plt.subplots(figsize=(5, 3.4))
        for detach in (True, False):
            rows = sorted((r for r in points.values() if r["params"]["gradient_detach"] == detach),
                          key=lambda r: r["params"]["margin"])
            if rows:
                ax.plot([r["params"]["margin"] for r in rows],
                        [100 * r["kfold_mean"] for r in rows], "o-",
                        label="gradient detached" if detach else "not detached")
        ax.set(xlabel="SphereFace-R margin m (v1, hard normalisation)",
               ylabel="View 1 accuracy, 10-fold (%)")
        ax.legend()
        save(fig, "lfw_sphereface_r_margin.png")

    points = latest(records, "ring", args.quick)
    if points:
        fig, ax = plt.subplots(figsize=(5.6, 3.6))
        everything = np.concatenate([record["norms"] for record in points.values()])
        bins = np.linspace(everything.min(), np.percentile(everything, 99.8), 50)
        for label, record in points.items():
            if "learned_radius" in record:
                weight = record["params"].get("ring_weight", RingLossEmbedder().ring_weight)
                label = f"ring loss (weight {weight:g}) + softmax, learned R = " \
                        f"{record['learned_radius']:.1f}"
            ax.hist(record["norms"], bins=bins, histtype="step", lw=1.6, label=label)
        ax.set(xlabel="feature norm (test images, before normalisation)", ylabel="images")
        ax.legend(fontsize="small")
        save(fig, "lfw_ring_feature_norms.png")

    points = latest(records, "grid", args.quick)
    if points:
        record = points["grid"]
        scales, margins = GRID["embed__scale"], GRID["embed__margin"]
        auc = np.full((len(margins), len(scales)), np.nan)
        for params, value in zip(record["params"], record["mean_test_auc"], strict=True):
            row, column = margins.index(params["embed__margin"]), scales.index(
                params["embed__scale"])
            auc[row, column] = value
        fig, ax = plt.subplots(figsize=(4.6, 3.6))
        image = ax.imshow(100 * auc, cmap="viridis", origin="lower")
        for (i, j), value in np.ndenumerate(auc):
            ax.text(j, i, f"{100 * value:.1f}", ha="center", va="center", color="w")
        ax.set_xticks(range(len(scales)), [f"{s:g}" for s in scales])
        ax.set_yticks(range(len(margins)), [f"{m:g}" for m in margins])
        ax.set(xlabel="CosFace scale s", ylabel="CosFace margin m",
               title=f"mean AUC (%), {record['train_people']} people, 3 folds by person")
        fig.colorbar(image, ax=ax)
        save(fig, "lfw_cosface_grid_auc.png")
    for path in written:
        print(f"wrote {path}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("run", "plot"))
    parser.add_argument("--studies", nargs="+", default=[*SWEEPS, "grid"],
                        choices=[*SWEEPS, "grid"])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--grid-epochs", type=int, default=2,
                        help="epochs of each of the grid search's 27 fits")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-images", type=int, default=2,
                        help="train on the people with at least this many images")
    parser.add_argument("--lfw", help="the LFW arrays (.npz or its folder)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--out", type=Path, default=IMAGES, help="where plot writes PNGs")
    parser.add_argument("--quick", action="store_true",
                        help="150 people, 1 epoch, the first point of each study")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs = args.grid_epochs = 1
    return run(args) if args.action == "run" else plot(args)


if __name__ == "__main__":
    sys.exit(main())

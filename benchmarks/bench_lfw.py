"""LFW verification, person-disjoint: every method with the same backbone, data and recipe.

    python benchmarks/bench_lfw.py view1 [--methods ...] [--seeds 0 1 2] [--epochs 24]
    python benchmarks/bench_lfw.py view2 --methods cosface [--folds 0 1 ...] [--epochs 24]
    python benchmarks/bench_lfw.py view1 --methods softmax --set random_shift=0.05 lr=0.004
    python benchmarks/bench_lfw.py report            # the markdown tables of all results so far
    python benchmarks/bench_lfw.py norms --methods softmax ring-softmax --seeds 0 1 --epochs 24
    python benchmarks/bench_lfw.py pairs --methods softmax --seeds 0 1 2 --epochs 24 \
        --set "backbone__widths=(32,64,256)"      # minus the same seeds' default runs
    python benchmarks/bench_lfw.py pairs --methods ring-softmax --seeds 0 1 2 --epochs 24 \
        --against softmax                         # minus the same seeds' softmax runs
    python benchmarks/bench_lfw.py view1 --methods c-contrastive --epochs 6 --init softmax \
        --set lr=2e-4                               # fine-tunes the softmax run's network
    python benchmarks/bench_lfw.py view1 --quick     # tiny run (used by the tests)

- **View 1** (development): train on every image of the people who appear in no pair of
  ``pairsDevTest``; verify its 1,000 pairs. Reported: accuracy at the threshold the
  :class:`~hypersphere_sklearn.CosineVerifier` calibrated on the training identities held out
  of training (``calibration_holdout``), the LFW 10-fold accuracy on the same pairs, the AUC,
  and TAR at FAR 1e-2 and 1e-3.
- **View 2** (reporting): for fold k, train on the people absent from fold k's pairs, score
  all 6,000 pairs with that model, and take fold k's accuracy at the threshold chosen on the
  other nine folds (the standard LFW figure is the mean ± std over k).

Every finished run is appended as one JSON line to ``--results``
(``benchmarks/results/lfw.jsonl``), keyed by protocol, method, seed, fold and recipe; a run
already there is skipped, so an interrupted View 2 resumes at the next fold. Methods are
trained with the library's defaults except ``max_epochs`` (``--epochs``), what ``--set``
changes (the recipe, or a method's own parameter such as L2-softmax's ``alpha``) and, with
``--init``, the starting backbone, on the CPU or on the GPU when there is one
(``--device``). Each result records its recipe (:data:`RECIPE`, the backbone's and the
optimizer's arguments where ``--set`` gives them, such as ``backbone__embedding_bn=False``,
and the method's own parameters where they differ from their defaults); the report groups runs by
method, epochs and recipe, the recipe written as its changes from the library's current defaults.

``--networks N`` trains N networks per run, the run's seed and the next ones, and averages
their cosines (:class:`~hypersphere_sklearn.EnsembleEmbedder`); its first network is the
single run of that seed, reused when saved, and each network is saved as it is trained.

Each run's fitted embedder is saved beside the results (``models/<key>.safetensors``, not
under version control). ``--init METHOD`` fine-tunes instead of training from scratch, as the
NormFace paper trains its agent-based losses: the backbone starts from METHOD's saved model of
the same protocol, seed and fold, trained for ``--init-epochs`` epochs with the recipe changes
``--init-set`` (run that first); the loss head starts afresh, or with ``--init-head`` at
the saved run's head (its class weights, and bias where both heads have one: the paper's
agents start from the softmax classifier's), and
``--set`` changes the fine-tuning's own recipe (a lower ``lr``, say). A run whose recipe
differs from a saved run only in test-time parameters (:data:`TEST_TIME`: ``--set
flip_fusion=True``) is not trained again: that run's network is scored with them, and the
record names it (``scored_on``).

``norms`` prints the distribution of the raw feature norms (before normalisation) that the
saved networks of View 1 runs give the 1,000 test pairs' images, with Ring loss's learned
radius; ``--methods``, ``--seeds``, ``--epochs`` and ``--set`` name the runs, as when they
were trained. ``pairs`` names View 1 runs the same way and prints each one minus the same
method and seed's run with the defaults (or, with ``--against softmax``, softmax's), and the
mean of those paired differences with its standard error, from the results of ``--results``
and ``--pair-results``.
"""

import argparse
import ast
import hashlib
import json
import sys
from collections import defaultdict
from datetime import date
from pathlib import Path

import numpy as np
import torch
from sklearn.pipeline import Pipeline
from skorch.callbacks import Callback

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_description, timed  # noqa: E402

from hypersphere_sklearn import (  # noqa: E402
    ArcFaceEmbedder,
    CContrastiveEmbedder,
    CosFaceEmbedder,
    CosineVerifier,
    CTripletEmbedder,
    EnsembleEmbedder,
    L2SoftmaxEmbedder,
    NormFaceEmbedder,
    RingLossEmbedder,
    SoftmaxEmbedder,
    SphereFaceEmbedder,
    SphereFaceREmbedder,
    load,
)
from hypersphere_sklearn.datasets import load_lfw_arrays  # noqa: E402
from hypersphere_sklearn.datasets._lfw import people_outside  # noqa: E402
from hypersphere_sklearn.metrics import (  # noqa: E402
    accepts,
    kfold_accuracy,
    pair_similarity,
    verification_report,
)
from hypersphere_sklearn.verification import Embeddings  # noqa: E402

#: name -> (embedder class, its method's parameters); everything else is the library default.
METHODS = {
    "softmax": (SoftmaxEmbedder, {}),
    "normface": (NormFaceEmbedder, {}),
    "normface-learned-scale": (NormFaceEmbedder, {"learn_scale": True}),
    "c-contrastive": (CContrastiveEmbedder, {}),
    "c-triplet": (CTripletEmbedder, {}),
    "l2-softmax": (L2SoftmaxEmbedder, {}),
    "ring-softmax": (RingLossEmbedder, {}),
    "sphereface-r-v1": (SphereFaceREmbedder, {"version": "v1"}),
    "sphereface-r-v2": (SphereFaceREmbedder, {"version": "v2"}),
    "sphereface-r-v2-soft": (SphereFaceREmbedder, {"version": "v2", "feature_norm": "soft"}),
    "sphereface-r-v2-none": (SphereFaceREmbedder, {"version": "v2", "feature_norm": "none"}),
    "sphereface": (SphereFaceEmbedder, {}),
    "cosface": (CosFaceEmbedder, {}),
    "arcface": (ArcFaceEmbedder, {}),
}
DEFAULT_RESULTS = Path(__file__).resolve().parent / "results" / "lfw.jsonl"
FARS = (1e-2, 1e-3)


#: The training recipe: the embedder parameters a result depends on besides the method's own.
RECIPE = ("backbone", "embedding_dim", "batch_size", "lr", "weight_decay", "lr_schedule",
          "random_flip", "random_shift", "flip_fusion", "calibration_holdout", "mixed_precision")
#: The prefixes of skorch-style arguments a run may set (``--set backbone__embedding_bn=False``,
#: ``--set "optimizer__param_groups=[('radius', {'lr': 0.02})]"``); set, they enter its recipe.
PREFIXED = ("backbone__", "optimizer__")
#: Recipe parameters that change only how a trained network embeds, not its training: a run
#: that differs from a saved run only in these is scored on that run's model, not retrained.
TEST_TIME = ("flip_fusion",)
#: What the recipe was before it was recorded with each result (results without "recipe").
FIRST_RECIPE = {"backbone": "auto", "embedding_dim": None, "batch_size": 64, "lr": 2e-3,
                "weight_decay": 5e-4, "lr_schedule": "cosine", "random_flip": True,
                "random_shift": 0.0, "flip_fusion": False, "calibration_holdout": 0.2,
                "mixed_precision": None}


#: A method's own parameters (``alpha``, ``margin``, ...) enter a run's recipe where they
#: differ from their defaults. When such a default changes, its earlier value goes here,
#: keyed ``(method, name)``, so that the runs recorded before keep their keys.
FIRST_OWN = {("c-triplet", "hardest_negative"): False}  # True since 2026-12-02


def own_parameters(method):
    """The method's own parameters and their defaults here: its estimator's parameters
    beyond those every embedder has (``--set`` may change them too)."""
    cls, params = METHODS[method]
    common = SoftmaxEmbedder().get_params(deep=False)
    return {name: value for name, value in cls(**params).get_params(deep=False).items()
            if name not in common}


def first_own(method):
    """The method's own parameters as a recorded run that does not name them had them."""
    return {name: FIRST_OWN.get((method, name), default)
            for name, default in own_parameters(method).items()}


def run_recipe(method, embedder):
    """What a run of ``method`` depends on besides its seed, epochs and data: the recipe, and
    the method's own parameters where they differ from their first defaults."""
    current = embedder.get_params(deep=False)
    changed = {name: current[name] for name, first in first_own(method).items()
               if current[name] != first}
    return {**recipe_of(embedder), **changed}


def make_embedder(method, seed, epochs, device="auto", verbose=0, overrides=None):
    """The method's embedder with the library defaults, except ``overrides`` (``--set``)."""
    cls, params = METHODS[method]
    return cls(max_epochs=epochs, random_state=seed, device=device, verbose=verbose,
               **params, **(overrides or {}))


def recipe_of(embedder):
    """The :data:`RECIPE` parameters, and the :data:`PREFIXED` arguments a run sets."""
    params = embedder.get_params()
    return {name: value for name, value in params.items()
            if name in RECIPE or name.startswith(PREFIXED)}


def default_recipe():
    """The recipe of the library's current defaults, against which recipes are labelled."""
    return recipe_of(make_embedder("softmax", 0, 1))


def recipe_label(recipe, reference):
    """The recipe as the parameters where it differs from ``reference`` (the defaults)."""
    changed = [f"{k}={v!r}" for k, v in sorted(recipe.items()) if v != reference.get(k)]
    return ", ".join(changed) or "defaults"


def recipe_key(protocol, method, seed, fold, epochs, recipe, subset):
    """A run's identity; the recipe enters as its changes from FIRST_RECIPE, so the results
    recorded before recipes were keep their keys."""
    changed = {k: v for k, v in recipe.items() if v != FIRST_RECIPE.get(k)}
    identity = json.dumps([protocol, method, seed, fold, epochs, changed, subset],
                          sort_keys=True, default=str)
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


def model_path(results, key):
    """Where the fitted embedder of the run ``key`` is saved."""
    return Path(results).parent / "models" / f"{key}.safetensors"


class StartHead(Callback):
    """Starts the loss head at a trained run's head, as the NormFace paper starts its agents
    from the softmax classifier's weights (the same training people, in the same order):
    every parameter the two heads share by name and shape is copied (the class weights, and
    the bias where both have one); the others keep their fresh start."""

    def __init__(self, parameters, classes):
        self.parameters, self.classes = parameters, classes

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        if not np.array_equal(net.training_classes_, self.classes):
            raise SystemExit("--init-head: the fine-tuning trains on other people than the "
                             "--init run did; give both the same calibration_holdout")
        shared = [(name, p) for name, p in net.criterion_.named_parameters()
                  if name in self.parameters and self.parameters[name].shape == p.shape]
        if "weight" not in dict(shared):
            raise SystemExit(f"--init-head: {type(net.criterion_).__name__} has no class "
                             "weights named as the --init run's head's; fine-tune it without "
                             "--init-head")
        with torch.no_grad():
            for name, p in shared:
                p.copy_(self.parameters[name])


class SavedNetworks(EnsembleEmbedder):
    """``--networks N``: an :class:`~hypersphere_sklearn.EnsembleEmbedder` whose networks are
    saved under ``models/`` as they are trained and loaded when a later run needs one trained
    the same way. The first network is the method's single run of that seed (so a single
    run's saved network is reused); network ``i`` has seed ``seed + i`` and trains on the
    first one's training identities. ``run`` is ``(results, protocol, method, fold, epochs,
    subset)``; it is not a parameter (set after construction, lost by ``clone``)."""

    run = None

    def member_path(self, index, member):
        results, protocol, method, fold, epochs, subset = self.run
        recipe = {**run_recipe(method, member),
                  **{name: FIRST_RECIPE[name] for name in TEST_TIME}}
        if index:  # it trains on the identities the first network did not hold out
            recipe["holdout_of_seed"] = self.random_state
            share = self.estimator.calibration_holdout
            if share != FIRST_RECIPE["calibration_holdout"]:  # (keys of the default unchanged)
                recipe["holdout_of_share"] = share
        key = recipe_key(protocol, method, member.random_state, fold, epochs, recipe, subset)
        return model_path(results, key)

    def fit_member(self, index, member, X, y):
        path = self.member_path(index, member)
        test_time = {name: member.get_params()[name] for name in TEST_TIME}
        if path.exists():
            print(f"  network {index} (seed {member.random_state}): loaded from {path.name}",
                  flush=True)
            return load(path, device=member.device, **test_time)
        fitted = super().fit_member(index, member, X, y)
        fitted.set_params(**{name: FIRST_RECIPE[name] for name in TEST_TIME}).save(path)
        return fitted.set_params(**test_time)


def network_seconds(ensemble):
    """Each network's training time: the sum of its epochs' times (skorch's ``dur``)."""
    return [round(float(sum(member.history_[:, "dur"])), 1) for member in ensemble.estimators_]


def run_key(args, protocol, method, seed, fold, epochs, sets):
    """``(key, embedder, recipe)``: the key of the run trained with the ``--set`` texts
    ``sets``, and the unfitted embedder and recipe it is trained with."""
    overrides = dict(parse_override(text) for text in sets)
    base = make_embedder(method, seed, epochs, args.device, 0, overrides)
    recipe = run_recipe(method, base)
    subset = "quick" if args.quick else "all"
    return recipe_key(protocol, method, seed, fold, epochs, recipe, subset), base, recipe


def saved_run(args, protocol, method, seed, fold, epochs, sets, option):
    """``(path, embedder, recipe)``: where the model of that run (trained with the ``--set``
    texts ``sets``) is saved, and the unfitted embedder and recipe it was trained with; or,
    when there is no such model, SystemExit naming ``option`` and the command that trains it."""
    key, base, recipe = run_key(args, protocol, method, seed, fold, epochs, sets)
    path = model_path(args.results, key)
    if not path.exists():
        recorded = key in {record["key"] for record in read_results(args.results)}
        command = " ".join(
            [f"bench_lfw.py {protocol} --methods {method} --epochs {epochs}",
             f"--seeds {seed}"] + ([f"--folds {fold}"] if fold is not None else [])
            + (["--set", *sets] if sets else [])
            + (["--quick"] if args.quick else []) + [f"--results {args.results}"])
        why = ("that run is in the results but was recorded before models were saved: remove "
               "its line from the results file, then train it again" if recorded
               else "train it first")
        raise SystemExit(f"{option} {method}: no saved model of that run ({path}); {why}: "
                         f"{command}")
    return path, base, recipe


def initial_network(args, protocol, seed, fold):
    """``(backbone, spec, label, callbacks)``: the trained backbone of ``--init``'s saved run,
    the ``backbone`` parameter it was built from, how the fine-tuning's recipe names it, and
    with ``--init-head`` the callback that starts the head at that run's head."""
    path, base, recipe = saved_run(args, protocol, args.init, seed, fold, args.init_epochs,
                                   args.init_set, "--init")
    changes = recipe_label(recipe, default_recipe())
    label = f"from {args.init}" + (f" ({changes})" if changes != "defaults" else "")
    trained = load(path, device="cpu")
    callbacks = None
    if args.init_head:
        label += " with its head"
        callbacks = [("start_head", StartHead({name: p.detach().clone() for name, p in
                                                 trained.criterion_.named_parameters()},
                                                trained.training_classes_))]
    return trained.module_[1], base.backbone, f"{label}, epoch {args.init_epochs}", callbacks


def trained_twin(records, results, protocol, method, seed, fold, epochs, recipe, quick):
    """The recorded run trained exactly as this one (it differs at most in :data:`TEST_TIME`
    parameters) whose model is saved, or None."""
    def training(run_recipe):
        return {k: v for k, v in run_recipe.items() if k not in TEST_TIME}

    for record in records:
        if ((record["protocol"], record["method"], record["seed"], record["fold"],
             record["epochs"], record.get("quick", False)) == (protocol, method, seed, fold,
                                                                epochs, quick)
                and training(record.get("recipe", FIRST_RECIPE)) == training(recipe)
                and model_path(results, record["key"]).exists()):
            return record
    return None


def read_results(path):
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def append_result(path, record):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as file:
        file.write(json.dumps(record, sort_keys=True) + "\n")


def quick_subset(X, y, n_images=600):
    """The first ``n_images`` images of people with at least 4 (a tiny training set)."""
    people = np.unique(y)[np.bincount(y)[np.unique(y)] >= 4]
    keep = np.flatnonzero(np.isin(y, people))[:n_images]
    return X[keep], y[keep]


def fit_pipeline(embedder, X, y):
    """The embedder and a verifier calibrated on the identities it held out of training."""
    pipe = Pipeline([("embed", embedder), ("verify", CosineVerifier())])
    seconds, _ = timed(lambda: pipe.fit(X, y))
    return pipe, seconds


def score_saved_model(embedder, twin, results, X, y):
    """The network of the run ``twin`` with ``embedder``'s test-time parameters, and the
    threshold its pipeline's verifier calibrates with them on the identities held out of
    training (as :func:`fit_pipeline` does, without training again)."""
    test_time = {name: embedder.get_params()[name] for name in TEST_TIME}
    embed = load(model_path(results, twin["key"]), device=embedder.device, **test_time)
    held_out = Embeddings(embed.transform(X), np.isin(y, embed.holdout_classes_))
    return embed, CosineVerifier().fit(held_out, y).threshold_


def pair_scores(embedder, images, pairs):
    """Cosine similarity of each pair, embedding every image used once."""
    used = np.unique(pairs)
    return pair_similarity(embedder.transform(images[used]), np.searchsorted(used, pairs))


def stratified_folds(same, n_folds=10):
    """Ten folds of consecutive same and of consecutive different pairs (View 1's files list
    all same pairs first, so plain consecutive folds would hold one kind each)."""
    folds = np.empty(len(same), dtype=int)
    for kind in (True, False):
        where = np.flatnonzero(same == kind)
        folds[where] = np.arange(len(where)) * n_folds // max(len(where), 1)
    return folds


def report_dict(scores, same, threshold, kfold=True):
    """Verification figures; with ``kfold`` also the LFW 10-fold accuracy of these pairs."""
    folds = stratified_folds(same) if kfold else None
    report = verification_report(scores, same, threshold=threshold, fars=FARS, folds=folds)
    if kfold:
        folded = report.pop("kfold")
        report["kfold_mean"], report["kfold_std"] = folded.mean, folded.std
    return {key: float(value) for key, value in report.items()}


def train_set(lfw, protocol, fold):
    if protocol == "view1":
        return people_outside(lfw.view1_test.pairs, lfw.target)
    return people_outside(lfw.view2.pairs[lfw.view2.fold == fold], lfw.target)


def training_threshold(embedder, X, y):
    """The threshold a verifier calibrates on the training identities' images, for comparing
    with the default (calibrated on the identities held out of training)."""
    trained = np.isin(y, embedder.training_classes_)
    return float(CosineVerifier().fit(embedder.transform(X[trained]), y[trained]).threshold_)


def run_one(lfw, protocol, fold, embedder, quick, twin=None, results=None):
    """``(record, fitted embedder)`` of one run: trained, or with ``twin`` (a recorded run
    trained the same way) that run's saved network scored with this run's test-time recipe."""
    mask = train_set(lfw, protocol, fold)
    X, y = lfw.images[mask], lfw.target[mask]
    if quick:
        X, y = quick_subset(X, y)
    if twin is None and isinstance(embedder, EnsembleEmbedder):
        pipe, _ = fit_pipeline(embedder, X, y)  # its networks may have been loaded
        embed, threshold = pipe.named_steps["embed"], pipe.named_steps["verify"].threshold_
        seconds = network_seconds(embed)
        record = {"train_seconds": round(sum(seconds), 1), "network_seconds": seconds,
                  "epochs_run": len(embed.estimators_[0].history_),
                  "final_loss": float(np.mean([member.history_[-1, "train_loss"]
                                               for member in embed.estimators_]))}
    elif twin is None:
        pipe, seconds = fit_pipeline(embedder, X, y)
        embed, threshold = pipe.named_steps["embed"], pipe.named_steps["verify"].threshold_
        record = {"train_seconds": round(seconds, 1), "epochs_run": len(embed.history_),
                  "final_loss": embed.history_[-1, "train_loss"]}
    else:
        embed, threshold = score_saved_model(embedder, twin, results, X, y)
        record = {"scored_on": twin["key"], **{name: twin[name] for name in (
            "train_seconds", "epochs_run", "final_loss")}}
    record.update({"train_images": len(X), "train_people": int(len(np.unique(y))),
                   "threshold": float(threshold),
                   "threshold_training": training_threshold(embed, X, y)})
    if protocol == "view1":
        scores, same = pair_scores(embed, lfw.images, lfw.view1_test.pairs), lfw.view1_test.same
        record.update(report_dict(scores, same, threshold))
    else:
        view2 = lfw.view2
        all_scores = pair_scores(embed, lfw.images, view2.pairs)
        test = view2.fold == fold
        scores, same = all_scores[test], view2.same[test]
        record.update(report_dict(scores, same, threshold, kfold=False))
        others = kfold_accuracy(all_scores, view2.same, view2.fold)
        # this fold's accuracy at the threshold chosen on the nine others
        record["fold_accuracy"] = float(others.accuracies[list(np.unique(view2.fold)).index(fold)])
    record["accuracy_training_threshold"] = float(
        np.mean(accepts(scores, record["threshold_training"]) == same))
    return record, embed


def run_protocol(args):
    lfw = load_lfw_arrays(args.lfw)
    records = read_results(args.results)
    done = {record["key"] for record in records}
    folds = args.folds if args.protocol == "view2" else [None]
    machine = machine_description(args.device if args.device != "auto" else None)
    for fold in folds:
        for method in args.methods:
            for seed in args.seeds:
                embedder = make_embedder(method, seed, args.epochs, args.device, args.verbose,
                                         args.overrides)
                recipe = run_recipe(method, embedder)
                if args.init:  # fine-tuning: the backbone starts from the saved run's
                    backbone, spec, recipe["backbone"], callbacks = initial_network(
                        args, args.protocol, seed, fold)
                    embedder.set_params(backbone=backbone, callbacks=callbacks)
                subset = "quick" if args.quick else "all"
                if args.networks > 1:
                    recipe["networks"] = args.networks
                    embedder = SavedNetworks(embedder, n_estimators=args.networks,
                                             random_state=seed)
                    embedder.run = (args.results, args.protocol, method, fold, args.epochs,
                                    subset)
                key = recipe_key(args.protocol, method, seed, fold, args.epochs, recipe, subset)
                label = f"{args.protocol} {method} seed {seed}" + (
                    f" fold {fold}" if fold is not None else "")
                if key in done:
                    print(f"{label}: already in {args.results}, skipped")
                    continue
                twin = None if args.networks > 1 else trained_twin(
                    records, args.results, args.protocol, method, seed, fold, args.epochs,
                    recipe, args.quick)
                if twin is not None:
                    print(f"{label}: scoring the saved network of run {twin['key']}, trained "
                          "the same way", flush=True)
                record, fitted = run_one(lfw, args.protocol, fold, embedder, args.quick, twin,
                                         args.results)
                if args.init:  # saved as the architecture it is, so that it loads alone
                    fitted.set_params(backbone=spec, callbacks=None)
                if args.networks == 1:  # an ensemble's networks were saved as they trained
                    fitted.save(model_path(args.results, key))
                record.update(key=key, protocol=args.protocol, method=method, seed=seed,
                              fold=fold, epochs=args.epochs, recipe=recipe, quick=args.quick,
                              machine=machine, date=date.today().isoformat())
                append_result(args.results, record)
                records.append(record)
                figure = record.get("fold_accuracy", record["accuracy"])
                print(f"{label}: accuracy {100 * figure:.2f} %  AUC {record['auc']:.4f}  "
                      f"({record['train_seconds']:.0f} s)", flush=True)
    return 0


def raw_feature_norms(embedder, images, batch_size=256):
    """Norms of the backbone's features before normalisation, in eval mode."""
    module = embedder.module_.eval()
    norms = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = torch.from_numpy(images[start:start + batch_size, None]).to(embedder.device)
            norms.append(module(batch).float().norm(dim=1).cpu().numpy())
    return np.concatenate(norms)


def feature_norms(args):
    """Markdown table: the raw feature norms of saved View 1 runs' networks on the images of
    the 1,000 test pairs (percentiles, and Ring loss's learned radius)."""
    lfw = load_lfw_arrays(args.lfw)
    images = lfw.images[np.unique(lfw.view1_test.pairs)]
    reference = default_recipe()
    lines = ["| method | seed | recipe | 5th percentile | median | 95th percentile | "
             "95th / 5th | learned radius R |", "|---|---:|---|---:|---:|---:|---:|---:|"]
    for method in args.methods:
        for seed in args.seeds:
            path, _, recipe = saved_run(args, "view1", method, seed, None, args.epochs,
                                        args.set_texts, "norms")
            fitted = load(path, device="cpu")
            low, median, high = np.percentile(raw_feature_norms(fitted, images), [5, 50, 95])
            radius = getattr(fitted.criterion_, "radius", None)
            lines.append(
                f"| {method} | {seed} | {recipe_label(recipe, reference)} | {low:.2f} | "
                f"{median:.2f} | {high:.2f} | {high / low:.2f} | "
                f"{'–' if radius is None else f'{radius.item():.2f}'} |")
    return "\n".join(lines)


#: The metrics a paired comparison reports, as (record field, column name).
PAIRED = (("accuracy", "calibrated"), ("kfold_mean", "10-fold"), ("auc", "AUC"),
          ("tar@far=0.01", "TAR@FAR=1e-2"), ("tar@far=0.001", "TAR@FAR=1e-3"))


def paired_differences(args):
    """Markdown table: for each of ``--methods`` and ``--seeds``, the View 1 run with ``--set``
    minus the same seed's run with the library's defaults (of the same method, or with
    ``--against`` of that method), in points; then the mean difference, its standard error
    (the differences' sample standard deviation / sqrt(n)) and their ratio t. Runs are looked
    up by key in ``--results`` and ``--pair-results``."""
    records = {}
    for path in [args.results, *args.pair_results]:
        for record in read_results(path):
            records.setdefault(record["key"], record)
    names = " | ".join(name for _, name in PAIRED)
    lines = [f"| method | seed | {names} |", "|---|---:|" + "---:|" * len(PAIRED)]
    for method in args.methods:
        differences = []
        for seed in args.seeds:
            runs = [records.get(run_key(args, "view1", name, seed, None, args.epochs,
                                        sets)[0])
                    for name, sets in ((args.against or method, []), (method, args.set_texts))]
            if None in runs:
                if runs[0] is None:
                    which = f"{args.against}'s run" if args.against else "the defaults' run"
                else:
                    which = "the --set run" if args.set_texts else f"{method}'s run"
                lines.append(f"| {method} | {seed} | {which} is not in the results |"
                             + " |" * (len(PAIRED) - 1))
                continue
            base, changed = runs
            differences.append([100 * (changed[f] - base[f]) for f, _ in PAIRED])
            lines.append(f"| {method} | {seed} | "
                         + " | ".join(f"{d:+.2f}" for d in differences[-1]) + " |")
        if len(differences) > 1:
            values = np.asarray(differences)
            mean = values.mean(axis=0)
            error = values.std(axis=0, ddof=1) / np.sqrt(len(values))
            t = np.divide(mean, error, out=np.where(mean != 0, np.inf, np.nan), where=error > 0)
            lines.append(f"| {method} | mean of {len(values)} (s.e., t) | " + " | ".join(
                f"{m:+.2f} ({e:.2f}, {abs(r):.1f})" for m, e, r in zip(mean, error, t, strict=True))
                + " |")
    return "\n".join(lines)


def mean_std(values):
    values = np.asarray(values, dtype=float)
    if len(values) == 1:
        return f"{100 * values[0]:.2f}"
    return f"{100 * values.mean():.2f} ± {100 * values.std():.2f}"


def training_calibrated(runs):
    """Accuracy at the threshold calibrated on the training identities (newer runs only)."""
    values = [r["accuracy_training_threshold"] for r in runs
              if "accuracy_training_threshold" in r]
    return mean_std(values) if len(values) == len(runs) else "–"


def report(results, quick=False):
    """Markdown tables: View 1 per method (mean ± std over seeds), View 2 per method."""
    groups = defaultdict(list)
    reference = default_recipe()
    for record in results:
        if record.get("quick", False) == quick:
            method = record["method"]
            recipe = recipe_label({**first_own(method), **record.get("recipe", FIRST_RECIPE)},
                                  {**reference, **own_parameters(method)})
            groups[record["protocol"], record["method"], record["epochs"], recipe].append(record)
    lines = []
    view1 = sorted(key for key in groups if key[0] == "view1")
    if view1:
        lines += ["| method | epochs | recipe | seeds | accuracy (calibrated) % | 10-fold % | "
                  "AUC % | TAR@FAR=1e-2 % | TAR@FAR=1e-3 % | train s | "
                  "accuracy (calibrated on training ids) % |",
                  "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        order = list(METHODS)
        for key in sorted(view1, key=lambda k: (k[2], k[3], order.index(k[1])
                                                if k[1] in order else 99)):
            runs = groups[key]
            lines.append(
                f"| {key[1]} | {key[2]} | {key[3]} | {len(runs)} | "
                f"{mean_std([r['accuracy'] for r in runs])} | "
                f"{mean_std([r['kfold_mean'] for r in runs])} | "
                f"{mean_std([r['auc'] for r in runs])} | "
                f"{mean_std([r['tar@far=0.01'] for r in runs])} | "
                f"{mean_std([r['tar@far=0.001'] for r in runs])} | "
                f"{np.mean([r['train_seconds'] for r in runs]):.0f} | "
                f"{training_calibrated(runs)} |")
    view2 = sorted(key for key in groups if key[0] == "view2")
    if view2:
        lines += ["", "| method | epochs | recipe | folds done | accuracy % (mean ± std over "
                  "folds) | accuracy (calibrated) % | AUC % | train s per fold | "
                  "accuracy (calibrated on training ids) % |",
                  "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
        for key in view2:
            runs = sorted(groups[key], key=lambda r: r["fold"])
            lines.append(
                f"| {key[1]} | {key[2]} | {key[3]} | {len(runs)} "
                f"({', '.join(str(r['fold']) for r in runs)}) | "
                f"{mean_std([r['fold_accuracy'] for r in runs])} | "
                f"{mean_std([r['accuracy'] for r in runs])} | "
                f"{mean_std([r['auc'] for r in runs])} | "
                f"{np.mean([r['train_seconds'] for r in runs]):.0f} | "
                f"{training_calibrated(runs)} |")
    return "\n".join(lines)


def parse_override(text):
    name, _, value = text.partition("=")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value  # a plain string such as backbone=sphere10


def check_overrides(option, overrides, methods, parser):
    """Each name set is a recipe parameter or one of every method's own parameters."""
    for name in overrides:
        if name.startswith(PREFIXED):
            continue  # an argument of the backbone or optimizer, checked when it is built
        lacking = [method for method in methods
                   if name not in RECIPE and name not in own_parameters(method)]
        if lacking:
            own = ", ".join(own_parameters(lacking[0])) or "none"
            parser.error(f"{option} {name}: not a recipe parameter ({', '.join(RECIPE)}) nor "
                         f"one of {lacking[0]}'s own ({own}); set a method's own parameter "
                         "only with --methods that have it")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("protocol", choices=("view1", "view2", "report", "norms", "pairs"),
                        help="train and score View 1 or View 2 runs, print the results "
                             "(report), print the feature norms of saved View 1 runs "
                             "(norms: --methods, --seeds, --epochs and --set name the runs), "
                             "or print the View 1 runs with --set minus the same seeds' runs "
                             "with the defaults (pairs)")
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), metavar="METHOD",
                        help=f"any of: {', '.join(METHODS)} (default: all)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--folds", nargs="+", type=int, default=list(range(10)),
                        help="View 2 folds to run (0..9)")
    parser.add_argument("--epochs", type=int, default=NormFaceEmbedder().max_epochs,
                        help="training epochs (default: the library's max_epochs)")
    parser.add_argument("--set", dest="overrides", nargs="+", default=[], metavar="NAME=VALUE",
                        help="change the recipe or the methods' own parameters, e.g. --set "
                             "random_shift=0.05 alpha=32.0 backbone__embedding_bn=False "
                             "(Python literals)")
    parser.add_argument("--init", choices=list(METHODS), metavar="METHOD",
                        help="fine-tune from METHOD's saved model of the same run")
    parser.add_argument("--init-epochs", type=int, default=NormFaceEmbedder().max_epochs,
                        help="the epochs of the --init run (default: the library's)")
    parser.add_argument("--init-set", nargs="+", default=[], metavar="NAME=VALUE",
                        help="the --set of the --init run (default: none)")
    parser.add_argument("--init-head", action="store_true",
                        help="with --init, start the loss head at the --init run's head "
                             "too (class weights and shared bias: the NormFace paper's "
                             "agents)")
    parser.add_argument("--networks", type=int, default=1,
                        help="train N networks per run (seeds seed, seed+1, ...) and average "
                             "their cosines (EnsembleEmbedder); the first is the single run "
                             "of that seed, and its saved network is reused")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--lfw", help="the LFW arrays (.npz or its folder)")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--pair-results", type=Path, nargs="+", default=[], metavar="FILE",
                        help="pairs: more results files to look the runs up in")
    parser.add_argument("--against", choices=list(METHODS), metavar="METHOD",
                        help="pairs: subtract METHOD's runs with the defaults (softmax, say) "
                             "instead of each method's own")
    parser.add_argument("--verbose", type=int, default=0, help="print each epoch (1)")
    parser.add_argument("--quick", action="store_true",
                        help="600 training images, 1 epoch, 2 methods, fold 0 (for the tests)")
    args = parser.parse_args(argv)
    args.set_texts = args.overrides
    args.overrides = dict(parse_override(text) for text in args.overrides)
    if args.init and any(name.split("__")[0] == "backbone" for name in args.overrides):
        parser.error("--init takes the backbone from the --init run; name that run's backbone "
                     "with --init-set backbone=... (or backbone__...=...)")
    if args.networks < 1 or (args.networks > 1 and args.init):
        parser.error("--networks must be >= 1, and fine-tuning (--init) trains one network")
    if args.protocol != "pairs" and (args.against or args.pair_results):
        parser.error("--against and --pair-results name the runs that pairs compares: use "
                     "them with the pairs protocol only")
    if args.init_head and not args.init:
        parser.error("--init-head starts the head at the --init run's weights: name that run "
                     "with --init METHOD")
    if args.quick and args.protocol != "report":
        args.epochs, args.init_epochs, args.folds = 1, 1, args.folds[:1]
        args.methods = args.methods or ["softmax", "cosface"]
    args.methods = args.methods or list(METHODS)
    check_overrides("--set", args.overrides, args.methods, parser)
    check_overrides("--init-set", dict(parse_override(text) for text in args.init_set),
                    [args.init] if args.init else [], parser)
    if args.protocol == "report":
        print(report(read_results(args.results), quick=args.quick))
        return 0
    if args.protocol == "norms":
        print(feature_norms(args))
        return 0
    if args.protocol == "pairs":
        print(paired_differences(args))
        return 0
    print(f"# {args.protocol}, {args.epochs} epochs, machine: "
          f"{machine_description(args.device if args.device != 'auto' else None)}")
    return run_protocol(args)


if __name__ == "__main__":
    sys.exit(main())

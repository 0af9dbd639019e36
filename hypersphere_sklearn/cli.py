"""The ``hypersphere-sklearn`` command line: train, embed, evaluate, demo.

Every command has ``--help``; bad arguments and bad files end with a one-line error.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from . import embedders
from .verification import CosineVerifier

METHODS = {
    "softmax": embedders.SoftmaxEmbedder,
    "normface": embedders.NormFaceEmbedder,
    "c-contrastive": embedders.CContrastiveEmbedder,
    "c-triplet": embedders.CTripletEmbedder,
    "l2-softmax": embedders.L2SoftmaxEmbedder,
    "ring": embedders.RingLossEmbedder,
    "cosface": embedders.CosFaceEmbedder,
    "arcface": embedders.ArcFaceEmbedder,
    "sphereface": embedders.SphereFaceEmbedder,
    "sphereface-r": embedders.SphereFaceREmbedder,
}


class CommandError(Exception):
    """A problem the user can fix, reported as one line."""


def say(message):
    print(message, flush=True)


# -- data ------------------------------------------------------------------------------------------
def load_images(source, lfw_path=None):
    """``(images, labels, description)`` from a named dataset or a file.

    ``olivetti`` (bundled), ``lfw`` (every LFW image), ``lfw-view1-train`` (the people in no
    pair of View 1's test set), a ``.npz`` with ``images`` and ``target`` (or ``X``, ``y``), or
    a ``.npy`` of images (no labels).
    """
    from .datasets import load_lfw_arrays, load_olivetti_faces
    from .datasets._lfw import people_outside

    if source == "olivetti":
        images, target = load_olivetti_faces(return_X_y=True)
        return images, target, "Olivetti faces (bundled)"
    if source in ("lfw", "lfw-view1-train"):
        lfw = load_lfw_arrays(lfw_path)
        if source == "lfw":
            return lfw.images, lfw.target, "LFW (all images)"
        keep = people_outside(lfw.view1_test.pairs, lfw.target)
        return lfw.images[keep], lfw.target[keep], "LFW people outside View 1's test pairs"
    path = Path(source)
    if path.is_dir():
        from .datasets import load_image_folder

        folder = load_image_folder(path)
        return folder.paths, folder.target, f"image folder {path}"
    if not path.is_file():
        raise CommandError(
            f"no data {source!r}: use olivetti, lfw, lfw-view1-train, an image folder "
            "(<root>/<identity>/<image>), or a .npz/.npy file."
        )
    if path.suffix == ".npy":
        return np.load(path, allow_pickle=False), None, str(path)
    with np.load(path, allow_pickle=False) as data:
        keys = set(data.files)
        for x_key, y_key in (("images", "target"), ("X", "y")):
            if {x_key, y_key} <= keys:
                return data[x_key], data[y_key], str(path)
    raise CommandError(f"{path} holds {sorted(keys)}; expected images and target (or X and y).")


def load_model(path):
    """A pipeline saved by ``train``, in the safe format: loading it runs no code from it."""
    from .persistence import load

    model = load(path)
    if not (hasattr(model, "steps") and hasattr(model[-1], "threshold_")):
        raise CommandError(f"{path} holds a {type(model).__name__}, not a fitted pipeline "
                           "saved by 'hypersphere-sklearn train'.")
    return model


# -- commands ---------------------------------------------------------------------------------
def build_embedder(args):
    options = {"max_epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
               "random_state": args.seed, "device": args.device, "backbone": args.backbone,
               "embedding_dim": args.embedding_dim, "verbose": 1}
    for name in ("scale", "margin"):
        value = getattr(args, name)
        if value is not None:
            if name not in METHODS[args.method]().get_params():
                raise CommandError(f"--{name} is not a parameter of --method {args.method}.")
            options[name] = value
    if getattr(args, "image_size", None):
        from .datasets import ImageLoader

        options["image_loader"] = ImageLoader(size=(args.image_size, args.image_size),
                                              color=args.color)
    return METHODS[args.method](**options)


def command_train(args):
    from sklearn.pipeline import Pipeline

    from .persistence import save

    images, labels, description = load_images(args.data, args.lfw)
    if labels is None:
        raise CommandError(f"{args.data} has no labels; training needs identities.")
    say(f"training {args.method} on {description}: {len(images)} images of "
        f"{len(np.unique(labels))} people")
    model = Pipeline([("embed", build_embedder(args)), ("verify", CosineVerifier())])
    model.fit(images, labels)
    verifier = model[-1]
    save(model, args.out)
    say(f"threshold {verifier.threshold_:.4f} (calibrated on {verifier.calibrated_on_}); "
        f"model saved to {args.out}")


def command_embed(args):
    model = load_model(args.model)
    images, _, description = load_images(args.data, args.lfw)
    say(f"embedding {len(images)} images of {description}")
    embeddings = model[:-1].transform(images)
    np.save(args.out, embeddings)
    say(f"saved {embeddings.shape[0]} x {embeddings.shape[1]} embeddings to {args.out}")


def protocol_pairs(protocol, lfw_path, data=None):
    """``(images, pairs, same, folds)`` of an evaluation protocol.

    ``pairs`` builds all genuine pairs and as many impostor pairs (seeded) from the labels of
    ``data`` (an image folder or a labelled dataset), in 10 shuffled folds.
    """
    from .datasets import load_lfw_arrays
    from .model_selection import make_pairs

    if protocol == "pairs":
        if data is None:
            raise CommandError("--protocol pairs needs --data (an image folder or a dataset).")
        images, labels, _ = load_images(data, lfw_path)
        if labels is None:
            raise CommandError(f"{data} has no labels to build pairs from.")
        pairs, same = make_pairs(labels, random_state=0)
        folds = np.random.default_rng(0).permutation(len(pairs)) % 10
        return images, pairs, same, folds
    lfw = load_lfw_arrays(lfw_path)
    if protocol == "lfw-view1":
        view = lfw.view1_test
        folds = np.arange(len(view.same)) * 10 // len(view.same)
        return lfw.images, view.pairs, view.same, folds
    return lfw.images, lfw.view2.pairs, lfw.view2.same, lfw.view2.fold


def report(scores, same, folds, threshold, out, name):
    """Print (and return) the verification figures; draw the ROC curve into ``out``."""
    from .metrics import verification_report

    result = verification_report(scores, same, threshold=threshold, folds=folds)
    figures = {
        "accuracy at the model's threshold": result["accuracy"],
        "10-fold accuracy": str(result["kfold"]),
        "AUC": result["auc"],
        "TAR@FAR=1e-2": result["tar@far=0.01"],
        "TAR@FAR=1e-3": result["tar@far=0.001"],
    }
    for key, value in figures.items():
        say(f"  {key:34s} {value if isinstance(value, str) else f'{value:.4f}'}")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        save_roc({name: (scores, same)}, out / "roc.png")
        say(f"  ROC curve written to {out / 'roc.png'}")
    return figures


def save_roc(curves, path):
    import matplotlib
    import matplotlib.pyplot

    matplotlib.use("Agg")
    from .plotting import plot_roc

    ax = plot_roc(curves)
    ax.figure.savefig(path, dpi=120, bbox_inches="tight")
    matplotlib.pyplot.close(ax.figure)


def command_evaluate(args):
    from .metrics import pair_similarity

    model = load_model(args.model)
    images, pairs, same, folds = protocol_pairs(args.protocol, args.lfw, args.data)
    used = np.unique(pairs)
    say(f"evaluating {args.model} on {args.protocol}: {len(pairs)} pairs of {len(used)} images")
    embeddings = model[:-1].transform(np.asarray(images)[used])
    index = np.searchsorted(used, pairs)
    scores = pair_similarity(embeddings, index)
    report(scores, same, folds, model[-1].threshold_, Path(args.out) if args.out else None,
           args.protocol)


def command_demo(args):
    from .demo import run_demo

    run_demo(Path(args.out), quick=args.quick, epochs=args.epochs, seed=args.seed)


# -- parsing ----------------------------------------------------------------------------------
def training_arguments(parser):
    default = embedders.NormFaceEmbedder().get_params()  # one source for the defaults
    parser.add_argument("--method", choices=sorted(METHODS), default="normface")
    parser.add_argument("--scale", type=float, help="the method's scale s")
    parser.add_argument("--margin", type=float, help="the method's margin m")
    parser.add_argument("--epochs", type=int, default=default["max_epochs"])
    parser.add_argument("--batch-size", type=int, default=default["batch_size"])
    parser.add_argument("--lr", type=float, default=default["lr"])
    parser.add_argument("--backbone", default=default["backbone"])
    parser.add_argument("--embedding-dim", type=int)
    parser.add_argument("--device", default=default["device"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image-size", type=int,
                        help="for an image folder: resize every image to this square size")
    parser.add_argument("--color", choices=["grayscale", "rgb"], default="grayscale",
                        help="for an image folder: decode in grayscale or RGB")


def make_parser():
    parser = argparse.ArgumentParser(
        prog="hypersphere-sklearn",
        description="Train, apply and evaluate hypersphere face embeddings.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a model and save it",
                                description="Train an embedder and a CosineVerifier, and save "
                                            "the pipeline in the safe format (safetensors "
                                            "weights, JSON settings; loading runs no code).")
    train.add_argument("--data", default="olivetti",
                       help="olivetti, lfw, lfw-view1-train, an image folder "
                            "(<root>/<identity>/<image>), or a .npz (images, target)")
    train.add_argument("--lfw", help="path of the LFW arrays (.npz or its folder)")
    train.add_argument("--out", default="model.safetensors")
    training_arguments(train)
    train.set_defaults(run=command_train)

    embed = commands.add_parser("embed", help="images to a .npy of embeddings")
    embed.add_argument("--model", required=True, help="a model saved by train")
    embed.add_argument("--data", required=True,
                       help="olivetti, lfw, an image folder, a .npz or a .npy of images")
    embed.add_argument("--lfw", help="path of the LFW arrays")
    embed.add_argument("--out", default="embeddings.npy")
    embed.set_defaults(run=command_embed)

    evaluate = commands.add_parser("evaluate", help="verification figures on a pairs protocol")
    evaluate.add_argument("--model", required=True, help="a model saved by train")
    evaluate.add_argument("--protocol", choices=["lfw-view1", "lfw-view2", "pairs"],
                          default="lfw-view1",
                          help="LFW View 1 test pairs, View 2's ten folds, or pairs built "
                               "from the labels of --data")
    evaluate.add_argument("--data", help="for --protocol pairs: an image folder or a dataset")
    evaluate.add_argument("--lfw", help="path of the LFW arrays")
    evaluate.add_argument("--out", help="folder for the ROC plot")
    evaluate.set_defaults(run=command_evaluate)

    demo = commands.add_parser(
        "demo", help="the methods compared on the bundled Olivetti faces",
        description="Person-disjoint demo on the bundled Olivetti faces: a short grid search "
                    "over scale and margin for a few methods, their verification results "
                    "against the softmax baseline, and plots, written to --out.")
    demo.add_argument("--out", default="demo-output")
    demo.add_argument("--epochs", type=int, default=10)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--quick", action="store_true", help="tiny run (seconds), for testing")
    demo.set_defaults(run=command_demo)
    return parser


def main(argv=None):
    parser = make_parser()
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        args.run(args)
    except (CommandError, ValueError, FileNotFoundError, ImportError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        print(f"hypersphere-sklearn {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hypersphere-sklearn {args.command}: interrupted", file=sys.stderr)
        return 130
    say(f"done in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

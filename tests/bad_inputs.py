"""Every bad input the tests try, with the error it gives: the source of ``docs/errors.md``.

The tables of the test modules (embedder inputs and hyperparameters, the verifier, the loss
heads) and the cases below are run by ``tests/test_bad_inputs.py``, which also checks that the
docs table is what this module renders now. After changing an error message, regenerate it:

    python -m tests.bad_inputs > docs/errors.md
"""

import contextlib
import functools
import inspect
import io
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import hypersphere_sklearn as hs
from hypersphere_sklearn import cli, metrics

from . import test_embedders_input as embedder_inputs
from . import test_heads_validation as head_arguments
from . import test_verifier as verifier_inputs
from .test_persistence import TinyNet


@dataclass
class Case:
    area: str
    what: str
    call: Callable  # takes a scratch directory (pathlib.Path)
    error: type
    match: str


@functools.cache
def fitted_embedder():
    return hs.NormFaceEmbedder(max_epochs=1, verbose=0, random_state=0, device="cpu").fit(
        embedder_inputs.IMAGES, embedder_inputs.LABELS)


@functools.cache
def fitted_verifier():
    E, y = verifier_inputs.clustered()
    return hs.CosineVerifier().fit(E, y), E, y


def saved_model(scratch, name="model.safetensors"):
    return hs.save(fitted_embedder(), scratch / name)


def truncated(scratch):
    path = saved_model(scratch, "truncated.safetensors")
    path.write_bytes(path.read_bytes()[:-100])
    return path


def altered(scratch):
    path = saved_model(scratch, "altered.safetensors")
    data = bytearray(path.read_bytes())
    data[-5] ^= 1
    path.write_bytes(bytes(data))
    return path


def pickled(scratch):
    import joblib

    path = scratch / "model.joblib"
    joblib.dump(fitted_embedder(), path)
    return path


def corrupt_image_folder(scratch):
    for person in ("ann", "bob"):
        (scratch / "faces" / person).mkdir(parents=True, exist_ok=True)
        for k in range(2):
            from PIL import Image

            Image.new("L", (8, 8), 40 * k).save(scratch / "faces" / person / f"{k}.png")
    (scratch / "faces" / "bob" / "2.png").write_bytes(b"not a png")
    from hypersphere_sklearn.datasets import load_image_folder

    folder = load_image_folder(scratch / "faces")
    return hs.NormFaceEmbedder(max_epochs=1, verbose=0).fit(folder.paths, folder.target)


def custom_backbone(scratch):
    model = hs.NormFaceEmbedder(backbone=TinyNet, backbone__in_features=64, max_epochs=1,
                                verbose=0).fit(embedder_inputs.IMAGES, embedder_inputs.LABELS)
    return hs.load(model.save(scratch / "custom.safetensors"))


def command(*argv):
    """Run the CLI; raise its one-line error as a SystemExit carrying the message."""
    def run(scratch):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = cli.main([str(a).replace("<dir>", str(scratch)) for a in argv])
        if code != 0:
            raise SystemExit(err.getvalue().strip())
    return run


def source_of(function):
    """The expression of a one-line lambda, as written in its test table."""
    line = inspect.getsource(function).strip()
    return re.search(r"lambda: (.*?), [\"']", line).group(1)


def fit(X, y, **params):
    params = {"max_epochs": 1, "verbose": 0, **params}
    return lambda scratch: hs.NormFaceEmbedder(**params).fit(X, y)


IMAGES, LABELS = embedder_inputs.IMAGES, embedder_inputs.LABELS
SCORES, SAME = np.array([0.9, 0.8, 0.3, 0.1]), np.array([True, True, False, False])

CASES = [
    *[Case("arrays and labels", what, fit(X, y), ValueError, match)
      for what, X, y, match in embedder_inputs.BAD_FIT_INPUTS],
    Case("arrays and labels", "images of another size at transform",
         lambda s: fitted_embedder().transform(np.zeros((2, 10, 10), np.uint8)), ValueError,
         "10x10 images"),
    Case("arrays and labels", "new identities in partial_fit",
         lambda s: fitted_embedder().partial_fit(IMAGES, LABELS + 10), ValueError,
         "not fitted on"),
    Case("arrays and labels", "images too small for the backbone",
         fit(np.zeros((4, 3, 3), np.uint8), [0, 0, 1, 1]), ValueError, "the backbone failed"),
    Case("arrays and labels", "values beyond float32 in 2-D data",
         fit(np.full((4, 2), 1e300), [0, 0, 1, 1]), ValueError, "too large"),
    *[Case("verifier", what, lambda s, call=call: call(hs.CosineVerifier(),
                                                      *verifier_inputs.clustered()),
           ValueError, match)
      for what, call, match in verifier_inputs.BAD],
    Case("verifier", "embeddings of another width at predict",
         lambda s: fitted_verifier()[0].predict(fitted_verifier()[1][:, :8]), ValueError,
         "features"),
    Case("verifier", "pairs of unequal length in similarity",
         lambda s: fitted_verifier()[0].similarity(fitted_verifier()[1][:3],
                                                   fitted_verifier()[1][:4]),
         ValueError, "equal lengths"),
    Case("pairs and scores", "pairs not shaped (n_pairs, 2)",
         lambda s: metrics.pair_similarity(np.eye(3), [[0, 1, 2]]), ValueError,
         r"shape \(n_pairs, 2\)"),
    Case("pairs and scores", "pair indices beyond the embeddings",
         lambda s: metrics.pair_similarity(np.eye(3), [[0, 3]]), ValueError, "3 rows"),
    Case("pairs and scores", "pair indices that are not integers",
         lambda s: metrics.pair_similarity(np.eye(3), [[0.0, 1.0]]), ValueError,
         "integer row indices"),
    Case("pairs and scores", "embeddings with NaN",
         lambda s: metrics.pair_similarity(np.full((2, 2), np.nan), [[0, 1]]), ValueError,
         "NaN or inf"),
    Case("pairs and scores", "scores and labels of different lengths",
         lambda s: metrics.best_accuracy_threshold(SCORES, SAME[:3]), ValueError,
         "4 pairs but same has 3"),
    Case("pairs and scores", "scores with NaN",
         lambda s: metrics.equal_error_rate([np.nan, 0.1], [True, False]), ValueError,
         "NaN or inf"),
    Case("pairs and scores", "only genuine pairs",
         lambda s: metrics.tar_at_far(SCORES, np.ones(4, bool), 0.1), ValueError,
         "no impostor"),
    Case("pairs and scores", "a false-accept rate outside [0, 1]",
         lambda s: metrics.threshold_at_far(SCORES, SAME, 2.0), ValueError,
         r"far must be in \[0, 1\]"),
    Case("pairs and scores", "a single fold",
         lambda s: metrics.kfold_accuracy(SCORES, SAME, folds=np.zeros(4)), ValueError,
         "at least 2 folds"),
    Case("files", "a model file that does not exist",
         lambda s: hs.load(s / "missing.safetensors"), FileNotFoundError, "no model file"),
    Case("files", "a truncated model file", lambda s: hs.load(truncated(s)),
         hs.ModelFileError, "truncated"),
    Case("files", "a model file altered after saving", lambda s: hs.load(altered(s)),
         hs.ModelFileError, "altered after it was saved"),
    Case("files", "a pickle or joblib file given to load", lambda s: hs.load(pickled(s)),
         hs.ModelFileError, "is a pickle .* never opens one"),
    Case("files", "a model with a custom backbone loaded without it", custom_backbone,
         ValueError, "pass the same one when loading"),
    Case("files", "a corrupt image in a folder", corrupt_image_folder, ValueError,
         "cannot read image .*on_error='skip'"),
    Case("files", "an image folder that does not exist",
         lambda s: hs.datasets.load_image_folder(s / "nowhere"), FileNotFoundError,
         "does not exist"),
    *[Case("parameters", f"NormFaceEmbedder({', '.join(f'{k}={v!r}' for k, v in p.items())})",
           fit(IMAGES, LABELS, **p), ValueError, name)
      for p, name in embedder_inputs.BAD_PARAMETERS],
    Case("parameters", "NormFaceEmbedder(max_grad_norm=0.0)",
         fit(IMAGES, LABELS, max_grad_norm=0.0), ValueError, "max_grad_norm"),
    Case("parameters", "NormFaceEmbedder(checkpoint_dir=5)",
         fit(IMAGES, LABELS, checkpoint_dir=5), TypeError, "checkpoint_dir"),
    Case("parameters", "a learning rate that makes training diverge",
         fit(IMAGES, LABELS, lr=1e30, optimizer=torch.optim.SGD, random_state=0,
             device="cpu", max_epochs=3),
         hs.TrainingDivergedError, r"training diverged at epoch \d+, batch \d+"),
    *[Case("parameters", source_of(make), lambda s, make=make: make(), ValueError, name)
      for make, name in head_arguments.BAD_ARGUMENTS],
    Case("command line", "train --data nowhere.npz", command("train", "--data", "nowhere.npz"),
         SystemExit, "no data 'nowhere.npz'"),
    Case("command line", "train --method normface --margin 0.3",
         command("train", "--method", "normface", "--margin", "0.3", "--epochs", "1"),
         SystemExit, "--margin is not a parameter"),
    Case("command line", "train --epochs 0", command("train", "--epochs", "0"), SystemExit,
         "max_epochs"),
    Case("command line", "embed --model missing.safetensors",
         command("embed", "--model", "missing.safetensors", "--data", "olivetti"),
         SystemExit, "no model file"),
    Case("command line", "evaluate --model <a truncated file>",
         lambda s: command("evaluate", "--model", truncated(s))(s), SystemExit, "truncated"),
]


def describe(case, scratch):
    """``(error name, message)`` the case gives, with the scratch folder written ``<dir>``
    and long numbers (byte counts) ``<n>``."""
    try:
        case.call(scratch)
    except case.error as error:
        message = str(error).replace(str(scratch), "<dir>").strip()
        message = re.sub(r"\b\d{5,}\b", "<n>", message)  # file sizes vary with the history
        name = "exit 2, stderr" if case.error is SystemExit else type(error).__name__
        return name, message
    raise AssertionError(f"{case.area} / {case.what}: no {case.error.__name__} raised")


def cell(text):
    return " ".join(text.split()).replace("|", "\\|")


def render():
    lines = [
        "# Bad inputs and the errors they give",
        "",
        "Generated from the test suite's tables by `python -m tests.bad_inputs > "
        "docs/errors.md`;",
        "`tests/test_bad_inputs.py` runs every row and fails when this page is out of date.",
        "Every message names the problem and what to do; none is a torch traceback.",
    ]
    area = None
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        for case in CASES:
            if case.area != area:
                area = case.area
                lines += ["", f"## {area.capitalize()}", "", "| input | error | message |",
                          "|---|---|---|"]
            name, message = describe(case, scratch)
            lines.append(f"| {cell(case.what)} | `{name}` | {cell(message)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import warnings

    from tests.bad_inputs import render as render_imported  # names as the tests see them

    warnings.simplefilter("ignore")
    print(render_imported(), end="")

"""Labeled Faces in the Wild: scikit-learn's offline loaders, and the preprocessed arrays.

Two ways in:

- :func:`fetch_lfw_people` and :func:`fetch_lfw_pairs` call scikit-learn's loaders of the same
  names on a ``data_home`` that already holds the data, never downloading; when it is missing
  the error says which files to put where.
- :func:`load_lfw_arrays` reads ``lfw_deepfunneled_62x47_gray_uint8.npz``: the whole set
  preprocessed as ``fetch_lfw_people(funneled=True, resize=0.5, color=False)`` does, with the
  official View 1 and View 2 pairs as image indices. It is the fast path of the benchmarks.
"""

import os
from pathlib import Path

import numpy as np
from sklearn import datasets as sk_datasets
from sklearn.utils import Bunch

ARRAYS_NAME = "lfw_deepfunneled_62x47_gray_uint8.npz"
PAIRS_FILES = ("pairsDevTrain.txt", "pairsDevTest.txt", "pairs.txt")
#: Where load_lfw_arrays looks when no path is given, after $HYPERSPHERE_LFW.
DEFAULT_LOCATIONS = ("shared/data/lfw", "../shared/data/lfw", "data/lfw")


def missing_lfw_message(data_home):
    # scikit-learn checks for the three pairs files even when loading people
    home = Path(data_home).expanduser() / "lfw_home"
    files = [f"{home}/lfw_funneled/<Name>/<Name>_NNNN.jpg  (the funneled JPEG tree)"]
    files += [f"{home}/{name}" for name in PAIRS_FILES]
    return (
        "LFW was not found and will not be downloaded (there may be no network). Put the "
        "files here:\n  " + "\n  ".join(files) + "\nFor example: mkdir -p "
        f"{home} && tar -xf lfw_funneled_jpeg.tar -C {home}, and copy the pairs files next "
        "to it."
    )


def fetch_lfw_people(data_home, **kwargs):
    """scikit-learn's ``fetch_lfw_people`` on data already under ``data_home``; no download.

    Parameters
    ----------
    data_home : str or path
        The folder that holds ``lfw_home/``.
    **kwargs
        Passed on (``min_faces_per_person``, ``resize``, ``color``, ``funneled``, ...).

    Returns
    -------
    Bunch
        As scikit-learn returns it (``images`` float32 in [0, 1], ``target``,
        ``target_names``).

    Raises
    ------
    FileNotFoundError
        When the data is not there; the message names the files and where they go.
    """
    try:
        return sk_datasets.fetch_lfw_people(
            data_home=data_home, download_if_missing=False, **kwargs
        )
    except OSError as error:
        raise FileNotFoundError(missing_lfw_message(data_home)) from error


def fetch_lfw_pairs(data_home, subset="test", **kwargs):
    """scikit-learn's ``fetch_lfw_pairs`` on data already under ``data_home``; no download.

    ``subset="train"`` and ``"test"`` are View 1 (development train and test), ``"10_folds"``
    is View 2. Raises ``FileNotFoundError`` naming the missing files.
    """
    try:
        return sk_datasets.fetch_lfw_pairs(
            data_home=data_home, subset=subset, download_if_missing=False, **kwargs
        )
    except OSError as error:
        raise FileNotFoundError(missing_lfw_message(data_home)) from error


def find_lfw_arrays(path=None):
    """The path of the preprocessed LFW arrays: ``path``, $HYPERSPHERE_LFW, or a default."""
    candidates = [path] if path is not None else [os.environ.get("HYPERSPHERE_LFW")]
    if path is None:
        candidates += [str(Path(folder) / ARRAYS_NAME) for folder in DEFAULT_LOCATIONS]
    for candidate in filter(None, candidates):
        candidate = Path(candidate)
        if candidate.is_dir():
            candidate = candidate / ARRAYS_NAME
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"the LFW arrays ({ARRAYS_NAME}) were not found at "
        f"{path if path is not None else ' or '.join(DEFAULT_LOCATIONS)}; pass its path or set "
        "HYPERSPHERE_LFW to it."
    )


def load_lfw_arrays(path=None):
    """LFW as uint8 arrays with its official protocols (the benchmarks' fast path).

    Parameters
    ----------
    path : str, path or None
        The ``.npz`` file or its folder; None looks at $HYPERSPHERE_LFW, then
        ``shared/data/lfw``, ``../shared/data/lfw`` and ``data/lfw``.

    Returns
    -------
    Bunch
        ``images`` (13233, 62, 47) uint8, ``target`` person index, ``target_names``,
        ``filenames``; ``view1_train`` and ``view1_test``: Bunches of ``pairs`` (image
        indices, shape (n, 2)) and ``same``; ``view2``: ``pairs``, ``same`` and ``fold``
        (0..9) of the 6,000 ten-fold pairs; ``DESCR``.
    """
    file = find_lfw_arrays(path)
    with np.load(file, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    return Bunch(
        images=arrays["images"],
        target=arrays["target"].astype(np.int64),
        target_names=arrays["target_names"],
        filenames=arrays.get("filenames"),
        view1_train=Bunch(pairs=arrays["pairs_devtrain"],
                          same=arrays["pairs_devtrain_issame"].astype(bool)),
        view1_test=Bunch(pairs=arrays["pairs_devtest"],
                         same=arrays["pairs_devtest_issame"].astype(bool)),
        view2=Bunch(pairs=arrays["pairs_10fold"], same=arrays["pairs_10fold_issame"].astype(bool),
                    fold=arrays["pairs_10fold_fold"]),
        DESCR=(
            "Labeled Faces in the Wild, deep-funneled, 62x47 grayscale uint8 (13,233 images of "
            "5,749 people), with the View 1 and View 2 pairs. Huang, Ramesh, Berg, "
            "Learned-Miller (2007); deep funneling: Huang, Mattar, Lee, Learned-Miller (2012)."
        ),
    )


def people_outside(pairs, target):
    """Mask of the images whose person appears in none of ``pairs`` (for person-disjoint
    training against a pairs protocol)."""
    excluded = np.unique(target[np.asarray(pairs).ravel()])
    return ~np.isin(target, excluded)

"""Loaders: the bundled Olivetti faces, LFW through scikit-learn offline (on a small LFW-layout
tree built here), and the preprocessed LFW arrays."""

import numpy as np
import pytest
from PIL import Image

from hypersphere_sklearn import datasets
from hypersphere_sklearn.datasets import _lfw

from .conftest import fake_lfw_arrays


def test_bundled_olivetti():
    faces = datasets.load_olivetti_faces()
    assert faces.images.shape == (400, 64, 64) and faces.images.dtype == np.uint8
    assert faces.data.shape == (400, 4096)
    np.testing.assert_array_equal(faces.target, np.repeat(np.arange(40), 10))
    assert "Olivetti" in faces.DESCR
    images, target = datasets.load_olivetti_faces(return_X_y=True)
    np.testing.assert_array_equal(images, faces.images)


PEOPLE = {"Ann_Able": 3, "Bob_Baker": 2, "Cy_Cole": 1}


def build_lfw_tree(root):
    """lfw_home/lfw_funneled/<Name>/<Name>_NNNN.jpg plus the View 1 test pairs file."""
    home = root / "lfw_home"
    rng = np.random.default_rng(0)
    for name, count in PEOPLE.items():
        folder = home / "lfw_funneled" / name
        folder.mkdir(parents=True)
        for k in range(1, count + 1):
            pixels = rng.integers(0, 256, size=(250, 250, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{name}_{k:04d}.jpg")
    view1 = ("2\nAnn_Able\t1\t2\nBob_Baker\t1\t2\n"
             "Ann_Able\t1\tCy_Cole\t1\nBob_Baker\t2\tCy_Cole\t1\n")
    (home / "pairsDevTest.txt").write_text(view1)
    (home / "pairsDevTrain.txt").write_text(view1)
    (home / "pairs.txt").write_text("1\t2\n" + view1.split("\n", 1)[1])
    return root


def test_fetch_lfw_people_reads_an_existing_tree_without_downloading(tmp_path):
    data_home = build_lfw_tree(tmp_path)
    people = datasets.fetch_lfw_people(data_home, min_faces_per_person=2, resize=0.5)
    assert sorted(people.target_names) == ["Ann Able", "Bob Baker"]
    assert people.images.shape == (5, 62, 47)


def test_fetch_lfw_pairs_view1_test(tmp_path):
    data_home = build_lfw_tree(tmp_path)
    pairs = datasets.fetch_lfw_pairs(data_home, subset="test", resize=0.5)
    assert pairs.pairs.shape == (4, 2, 62, 47)
    np.testing.assert_array_equal(pairs.target, [1, 1, 0, 0])


def test_missing_lfw_says_which_files_go_where(tmp_path):
    with pytest.raises(FileNotFoundError, match="lfw_home/lfw_funneled"):
        datasets.fetch_lfw_people(tmp_path)
    with pytest.raises(FileNotFoundError, match="pairsDevTest.txt"):
        datasets.fetch_lfw_pairs(tmp_path, subset="test")
    with pytest.raises(FileNotFoundError, match="HYPERSPHERE_LFW"):
        datasets.load_lfw_arrays(tmp_path / "nowhere.npz")


def test_lfw_arrays_loader_and_person_disjoint_mask(tmp_path):
    path = fake_lfw_arrays(tmp_path / _lfw.ARRAYS_NAME)
    for where in (path, tmp_path):
        lfw = datasets.load_lfw_arrays(where)
        assert lfw.images.shape == (48, 62, 47) and lfw.view2.fold.max() == 9
        assert lfw.view1_test.pairs.shape == (8, 2) and lfw.view1_test.same.dtype == bool
    keep = _lfw.people_outside(lfw.view1_test.pairs, lfw.target)
    assert not set(lfw.target[keep]) & set(lfw.target[lfw.view1_test.pairs.ravel()])


@pytest.mark.skipif(
    not any((p / _lfw.ARRAYS_NAME).exists() for p in map(__import__("pathlib").Path,
                                                          _lfw.DEFAULT_LOCATIONS)),
    reason="the real LFW arrays (shared/data/lfw) are not on this machine",
)
def test_real_lfw_arrays():
    lfw = datasets.load_lfw_arrays()
    assert lfw.images.shape == (13233, 62, 47) and len(lfw.target_names) == 5749
    assert len(lfw.view2.pairs) == 6000 and len(lfw.view1_test.pairs) == 1000
    assert lfw.view1_test.same.sum() == 500

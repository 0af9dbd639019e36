"""Image folders read lazily: file paths as X, real JPEGs, corrupt files named or skipped."""

import numpy as np
import pytest
from PIL import Image

import hypersphere_sklearn as hs
from hypersphere_sklearn.datasets import ImageLoader, load_image_folder, load_olivetti_faces


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """<root>/<person>/<n>.jpg: 12 Olivetti people, 10 real JPEGs each (RGB, 64x64)."""
    root = tmp_path_factory.mktemp("faces")
    images, people = load_olivetti_faces(return_X_y=True)
    for k, (image, person) in enumerate(zip(images[:120], people[:120], strict=True)):
        directory = root / f"person_{person:02d}"
        directory.mkdir(exist_ok=True)
        Image.fromarray(image).convert("RGB").save(directory / f"{k:03d}.jpg", quality=95)
    return root


def quick(**params):
    return hs.NormFaceEmbedder(**{"max_epochs": 2, "batch_size": 16, "verbose": 0,
                                  "random_state": 0, **params})


def test_load_image_folder(folder):
    data = load_image_folder(folder)
    assert len(data.paths) == 120 and len(data.target_names) == 12
    assert data.target[0] == "person_00" and data.paths[0].endswith("000.jpg")


def test_fit_and_transform_on_paths(folder):
    data = load_image_folder(folder)
    loader = ImageLoader(size=(32, 32))
    embedder = quick(image_loader=loader).fit(data.paths, data.target)
    assert embedder.input_spec_.kind == "paths" and embedder.input_spec_.shape == (1, 32, 32)
    Z = embedder.transform(data.paths)
    assert Z.shape == (120, 128)
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(embedder.transform(list(data.paths)), Z, atol=1e-6)
    with pytest.raises(ValueError, match="file paths but the embedder was fitted on"):
        quick().fit(np.stack([loader(p) for p in data.paths]), data.target).transform(data.paths)


def test_workers_decode_in_parallel(folder):
    data = load_image_folder(folder)
    embedder = quick(image_loader=ImageLoader(size=(16, 16)), iterator_train__num_workers=2)
    embedder.fit(data.paths, data.target)
    assert np.isfinite(embedder.history[:, "train_loss"]).all()
    serial = embedder.transform(data.paths)
    embedder.set_params(iterator_valid__num_workers=2)
    np.testing.assert_allclose(embedder.transform(data.paths), serial, atol=1e-6)


def test_rgb_crop_and_resize():
    loader = ImageLoader(size=(20, 10), crop=(5, 5, 40, 20), color="rgb")
    image = Image.fromarray(np.zeros((64, 64), np.uint8)).convert("RGB")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        image.save(f"{tmp}/a.png")
        assert loader(f"{tmp}/a.png").shape == (20, 10, 3)
        assert ImageLoader(crop="center").__call__(f"{tmp}/a.png").shape == (64, 64)


def corrupt_copy(folder, tmp_path):
    import shutil

    root = tmp_path / "faces"
    shutil.copytree(folder, root)
    bad = root / "person_03" / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    return root, bad


def test_a_corrupt_image_is_named_before_training(folder, tmp_path):
    root, bad = corrupt_copy(folder, tmp_path)
    data = load_image_folder(root)
    embedder = quick(image_loader=ImageLoader(size=(16, 16)))
    with pytest.raises(ValueError, match=f"cannot read image {bad}"):
        embedder.fit(data.paths, data.target)
    assert not embedder.initialized_


def test_a_corrupt_image_is_skipped_with_its_label_on_request(folder, tmp_path):
    root, bad = corrupt_copy(folder, tmp_path)
    data = load_image_folder(root)
    embedder = quick(image_loader=ImageLoader(size=(16, 16), on_error="skip"))
    with pytest.warns(UserWarning, match=f"skipping cannot read image {bad}"):
        embedder.fit(data.paths, data.target)
    assert embedder.n_classes_ == 12 and len(embedder.history) == 2


def test_images_of_different_sizes_need_a_size(tmp_path):
    for name, size in (("a", 20), ("b", 24)):
        (tmp_path / name).mkdir()
        for k in range(3):
            Image.fromarray(np.zeros((size, size), np.uint8)).save(tmp_path / name / f"{k}.png")
    data = load_image_folder(tmp_path)
    with pytest.raises(ValueError, match="size=\\(height, width\\)"):
        quick(calibration_holdout=0).fit(data.paths, data.target)


def test_bad_loader_settings_and_missing_folder(tmp_path):
    with pytest.raises(ValueError, match="color"):
        ImageLoader(color="cmyk")
    with pytest.raises(ValueError, match="on_error"):
        ImageLoader(on_error="ignore")
    with pytest.raises(FileNotFoundError):
        load_image_folder(tmp_path / "none")
    with pytest.raises(ValueError, match="no images"):
        load_image_folder(tmp_path)


def test_cli_trains_and_embeds_from_an_image_folder(folder, tmp_path):
    from hypersphere_sklearn import cli

    model = tmp_path / "m.joblib"
    assert cli.main(["train", "--data", str(folder), "--image-size", "24", "--epochs", "1",
                     "--out", str(model)]) == 0
    assert cli.main(["embed", "--model", str(model), "--data", str(folder),
                     "--out", str(tmp_path / "e.npy")]) == 0
    assert np.load(tmp_path / "e.npy").shape == (120, 128)


def test_cli_evaluates_pairs_from_an_image_folder(folder, tmp_path, capsys):
    from hypersphere_sklearn import cli

    model = tmp_path / "m.joblib"
    assert cli.main(["train", "--data", str(folder), "--image-size", "16", "--epochs", "1",
                     "--out", str(model)]) == 0
    assert cli.main(["evaluate", "--model", str(model), "--protocol", "pairs", "--data",
                     str(folder), "--out", str(tmp_path / "eval")]) == 0
    assert (tmp_path / "eval" / "roc.png").exists()
    assert "10-fold accuracy" in capsys.readouterr().out


def test_an_ensemble_holds_out_the_people_its_first_network_holds_out(folder, tmp_path):
    # person_99 has no readable image: skipping it changes the identities the held-out ones
    # are drawn from, for the ensemble as for its first network
    root, _ = corrupt_copy(folder, tmp_path)
    (root / "person_99").mkdir()
    (root / "person_99" / "bad.jpg").write_bytes(b"not an image")
    data = load_image_folder(root)
    network = quick(image_loader=ImageLoader(size=(16, 16), on_error="skip"),
                    calibration_holdout=3, max_epochs=1)
    ensemble = hs.EnsembleEmbedder(network, random_state=0)
    with pytest.warns(UserWarning, match="skipping cannot read image"):
        ensemble.fit(data.paths, data.target)
    first, second = ensemble.estimators_
    assert "person_99" not in first.classes_ and len(first.classes_) == 12
    assert len(ensemble.holdout_classes_) == 3
    np.testing.assert_array_equal(ensemble.holdout_classes_, first.holdout_classes_)
    np.testing.assert_array_equal(second.classes_, first.training_classes_)
    assert ensemble.transform(data.paths[:5]).shape == (5, 256)

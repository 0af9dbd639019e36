"""Safe persistence: save/load in safetensors + JSON, and clear errors on bad files."""

import datetime
import json
import pickle
import warnings

import joblib
import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from sklearn.datasets import make_blobs
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import hypersphere_sklearn as hs
from hypersphere_sklearn import ModelFileError, persistence
from hypersphere_sklearn.datasets import ImageLoader
from hypersphere_sklearn.embedders import _methods

EMBEDDERS = [getattr(_methods, name) for name in hs.embedders.__all__
             if name.endswith("Embedder") and name != "HypersphereEmbedder"]


def quick(cls=hs.NormFaceEmbedder, **params):
    return cls(**{"max_epochs": 2, "batch_size": 32, "verbose": 0, "random_state": 0,
                  "device": "cpu", **params})


@pytest.fixture(scope="module")
def blobs():
    return make_blobs(n_samples=90, centers=6, n_features=10, random_state=0)


@pytest.fixture(scope="module")
def fitted_pipeline(faces_16px):
    images, target = faces_16px
    names = np.array([f"person-{t:02d}" for t in target])
    return Pipeline([("embed", quick(flip_fusion=True)),
                     ("verify", hs.CosineVerifier(unknown_label="nobody"))]).fit(images, names)


@pytest.fixture
def model_file(tmp_path, fitted_pipeline):
    return persistence.save(fitted_pipeline, tmp_path / "model.safetensors")


# -- round trips ------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", EMBEDDERS, ids=lambda c: c.__name__)
def test_every_embedder_round_trips(cls, blobs, tmp_path):
    X, y = blobs
    embedder = quick(cls).fit(X, y)
    loaded = cls.load(embedder.save(tmp_path / "e.safetensors"))
    assert type(loaded) is cls
    np.testing.assert_array_equal(loaded.transform(X), embedder.transform(X))
    assert loaded.get_params(deep=False) == embedder.get_params(deep=False)
    for name in ("classes_", "holdout_classes_", "training_classes_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(embedder, name))
        assert getattr(loaded, name).dtype == getattr(embedder, name).dtype
    assert (loaded.n_features_in_, loaded.embedding_dim_, loaded.input_spec_) == (
        embedder.n_features_in_, embedder.embedding_dim_, embedder.input_spec_)
    assert loaded.history[:, "train_loss"] == embedder.history[:, "train_loss"]
    for a, b in zip(loaded.criterion_.state_dict().values(),
                    embedder.criterion_.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_a_pipeline_round_trips_with_string_labels(fitted_pipeline, model_file, faces_16px):
    images, _ = faces_16px
    loaded = hs.load(model_file)
    assert [name for name, _ in loaded.steps] == ["embed", "verify"]
    np.testing.assert_array_equal(loaded.predict(images), fitted_pipeline.predict(images))
    verifier = loaded[-1]
    assert verifier.threshold_ == fitted_pipeline[-1].threshold_
    assert verifier.classes_.dtype == fitted_pipeline[-1].classes_.dtype
    assert verifier.unknown_label == "nobody" and loaded[0].flip_fusion is True
    assert loaded[0].input_spec_ == fitted_pipeline[0].input_spec_


def test_load_sets_parameters_per_step(model_file):
    loaded = hs.load(model_file, embed__device="cpu", verify__threshold=0.5)
    assert loaded[0].device == "cpu" and loaded[-1].threshold == 0.5
    with pytest.raises(ValueError, match=r"name the step of each parameter.*\['device'\]"):
        hs.load(model_file, device="cpu")


def test_the_verifier_round_trips_with_integer_labels(tmp_path):
    E = np.random.default_rng(0).normal(size=(30, 5))
    y = np.repeat(np.arange(10, 16), 5)
    verifier = hs.CosineVerifier(calibration="far", target_far=0.1).fit(E, y)
    loaded = hs.CosineVerifier.load(verifier.save(tmp_path / "v.safetensors"))
    np.testing.assert_array_equal(loaded.predict(E), verifier.predict(E))
    np.testing.assert_array_equal(loaded.templates_, verifier.templates_)
    assert loaded.classes_.dtype == y.dtype and loaded.get_params() == verifier.get_params()


def test_unfitted_estimators_round_trip(tmp_path):
    embedder = hs.SphereFaceREmbedder(margin=1.7, version="v2", backbone="sphere4",
                                      image_loader=ImageLoader(size=(24, 20), crop="center",
                                                               color="rgb"),
                                      optimizer=torch.optim.SGD, optimizer__momentum=0.9)
    loaded = hs.load(embedder.save(tmp_path / "u.safetensors"))
    assert loaded.get_params(deep=False) == embedder.get_params(deep=False)
    assert not loaded.initialized_


class TinyNet(torch.nn.Module):
    def __init__(self, in_features=10, embedding_dim=8):
        super().__init__()
        self.layer = torch.nn.Linear(in_features, embedding_dim)

    def forward(self, x):
        return self.layer(x.flatten(1))


def test_a_custom_backbone_is_never_imported_from_the_file(blobs, tmp_path):
    X, y = blobs
    embedder = quick(backbone=TinyNet).fit(X, y)
    path = embedder.save(tmp_path / "custom.safetensors")
    with pytest.raises(ValueError, match=r"backbone=tests.test_persistence.TinyNet.*pass the "):
        hs.load(path)
    loaded = hs.load(path, backbone=TinyNet)
    np.testing.assert_array_equal(loaded.transform(X), embedder.transform(X))


def test_unstorable_settings_fall_back_to_defaults_with_a_warning(blobs, tmp_path):
    X, y = blobs
    from skorch.callbacks import EpochTimer

    embedder = quick(callbacks=[("timer2", EpochTimer())]).fit(X, y)
    with pytest.warns(UserWarning, match="callbacks .* could not be stored"):
        loaded = hs.load(embedder.save(tmp_path / "c.safetensors"))
    assert loaded.callbacks is None


def test_a_model_saved_on_a_gpu_loads_on_the_cpu(blobs, tmp_path, monkeypatch):
    X, y = blobs
    path = quick().fit(X, y).save(tmp_path / "gpu.safetensors")
    document, tensors = persistence.read_model_file(path)
    document["params"]["device"] = "cuda:0"
    persistence.write_model_file(path, document, tensors)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="loading on the CPU"):
        loaded = hs.load(path)
    assert loaded.device == "cpu" and loaded.transform(X).shape == (90, 128)


def test_only_this_librarys_estimators_and_plain_labels_are_saved(tmp_path, blobs):
    X, y = blobs
    with pytest.raises(TypeError, match="LogisticRegression"):
        hs.save(LogisticRegression(), tmp_path / "x.safetensors")
    with pytest.raises(TypeError, match="StandardScaler"):
        hs.save(Pipeline([("scale", StandardScaler()), ("verify", hs.CosineVerifier())]),
                tmp_path / "x.safetensors")
    dates = np.array([datetime.date(2020, 1, 1 + v) for v in y], dtype=object)
    embedder = quick(max_epochs=1).fit(X, dates)
    with pytest.raises(TypeError, match=r"\['date'\] values .* use string or integer labels"):
        embedder.save(tmp_path / "x.safetensors")
    assert not list(tmp_path.iterdir())  # nothing half-written is left behind


def test_loading_checks_the_class(model_file, tmp_path):
    with pytest.raises(TypeError, match="holds a Pipeline, not a CosineVerifier"):
        hs.CosineVerifier.load(model_file)


# -- bad files ---------------------------------------------------------------------------------
@pytest.mark.parametrize("keep", [0, 5, 20, 0.5, -1])
def test_a_truncated_file_gives_a_clear_error(model_file, keep):
    data = model_file.read_bytes()
    cut = int(len(data) * keep) if isinstance(keep, float) else keep % len(data)
    model_file.write_bytes(data[:cut])
    with pytest.raises(ModelFileError, match="not a complete model file.*truncated"):
        hs.load(model_file)


def test_altered_weights_are_detected(model_file):
    data = bytearray(model_file.read_bytes())
    data[-10] ^= 0x01  # one bit of the last tensor
    model_file.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="altered after it was saved"):
        hs.load(model_file)


def test_an_altered_document_is_detected(model_file):
    data = model_file.read_bytes()
    field = b'\\"unknown_label\\": \\"nobod'
    altered = data.replace(field + b"y", field + b"x")
    assert altered != data
    model_file.write_bytes(altered)
    with pytest.raises(ModelFileError, match="altered after it was saved"):
        hs.load(model_file)


def test_a_file_naming_other_code_is_refused_without_running_it(model_file):
    """Even with a valid checksum (anyone can compute one), names in the file run nothing."""
    document, tensors = persistence.read_model_file(model_file)
    document["steps"][1]["class"] = "os.system"
    persistence.write_model_file(model_file, document, tensors)
    with pytest.raises(ModelFileError, match="class 'os.system' that this library does not"):
        hs.load(model_file)
    document["steps"][1]["class"] = "CosineVerifier"
    document["steps"][0]["params"]["optimizer"] = {"$optimizer": "Optimizer.__init__"}
    persistence.write_model_file(model_file, document, tensors)
    with pytest.raises(ModelFileError, match="unknown optimizer"):
        hs.load(model_file)
    document["steps"][0]["params"]["optimizer"] = {"$pickle": "gASV..."}
    persistence.write_model_file(model_file, document, tensors)
    with pytest.raises(ModelFileError, match="unexpected entry '\\$pickle'"):
        hs.load(model_file)


class Exploit:
    def __reduce__(self):
        return (open, ("/tmp/hypersphere-exploit-ran", "w"))


def test_pickles_and_other_files_are_refused_and_never_run(tmp_path, fitted_pipeline):
    marker = "/tmp/hypersphere-exploit-ran"
    import os

    if os.path.exists(marker):
        os.remove(marker)
    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(ModelFileError, match="loading a pickle runs code"):
        hs.load(evil)
    assert not os.path.exists(marker)
    joblib.dump(fitted_pipeline, tmp_path / "model.joblib")
    with pytest.raises(ModelFileError, match="is a pickle"):
        hs.load(tmp_path / "model.joblib")
    torch.save({"w": torch.zeros(3)}, tmp_path / "weights.pt")
    with pytest.raises(ModelFileError, match="is a pickle"):
        hs.load(tmp_path / "weights.pt")
    save_file({"w": torch.zeros(3)}, tmp_path / "foreign.safetensors")
    with pytest.raises(ModelFileError, match="not one written by hypersphere-sklearn"):
        hs.load(tmp_path / "foreign.safetensors")
    with pytest.raises(FileNotFoundError, match="no model file"):
        hs.load(tmp_path / "missing.safetensors")


def test_a_newer_format_asks_for_an_upgrade(model_file):
    data = model_file.read_bytes()
    header_size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + header_size])
    header["__metadata__"]["format_version"] = "9"
    text = json.dumps(header).encode()
    model_file.write_bytes(len(text).to_bytes(8, "little") + text + data[8 + header_size:])
    with pytest.raises(ModelFileError, match="format 9.*Upgrade hypersphere-sklearn"):
        hs.load(model_file)


def test_saving_is_atomic_and_warning_free(fitted_pipeline, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = hs.save(fitted_pipeline, tmp_path / "sub" / "m.safetensors")
        hs.load(path)
    assert [p.name for p in path.parent.iterdir()] == ["m.safetensors"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_gpu_model_round_trips_and_loads_on_the_cpu(blobs, tmp_path):
    X, y = blobs
    embedder = quick(device="cuda").fit(X, y)
    path = embedder.save(tmp_path / "gpu.safetensors")
    on_gpu, on_cpu = hs.load(path), hs.load(path, device="cpu")
    assert next(on_gpu.module_.parameters()).is_cuda
    np.testing.assert_allclose(on_gpu.transform(X), embedder.transform(X), atol=1e-6)
    np.testing.assert_allclose(on_cpu.transform(X), embedder.transform(X), atol=1e-4)


def test_a_pickle_with_protocol_0_is_refused_too(tmp_path):
    marker = tmp_path / "ran"
    evil = tmp_path / "old.safetensors"
    evil.write_bytes(pickle.dumps(Exploit(), protocol=0).replace(
        b"/tmp/hypersphere-exploit-ran", str(marker).encode()))
    with pytest.raises(ModelFileError, match="not a complete model file"):
        hs.load(evil)
    assert not marker.exists()


def test_a_backbone_argument_round_trips(faces_16px, tmp_path):
    """``backbone__*`` arguments rebuild the same network: here one without the final
    BatchNorm1d, whose saved weights would not fit the default layout."""
    images, target = faces_16px
    embedder = quick(backbone="small-cnn", backbone__widths=(4, 8, 8),
                     backbone__embedding_bn=False).fit(images, target)
    loaded = hs.NormFaceEmbedder.load(embedder.save(tmp_path / "e.safetensors"))
    assert loaded.get_params()["backbone__embedding_bn"] is False
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in loaded.module_.modules())
    np.testing.assert_array_equal(loaded.transform(images), embedder.transform(images))

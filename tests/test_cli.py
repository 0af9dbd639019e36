"""Every command of the command line on tiny data, and its one-line errors."""

import subprocess
import sys

import numpy as np
import pytest

from hypersphere_sklearn import cli

from .test_datasets import fake_lfw_arrays


def run(*argv):
    return cli.main([str(a) for a in argv])


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    from hypersphere_sklearn.datasets import load_olivetti_faces

    folder = tmp_path_factory.mktemp("data")
    images, target = load_olivetti_faces(return_X_y=True)
    np.savez(folder / "faces.npz", images=images[:120, ::4, ::4], target=target[:120])
    return folder


@pytest.fixture(scope="module")
def model(small_data):
    path = small_data / "model.safetensors"
    assert run("train", "--data", small_data / "faces.npz", "--method", "cosface",
               "--margin", 0.2, "--epochs", 1, "--out", path) == 0
    return path


def test_train_saves_a_pipeline_in_the_safe_format(model, capsys):
    from safetensors import safe_open

    import hypersphere_sklearn as hs

    pipe = hs.load(model)
    assert pipe[0].margin == 0.2 and hasattr(pipe[-1], "threshold_")
    with safe_open(model, "pt") as f:  # a plain safetensors file, readable by any tool
        assert f.metadata()["format"] == "hypersphere-sklearn"


def test_embed_writes_npy(model, small_data, tmp_path, capsys):
    out = tmp_path / "emb.npy"
    assert run("embed", "--model", model, "--data", small_data / "faces.npz", "--out", out) == 0
    embeddings = np.load(out)
    assert embeddings.shape == (120, 128)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    assert "saved 120 x 128 embeddings" in capsys.readouterr().out


def test_evaluate_on_lfw_view1_and_view2(tmp_path, capsys):
    lfw = fake_lfw_arrays(tmp_path / "lfw.npz")
    images = np.load(lfw)["images"]
    np.savez(tmp_path / "train.npz", images=images, target=np.load(lfw)["target"])
    model = tmp_path / "m.safetensors"
    assert run("train", "--data", tmp_path / "train.npz", "--epochs", 1, "--out", model) == 0
    for protocol in ("lfw-view1", "lfw-view2"):
        assert run("evaluate", "--model", model, "--protocol", protocol, "--lfw", lfw,
                   "--out", tmp_path / protocol) == 0
        assert (tmp_path / protocol / "roc.png").stat().st_size > 1000
    out = capsys.readouterr().out
    assert "10-fold accuracy" in out and "AUC" in out and "TAR@FAR=1e-3" in out


def test_demo_quick_writes_results_and_plots(tmp_path, capsys):
    assert run("demo", "--quick", "--out", tmp_path) == 0
    for name in ("results.md", "roc.png", "histograms.png", "sphere.png"):
        assert (tmp_path / name).exists()
    out = capsys.readouterr().out
    assert "softmax (baseline)" in out and "[2/2]" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--data", "nowhere.npz"], "no data 'nowhere.npz'"),
        (["train", "--method", "normface", "--margin", "0.3", "--epochs", "1"],
         "--margin is not a parameter of --method normface"),
        (["embed", "--model", "missing.safetensors", "--data", "olivetti"], "no model file"),
        (["evaluate", "--model", "missing.safetensors"], "no model file"),
        (["train", "--epochs", "0"], "max_epochs"),
    ],
)
def test_errors_are_one_line(argv, message, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_missing_lfw_is_one_line(model, tmp_path, capsys):
    assert run("evaluate", "--model", model, "--lfw", tmp_path / "none.npz") == 2
    assert "HYPERSPHERE_LFW" in capsys.readouterr().err


def test_bad_files_are_one_line(model, tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a model")
    assert run("embed", "--model", bad, "--data", "olivetti") == 2
    assert "is not a complete model file" in capsys.readouterr().err
    bad.write_bytes(model.read_bytes()[:-100])
    assert run("evaluate", "--model", bad) == 2
    assert "truncated" in capsys.readouterr().err
    data = bytearray(model.read_bytes())
    data[-5] ^= 1
    bad.write_bytes(bytes(data))
    assert run("embed", "--model", bad, "--data", "olivetti") == 2
    err = capsys.readouterr().err
    assert "altered after it was saved" in err and len(err.strip().splitlines()) == 1
    import hypersphere_sklearn as hs

    hs.CosineVerifier().save(bad)
    assert run("embed", "--model", bad, "--data", "olivetti") == 2
    assert "not a fitted pipeline saved by" in capsys.readouterr().err


def test_help_of_every_command_and_python_dash_m():
    for command in ([], ["train"], ["embed"], ["evaluate"], ["demo"]):
        result = subprocess.run([sys.executable, "-m", "hypersphere_sklearn", *command,
                                 "--help"], capture_output=True, text=True)
        assert result.returncode == 0 and "usage: hypersphere-sklearn" in result.stdout
    unknown = subprocess.run([sys.executable, "-m", "hypersphere_sklearn", "train", "--method",
                              "vgg"], capture_output=True, text=True)
    assert unknown.returncode == 2 and "invalid choice" in unknown.stderr

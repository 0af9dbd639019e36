"""Each example runs in a fast mode, so the examples never rot."""

from .conftest import load_script


def load(name):
    return load_script("examples", name)


def test_heads_in_a_torch_loop_learns_a_useful_embedding(capsys):
    accuracy = load("heads_in_a_torch_loop").main(["--head", "sphereface-r", "--epochs", "5"])
    assert accuracy > 0.8  # chance is 0.1
    assert "1-NN accuracy" in capsys.readouterr().out


def test_quick_start(capsys):
    identified, turned_away = load("quick_start").main(["--fast"])
    assert 0 <= identified <= 1 and 0 <= turned_away <= 1
    assert "turned away" in capsys.readouterr().out


def test_grid_search():
    search = load("grid_search").main(["--fast"])
    assert len(search.cv_results_["params"]) == 4 and "embed__scale" in search.best_params_


def test_downstream_models(tmp_path):
    scores = load("downstream_models").main(["--fast", "--out", str(tmp_path)])
    assert set(scores) == {"SVC", "1-NN"} and all(s > 0.05 for s in scores.values())
    assert (tmp_path / "tsne.png").exists() and (tmp_path / "sphere.png").exists()


def test_lfw_view1(capsys):
    import pytest

    from hypersphere_sklearn.datasets import load_lfw_arrays

    try:
        load_lfw_arrays()
    except FileNotFoundError as missing:
        pytest.skip(f"LFW arrays not on this machine: {missing}")
    results = load("lfw_view1").main(["--fast"])
    assert set(results) == {"softmax", "CosFace"}
    assert all(0.5 <= auc <= 1 for _, _, auc in results.values())


def test_image_folder(capsys):
    embeddings, target = load("image_folder").main(["--fast"])
    assert embeddings.shape == (400, 128) and len(set(target)) == 40
    assert "held-out identities" in capsys.readouterr().out

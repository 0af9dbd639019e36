"""Each example runs in a fast mode, so the examples never rot."""

import importlib.util
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_heads_in_a_torch_loop_learns_a_useful_embedding(capsys):
    accuracy = load("heads_in_a_torch_loop").main(["--head", "sphereface-r", "--epochs", "5"])
    assert accuracy > 0.8  # chance is 0.1
    assert "1-NN accuracy" in capsys.readouterr().out

"""The benchmark scripts run in a fast mode so that they never rot (no timing is asserted)."""

from .conftest import load_script


def load(name):
    return load_script("benchmarks", name)


def test_bench_heads_quick_mode_prints_a_row_per_head(capsys):
    bench = load("bench_heads")
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    for name in bench.build_heads(5, 4):
        assert f"| {name} |" in out
    assert "bare matmul" in out and "/ pml" in out
    # pytorch-metric-learning's counterparts were timed for the heads that have one
    assert out.count(" | met |") + out.count(" | MISSED |") == len(bench.build_heads(5, 4))


def test_bench_embedders_quick_mode_prints_the_three_measures(capsys):
    bench = load("bench_embedders")
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "(a) fit" in out and "(b) transform" in out and "(c) transform memory" in out
    assert "200 images" in out and "800 images" in out


def test_bench_verifier_quick_mode_prints_both_operations(capsys):
    bench = load("bench_verifier")
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "| calibration," in out and "| 1:N identification," in out

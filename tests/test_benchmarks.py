"""The benchmark scripts run in a fast mode so that they never rot (no timing is asserted)."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from hypersphere_sklearn import load as load_model

from .conftest import fake_lfw_arrays, load_script


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


def test_bench_embedders_quick_mode_prints_the_four_measures(capsys):
    bench = load("bench_embedders")
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "(a) fit" in out and "(b) transform" in out and "(c) transform memory" in out
    assert "(d) training step" in out
    for layout in ("NCHW float32", "channels-last float32", "channels-last bfloat16",
                   "channels-last float16"):
        assert f"| {layout} |" in out
    assert "200 images" in out and "800 images" in out


def test_bfloat16_target_does_not_apply_on_a_cpu_that_emulates_it():
    bench, speed = load("bench_embedders"), load("bench_speed")
    steps = {"NCHW float32": 1.0, "channels-last float32": 0.8, "channels-last bfloat16": 10.0}
    fp32, bf16 = bench.step_targets(steps, emulated=True)
    assert fp32[1:] == (1.25, ">= 1.0", True)
    assert bf16[1:] == (0.1, "n/a: this CPU has no bfloat16 units", None)
    assert bench.step_targets(steps, emulated=False)[1][1:] == (0.1, ">= 1.0", False)
    rows = [("embedders", fp32), ("embedders", bf16)]
    assert speed.targets_met(rows) == "1 of 1 targets met (1 not applicable on this machine)"
    assert "| 0.10 | n/a: this CPU has no bfloat16 units | n/a |" in speed.summary_table(rows)
    rows = [("embedders", row) for row in bench.step_targets(steps, emulated=False)]
    assert speed.targets_met(rows) == "1 of 2 targets met"
    assert "| 0.10 | >= 1.0 | MISSED |" in speed.summary_table(rows)


def test_bench_verifier_quick_mode_prints_both_operations(capsys):
    bench = load("bench_verifier")
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "| calibration," in out and "| 1:N identification," in out


def test_bench_speed_quick_mode_summarises_every_benchmark_in_one_table(capsys):
    bench = load("bench_speed")
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    summary = out[out.index("## summary"):]
    assert "# machine:" in summary and "| benchmark | measure | ratio | target | met |" in summary
    for benchmark in ("heads", "embedders", "verifier"):
        assert f"| {benchmark} |" in summary
    assert "embedder fit / plain torch loop" in summary
    assert "verifier calibration / plain cost" in summary


def test_bench_lfw_quick_runs_resume_and_report(tmp_path, capsys):
    bench = load("bench_lfw")
    lfw = str(fake_lfw_arrays(tmp_path / "lfw.npz", n_people=12, per_person=6))
    results = tmp_path / "lfw.jsonl"
    common = ["--quick", "--lfw", lfw, "--results", str(results), "--device", "cpu"]
    assert bench.main(["view1", *common]) == 0
    assert bench.main(["view2", *common, "--methods", "normface"]) == 0
    records = bench.read_results(results)
    assert [(r["protocol"], r["method"]) for r in records] == [
        ("view1", "softmax"), ("view1", "cosface"), ("view2", "normface")]
    assert all(0 <= r["auc"] <= 1 and r["epochs"] == 1 for r in records)
    capsys.readouterr()
    # the feature norms of the saved View 1 networks, and Ring loss's learned radius
    assert bench.main(["norms", *common]) == 0
    table = capsys.readouterr().out
    assert "| softmax | 0 | defaults |" in table and "| cosface | 0 | defaults |" in table
    ring = ["--quick", "--lfw", lfw, "--results", str(tmp_path / "ring.jsonl"), "--device",
            "cpu", "--methods", "ring-softmax", "--set", "ring_weight=0.1"]
    with pytest.raises(SystemExit, match="train it first: bench_lfw.py view1 --methods "
                                         "ring-softmax --epochs 1 --seeds 0 --set ring_weight"):
        bench.main(["norms", *ring])
    assert bench.main(["view1", *ring]) == 0
    capsys.readouterr()
    assert bench.main(["norms", *ring]) == 0
    row = capsys.readouterr().out.splitlines()[-1].strip("|").split("|")
    low, median, high, ratio, radius = map(float, row[3:])
    assert 0 < low <= median <= high
    # every figure is printed to 2 decimals, so the printed ratio lies within the ratios of
    # the printed norms moved by their rounding (near-equal norms of ~0.7 make that ~1.5 %)
    half = 0.005
    assert (high - half) / (low + half) - half <= ratio <= (high + half) / (low - half) + half
    assert radius > 0
    assert bench.main(["view2", *common, "--methods", "normface"]) == 0  # resumes: nothing new
    assert "already in" in capsys.readouterr().out and len(bench.read_results(results)) == 3
    # a changed recipe is a new run, recorded with its recipe and reported on its own row
    assert bench.main(["view2", *common, "--methods", "normface",
                       "--set", "random_shift=0.1", "backbone=small-cnn"]) == 0
    records = bench.read_results(results)
    assert len(records) == 4 and records[-1]["recipe"]["random_shift"] == 0.1
    assert records[-1]["recipe"]["backbone"] == "small-cnn"
    capsys.readouterr()
    assert bench.main(["report", "--quick", "--results", str(results)]) == 0
    table = capsys.readouterr().out
    assert "| softmax | 1 | defaults | 1 |" in table
    assert "| normface | 1 | defaults | 1 (0) |" in table
    assert "| normface | 1 | backbone='small-cnn', random_shift=0.1 | 1 (0) |" in table
    with pytest.raises(SystemExit):
        bench.main(["view1", *common, "--set", "max_epochs=3"])  # not a recipe parameter
    # a method's own parameter: recorded where it differs from its default, a run of its own
    own = ["view1", *common, "--methods", "cosface", "--set"]
    assert bench.main([*own, "margin=0.35"]) == 0  # the default: the cosface run above
    assert "already in" in capsys.readouterr().out and len(bench.read_results(results)) == 4
    assert bench.main([*own, "margin=0.2"]) == 0
    assert bench.read_results(results)[-1]["recipe"]["margin"] == 0.2
    assert "| cosface | 1 | margin=0.2 | 1 |" in bench.report(bench.read_results(results),
                                                              quick=True)
    with pytest.raises(SystemExit):
        bench.main(["view1", *common, "--methods", "softmax", "cosface", "--set", "margin=0.2"])
    assert "--set margin: not a recipe parameter" in capsys.readouterr().err
    # a backbone argument: part of the recipe, so a run of its own, and built into the network
    assert bench.main([*own, "backbone__embedding_bn=False"]) == 0
    record = bench.read_results(results)[-1]
    assert record["recipe"]["backbone__embedding_bn"] is False and "margin" not in record["recipe"]
    network = load_model(bench.model_path(results, record["key"])).module_
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in network.modules())
    assert "| cosface | 1 | backbone__embedding_bn=False | 1 |" in bench.report(
        bench.read_results(results), quick=True)


def test_bench_lfw_runs_keep_their_keys_when_a_methods_default_changes(monkeypatch):
    bench = load("bench_lfw")

    def recipe(method, **own):
        return bench.run_recipe(method, bench.make_embedder(method, 0, 1, overrides=own))

    assert recipe("cosface") == bench.recipe_of(bench.make_embedder("softmax", 0, 1))
    # as if CosFace's margin had been 0.2 when results began: runs naming no margin had 0.2
    monkeypatch.setitem(bench.FIRST_OWN, ("cosface", "margin"), 0.2)
    assert recipe("cosface")["margin"] == 0.35 and "margin" not in recipe("cosface", margin=0.2)
    # C-triplet's default became the hardest negative; its earlier runs were the sum
    assert recipe("c-triplet")["hardest_negative"] is True
    assert "hardest_negative" not in recipe("c-triplet", hardest_negative=False)
    # skorch-style arguments of the optimizer and backbone enter the recipe only when set
    groups = [("radius", {"lr": 0.02})]
    assert not any("__" in name for name in recipe("ring-softmax"))
    assert recipe("ring-softmax", optimizer__param_groups=groups)["optimizer__param_groups"] \
        == groups


def test_bench_lfw_saves_models_and_fine_tunes_from_them(tmp_path, capsys):
    bench = load("bench_lfw")
    lfw = str(fake_lfw_arrays(tmp_path / "lfw.npz", n_people=12, per_person=6))
    results = tmp_path / "lfw.jsonl"
    common = ["view1", "--quick", "--lfw", lfw, "--results", str(results), "--device", "cpu"]
    fine_tune = [*common, "--methods", "c-contrastive", "--init", "softmax",
                 "--set", "lr=1e-06"]  # the fine-tuning's own recipe, not the softmax run's
    with pytest.raises(SystemExit, match="train it first: bench_lfw.py view1 --methods softmax"):
        bench.main(fine_tune)  # no softmax model yet
    with pytest.raises(SystemExit):
        bench.main([*fine_tune, "backbone=small-cnn"])  # the backbone comes from --init
    assert bench.main([*common, "--methods", "softmax"]) == 0
    assert bench.main([*common, "--methods", "c-contrastive"]) == 0  # from scratch
    assert bench.main(fine_tune) == 0
    assert bench.main([*fine_tune, "--init-head"]) == 0  # the agents start as softmax's too
    scratch, tuned, headed = bench.read_results(results)[1:]
    assert tuned["method"] == "c-contrastive" and tuned["key"] != scratch["key"]
    assert tuned["recipe"]["backbone"] == "from softmax, epoch 1"
    assert headed["recipe"]["backbone"] == "from softmax with its head, epoch 1"
    assert tuned["recipe"]["lr"] == 1e-6
    softmax, scratch, tuned, headed = (load_model(bench.model_path(results, r["key"]))
                                       for r in bench.read_results(results))  # each alone

    def distance(a, b):
        pairs = zip(a.module_[1].parameters(), b.module_[1].parameters(), strict=True)
        pairs = [(p.detach(), q.detach()) for p, q in pairs]
        return max(float((p - q).abs().max()) for p, q in pairs)

    # a few steps of lr 1e-6 leave the softmax weights nearly as they were; the same seed's
    # initial weights trained one epoch at the default lr are much farther from them
    assert distance(tuned, softmax) < 1e-4 < distance(scratch, softmax)
    assert distance(headed, softmax) < 1e-4

    def head(model):
        return model.criterion_.weight.detach()

    assert float((head(headed) - head(softmax)).abs().max()) < 1e-4
    assert float((head(tuned) - head(softmax)).abs().max()) > 1e-2  # a fresh head otherwise
    with pytest.raises(SystemExit):
        bench.main([*common, "--methods", "c-contrastive", "--init-head"])  # needs --init
    # softmax from its own head gets its bias too; a head without class weights of the same
    # name cannot start from softmax's
    assert bench.main([*common, "--methods", "softmax", "--init", "softmax", "--init-head",
                       "--set", "lr=1e-06"]) == 0
    own = load_model(bench.model_path(results, bench.read_results(results)[-1]["key"]))
    assert float((own.criterion_.bias - softmax.criterion_.bias).abs().max()) < 1e-4
    with pytest.raises(SystemExit, match="no class weights"):
        bench.main([*common, "--methods", "ring-softmax", "--init", "softmax", "--init-head"])
    capsys.readouterr()
    assert bench.main(["report", "--quick", "--results", str(results)]) == 0
    row = "| c-contrastive | 1 | backbone='from softmax, epoch 1', lr=1e-06 | 1 |"
    assert row in capsys.readouterr().out
    # a softmax run recorded without its model (before models were saved) is named as such
    bench.model_path(results, bench.read_results(results)[0]["key"]).unlink()
    with pytest.raises(SystemExit, match="recorded before models were saved"):
        bench.main([*fine_tune, "--seeds", "0"])


def quick_softmax_view1(tmp_path):
    """``(lfw, results, arguments)`` of a quick View 1 softmax run on 24 fake people (15 train,
    so that 3 are held out for the verifier's calibration)."""
    lfw = str(fake_lfw_arrays(tmp_path / "lfw.npz", n_people=24, per_person=6))
    results = tmp_path / "lfw.jsonl"
    return lfw, results, ["view1", "--quick", "--lfw", lfw, "--results", str(results),
                          "--device", "cpu", "--methods", "softmax"]


def test_bench_lfw_scores_a_test_time_change_on_the_saved_network(tmp_path, capsys):
    bench = load("bench_lfw")
    lfw, results, common = quick_softmax_view1(tmp_path)
    assert bench.main(common) == 0
    assert bench.main([*common, "--set", "flip_fusion=True"]) == 0  # not trained again
    assert "scoring the saved network of run" in capsys.readouterr().out
    plain, fused = bench.read_results(results)
    assert fused["scored_on"] == plain["key"] != fused["key"]
    assert fused["train_seconds"] == plain["train_seconds"]
    fitted = load_model(bench.model_path(results, fused["key"]))
    assert fitted.flip_fusion is True and len(fitted.holdout_classes_) == 3
    assert fused["threshold"] != plain["threshold"]  # the mirror images' features were added
    # scoring the saved network with the run's own recipe gives back every recorded figure,
    # the threshold of the pipeline's verifier (calibrated on held-out identities) included
    embedder = bench.make_embedder("softmax", 0, 1, "cpu")
    again, _ = bench.run_one(bench.load_lfw_arrays(lfw), "view1", None, embedder, True,
                             twin=plain, results=results)
    for name in ("threshold", "threshold_training", "accuracy", "kfold_mean", "auc"):
        assert again[name] == pytest.approx(plain[name], abs=1e-6), name


def test_bench_lfw_networks_reuse_the_single_runs_network(tmp_path, capsys):
    bench = load("bench_lfw")
    _, results, common = quick_softmax_view1(tmp_path)
    assert bench.main(common) == 0
    assert bench.main([*common, "--networks", "2"]) == 0
    assert "network 0 (seed 0): loaded from" in capsys.readouterr().out
    single, pair = bench.read_results(results)
    assert pair["recipe"]["networks"] == 2 and pair["key"] != single["key"]
    assert len(pair["network_seconds"]) == 2
    assert pair["train_seconds"] == pytest.approx(sum(pair["network_seconds"]), abs=0.2)
    assert "| softmax | 1 | networks=2 | 1 |" in bench.report(bench.read_results(results),
                                                              quick=True)
    # the second network trained on the first one's training identities, and was saved
    first = load_model(bench.model_path(results, single["key"]))
    models = sorted((results.parent / "models").glob("*.safetensors"))
    assert len(models) == 2
    second = next(load_model(path) for path in models if path.stem != single["key"])
    assert second.random_state == 1 and len(second.holdout_classes_) == 0
    np.testing.assert_array_equal(second.classes_, first.training_classes_)
    # with the mirror images added at test time, both networks are loaded, not trained
    assert bench.main([*common, "--networks", "2", "--set", "flip_fusion=True"]) == 0
    out = capsys.readouterr().out
    assert "network 0 (seed 0): loaded from" in out and "network 1 (seed 1): loaded from" in out
    assert len(list((results.parent / "models").glob("*.safetensors"))) == 2
    fused = bench.read_results(results)[-1]
    assert fused["train_seconds"] == pair["train_seconds"]
    assert fused["threshold"] != pair["threshold"]
    # another share of held-out people: the second network trains on other people, anew
    assert bench.main([*common, "--networks", "2", "--set", "calibration_holdout=0.3"]) == 0
    assert "loaded from" not in capsys.readouterr().out
    assert len(list((results.parent / "models").glob("*.safetensors"))) == 4
    with pytest.raises(SystemExit):
        bench.main([*common, "--networks", "0"])


def test_view1_folds_mix_same_and_different_pairs():
    # View 1's files list the 500 same pairs first: consecutive folds would each hold one kind
    bench = load("bench_lfw")
    same = np.r_[np.ones(500, bool), np.zeros(500, bool)]
    folds = bench.stratified_folds(same)
    assert all(np.sum(same[folds == k]) == 50 and np.sum(folds == k) == 100 for k in range(10))


def load_lfw_pairs_used(path):
    with np.load(path) as data:
        return data["pairs_devtest"]


def test_bench_lfw_analyses_quick_runs_and_plots(tmp_path, capsys):
    bench = load("bench_lfw_analyses")
    lfw = str(fake_lfw_arrays(tmp_path / "lfw.npz", n_people=20, per_person=10))
    results, out = tmp_path / "analyses.jsonl", tmp_path / "images"
    assert bench.main(["run", "--quick", "--lfw", lfw, "--results", str(results)]) == 0
    records = {r["study"]: r for r in bench.read_results(results)}
    assert set(records) == {"scale", "alpha", "margin", "ring", "grid"}
    assert np.isfinite(records["grid"]["mean_test_auc"]).all()  # every candidate fitted
    assert len(records["ring"]["norms"]) == len(np.unique(load_lfw_pairs_used(lfw)))
    assert bench.main(["plot", "--quick", "--results", str(results), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "lfw_alpha_sweep.png", "lfw_cosface_grid_auc.png", "lfw_ring_feature_norms.png",
        "lfw_scale_sweep.png", "lfw_sphereface_r_margin.png"]


def view1_record(bench, method, seed, texts, **metrics):
    """A 24-epoch View 1 result of ``method`` and ``seed`` with the ``--set`` texts ``texts``,
    every paired metric 0.5 but those given."""
    args = SimpleNamespace(device="cpu", quick=False)
    key = bench.run_key(args, "view1", method, seed, None, 24, texts)[0]
    return {"key": key, **dict.fromkeys((field for field, _ in bench.PAIRED), 0.5), **metrics}


def test_bench_lfw_pairs_prints_hand_computed_paired_differences(tmp_path, capsys):
    bench = load("bench_lfw")
    sets = ["backbone__widths=(32,64,256)"]

    def record(seed, texts, accuracy):
        return view1_record(bench, "softmax", seed, texts, accuracy=accuracy)

    # calibrated-accuracy differences +1, +2 and +6 points: mean +3, sample sd sqrt(7),
    # standard error sqrt(7/3) = 1.53, t = 3 / 1.53 = 2.0; the other metrics differ by 0
    base = [record(seed, [], 0.80) for seed in range(3)]
    changed = [record(seed, sets, 0.80 + gain) for seed, gain in enumerate((0.01, 0.02, 0.06))]
    results, more = tmp_path / "changed.jsonl", tmp_path / "base.jsonl"
    for path, records in ((results, changed[:2]), (more, base)):
        for one in records:
            bench.append_result(path, one)
    common = ["pairs", "--methods", "softmax", "--epochs", "24", "--seeds", "0", "1", "2",
              "--set", *sets, "--results", str(results), "--pair-results", str(more)]
    assert bench.main(common) == 0
    out = capsys.readouterr().out
    assert "| softmax | 0 | +1.00 | +0.00 | +0.00 | +0.00 | +0.00 |" in out
    assert "| softmax | 2 | the --set run is not in the results |" in out
    assert "| softmax | mean of 2 (s.e., t) | +1.50 (0.50, 3.0) |" in out
    bench.append_result(results, changed[2])
    assert bench.main(common) == 0
    out = capsys.readouterr().out
    assert "| softmax | mean of 3 (s.e., t) | +3.00 (1.53, 2.0) | +0.00 (0.00, nan) |" in out


def test_bench_lfw_pairs_against_another_method_subtracts_its_runs(tmp_path, capsys):
    bench = load("bench_lfw")

    def record(method, seed, auc):
        return view1_record(bench, method, seed, [], auc=auc)

    # AUC differences +0.2 and +0.6 points: mean +0.4, sample sd 0.2 * sqrt(2), standard
    # error 0.2, t = 2.0 (without --against each run would be its own base, every difference 0)
    results = tmp_path / "runs.jsonl"
    for one in (record("softmax", 0, 0.950), record("softmax", 1, 0.940),
                record("ring-softmax", 0, 0.952), record("ring-softmax", 1, 0.946)):
        bench.append_result(results, one)
    common = ["pairs", "--methods", "ring-softmax", "--epochs", "24", "--results", str(results)]
    assert bench.main([*common, "--seeds", "0", "1", "2", "--against", "softmax"]) == 0
    out = capsys.readouterr().out
    assert "| ring-softmax | 0 | +0.00 | +0.00 | +0.20 | +0.00 | +0.00 |" in out
    assert "| ring-softmax | 2 | softmax's run is not in the results |" in out
    assert "| ring-softmax | mean of 2 (s.e., t) | +0.00 (0.00, nan) | +0.00 (0.00, nan) | " \
           "+0.40 (0.20, 2.0) |" in out
    bench.append_result(results, record("softmax", 2, 0.9))
    assert bench.main([*common, "--seeds", "2", "--against", "softmax"]) == 0
    assert "| ring-softmax | 2 | ring-softmax's run is not in the results |" in \
        capsys.readouterr().out


@pytest.mark.parametrize("option", [["--against", "softmax"], ["--pair-results", "x.jsonl"]])
def test_bench_lfw_pairs_options_outside_pairs_are_refused(option, capsys):
    bench = load("bench_lfw")
    with pytest.raises(SystemExit):
        bench.main(["report", *option])
    assert "with the pairs protocol only" in capsys.readouterr().err

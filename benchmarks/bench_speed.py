"""Every speed benchmark of the library in one run, summarised as one table of ratios.

    python benchmarks/bench_speed.py            # the full sizes of each benchmark (~10 min, 2 CPUs)
    python benchmarks/bench_speed.py --quick    # tiny sizes (used by the tests)
    python benchmarks/bench_speed.py --device cuda   # heads and embedders on the GPU

Runs, one after the other in this process, each with its own baseline measured in the same
run (these machines are noisy, so only ratios mean something):

- ``bench_heads.py``: every loss head's forward+backward against a bare ``x @ W.T`` and against
  pytorch-metric-learning's loss for the same math;
- ``bench_embedders.py``: ``fit`` against a plain PyTorch loop, ``transform`` against plain
  batched inference, and ``transform``'s memory at n and 4n images;
- ``bench_verifier.py``: ``CosineVerifier`` calibration and 1:N identification against the
  plain pair scoring and matrix product (always on the CPU: the verifier computes with numpy).

Each prints its detailed table first; the summary at the end has one row per ratio, its target
and whether it is met, and the machine it ran on.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_embedders  # noqa: E402
import bench_heads  # noqa: E402
import bench_verifier  # noqa: E402
from _common import machine_description  # noqa: E402


def summary_table(rows):
    lines = ["| benchmark | measure | ratio | target | met |", "|---|---|---:|---|---|"]
    for benchmark, (measure, ratio, target, met) in rows:
        verdict = "n/a" if met is None else "met" if met else "MISSED"
        lines.append(f"| {benchmark} | {measure} | {ratio:.2f} | {target} | {verdict} |")
    return "\n".join(lines)


def targets_met(rows):
    """"k of n targets met", the rows whose target does not apply here (``met`` None) apart."""
    verdicts = [met for _, (*_, met) in rows if met is not None]
    skipped = len(rows) - len(verdicts)
    return (f"{sum(verdicts)} of {len(verdicts)} targets met"
            + (f" ({skipped} not applicable on this machine)" if skipped else ""))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (heads and embedders)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes of every benchmark")
    args = parser.parse_args(argv)
    common = ["--quick"] if args.quick else []
    runs = [
        ("heads", bench_heads, common + ["--device", args.device]),
        ("embedders", bench_embedders, common + ["--device", args.device]),
        ("verifier", bench_verifier, common),
    ]
    rows, started = [], time.perf_counter()
    for name, module, module_argv in runs:
        print(f"\n## {name}: python benchmarks/{module.__name__}.py {' '.join(module_argv)}\n")
        rows += [(name, row) for row in module.collect(module_argv)]
    print(f"\n## summary: {targets_met(rows)}\n")
    print(f"# machine: {machine_description(args.device)}")
    print(f"# date: {time.strftime('%Y-%m-%d')}, {time.perf_counter() - started:.0f} s in all")
    print(summary_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Forward+backward time of every loss head against a bare matmul and pytorch-metric-learning.

    python benchmarks/bench_heads.py            # batch 256, embedding 512, 10,000 classes
    python benchmarks/bench_heads.py --quick    # tiny shapes, a few rounds (used by the tests)

All candidates are timed in interleaved rounds in one process (these machines are noisy, so
absolute times mean little); the table reports medians and the ratios against the bare
``x @ W.T`` forward+backward of the same shapes and against pytorch-metric-learning's loss for
the same math. Targets: every head within 1.5x of the matmul, and faster than the
pytorch-metric-learning equivalent.
"""

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_description  # noqa: E402

from hypersphere_sklearn import heads  # noqa: E402

MATMUL_TARGET = 1.5


def build_heads(n_classes, dim):
    """(name, head) pairs: every head of the library with its paper defaults."""
    make = {
        "softmax": lambda: heads.SoftmaxHead(n_classes, dim),
        "normface": lambda: heads.NormFaceHead(n_classes, dim, scale=16.0),
        "normface (learnable s)": lambda: heads.NormFaceHead(n_classes, dim, learn_scale=True),
        "l2-softmax": lambda: heads.L2SoftmaxHead(n_classes, dim, alpha=16.0),
        "ring loss + softmax": lambda: heads.RingLossHead(heads.SoftmaxHead(n_classes, dim)),
        "c-contrastive": lambda: heads.CContrastiveHead(n_classes, dim),
        "c-triplet": lambda: heads.CTripletHead(n_classes, dim),
        "c-triplet (hardest)": lambda: heads.CTripletHead(n_classes, dim, hardest_negative=True),
        "cosface": lambda: heads.CosFaceHead(n_classes, dim),
        "arcface": lambda: heads.ArcFaceHead(n_classes, dim),
        "sphereface (a-softmax)": lambda: heads.SphereFaceHead(n_classes, dim),
        "sphereface-r v1 hard": lambda: heads.SphereFaceRHead(n_classes, dim, version="v1"),
        "sphereface-r v2 hard": lambda: heads.SphereFaceRHead(n_classes, dim, version="v2"),
        "sphereface-r v1 hard, no cgd": lambda: heads.SphereFaceRHead(
            n_classes, dim, gradient_detach=False
        ),
        "sphereface-r v1 soft": lambda: heads.SphereFaceRHead(n_classes, dim, feature_norm="soft"),
    }
    return {name: factory() for name, factory in make.items()}


def build_pml(n_classes, dim, our):
    """pytorch-metric-learning losses with the same math as some of our heads, or {}."""
    try:
        from pytorch_metric_learning import losses
    except ImportError:
        return {}
    pml = {
        "normface": losses.NormalizedSoftmaxLoss(n_classes, dim, temperature=1 / 16.0),
        "cosface": losses.CosFaceLoss(n_classes, dim, margin=0.35, scale=64.0),
        "arcface": losses.ArcFaceLoss(n_classes, dim, margin=math.degrees(0.5), scale=64.0),
        "sphereface (a-softmax)": losses.SphereFaceLoss(n_classes, dim, margin=4, scale=1.0),
    }
    for name, loss in pml.items():  # same proxies, so the same work
        with torch.no_grad():
            loss.W.copy_(our[name].weight.t())
    return pml


def step_function(module, x, labels):
    def step():
        module.zero_grad(set_to_none=True)
        x.grad = None
        module(x, labels).backward()

    return step


def matmul_step(x, weight, upstream):
    def step():
        weight.grad = None
        x.grad = None
        (x @ weight.t()).backward(upstream)

    return step


def time_rounds(steps, rounds, warmup, device):
    """Median seconds of each step, measured in interleaved rounds."""

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for step in steps.values():
        for _ in range(warmup):
            step()
    samples = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            sync()
            start = time.perf_counter()
            step()
            sync()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def run(batch, dim, n_classes, rounds, warmup, device="cpu", seed=0):
    """Time every head; return rows of (name, seconds, ratio to matmul, pml seconds or None)."""
    device = torch.device(device)
    torch.manual_seed(seed)
    x = torch.randn(batch, dim, device=device, requires_grad=True)
    labels = torch.randint(0, n_classes, (batch,), device=device)
    weight = torch.randn(n_classes, dim, device=device, requires_grad=True)
    upstream = torch.randn(batch, n_classes, device=device)

    ours = {name: head.to(device) for name, head in build_heads(n_classes, dim).items()}
    pml = {name: loss.to(device) for name, loss in build_pml(n_classes, dim, ours).items()}
    steps = {"matmul": matmul_step(x, weight, upstream)}
    steps.update({name: step_function(head, x, labels) for name, head in ours.items()})
    steps.update({f"pml:{name}": step_function(loss, x, labels) for name, loss in pml.items()})
    times = time_rounds(steps, rounds, warmup, device)

    base = times["matmul"]
    return base, [
        (name, times[name], times[name] / base, times.get(f"pml:{name}")) for name in ours
    ]


def format_table(base, rows):
    lines = [
        f"bare matmul x @ W.T forward+backward: {base * 1e3:.1f} ms",
        "",
        "| head | ms | / matmul | pml ms | / pml | targets |",
        "|---|---|---|---|---|---|",
    ]
    for name, seconds, ratio, pml in rows:
        met = ratio <= MATMUL_TARGET and (pml is None or seconds < pml)
        pml_ms = "—" if pml is None else f"{pml * 1e3:.1f}"
        pml_ratio = "—" if pml is None else f"{seconds / pml:.2f}"
        lines.append(
            f"| {name} | {seconds * 1e3:.1f} | {ratio:.2f} | {pml_ms} | {pml_ratio} | "
            f"{'met' if met else 'MISSED'} |"
        )
    return "\n".join(lines)


def collect(argv=None):
    """Run the benchmark, print its table, and return one summary row per ratio:
    ``(measure, ratio, target, met)``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--classes", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--quick", action="store_true", help="tiny shapes, 2 rounds")
    args = parser.parse_args(argv)
    if args.quick:
        args.batch, args.dim, args.classes, args.rounds, args.warmup = 8, 16, 50, 2, 1

    device = torch.device(args.device)
    print(f"# loss heads, forward+backward, batch {args.batch}, embedding {args.dim}, "
          f"{args.classes} classes, {device.type} float32, "
          f"median of {args.rounds} interleaved rounds")
    print(f"# machine: {machine_description(device)}")
    print(f"# date: {time.strftime('%Y-%m-%d')}")
    base, rows = run(args.batch, args.dim, args.classes, args.rounds, args.warmup, device)
    print(format_table(base, rows))
    summary = []
    for name, seconds, ratio, pml in rows:
        summary.append((f"head {name} / bare matmul", ratio, f"<= {MATMUL_TARGET}",
                        ratio <= MATMUL_TARGET))
        if pml is not None:
            summary.append((f"head {name} / pytorch-metric-learning", seconds / pml, "< 1",
                            seconds < pml))
    return summary


def main(argv=None):
    collect(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())

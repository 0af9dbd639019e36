"""The embedders against hand-written PyTorch: fit time, transform throughput, transform memory.

    python benchmarks/bench_embedders.py            # Olivetti 64x64, small CNN, NormFace
    python benchmarks/bench_embedders.py --quick    # tiny sizes (used by the tests)
    python benchmarks/bench_embedders.py --device cuda   # (a) and (b) on the GPU; (c) skipped

In one run, on identical data, backbone, head, batch size and epochs:

(a) ``NormFaceEmbedder.fit`` against a plain PyTorch training loop doing the same work (uint8
    batches scaled in the model, random flips, AdamW with the same parameter groups, cosine
    schedule) — target <= 1.10x;
(b) ``transform`` throughput against plain batched inference with the same module — target
    >= 0.95x;
(c) peak memory of ``transform`` at n and 4n images, each in a fresh process that loads the
    fitted model: how far resident memory (sampled every millisecond) rises above its level
    before the call, less the output array — target: no growth with n. This probe reads the
    host's resident memory of a CPU transform, so it runs with ``--device cpu`` only;
(d) one training step of the small CNN (forward, backward, AdamW) with its kernels in the
    channels-last layout it now keeps, in float32 and under ``mixed_precision="bf16"`` and
    ``"fp16"`` autocast, against the same step with the default NCHW layout — target for
    float32 and bfloat16: faster than NCHW (>= 1.0x). bfloat16 is fast only on CPUs with
    native bfloat16 instructions (AVX512-BF16, AMX) and on GPUs; a CPU without them emulates
    it, the embedders warn, and the bfloat16 target is not applicable there (``n/a``).

With ``--device cuda`` both sides train and embed on the GPU: batches are taken from the
arrays in host memory and moved to the GPU one at a time (as the embedder does), and the
timers read the clock only after ``torch.cuda.synchronize``.
"""

import argparse
import contextlib
import gc
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_description  # noqa: E402

from hypersphere_sklearn import NormFaceEmbedder  # noqa: E402
from hypersphere_sklearn.backbones import InputScaler, SmallCNN  # noqa: E402
from hypersphere_sklearn.datasets import load_olivetti_faces  # noqa: E402
from hypersphere_sklearn.embedders._base import AUTOCAST_DTYPES, cpu_emulates  # noqa: E402
from hypersphere_sklearn.heads import NormFaceHead  # noqa: E402

FIT_TARGET, TRANSFORM_TARGET = 1.10, 0.95


def faces(n_images, size):
    images, target = load_olivetti_faces(return_X_y=True)
    step = 64 // size
    images = images[:, ::step, ::step]
    reps = -(-n_images // len(images))
    return np.tile(images, (reps, 1, 1))[:n_images].copy(), np.tile(target, reps)[:n_images]


def embedder(epochs, batch_size, device="cpu"):
    # every identity trains, as in the plain loop (no identities held out for a verifier)
    return NormFaceEmbedder(backbone="small-cnn", max_epochs=epochs, batch_size=batch_size,
                            calibration_holdout=0, verbose=0, random_state=0,
                            device=str(device))


def plain_network(target, device):
    """The embedder's network and NormFace head for ``target``'s classes, built by hand."""
    model = torch.nn.Sequential(InputScaler(127.5, 1 / 127.5), SmallCNN(1, 128)).to(device)
    head = NormFaceHead(int(target.max()) + 1, 128, scale=16.0).to(device)
    return model, head


def plain_fit(images, target, epochs, batch_size, seed=0, device="cpu"):
    """The same training as NormFaceEmbedder.fit, written as a bare PyTorch loop."""
    device = torch.device(device)
    torch.manual_seed(seed)
    model, head = plain_network(target, device)
    params = [*model.parameters(), *head.parameters()]
    optimizer = torch.optim.AdamW(
        [{"params": [p for p in params if p.ndim >= 2]},
         {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}],
        lr=2e-3, weight_decay=0.5,
    )
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    X, y = torch.from_numpy(images[:, None]), torch.from_numpy(target)
    model.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(X)).split(batch_size):
            xb, yb = X[batch].to(device), y[batch].to(device)
            flip = torch.rand(len(xb), device=device) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
            loss = head(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        schedule.step()
    return model


def plain_transform(model, images, batch_size):
    model.eval()
    device = next(model.parameters()).device
    out = np.empty((len(images), 128), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            xb = torch.from_numpy(images[start:start + batch_size, None]).to(device)
            out[start:start + len(xb)] = F.normalize(model(xb), dim=1).cpu().numpy()
    return out


def step_time(images, target, batch_size, steps, layout, precision, device="cpu"):
    """Median over ``steps`` steps of the seconds of one small-CNN + NormFace training step in
    the given kernel layout, in float32 (``precision=None``) or under ``"bf16"`` or
    ``"fp16"`` autocast."""
    device = torch.device(device)
    torch.manual_seed(0)
    model, head = plain_network(target, device)
    model = model.to(memory_format=layout)
    optimizer = torch.optim.AdamW([*model.parameters(), *head.parameters()], lr=2e-3)
    X = torch.from_numpy(images[:batch_size, None]).to(device)
    y = torch.from_numpy(target[:batch_size]).to(device)

    def step():
        with (contextlib.nullcontext() if precision is None
              else torch.autocast(device.type, dtype=AUTOCAST_DTYPES[precision])):
            embeddings = model(X)
        loss = head(embeddings.float(), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step()  # first-call costs aside
    return statistics.median(timed(step, device) for _ in range(steps))


def compare_steps(images, target, batch_size, rounds, device="cpu"):
    """Step times of NCHW float32 (the baseline) and channels-last float32, bfloat16 and
    float16, interleaved round by round so that drift hits all four."""
    configs = {"NCHW float32": (torch.contiguous_format, None),
               "channels-last float32": (torch.channels_last, None),
               "channels-last bfloat16": (torch.channels_last, "bf16"),
               "channels-last float16": (torch.channels_last, "fp16")}
    times = {name: [] for name in configs}
    for _ in range(rounds):
        for name, (layout, precision) in configs.items():
            times[name].append(step_time(images, target, batch_size, 3, layout, precision,
                                         device))
    return {name: statistics.median(t) for name, t in times.items()}


def step_targets(steps, emulated):
    """The summary rows of (d): channels-last float32 and bfloat16 against NCHW float32,
    the bfloat16 one not applicable (``met`` None) where the CPU ``emulated`` bfloat16."""
    rows = []
    for name in ("channels-last float32", "channels-last bfloat16"):
        measure = f"small-CNN training step, {name} / NCHW float32 (speed-up)"
        speedup = steps["NCHW float32"] / steps[name]
        if name.endswith("bfloat16") and emulated:
            rows.append((measure, speedup, "n/a: this CPU has no bfloat16 units", None))
        else:
            rows.append((measure, speedup, ">= 1.0", speedup >= 1.0))
    return rows


def synchronize(device):
    """Wait for the GPU's queued work, so that a host clock read after it counts that work."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def timed(function, device="cpu"):
    synchronize(device)
    start = time.perf_counter()
    function()
    synchronize(device)
    return time.perf_counter() - start


def compare_fit(images, target, epochs, batch_size, rounds, device="cpu"):
    # first-call costs (imports, kernels, the GPU's context and autotuning) aside
    embedder(1, batch_size, device).fit(images, target)
    plain_fit(images, target, 1, batch_size, device=device)
    ours, plain = [], []
    for _ in range(rounds):  # interleaved, so that drift hits both
        ours.append(timed(lambda: embedder(epochs, batch_size, device).fit(images, target),
                          device))
        plain.append(timed(lambda: plain_fit(images, target, epochs, batch_size, device=device),
                           device))
    return statistics.median(ours), statistics.median(plain)


def compare_transform(images, target, batch_size, rounds, device="cpu"):
    fitted = embedder(1, batch_size, device).fit(images[:batch_size * 2],
                                                 target[:batch_size * 2])
    if torch.device(device).type == "cuda":  # eval-mode kernels chosen before the timing
        fitted.transform(images[:batch_size])
        plain_transform(fitted.module_, images[:batch_size], batch_size)
    ours, plain = [], []
    for _ in range(rounds):
        ours.append(timed(lambda: fitted.transform(images), device))
        plain.append(timed(lambda: plain_transform(fitted.module_, images, batch_size), device))
    return len(images) / statistics.median(ours), len(images) / statistics.median(plain)


def current_rss_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakSampler(threading.Thread):
    """Samples this process's resident memory every millisecond (torch releases the GIL)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak, self.running = current_rss_bytes(), True

    def run(self):
        while self.running:
            self.peak = max(self.peak, current_rss_bytes())
            time.sleep(0.001)

    def stop(self):
        self.running = False
        self.join()
        return max(self.peak, current_rss_bytes())


def memory_probe(n_images, size, batch_size, model_path):
    """In this fresh process: how far resident memory rises during transform of n images."""
    images, _ = faces(n_images, size)
    with open(model_path, "rb") as file:
        fitted = pickle.load(file)
    fitted.transform(images[:batch_size])  # warm up allocators and kernels
    gc.collect()
    baseline = current_rss_bytes()
    sampler = PeakSampler()
    sampler.start()
    out = fitted.transform(images)
    return {"growth": sampler.stop() - baseline, "output": out.nbytes}


def measure_memory(n_images, size, batch_size, model_path):
    command = [sys.executable, __file__, "--memory-probe", str(n_images), "--size", str(size),
               "--batch-size", str(batch_size), "--model", model_path]
    # Large blocks straight from mmap and back on free: resident memory then tracks live memory
    # instead of what glibc's heap happens to keep.
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_ARENA_MAX": "2"}
    result = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    return json.loads(result.stdout.strip().splitlines()[-1])


def collect(argv=None):
    """Run the benchmark, print its tables, and return one summary row per ratio:
    ``(measure, ratio, target, met)``, ``met`` None where the target does not apply here."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=400, help="training images (a)")
    parser.add_argument("--size", type=int, default=64, help="image side: 64, 32 or 16")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--transform-images", type=int, default=4000, help="n for (b), (c)")
    parser.add_argument("--device", default="cpu",
                        help="cpu or cuda; the memory probe (c) runs on the CPU only")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--memory-probe", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_probe:
        print(json.dumps(memory_probe(args.memory_probe, args.size, args.batch_size, args.model)))
        return []
    if args.quick:
        args.images, args.size, args.epochs, args.rounds, args.transform_images = 80, 16, 1, 1, 200

    device = torch.device(args.device)
    torch.set_num_threads(torch.get_num_threads())
    print(f"# embedders vs plain PyTorch: NormFace, small CNN, {args.size}x{args.size} Olivetti "
          f"faces, batch {args.batch_size}, {device.type.upper()}")
    print(f"# machine: {machine_description(device)}")
    print(f"# date: {time.strftime('%Y-%m-%d')}")
    images, target = faces(args.images, args.size)
    ours, plain = compare_fit(images, target, args.epochs, args.batch_size, args.rounds, device)
    fit_ratio = ours / plain
    big, big_target = faces(args.transform_images, args.size)
    ours_rate, plain_rate = compare_transform(big, big_target, args.batch_size, args.rounds,
                                              device)
    rate_ratio = ours_rate / plain_rate
    n = args.transform_images

    print()
    print("| measure | hypersphere-sklearn | plain PyTorch | ratio | target |")
    print("|---|---|---|---|---|")
    print(f"| (a) fit, {args.images} images x {args.epochs} epochs | {ours:.2f} s | {plain:.2f} s "
          f"| {fit_ratio:.3f} | <= {FIT_TARGET} {'met' if fit_ratio <= FIT_TARGET else 'MISSED'} |")
    print(f"| (b) transform, {n} images | {ours_rate:.0f} img/s | {plain_rate:.0f} img/s | "
          f"{rate_ratio:.3f} | >= {TRANSFORM_TARGET} "
          f"{'met' if rate_ratio >= TRANSFORM_TARGET else 'MISSED'} |")
    summary = [
        (f"embedder fit / plain torch loop ({args.images} images, {args.epochs} epochs)",
         fit_ratio, f"<= {FIT_TARGET}", fit_ratio <= FIT_TARGET),
        (f"embedder transform throughput / plain inference ({n} images)", rate_ratio,
         f">= {TRANSFORM_TARGET}", rate_ratio >= TRANSFORM_TARGET),
    ]
    steps = compare_steps(images, target, args.batch_size, args.rounds, device)
    baseline = steps["NCHW float32"]
    print()
    print(f"| (d) training step, batch {args.batch_size} | seconds | speed-up over NCHW float32 |")
    print("|---|---|---|")
    for name, seconds in steps.items():
        print(f"| {name} | {seconds:.4f} | {baseline / seconds:.2f} |")
    summary += step_targets(steps, emulated=device.type == "cpu" and cpu_emulates("bf16"))

    if device.type != "cpu":
        print(f"\n(c) transform memory: skipped on {device.type}; the probe measures the host's "
              "resident memory of a CPU transform (run with --device cpu)")
        return summary

    with tempfile.TemporaryDirectory() as folder:
        model_path = os.path.join(folder, "model.pkl")
        with open(model_path, "wb") as file:
            pickle.dump(embedder(1, args.batch_size).fit(images, target), file)
        small_mem = measure_memory(n, args.size, args.batch_size, model_path)
        large_mem = measure_memory(4 * n, args.size, args.batch_size, model_path)

    def extra(m):
        return max(m["growth"] - m["output"], 0) / 2**20

    print()
    print("| (c) transform memory | peak growth | output array | growth beyond output |")
    print("|---|---|---|---|")
    for count, m in ((n, small_mem), (4 * n, large_mem)):
        print(f"| {count} images | {m['growth'] / 2**20:.1f} MiB | {m['output'] / 2**20:.1f} MiB "
              f"| {extra(m):.1f} MiB |")
    # A copy of X (the leak this guards against) would scale with n: 4x. Allow allocator noise.
    grows = extra(large_mem) > extra(small_mem) + max(16.0, 0.25 * extra(small_mem))
    print(f"\nmemory beyond the output at 4n vs n: {extra(large_mem):.1f} vs {extra(small_mem):.1f}"
          f" MiB -> {'GROWS with n' if grows else 'bounded by the batch (target met)'}")
    summary.append((f"transform memory beyond the output, {4 * n} / {n} images",
                    extra(large_mem) / max(extra(small_mem), 1e-9),
                    "no growth with n (+16 MiB or 25 % allowed)", not grows))
    return summary


def main(argv=None):
    collect(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())

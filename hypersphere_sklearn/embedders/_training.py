"""What keeps training safe: a resumable schedule, divergence checks, Ctrl-C, checkpoints."""

import math
import signal
import sys
import threading
from pathlib import Path

import torch
from skorch.callbacks import Callback

CHECKPOINT_NAME = "checkpoint.safetensors"


class TrainingDivergedError(FloatingPointError, ValueError):
    """The loss or the gradients stopped being finite during ``fit``.

    The embedder keeps its last good weights: it stays fitted and ``transform`` works. A
    ``ValueError`` too, since the cause is a setting (learning rate, margin, precision).
    """


def unwrapped(module):
    """The module itself when ``torch.compile`` wrapped it (its state has unprefixed names)."""
    return getattr(module, "_orig_mod", module)


def capture_rng(device):
    """torch's random state (and the GPU's when training there), to continue it exactly."""
    state = {"cpu": torch.get_rng_state()}
    if torch.device(device).type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(torch.device(device))
    return state


def restore_rng(state, device):
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.device(device).type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], torch.device(device))


def gradient_norm(parameters, max_norm=None):
    """The total 2-norm of the gradients, after clipping them to ``max_norm`` when given."""
    grads = [p for p in parameters if p.grad is not None]
    if not grads:
        return torch.zeros(())
    if max_norm is not None:
        return torch.nn.utils.clip_grad_norm_(grads, max_norm)
    total_norm = getattr(torch.nn.utils, "get_total_norm", None)  # torch >= 2.6: fused
    if total_norm is not None:
        return total_norm([p.grad for p in grads])
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad.detach())
                                                 for p in grads]))


class CosineSchedule(Callback):
    """Cosine annealing of the learning rate over ``max_epochs``.

    The rate of an epoch is a function of its number alone (``initial_lr`` of each parameter
    group times ``(1 + cos(π·e/max_epochs)) / 2``), so a run resumed from a checkpoint follows
    exactly the schedule of an uninterrupted one. Epochs beyond ``max_epochs`` (more
    ``partial_fit`` calls) start a new cycle.
    """

    def on_epoch_begin(self, net, **kwargs):
        epoch = (len(net.history) - 1) % net.max_epochs
        factor = 0.5 * (1.0 + math.cos(math.pi * epoch / net.max_epochs))
        for group in net.optimizer_.param_groups:
            group["lr"] = group.setdefault("initial_lr", group["lr"]) * factor
        net.history.record("lr", net.optimizer_.param_groups[0]["lr"])


class EpochCheckpoint(Callback):
    """Write the whole training state to ``<directory>/checkpoint.safetensors`` each epoch."""

    def __init__(self, directory):
        self.directory = directory

    def on_epoch_end(self, net, **kwargs):
        net.save(Path(self.directory) / CHECKPOINT_NAME, training_state=True)


class WeightSnapshots:
    """Copies of the weights at the start of an epoch, kept as good once a step at them
    succeeded: what a diverged run falls back to when its current weights are not finite."""

    def __init__(self):
        self.pending = self.good = None

    @staticmethod
    def state(net):
        return {name: {k: v.detach().to("cpu", copy=True)
                       for k, v in unwrapped(getattr(net, name)).state_dict().items()}
                for name in ("module_", "criterion_")}

    def take(self, net):
        self.pending = self.state(net)

    def confirm(self):
        if self.pending is not None:
            self.good, self.pending = self.pending, None

    def restore(self, net):
        """Load the most recent finite snapshot: this epoch's start (before its first step
        was confirmed) or the last confirmed one."""
        for state in (self.pending, self.good):
            if state is not None and all(bool(torch.isfinite(v).all())
                                         for part in state.values() for v in part.values()
                                         if v.is_floating_point()):
                for name, part in state.items():
                    unwrapped(getattr(net, name)).load_state_dict(part)
                return True
        return False


class InterruptRequest:
    """Ctrl-C during training asks to stop after the current batch; a second one stops at once.

    Only in the main thread, and only when Python's own SIGINT handler is in place (a program
    with a handler of its own keeps it).
    """

    def __init__(self):
        self.requested = False
        self.previous = None

    def __enter__(self):
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self.previous = signal.signal(signal.SIGINT, self.handle)
        return self

    def handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nCtrl-C: training stops after this batch (Ctrl-C again stops at once).",
              file=sys.stderr, flush=True)

    def __exit__(self, *exc_info):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


def divergence_message(net, loss, norm, kept, what=None):
    """What went wrong, where, the likely cause and the fix."""
    epoch, batch = len(net.history), len(net.history[-1]["batches"])
    if what is None:
        what = (f"the loss is {loss:g}" if not math.isfinite(loss)
                else f"the gradient norm is {norm:g} (loss {loss:.4g})")
    causes = [f"a learning rate too high for this loss and network (lr={net.lr:g})"]
    fixes = [f"lower the learning rate (e.g. lr={net.lr / 10:g})"]
    if net.max_grad_norm is None:
        fixes.append("clip gradients (e.g. max_grad_norm=5.0)")
    params = net.get_params(deep=False)
    if "margin" in params:
        causes.append("a margin too hard for the network early in training")
        fix = "a smaller margin"
        if "gradient_detach" in params and not params["gradient_detach"]:
            fix += " or gradient_detach=True"
        fixes.append(fix)
    if net.mixed_precision == "fp16":
        causes.append("float16 overflow")
        fixes.append("mixed_precision='bf16' or None")
    return (
        f"training diverged at epoch {epoch}, batch {batch}: {what}. Likely cause: "
        f"{' or '.join(causes)}. Fix: {'; '.join(fixes)}. The embedder keeps {kept} and can "
        "transform; fit again (with warm_start=True to continue from them)."
    )

"""Helpers shared by the benchmark scripts (imported by them, not a public module)."""

import os
import platform
import time

import torch


def processor_name():
    """The CPU's model name where the OS tells it (Linux), else the architecture.

    Run times differ between this project's machines of one architecture (a View 2 fold in
    bfloat16 took a mean 1,228 s on an AMD EPYC and 704 s on an Intel Xeon with AMX), so a
    figure names the model.
    """
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return f"{line.split(':', 1)[1].strip()} ({platform.machine()})"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_description(device=None):
    """The machine a figure was measured on: CPU, cores, threads, torch and python; the GPU."""
    cpu = (f"{processor_name()}, {os.cpu_count()} cores, "
           f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
           f"python {platform.python_version()}")
    if device is not None and torch.device(device).type == "cuda":
        return f"{torch.cuda.get_device_name(device)}; host {cpu}"
    return cpu


def timed(function):
    """``(seconds, result)`` of one call."""
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result

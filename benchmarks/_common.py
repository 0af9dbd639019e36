"""Helpers shared by the benchmark scripts (imported by them, not a public module)."""

import os
import platform
import time

import torch


def machine_description(device=None):
    """The machine a figure was measured on: CPU, cores, threads, torch and python; the GPU."""
    cpu = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
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

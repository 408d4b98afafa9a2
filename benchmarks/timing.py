"""Timing helpers shared by the benchmark scripts (run as ``python benchmarks/bench_*.py``, which
puts this folder on ``sys.path``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import torch


def interleaved_median_ms(fns: Sequence[Callable[[], object]], repeats: int, sync: Callable[[], None],
                          warmup: int = 1) -> list[float]:
    """Median milliseconds of each of ``fns``, called in turn, call by call (a change in the machine's
    load hits every side alike), after ``warmup`` untimed rounds; ``sync`` waits for the device."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    sync()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            t = time.perf_counter()
            fn()
            sync()
            ts.append(time.perf_counter() - t)
    return [float(np.median(ts)) * 1e3 for ts in times]


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """Relative difference ||a - b|| / ||b||, in float64 on the CPU."""
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return float((a - b).norm() / max(float(b.norm()), 1e-30))

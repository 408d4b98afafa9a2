"""Plain references for the gather_dropout ops: the keep mask recomputed in numpy from its written
definition (the (u * d + j)-th SplitMix64 output, top 32 bits >= round(p * 2^32)), and the float64
PyTorch gather / dropout / dot built on it."""

from __future__ import annotations

import numpy as np
import torch

_GAMMA, _M1, _M2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def splitmix64(seed: int, k: np.ndarray) -> np.ndarray:
    """The k-th outputs (k = 0, 1, ...) of SplitMix64 seeded with ``seed`` (uint64 wrap-around)."""
    with np.errstate(over="ignore"):
        z = np.uint64(seed % 2**64) + (k.astype(np.uint64) + np.uint64(1)) * _GAMMA
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def keep_mask(U: int, d: int, p: float, seed: int) -> torch.Tensor:
    """(U, d) float64: 1 where element (u, j) is kept."""
    k = np.arange(U * d, dtype=np.uint64).reshape(U, d)
    top = splitmix64(seed, k) >> np.uint64(32)
    return torch.from_numpy((top >= np.uint64(round(p * 2**32))).astype(np.float64))


def gather_dropout_reference(x: torch.Tensor, index: torch.Tensor, p: float, seed: int) -> torch.Tensor:
    scale = 1.0 / (1.0 - p) if p < 1 else 0.0
    return x[index] * keep_mask(len(index), x.shape[1], p, seed).to(x) * scale


def gather_dropout_dot_reference(x, index, w, p, seed) -> torch.Tensor:
    return gather_dropout_reference(x, index, p, seed) @ w

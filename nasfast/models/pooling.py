"""Average pooling that stays correct on CUDA for channels-last tensors.

PyTorch's CUDA ``avg_pool2d`` backward for channels-last input with padding > 0 leaves the padding
out of the input coordinates and returns wrong input gradients without an error (pytorch/pytorch
#188344, fixed by #188345). Seen here with torch 2.11.0+cu130 on an H100 (2026-11-24): for
``(64, 16, 32, 32)`` float32 input, 3x3 stride 1 padding 1 without padded zeros, the output and
input gradient together differed from the CPU's by 0.73 (relative norm); NCHW and unpadded pooling
agreed. Our proxy batch is channels-last, so NB201's one-at-a-time snip moved by a median 11 % on
the GPU. ``PaddedAvgPool2d`` pools such input as NCHW instead; the result is the same function.
"""

from __future__ import annotations

import torch
from torch import nn


class PaddedAvgPool2d(nn.AvgPool2d):
    """``nn.AvgPool2d`` that pools a channels-last CUDA tensor in NCHW when padding > 0."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if pools_as_nchw(x, self.padding):
            x = x.contiguous()
        return super().forward(x)


def pools_as_nchw(x: torch.Tensor, padding: object, device_type: str | None = None) -> bool:
    """Whether ``PaddedAvgPool2d`` re-lays ``x`` out as NCHW: a channels-last (not also NCHW-contiguous)
    tensor on CUDA, pooled with padding. ``device_type`` overrides ``x``'s (for tests without a GPU)."""
    padded = any(padding) if isinstance(padding, (tuple, list)) else padding != 0
    return ((device_type or x.device.type) == "cuda" and padded and not x.is_contiguous()
            and x.is_contiguous(memory_format=torch.channels_last))

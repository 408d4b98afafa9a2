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
        if (x.is_cuda and self.padding != 0 and not x.is_contiguous()
                and x.is_contiguous(memory_format=torch.channels_last)):
            x = x.contiguous()
        return super().forward(x)

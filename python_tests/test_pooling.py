"""PaddedAvgPool2d: nn.AvgPool2d's function, with channels-last CUDA input pooled as NCHW
(torch's CUDA backward for that case is wrong, pytorch/pytorch#188344; nasfast/models/pooling.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nasfast.models.pooling import PaddedAvgPool2d, pools_as_nchw

CASES = [dict(kernel_size=3, stride=1, padding=1, count_include_pad=False),
         dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
         dict(kernel_size=2, stride=2)]


def _value_and_grad(pool, x, g):
    x = x.detach().requires_grad_(True)
    y = pool(x)
    (gx,) = torch.autograd.grad(y, x, g)
    return y.detach().cpu(), gx.cpu()


@pytest.mark.parametrize("kw", CASES)
@pytest.mark.parametrize("channels_last", [False, True])
def test_matches_nn_avgpool2d_on_cpu(kw, channels_last):
    x = torch.randn(4, 5, 9, 9, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    g = torch.randn_like(nn.AvgPool2d(**kw)(x))
    ours, ref = _value_and_grad(PaddedAvgPool2d(**kw), x, g), _value_and_grad(nn.AvgPool2d(**kw), x, g)
    assert torch.equal(ours[0], ref[0]) and torch.equal(ours[1], ref[1])


def test_the_workaround_applies_to_padded_channels_last_cuda_input_only():
    """The layout decision, testable without a GPU: only channels-last CUDA input with padding is
    re-laid out (the case pytorch#188344 gets wrong); NCHW, unpadded and CPU input pass through."""
    nchw = torch.randn(2, 3, 5, 5)
    nhwc = nchw.contiguous(memory_format=torch.channels_last)
    assert pools_as_nchw(nhwc, 1, device_type="cuda")
    assert pools_as_nchw(nhwc, (1, 1), device_type="cuda")
    assert not pools_as_nchw(nhwc, 0, device_type="cuda")
    assert not pools_as_nchw(nhwc, (0, 0), device_type="cuda")
    assert not pools_as_nchw(nchw, 1, device_type="cuda")
    assert not pools_as_nchw(nhwc, 1)  # a CPU tensor: torch's CPU kernel is right
    # one channel: channels-last and NCHW are the same memory, nothing to re-lay out
    assert not pools_as_nchw(torch.randn(2, 1, 5, 5).contiguous(memory_format=torch.channels_last), 1,
                             device_type="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("kw", CASES)
def test_channels_last_cuda_gradient_matches_cpu(kw):
    x = torch.randn(8, 16, 32, 32).contiguous(memory_format=torch.channels_last)
    g = torch.randn_like(nn.AvgPool2d(**kw)(x)).contiguous(memory_format=torch.channels_last)
    cpu = _value_and_grad(nn.AvgPool2d(**kw), x, g)
    gpu = _value_and_grad(PaddedAvgPool2d(**kw), x.cuda(), g.cuda())
    torch.testing.assert_close(gpu[0], cpu[0])
    torch.testing.assert_close(gpu[1], cpu[1])

"""Python face of the ``avg_pool3x3`` ops (schemas in csrc/ops/avg_pool3x3.cpp).

NB201's ``avg_pool_3x3``: a 3x3 average, stride 1, padding 1, the padded zeros left out of the
mean (``nn.AvgPool2d(3, 1, 1, count_include_pad=False)``). Compiled because the profile of the
batched proxy evaluation put torch's CPU pooling (forward and backward) at about a third of the
time (``benchmarks/RESULTS.md``). The backward is the op's adjoint, itself differentiable (its
adjoint is the forward), so double backward (grasp's Hessian-vector product) works.
"""

from __future__ import annotations

import torch


def avg_pool3x3(x: torch.Tensor) -> torch.Tensor:
    """3x3 average pool without padded zeros; ``x`` (N, C, H, W) float32/float64 -> same shape.

    Example:
        >>> import torch
        >>> from nasfast.ops.avg_pool3x3 import avg_pool3x3
        >>> y = avg_pool3x3(torch.ones(1, 1, 3, 3))
        >>> bool((y == 1).all())
        True
    """
    return torch.ops.nasfast.avg_pool3x3(x)


def _like(x: torch.Tensor) -> torch.Tensor:
    # the kernels keep channels-last input channels-last and compute anything else as NCHW
    cl = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    return torch.empty_like(x, memory_format=torch.channels_last if cl else torch.contiguous_format)


def _check(x: torch.Tensor, name: str) -> None:
    torch._check(x.dim() == 4, lambda: f"{name} must be (N, C, H, W), got shape {tuple(x.shape)}")
    torch._check(x.dtype in (torch.float32, torch.float64),
                 lambda: f"{name} must have dtype float32 or float64, got {x.dtype}")


@torch.library.register_fake("nasfast::avg_pool3x3")
def _(x):
    _check(x, "x")
    return _like(x)


@torch.library.register_fake("nasfast::avg_pool3x3_backward")
def _(grad):
    _check(grad, "grad")
    return _like(grad)


def _setup(ctx, inputs, output):
    pass


def _forward_backward(ctx, grad):
    return torch.ops.nasfast.avg_pool3x3_backward(grad)


def _adjoint_backward(ctx, grad):
    return torch.ops.nasfast.avg_pool3x3(grad)


torch.library.register_autograd("nasfast::avg_pool3x3", _forward_backward, setup_context=_setup)
torch.library.register_autograd("nasfast::avg_pool3x3_backward", _adjoint_backward, setup_context=_setup)

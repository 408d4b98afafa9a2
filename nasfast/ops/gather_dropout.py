"""Python face of the ``gather_dropout`` ops (schemas in csrc/ops/gather_dropout.cpp).

``gather_dropout(x, index, p)`` is ``F.dropout(x[index], p)`` in one pass: rows gathered from ``x``,
each output element kept with probability 1 - p and scaled by 1 / (1 - p).
``gather_dropout_dot(x, index, w, p)`` is ``F.dropout(x[index], p) @ w``, never forming the gathered
rows. GATES' pointwise head needs them because aw_nas scores the two sides of every training pair in
separate passes, so every use of an architecture gets its own dropout mask
(``PointwiseHead.forward_uses``): the uses are 8x the architectures, and on them torch's
``bernoulli_`` was about a third of a training step and the last Linear's backward (a K = 1 matrix
product) another 1.6 ms (``benchmarks/RESULTS.md``).

The mask is drawn by a counter-based generator (SplitMix64, see csrc/ops/gather_dropout.h) from a
64-bit seed, so it is never stored: the backward recomputes it. Without an explicit ``seed`` one is
drawn from torch's default CPU generator, so ``torch.manual_seed`` makes runs repeat. The mask has
the distribution of torch's dropout (independent Bernoulli(1 - p) per element, P(kept) exact to
2^-32), not its random stream: the same seed gives different masks in the two.

``gather_dropout``'s backward is its adjoint, itself differentiable (its adjoint is the forward).
``gather_dropout_dot`` has first derivatives only (no double backward).

A dropped element is multiplied by 0, as in torch's dropout, so a NaN or inf there gives NaN on
both devices. On CUDA the backwards add with atomics: their last bits vary between runs, and under
``torch.use_deterministic_algorithms(True)`` they raise; the CPU kernels are deterministic.
"""

from __future__ import annotations

import numpy as np
import torch

from nasfast.ops.double_backward import refuse_double_backward


def draw_seed() -> int:
    """A 64-bit seed from torch's default CPU generator (so ``torch.manual_seed`` fixes it)."""
    return int(torch.empty((), dtype=torch.int64).random_())


def _seed(seed: int | None) -> int:
    """The op's int64 seed: drawn when None; otherwise an int that fits (torch's schema error for
    2**63 reads "Expected a value of type 'int' ... found type 'int'")."""
    if seed is None:
        return draw_seed()
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not -(2**63) <= int(seed) < 2**63:
        raise ValueError(f"seed must be an integer that fits in int64, got {seed!r}")
    return int(seed)


def gather_dropout(x: torch.Tensor, index: torch.Tensor, p: float, seed: int | None = None) -> torch.Tensor:
    """Rows ``x[index]`` with dropout: ``(n, d)`` float32/float64 and ``(U,)`` int64 -> ``(U, d)``.

    Args:
        x: the rows to gather.
        index: int64 row indices in [0, n), repeats allowed (each use gets its own mask).
        p: dropout probability in [0, 1]; 0 is a plain gather, 1 gives zeros (as ``F.dropout``).
        seed: the mask's seed; drawn from torch's default generator when None.

    Example:
        >>> import torch
        >>> from nasfast.ops.gather_dropout import gather_dropout
        >>> x = torch.ones(2, 3)
        >>> y = gather_dropout(x, torch.tensor([1, 1, 0]), 0.5, seed=7)
        >>> sorted(set(y.flatten().tolist()))  # dropped, or kept and scaled by 1 / (1 - p)
        [0.0, 2.0]
    """
    return torch.ops.nasfast.gather_dropout(x, index, float(p), _seed(seed))


def gather_dropout_dot(x: torch.Tensor, index: torch.Tensor, w: torch.Tensor, p: float,
                       seed: int | None = None) -> torch.Tensor:
    """``gather_dropout(x, index, p, seed) @ w`` without forming the ``(U, d)`` rows: ``(U,)``.

    ``w`` is ``(d,)`` of ``x``'s dtype: a ``Linear(d, 1)``'s weight row (add its bias yourself). The
    same seed draws the same mask as ``gather_dropout``.

    Example:
        >>> import torch
        >>> from nasfast.ops.gather_dropout import gather_dropout, gather_dropout_dot
        >>> x, w = torch.ones(2, 3), torch.ones(3)
        >>> bool(torch.allclose(gather_dropout_dot(x, torch.tensor([0, 1]), w, 0.5, seed=7),
        ...                     gather_dropout(x, torch.tensor([0, 1]), 0.5, seed=7) @ w))
        True
    """
    return torch.ops.nasfast.gather_dropout_dot(x, index, w, float(p), _seed(seed))


def _check(t: torch.Tensor, index: torch.Tensor, name: str) -> None:
    torch._check(t.dim() == 2, lambda: f"{name} must be 2-D (rows, features), got shape {tuple(t.shape)}")
    torch._check(t.dtype in (torch.float32, torch.float64),
                 lambda: f"{name} must have dtype float32 or float64, got {t.dtype}")
    torch._check(index.dim() == 1 and index.dtype == torch.int64, lambda: "index must be (U,) int64")


@torch.library.register_fake("nasfast::gather_dropout")
def _(x, index, p, seed):
    _check(x, index, "x")
    return x.new_empty((index.shape[0], x.shape[1]))


@torch.library.register_fake("nasfast::gather_dropout_backward")
def _(grad, index, rows, p, seed):
    _check(grad, index, "grad")
    return grad.new_empty((rows, grad.shape[1]))


@torch.library.register_fake("nasfast::gather_dropout_dot")
def _(x, index, w, p, seed):
    _check(x, index, "x")
    torch._check(w.dim() == 1 and w.shape[0] == x.shape[1], lambda: "w must be (d,), d = the columns of x")
    return x.new_empty((index.shape[0],))


@torch.library.register_fake("nasfast::gather_dropout_dot_backward")
def _(grad, x, index, w, p, seed):
    return x.new_empty(x.shape), w.new_empty(w.shape)  # contiguous, as the kernel's


def _forward_setup(ctx, inputs, output):
    x, index, p, seed = inputs
    ctx.save_for_backward(index)
    ctx.rows, ctx.p, ctx.seed = x.shape[0], p, seed


def _forward_backward(ctx, grad):
    (index,) = ctx.saved_tensors
    return torch.ops.nasfast.gather_dropout_backward(grad, index, ctx.rows, ctx.p, ctx.seed), None, None, None


def _adjoint_setup(ctx, inputs, output):
    grad, index, rows, p, seed = inputs
    ctx.save_for_backward(index)
    ctx.p, ctx.seed = p, seed


def _adjoint_backward(ctx, grad):
    (index,) = ctx.saved_tensors
    return torch.ops.nasfast.gather_dropout(grad, index, ctx.p, ctx.seed), None, None, None, None


def _dot_setup(ctx, inputs, output):
    x, index, w, p, seed = inputs
    ctx.save_for_backward(x, index, w)
    ctx.p, ctx.seed = p, seed


def _dot_backward(ctx, grad):
    x, index, w = ctx.saved_tensors
    gx, gw = torch.ops.nasfast.gather_dropout_dot_backward(grad, x, index, w, ctx.p, ctx.seed)
    return (gx if ctx.needs_input_grad[0] else None), None, (gw if ctx.needs_input_grad[2] else None), None, None


torch.library.register_autograd("nasfast::gather_dropout_dot", _dot_backward, setup_context=_dot_setup)
refuse_double_backward("gather_dropout_dot_backward", "gather_dropout_dot")
torch.library.register_autograd("nasfast::gather_dropout", _forward_backward, setup_context=_forward_setup)
torch.library.register_autograd("nasfast::gather_dropout_backward", _adjoint_backward, setup_context=_adjoint_setup)

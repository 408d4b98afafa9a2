"""Python face of the ``gates_aggregate`` op (schemas in csrc/ops/gates_aggregate.cpp).

One GATES layer's aggregation over a batch of small DAGs (REFERENCES A1.2-A1.4)::

    y[b, i, :] = sum_j [edge_op[b, i, j] >= 0] * G[edge_op[b, i, j], :] * S[b, j, :]
                 + residual[i] * S[b, i, :]

without materialising the (B, N, N, D) gated messages that plain PyTorch builds.
"""

from __future__ import annotations

import torch

from nasfast.ops.double_backward import refuse_double_backward


def gates_aggregate(S: torch.Tensor, G: torch.Tensor, edge_op: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    """Gated sum of predecessor features, one GATES layer's hot loop.

    Args:
        S: batch x N x D node features after the layer's linear map (S = X W), float32 or float64.
        G: K x D gate table, already passed through the sigmoid by the caller
            (G = sigmoid(E U + c) for the K op embeddings E), same dtype as S.
        edge_op: batch x N x N int64, the op index on edge j -> i at [b, i, j] (row = destination);
            any negative value (use -1) masks the entry: no edge, or an edge whose op is ``none``.
            Indices must be < K.
        residual: N bool, the nodes that keep the ungated self term ``S[b, i]``.

    Returns:
        batch x N x D, differentiable w.r.t. S and G (edge_op and residual are not).

    The three GATES encoders are all this call:

    - op-on-node (NB101, A1.2): ``edge_op[b, i, j] = op(i)`` wherever there is an edge j -> i (the
      gate comes from the receiving node); ``plus_I`` also sets the diagonal ``edge_op[b, i, i] =
      op(i)``; ``residual`` is all True by default, all False with ``residual_only=0``.
    - op-on-edge, simple (NB201, A1.3): ``edge_op[b, i, j] = op(j -> i)``, -1 for ``none``;
      ``residual[i] = i < residual_only``.
    - op-on-edge, general (DARTS/NB301 cells, A1.4): each node has two input slots, so build one
      ``edge_op`` per slot and average the two calls made with ``residual`` all False, then add
      the residual term ``S`` once: ``(agg(S, G, e0, no) + agg(S, G, e1, no)) / 2 + S``.

    Example:
        >>> import torch
        >>> from nasfast.ops.gates_aggregate import gates_aggregate
        >>> S, G = torch.randn(2, 4, 8), torch.rand(3, 8)
        >>> edge_op = torch.full((2, 4, 4), -1, dtype=torch.int64)
        >>> edge_op[:, 1, 0] = 2  # edge 0 -> 1 carries op 2
        >>> y = gates_aggregate(S, G, edge_op, torch.tensor([True, False, False, False]))
        >>> torch.allclose(y[:, 1], G[2] * S[:, 0])
        True
    """
    return torch.ops.nasfast.gates_aggregate(S, G, edge_op, residual)


@torch.library.register_fake("nasfast::gates_aggregate")
def _(S, G, edge_op, residual):
    torch._check(S.dim() == 3 and G.dim() == 2 and edge_op.dim() == 3, lambda: "expected (B, N, D), (K, D), (B, N, N)")
    torch._check(G.dtype == S.dtype, lambda: f"G must have the dtype of S ({S.dtype}), got {G.dtype}")
    return S.new_empty(S.shape)  # contiguous, as the kernel's (empty_like would keep a transposed S's strides)


@torch.library.register_fake("nasfast::gates_aggregate_backward")
def _(grad, S, G, edge_op, residual):
    return S.new_empty(S.shape), G.new_empty(G.shape)


def _setup_context(ctx, inputs, output):
    S, G, edge_op, residual = inputs
    ctx.save_for_backward(S, G, edge_op, residual)


def _backward(ctx, grad):
    S, G, edge_op, residual = ctx.saved_tensors
    grad_S, grad_G = torch.ops.nasfast.gates_aggregate_backward(grad.contiguous(), S, G, edge_op, residual)
    return (
        grad_S if ctx.needs_input_grad[0] else None,
        grad_G if ctx.needs_input_grad[1] else None,
        None,
        None,
    )


torch.library.register_autograd("nasfast::gates_aggregate", _backward, setup_context=_setup_context)
refuse_double_backward("gates_aggregate_backward", "gates_aggregate")

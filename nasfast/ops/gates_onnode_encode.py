"""Python face of the ``gates_onnode_encode`` op (schema in csrc/ops/gates_onnode_encode.cpp).

The whole op-on-node GATES encoder of the NB101 paper config (REFERENCES A1.2) in one call, for
scoring many cells: each CPU thread takes a chunk of 32 graphs through every layer, so nothing
falls out of cache, and the graph-independent parts (the input node's features, layer 1's
``S = x0 W``) are computed once per call. ``NB101GATES`` uses it under ``torch.no_grad()`` on CPU;
training keeps the layer-by-layer ``gates_aggregate`` path. CPU only: on a GPU the layer-by-layer
kernels already run the whole batch at once.

The backward (for completeness and gradcheck) recomputes the dense forward in PyTorch and
back-propagates by hand; it is not meant to be fast.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def gates_onnode_encode(x0: torch.Tensor, weights: Sequence[torch.Tensor], gates: Sequence[torch.Tensor],
                        biases: Sequence[torch.Tensor], adjacency: torch.Tensor, node_op: torch.Tensor,
                        valid: torch.Tensor) -> torch.Tensor:
    """Encode a batch of op-on-node cells with a GATES layer stack and the mean readout.

    Args:
        x0: N x d0 initial node features, shared by every graph (node 0 is the input node).
        weights: per layer, d_in x d_out (``S = Y W``).
        gates: per layer, K x d_out gate table after the sigmoid (``sigmoid(E U + c)``).
        biases: per layer, d_out.
        adjacency: batch x N x N bool, ``[b, i, j]`` = edge j -> i; node 0 must have no incoming edge.
        node_op: batch x N int64, each node's row of the gate tables (< K).
        valid: batch x N bool, False on padding (dropped from the readout, still counted in N - 1).

    Returns:
        batch x d_out: ``sum_{i >= 1} valid_i Y_i / (N - 1)`` with
        ``Y_i = act(G[op_i] * sum_j adj[i, j] S_j + S_i + b)``, ReLU between layers.

    Example:
        >>> import torch
        >>> from nasfast.ops.gates_onnode_encode import gates_onnode_encode, reference
        >>> x0 = torch.randn(3, 4)
        >>> W, G, b = [torch.randn(4, 5)], [torch.rand(2, 5)], [torch.zeros(5)]
        >>> adj = torch.tensor([[[0, 0, 0], [1, 0, 0], [1, 1, 0]]], dtype=torch.bool)
        >>> out = gates_onnode_encode(x0, W, G, b, adj, torch.tensor([[0, 1, 0]]), torch.ones(1, 3, dtype=torch.bool))
        >>> torch.allclose(out, reference(x0, W, G, b, adj, torch.tensor([[0, 1, 0]]), torch.ones(1, 3, dtype=torch.bool)))
        True
    """
    if gates and node_op.dim() == 2 and node_op.shape[0] and node_op.shape[1]:
        # the kernel never reads node 0's gate, but the backward (and the reference) index it
        first, K = node_op[:, 0], gates[0].shape[0]
        if bool(((first < 0) | (first >= K)).any()):
            raise ValueError(f"node_op[:, 0] must lie in 0..{K - 1} (a row of the gate tables), got "
                             f"{int(first[(first < 0) | (first >= K)][0])}")
    return torch.ops.nasfast.gates_onnode_encode(x0, list(weights), list(gates), list(biases), adjacency, node_op,
                                                 valid)


def _dense_forward(x0, weights, gates, biases, adjacency, node_op):
    """Per layer (input Y, P = A S, pre-activation Z), and the last layer's output."""
    B = node_op.shape[0]
    A = adjacency.to(x0.dtype)
    y = x0.expand(B, -1, -1)
    saved = []
    for k, (W, G, b) in enumerate(zip(weights, gates, biases)):
        S = torch.matmul(y, W)
        P = torch.bmm(A, S)
        z = G[node_op] * P + S + b
        saved.append((y, P, z))
        y = torch.relu(z) if k + 1 < len(weights) else z
    return saved, y


def _readout_mask(valid: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    mask = valid.to(dtype)
    return torch.cat([torch.zeros_like(mask[:, :1]), mask[:, 1:]], 1)[..., None]


def reference(x0, weights, gates, biases, adjacency, node_op, valid) -> torch.Tensor:
    """Plain-PyTorch dense version of the op (the test reference)."""
    _, y = _dense_forward(x0, weights, gates, biases, adjacency, node_op)
    return (y * _readout_mask(valid, y.dtype)).sum(1) / (node_op.shape[1] - 1)


@torch.library.register_fake("nasfast::gates_onnode_encode")
def _(x0, weights, gates, biases, adjacency, node_op, valid):
    torch._check(x0.dim() == 2 and adjacency.dim() == 3, lambda: "expected x0 (N, d0) and adjacency (B, N, N)")
    return x0.new_empty((adjacency.shape[0], weights[-1].shape[1]))


def _setup_context(ctx, inputs, output):
    x0, weights, gates, biases, adjacency, node_op, valid = inputs
    ctx.n_layers = len(weights)
    ctx.save_for_backward(x0, *weights, *gates, *biases, adjacency, node_op, valid)


def _backward(ctx, grad):
    L = ctx.n_layers
    saved = ctx.saved_tensors
    x0, weights, gates, biases = saved[0], saved[1:1 + L], saved[1 + L:1 + 2 * L], saved[1 + 2 * L:1 + 3 * L]
    adjacency, node_op, valid = saved[1 + 3 * L:]
    N = node_op.shape[1]
    layers, _ = _dense_forward(x0, weights, gates, biases, adjacency, node_op)
    A = adjacency.to(x0.dtype)
    dy = grad[:, None, :] * _readout_mask(valid, grad.dtype) / (N - 1)
    dW, dG, db = [None] * L, [None] * L, [None] * L
    for k in range(L - 1, -1, -1):
        y, P, z = layers[k]
        dz = dy * (z > 0).to(dy.dtype) if k + 1 < L else dy
        K, d = gates[k].shape
        dG[k] = torch.zeros(K, d, dtype=dz.dtype, device=dz.device).index_add(
            0, node_op.reshape(-1), (dz * P).reshape(-1, d))
        db[k] = dz.sum((0, 1))
        dS = torch.bmm(A.transpose(1, 2), gates[k][node_op] * dz) + dz
        dW[k] = torch.einsum("bnd,bne->de", y, dS)
        dy = torch.matmul(dS, weights[k].transpose(0, 1))
    return dy.sum(0), dW, dG, db, None, None, None


torch.library.register_autograd("nasfast::gates_onnode_encode", _backward, setup_context=_setup_context)

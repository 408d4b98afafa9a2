"""Plain-PyTorch reference of the gates_aggregate op: gather G by edge_op, mask, contract.

Materialises the (B, N, N, D) gated messages, which is what the compiled op avoids."""

from __future__ import annotations

import torch


def gates_aggregate_dense(S: torch.Tensor, G: torch.Tensor, edge_op: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    mask = (edge_op >= 0).unsqueeze(-1).to(S.dtype)  # (B, N, N, 1)
    gates = G[edge_op.clamp(min=0)] * mask  # (B, N, N, D): gate of edge j -> i at [b, i, j]
    return torch.einsum("bijd,bjd->bid", gates, S) + residual.to(S.dtype)[None, :, None] * S


def nb101_op_on_node(B: int, K: int = 4, N: int = 7, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random DAGs (each edge present with probability 1/2) as op-on-node ``edge_op`` (the gate of
    edge j -> i is op(i), REFERENCES A1.2) with ``plus_I`` self loops, as the NB101 config uses."""
    adj = torch.tril(torch.rand(B, N, N, generator=generator) < 0.5, diagonal=-1)  # row = destination
    ops = torch.randint(0, K, (B, N), generator=generator)
    edge_op = torch.where(adj, ops[:, :, None].expand(B, N, N), torch.full((B, N, N), -1, dtype=torch.int64))
    diag = torch.arange(N)
    edge_op[:, diag, diag] = ops
    return edge_op

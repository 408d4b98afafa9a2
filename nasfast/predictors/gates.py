"""GATES encoders (Ning et al., ECCV 2020; REFERENCES A1.2-A1.4), every layer one
``gates_aggregate`` call.

A GATES layer maps node features X (B x N x d_in) to Y (B x N x d_out)::

    S = X W                                  (no bias)
    G = sigmoid(E U + c)                     (one gate row per op embedding row of E)
    Y_i = sum_j [edge j -> i] G[op(j -> i)] * S_j  +  [i keeps a self term] S_i  (+ b)

Op-on-node (NB101) sets op(j -> i) = op(i), the receiving node's op; op-on-edge (NB201, DARTS)
uses the edge's own op. Inputs are encodings from ``nasfast.predictors.encoding``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from nasfast.ops.gates_aggregate import gates_aggregate
from nasfast.ops.gates_onnode_encode import gates_onnode_encode
from nasfast.predictors.encoding import (
    DARTS_NUM_NODES,
    NB101_OP_ROWS,
    NB201_NUM_NODES,
    Encoded,
)

__all__ = ["GatesLayer", "NB101GATES", "NB201GATES", "DartsGATES"]


class GatesLayer(nn.Module):
    """One GATES layer's parameters: ``weight`` (d_in x d_out, aw_nas's layout), ``op_attention``
    (U, c: a Linear from the op-embedding dim to d_out) and an optional ``bias`` (b).

    Init as aw_nas's ``reset_parameters``: weight and bias ~ U(-1/sqrt(d_out), 1/sqrt(d_out));
    ``op_attention`` keeps torch's Linear default.
    """

    def __init__(self, in_dim: int, out_dim: int, op_dim: int, bias: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_dim, out_dim))
        self.op_attention = nn.Linear(op_dim, out_dim)
        self.bias = nn.Parameter(torch.empty(out_dim)) if bias else None
        stdv = 1.0 / math.sqrt(out_dim)
        nn.init.uniform_(self.weight, -stdv, stdv)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -stdv, stdv)

    def support(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3 and x.stride(0) == 0 and x.shape[0] > 1:
            # the first layer's input is the same for every graph (an expanded view): one product,
            # not B; autograd's expand backward sums the batch before the weight gradient
            return torch.matmul(x[0], self.weight).expand(x.shape[0], -1, -1).contiguous()
        return torch.matmul(x, self.weight).contiguous()

    def gates(self, op_table: torch.Tensor) -> torch.Tensor:
        """K x d_out gate table for K op embeddings (K x op_dim)."""
        return torch.sigmoid(self.op_attention(op_table)).contiguous()

    def add_bias(self, y: torch.Tensor) -> torch.Tensor:
        return y if self.bias is None else y + self.bias

    def forward(self, x: torch.Tensor, op_table: torch.Tensor, edge_op: torch.Tensor,
                residual: torch.Tensor) -> torch.Tensor:
        """x: batch x N x d_in; edge_op: batch x N x N int64 (-1 masked); residual: N bool.

        The bias is added in place on the aggregate's fresh output (its backward keeps only its
        inputs), so this and a caller's in-place ReLU make no further activation: each one is a round
        of page faults under glibc's default malloc (``nasfast.runtime``, RESULTS.md)."""
        y = gates_aggregate(self.support(x), self.gates(op_table), edge_op, residual)
        return y if self.bias is None else y.add_(self.bias)


def _stack(in_dim: int, dims: tuple[int, ...], op_dim: int, bias: bool) -> nn.ModuleList:
    layers = []
    for d in dims:
        layers.append(GatesLayer(in_dim, d, op_dim, bias))
        in_dim = d
    return nn.ModuleList(layers)


def _check_dims(layers: tuple[int, ...]) -> tuple[int, ...]:
    layers = tuple(int(d) for d in layers)
    if not layers or min(layers) < 1:
        raise ValueError(f"GATES needs at least one layer of positive width, got layers={layers}")
    return layers


class NB101GATES(nn.Module):
    """Op-on-node GATES for NAS-Bench-101 (A1.2, aw_nas ``nb101-flow`` + ``DenseGraphFlow``).

    Defaults are the paper runs' config (``nbc_flow_gcn128x4.yaml``): op/node embeddings 48, hidden
    96, 4 layers x 128, no ``plus_I``, self term on every node, mean readout.

    Args:
        plus_I: add self loops, so the self term is gated by the node's own op.
        residual_only: None = ungated self term on every node; k = only on the first k nodes
            (the NB101 search config uses ``plus_I=True, residual_only=0``).
        readout: "mean" = aw_nas's default: drop the input node, zero padded nodes, divide by the 6
            slots (padding counted); "output" = the output node (``use_final_only``).
        other_node_zero: freeze the shared non-input node embedding at 0.

    Input: ``encode_nb101`` output. Output: batch x layers[-1].
    """

    def __init__(self, op_dim: int = 48, node_dim: int = 48, hid_dim: int = 96,
                 layers: tuple[int, ...] = (128, 128, 128, 128), plus_I: bool = False,
                 residual_only: int | None = None, readout: str = "mean", other_node_zero: bool = False) -> None:
        super().__init__()
        if readout not in ("mean", "output"):
            raise ValueError(f"NB101 GATES readout must be 'mean' or 'output', got {readout!r}")
        self.plus_I, self.residual_only, self.readout = bool(plus_I), residual_only, readout
        layers = _check_dims(layers)
        self.op_emb = nn.Embedding(len(NB101_OP_ROWS) - 2, op_dim)  # conv1x1, conv3x3, maxpool, none
        self.output_op_emb = nn.Parameter(torch.randn(op_dim))
        self.register_buffer("input_op_emb", torch.zeros(op_dim))  # fixed zero (A1.2)
        self.input_node_emb = nn.Parameter(torch.randn(node_dim))
        self.other_node_emb = nn.Parameter(torch.zeros(node_dim), requires_grad=not other_node_zero)
        self.x_hidden = nn.Linear(node_dim, hid_dim)
        self.layers = _stack(hid_dim, layers, op_dim, bias=True)
        self.out_dim = layers[-1]

    def op_table(self) -> torch.Tensor:
        """The op embeddings in ``NB101_OP_ROWS`` order, K=6 x op_dim."""
        return torch.cat([self.op_emb.weight, self.output_op_emb[None], self.input_op_emb[None]])

    def initial_features(self, batch: int, n: int) -> torch.Tensor:
        emb = torch.cat([self.input_node_emb[None], self.other_node_emb[None].expand(n - 1, -1)])
        return self.x_hidden(emb)[None].expand(batch, -1, -1)

    def edge_op(self, enc: Encoded) -> torch.Tensor:
        adj, node_op = enc["adjacency"], enc["node_op"]
        if self.plus_I:
            adj = adj | torch.eye(adj.shape[-1], dtype=torch.bool, device=adj.device)
        return torch.where(adj, node_op[:, :, None].expand_as(adj), -1).contiguous()

    def residual(self, n: int, device: torch.device) -> torch.Tensor:
        if self.residual_only is None:
            return torch.ones(n, dtype=torch.bool, device=device)
        return torch.arange(n, device=device) < int(self.residual_only)

    def fused(self, enc: Encoded) -> bool:
        """Whether ``forward`` takes the one-call path (``gates_onnode_encode``): scoring on CPU with
        the paper config (self term everywhere, no ``plus_I``, mean readout)."""
        return (not torch.is_grad_enabled() and enc["node_op"].device.type == "cpu" and not self.plus_I
                and self.residual_only is None and self.readout == "mean")

    def forward(self, enc: Encoded) -> torch.Tensor:
        B, n = enc["node_op"].shape
        if self.fused(enc):
            op_table = self.op_table()
            return gates_onnode_encode(
                self.initial_features(1, n)[0], [layer.weight for layer in self.layers],
                [layer.gates(op_table) for layer in self.layers], [layer.bias for layer in self.layers],
                enc["adjacency"], enc["node_op"], enc["valid"])
        edge_op = self.edge_op(enc)
        residual = self.residual(n, edge_op.device)
        op_table = self.op_table()
        y = self.initial_features(B, n)
        for k, layer in enumerate(self.layers):
            y = layer(y, op_table, edge_op, residual)
            if k < len(self.layers) - 1:
                y = y.relu_()  # in place on the layer's fresh output (see GatesLayer.forward)
        if self.readout == "output":
            return y[:, -1]
        valid = enc["valid"][:, 1:, None].to(y.dtype)
        return (y[:, 1:] * valid).sum(1) / (n - 1)


class NB201GATES(nn.Module):
    """Simple op-on-edge GATES for NAS-Bench-201 (A1.3, aw_nas ``nb201-flow`` +
    ``DenseGraphSimpleOpEdgeFlow``): a gate per edge from its op embedding, ``none`` masked, the
    ungated self term only on the first ``residual_only`` nodes (1: the input node), no layer bias,
    non-input initial embeddings fixed at 0, output-node readout. Defaults: 5 layers x 128.

    Input: ``encode_nb201`` output. Output: batch x layers[-1].
    """

    def __init__(self, op_dim: int = 48, node_dim: int = 48, hid_dim: int = 96,
                 layers: tuple[int, ...] = (128,) * 5, residual_only: int = 1, readout: str = "output") -> None:
        super().__init__()
        if readout not in ("mean", "output"):
            raise ValueError(f"NB201 GATES readout must be 'mean' or 'output', got {readout!r}")
        self.residual_only, self.readout = int(residual_only), readout
        layers = _check_dims(layers)
        self.op_emb = nn.Embedding(5, op_dim)  # NB201 OPS order; row 0 (none) is never gathered
        self.input_node_emb = nn.Parameter(torch.randn(node_dim))
        self.register_buffer("other_node_emb", torch.zeros(node_dim))  # fixed zero (A1.3)
        self.x_hidden = nn.Linear(node_dim, hid_dim)
        self.layers = _stack(hid_dim, layers, op_dim, bias=False)
        self.out_dim = layers[-1]

    def forward(self, enc: Encoded) -> torch.Tensor:
        edge_op = enc["edge_op"]
        B, n = edge_op.shape[0], NB201_NUM_NODES
        residual = torch.arange(n, device=edge_op.device) < self.residual_only
        emb = torch.cat([self.input_node_emb[None], self.other_node_emb[None].expand(n - 1, -1)])
        y = self.x_hidden(emb)[None].expand(B, -1, -1)
        for k, layer in enumerate(self.layers):
            y = layer(y, self.op_emb.weight, edge_op, residual)
            if k < len(self.layers) - 1:
                y = torch.relu(y)
        # "mean" (aw_nas's non-final readout) averages the non-input nodes
        return y[:, -1] if self.readout == "output" else y[:, 1:].mean(1)


class DartsGATES(nn.Module):
    """General op-on-edge GATES for DARTS / NB301 cells (A1.4, aw_nas ``cellss-flow`` +
    ``DenseGraphOpEdgeFlow``).

    Per cell group (normal, reduce): 2 cell-input nodes with their own learned embeddings
    (normal init), 4 intermediate nodes sharing one learned embedding per cell group (init 0).
    The layers are shared by both cell groups. Each layer averages the gated messages of the two
    input slots and adds the ungated self term: ``Y = mean_d agg_d(S) + S`` (no bias). Readout:
    mean over the intermediate nodes, normal and reduce concatenated (out_dim = 2 x layers[-1]).
    Defaults: the commented-out NB301 example config (hid 48, 5 x 32).

    Input: ``encode_darts`` output. Output: batch x 2*layers[-1].
    """

    def __init__(self, op_dim: int = 48, node_dim: int = 48, hid_dim: int = 48,
                 layers: tuple[int, ...] = (32,) * 5, num_ops: int = 7) -> None:
        super().__init__()
        layers = _check_dims(layers)
        self.op_emb = nn.Parameter(torch.randn(num_ops, op_dim))  # DARTS OPS order; no none in a genotype
        self.init_node_emb = nn.Parameter(torch.randn(2, 2, node_dim))  # (cell group, input node, dim)
        self.other_node_emb = nn.Parameter(torch.zeros(2, node_dim))
        self.x_hidden = nn.Linear(node_dim, hid_dim)
        self.layers = _stack(hid_dim, layers, op_dim, bias=False)
        self.out_dim = 2 * layers[-1]

    def forward(self, enc: Encoded) -> torch.Tensor:
        edge_op = enc["edge_op"]  # (B, 2 cells, 2 slots, N, N)
        B, n = edge_op.shape[0], DARTS_NUM_NODES
        slots = [edge_op[:, :, d].reshape(B * 2, n, n).contiguous() for d in range(2)]
        no_self = torch.zeros(n, dtype=torch.bool, device=edge_op.device)
        emb = torch.cat([self.init_node_emb, self.other_node_emb[:, None].expand(-1, n - 2, -1)], 1)  # (2, n, node)
        y = self.x_hidden(emb)[None].expand(B, -1, -1, -1).reshape(B * 2, n, -1)
        for k, layer in enumerate(self.layers):
            S, G = layer.support(y), layer.gates(self.op_emb)
            y = (gates_aggregate(S, G, slots[0], no_self) + gates_aggregate(S, G, slots[1], no_self)) / 2 + S
            y = layer.add_bias(y)
            if k < len(self.layers) - 1:
                y = torch.relu(y)
        return y[:, 2:].mean(1).reshape(B, -1)

"""Loop-per-graph float64 reference for the ``gates_onnode_encode`` op: the GATES op-on-node
equations of REFERENCES A1.2 written out node by node, with nothing shared across graphs."""

from __future__ import annotations

import torch


def gates_onnode_encode_loops(x0, weights, gates, biases, adjacency, node_op, valid) -> torch.Tensor:
    B, N = node_op.shape
    outs = []
    for b in range(B):
        y = x0.double()
        for k, (W, G, bias) in enumerate(zip(weights, gates, biases)):
            S = y @ W.double()
            rows = []
            for i in range(N):
                msg = sum((S[j] for j in range(N) if adjacency[b, i, j]), torch.zeros_like(S[0]))
                rows.append(G.double()[node_op[b, i]] * msg + S[i] + bias.double())
            y = torch.stack(rows)
            if k + 1 < len(weights):
                y = torch.relu(y)
        kept = [y[i] for i in range(1, N) if valid[b, i]]
        outs.append(sum(kept, torch.zeros_like(y[0])) / (N - 1))
    return torch.stack(outs) if outs else torch.zeros(0, weights[-1].shape[1], dtype=torch.float64)

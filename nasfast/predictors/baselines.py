"""Baseline encoders of the GATES paper's encoder table (slides, "Encoder comparison"): an MLP on the
flattened graph and a GCN with and without a global node. Inputs are ``encoding.node_graph``
encodings (op-on-node graphs, row = source); these are dense bmm code, as baselines.

GCN propagation (our choice; the paper's GCN rows cite Guo et al. 2019 and Shi et al. 2019, whose
exact normalisation we did not check): Kipf & Welling's rule on the *symmetrised* graph,
``H' = Â H W + b`` with ``Â = D^-1/2 (A + A^T + I) D^-1/2`` over the valid nodes, ReLU between
layers (not after the last, as in GATES). Node features are the one-hot node labels. Without a
global node the readout is the mean over valid nodes; with one, an extra node wired both ways to
every valid node (and with its own one-hot label) carries the readout, as in BONAS's global node.
"""

from __future__ import annotations

import torch
from torch import nn

from nasfast.predictors.encoding import Encoded

__all__ = ["MLPEncoder", "GCNEncoder"]


class MLPEncoder(nn.Module):
    """MLP on the concatenation of the flattened adjacency (N*N) and one-hot node labels (N*L),
    padding rows zero. [Linear, ReLU] per hidden width; the last width is the embedding size."""

    def __init__(self, num_nodes: int, num_labels: int, hidden: tuple[int, ...] = (256, 256)) -> None:
        super().__init__()
        hidden = tuple(int(h) for h in hidden)
        if not hidden:
            raise ValueError("MLPEncoder needs at least one hidden layer")
        self.num_labels = num_labels
        layers: list[nn.Module] = []
        d = num_nodes * num_nodes + num_nodes * num_labels
        for h in hidden:
            layers += [nn.Linear(d, h), nn.ReLU()]
            d = h
        self.net = nn.Sequential(*layers)
        self.out_dim = d

    def forward(self, enc: Encoded) -> torch.Tensor:
        adj, labels, valid = enc["adjacency"], enc["labels"], enc["valid"]
        dtype = self.net[0].weight.dtype
        onehot = nn.functional.one_hot(labels, self.num_labels).to(dtype) * valid[..., None].to(dtype)
        x = torch.cat([adj.to(dtype).flatten(1), onehot.flatten(1)], 1)
        return self.net(x)


class GCNEncoder(nn.Module):
    """GCN on the symmetrised, self-looped, degree-normalised graph (module docstring).

    Args:
        num_labels: node label count (one-hot input width; one more for the global node).
        layers: output width of each graph convolution.
        global_node: add the global node and read it out (else mean over valid nodes).
    """

    def __init__(self, num_labels: int, layers: tuple[int, ...] = (128,) * 4, global_node: bool = False) -> None:
        super().__init__()
        layers = tuple(int(d) for d in layers)
        if not layers:
            raise ValueError("GCNEncoder needs at least one layer")
        self.num_labels, self.global_node = num_labels, bool(global_node)
        d = num_labels + int(self.global_node)
        convs = []
        for h in layers:
            convs.append(nn.Linear(d, h))
            d = h
        self.convs = nn.ModuleList(convs)
        self.out_dim = d

    def normalised_adjacency(self, enc: Encoded) -> tuple[torch.Tensor, torch.Tensor]:
        """(Â (B, N', N'), valid (B, N')) with N' = N (+1 for the global node, placed last)."""
        dtype = self.convs[0].weight.dtype
        adj, valid = enc["adjacency"], enc["valid"]
        if self.global_node:
            B, n = valid.shape
            adj = torch.cat([torch.cat([adj, valid[:, :, None]], 2),
                             torch.zeros(B, 1, n + 1, dtype=torch.bool, device=adj.device)], 1)
            valid = torch.cat([valid, torch.ones(B, 1, dtype=torch.bool, device=valid.device)], 1)
        a = (adj | adj.transpose(1, 2)) & valid[:, :, None] & valid[:, None, :]
        a = a.to(dtype) + torch.diag_embed(valid.to(dtype))
        dinv = a.sum(-1).clamp(min=1.0).rsqrt()
        return dinv[:, :, None] * a * dinv[:, None, :], valid

    def forward(self, enc: Encoded) -> torch.Tensor:
        a, valid = self.normalised_adjacency(enc)
        dtype = a.dtype
        x = nn.functional.one_hot(enc["labels"], self.num_labels + int(self.global_node)).to(dtype)
        if self.global_node:
            g = torch.zeros(x.shape[0], 1, x.shape[2], dtype=dtype, device=x.device)
            g[..., -1] = 1
            x = torch.cat([x, g], 1)
        x = x * valid[..., None].to(dtype)
        for k, conv in enumerate(self.convs):
            x = torch.bmm(a, x @ conv.weight.T) + conv.bias
            if k < len(self.convs) - 1:
                x = torch.relu(x)
        if self.global_node:
            return x[:, -1]
        m = valid[..., None].to(dtype)
        return (x * m).sum(1) / m.sum(1).clamp(min=1.0)

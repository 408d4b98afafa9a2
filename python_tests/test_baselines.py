"""The MLP and GCN baseline encoders (``nasfast.predictors.baselines``) against per-architecture float64
loops written from their docstrings: they make the ``mlp+hinge`` / ``gcn_global+hinge`` rows of
``reproduce gates-nb101``, so a wrong propagation would silently change a paper comparison."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasfast.predictors import encoding
from nasfast.predictors.baselines import GCNEncoder, MLPEncoder
from nasfast.spaces import darts, nb101


def node_graphs(space: str, n: int = 24, seed: int = 0):
    rng = np.random.default_rng(seed)
    if space == "nb101":
        archs = [nb101.sample(rng) for _ in range(n)]
    elif space == "nb201":
        archs = rng.choice(15625, size=n, replace=False)
    else:
        archs = [darts.sample(rng) for _ in range(n)]
    return encoding.node_graph(space, archs)


def randomised(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """float64, with biases drawn too (their default init is small enough to hide a missing bias)."""
    g = torch.Generator().manual_seed(seed)
    module = module.double()
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.5)
    return module


def gcn_reference(m: GCNEncoder, enc) -> torch.Tensor:
    """One arch at a time: Kipf & Welling on the symmetrised, self-looped graph of the valid nodes
    (+ the global node wired both ways to each of them), ReLU between layers, mean / global readout."""
    out = []
    L = m.num_labels + int(m.global_node)
    for adj, labels, valid in zip(enc["adjacency"], enc["labels"], enc["valid"]):
        nodes = [int(i) for i in torch.nonzero(valid).flatten()]
        k = len(nodes) + int(m.global_node)
        a = torch.eye(k, dtype=torch.float64)
        for p, i in enumerate(nodes):
            for q, j in enumerate(nodes):
                if adj[i, j] or adj[j, i]:
                    a[p, q] = 1.0
        if m.global_node:
            a[-1, :] = 1.0
            a[:, -1] = 1.0
        d = a.sum(1).rsqrt()
        a = d[:, None] * a * d[None, :]
        x = torch.zeros(k, L, dtype=torch.float64)
        for p, i in enumerate(nodes):
            x[p, int(labels[i])] = 1.0
        if m.global_node:
            x[-1, -1] = 1.0
        for layer, conv in enumerate(m.convs):
            x = a @ (x @ conv.weight.T) + conv.bias
            if layer < len(m.convs) - 1:
                x = torch.relu(x)
        out.append(x[-1] if m.global_node else x.mean(0))
    return torch.stack(out)


@pytest.mark.parametrize("space", ["nb101", "nb201", "darts"])
@pytest.mark.parametrize("global_node", [False, True])
def test_gcn_matches_per_arch_reference(space, global_node):
    enc = node_graphs(space)
    m = randomised(GCNEncoder(encoding.NODE_GRAPH_LABELS[space], (12, 9, 7), global_node), seed=1)
    with torch.no_grad():
        torch.testing.assert_close(m(enc), gcn_reference(m, enc), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("global_node", [False, True])
def test_gcn_embedding_ignores_node_order(global_node):
    """Renumbering the nodes (adjacency, labels and validity permuted together) leaves the
    embedding as it was: both readouts are permutation invariant."""
    enc = node_graphs("nb101", n=16, seed=3)
    m = randomised(GCNEncoder(encoding.NODE_GRAPH_LABELS["nb101"], (10, 10), global_node), seed=2)
    perm = torch.from_numpy(np.random.default_rng(4).permutation(enc["valid"].shape[1]))
    shuffled = {"adjacency": enc["adjacency"][:, perm][:, :, perm], "labels": enc["labels"][:, perm],
                "valid": enc["valid"][:, perm]}
    with torch.no_grad():
        torch.testing.assert_close(m(shuffled), m(enc), rtol=1e-12, atol=1e-12)


def test_gcn_uses_the_edges():
    """Two NB101 cells with the same ops and different wiring embed differently."""
    ops = ["input", "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3", "output"]
    chain = nb101.Spec(np.eye(5, k=1, dtype=np.int64), ops)
    fan = np.zeros((5, 5), dtype=np.int64)
    fan[0, 1:4] = 1
    fan[1:4, 4] = 1
    enc = encoding.node_graph("nb101", [chain, nb101.Spec(fan, ops)])
    m = randomised(GCNEncoder(encoding.NODE_GRAPH_LABELS["nb101"], (8, 8)), seed=5)
    with torch.no_grad():
        e = m(enc)
    assert (e[0] - e[1]).abs().max() > 1e-3


@pytest.mark.parametrize("space", ["nb101", "nb201"])
def test_mlp_matches_per_arch_reference(space):
    enc = node_graphs(space)
    L = encoding.NODE_GRAPH_LABELS[space]
    n = enc["valid"].shape[1]
    m = randomised(MLPEncoder(n, L, (11, 6)), seed=6)
    rows = []
    for adj, labels, valid in zip(enc["adjacency"], enc["labels"], enc["valid"]):
        onehot = torch.zeros(n, L, dtype=torch.float64)
        for i in range(n):
            if valid[i]:
                onehot[i, int(labels[i])] = 1.0
        rows.append(torch.cat([adj.double().flatten(), onehot.flatten()]))
    x = torch.stack(rows)
    for lin in (m.net[0], m.net[2]):
        x = torch.relu(x @ lin.weight.T + lin.bias)
    with torch.no_grad():
        torch.testing.assert_close(m(enc), x, rtol=1e-12, atol=1e-12)

"""Predictor heads on top of an architecture embedding (REFERENCES A1.5, aw_nas
``evaluator/arch_network.py``): a pointwise scorer and a pairwise comparator."""

from __future__ import annotations

import torch
from torch import nn

from nasfast.ops.gather_dropout import gather_dropout, gather_dropout_dot

__all__ = ["mlp", "PointwiseHead", "PairwiseComparator"]


def mlp(in_dim: int, hidden: tuple[int, ...], dropout: float, out_dim: int = 1) -> nn.Sequential:
    """[Linear, ReLU, Dropout] per hidden width, then Linear -> out_dim (aw_nas ``construct_mlp``)."""
    layers: list[nn.Module] = []
    d = in_dim
    for h in hidden:
        layers.append(nn.Sequential(nn.Linear(d, int(h)), nn.ReLU(), nn.Dropout(p=float(dropout))))
        d = int(h)
    layers.append(nn.Linear(d, out_dim))
    return nn.Sequential(*layers)


class PointwiseHead(nn.Module):
    """s(a) = MLP(emb(a)), a raw score (no sigmoid; higher = better). Paper configs: NB101 MLP [200],
    NB201 5 x 300, dropout 0.1 (A1.2, A1.3).

    Shapes: batch x emb_dim -> batch.
    """

    def __init__(self, emb_dim: int, hidden: tuple[int, ...] = (200,), dropout: float = 0.1) -> None:
        super().__init__()
        self.mlp = mlp(emb_dim, hidden, dropout)

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        return self.mlp(emb).squeeze(-1)

    def forward_uses(self, emb: torch.Tensor, uses: torch.Tensor) -> torch.Tensor:
        """Scores of ``emb[uses]``, each row with its own dropout draw (aw_nas scores the two sides of
        its pairs in separate passes). Equal in distribution to ``forward(emb[uses])`` (in eval
        mode, equal), but the first Linear and its ReLU, which come before any dropout, run once per
        arch, and the gather and the first dropout are one compiled op (``ops.gather_dropout``, with
        the last Linear too when it follows: ``gather_dropout_dot``), whose mask is drawn from a
        seed by a counter-based generator: torch's ``bernoulli_`` on the gathered rows was a third
        of a training step.

        Shapes: (n x emb_dim, U int64) -> U."""
        # index_select, not h[uses]: its backward (index_add) sums in a fixed order on the CPU, where
        # advanced indexing's (index_put with accumulate) runs threads in parallel and is not deterministic
        first, *rest = self.mlp
        if not isinstance(first, nn.Sequential):  # no hidden layer: one Linear, no dropout
            return first(emb).index_select(0, uses).squeeze(-1)
        linear, act, drop = first  # as mlp() builds it
        h = act(linear(emb))
        if not (self.training and drop.p > 0):
            h = h.index_select(0, uses)
        elif len(rest) == 1:  # one hidden layer (the NB101 paper head): dropout and the last Linear fused
            return gather_dropout_dot(h, uses, rest[0].weight[0], drop.p) + rest[0].bias[0]
        else:
            h = gather_dropout(h, uses, drop.p)
        for layer in rest:
            h = layer(h)
        return h.squeeze(-1)


class PairwiseComparator(nn.Module):
    """f(a1, a2): the logit that a2 is better than a1 (aw_nas ``pairwise_comparator``).

    ``pairing="diff"`` feeds MLP([e1, e2 - e1]), ``"concat"`` MLP([e1, e2]). Training uses both
    orders with flipped labels (``losses.comparator_loss``); ``prob_better`` averages the two
    orders, sigmoid(f(a1, a2)) and 1 - sigmoid(f(a2, a1)), as aw_nas does at test time, so
    ``prob_better(a, b) = 1 - prob_better(b, a)`` exactly.

    Shapes: (P x emb_dim, P x emb_dim) -> P.
    """

    def __init__(self, emb_dim: int, hidden: tuple[int, ...] = (200,), dropout: float = 0.1,
                 pairing: str = "diff") -> None:
        super().__init__()
        if pairing not in ("diff", "concat"):
            raise ValueError(f"comparator pairing must be 'diff' or 'concat', got {pairing!r}")
        self.pairing = pairing
        self.mlp = mlp(2 * emb_dim, hidden, dropout)

    def forward(self, e1: torch.Tensor, e2: torch.Tensor) -> torch.Tensor:
        second = e2 - e1 if self.pairing == "diff" else e2
        return self.mlp(torch.cat([e1, second], -1)).squeeze(-1)

    def prob_better(self, e1: torch.Tensor, e2: torch.Tensor) -> torch.Tensor:
        """P(a2 better than a1), symmetrised over the two orders."""
        return (torch.sigmoid(self(e1, e2)) + 1 - torch.sigmoid(self(e2, e1))) / 2

    def win_rate(self, emb: torch.Tensor, ref: torch.Tensor, block: int = 1 << 16) -> torch.Tensor:
        """Expected fraction of the references each arch beats: mean_r P(arch better than r).

        This is the "win count" ranking of a comparator, with soft wins (probabilities) instead of
        0/1 votes so that near-ties are not collapsed; the references are a fixed sample, so the
        score of an arch does not depend on what else is scored with it. Shapes: (n x D, R x D) -> n.
        """
        n, R = emb.shape[0], ref.shape[0]
        out = emb.new_zeros(n)
        rows = max(1, block // max(R, 1))
        for s in range(0, n, rows):
            e = emb[s:s + rows]
            m = e.shape[0]
            a = e[:, None].expand(m, R, -1).reshape(m * R, -1)
            r = ref[None].expand(m, R, -1).reshape(m * R, -1)
            out[s:s + m] = self.prob_better(r, a).reshape(m, R).mean(1)
        return out

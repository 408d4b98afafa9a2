"""Losses of the GATES predictors (REFERENCES A1.5), on raw scores unless noted.

Pair convention everywhere: ``pairs`` is P x 2 int64 (a1, a2) into the scores, ``labels`` is +1
when a2 is better and -1 when a1 is (A1.6 orients pairs so). Hinge and BCE go through the
compiled ``nasfast.ops.pairwise_ranking_loss`` (O(P) memory, its own backward).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from nasfast.ops.pairwise_ranking_loss import pairwise_ranking_loss

__all__ = ["hinge_loss", "bce_pair_loss", "comparator_loss", "listmle_loss", "regression_loss"]


def hinge_loss(scores: torch.Tensor, pairs: torch.Tensor, labels: torch.Tensor, margin: float = 0.1) -> torch.Tensor:
    """mean_pairs max(0, m - y (s_a2 - s_a1)) (aw_nas ``margin_linear``; m = 0.1 in every paper config).

    Shapes: scores n, pairs P x 2, labels P (same dtype as scores) -> scalar; 0 when P = 0.
    """
    return pairwise_ranking_loss(scores, pairs, labels.to(scores.dtype), "hinge", margin)


def bce_pair_loss(scores: torch.Tensor, pairs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """mean_pairs BCE(sigmoid(s_a2 - s_a1), [y > 0]) (aw_nas ``binary_cross_entropy``), computed as
    softplus(-y (s_a2 - s_a1)) without overflow."""
    return pairwise_ranking_loss(scores, pairs, labels.to(scores.dtype), "logistic", 0.0)


def comparator_loss(logit_12: torch.Tensor, logit_21: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Pairwise-comparator BCE on both orders: ``logit_12`` = f(a1, a2) (a2 better?), target
    [y > 0]; ``logit_21`` = f(a2, a1), target [y < 0]; the mean over the 2P terms."""
    target = (labels > 0).to(logit_12.dtype)
    return (F.binary_cross_entropy_with_logits(logit_12, target)
            + F.binary_cross_entropy_with_logits(logit_21, 1 - target)) / 2


def listmle_loss(scores: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """ListMLE over lists whose columns are already sorted best-first by true accuracy.

    Per list: ``sum_k [log sum_{j >= k} exp(s_j) - s_k]`` over its L positions. ``reduction="mean"``
    divides by L, as aw_nas does (A1.5, its ``update_argsort``), ``"sum"`` is the textbook ListMLE.
    The result is then averaged over lists. We use an exact ``logcumsumexp`` instead of aw_nas's
    max-shift with eps clamps (equal up to those eps).

    Shapes: scores (num_lists x L) -> scalar.
    """
    if reduction not in ("mean", "sum"):
        raise ValueError(f"ListMLE reduction must be 'mean' or 'sum', got {reduction!r}")
    if scores.dim() != 2:
        raise ValueError(f"ListMLE expects (num_lists, L) scores, got shape {tuple(scores.shape)}")
    tail = torch.logcumsumexp(scores.flip(-1), -1).flip(-1)  # log sum_{j >= k} exp(s_j)
    per_pos = tail - scores
    per_list = per_pos.mean(-1) if reduction == "mean" else per_pos.sum(-1)
    return per_list.mean()


def regression_loss(scores: torch.Tensor, accuracies: torch.Tensor) -> torch.Tensor:
    """MSE(sigmoid(s), acc) with acc in [0, 1]: GATES's "regression loss" baseline (A1.5)."""
    return F.mse_loss(torch.sigmoid(scores), accuracies.to(scores.dtype))

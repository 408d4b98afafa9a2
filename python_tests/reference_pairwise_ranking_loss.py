"""Plain-PyTorch float64 references of the pairwise ranking losses: gather/relu/mean over given
pairs, and the explicit n x n masked form of the all-pairs mode (small n only)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pair_loss(x: torch.Tensor, kind: str, margin: float) -> torch.Tensor:
    return torch.relu(margin - x) if kind == "hinge" else F.softplus(-x)


def given_pairs_reference(scores, pairs, labels, kind="hinge", margin=0.1) -> torch.Tensor:
    x = labels * (scores[pairs[:, 1]] - scores[pairs[:, 0]])
    return pair_loss(x, kind, margin).mean()


def all_pairs_reference(scores, targets, kind="hinge", margin=0.1, tie_threshold=0.0) -> torch.Tensor:
    """Materialises n x n: entry [i, j] is the pair (a, b) = (i, j), used where i < j."""
    n = scores.shape[0]
    dt = targets[None, :] - targets[:, None]  # t_j - t_i
    valid = torch.triu(torch.ones(n, n, dtype=torch.bool, device=scores.device), diagonal=1) & (dt.abs() > tie_threshold)
    y = torch.where(dt > 0, 1.0, -1.0).to(scores.dtype)
    x = y * (scores[None, :] - scores[:, None])
    loss = torch.where(valid, pair_loss(x, kind, margin), torch.zeros((), dtype=scores.dtype, device=scores.device))
    count = valid.sum()
    return loss.sum() / count if count > 0 else loss.sum() * 0


def all_pairs_as_given_pairs(targets, tie_threshold=0.0):
    """The (pairs, labels) that the all-pairs mode forms, for cross-checking the two modes."""
    n = targets.shape[0]
    i, j = torch.triu_indices(n, n, 1, device=targets.device)
    dt = targets[j] - targets[i]
    keep = dt.abs() > tie_threshold
    return torch.stack([i, j], 1)[keep], torch.where(dt > 0, 1.0, -1.0).to(targets.dtype)[keep]

"""Python face of the ``pairwise_ranking_loss`` ops (schemas in csrc/ops/pairwise_ranking_loss.cpp).

Learning-to-rank losses of GATES (REFERENCES A1.5) on raw predictor scores. A pair (a, b) with
label y (+1: b is better, -1: a is better) has gap x = y * (s_b - s_a), and

- ``kind="hinge"``: f(x) = max(0, margin - x) (aw_nas ``margin_linear``; the paper configs use
  margin 0.1);
- ``kind="logistic"``: f(x) = softplus(-x), which for y = +-1 equals
  BCE(sigmoid(s_b - s_a), [y > 0]) (aw_nas ``binary_cross_entropy``), computed without overflow.
  ``margin`` is ignored.

The loss is the mean of f over the pairs. ``pairwise_ranking_loss`` takes the pairs as given;
``all_pairs_ranking_loss`` forms every pair of the batch on the fly (A1.6 step 1) in O(n^2) time
and O(n) memory. Both are differentiable w.r.t. the scores only.

NaN: a NaN score makes the loss NaN and the gradients of the scores it is paired with NaN. In the
all-pairs mode a NaN *target* never forms a pair (|t_i - t_j| > threshold is false), so an
architecture with a missing accuracy is simply left out.
"""

from __future__ import annotations

import torch

from nasfast.ops.double_backward import refuse_double_backward

KINDS = ("hinge", "logistic")


def pairwise_ranking_loss(
    scores: torch.Tensor, pairs: torch.Tensor, labels: torch.Tensor, kind: str = "hinge", margin: float = 0.1
) -> torch.Tensor:
    """Mean pairwise ranking loss over given pairs.

    Args:
        scores: n predictor scores, float32 or float64.
        pairs: P x 2 int64 indices (a, b) into ``scores``.
        labels: P labels of the scores' dtype, +1 when b is better, -1 when a is (used as a
            multiplier, so other values scale the gap).
        kind: "hinge" or "logistic".
        margin: hinge margin (ignored by "logistic").

    Returns:
        0-dim tensor; 0 when P = 0 (not NaN, unlike ``mean`` of nothing).

    Example:
        >>> import torch
        >>> from nasfast.ops.pairwise_ranking_loss import pairwise_ranking_loss
        >>> s = torch.tensor([0.0, 0.5, 0.2], requires_grad=True)
        >>> loss = pairwise_ranking_loss(s, torch.tensor([[0, 1], [1, 2]]), torch.tensor([1.0, -1.0]))
        >>> round(loss.item(), 4)  # pair 1: max(0, 0.1 - 0.5) = 0; pair 2: max(0, 0.1 - 0.3) = 0
        0.0
    """
    return torch.ops.nasfast.pairwise_ranking_loss(scores, pairs, labels, kind, float(margin))


def all_pairs_ranking_loss(
    scores: torch.Tensor,
    targets: torch.Tensor,
    kind: str = "hinge",
    margin: float = 0.1,
    tie_threshold: float = 0.0,
) -> torch.Tensor:
    """Mean pairwise ranking loss over every pair of a batch, without n x n tensors.

    Every i < j with |targets[i] - targets[j]| > tie_threshold is a pair (a, b) = (i, j) with
    y = +1 when targets[j] > targets[i], else -1 (A1.6 with ``compare_threshold``; aw_nas then
    subsamples 4n of these pairs, which this mode does not).

    Args:
        scores: n predictor scores, float32 or float64.
        targets: n true accuracies, same dtype.
        kind, margin: as for ``pairwise_ranking_loss``.
        tie_threshold: >= 0; pairs closer than this (and exact ties) are dropped.

    Returns:
        0-dim tensor, the mean over the valid pairs; 0 when there are none.
    """
    loss, _ = torch.ops.nasfast.all_pairs_ranking_loss(scores, targets, kind, float(margin), float(tie_threshold))
    return loss


def _check_kind(kind: str) -> None:
    torch._check(kind in KINDS, lambda: f"kind must be 'hinge' or 'logistic', got '{kind}'")


@torch.library.register_fake("nasfast::pairwise_ranking_loss")
def _(scores, pairs, labels, kind, margin):
    _check_kind(kind)
    torch._check(scores.dim() == 1 and pairs.dim() == 2 and labels.dim() == 1, lambda: "expected (n,), (P, 2), (P,)")
    return scores.new_empty(())


@torch.library.register_fake("nasfast::pairwise_ranking_loss_backward")
def _(grad, scores, pairs, labels, kind, margin):
    return torch.empty_like(scores)


@torch.library.register_fake("nasfast::all_pairs_ranking_loss")
def _(scores, targets, kind, margin, tie_threshold):
    _check_kind(kind)
    torch._check(scores.dim() == 1 and targets.dim() == 1, lambda: "expected (n,) scores and targets")
    return scores.new_empty(()), scores.new_empty((), dtype=torch.int64)


@torch.library.register_fake("nasfast::all_pairs_ranking_loss_backward")
def _(grad, scores, targets, num_pairs, kind, margin, tie_threshold):
    return torch.empty_like(scores)


def _pairs_setup_context(ctx, inputs, output):
    scores, pairs, labels, kind, margin = inputs
    ctx.save_for_backward(scores, pairs, labels)
    ctx.kind, ctx.margin = kind, margin


def _pairs_backward(ctx, grad):
    scores, pairs, labels = ctx.saved_tensors
    grad_scores = None
    if ctx.needs_input_grad[0]:
        grad_scores = torch.ops.nasfast.pairwise_ranking_loss_backward(grad, scores, pairs, labels, ctx.kind, ctx.margin)
    return grad_scores, None, None, None, None


def _all_pairs_setup_context(ctx, inputs, output):
    scores, targets, kind, margin, tie_threshold = inputs
    _, num_pairs = output
    ctx.save_for_backward(scores, targets, num_pairs)
    ctx.kind, ctx.margin, ctx.tie_threshold = kind, margin, tie_threshold


def _all_pairs_backward(ctx, grad_loss, grad_num_pairs):
    scores, targets, num_pairs = ctx.saved_tensors
    grad_scores = None
    if ctx.needs_input_grad[0]:
        grad_scores = torch.ops.nasfast.all_pairs_ranking_loss_backward(
            grad_loss, scores, targets, num_pairs, ctx.kind, ctx.margin, ctx.tie_threshold
        )
    return grad_scores, None, None, None, None


torch.library.register_autograd(
    "nasfast::pairwise_ranking_loss", _pairs_backward, setup_context=_pairs_setup_context
)
torch.library.register_autograd(
    "nasfast::all_pairs_ranking_loss", _all_pairs_backward, setup_context=_all_pairs_setup_context
)
refuse_double_backward("pairwise_ranking_loss_backward", "pairwise_ranking_loss")
refuse_double_backward("all_pairs_ranking_loss_backward", "all_pairs_ranking_loss")

"""Training loop of the GATES predictors: pair and list sampling as aw_nas does it (REFERENCES A1.5,
A1.6), Adam, one optimiser step per minibatch, every architecture of a minibatch encoded once and
(by default, as aw_nas) the head run once per pair member or list element."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from nasfast.predictors import losses
from nasfast.predictors.encoding import Encoded, take

if TYPE_CHECKING:
    from nasfast.predictors.network import PredictorNet

__all__ = ["adam", "sample_pairs", "sample_lists", "listwise_batches", "train"]

Progress = bool | Callable[[int, float], None] | None


def adam(params, lr: float = 1e-3, weight_decay: float = 0.0) -> torch.optim.Adam:
    """The predictors' Adam (aw_nas: Adam, lr 1e-3), in torch's fused form where it has one.

    The fused kernel updates every parameter in one pass; the default per-parameter loop launches
    ~10 small ops per tensor. On 2 CPU threads (NB101 GATES, batch 512) ``opt.step()`` took 1.3-1.9 ms
    that way and 0.5-0.7 ms fused; paired step by step, whole steps were 0.04-1.3 ms shorter
    (RESULTS.md). Same update rule; the two differ only in float rounding."""
    params = list(params)
    fused = bool(params) and all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=fused or None)


@functools.lru_cache(maxsize=8)
def _upper_pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    i, j = np.triu_indices(n, 1)
    return i.astype(np.int64), j.astype(np.int64)


def sample_pairs(acc: np.ndarray, rng: np.random.Generator, max_compare_ratio: float = 4.0,
                 threshold: float = 0.0, choice: str = "random") -> tuple[np.ndarray, np.ndarray]:
    """The training pairs of one minibatch (A1.6, aw_nas ``train_nasbench_pkl.py::train``).

    1. every i < j with |acc_i - acc_j| > threshold (ties dropped at threshold 0);
    2. if more than ``max_compare_ratio * n`` remain, keep a uniform random subset of that many
       (``choice="random"``) or the ones with the largest gaps (``"diff"``);
    3. oriented as (a1, a2) = (j, i), label +1 if acc_i > acc_j else -1.

    Returns (pairs P x 2 int64 into ``acc``, labels P float64 in {-1, +1}).
    """
    acc = np.asarray(acc, dtype=np.float64)
    i, j = _upper_pairs(len(acc))
    gap = np.abs(acc[i] - acc[j])
    keep = gap > threshold
    i, j, gap = i[keep], j[keep], gap[keep]
    limit = int(max_compare_ratio * len(acc))
    if len(i) > limit:
        if choice == "random":
            sel = np.sort(rng.choice(len(i), size=limit, replace=False))
        elif choice == "diff":
            sel = np.argsort(-gap, kind="stable")[:limit]
        else:
            raise ValueError(f"pair choice must be 'random' or 'diff', got {choice!r}")
        i, j = i[sel], j[sel]
    pairs = np.stack([j, i], 1)
    labels = np.where(acc[i] > acc[j], 1.0, -1.0)
    return pairs, labels


def sample_lists(acc: np.ndarray, rng: np.random.Generator, num_lists: int, list_length: int) -> np.ndarray:
    """``num_lists`` lists of ``list_length`` distinct archs each (independent draws), every list
    sorted best-first by true accuracy (stable among ties). Returns num_lists x list_length int64."""
    n = len(acc)
    if not 2 <= list_length <= n:
        raise ValueError(f"list_length must be in 2..{n} (the number of archs), got {list_length}")
    # draw with replacement and redraw the rows that repeat an arch: uniform over lists of distinct
    # archs, and cheap while L << n (no num_lists x n keys)
    lists = rng.integers(0, n, size=(num_lists, list_length))
    while True:
        srt = np.sort(lists, axis=1)
        dup = (srt[:, 1:] == srt[:, :-1]).any(1)
        if not dup.any():
            break
        if list_length * 2 > n:  # dense case: a permutation per bad row is cheaper than rejection
            lists[dup] = np.stack([rng.permutation(n)[:list_length] for _ in range(int(dup.sum()))])
        else:
            lists[dup] = rng.integers(0, n, size=(int(dup.sum()), list_length))
    order = np.argsort(-np.asarray(acc)[lists], axis=1, kind="stable")
    return np.take_along_axis(lists, order, 1).astype(np.int64)


def listwise_batches(n: int, batch_size: int, list_length: int, max_compare_ratio: float) -> int:
    """Batches per epoch of listwise training (aw_nas ``train_listwise``):
    max(8, round(N / (batch_size * L) * max_compare_ratio))."""
    return max(8, int(round(n / (batch_size * list_length) * max_compare_ratio)))


def _progress_fn(progress: Progress, epochs: int) -> tuple[Callable[[int, float], None] | None, Any]:
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, desc="fit", unit="epoch", disable=None)  # None: no bar when stderr is no terminal

        def show(epoch: int, loss: float) -> None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4g}")

        return show, bar
    return (progress if callable(progress) else None), None


def train(net: PredictorNet, enc: Encoded, acc: np.ndarray, *, loss: str, epochs: int, batch_size: int = 512,
          lr: float = 1e-3, weight_decay: float = 0.0, margin: float = 0.1, max_compare_ratio: float = 4.0,
          compare_threshold: float = 0.0, pair_choice: str = "random", list_length: int = 4,
          listmle_reduction: str = "mean", score_per: str = "use", seed: int = 0,
          progress: Progress = None) -> list[float]:
    """Train ``net`` in place on encoded archs ``enc`` (on the net's device) with accuracies ``acc``.

    Pointwise losses (hinge, bce, regression) and the comparator walk shuffled minibatches of
    ``batch_size`` archs; each minibatch is embedded once (one encoder forward), then the sampled
    pairs index the embeddings. ListMLE draws ``batch_size`` lists per step. ``score_per="use"``
    (aw_nas): the head runs once per arch occurrence in a pair or list, each with its own dropout
    mask; ``"arch"``: once per arch, shared by its pairs (``network.COMMON`` says why it matters).
    ``acc`` must already be in [0, 1] for the regression loss. Returns the mean loss of each epoch.
    Deterministic on CPU for a given ``seed`` (numpy Generator for sampling; the caller seeds torch
    for initialisation and dropout).
    """
    device = next(net.parameters()).device
    dtype = next(net.parameters()).dtype
    rng = np.random.default_rng(seed)
    acc = np.asarray(acc, dtype=np.float64)
    n = len(acc)
    acc_t = torch.as_tensor(acc, dtype=dtype, device=device)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = adam(params, lr=lr, weight_decay=weight_decay)
    report, bar = _progress_fn(progress, epochs)
    history: list[float] = []
    all_steps = 0
    try:
        for epoch in range(epochs):
            net.train()
            total, steps = 0.0, 0
            if loss == "listmle":
                for _ in range(listwise_batches(n, batch_size, list_length, max_compare_ratio)):
                    lists = sample_lists(acc, rng, batch_size, list_length)
                    uniq, inv = np.unique(lists, return_inverse=True)
                    # "use": every list element through the head, as aw_nas's update_argsort
                    s = use_scores(net, take(enc, uniq), torch.from_numpy(inv.reshape(lists.shape)).to(device),
                                   score_per)
                    value = losses.listmle_loss(s, listmle_reduction)
                    total, steps = total + _step(opt, value), steps + 1
            else:
                perm = rng.permutation(n)
                for start in range(0, n, batch_size):
                    idx = perm[start:start + batch_size]
                    value = _batch_loss(net, take(enc, idx), acc[idx], acc_t[torch.from_numpy(idx).to(device)],
                                        rng, loss=loss, margin=margin, max_compare_ratio=max_compare_ratio,
                                        compare_threshold=compare_threshold, pair_choice=pair_choice,
                                        score_per=score_per)
                    if value is not None:
                        total, steps = total + _step(opt, value), steps + 1
            history.append(total / steps if steps else math.nan)  # nan: no step, not a perfect loss
            all_steps += steps
            if report is not None:
                report(epoch, history[-1])
    finally:
        if bar is not None:
            bar.close()
    net.eval()
    if not all_steps:  # every minibatch was too small or too flat to hold a pair
        raise ValueError(f"no training step: no minibatch of batch_size={batch_size} archs held a pair differing "
                         f"by more than compare_threshold={compare_threshold:g}; raise batch_size")
    return history


def _step(opt: torch.optim.Optimizer, value: torch.Tensor) -> float:
    opt.zero_grad(set_to_none=True)
    value.backward()
    opt.step()
    return float(value.detach())


def use_scores(net: PredictorNet, enc: Encoded, uses: torch.Tensor, score_per: str = "use") -> torch.Tensor:
    """Pointwise scores of ``enc[uses]`` (any shape of int64 indices into ``enc``), shaped as ``uses``.

    ``"use"``: each use through the head with its own dropout draw (aw_nas); ``"arch"``: each arch
    scored once, the uses gathered. Gathers use ``index_select``, whose CPU backward is deterministic."""
    flat = uses.reshape(-1)
    if score_per == "use":
        return net.head.forward_uses(net.embed(enc), flat).view(uses.shape)
    return net.score(enc).index_select(0, flat).view(uses.shape)


def pair_scores(net: PredictorNet, enc: Encoded, pairs: torch.Tensor, score_per: str = "use"
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Pointwise scores for the pairs (P x 2 into ``enc``) and the pairs indexing them.

    ``"use"``: both sides of every pair through the head, each with its own dropout draw (aw_nas's
    update_compare); the scores are then 2P long and the pairs become [[0, 1], [2, 3], ...].
    ``"arch"``: one score per arch of ``enc``, the pairs unchanged (the loss op gathers them)."""
    if score_per == "use":
        scores = use_scores(net, enc, pairs, score_per).reshape(-1)
        return scores, torch.arange(len(scores), device=scores.device).view(-1, 2)
    return net.score(enc), pairs


def _batch_loss(net: PredictorNet, enc: Encoded, acc: np.ndarray, acc_t: torch.Tensor, rng: np.random.Generator,
                *, loss: str, margin: float, max_compare_ratio: float, compare_threshold: float,
                pair_choice: str, score_per: str = "use") -> torch.Tensor | None:
    if loss == "regression":
        return losses.regression_loss(net.score(enc), acc_t)
    pairs_np, labels_np = sample_pairs(acc, rng, max_compare_ratio, compare_threshold, pair_choice)
    if len(pairs_np) == 0:
        return None
    device = acc_t.device
    pairs = torch.from_numpy(pairs_np).to(device)
    labels = torch.from_numpy(labels_np).to(device=device, dtype=acc_t.dtype)
    if loss == "comparator":
        emb = net.embed(enc)
        e1, e2 = emb.index_select(0, pairs[:, 0]), emb.index_select(0, pairs[:, 1])  # deterministic backward
        return losses.comparator_loss(net.head(e1, e2), net.head(e2, e1), labels)
    scores, pairs = pair_scores(net, enc, pairs, score_per)
    if loss == "hinge":
        return losses.hinge_loss(scores, pairs, labels, margin)
    if loss == "bce":
        return losses.bce_pair_loss(scores, pairs, labels)
    raise ValueError(f"unknown loss {loss!r}")

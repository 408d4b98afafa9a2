"""Ranking metrics for architecture predictors and super-nets: Kendall tau, Spearman, N@K, P@K, sparse Kendall tau.

Every function takes ``true`` (ground-truth accuracies) and ``pred`` (predicted scores, e.g. a predictor's output or
super-net accuracies), two equal-length 1-D sequences aligned by architecture: lists, numpy arrays or torch tensors
(any dtype or device; they are detached and copied to the CPU as float64). Higher is better in both. A wrong shape,
a length mismatch, too few items or a NaN/inf raises ``ValueError`` naming the argument (and the index of the first
non-finite value). A correlation that is undefined because one side is constant is returned as ``nan``, as scipy does.

Conventions follow the reference code, see REFERENCES.md A1.7 (GATES, ``walkerning/aw_nas@732a003``,
``scripts/nasbench/train_nasbench_pkl.py``) and A4.5 (landmark regularisation, ``kcyu2014/nas-landmarkreg@a00c361``).
"""

from __future__ import annotations

import operator
from typing import Any, Literal

import numpy as np
from scipy import stats

__all__ = ["kendall_tau", "spearman", "n_at_k", "precision_at_k", "precision_at_ratio", "sparse_kendall_tau"]

ArrayLike = Any  #: a sequence of numbers, a numpy array or a torch.Tensor (torch is not imported here)


def _as_vector(x: ArrayLike, name: str, min_len: int) -> np.ndarray:
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor: grads, CUDA and bfloat16 all go through .double()
        x = x.detach().cpu().double().numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a 1-D sequence of numbers: {err}") from err
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size < min_len:
        raise ValueError(f"{name} has {arr.size} item(s), at least {min_len} needed")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{name} contains {bad.size} NaN/inf value(s); the first is {arr[bad[0]]} at index {bad[0]}")
    return arr


def _pair(true: ArrayLike, pred: ArrayLike, min_len: int) -> tuple[np.ndarray, np.ndarray]:
    t, p = _as_vector(true, "true", min_len), _as_vector(pred, "pred", min_len)
    if t.size != p.size:
        raise ValueError(f"true has {t.size} items but pred has {p.size}; they must be aligned one per architecture")
    return t, p


def _check_k(k: int, n: int) -> int:
    if isinstance(k, bool):
        raise ValueError(f"k must be an integer, got {k!r}")
    try:
        k = operator.index(k)
    except TypeError:
        raise TypeError(f"k must be an integer, got {type(k).__name__}: {k!r}") from None
    if not 1 <= k <= n:
        raise ValueError(f"k={k} is outside 1..N={n}")
    return k


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    # Stable sort of -scores: among equal scores the earlier index is taken first (aw_nas uses np.argsort()[::-1],
    # whose order among ties numpy leaves unspecified, so no tie rule can match it in general).
    return np.argsort(-scores, kind="stable")[:k]


def _constant(x: np.ndarray) -> bool:
    return bool(np.all(x == x[0]))


def kendall_tau(true: ArrayLike, pred: ArrayLike) -> float:
    """Kendall tau-b between ``true`` and ``pred``, equal to ``scipy.stats.kendalltau(true, pred).statistic``.

    tau-b corrects for ties on either side (A1.7: aw_nas calls scipy's default, which is tau-b). Returns ``nan`` when
    either side is constant.

    Example:
        >>> from nasfast.metrics import kendall_tau
        >>> round(kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]), 4)  # 5 concordant, 1 discordant pair: (5 - 1) / 6
        0.6667
    """
    t, p = _pair(true, pred, 2)
    if _constant(t) or _constant(p):
        return float("nan")
    return float(stats.kendalltau(t, p).statistic)


def spearman(true: ArrayLike, pred: ArrayLike) -> float:
    """Spearman's rho (ties get their average rank), equal to ``scipy.stats.spearmanr``; ``nan`` if a side is constant.

    Example:
        >>> from nasfast.metrics import spearman
        >>> round(spearman([1, 2, 3, 4], [1, 3, 2, 4]), 4)  # sum d^2 = 2: 1 - 6 * 2 / (4 * 15)
        0.8
    """
    t, p = _pair(true, pred, 2)
    if _constant(t) or _constant(p):
        return float("nan")
    return float(stats.spearmanr(t, p).statistic)


def n_at_k(true: ArrayLike, pred: ArrayLike, k: int) -> int:
    """N@K (aw_nas ``minn_at_k``): the true rank (1 = best) of the best architecture among the predicted top K.

    Lower is better; 1 means the predicted top K contains a truly best architecture.

    Ties: the true rank is the competition ("min") rank, 1 + the number of architectures with strictly higher true
    accuracy, so archs tied in ``true`` share the better rank. At the K boundary, archs tied in ``pred`` are taken in
    input order (earlier index first). aw_nas breaks both kinds of tie by ``np.argsort`` order instead.

    Example:
        >>> from nasfast.metrics import n_at_k
        >>> true = [0.90, 0.95, 0.80, 0.85, 0.99]  # true ranks 3, 2, 5, 4, 1
        >>> pred = [0.5, 0.1, 0.9, 0.3, 0.2]       # predicted order: idx 2, 0, 3, 4, 1
        >>> [n_at_k(true, pred, k) for k in (1, 2, 3, 4, 5)]
        [5, 3, 3, 1, 1]
    """
    t, p = _pair(true, pred, 1)
    k = _check_k(k, t.size)
    best = t[_top_k(p, k)].max()
    return int(np.count_nonzero(t > best)) + 1


def precision_at_k(true: ArrayLike, pred: ArrayLike, k: int) -> float:
    """P@K: |predicted top K ∩ true top K| / K (A1.7, aw_nas ``test_xk``). Higher is better; 1 is perfect.

    Ties at the K boundary, in either ``true`` or ``pred``, are broken by input order (earlier index first).

    Example:
        >>> from nasfast.metrics import precision_at_k
        >>> true = [0.90, 0.95, 0.80, 0.85, 0.99]  # true top 3: {4, 1, 0}
        >>> pred = [0.5, 0.1, 0.9, 0.3, 0.2]       # predicted top 3: {2, 0, 3}
        >>> round(precision_at_k(true, pred, 3), 4)  # only idx 0 is in both
        0.3333
    """
    t, p = _pair(true, pred, 1)
    k = _check_k(k, t.size)
    return float(np.intersect1d(_top_k(t, k), _top_k(p, k)).size / k)


def precision_at_ratio(true: ArrayLike, pred: ArrayLike, ratio: float) -> float:
    """P@K with K = floor(ratio * N), the form aw_nas reports for ratio in {0.1%, 0.5%, 1%, 5%, 10%, 50%, 100%}.

    K is computed as ``int(N * ratio)`` exactly as ``test_xk`` does, float rounding included (``int(100 * 0.29)`` is
    28). A ratio giving K = 0 raises ``ValueError`` (aw_nas would divide by zero).

    Example:
        >>> from nasfast.metrics import precision_at_ratio
        >>> true = [0.90, 0.95, 0.80, 0.85, 0.99]
        >>> pred = [0.5, 0.1, 0.9, 0.3, 0.2]
        >>> precision_at_ratio(true, pred, 0.8)  # K = int(4.0) = 4: top 4 {4, 1, 0, 3} vs {2, 0, 3, 4} share 3
        0.75
    """
    t, p = _pair(true, pred, 1)
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"ratio must be in (0, 1], got {ratio}")
    k = int(t.size * ratio)
    if k < 1:
        raise ValueError(f"ratio={ratio} of N={t.size} gives K=int({t.size * ratio})=0; use ratio >= 1/N")
    return precision_at_k(t, p, k)


def sparse_kendall_tau(
    true: ArrayLike,
    pred: ArrayLike,
    bin: float = 1e-3,
    units: Literal["auto", "fraction", "percent"] = "auto",
) -> float:
    """Sparse Kendall tau (S-KdT, landmark regularisation, REFERENCES.md A4.5): ground truth binned at ``bin``.

    1. Bring ``true`` to fractions: ``"percent"`` multiplies it by 1e-2, ``"fraction"`` leaves it, ``"auto"``
       multiplies by 1e-2 when 1 < mean(true) < 100 (the reference's own test).
    2. Bin index floor(true * (1 / bin)); binned rank = dense rank of the bin index (empty bins leave no gap).
    3. Return tau-b between the binned ranks sorted ascending (the ideal order) and the binned ranks of the archs
       taken in ascending ``pred`` order (ties in ``pred`` keep input order).

    So both sides carry the ground truth's bin structure: a predictor is not penalised for mis-ordering archs that
    lie within ``bin`` of each other. ``pred`` is used only through its order, so its units do not matter. ``nan``
    when every arch falls into one bin, or when ``pred`` is constant (an untrained super-net giving every arch
    10 %): the reference would score the input order then, which says nothing about the predictor.

    Reference: ``kcyu2014/nas-landmarkreg@a00c361``, ``nasws/cnn/utils.py::compute_sparse_kendalltau`` ->
    ``compute_sparse_rank_metric``, called with threshold 1e-3 by ``cnn_general_search_policies.py``. It bins the
    *ground truth*, after rescaling both it and the super-net accuracies by the 1 < mean < 100 -> x1e-2 rule, so
    1e-3 is 0.1 % accuracy on NB101 (fractions) and NB201/NDS (percent) alike; floats are formed the same way here
    (x * 1e-2, then floor(x * (1 / bin))). Its predecessor (``kcyu2014/eval-nas@385376a``,
    ``search_policies/cnn/search_space/nas_bench/util.py``) rescaled only the super-net accuracies; on percent
    ground truth that bins at 0.001 points. Pass percent values with ``units="fraction"`` to reproduce that.
    Ties in ``pred`` are the one difference: the reference orders them by ``np.argsort`` (unstable above 16 items).

    Example:
        >>> from nasfast.metrics import sparse_kendall_tau
        >>> true = [0.9111, 0.9114, 0.9125, 0.9205, 0.9001]  # bins 911, 911, 912, 920, 900 -> ranks 1, 1, 2, 3, 0
        >>> pred = [0.3, 0.1, 0.5, 0.4, 0.2]
        >>> round(sparse_kendall_tau(true, pred), 4)  # (6 - 2) / sqrt(9 * 9); plain kendall_tau gives 0.4
        0.4444
    """
    t, p = _pair(true, pred, 2)
    if not 0.0 < bin < 1.0:
        raise ValueError(f"bin must be in (0, 1) (a fraction of accuracy, 1e-3 = 0.1 %), got {bin}")
    if units not in ("auto", "fraction", "percent"):
        raise ValueError(f"units must be 'auto', 'fraction' or 'percent', got {units!r}")
    if units == "percent" or (units == "auto" and 1.0 < float(np.mean(t)) < 100.0):
        t = t * 1e-2  # multiply (not divide by 100) and bin as floor(x * (1 / bin)): the reference's float arithmetic
    _, ranks = np.unique(np.floor(t * (1.0 / bin)), return_inverse=True)
    ideal = np.sort(ranks)
    by_pred = ranks[np.argsort(p, kind="stable")]
    if _constant(ideal) or _constant(p):
        return float("nan")
    return float(stats.kendalltau(ideal, by_pred).statistic)

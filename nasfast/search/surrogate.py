"""The pieces of ProxyBO's scoring that know nothing about architectures: a probabilistic random
forest, expected improvement, average ranks, and the pair-ordering "generalisation ability".

The forest follows OpenBox's ``prf`` surrogate (shared/REFERENCES.md A3.1 and E.11:
``openbox/surrogate/base/rf_with_instances.py``): 10 regression trees, each grown on a bootstrap
sample; a split needs 3 samples and leaves keep at least 3; each split looks at 5/6 of the
features; depth is practically unlimited (2^20). A prediction is the mean and the variance
(ddof 0) of the trees' predictions. OpenBox grows its trees with pyrfr; we grow them here in numpy
(CART, squared-error splits, on the 0/1 features of one-hot encodings) because the project has
no forest library among its dependencies, and because a forest of our own is bit-for-bit the same
on every machine, which a resumed search needs (it replays its history and must decide the same).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["RandomForest", "average_ranks", "cross_val_predict", "expected_improvement", "pair_concordance",
           "softmax"]


class RandomForest:
    """Bootstrap regression forest on 0/1 features whose trees' spread is the predictive variance
    (OpenBox ``prf``).

    Args:
        n_trees: trees in the forest (OpenBox: 10).
        min_samples_split: a node with fewer samples is a leaf (OpenBox: 3).
        min_samples_leaf: each child of a split keeps at least this many samples (OpenBox: 3).
        max_features: fraction of the features searched at each split (OpenBox: 5/6); features
            constant in the node are skipped and do not count, as in scikit-learn.
        max_depth: OpenBox's 2**20, i.e. no limit in practice.
        bootstrap: grow each tree on n draws with replacement from the n samples.
        seed: seed of the bootstraps and feature draws.

    Features must be 0 or 1 (one-hot encodings), so each has the one threshold 0.5; that lets a tree
    grow a whole level at a time with a few matrix products, ~10x faster than node by node, which
    matters because ProxyBO fits 60 trees per step (5 cross-validation forests and the final one).
    A node is a leaf when it has fewer than ``min_samples_split`` samples, constant targets, or no
    split that leaves ``min_samples_leaf`` on both sides among the features drawn for it.

    Example:
        >>> X = np.array([[0.0], [0.0], [0.0], [1.0], [1.0], [1.0]])
        >>> mean, var = RandomForest(bootstrap=False).fit(X, np.array([0, 0, 0, 1, 1, 1.0])).predict(X[[0, 5]])
        >>> mean.tolist(), var.tolist()
        ([0.0, 1.0], [0.0, 0.0])
    """

    def __init__(self, n_trees: int = 10, min_samples_split: int = 3, min_samples_leaf: int = 3,
                 max_features: float = 5 / 6, max_depth: int = 2**20, bootstrap: bool = True, seed: int = 0) -> None:
        if n_trees < 1 or min_samples_split < 2 or min_samples_leaf < 1 or not 0 < max_features <= 1:
            raise ValueError(f"bad forest settings: n_trees={n_trees}, min_samples_split={min_samples_split}, "
                             f"min_samples_leaf={min_samples_leaf}, max_features={max_features}")
        self.n_trees, self.min_samples_split, self.min_samples_leaf = n_trees, min_samples_split, min_samples_leaf
        self.max_features, self.max_depth, self.bootstrap, self.seed = max_features, max_depth, bootstrap, seed
        self._trees: list[tuple[np.ndarray, ...]] = []

    def fit(self, X: np.ndarray, y: np.ndarray) -> RandomForest:
        """Fit on ``X`` (n samples x d features, each 0 or 1) and ``y`` (n,), finite."""
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if X.ndim != 2 or y.shape != (len(X),) or len(X) == 0:
            raise ValueError(f"forest needs X (n, d) and y (n,) with n >= 1, got {X.shape} and {y.shape}")
        if not ((X == 0.0) | (X == 1.0)).all():
            raise ValueError("forest features must be 0 or 1 (a one-hot encoding)")
        if not np.isfinite(y).all():
            raise ValueError("forest targets must be finite (drop failed evaluations first)")
        rng = np.random.default_rng(self.seed)
        n, d = X.shape
        mtry = max(1, int(self.max_features * d))  # scikit-learn's rule for a fractional max_features
        self._trees = []
        for _ in range(self.n_trees):
            rows = rng.integers(n, size=n) if self.bootstrap else np.arange(n)
            self._trees.append(self._grow(X[rows], y[rows], rng, mtry))
        return self

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance (ddof 0) over the trees of each row's prediction, each (m,)."""
        if not self._trees:
            raise RuntimeError("predict() before fit()")
        X = np.asarray(X, dtype=np.float64)
        preds = np.stack([_tree_predict(t, X) for t in self._trees])
        return preds.mean(axis=0), preds.var(axis=0)

    def _grow(self, X: np.ndarray, y: np.ndarray, rng: np.random.Generator, mtry: int) -> tuple[np.ndarray, ...]:
        m, d = X.shape
        size = 2 * m + 1  # a binary tree with at most m leaves has at most 2m - 1 nodes
        feature = np.full(size, -1, dtype=np.int64)
        left = np.full(size, -1, dtype=np.int64)
        value = np.zeros(size)
        value[0], n_nodes = y.mean(), 1
        node_of = np.zeros(m, dtype=np.int64)  # the node each sample sits in
        active, depth = np.array([0]), 0
        while len(active) and depth < self.max_depth:
            k = len(active)
            local = np.full(n_nodes, -1)
            local[active] = np.arange(k)
            where = np.flatnonzero(local[node_of] >= 0)  # samples still in a growing node
            ln, xs, ys = local[node_of[where]], X[where], y[where]
            cnt = np.bincount(ln, minlength=k).astype(np.float64)
            mean = np.bincount(ln, ys, minlength=k) / cnt
            yc = ys - mean[ln]
            member = np.zeros((k, len(ys)))
            member[ln, np.arange(len(ys))] = 1.0
            ones = member @ xs  # (k, d): samples with feature = 1
            s1 = member @ (xs * yc[:, None])  # centred sum of y on the "1" side (the "0" side: -s1)
            hi, lo = np.full(k, -np.inf), np.full(k, np.inf)
            np.maximum.at(hi, ln, ys)
            np.minimum.at(lo, ln, ys)
            growing = (cnt >= self.min_samples_split) & (hi > lo)
            varying = (ones > 0) & (ones < cnt[:, None]) & growing[:, None]
            # each node examines mtry varying features in a random order (the smallest keys)
            keys = np.where(varying, rng.random((k, d)), np.inf)
            drawn = varying & (np.argsort(np.argsort(keys, axis=1), axis=1) < mtry)
            n0 = cnt[:, None] - ones
            ok = drawn & (n0 >= self.min_samples_leaf) & (ones >= self.min_samples_leaf)
            # SSE after a split is sum(yc^2) - s1^2 (1/n0 + 1/n1): the best split maximises the rest
            gain = np.where(ok, s1 * s1 * cnt[:, None] / np.maximum(n0 * ones, 1.0), -np.inf)
            best = gain.max(axis=1)
            split = np.flatnonzero(best > -np.inf)
            if len(split) == 0:
                break
            # ties between features go to the one drawn first (smallest key)
            f = np.argmin(np.where(ok & (gain == best[:, None]), keys, np.inf), axis=1)[split]
            nodes = active[split]
            kids = n_nodes + 2 * np.arange(len(split))
            feature[nodes], left[nodes] = f, kids
            n1s, s1s = ones[split, f], s1[split, f]
            value[kids] = mean[split] - s1s / (cnt[split] - n1s)
            value[kids + 1] = mean[split] + s1s / n1s
            n_nodes += 2 * len(split)
            child = np.full(k, -1)
            child[split] = kids
            moved = child[ln] >= 0
            side = xs[np.arange(len(ys)), np.where(moved, feature[active[ln]], 0)] > 0.5
            node_of[where[moved]] = child[ln[moved]] + side[moved]
            active, depth = np.concatenate([kids, kids + 1]), depth + 1
        return feature[:n_nodes], left[:n_nodes], value[:n_nodes]


def _tree_predict(tree: tuple[np.ndarray, ...], X: np.ndarray) -> np.ndarray:
    feature, left, value = tree
    node = np.zeros(len(X), dtype=np.int64)
    while True:
        f = feature[node]
        inner = np.flatnonzero(f >= 0)
        if len(inner) == 0:
            return value[node]
        at = node[inner]
        node[inner] = left[at] + (X[inner, f[inner]] > 0.5)  # the right child follows the left


def expected_improvement(mean: np.ndarray, var: np.ndarray, best: float, xi: float = 0.0) -> np.ndarray:
    """EI of a *minimisation* target below ``best``: ``(best - m - xi) Phi(z) + s phi(z)``,
    ``z = (best - m - xi) / s`` (OpenBox's ``EI`` with ``par = xi``).

    Where the variance is zero EI is 0 (OpenBox's rule; the forest is then certain, and the rank
    it gives must not favour one such candidate over another). "Zero" allows for rounding: the
    variance of ten equal floats computes as ~1e-34, not 0, so s <= 1e-9 (1 + |best|) counts as 0.

    Example:
        >>> expected_improvement(np.array([0.0, 0.0]), np.array([1.0, 0.0]), best=0.0).round(4).tolist()
        [0.3989, 0.0]
    """
    mean = np.asarray(mean, dtype=np.float64)
    s = np.sqrt(np.maximum(np.asarray(var, dtype=np.float64), 0.0))
    certain = s <= 1e-9 * (1.0 + abs(best))
    s_safe = np.where(certain, 1.0, s)
    gain = best - mean - xi
    z = gain / s_safe
    cdf = 0.5 * (1.0 + np.array([math.erf(v / math.sqrt(2.0)) for v in z]))
    pdf = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    ei = gain * cdf + s_safe * pdf
    # EI is >= 0 in exact arithmetic; far in the lower tail the two terms cancel to a tiny negative
    return np.where(certain, 0.0, np.maximum(ei, 0.0))


def average_ranks(scores: np.ndarray, higher_is_better: bool = True) -> np.ndarray:
    """Rank 1 = best; tied scores share the mean of the ranks they span; NaN (unknown) ranks last.

    Example:
        >>> average_ranks(np.array([0.5, 0.9, 0.5, np.nan])).tolist()
        [2.5, 1.0, 2.5, 4.0]
    """
    s = np.asarray(scores, dtype=np.float64)
    key = -s if higher_is_better else s.copy()
    key[np.isnan(key)] = np.inf  # unknown is worst, and all unknowns tie with each other
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    ends = np.r_[starts[1:], len(s)]
    ranks = np.empty(len(s), dtype=np.float64)
    for a, b in zip(starts, ends):
        ranks[order[a:b]] = (a + 1 + b) / 2.0  # mean of ranks a+1 .. b
    return ranks


def pair_concordance(scores: np.ndarray, y: np.ndarray) -> float:
    """The paper's generalisation ability G = 2F / (n (n - 1)) (proxybo-notes, Eq. for F and G):
    the fraction of pairs of observations that ``scores`` orders as ``y`` does (higher = better
    for both). A pair tied in the scores or in ``y`` counts 1/2, so a constant scorer gets 0.5,
    the value of a coin flip, whatever order the observations came in. NaN scores rank last.
    NaN for fewer than two observations.

    Example:
        >>> pair_concordance(np.array([1.0, 2.0, 3.0]), np.array([10.0, 30.0, 20.0]))
        0.6666666666666666
    """
    y = np.asarray(y, dtype=np.float64)
    n = len(y)
    if n < 2:
        return math.nan
    k = -average_ranks(scores)  # finite, NaN already last
    ds = np.sign(k[:, None] - k[None, :])
    dy = np.sign(y[:, None] - y[None, :])
    upper = np.triu(np.ones((n, n), dtype=bool), 1)
    prod = (ds * dy)[upper]
    return float(((prod > 0).sum() + 0.5 * (prod == 0).sum()) / len(prod))


def softmax(x: np.ndarray) -> np.ndarray:
    z = np.asarray(x, dtype=np.float64)
    e = np.exp(z - z.max())
    return e / e.sum()


def cross_val_predict(X: np.ndarray, y: np.ndarray, folds: int, rng: np.random.Generator,
                      **forest: Any) -> np.ndarray:
    """Out-of-fold forest predictions (mean) for every row: the rows are shuffled by ``rng`` and cut
    into ``folds`` near-equal parts; each part is predicted by a forest fitted on the others."""
    n = len(y)
    if not 2 <= folds <= n:
        raise ValueError(f"cross-validation needs 2 <= folds <= n, got folds={folds}, n={n}")
    out = np.empty(n, dtype=np.float64)
    for part in np.array_split(rng.permutation(n), folds):
        train = np.setdiff1d(np.arange(n), part)
        model = RandomForest(seed=int(rng.integers(2**31)), **forest).fit(X[train], y[train])
        out[part] = model.predict(X[part])[0]
    return out

"""The pieces of ProxyBO's scoring that know nothing about architectures: a probabilistic random
forest, expected improvement, average ranks, and the pair-ordering "generalisation ability".

The forest follows OpenBox's ``prf`` surrogate (shared/REFERENCES.md A3.1 and E.11:
``openbox/surrogate/base/rf_with_instances.py``): 10 regression trees, each grown on a bootstrap
sample; a split needs 3 samples and leaves keep at least 3; each split looks at 5/6 of the
features; depth is practically unlimited (2^20). A prediction is the mean and the variance
(ddof 0) of the trees' predictions. OpenBox grows its trees with pyrfr; we grow them with
scikit-learn (issue 6). The settings are OpenBox's, the features are not: OpenBox gives pyrfr each
NB201 edge as one categorical feature (5 of the 6 looked at per split, a split sends any subset of
ops each way), while scikit-learn splits our one-hot columns (one op against the rest, 25 of 30
columns per split). So this is a random forest on the same data with the same settings, not
OpenBox's model bit for bit; an audit's check (a pyrfr-like categorical forest against ours, Kendall
tau at 20 / 50 / 100 training archs: 0.23 / 0.33 / 0.46 vs 0.30 / 0.35 / 0.44) found no
consistent difference.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["RandomForest", "average_ranks", "cross_val_predict", "expected_improvement", "pair_concordance",
           "softmax"]


class RandomForest:
    """Bootstrap regression forest whose trees' spread is the predictive variance (OpenBox ``prf``),
    grown by scikit-learn's ``RandomForestRegressor``.

    Args:
        n_trees: trees in the forest (OpenBox: 10).
        min_samples_split: a node with fewer samples is a leaf (OpenBox: 3).
        min_samples_leaf: each child of a split keeps at least this many samples (OpenBox: 3).
        max_features: fraction of the features searched at each split (OpenBox: 5/6).
        max_depth: OpenBox's 2**20, i.e. no limit in practice (passed to scikit-learn as None).
        bootstrap: grow each tree on n draws with replacement from the n samples.
        seed: ``random_state`` of the bootstraps and feature draws (a fixed seed gives the same forest,
            which a resumed search relies on: it replays its history and must decide the same).

    Example:
        >>> import numpy as np
        >>> from nasfast.search.surrogate import RandomForest
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
        self._forest: Any = None

    def fit(self, X: np.ndarray, y: np.ndarray) -> RandomForest:
        """Fit on ``X`` (n samples x d features) and ``y`` (n,), both finite."""
        from sklearn import config_context
        from sklearn.tree import DecisionTreeRegressor

        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if X.ndim != 2 or y.shape != (len(X),) or len(X) == 0:
            raise ValueError(f"forest needs X (n, d) and y (n,) with n >= 1, got {X.shape} and {y.shape}")
        if not np.isfinite(X).all():
            raise ValueError("forest features must be finite")
        if not np.isfinite(y).all():
            raise ValueError("forest targets must be finite (drop failed evaluations first)")
        # The trees RandomForestRegressor(n_jobs=1, random_state=seed) grows, grown here one by one:
        # ProxyBO fits ~1,200 small forests per search, and the forest's per-tree bookkeeping
        # (clone, get_params through inspect, input checks) cost 10x the tree building itself.
        # Same seeds, same bootstrap counts as sample weights, same float32 features: the same
        # forest, which test_proxybo checks against RandomForestRegressor.
        n = len(X)
        X32 = np.ascontiguousarray(X, dtype=np.float32)
        y2 = np.ascontiguousarray(y.reshape(-1, 1))
        forest_rng = np.random.RandomState(int(self.seed) % 2**32)
        trees = []
        with config_context(skip_parameter_validation=True):
            for _ in range(self.n_trees):
                tree_seed = forest_rng.randint(np.iinfo(np.int32).max)
                tree = DecisionTreeRegressor(
                    min_samples_split=self.min_samples_split, min_samples_leaf=self.min_samples_leaf,
                    max_features=float(self.max_features),
                    max_depth=None if self.max_depth >= 2**20 else self.max_depth, random_state=tree_seed)
                weight = (np.bincount(np.random.RandomState(tree_seed).randint(0, n, n), minlength=n)
                          .astype(np.float64) if self.bootstrap else None)
                trees.append(tree.fit(X32, y2, sample_weight=weight, check_input=False))
        self._forest = trees
        return self

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance (ddof 0) over the trees of each row's prediction, each (m,)."""
        if self._forest is None:
            raise RuntimeError("predict() before fit()")
        X32 = np.ascontiguousarray(X, dtype=np.float32)
        preds = np.stack([tree.predict(X32, check_input=False) for tree in self._forest])
        return preds.mean(axis=0), preds.var(axis=0)


def expected_improvement(mean: np.ndarray, var: np.ndarray, best: float, xi: float = 0.0) -> np.ndarray:
    """EI of a *minimisation* target below ``best``: ``(best - m - xi) Phi(z) + s phi(z)``,
    ``z = (best - m - xi) / s`` (OpenBox's ``EI`` with ``par = xi``).

    Where the variance is zero EI is 0 (the branch of OpenBox's ``EI`` for s = 0; the forest is then
    certain, and the rank it gives must not favour one such candidate over another). OpenBox never
    takes that branch with its forest, whose ``predict_marginalized_over_instances`` floors the
    variance at 1e-5 first: the two differ only for a candidate whose mean equals the incumbent's,
    where OpenBox gives a tiny positive EI (0.00126) and we give 0. Our reading, noted here. "Zero"
    allows for rounding: the variance of ten equal floats computes as ~1e-34, not 0, so
    s <= 1e-9 (1 + |best|) counts as 0.

    Example:
        >>> import numpy as np
        >>> from nasfast.search.surrogate import expected_improvement
        >>> expected_improvement(np.array([0.0, 0.0]), np.array([1.0, 0.0]), best=0.0).round(4).tolist()
        [0.3989, 0.0]
    """
    mean = np.asarray(mean, dtype=np.float64)
    s = np.sqrt(np.maximum(np.asarray(var, dtype=np.float64), 0.0))
    certain = s <= 1e-9 * (1.0 + abs(best))
    s_safe = np.where(certain, 1.0, s)
    gain = best - mean - xi
    z = gain / s_safe
    from scipy.special import ndtr  # scipy comes with scikit-learn

    cdf = ndtr(z)
    pdf = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    ei = gain * cdf + s_safe * pdf
    # EI is >= 0 in exact arithmetic; far in the lower tail the two terms cancel to a tiny negative
    return np.where(certain, 0.0, np.maximum(ei, 0.0))


def average_ranks(scores: np.ndarray, higher_is_better: bool = True) -> np.ndarray:
    """Rank 1 = best; tied scores share the mean of the ranks they span; NaN (unknown) ranks last.

    Example:
        >>> import numpy as np
        >>> from nasfast.search.surrogate import average_ranks
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
        >>> import numpy as np
        >>> from nasfast.search.surrogate import pair_concordance
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

"""RANK-NOSH (Wang, Chen, Cheng, Tang, Hsieh, ICCV 2021): non-uniform successive halving (NOSH)
with a pairwise ranker, behind the multi-fidelity ask/tell of ``nasfast.search.multifidelity``.

The pool S is a pyramid of levels 0..N over the schedule E = (e1 < ... < eN): level l >= 1 holds
archs trained to e_l epochs, level 0 untrained archs ordered by a training-free prior. NOSH
(Algorithm 1) goes up the levels once per round: sort level l (by the prior at level 0, by the
validation accuracy at e_l above), train its top rK on to e_(l+1) and move them up, K *= r. Losers
stay where they are and keep giving the ranker pairs; an old loser is promoted later if it still
ranks in the top of its level. The main loop (Algorithm 2) seeds the pyramid with K_init random
archs, then repeatedly labels pairs of S by Eq. (1) (same level: the higher accuracy at that level
wins; different levels: the higher level wins), fits the ranker, proposes min(K, M - |S|) new archs
and runs NOSH, until |S| = M. The answer is the best arch at the top level (our reading: the
paper's text takes the argmax over the whole pool; on NB201 the two coincide, and on NB101 a 36-epoch
result is almost never above the 108-epoch level's best).
(shared/papers/rank-nosh-iccv2021-notes.md, Algorithms 1-2, Eq. 1; REFERENCES.md A2.)

Fixed by the paper: the pyramid and its update, losers staying, Eq. (1), a Siamese pairwise ranker
trained with BCE, the proposal (top K/2 by the ranker plus K/2 at random from the rest of the top
2K), r = 1/2, K_init = 16 x 3, K = 10 x 3 with Level 0 holding 2/3 of the proposals, the weight-
magnitude ("mag") prior. No code is public (REFERENCES A2): everything below is **our choice**,
each a constructor argument of ``RankNOSH``:

1. ``rounding="cumulative"``: rK is rounded so that, after every round, ceil(r x #archs that reached
   level l) archs have reached level l + 1 (K *= r with the fractions carried over, not dropped).
   This reproduces every budget the paper prints: C10 292 epochs (E = (1, 2, 3, 12), M = 300:
   100 x 1 + 50 x 1 + 25 x 1 + 13 x 9), C100/IN16 5,550 (E = (10, 50, 100, 200)) and all nine rows
   of Table 7 (6,750 / 5,550 / 4,075 / 3,400 for the schedules; 9,750 / 7,400 / 5,550 / 4,100 /
   2,950 for r = 0.7..0.3). ``"per-round"`` rounds each round's r x K half up instead.
2. ``level0_ratio=1/3``: the fraction of level 0 promoted per round ("Level 0 holds 2/3").
3. ``pool_size`` M counts every proposal, K_init and level 0 included (the 292 above needs
   M = 300 = 48 + 8 x 30 + 12); Algorithm 2's "M += K" lines, which as transcribed never let the loop
   end, are read as a transcription slip.
4. ``prior=None`` (ablation "no Level 0"): proposals are trained to e1 at once; K_init, K and M then
   default to a third of 48, 30, 300 (16, 10, 100), so the same number of archs is trained.
5. Sorting a level: higher first, NaN (unknown prior, failed run) last, earlier-joined first on ties.
6. ``level0_pairs="prior"``: Eq. (1) has no accuracy at level 0; pairs inside it are labelled by the
   prior (REFERENCES A2 [R]); ``"none"`` drops them. Ties and NaN-NaN pairs are dropped; NaN loses.
7. ``ranker="gates"``: the GATES encoder + ``PairwiseComparator`` head of ``nasfast.predictors``,
   trained fresh each round with BCE on both orders (``losses.comparator_loss``), seeded from the
   strategy's generator; Eq. (1) enters as a scalar key whose pairwise comparisons *are* Eq. (1)
   (``ranking_key``), sampled as aw_nas does (at most 4n random pairs per minibatch). Small by
   default (``RANKER_DEFAULTS``) so that a run stays within seconds. ``None``: random proposals
   (ablation "no ranker"). ``"arch2vec"``: the paper's encoder, arch2vec's GIN-VAE pretrained once
   per search on every candidate without labels (``nasfast.predictors.arch2vec``), frozen, with the
   same comparator head trained on its vectors (``ranker_config``'s "pretrain_epochs" sets the
   pretraining length, default arch2vec's 10). Not the default: on NB201 it gives the GATES
   ranker's results with 5x faster rounds after ~50 s of pretraining, but on NB101-30k it ends on a
   worse arch every time (``reproductions/nosh-nb201.md``, ``nosh-nb101.md``).
8. Ranking for a proposal: the comparator's soft win rate against ``num_references`` fixed pool archs
   (``PairwiseComparator.win_rate``) over every candidate not in S (``proposal_sample=None``: all of
   NB201 / the NB101-30k table), ties by candidate order; top ceil(K/2) (``exploit_fraction``), the
   rest uniformly from ranks up to 2K (``window``).
9. Budget: epochs, a promotion pays e_(l+1) - e_l (``multifidelity``); Level 0 is free (the prior
   tables are precomputed, as the paper does not charge for them).
10. ``prior="mag"`` on NB201 is the ``mag`` proxy, the sum of |theta| over the initial conv/linear
    weights (the weight magnitude of magnitude pruning), read from the bundled
    ``nb201_cifar10_data_free`` table; where that table has no row, the arch gets the quantile of
    ``params`` instead (``prior_fallback``; ``notes`` says how many). The paper names "mag" without
    a formula. NASLib's ``l2_norm`` (sum of per-layer Frobenius norms; issue 4 called it "mag") is the
    other reading, but under PyTorch's default init a layer's Frobenius norm does not depend on its
    kernel size, so it cannot tell a 3x3 conv from a 1x1. The paper's own numbers side with |theta|:
    Table 1's Spearman .76 (top 1 %: .37) vs c10 validation is .719 (.445) for |theta| and .683 (.493)
    for l2_norm over the 15,625 archs; the best-of-1,000 "mag" row of Table 2 (93.35 / 70.47 / 43.17
    test) is 93.41 / 70.33 / 41.58 with |theta| and 93.08 / 70.12 / 43.49 with l2_norm (100 draws).
    ``prior="l2_norm"`` is still there. On NB101 the default prior is ``trainable_parameters``: there
    is no NB101 proxy table yet.
11. Default schedules: NB201 (12, 200), NB101 (4, 12, 36, 108) (the bundled fidelities, issue 7).
    Paper Table 4's 8,400 NB101 epochs fit E = (12, 36, 108) with M = 600 exactly
    (200 x 12 + 100 x 24 + 50 x 72), not (4, 12, 36, 108).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from nasfast.evaluators.base import Result
from nasfast.search.base import SearchSpace, resolve_space, space_name
from nasfast.search.multifidelity import FIDELITIES, Batch, MultiFidelityStrategy, check_ratio
from nasfast.search.proxybo import ProxyTable
from nasfast.validation import check_positive_int

__all__ = ["RANKER_DEFAULTS", "RankNOSH", "eq1_labels", "nb201_prior_table", "ranking_key",
           "select_proposals"]

#: the default prior per space (our choice 10)
DEFAULT_PRIOR = {"nb201": "mag", "nb101": "trainable_parameters"}
#: the ranker's network and training, on top of ``nasfast.predictors.network`` (our choice 7):
#: a whole default NB201 run trains it 9 times and scores 15k archs 9 times
RANKER_DEFAULTS: dict[str, Any] = dict(op_dim=16, node_dim=16, hid_dim=32, layers=(32, 32, 32), mlp_hidden=(32,),
                                       epochs=100, num_references=32)
_PAPER_COUNTS = (300, 48, 30)  # M, K_init, K (notes "实验设置"; our choice 3 for M)
_PREDICTOR_SPACE = {"nb201": "nb201", "nb101": "nb101", "nb301": "darts"}


# ---- Eq. (1) -----------------------------------------------------------------------------------------------

def eq1_labels(levels: Sequence[int], values: Sequence[float], pairs: np.ndarray) -> np.ndarray:
    """y(a1, a2) of Eq. (1) for each row (a1, a2) of ``pairs`` (P x 2 indices): 1.0 when a2 is
    better, 0.0 when a1 is, NaN when undefined. Different levels: the higher level is better; the
    same level: the higher value (accuracy at that level, or the prior at level 0) is better, a NaN
    value loses to a number, and equal values or two NaNs are undefined (our choice 6)."""
    lv, val, pairs = np.asarray(levels), np.asarray(values, dtype=np.float64), np.asarray(pairs, dtype=np.int64)
    l1, l2 = lv[pairs[:, 0]], lv[pairs[:, 1]]
    v1, v2 = val[pairs[:, 0]], val[pairs[:, 1]]
    f1, f2 = np.isfinite(v1), np.isfinite(v2)
    with np.errstate(invalid="ignore"):
        same = np.where(f1 & f2, np.where(v1 < v2, 1.0, np.where(v1 > v2, 0.0, np.nan)),
                        np.where(f1 & ~f2, 0.0, np.where(~f1 & f2, 1.0, np.nan)))
    return np.where(l1 != l2, (l1 < l2).astype(np.float64), same)


def ranking_key(levels: Sequence[int], values: Sequence[float]) -> np.ndarray:
    """A scalar per arch whose pairwise order is Eq. (1): key = level + (rank of the value within
    its level) / (size + 1), NaN values ranked below all numbers, ties sharing a key. Pairs with
    equal keys are exactly the undefined ones of ``eq1_labels`` (dropped when training)."""
    lv, val = np.asarray(levels, dtype=np.int64), np.asarray(values, dtype=np.float64)
    key = lv.astype(np.float64)
    for level in np.unique(lv):
        idx = np.flatnonzero(lv == level)
        v = np.where(np.isfinite(val[idx]), val[idx], -np.inf)
        # average ranks from 1 (lowest); equal values share their rank
        uniq, inv = np.unique(v, return_inverse=True)
        counts = np.bincount(inv)
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        ranks = (first + (counts + 1) / 2.0)[inv]
        ranks[~np.isfinite(v)] = 0.0  # every NaN ties below the numbers
        key[idx] += ranks / (len(idx) + 1)
    return key


# ---- proposal ----------------------------------------------------------------------------------------------

def select_proposals(scores: np.ndarray, k: int, rng: np.random.Generator, exploit_fraction: float = 0.5,
                     window: float = 2.0) -> np.ndarray:
    """Indices of ``k`` distinct entries of ``scores`` (higher = better): the top ceil(k x
    exploit_fraction) by score, then the rest drawn uniformly without replacement from the following
    ranks up to ceil(window x k) (the paper: K/2 + K/2 from the top 2K). Ties go to the lower index;
    NaN scores rank last. Fewer than ``k`` entries: all of them."""
    s = np.where(np.isfinite(scores), np.asarray(scores, dtype=np.float64), -np.inf)
    n = len(s)
    order = np.lexsort((np.arange(n), -s))
    if n <= k:
        return order
    n_top = min(k, math.ceil(k * exploit_fraction))
    explore = order[n_top:max(k, math.ceil(window * k))]
    picked = rng.choice(explore, size=k - n_top, replace=False) if k > n_top else np.zeros(0, np.int64)
    return np.concatenate([order[:n_top], picked]).astype(np.int64)


# ---- priors ------------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def nb201_prior_table() -> ProxyTable:
    """NB201 Level-0 priors: ``mag``, ``l2_norm`` and ``flops`` of the bundled data-free table (NaN where it
    has no row yet) with the complete ``params`` and ``jacob_cov`` of ``ProxyTable.bundled()``."""
    from nasfast.proxies.table import bundled_table

    base = ProxyTable.bundled()
    cols = {n: base.column(n) for n in base.names}
    free = ProxyTable.from_columns(bundled_table("nb201_cifar10_data_free"), source="nb201_cifar10_data_free")
    cols.update({n: free.column(n) for n in free.names if n not in cols})  # its partial params: keep ours
    return ProxyTable(cols, source="bundled + nb201_cifar10_data_free")


def _quantiles(col: np.ndarray) -> np.ndarray:
    """Average-rank quantiles in (0, 1] of the finite entries; NaN stays NaN."""
    out = np.full(len(col), np.nan)
    ok = np.flatnonzero(np.isfinite(col))
    if len(ok):
        out[ok] = ranking_key(np.zeros(len(ok), np.int64), col[ok]) * (len(ok) + 1) / len(ok)
    return out


def _fill(primary: np.ndarray, fallback: np.ndarray | None) -> tuple[np.ndarray, int]:
    """``primary`` where known, else the fallback's quantile on the primary's quantile scale (the two
    are put on one scale so that a mixed level 0 can be sorted); also how many were filled."""
    missing = ~np.isfinite(primary)
    if fallback is None or not missing.any():
        return primary.astype(np.float64), 0
    q = _quantiles(primary)
    q[missing] = _quantiles(fallback)[missing]
    return q, int((missing & np.isfinite(q)).sum())


# ---- the strategy ------------------------------------------------------------------------------------------

class RankNOSH(MultiFidelityStrategy):
    """RANK-NOSH (module docstring; every "our choice" there is an argument here).

    Args:
        space, seed, candidates: see ``MultiFidelityStrategy`` (NB101: ``candidates=
            table_candidates(NB101_SEARCH_SPACE, tabular.load("nb101"))``).
        schedule: E; default NB201 (12, 200), NB101 (4, 12, 36, 108).
        ratio: r, the move ratio above level 1 (paper 1/2).
        pool_size, k_init, k: M, K_init, K (default 300, 48, 30; a third of each without Level 0).
        prior: the Level-0 score (higher = better): a ``prior_table`` column on NB201 ("mag",
            sum |theta|, by default: our choice 10), a column of the bundled NB101 table on NB101 (default
            "trainable_parameters"); ``None``: no Level 0 (ablation).
        prior_table: NB201 ``ProxyTable`` to read ``prior`` from (default ``nb201_prior_table()``).
        prior_fallback: NB201 column whose quantile replaces a missing prior value (None: NaN, last).
        level0_ratio: fraction of level 0 promoted per round (1/3).
        level0_pairs: "prior" or "none" (our choice 6).
        ranker: a ``nasfast.predictors.network.ENCODERS`` name ("gates"), "arch2vec" (the paper's
            pretrained encoder, frozen; NB101 / NB201) or None (random proposals).
        ranker_config: overrides of ``RANKER_DEFAULTS`` / ``GATESPredictor`` config keys.
        exploit_fraction, window: the proposal split (0.5, 2: K/2 best + K/2 of the top 2K).
        proposal_sample: score this many random unseen candidates per round (None: all of them).
        rounding: "cumulative" or "per-round" (our choice 1).

    ``rounds`` records per round the proposals, promotions per level, epochs so far and the seconds
    spent fitting and scoring; ``notes`` the caveats (prior coverage). ``best()`` is the answer.

    Example:
        >>> from nasfast import tabular
        >>> from nasfast.spaces import nb201
        >>> from nasfast.search.multifidelity import MultiFidelityEvaluator, run_multifidelity
        >>> from nasfast.search.nosh import RankNOSH
        >>> nosh = RankNOSH(nb201, 0, pool_size=24, k_init=12, k=12, ranker_config=dict(epochs=2))
        >>> run = run_multifidelity(nosh, MultiFidelityEvaluator(tabular.load("nb201"), "cifar10"))
        >>> run.best.extra["epochs"], [r["promoted"] for r in nosh.rounds]
        (200, [[4, 2], [4, 2]])
    """

    name = "rank-nosh"

    def __init__(self, space: SearchSpace, seed: int, candidates: Iterable[Any] | None = None, *,
                 schedule: Sequence[int] | None = None, ratio: float = 0.5, pool_size: int | None = None,
                 k_init: int | None = None, k: int | None = None, prior: str | None = "default",
                 prior_table: ProxyTable | None = None, prior_fallback: str | None = "params",
                 level0_ratio: float = 1 / 3, level0_pairs: str = "prior", ranker: str | None = "gates",
                 ranker_config: dict[str, Any] | None = None, exploit_fraction: float = 0.5, window: float = 2.0,
                 proposal_sample: int | None = None, rounding: str = "cumulative") -> None:
        from nasfast.predictors.network import ENCODERS

        space = resolve_space(space)  # a name ("nb201") or the space
        self.space_key = space_name(space)
        if schedule is None:
            if self.space_key not in FIDELITIES:
                raise ValueError(f"rank-nosh has no default schedule for space {self.space_key!r}; pass schedule=")
            schedule = FIDELITIES[self.space_key]
        self.ratio = check_ratio(ratio)
        self.level0_ratio = check_ratio(level0_ratio, "level0_ratio", upper_inclusive=True)
        for label, value, choices in (("level0_pairs", level0_pairs, ("prior", "none")),
                                      ("rounding", rounding, ("cumulative", "per-round")),
                                      ("ranker", ranker, (None, *ENCODERS, "arch2vec"))):
            if value not in choices:
                raise ValueError(f"rank-nosh {label} must be one of {list(choices)}, got {value!r}")
        self.level0_pairs, self.rounding, self.ranker = level0_pairs, rounding, ranker
        if ranker == "arch2vec" and self.space_key not in ("nb101", "nb201"):
            raise ValueError(f"rank-nosh ranker 'arch2vec' supports nb101 and nb201, not {self.space_key!r}")
        for label, value in (("exploit_fraction", exploit_fraction), ("window", window)):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise ValueError(f"rank-nosh {label} must be a number, got {value!r}")
        if not 0.0 <= exploit_fraction <= 1.0:
            raise ValueError(f"rank-nosh exploit_fraction must be in [0, 1], got {exploit_fraction!r}")
        if not (window >= 1.0 and math.isfinite(window)):  # inf would make ceil(window x K) overflow
            raise ValueError(f"rank-nosh window must be >= 1 and finite (the top window x K), got {window!r}")
        self.exploit_fraction, self.window = float(exploit_fraction), float(window)
        super().__init__(space, seed, candidates, schedule)
        self.notes: list[str] = []
        if prior == "default":
            prior = DEFAULT_PRIOR.get(self.space_key)
            if prior is None:
                raise ValueError(f"rank-nosh has no default prior for space {self.space_key!r}; name one or pass None")
        self.prior_name = prior
        self.prior = self._prior_scores(prior, prior_table, prior_fallback) if prior is not None else None
        self.use_level0 = prior is not None
        scale = 1 if self.use_level0 else self.level0_ratio  # our choice 4: the same archs trained
        defaults = [max(2, round(c * scale)) for c in _PAPER_COUNTS]
        self.pool_size, self.k_init, self.k = (
            self._count(label, given, default, minimum)
            for label, given, default, minimum in (("pool_size", pool_size, defaults[0], 2),
                                                   ("k_init", k_init, defaults[1], 2), ("k", k, defaults[2], 2)))
        if self.pool_size < self.k_init or self.pool_size > len(self.archs):
            raise ValueError(f"rank-nosh pool_size M={self.pool_size} must be in [k_init={self.k_init}, "
                             f"{len(self.archs)} candidates]")
        if proposal_sample is not None and check_positive_int(proposal_sample, "rank-nosh proposal_sample") < self.k:
            raise ValueError(f"rank-nosh proposal_sample must be None or an integer >= k={self.k}, got {proposal_sample!r}")
        self.proposal_sample = None if proposal_sample is None else int(proposal_sample)
        cfg = dict(RANKER_DEFAULTS)
        cfg.update(ranker_config or {})
        self.ranker_config = cfg
        if self.ranker in ENCODERS and self.space_key in _PREDICTOR_SPACE:
            # a typo'd key fails here, not at the first fit several rounds in
            from nasfast.predictors.network import resolve_config

            try:
                resolve_config(_PREDICTOR_SPACE[self.space_key], self.ranker, "comparator", cfg)
            except ValueError as err:
                raise ValueError(f"rank-nosh ranker_config: {err}") from None
        self._inputs: Callable[[np.ndarray], Any] | None = None
        self._embedding: np.ndarray | None = None  # arch2vec vectors of every candidate (ranker "arch2vec")
        #: the pyramid: pool positions in join order, their level and value (accuracy at the level)
        self.pool: list[int] = []
        self.level: dict[int, int] = {}
        self.value: dict[int, float] = {}
        self.rounds: list[dict[str, Any]] = []

    @staticmethod
    def _count(label: str, given: int | None, default: int, minimum: int) -> int:
        return check_positive_int(default if given is None else given, f"rank-nosh {label}", minimum)

    # ---- Level-0 prior ------------------------------------------------------------------------------------

    def _prior_scores(self, prior: str, table: ProxyTable | None, fallback: str | None) -> np.ndarray:
        if self.space_key == "nb201":
            table = table if table is not None else nb201_prior_table()
            name = prior
            if name not in table.names:
                raise ValueError(f"unknown prior {prior!r} for nb201; the prior table ({table.source}) has "
                                 f"{list(table.names)}")
            fb = None
            if fallback is not None and fallback != name:
                table.require([fallback])
                fb = table.column(fallback)
            full, filled = _fill(table.column(name), fb)
            idx = np.fromiter((a.index for a in self.archs), dtype=np.int64)
            if filled:
                self.notes.append(f"prior {name!r} is missing for {filled} of {len(full)} NB201 archs "
                                  f"({table.source}); they are ordered by the quantile of {fallback!r} instead")
            return full[idx]
        if self.space_key == "nb101":
            from nasfast import tabular

            bench = tabular.load("nb101")
            from nasfast.proxies.definitions import PROXIES

            if prior in PROXIES and prior not in bench.columns:
                raise ValueError(f"prior {prior!r} has no NB101 table yet (no NB101 proxy table); use "
                                 "'trainable_parameters' or another column of the nb101 table")
            try:
                col = bench.column(prior)
            except KeyError as err:
                raise ValueError(f"unknown prior {prior!r} for nb101; columns: {bench.columns}") from err
            return np.asarray(col, dtype=np.float64)[bench.rows(self.archs)]
        raise ValueError(f"rank-nosh has no prior for space {self.space_key!r}; pass prior=None")

    # ---- ranker -------------------------------------------------------------------------------------------

    def _ranker_inputs(self, positions: np.ndarray) -> Any:
        """What ``GATESPredictor`` takes for these candidates: NB201 benchmark indices, NB101
        (adjacency, ops) arrays of the bundled table's rows (30k ``Spec``s would take ~9 s)."""
        if self._inputs is None:
            if self.space_key == "nb201":
                index = np.fromiter((a.index for a in self.archs), dtype=np.int64)
                self._inputs = lambda p: index[p]
            elif self.space_key == "nb101":
                self._inputs = _nb101_inputs(self.archs)
            else:
                self._inputs = lambda p: [self.archs[int(i)] for i in p]
        return self._inputs(np.asarray(positions, dtype=np.int64))

    def _fit_and_score(self, eligible: np.ndarray, seed: int) -> tuple[np.ndarray, dict[str, float]]:
        from nasfast.predictors import GATESPredictor

        pool = np.asarray(self.pool, dtype=np.int64)
        levels = np.array([self.level[p] for p in self.pool], dtype=np.int64)
        values = np.array([self._level_value(p) for p in self.pool], dtype=np.float64)
        if self.level0_pairs == "none":
            values[levels == 0] = np.nan  # all level-0 pairs become ties: dropped
        if self.ranker == "arch2vec":
            return self._arch2vec_fit_and_score(pool, ranking_key(levels, values), eligible, seed)
        t0 = time.perf_counter()
        model = GATESPredictor(_PREDICTOR_SPACE[self.space_key], self.ranker, "comparator", **self.ranker_config)
        model.fit(self._ranker_inputs(pool), ranking_key(levels, values), seed=seed)
        t1 = time.perf_counter()
        scores = model.score(self._ranker_inputs(eligible))
        return scores, {"fit_s": t1 - t0, "score_s": time.perf_counter() - t1}

    def _arch2vec_fit_and_score(self, pool: np.ndarray, key: np.ndarray, eligible: np.ndarray,
                                seed: int) -> tuple[np.ndarray, dict[str, float]]:
        """The paper's ranker: a pairwise comparator over arch2vec vectors pretrained (once, without
        labels, on every candidate; ``pretrain_s`` in the first round; ``ranker_config``
        "pretrain_epochs", default arch2vec's 10) and then frozen."""
        from nasfast.predictors import arch2vec
        from nasfast.predictors.predictor import _references

        t0 = time.perf_counter()
        if self._embedding is None:
            everything = self._ranker_inputs(np.arange(len(self.archs)))
            epochs = int(self.ranker_config.get("pretrain_epochs", arch2vec.PRETRAIN["epochs"]))
            self._embedding = arch2vec.space_embedding(self.space_key, everything, seed=0, epochs=epochs)
        t1 = time.perf_counter()
        cfg = self.ranker_config
        model = arch2vec.fit_comparator(
            self._embedding[pool], key, seed=seed, epochs=int(cfg["epochs"]), hidden=tuple(cfg["mlp_hidden"]),
            **{k: cfg[k] for k in ("batch_size", "lr", "max_compare_ratio", "dropout") if k in cfg})
        t2 = time.perf_counter()
        # the references as the GATES comparator picks them (GATESPredictor.fit)
        ref = pool[_references(key, min(int(cfg.get("num_references", 32)), len(key)),
                               cfg.get("reference_choice", "random"), seed)]
        import torch

        emb = torch.as_tensor(self._embedding)
        with torch.no_grad():
            scores = model.win_rate(emb[torch.as_tensor(eligible)], emb[torch.as_tensor(ref)]).numpy()
        return scores, {"pretrain_s": t1 - t0, "fit_s": t2 - t1, "score_s": time.perf_counter() - t2}

    # ---- Algorithms 1 and 2 --------------------------------------------------------------------------------

    def _level_value(self, p: int) -> float:
        return float(self.prior[p]) if self.level[p] == 0 and self.prior is not None else self.value[p]

    def _sorted_level(self, level: int) -> list[int]:
        """Level ``level`` best first: prior (level 0) or accuracy, NaN last, earlier-joined first on ties."""
        members = [p for p in self.pool if self.level[p] == level]
        vals = {p: self._level_value(p) for p in members}
        return sorted(members, key=lambda p: -vals[p] if math.isfinite(vals[p]) else math.inf)

    def _promotions(self, level: int, ratio: Fraction, K: Fraction) -> int:
        size = sum(1 for p in self.pool if self.level[p] == level)
        if self.rounding == "per-round":
            return min(size, math.floor(ratio * K + Fraction(1, 2)))
        reached = sum(1 for p in self.pool if self.level[p] >= level)
        above = sum(1 for p in self.pool if self.level[p] > level)
        return max(0, min(size, math.ceil(ratio * reached) - above))

    def _nosh(self, k: int) -> Generator[Batch, list[Result], list[int]]:
        """Algorithm 1: one pass up the pyramid; returns the promotions per level."""
        K, promoted = Fraction(k), []
        for level in range(0 if self.use_level0 else 1, len(self.schedule)):
            ratio = self.level0_ratio if level == 0 else self.ratio
            n = self._promotions(level, ratio, K)
            K *= ratio
            promoted.append(n)
            if n == 0:
                continue
            top = self._sorted_level(level)[:n]
            results = yield [(self.archs[p], self.schedule[level]) for p in top]
            for p, r in zip(top, results):
                self.level[p], self.value[p] = level + 1, float(r.valid_acc)
        return promoted

    def _admit(self, new: list[int]) -> Generator[Batch, list[Result], None]:
        """New archs join level 0, or level 1 after training to e1 when there is no Level 0."""
        self.pool.extend(new)
        if self.use_level0:
            for p in new:
                self.level[p], self.value[p] = 0, math.nan
            return
        results = yield [(self.archs[p], self.schedule[0]) for p in new]
        for p, r in zip(new, results):
            self.level[p], self.value[p] = 1, float(r.valid_acc)

    def _propose(self, k: int) -> tuple[list[int], dict[str, float]]:
        eligible = np.setdiff1d(np.arange(len(self.archs)), np.asarray(self.pool, dtype=np.int64))
        if self.proposal_sample is not None and len(eligible) > self.proposal_sample:
            eligible = np.sort(self.rng.choice(eligible, size=self.proposal_sample, replace=False))
        seed = int(self.rng.integers(2**31))
        if self.ranker is None:
            return [int(p) for p in self.rng.choice(eligible, size=k, replace=False)], {}
        scores, timing = self._fit_and_score(eligible, seed)
        picked = select_proposals(scores, k, self.rng, self.exploit_fraction, self.window)
        return [int(eligible[i]) for i in picked], timing

    def _search(self) -> Generator[Batch, list[Result], None]:
        """Algorithm 2."""
        new, timing = self.random_new(self.k_init, set()), {}
        while True:
            yield from self._admit(new)
            promoted = yield from self._nosh(len(new))
            self.rounds.append({"round": len(self.rounds), "proposed": len(new), "pool": len(self.pool),
                                "promoted": promoted, "levels": self.level_counts(), "epochs": self.epochs_used,
                                **timing})
            if len(self.pool) >= self.pool_size:
                return
            new, timing = self._propose(min(self.k, self.pool_size - len(self.pool)))

    # ---- inspection ---------------------------------------------------------------------------------------

    def level_counts(self) -> list[int]:
        """How many pool archs sit at each level 0..N now."""
        counts = [0] * (len(self.schedule) + 1)
        for p in self.pool:
            counts[self.level[p]] += 1
        return counts

    def levels(self) -> list[list[Any]]:
        """The archs of each level 0..N, in join order."""
        out: list[list[Any]] = [[] for _ in range(len(self.schedule) + 1)]
        for p in self.pool:
            out[self.level[p]].append(self.archs[p])
        return out

    def config(self) -> dict[str, Any]:
        return {"algo": self.name, "space": self.space_key, "seed": self.seed, "schedule": list(self.schedule),
                "ratio": str(self.ratio), "pool_size": self.pool_size, "k_init": self.k_init, "k": self.k,
                "prior": self.prior_name, "level0_ratio": str(self.level0_ratio), "level0_pairs": self.level0_pairs,
                "ranker": self.ranker, "ranker_config": dict(self.ranker_config),
                "exploit_fraction": self.exploit_fraction, "window": self.window,
                "proposal_sample": self.proposal_sample, "rounding": self.rounding, "notes": list(self.notes)}


def _nb101_inputs(archs: Sequence[Any]) -> Callable[[np.ndarray], Any]:
    """(adjacency, ops) batches for NB101 archs: rows of the bundled table's arrays, or the arch's
    own ``Spec`` for an arch the table lacks."""
    from nasfast import tabular
    from nasfast.spaces import nb101
    from nasfast.tabular.bundled import NB101_MAIN, npz_array

    bench = tabular.load("nb101")
    v = nb101.MAX_VERTICES
    adj = np.zeros((len(archs), v, v), dtype=np.int8)
    ops = np.full((len(archs), v), nb101.PAD, dtype=np.int8)
    inside = np.array([bench.contains(a) for a in archs], dtype=bool)
    if inside.any():
        rows = bench.rows([a for a, ok in zip(archs, inside) if ok])
        adj[inside] = npz_array(NB101_MAIN, "adjacency")[rows]
        ops[inside] = npz_array(NB101_MAIN, "ops")[rows]
    for i in np.flatnonzero(~inside):
        spec = archs[int(i)].spec
        if spec is None:
            raise ValueError(f"NB101 arch {archs[int(i)]} has no graph: the ranker cannot encode it")
        adj[i], ops[i] = spec.padded(v)
    return lambda p: (adj[p], ops[p])

"""RANK-NOSH, the multi-fidelity evaluator and the SH / Hyperband baselines (nasfast.search.nosh,
nasfast.search.multifidelity). Budgets are checked against numbers worked out by hand and against
the budgets printed in the RANK-NOSH paper (Tables 2, 4 and 7)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from nasfast import tabular
from nasfast.search.base import Request, Result
from nasfast.search.multifidelity import (
    Hyperband,
    MultiFidelityEvaluator,
    SuccessiveHalving,
    hyperband_brackets,
    run_multifidelity,
    rungs_cost,
    sh_rungs,
)
from nasfast.search.nosh import RankNOSH, eq1_labels, ranking_key, select_proposals
from nasfast.search.proxybo import ProxyTable
from nasfast.search.spaces import NB101_SEARCH_SPACE, table_candidates
from nasfast.spaces import nb201

TINY_RANKER = dict(op_dim=8, node_dim=8, hid_dim=8, layers=(8, 8), mlp_hidden=(8,), epochs=3, num_references=8)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def bench():
    return tabular.load("nb201")


def toy_acc(index: int, epochs: int) -> float:
    """A fake accuracy whose order changes with the epochs (so each level ranks differently)."""
    return ((index * 7919 + epochs * 104729) % 1009) / 10.0


class ToyEvaluator:
    """Charges increments on its own (to check the strategy's accounting) and logs every charge."""

    def __init__(self) -> None:
        self.trained: dict[object, int] = {}
        self.charges: list[tuple[object, int, int]] = []  # (arch, epochs, charge)

    def __call__(self, req: Request) -> Result:
        charge = max(0, req.epochs - self.trained.get(req.arch, 0))
        self.trained[req.arch] = max(req.epochs, self.trained.get(req.arch, 0))
        self.charges.append((req.arch, req.epochs, charge))
        return Result(valid_acc=toy_acc(req.arch.index, req.epochs), cost=float(charge))

    @property
    def total(self) -> int:
        return sum(c for _, _, c in self.charges)


def toy_prior_table() -> ProxyTable:
    rng = np.random.default_rng(123)
    return ProxyTable({"toy": rng.permutation(nb201.NUM_ARCHS).astype(float),
                       "params": np.arange(nb201.NUM_ARCHS, dtype=float)})


# ---- Eq. (1) ---------------------------------------------------------------------------------------------

def test_eq1_labels_on_a_hand_made_pyramid():
    # a: level 0 (prior 5), b: level 0 (prior 3), c: level 1 acc 70, d: level 1 acc 80,
    # e: level 2 acc 60, f: level 1 acc NaN (failed), g: level 1 acc 80 (tie with d)
    levels = [0, 0, 1, 1, 2, 1, 1]
    values = [5.0, 3.0, 70.0, 80.0, 60.0, math.nan, 80.0]
    a, b, c, d, e, f, g = range(7)
    cases = {  # (a1, a2) -> y = 1 if a2 is better
        (a, b): 0.0, (b, a): 1.0,  # level 0: the prior decides
        (c, d): 1.0, (d, c): 0.0,  # same level: accuracy at that level
        (a, c): 1.0, (c, a): 0.0,  # different levels: the higher level wins...
        (d, e): 1.0, (e, d): 0.0,  # ... even with a lower accuracy (60 at level 2 beats 80 at level 1)
        (f, c): 1.0, (c, f): 0.0,  # a failed run loses inside its level
        (f, e): 1.0, (f, a): 0.0,  # but keeps its level against other levels
        (d, g): math.nan,  # a tie is undefined
    }
    pairs = np.array(list(cases))
    y = eq1_labels(levels, values, pairs)
    np.testing.assert_array_equal(y, np.array(list(cases.values())))


def test_ranking_key_orders_every_pair_as_eq1():
    rng = np.random.default_rng(0)
    levels = rng.integers(0, 4, size=40)
    values = np.round(rng.normal(size=40), 1)  # rounding makes ties
    values[[3, 17]] = np.nan
    pairs = np.array([(i, j) for i, j in itertools.permutations(range(40), 2)])
    y = eq1_labels(levels, values, pairs)
    key = ranking_key(levels, values)
    diff = key[pairs[:, 1]] - key[pairs[:, 0]]
    assert np.isnan(y).sum() > 0 and (y == 1).sum() > 0
    np.testing.assert_array_equal(np.sign(diff), np.where(np.isnan(y), 0.0, 2 * y - 1))


# ---- NOSH: promotions and epochs ---------------------------------------------------------------------------

def test_nosh_promotes_exactly_the_top_of_each_level_and_charges_increments():
    E = (2, 5, 9)
    table = toy_prior_table()
    nosh = RankNOSH(nb201, 0, schedule=E, ratio=0.5, pool_size=18, k_init=12, k=6, prior="toy",
                    prior_table=table, ranker=None)
    ev = ToyEvaluator()
    prior = table.column("toy")
    sizes = []
    while batch := nosh.ask():
        levels = {nosh.level[nosh.position[r.arch]] for r in batch}
        assert len(levels) == 1
        level = levels.pop()
        assert {r.epochs for r in batch} == {E[level]}
        members = nosh.levels()[level]
        def value(a, level=level):
            return prior[a.index] if level == 0 else toy_acc(a.index, E[level - 1])

        chosen = {r.arch for r in batch}
        rest = [value(a) for a in members if a not in chosen]
        assert min(value(a) for a in chosen) > max(rest, default=-math.inf)  # exactly the top of the level
        sizes.append(len(batch))
        for r in batch:
            nosh.tell(r, ev(r))
    # by hand: round 0 (12 proposals): ceil(12/3) = 4 leave level 0, 2 of them reach level 2, 1 level 3;
    # round 1 (18 in the pool): ceil(18/3) = 6 -> 2 more, ceil(6/2) = 3 -> 1 more, ceil(3/2) = 2 -> 1 more
    assert sizes == [4, 2, 1, 2, 1, 1]
    assert nosh.level_counts() == [12, 3, 1, 2]
    assert [c for _, _, c in ev.charges] == [2] * 4 + [3] * 2 + [4] + [2] * 2 + [3] + [4]  # increments only
    assert nosh.epochs_used == ev.total == 6 * 2 + 3 * 3 + 2 * 4
    assert nosh.best()[0] in nosh.levels()[3]


@pytest.mark.parametrize("E, r, M, budget", [
    ((1, 2, 3, 12), 0.5, 300, 292),  # Table 2, CIFAR-10
    ((10, 50, 100, 200), 0.5, 300, 5550),  # Table 2, CIFAR-100 / ImageNet16-120; Table 7
    ((10, 50, 200), 0.5, 300, 6750),  # Table 7a
    ((5, 25, 50, 200), 0.5, 300, 4075),
    ((5, 10, 25, 200), 0.5, 300, 3400),
    ((10, 50, 100, 200), 0.7, 300, 9750),  # Table 7b
    ((10, 50, 100, 200), 0.6, 300, 7400),
    ((10, 50, 100, 200), 0.4, 300, 4100),
    ((10, 50, 100, 200), 0.3, 300, 2950),
    ((12, 36, 108), 0.5, 600, 8400),  # Table 4 (NB101) under our reading: E = (12, 36, 108), M = 600
])
def test_cumulative_rounding_reproduces_the_paper_budgets(E, r, M, budget):
    nosh = RankNOSH(nb201, 1, schedule=E, ratio=r, pool_size=M, prior="toy", prior_table=toy_prior_table(),
                    ranker=None)
    ev = ToyEvaluator()
    run = run_multifidelity(nosh, ev)
    assert run.epochs == nosh.epochs_used == ev.total == budget
    assert [rd["proposed"] for rd in nosh.rounds] == [48] + [30] * ((M - 48) // 30) + [(M - 48) % 30]


def test_per_round_rounding_rounds_each_rK_half_up():
    nosh = RankNOSH(nb201, 1, schedule=(10, 50, 100, 200), pool_size=78, prior="toy",
                    prior_table=toy_prior_table(), ranker=None, rounding="per-round")
    run_multifidelity(nosh, ToyEvaluator())
    # K_init = 48: 16, 8, 4, 2; K = 30: 10, 5, round(2.5) = 3, round(1.25) = 1
    assert [rd["promoted"] for rd in nosh.rounds] == [[16, 8, 4, 2], [10, 5, 3, 1]]


# ---- proposals -------------------------------------------------------------------------------------------

def test_select_proposals_splits_top_half_and_random_half_of_top_2k():
    scores = np.arange(100.0)[::-1]  # entry i has rank i
    seen = set()
    for seed in range(60):
        k = 10 if seed % 2 else 7
        got = select_proposals(scores, k, np.random.default_rng(seed))
        top = math.ceil(k / 2)
        assert len(got) == len(set(got.tolist())) == k
        assert got[:top].tolist() == list(range(top))
        assert all(top <= i < 2 * k for i in got[top:])
        if k == 10:
            seen.update(got[top:].tolist())
    assert seen == set(range(5, 20))  # the random half covers the whole rest of the top 2K
    assert sorted(select_proposals(scores[:4], 10, np.random.default_rng(0)).tolist()) == [0, 1, 2, 3]


def test_ranked_proposals_never_repeat_the_pool_and_take_half_by_rank(monkeypatch):
    # a fake ranker: lower benchmark index = better, so the global rank of the eligible archs is known
    def fake_fit_and_score(self, eligible, seed):
        return -np.asarray([self.archs[p].index for p in eligible], dtype=float), {}

    monkeypatch.setattr(RankNOSH, "_fit_and_score", fake_fit_and_score)
    nosh = RankNOSH(nb201, 3, schedule=(2, 5), pool_size=80, k_init=20, k=12, prior="toy",
                    prior_table=toy_prior_table())
    ev = ToyEvaluator()
    proposed_rounds, before = [], 0
    while batch := nosh.ask():
        if len(nosh.pool) > before:  # a round's proposals are appended to the pool in order
            proposed_rounds.append((set(nosh.archs[p].index for p in nosh.pool[:before]),
                                    [nosh.archs[p].index for p in nosh.pool[before:]]))
            before = len(nosh.pool)
        for r in batch:
            nosh.tell(r, ev(r))
    assert len(nosh.pool) == len(set(nosh.pool)) == 80
    for old, new in proposed_rounds[1:]:
        assert not old & set(new)
        eligible = sorted(set(range(nb201.NUM_ARCHS)) - old)
        k = len(new)
        assert new[:math.ceil(k / 2)] == eligible[:math.ceil(k / 2)]
        assert set(new[math.ceil(k / 2):]) <= set(eligible[math.ceil(k / 2):2 * k])
    assert [len(new) for _, new in proposed_rounds] == [20, 12, 12, 12, 12, 12]


# ---- whole runs ------------------------------------------------------------------------------------------

def test_small_nb201_run_is_deterministic_and_ends_at_the_top_level(bench):
    def run(seed):
        nosh = RankNOSH(nb201, seed, pool_size=30, k_init=12, k=9, ranker_config=TINY_RANKER)
        ev = MultiFidelityEvaluator(bench, "cifar10", observe="random-seed", seed=seed)
        out = run_multifidelity(nosh, ev)
        assert out.epochs == nosh.epochs_used == ev.total_epochs
        return nosh, out

    a, ra = run(5)
    b, rb = run(5)
    c, _ = run(6)
    assert a.history == b.history and ra.best_arch == rb.best_arch
    assert [r.arch for r, _ in a.history] != [r.arch for r, _ in c.history]
    assert a.level[a.position[ra.best_arch]] == len(a.schedule) == 2
    assert ra.best.extra["epochs"] == 200 and math.isfinite(ra.best.test_acc)
    assert ra.best.extra["valid_acc_mean"] == bench.value(ra.best_arch, "cifar10-valid/acc/valid/200ep")
    assert all("fit_s" in rd for rd in a.rounds[1:])
    # 30 proposals, 10 leave level 0 (12 ep), 5 reach 200 ep
    assert a.level_counts() == [20, 5, 5] and ra.epochs == 10 * 12 + 5 * 188


def test_small_nb101_run_uses_four_fidelities():
    b = tabular.load("nb101")
    nosh = RankNOSH(NB101_SEARCH_SPACE, 0, table_candidates(NB101_SEARCH_SPACE, b), pool_size=24, k_init=12,
                    k=12, ranker_config=TINY_RANKER, proposal_sample=300)
    run = run_multifidelity(nosh, MultiFidelityEvaluator(b))
    assert nosh.prior_name == "trainable_parameters" and nosh.schedule == (4, 12, 36, 108)
    assert run.best.extra["epochs"] == 108 and math.isnan(run.best.test_acc)  # NB101 has no test column
    assert nosh.level_counts() == [16, 4, 2, 1, 1]
    assert run.epochs == 8 * 4 + 4 * 8 + 2 * 24 + 1 * 72


def test_ablations_no_level0_and_no_ranker():
    nosh = RankNOSH(nb201, 0, schedule=(2, 5), prior=None, ranker=None)
    assert (nosh.pool_size, nosh.k_init, nosh.k) == (100, 16, 10)  # the trained third of 300, 48, 30
    ev = ToyEvaluator()
    first = nosh.ask()
    assert len(first) == 16 and {r.epochs for r in first} == {2}
    for r in first:
        nosh.tell(r, ev(r))
    run_multifidelity(nosh, ev)
    assert nosh.level_counts() == [0, 50, 50]
    assert ev.total == 100 * 2 + 50 * 3  # the same archs trained as with Level 0 and M = 300
    assert all("fit_s" not in rd for rd in nosh.rounds)


def test_missing_prior_values_fall_back_to_the_params_quantile():
    l2 = np.arange(nb201.NUM_ARCHS, dtype=float) * 2
    l2[::3] = np.nan
    params = -np.arange(nb201.NUM_ARCHS, dtype=float)
    table = ProxyTable({"mag": l2, "params": params})
    nosh = RankNOSH(nb201, 0, prior="mag", prior_table=table, ranker=None)
    known = np.isfinite(l2)
    assert np.isfinite(nosh.prior).all()
    assert (np.diff(nosh.prior[known]) > 0).all()  # the known values keep their order
    assert (np.diff(nosh.prior[~known]) < 0).all()  # the filled ones follow params
    assert "5209 of 15625" in nosh.notes[0] and "'params'" in nosh.notes[0]
    bare = RankNOSH(nb201, 0, prior="mag", prior_table=table, prior_fallback=None, ranker=None)
    assert np.isnan(bare.prior).sum() == (~known).sum() and not bare.notes


# ---- the evaluator and the ask/tell protocol -------------------------------------------------------------

def test_multifidelity_evaluator_charges_increments_and_observes(bench):
    ev = MultiFidelityEvaluator(bench, "cifar10")
    assert ev.fidelities == (12, 200)
    costs = [ev(Request(9930, i, e)).cost for i, e in enumerate((12, 200, 200, 12))]
    assert costs == [12.0, 188.0, 0.0, 0.0] and ev.total_epochs == 200
    r = ev(Request(7, 9, 200))
    assert r.test_acc == bench.value(7, "cifar10/acc/test/200ep")  # the 50k-trained test (notes §3)
    assert r.valid_acc == r.extra["valid_acc_mean"] == bench.value(7, "cifar10-valid/acc/valid/200ep")
    a = MultiFidelityEvaluator(bench, "cifar100", observe="random-seed", seed=1)
    b = MultiFidelityEvaluator(bench, "cifar100", observe="random-seed", seed=1)
    archs = list(range(40))
    ra = [a(Request(i, i, 200)) for i in archs]
    rb = [b(Request(i, i, 200)) for i in reversed(archs)][::-1]
    assert [x.valid_acc for x in ra] == [x.valid_acc for x in rb]  # independent of the query order
    seeds = bench.seeds("cifar100/acc/valid/200ep")
    assert all(x.valid_acc == seeds[i, x.extra["seed_slot"]] for i, x in zip(archs, ra))
    assert any(x.valid_acc != x.extra["valid_acc_mean"] for x in ra)
    low = a(Request(3, 99, 12))  # the 12-epoch table has no seeds: the mean
    assert low.valid_acc == bench.value(3, "cifar100/acc/valid/12ep") and low.extra["seed_slot"] is None
    with pytest.raises(ValueError, match=r"50 epochs.*\[12, 200\]"):
        ev(Request(1, 0, 50))
    with pytest.raises(ValueError, match="observe"):
        MultiFidelityEvaluator(bench, observe="best")
    nb101 = MultiFidelityEvaluator(tabular.load("nb101"))
    assert nb101.fidelities == (4, 12, 36, 108)


def test_ask_tell_protocol():
    sh = SuccessiveHalving(nb201, 0, schedule=(1, 2), n=4)
    batch = sh.ask()
    sh.tell(batch[0], Result(valid_acc=1.0))
    with pytest.raises(RuntimeError, match="tell the results"):
        sh.ask()
    with pytest.raises(ValueError, match="already told"):
        sh.tell(batch[0], Result(valid_acc=1.0))
    with pytest.raises(ValueError, match="not in the current batch"):
        sh.tell(Request(batch[0].arch, 999, 1), Result(valid_acc=1.0))
    with pytest.raises(TypeError, match="expected a nasfast Result"):
        sh.tell(batch[1], 0.5)
    for r in batch[1:]:
        sh.tell(r, Result(valid_acc=float(r.id)))
    [*second] = sh.ask()
    assert [r.arch for r in second] == [batch[3].arch, batch[2].arch]  # the top half by accuracy
    for r in second:
        sh.tell(r, Result(valid_acc=0.0))
    assert sh.ask() == [] and sh.done and sh.ask() == []


# ---- baselines -------------------------------------------------------------------------------------------

def test_successive_halving_rungs_and_budget_by_hand():
    assert sh_rungs(100, 0.5, 4) == [100, 50, 25, 12]
    sh = SuccessiveHalving(nb201, 0, schedule=(1, 2, 4), ratio=0.5, n=8)
    ev = ToyEvaluator()
    sizes = []
    while batch := sh.ask():
        sizes.append((len(batch), batch[0].epochs))
        for r in batch:
            sh.tell(r, ev(r))
    assert sizes == [(8, 1), (4, 2), (2, 4)]
    assert sh.epochs_used == ev.total == 8 * 1 + 4 * 1 + 2 * 2
    top = sorted((a for a, e, _ in ev.charges if e == 2), key=lambda a: -toy_acc(a.index, 2))[:2]
    assert {a for a, e, _ in ev.charges if e == 4} == set(top)


def test_hyperband_brackets_and_budget_by_hand():
    # Li et al. 2018 with eta = 3 on E = (1, 3, 9): s = 2: 9 -> 3 -> 1; s = 1: ceil(9/2) = 5 -> 1; s = 0: 3
    assert hyperband_brackets((1, 3, 9), 1 / 3) == [(9, 3, 1), (5, 1), (3,)]
    assert [rungs_cost(c, (1, 3, 9)[-len(c):]) for c in [(9, 3, 1), (5, 1), (3,)]] == [21, 21, 27]
    hb = Hyperband(nb201, 0, schedule=(1, 3, 9), ratio=1 / 3)
    ev = ToyEvaluator()
    run = run_multifidelity(hb, ev)
    assert run.epochs == ev.total == 69 and len(ev.trained) == 9 + 5 + 3  # fresh archs per bracket
    assert [n for n in _batch_sizes(Hyperband(nb201, 0, schedule=(1, 3, 9), ratio=1 / 3, max_epochs=100))] == \
        [9, 3, 1, 5, 1, 3, 9, 3, 1]  # 69 + 21 = 90 fits in 100, the next 21 does not
    assert hyperband_brackets((12, 200), 0.5) == [(2, 1), (2,)]


def _batch_sizes(strategy):
    ev = ToyEvaluator()
    while batch := strategy.ask():
        yield len(batch)
        for r in batch:
            strategy.tell(r, ev(r))


# ---- errors name the bad input ---------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    (dict(ratio=1.0), r"move ratio r must be in \(0, 1\), got 1.0"),
    (dict(ratio=0), r"move ratio r .* got 0"),
    (dict(ratio=float("nan")), r"move ratio r .* got nan"),
    (dict(schedule=(200, 12)), r"strictly increasing .*\(200, 12\)"),
    (dict(schedule=(12, 12)), r"strictly increasing .*\(12, 12\)"),
    (dict(schedule=()), r"non-empty .*\(\)"),
    (dict(schedule=(0, 12)), r"positive integer .*\(0, 12\)"),
    (dict(k=1), r"k must be an integer >= 2.*got 1"),
    (dict(k_init=1), r"k_init must be an integer >= 2.*got 1"),
    (dict(pool_size=20), r"pool_size M=20"),
    (dict(prior="nope"), r"unknown prior 'nope' for nb201"),
    (dict(level0_ratio=1.5), r"level0_ratio must be in \(0, 1\], got 1.5"),
    (dict(ranker="transformer"), r"ranker must be one of .*'transformer'"),
    (dict(rounding="floor"), r"rounding must be one of .*'floor'"),
    (dict(exploit_fraction=2), r"exploit_fraction .* got 2"),
    (dict(window="x"), r"window must be a number, got 'x'"),
    (dict(window=0.5), r"window must be >= 1 .* got 0.5"),
    (dict(window=math.inf), r"window must be >= 1 and finite .* got inf"),
    (dict(pool_size=math.nan), r"pool_size must be an integer >= 2, got nan"),
    (dict(proposal_sample=math.inf), r"proposal_sample must be a positive integer, got inf"),
    (dict(proposal_sample=5), r"proposal_sample .* got 5"),
    (dict(ranker_config=dict(epoch=3)), r"rank-nosh ranker_config: unknown config key\(s\) \['epoch'\]"),
    (dict(seed=-1), r"seed must be a non-negative integer, got -1"),
    (dict(seed=1.5), r"seed must be a non-negative integer, got 1.5"),
])
def test_errors_name_the_bad_input(kwargs, match):
    kwargs = {"seed": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        RankNOSH(nb201, **kwargs)


def test_baseline_and_nb101_errors():
    with pytest.raises(ValueError, match=r"move ratio r .* got 1.2"):
        SuccessiveHalving(nb201, 0, ratio=1.2)
    with pytest.raises(ValueError, match=r"n must be a positive integer, got 0"):
        SuccessiveHalving(nb201, 0, n=0)
    with pytest.raises(ValueError, match=r"max_epochs 10 is below its cheapest bracket \(21 epochs\)"):
        Hyperband(nb201, 0, schedule=(1, 3, 9), ratio=1 / 3, max_epochs=10)
    with pytest.raises(ValueError, match="scale must be a finite number > 0, got inf"):
        Hyperband(nb201, 0, scale=float("inf"))
    # a first rung larger than the candidates: refused up front, not a failed first ask / an empty search
    with pytest.raises(ValueError, match=r"successive halving n=20000 exceeds the 15625 candidates"):
        SuccessiveHalving(nb201, 0, n=20000)
    with pytest.raises(ValueError, match=r"n=5 exceeds the 4 candidates"):
        SuccessiveHalving(nb201, 0, candidates=range(4), n=5)
    with pytest.raises(ValueError, match=r"first bracket needs 20000 archs, more than the 15625 candidates"):
        Hyperband(nb201, 0, scale=10000)
    bench = tabular.load("nb201")
    for seed in (-1, 1.5, True, "3"):  # the strategies' seed rule, not int() coercion
        with pytest.raises(ValueError, match=f"seed must be a non-negative integer, got {seed!r}"):
            MultiFidelityEvaluator(bench, observe="random-seed", seed=seed)
    with pytest.raises(ValueError, match="dataset must be a name.*got None"):
        MultiFidelityEvaluator(bench, None)
    with pytest.raises(ValueError, match="not enumerated"):
        RankNOSH(NB101_SEARCH_SPACE, 0)
    cands = table_candidates(NB101_SEARCH_SPACE, tabular.load("nb101"))
    with pytest.raises(ValueError, match="no NB101 proxy table"):
        RankNOSH(NB101_SEARCH_SPACE, 0, cands, prior="mag")
    with pytest.raises(ValueError, match="no NB101 proxy table"):
        RankNOSH(NB101_SEARCH_SPACE, 0, cands, prior="synflow")
    with pytest.raises(ValueError, match="unknown prior 'accuracy' for nb101"):
        RankNOSH(NB101_SEARCH_SPACE, 0, cands, prior="accuracy")

"""ProxyBO and its baselines (bo, warmup-bo, proxy): formulas, forest, strategies, run directories."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from cli_runner import nasfast

from nasfast import tabular
from nasfast.evaluators import TabularEvaluator
from nasfast.search import (
    BayesianOptimization,
    ProxyBO,
    ProxyOrder,
    ProxyTable,
    Request,
    Result,
    SpaceExhausted,
    WarmupBO,
    build_strategy,
    get_space,
    read_history,
    run_search,
    search,
)
from nasfast.search.proxybo import PAPER_PROXIES, combined_rank, dataset_table, encode, influence, temperature
from nasfast.search.surrogate import RandomForest, average_ranks, expected_improvement, pair_concordance
from nasfast.spaces import nb201

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def bench():
    return tabular.load("nb201")


@pytest.fixture(scope="module")
def c10(bench):
    return TabularEvaluator(bench, "cifar10")


@pytest.fixture(scope="module")
def valid_acc(bench):
    return np.array([bench.value(i, "c10v_valid_acc") for i in range(nb201.NUM_ARCHS)])


def toy_evaluator(request: Request) -> Result:
    v = request.arch.op_indices.count(3) * 10.0 + request.arch.code / nb201.NUM_ARCHS
    return Result(valid_acc=v, test_acc=v - 1.0, cost=1.0)


# ---- formulas -----------------------------------------------------------------------------------------

def brute_force_G(scores, y):
    """The documented rule pair by pair: concordant 1, tied (in the scores or in y) 1/2; NaN worst."""
    s = [-math.inf if math.isnan(v) else v for v in scores]
    total = 0.0
    pairs = list(itertools.combinations(range(len(y)), 2))
    for j, k in pairs:
        ds, dy = np.sign(s[j] - s[k]) if s[j] != s[k] else 0.0, np.sign(y[j] - y[k])
        total += 0.5 if ds == 0 or dy == 0 else float(ds == dy)
    return total / len(pairs)


def test_G_equals_brute_force_pair_count():
    rng = np.random.default_rng(0)
    for n in (2, 3, 5, 9, 17):
        for _ in range(20):
            scores = rng.integers(0, 4, n).astype(float)  # many ties
            scores[rng.random(n) < 0.2] = np.nan
            y = rng.integers(0, 3, n).astype(float)
            assert pair_concordance(scores, y) == pytest.approx(brute_force_G(scores, y), abs=1e-12)


def test_G_is_the_papers_formula_when_nothing_ties():
    # proxybo-notes: F = sum_{j<k} 1[(P(x_j) < P(x_k)) XNOR (y_j < y_k)], G = 2F / (n (n - 1))
    rng = np.random.default_rng(1)
    for n in (5, 12):
        p, y = rng.permutation(n).astype(float), rng.permutation(n).astype(float)
        F = sum((p[j] < p[k]) == (y[j] < y[k]) for j, k in itertools.combinations(range(n), 2))
        assert pair_concordance(p, y) == pytest.approx(2 * F / (n * (n - 1)))
    assert pair_concordance(np.ones(6), np.arange(6.0)) == 0.5  # a constant proxy is a coin flip
    assert pair_concordance(-np.arange(6.0), np.arange(6.0)) == 0.0
    assert math.isnan(pair_concordance(np.ones(1), np.ones(1)))


def test_average_ranks_match_scipy_with_nan_last():
    from scipy.stats import rankdata

    rng = np.random.default_rng(2)
    for _ in range(20):
        s = rng.integers(0, 5, 15).astype(float)
        s[rng.random(15) < 0.2] = np.nan
        key = np.where(np.isnan(s), -np.inf, s)  # NaN worst, i.e. below every score
        np.testing.assert_array_equal(average_ranks(s), rankdata(-key, method="average"))


def test_temperature_and_influence_schedule():
    # tau = tau0 / (1 + log T), tau0 = 0.05 (proxybo-notes, Eq. 8)
    assert temperature(1) == 0.05
    assert temperature(6) == pytest.approx(0.05 / (1 + math.log(6)))
    assert temperature(200, tau0=0.1) == pytest.approx(0.1 / (1 + math.log(200)))
    w = influence([0.7, 0.6], T=6)
    z = np.exp(np.array([0.7, 0.6]) / temperature(6))
    np.testing.assert_allclose(w, z / z.sum())
    np.testing.assert_allclose(influence([0.5, 0.5, 0.5], T=10), [1 / 3] * 3)
    # the temperature falls with T, so the same G gap gives the better scorer more influence
    tops = [influence([0.62, 0.60], T)[0] for T in (1, 5, 20, 100, 200)]
    assert all(a < b for a, b in zip(tops, tops[1:]))
    assert influence([1.0, 0.0], T=200)[0] == pytest.approx(1.0)  # no overflow
    with pytest.raises(ValueError, match="counts from 1, got 0"):
        temperature(0)


def test_combined_rank_picks_the_hand_computed_candidate():
    # 4 candidates; surrogate ranks them 1..4, the proxy 4, 1, 2, 3 (proxybo-notes, Eq. 7)
    r_m, r_p = np.array([1.0, 2, 3, 4]), np.array([4.0, 1, 2, 3])
    # CR = 0.3 R_M + 0.7 R_P = [3.1, 1.3, 2.3, 3.3]: candidate 1
    np.testing.assert_allclose(combined_rank([0.3, 0.7], [r_m, r_p]), [3.1, 1.3, 2.3, 3.3])
    assert int(np.argmin(combined_rank([0.3, 0.7], [r_m, r_p]))) == 1
    # weights 0.8 / 0.2: [1.6, 2.0, 2.8, 3.8]: the surrogate's favourite
    assert int(np.argmin(combined_rank([0.8, 0.2], [r_m, r_p]))) == 0
    # from raw scores: EI ties on candidates 2 and 3 share rank 2.5; proxy NaN ranks last
    ei, proxy = np.array([0.1, 0.0, 0.3, 0.3]), np.array([np.nan, 5.0, 1.0, 2.0])
    np.testing.assert_array_equal(average_ranks(ei), [3, 4, 1.5, 1.5])
    np.testing.assert_array_equal(average_ranks(proxy), [4, 1, 3, 2])
    assert int(np.argmin(combined_rank([0.5, 0.5], [average_ranks(ei), average_ranks(proxy)]))) == 3
    with pytest.raises(ValueError, match="2 influence values for 1 rankings"):
        combined_rank([0.5, 0.5], [r_m])


def test_expected_improvement():
    from scipy.stats import norm

    mean, var = np.array([1.0, 2.0, 0.5, 3.0]), np.array([0.25, 1.0, 0.0, 4.0])
    ei = expected_improvement(mean, var, best=1.5)
    s = np.sqrt(var[[0, 1, 3]])
    z = (1.5 - mean[[0, 1, 3]]) / s
    np.testing.assert_allclose(ei[[0, 1, 3]], (1.5 - mean[[0, 1, 3]]) * norm.cdf(z) + s * norm.pdf(z), rtol=1e-12)
    assert ei[2] == 0.0  # zero variance: EI 0 even though the mean beats the incumbent
    assert (expected_improvement(np.array([50.0]), np.array([1e-4]), best=0.0) >= 0).all()


# ---- the forest -----------------------------------------------------------------------------------------

def reference_tree_predict(X, y, min_split=3, min_leaf=3):
    """Exhaustive recursive CART on 0/1 features (all features searched), predictions at X's rows."""
    out = np.empty(len(y))

    def build(rows):
        yn = y[rows]
        best = None
        if len(rows) >= min_split and yn.max() > yn.min():
            for f in range(X.shape[1]):
                lo, hi = rows[X[rows, f] == 0], rows[X[rows, f] == 1]
                if len(lo) < min_leaf or len(hi) < min_leaf:
                    continue
                sse = ((y[lo] - y[lo].mean()) ** 2).sum() + ((y[hi] - y[hi].mean()) ** 2).sum()
                if best is None or sse < best[0] - 1e-9:
                    best = (sse, lo, hi)
        if best is None:
            out[rows] = yn.mean()
        else:
            build(best[1])
            build(best[2])

    build(np.arange(len(y)))
    return out


def test_forest_tree_equals_exhaustive_cart():
    rng = np.random.default_rng(3)
    for n in (3, 7, 20, 60):
        X = (rng.random((n, 12)) < 0.4).astype(float)
        y = rng.standard_normal(n)
        one = RandomForest(n_trees=1, bootstrap=False, max_features=1.0, seed=int(n)).fit(X, y)
        mean, var = one.predict(X)
        np.testing.assert_allclose(mean, reference_tree_predict(X, y), atol=1e-12)
        assert (var == 0).all()


def test_forest_is_scikit_learns_random_forest():
    # RandomForest grows the trees itself (speed); it must be RandomForestRegressor's forest exactly
    from sklearn.ensemble import RandomForestRegressor

    rng = np.random.default_rng(8)
    for n, seed in ((5, 0), (37, 7), (150, 123456789)):
        X = encode([nb201.sample(rng) for _ in range(n)])
        y = rng.standard_normal(n)
        test = encode([nb201.sample(rng) for _ in range(64)])
        ref = RandomForestRegressor(n_estimators=10, min_samples_split=3, min_samples_leaf=3, max_features=5 / 6,
                                    bootstrap=True, random_state=seed, n_jobs=1).fit(X, y)
        per_tree = np.stack([t.predict(test) for t in ref.estimators_])
        mean, var = RandomForest(seed=seed).fit(X, y).predict(test)
        np.testing.assert_array_equal(mean, per_tree.mean(axis=0))
        np.testing.assert_array_equal(var, per_tree.var(axis=0))


def test_forest_is_seeded_and_spreads():
    rng = np.random.default_rng(4)
    X = encode([nb201.sample(rng) for _ in range(40)])
    y = X @ rng.standard_normal(30) + 0.1 * rng.standard_normal(40)
    a = RandomForest(seed=5).fit(X, y).predict(X)
    b = RandomForest(seed=5).fit(X, y).predict(X)
    c = RandomForest(seed=6).fit(X, y).predict(X)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    assert (a[1] > 0).any()  # bootstraps make the trees disagree
    assert np.corrcoef(a[0], y)[0, 1] > 0.8
    with pytest.raises(ValueError, match="features must be finite"):
        RandomForest().fit(np.where(X > 0, np.inf, X), y)
    with pytest.raises(ValueError, match="finite"):
        RandomForest().fit(X, np.where(np.arange(40) == 3, np.nan, y))


def test_forest_ei_is_zero_where_the_trees_agree():
    rng = np.random.default_rng(5)
    X = encode([nb201.sample(rng) for _ in range(12)])
    model = RandomForest(seed=0).fit(X, np.full(12, 0.1))  # every tree predicts 0.1 everywhere
    mean, var = model.predict(encode([nb201.sample(rng) for _ in range(30)]))
    assert np.allclose(mean, 0.1) and np.allclose(var, 0.0)
    assert (expected_improvement(mean, var, best=0.5) == 0.0).all()  # var ~1e-34 from rounding counts as 0


def test_encoding_is_one_hot_per_edge():
    arch = nb201.parse("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|nor_conv_1x1~0|avg_pool_3x3~1|none~2|")
    x = encode([arch])[0].reshape(6, 5)
    assert x.sum() == 6 and [int(np.argmax(r)) for r in x] == [3, 0, 1, 2, 4, 0]


# ---- proxy tables -------------------------------------------------------------------------------------

def test_proxy_table_sources(tmp_path):
    t = ProxyTable.bundled()
    assert set(t.names) == {"jacob_cov", "params"} and t.source == "bundled"
    assert np.isnan(t.column("jacob_cov")).sum() == 341  # cells without an input-output path
    path = tmp_path / "p.csv"
    path.write_text("index,arch,snip,synflow\n"
                    f"7,{nb201.from_index(7)},1.5,\n"
                    f"3,{nb201.from_index(3)},-2.0,4.0\n")
    u = ProxyTable.from_csv(path)
    assert u.names == ("snip", "synflow") and u.source == str(path.resolve())
    assert u.scores("snip", [nb201.from_index(i) for i in (3, 7, 8)]).tolist()[:2] == [-2.0, 1.5]
    assert np.isnan(u.column("snip")).sum() == nb201.NUM_ARCHS - 2 and np.isnan(u.column("synflow")[7])
    with pytest.raises(ValueError, match="proxy 'jacob_cov' is not in the proxy table .*'snip', 'synflow'"):
        u.require(["snip", "jacob_cov"])
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        ProxyTable({"x": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match="index 3 on more than one row"):
        ProxyTable.from_columns({"index": np.array([3, 3]), "snip": np.array([1.0, 2.0])})
    with pytest.raises(ValueError, match="NB201 index 15625, outside"):
        ProxyTable.from_columns({"index": np.array([15625]), "snip": np.array([1.0])})
    with pytest.raises(ValueError, match="no such file"):
        ProxyTable.from_csv(tmp_path / "absent.csv")


# ---- strategies ---------------------------------------------------------------------------------------

def test_errors_name_the_bad_input(tmp_path):
    with pytest.raises(ValueError, match="proxy 'snip' is not in the proxy table \\(bundled\\)"):
        ProxyBO(nb201, 0, proxies=["jacob_cov", "snip"])
    with pytest.raises(ValueError, match="none of the default proxies"):
        ProxyBO(nb201, 0, proxy_table=ProxyTable({"zen": np.zeros(nb201.NUM_ARCHS)}))
    with pytest.raises(ValueError, match="warmup-bo uses exactly one proxy, got \\['jacob_cov', 'params'\\]"):
        WarmupBO(nb201, 0, proxies="jacob_cov,params")
    with pytest.raises(ValueError, match="distinct names"):
        ProxyBO(nb201, 0, proxies=["jacob_cov", "jacob_cov"])
    with pytest.raises(ValueError, match="nb201 space only.*'nb101'"):
        ProxyBO(get_space("nb101"), 0)
    with pytest.raises(ValueError, match="num_candidates must be a positive integer, got 0"):
        BayesianOptimization(nb201, 0, num_candidates=0)
    with pytest.raises(ValueError, match="num_candidates must be a positive integer, got nan"):
        ProxyBO(nb201, 0, num_candidates=math.nan)
    # 2 or 3 would pass the random phase and fail at the first ranked step, its evaluations spent
    for n in (2, 3):
        with pytest.raises(ValueError, match=f"proxybo initial_random must be >= 4, got {n}: .* 2 folds of 2"):
            ProxyBO(nb201, 0, initial_random=n)
    with pytest.raises(ValueError, match="tau0 must be > 0, got -1"):
        ProxyBO(nb201, 0, tau0=-1)
    with pytest.raises(ValueError, match="local_fraction must be in"):
        ProxyBO(nb201, 0, local_fraction=1.5)
    cfg = ProxyBO(nb201, 0, proxy_table=ProxyTable({"jacob_cov": np.zeros(nb201.NUM_ARCHS)})).config()
    assert cfg["proxy_table"] == "in-memory"
    with pytest.raises(ValueError, match="in-memory proxy table, which a config cannot rebuild"):
        build_strategy(cfg)
    with pytest.raises(ValueError, match="has changed since the run started"):
        build_strategy({**ProxyBO(nb201, 0).config(), "proxy_fingerprint": "0" * 16})


def test_never_reproposes_and_exhausts_a_small_table():
    rng = np.random.default_rng(6)
    allowed = [nb201.from_index(int(i)) for i in rng.choice(nb201.NUM_ARCHS, 45, replace=False)]
    pb = ProxyBO(nb201, 0, candidates=allowed, num_candidates=16)
    archs = []
    for _ in range(45):
        if len(pb.observed) >= 5:
            pool = pb.candidate_pool()
            assert len(pool) == len(set(pool)) == min(16, 45 - len(pb.seen))
            assert not set(pool) & pb.seen and set(pool) <= set(allowed)
        [req] = pb.ask()
        archs.append(req.arch)
        pb.tell(req, toy_evaluator(req))
    assert set(archs) == set(allowed) and len(archs) == 45
    with pytest.raises(SpaceExhausted):
        pb.ask()


def test_local_candidates_are_neighbours_of_the_best(c10):
    pb = ProxyBO(nb201, 1)
    search(pb, c10, 20)
    best = sorted(zip(pb.observed_acc, range(20), pb.observed), key=lambda t: (-t[0], t[1]))[:5]
    neighbours = {a for a in nb201.all_archs() if a not in pb.seen
                  and any(sum(x != y for x, y in zip(a.ops, p.ops)) == 1 for _, _, p in best)}
    pool = pb.candidate_pool()
    assert len(pool) == len(set(pool)) == 200 and not set(pool) & pb.seen
    assert set(pool[:min(100, len(neighbours))]) <= neighbours  # half local (5 x 24 = 120 at most), then random


def test_diagnostics_hold_G_and_I_of_each_step(c10):
    pb = ProxyBO(nb201, 2, proxies=["jacob_cov", "params"], num_candidates=60)
    trace = search(pb, c10, 16)
    rows = pb.diagnostics()
    assert [r["step"] for r in rows] == list(range(1, 17))
    assert [r["phase"] for r in rows] == ["random"] * 5 + ["ranked"] * 11
    assert [r["arch"] for r in rows] == [o.arch for o in trace.observations]
    table = ProxyTable.bundled()
    for r in rows[5:]:
        T, n = r["step"], r["observations"]
        seen = [nb201.parse(o.arch) for o in trace.observations[:n]]
        acc = np.array([o.valid_acc for o in trace.observations[:n]])
        for p in ("jacob_cov", "params"):
            assert r[f"G_{p}"] == pytest.approx(pair_concordance(table.scores(p, seen), acc))
        G = [r["G_surrogate"], r["G_jacob_cov"], r["G_params"]]
        np.testing.assert_allclose([r["I_surrogate"], r["I_jacob_cov"], r["I_params"]], influence(G, T))
        assert r["cv_folds"] == min(5, n // 2) and r["tau"] == pytest.approx(temperature(T))


def test_a_perfect_proxy_finds_the_optimum_and_takes_the_influence(c10, valid_acc):
    noise = np.random.default_rng(0).standard_normal(nb201.NUM_ARCHS)
    table = ProxyTable({"oracle": valid_acc, "noise": noise})
    for seed in (0, 1):
        pb = ProxyBO(nb201, seed, proxies=["oracle", "noise"], proxy_table=table, num_candidates=100)
        trace = search(pb, c10, 25)
        # the best of the 15,625 archs (index 6111) within 25 evaluations; random search needs ~7,800
        assert trace.incumbent[1] == valid_acc.max()
        ranked = [r for r in pb.diagnostics() if r["phase"] == "ranked"]
        assert all(r["G_oracle"] >= max(r["G_surrogate"], r["G_noise"]) for r in ranked)
        # at the paper's tau0 a perfect proxy takes the influence from the first ranked step on
        # (from its prior share 1/3), and a useless one loses it (proxybo-notes, Fig. 2b: "helpless" proxies -> 0)
        assert all(r["I_oracle"] > 0.99 for r in ranked)
        assert ranked[0]["I_noise"] > ranked[-1]["I_noise"] and ranked[-1]["I_noise"] < 1e-6


def test_the_surrogate_takes_over_from_jacob_cov(c10):
    # proxybo-notes, Fig. 2b: the proxies lead early, the surrogate's influence rises past them later
    pb = ProxyBO(nb201, 0, num_candidates=100)
    search(pb, c10, 50)
    influence_m = [r["I_surrogate"] for r in pb.diagnostics() if r["phase"] == "ranked"]
    assert np.mean(influence_m[:10]) < 0.1 and np.mean(influence_m[-10:]) > 0.9


def _run(out, seed=3, budget=30, resume=False, bench=None):
    pb = ProxyBO(nb201, seed, num_candidates=60)
    return run_search(pb, TabularEvaluator(bench, "cifar10"), budget, out, resume=resume, progress=False)


def test_run_is_deterministic_and_resumes_identically(bench, tmp_path):
    full, again, cut, other = (tmp_path / n for n in ("full", "again", "cut", "other"))
    _run(full, bench=bench)
    assert {p.name for p in full.iterdir()} == {"config.json", "history.csv", "result.json", "trajectory.png",
                                                 "proxybo_weights.csv", "proxybo_weights.png", ".lock"}
    _run(again, bench=bench)
    assert (again / "history.csv").read_bytes() == (full / "history.csv").read_bytes()
    assert (again / "proxybo_weights.csv").read_bytes() == (full / "proxybo_weights.csv").read_bytes()
    _run(other, seed=4, budget=10, bench=bench)
    assert [r.arch for r in read_history(other / "history.csv")] != \
        [r.arch for r in read_history(full / "history.csv")][:10]
    _run(cut, bench=bench)
    lines = (cut / "history.csv").read_text().splitlines(keepends=True)
    (cut / "history.csv").write_text("".join(lines[:13]) + lines[13][:30])  # 12 rows and a torn one
    for name in ("result.json", "proxybo_weights.csv", "proxybo_weights.png"):
        (cut / name).unlink()
    res = _run(cut, resume=True, bench=bench)
    assert res["resumed_at_step"] == 12
    assert (cut / "history.csv").read_bytes() == (full / "history.csv").read_bytes()
    assert (cut / "proxybo_weights.csv").read_bytes() == (full / "proxybo_weights.csv").read_bytes()
    cfg = json.loads((full / "config.json").read_text())["strategy"]
    assert cfg["proxies"] == ["jacob_cov"] and cfg["proxy_table"] == "bundled" and cfg["num_candidates"] == 60
    assert build_strategy(cfg).config() == cfg


def test_baselines(c10, valid_acc):
    jc = ProxyTable.bundled().column("jacob_cov")
    top = np.lexsort((np.arange(nb201.NUM_ARCHS), np.where(np.isnan(jc), np.inf, -jc)))
    order = [o.arch for o in search(ProxyOrder(nb201, 0), c10, 8).observations]
    assert order == [str(nb201.from_index(int(i))) for i in top[:8]]
    # NaN (unknown) comes after every known score
    some = [int(i) for i in top[-3:]] + [int(i) for i in top[:2]]
    assert np.isnan(jc[top[-3:]]).all()
    tail = search(ProxyOrder(nb201, 0, candidates=some), c10, 5).observations
    assert [o.arch for o in tail] == [str(nb201.from_index(i)) for i in sorted(some[3:], key=lambda i: -jc[i])] + \
        [str(nb201.from_index(i)) for i in sorted(some[:3])]
    wb = search(WarmupBO(nb201, 0, warmup=4, num_candidates=50), c10, 12).observations
    assert [o.arch for o in wb[:4]] == order[:4]
    bo_a = search(BayesianOptimization(nb201, 7, num_candidates=50), c10, 12).observations
    bo_b = search(BayesianOptimization(nb201, 7, num_candidates=50), c10, 12).observations
    assert [o.arch for o in bo_a] == [o.arch for o in bo_b] and len({o.arch for o in bo_a}) == 12
    for strat in (WarmupBO(nb201, 0, proxies="params", warmup=3), ProxyOrder(nb201, 1, proxies=["params"]),
                  BayesianOptimization(nb201, 2, num_candidates=10, local_top=2)):
        assert build_strategy(json.loads(json.dumps(strat.config()))).config() == strat.config()


def test_the_smallest_initial_design_reaches_a_ranked_step(c10):
    pb = ProxyBO(nb201, 0, initial_random=4, num_candidates=20)
    search(pb, c10, 6)
    assert [r["phase"] for r in pb.diagnostics()] == ["random"] * 4 + ["ranked"] * 2
    assert pb.diagnostics()[4]["cv_folds"] == 2


def test_failed_evaluations_are_left_out_of_D():
    pb = ProxyBO(nb201, 0, num_candidates=20)
    for i in range(9):
        [req] = pb.ask()
        pb.tell(req, Result(valid_acc=math.nan) if i % 2 else toy_evaluator(req))
    assert len(pb.observed) == 5 and len(pb.seen) == 9
    assert [r["phase"] for r in pb.diagnostics()] == ["random"] * 9
    [req] = pb.ask()
    assert pb.diagnostics()[-1]["phase"] == "ranked" and req.arch not in set(pb.observed)


def test_cli_proxybo_and_proxy_table(tmp_path):
    run = tmp_path / "run"
    args = ["search", "--algo", "proxybo", "--candidates", "40", "--seed", "2", "--no-progress", "--out", str(run)]
    nasfast(*args, "--budget", "8")
    nasfast(*args, "--budget", "12", "--resume")
    assert len(read_history(run / "history.csv")) == 12
    assert (run / "proxybo_weights.csv").read_text().count("\n") == 13
    saved = json.loads((run / "config.json").read_text())["strategy"]
    assert saved["proxy_table"] == "nb201_cifar10"  # the default: the packaged table of --dataset's head
    assert saved["proxies"] == ["snip", "synflow", "jacob_cov"]
    p = nasfast(*args, "--budget", "12", "--resume", "--proxies", "params", check=False)
    assert p.returncode == 2 and "--proxies params disagrees" in p.stderr
    # the stored proxies, written with spaces as a shell user may: the same run
    nasfast(*args, "--budget", "13", "--resume", "--proxies", "snip, synflow, jacob_cov")
    assert len(read_history(run / "history.csv")) == 13
    p = nasfast("search", "--algo", "rea", "--proxies", "snip", "--out", str(tmp_path / "x"), check=False)
    assert p.returncode == 2 and "--proxies applies to --algo proxybo / warmup-bo / proxy only" in p.stderr
    table = tmp_path / "zc.csv"
    table.write_text("index,arch,snip\n" + "".join(f"{i},{nb201.from_index(i)},{-i}\n" for i in (5, 9, 2)))
    out = tmp_path / "proxy"
    nasfast("search", "--algo", "proxy", "--proxies", "snip", "--proxy-table", str(table), "--budget", "3",
            "--no-progress", "--out", str(out))
    assert [r.arch for r in read_history(out / "history.csv")] == [str(nb201.from_index(i)) for i in (2, 5, 9)]
    p = nasfast("search", "--algo", "proxy", "--proxy-table", str(table), "--out", str(tmp_path / "y"), check=False)
    assert p.returncode == 2 and "has none of the default proxies ['jacob_cov']; name some of ['snip']" in p.stderr


def test_packaged_tables_by_dataset_and_partial_columns_warn():
    assert dataset_table("cifar10-valid") == dataset_table("cifar10") == "nb201_cifar10"
    assert dataset_table("ImageNet16-120") == "nb201_ImageNet16-120"
    with pytest.raises(ValueError, match="no packaged proxy table for dataset 'svhn'"):
        dataset_table("svhn")
    with pytest.raises(ValueError, match="unknown packaged proxy table 'nb201_svhn'"):
        ProxyTable.packaged("nb201_svhn")
    table = ProxyTable.packaged("nb201_cifar100")
    assert set(PAPER_PROXIES) <= set(table.names) and table.source == "nb201_cifar100"
    half = np.where(np.arange(nb201.NUM_ARCHS) % 2 == 0, 1.0, np.nan)
    with pytest.warns(UserWarning, match="proxy 'p' is unknown \\(NaN\\) for 7,812 of 15,625 archs"):
        ProxyBO(nb201, 0, proxy_table=ProxyTable({"p": half}), proxies=["p"])

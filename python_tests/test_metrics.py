"""Tests of nasfast.metrics: scipy agreement, hand-computed cases, the S-KdT definition, errors, torch input.

Definitions: REFERENCES.md A1.7 (Kendall tau-b, N@K, P@K as aw_nas computes them) and A4.5 (sparse Kendall tau).
"""

from __future__ import annotations

import doctest
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from nasfast import metrics
from nasfast.data import data_path
from nasfast.metrics import (
    kendall_tau,
    n_at_k,
    precision_at_k,
    precision_at_ratio,
    sparse_kendall_tau,
    spearman,
)

TRUE5 = [0.90, 0.95, 0.80, 0.85, 0.99]  # true ranks (1 = best): idx 4 -> 1, 1 -> 2, 0 -> 3, 3 -> 4, 2 -> 5
PRED5 = [0.5, 0.1, 0.9, 0.3, 0.2]  # predicted order, best first: idx 2, 0, 3, 4, 1


def tau_b_by_pairs(x: list[float], y: list[float]) -> float:
    """Kendall tau-b counted pair by pair: (C - D) / sqrt((n0 - ties_x) (n0 - ties_y))."""
    n = len(x)
    c = d = tx = ty = 0
    for i in range(n):
        for j in range(i + 1, n):
            sx, sy = np.sign(x[j] - x[i]), np.sign(y[j] - y[i])
            tx, ty = tx + (sx == 0), ty + (sy == 0)
            c, d = c + (sx * sy > 0), d + (sx * sy < 0)
    n0 = n * (n - 1) // 2
    denom = math.sqrt((n0 - tx) * (n0 - ty))
    return float("nan") if denom == 0 else (c - d) / denom


def sparse_tau_by_definition(true: list[float], pred: list[float], bin: float) -> float:
    """A4.5 restated in plain Python for accuracies already in fractions."""
    bins = [math.floor(t * (1.0 / bin)) for t in true]
    dense = {v: r for r, v in enumerate(sorted(set(bins)))}
    ranks = [dense[v] for v in bins]
    order = sorted(range(len(pred)), key=lambda i: pred[i])  # Python's sort is stable
    return tau_b_by_pairs(sorted(ranks), [ranks[i] for i in order])


# ---- hand-computed cases ---------------------------------------------------------------------------

def test_docstring_examples_run():
    result = doctest.testmod(metrics, raise_on_error=False)
    assert result.attempted >= 6 and result.failed == 0


def test_kendall_hand():
    # pairs of [1,2,3,4] vs [1,3,2,4]: only (2,3) is discordant: C=5, D=1 -> (5-1)/6
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(2 / 3)
    # ties in true: pair (0,1) tied in true only; the other 5 concordant: 5 / sqrt((6-1)(6-0)) = 5/sqrt(30)
    assert kendall_tau([1, 1, 2, 3], [1, 2, 3, 4]) == pytest.approx(5 / math.sqrt(30))
    # reversed: C=0, D=6 -> -1
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(kendall_tau([1, 1, 1], [1, 2, 3]))  # constant side: undefined, as in scipy


def test_spearman_hand():
    # ranks d = [0, 1, 1, 0], sum d^2 = 2: rho = 1 - 6*2 / (4*(16-1)) = 0.8
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    # ties: true ranks [1.5, 1.5, 3], pred ranks [1, 2, 3]; Pearson of the ranks:
    # centred [-0.5, -0.5, 1] and [-1, 0, 1]: cov 1.5, norms sqrt(1.5) sqrt(2) -> 1.5 / sqrt(3) = sqrt(3)/2
    assert spearman([5, 5, 7], [1, 2, 3]) == pytest.approx(math.sqrt(3) / 2)
    assert math.isnan(spearman([1, 2, 3], [4, 4, 4]))


def test_n_at_k_hand():
    # predicted top K and the best true rank inside: K=1 {2}: 5; K=2 {2,0}: 3; K=3 +{3}: 3; K=4 +{4}: 1; K=5: 1
    assert [n_at_k(TRUE5, PRED5, k) for k in (1, 2, 3, 4, 5)] == [5, 3, 3, 1, 1]
    # ties in true share the "min" rank: true ranks [1, 1, 3]; pred top-1 idx 2 -> 3; top-2 adds idx 1 -> 1
    assert [n_at_k([0.9, 0.9, 0.8], [0.1, 0.5, 0.9], k) for k in (1, 2)] == [3, 1]
    # ties in pred at the boundary: input order, so top-1 of pred [0.5, 0.5, 0.1] is idx 0, true rank 2
    assert n_at_k([0.8, 0.9, 0.7], [0.5, 0.5, 0.1], 1) == 2


def test_precision_at_k_hand():
    # true top-K: {4}, {4,1}, {4,1,0}, {4,1,0,3}; pred top-K: {2}, {2,0}, {2,0,3}, {2,0,3,4}
    # intersections: 0, 0, {0}, {0,3,4} -> 0, 0, 1/3, 3/4; K=5 -> 1
    got = [precision_at_k(TRUE5, PRED5, k) for k in (1, 2, 3, 4, 5)]
    assert got == pytest.approx([0.0, 0.0, 1 / 3, 0.75, 1.0])
    # ratio form K = int(N * ratio): N=5, 0.5 -> K=2 -> 0; 0.8 -> 4 -> 0.75; 1.0 -> 5 -> 1
    assert precision_at_ratio(TRUE5, PRED5, 0.5) == 0.0
    assert precision_at_ratio(TRUE5, PRED5, 0.8) == 0.75
    assert precision_at_ratio(TRUE5, PRED5, 1.0) == 1.0
    # aw_nas's int(N * ratio) float rounding is kept: int(100 * 0.29) = 28, so perfect order still gives 1
    assert int(100 * 0.29) == 28 and precision_at_ratio(np.arange(100), np.arange(100), 0.29) == 1.0


def test_sparse_kendall_hand():
    true = [0.9111, 0.9114, 0.9125, 0.9205, 0.9001]
    pred = [0.3, 0.1, 0.5, 0.4, 0.2]
    # bins floor(1000 t) = 911, 911, 912, 920, 900 -> dense ranks b = [1, 1, 2, 3, 0]
    # ideal = sorted b = [0, 1, 1, 2, 3]; pred ascending: idx 1, 4, 0, 3, 2 -> b = [1, 0, 1, 3, 2]
    # pairs: D (0,1), (3,4); tie in ideal only (1,2); tie in by-pred only (0,2); the other 6 concordant
    # tau-b = (6 - 2) / sqrt((10 - 1)(10 - 1)) = 4/9; plain tau on the raw values: C=7, D=3 -> 0.4
    assert sparse_kendall_tau(true, pred) == pytest.approx(4 / 9)
    assert kendall_tau(true, pred) == pytest.approx(0.4)
    pct = [100 * t for t in true]  # percent: "auto" (1 < mean < 100) and "percent" both rescale to fractions
    assert sparse_kendall_tau(pct, pred) == pytest.approx(4 / 9)
    assert sparse_kendall_tau(pct, pred, units="percent") == pytest.approx(4 / 9)
    # eval-nas's predecessor left percent ground truth in percent: 1e-3 "points" merge nothing, plain tau back
    assert sparse_kendall_tau(pct, pred, units="fraction") == pytest.approx(0.4)
    # bin 1e-2: everything in bin 91 except 0.9205 (92) and 0.9001 (90) -> b = [1, 1, 1, 2, 0]
    # ideal [0, 1, 1, 1, 2], by-pred [1, 0, 1, 2, 1]: C (0,3), (1,4); D (0,1), (3,4); ties ideal (1,2), (1,3),
    # (2,3); ties by-pred (0,2), (0,4), (2,4) -> (2 - 2) / sqrt(7 * 7) = 0
    assert sparse_kendall_tau(true, pred, bin=1e-2) == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(sparse_kendall_tau(true, pred, bin=0.5))  # every arch in one bin
    # a constant predictor (an untrained super-net at 10 % everywhere) is nan, whatever the input order
    assert math.isnan(sparse_kendall_tau(true, [10.0] * 5)) and math.isnan(sparse_kendall_tau(sorted(true), [10.0] * 5))


# ---- agreement with scipy and with the definitions ---------------------------------------------------

@st.composite
def aligned_pairs(draw, elements):
    n = draw(st.integers(2, 40))
    return draw(st.lists(elements, min_size=n, max_size=n)), draw(st.lists(elements, min_size=n, max_size=n))


FLOATS = st.floats(-1e6, 1e6, allow_nan=False)
TIED = st.integers(0, 4)  # few distinct values: ties on both sides in most examples


@settings(max_examples=300, deadline=None)
@given(st.one_of(aligned_pairs(FLOATS), aligned_pairs(TIED)))
def test_kendall_and_spearman_match_scipy(xy):
    x, y = xy
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns on constant input; both sides give nan
        ref_tau = stats.kendalltau(x, y).statistic
        ref_rho = stats.spearmanr(x, y).statistic
    np.testing.assert_allclose(kendall_tau(x, y), ref_tau, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(spearman(x, y), ref_rho, rtol=1e-12, atol=1e-12)


@settings(max_examples=300, deadline=None)
@given(aligned_pairs(TIED))
def test_kendall_matches_pair_count(xy):
    x, y = xy
    np.testing.assert_allclose(kendall_tau(x, y), tau_b_by_pairs(x, y), rtol=1e-12, atol=1e-12)


@settings(max_examples=300, deadline=None)
@given(aligned_pairs(st.integers(0, 40)), st.sampled_from([1e-3, 2e-3, 5e-3]))
def test_sparse_matches_definition(xy, bin):
    steps, pred = xy
    true = [0.9 + 3e-4 * s for s in steps]  # 0.03 % apart: several archs per 0.1 % bin, exact ties too
    if len(set(pred)) == 1:  # a constant predictor ranks nothing (the definition would score the input order)
        assert math.isnan(sparse_kendall_tau(true, pred, bin=bin))
        return
    np.testing.assert_allclose(
        sparse_kendall_tau(true, pred, bin=bin), sparse_tau_by_definition(true, pred, bin), rtol=1e-12, atol=1e-12
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 999), min_size=2, max_size=40, unique=True), st.randoms(use_true_random=False))
def test_sparse_is_plain_tau_when_bins_are_distinct(bins, rnd):
    true = [(b + 0.5) * 1e-3 for b in bins]  # bin centres: one arch per bin
    pred = rnd.sample(range(1000), len(true))  # no ties in pred
    assert sparse_kendall_tau(true, pred) == pytest.approx(kendall_tau(true, pred), abs=1e-12)
    assert sparse_kendall_tau(true, true) == pytest.approx(1.0)


@settings(max_examples=200, deadline=None)
@given(aligned_pairs(st.integers(0, 30)), st.data())
def test_top_k_metrics_by_brute_force(xy, data):
    true, pred = np.array(xy[0], float), np.array(xy[1], float)
    n = true.size
    k = data.draw(st.integers(1, n))
    top_pred = sorted(range(n), key=lambda i: -pred[i])[:k]  # stable: earlier index first among ties
    top_true = sorted(range(n), key=lambda i: -true[i])[:k]
    best = max(true[i] for i in top_pred)
    assert n_at_k(true, pred, k) == 1 + sum(t > best for t in true)
    assert precision_at_k(true, pred, k) == pytest.approx(len(set(top_pred) & set(top_true)) / k)
    assert n_at_k(true, pred, n) == 1 and precision_at_k(true, pred, n) == 1.0
    assert n_at_k(true, true, k) == 1


def test_bundled_supernet_anchor():
    # nasfast/data/PROVENANCE.md (nb201_supernet_oneshot_fewshot.npz): tau vs ground truth 0.485 one-shot, 0.551 few-shot
    d = np.load(data_path("nb201", "nb201_supernet_oneshot_fewshot.npz"))
    gt = d["gt_c10_test_acc_2dp"]
    assert kendall_tau(gt, d["oneshot_supernet_acc"]) == pytest.approx(0.485, abs=5e-4)
    assert kendall_tau(gt, d["fewshot_supernet_acc"]) == pytest.approx(0.551, abs=5e-4)


# ---- errors and input types ---------------------------------------------------------------------------

PAIRWISE = [kendall_tau, spearman, sparse_kendall_tau, lambda t, p: n_at_k(t, p, 1), lambda t, p: precision_at_k(t, p, 1)]


@pytest.mark.parametrize("fn", PAIRWISE)
@pytest.mark.parametrize(
    ("true", "pred", "match"),
    [
        ([0.1, 0.2, 0.3], [1, 2], "true has 3 items but pred has 2"),
        ([[0.1, 0.2], [0.3, 0.4]], [[1, 2], [3, 4]], r"true must be 1-D, got shape \(2, 2\)"),
        ([0.1, float("nan"), 0.3], [1, 2, 3], "true contains 1 NaN/inf.*at index 1"),
        ([0.1, 0.2, 0.3], [1, 2, float("inf")], "pred contains 1 NaN/inf.*inf at index 2"),
        (["a", "b"], [1, 2], "true must be a 1-D sequence of numbers"),
        ([], [], "true has 0 item"),
    ],
)
def test_bad_inputs_name_the_problem(fn, true, pred, match):
    with pytest.raises(ValueError, match=match):
        fn(true, pred)


def test_bad_parameters_name_the_problem():
    with pytest.raises(ValueError, match="true has 1 item"):
        kendall_tau([0.5], [0.5])
    for k in (0, 6):
        with pytest.raises(ValueError, match=f"k={k} is outside 1..N=5"):
            n_at_k(TRUE5, PRED5, k)
        with pytest.raises(ValueError, match=f"k={k} is outside"):
            precision_at_k(TRUE5, PRED5, k)
    with pytest.raises(TypeError, match="k must be an integer, got float: 2.5"):
        n_at_k(TRUE5, PRED5, 2.5)
    with pytest.raises(ValueError, match="ratio=0.1 of N=5 gives K"):
        precision_at_ratio(TRUE5, PRED5, 0.1)
    with pytest.raises(ValueError, match=r"ratio must be in \(0, 1\], got 1.5"):
        precision_at_ratio(TRUE5, PRED5, 1.5)
    with pytest.raises(ValueError, match=r"bin must be in \(0, 1\).*got 1.0"):
        sparse_kendall_tau(TRUE5, PRED5, bin=1.0)
    with pytest.raises(ValueError, match="units must be .*got 'pct'"):
        sparse_kendall_tau(TRUE5, PRED5, units="pct")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_torch_tensors(dtype):
    true = torch.tensor(TRUE5, dtype=torch.float64)
    pred = torch.tensor(PRED5, dtype=dtype, requires_grad=dtype.is_floating_point)
    assert kendall_tau(true, pred) == pytest.approx(kendall_tau(TRUE5, PRED5))
    assert spearman(true, pred) == pytest.approx(spearman(TRUE5, PRED5))
    assert n_at_k(true, pred, 2) == 3 and precision_at_k(true, pred, 4) == 0.75
    assert sparse_kendall_tau(true, pred) == pytest.approx(sparse_kendall_tau(TRUE5, PRED5))
    if torch.cuda.is_available():
        assert kendall_tau(true.cuda(), pred.cuda()) == pytest.approx(kendall_tau(TRUE5, PRED5))

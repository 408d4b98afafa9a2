"""pairwise_ranking_loss ops: agreement with float64 PyTorch references, gradients, opcheck,
errors, NaN behaviour, CPU vs CUDA."""

from __future__ import annotations

import math

import pytest
import torch
from reference_pairwise_ranking_loss import (
    all_pairs_as_given_pairs,
    all_pairs_reference,
    given_pairs_reference,
)

from nasfast.ops.pairwise_ranking_loss import all_pairs_ranking_loss, pairwise_ranking_loss

KINDS = ["hinge", "logistic"]


def random_pairs(n: int, P: int, dtype=torch.float64, generator=None):
    g = generator
    scores = torch.randn(n, dtype=dtype, generator=g)
    pairs = torch.randint(0, n, (P, 2), generator=g)
    labels = torch.where(torch.rand(P, generator=g) < 0.5, 1.0, -1.0).to(dtype)
    return scores, pairs, labels


def random_batch(n: int, dtype=torch.float64, generator=None, ties: bool = False):
    scores = torch.randn(n, dtype=dtype, generator=generator)
    targets = torch.rand(n, dtype=dtype, generator=generator)
    if ties:  # accuracies on a coarse grid, as in tabular benchmarks
        targets = (targets * 10).round() / 10
    return scores, targets


# ---- given pairs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n, P", [(2, 1), (10, 37), (512, 2048), (1000, 10000)])
@pytest.mark.parametrize("margin", [0.1, 1.0])
def test_given_pairs_match_reference(kind, n, P, margin):
    scores, pairs, labels = random_pairs(n, P)
    torch.testing.assert_close(pairwise_ranking_loss(scores, pairs, labels, kind, margin),
                               given_pairs_reference(scores, pairs, labels, kind, margin), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind", KINDS)
def test_given_pairs_float32(kind):
    scores, pairs, labels = random_pairs(300, 5000)
    out = pairwise_ranking_loss(scores.float(), pairs, labels.float(), kind)
    assert out.dtype == torch.float32 and out.shape == ()
    torch.testing.assert_close(out.double(), given_pairs_reference(scores, pairs, labels, kind), rtol=1e-6, atol=1e-6)


def test_logistic_equals_bce_on_score_differences_and_is_stable():
    scores, pairs, labels = random_pairs(50, 200)
    scores = scores * 1000  # |gap| up to thousands: exp would overflow if computed naively
    diff = scores[pairs[:, 1]] - scores[pairs[:, 0]]
    bce = torch.nn.functional.binary_cross_entropy_with_logits(diff, (labels > 0).to(diff.dtype))
    out = pairwise_ranking_loss(scores, pairs, labels, "logistic")
    assert torch.isfinite(out)
    torch.testing.assert_close(out, bce)


def test_empty_pairs_give_zero_loss_and_zero_gradient():
    scores = torch.randn(5, dtype=torch.float64, requires_grad=True)
    loss = pairwise_ranking_loss(scores, torch.zeros(0, 2, dtype=torch.int64), torch.zeros(0, dtype=torch.float64))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(scores.grad, torch.zeros(5, dtype=torch.float64))


@pytest.mark.parametrize("kind", KINDS)
def test_given_pairs_gradcheck(kind):
    scores, pairs, labels = random_pairs(8, 20)
    scores.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda s: pairwise_ranking_loss(s, pairs, labels, kind, 0.3), (scores,))


@pytest.mark.parametrize("kind", KINDS)
def test_given_pairs_gradient_matches_reference_with_repeated_indices(kind):
    scores, pairs, labels = random_pairs(30, 3000)  # every score is in ~200 pairs
    s1, s2 = scores.clone().requires_grad_(), scores.clone().requires_grad_()
    (g1,) = torch.autograd.grad(pairwise_ranking_loss(s1, pairs, labels, kind) * 3.0, s1)
    (g2,) = torch.autograd.grad(given_pairs_reference(s2, pairs, labels, kind) * 3.0, s2)
    torch.testing.assert_close(g1, g2, rtol=1e-12, atol=1e-14)


# ---- all pairs -----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [1, 2, 7, 64, 300])
@pytest.mark.parametrize("tie_threshold, ties", [(0.0, False), (0.0, True), (0.15, True), (0.3, False)])
def test_all_pairs_match_dense_reference(kind, n, tie_threshold, ties):
    scores, targets = random_batch(n, ties=ties)
    torch.testing.assert_close(all_pairs_ranking_loss(scores, targets, kind, 0.1, tie_threshold),
                               all_pairs_reference(scores, targets, kind, 0.1, tie_threshold), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind", KINDS)
def test_all_pairs_equals_given_pairs_mode_and_counts_pairs(kind):
    scores, targets = random_batch(200, ties=True)
    pairs, labels = all_pairs_as_given_pairs(targets, 0.05)
    loss, num_pairs = torch.ops.nasfast.all_pairs_ranking_loss(scores, targets, kind, 0.1, 0.05)
    assert num_pairs.dtype == torch.int64 and num_pairs.item() == len(pairs)
    torch.testing.assert_close(loss, pairwise_ranking_loss(scores, pairs, labels, kind), rtol=1e-12, atol=1e-14)


def test_all_pairs_with_no_valid_pair_is_zero():
    scores = torch.randn(6, dtype=torch.float64, requires_grad=True)
    loss = all_pairs_ranking_loss(scores, torch.full((6,), 0.5, dtype=torch.float64))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(scores.grad, torch.zeros(6, dtype=torch.float64))
    assert all_pairs_ranking_loss(torch.zeros(0), torch.zeros(0)).item() == 0.0


@pytest.mark.parametrize("kind", KINDS)
def test_all_pairs_float32(kind):
    scores, targets = random_batch(1000)
    out = all_pairs_ranking_loss(scores.float(), targets.float(), kind)
    # float32 inputs: the targets' rounding can flip the orientation of near-tied pairs.
    ref = all_pairs_reference(scores.float().double(), targets.float().double(), kind)
    torch.testing.assert_close(out.double(), ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("tie_threshold", [0.0, 0.2])
def test_all_pairs_gradcheck(kind, tie_threshold):
    scores, targets = random_batch(9, ties=True)
    scores.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda s: all_pairs_ranking_loss(s, targets, kind, 0.3, tie_threshold), (scores,))


@pytest.mark.parametrize("kind", KINDS)
def test_all_pairs_gradient_matches_dense_reference(kind):
    scores, targets = random_batch(257, ties=True)
    s1, s2 = scores.clone().requires_grad_(), scores.clone().requires_grad_()
    (g1,) = torch.autograd.grad(all_pairs_ranking_loss(s1, targets, kind, 0.1, 0.05) * 2.5, s1)
    (g2,) = torch.autograd.grad(all_pairs_reference(s2, targets, kind, 0.1, 0.05) * 2.5, s2)
    torch.testing.assert_close(g1, g2, rtol=1e-12, atol=1e-14)


def test_all_pairs_is_deterministic_across_thread_counts():
    scores, targets = random_batch(3000, dtype=torch.float32)
    threads = torch.get_num_threads()
    try:
        outs = []
        for t in (1, 2, 3):
            torch.set_num_threads(t)
            s = scores.clone().requires_grad_()
            loss = all_pairs_ranking_loss(s, targets, "logistic")
            loss.backward()
            outs.append((loss.detach(), s.grad))
    finally:
        torch.set_num_threads(threads)
    for loss, grad in outs[1:]:
        assert torch.equal(loss, outs[0][0]) and torch.equal(grad, outs[0][1])


# ---- NaN -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_nan_score_gives_nan_loss_and_nan_gradient_where_paired(kind):
    scores, pairs, labels = random_pairs(10, 30)
    scores[3] = math.nan
    scores.requires_grad_(True)
    loss = pairwise_ranking_loss(scores, pairs, labels, kind)
    assert torch.isnan(loss)
    loss.backward()
    touched = torch.zeros(10, dtype=torch.bool)
    in_nan_pair = (pairs == 3).any(1)
    touched[pairs[in_nan_pair].flatten()] = True
    # Scores paired with the NaN one get a NaN gradient. (The mean's 1/P does not spread it.)
    assert torch.isnan(scores.grad[touched]).all()
    assert not torch.isnan(scores.grad[~touched]).any()
    assert torch.isnan(all_pairs_ranking_loss(scores.detach(), torch.rand(10, dtype=torch.float64), kind))


def test_nan_target_forms_no_pair():
    scores, targets = random_batch(20)
    targets_nan = targets.clone()
    targets_nan[5] = math.nan
    keep = torch.arange(20) != 5
    torch.testing.assert_close(all_pairs_ranking_loss(scores, targets_nan), all_pairs_ranking_loss(scores[keep], targets[keep]))


# ---- opcheck -------------------------------------------------------------------------------------

def _given_samples(device="cpu"):
    out = []
    for dtype in (torch.float32, torch.float64):
        for kind in KINDS:
            for requires_grad in (False, True):
                scores, pairs, labels = random_pairs(20, 64, dtype=dtype)
                out.append((scores.to(device).requires_grad_(requires_grad), pairs.to(device), labels.to(device), kind, 0.1))
    return out


def _all_pairs_samples(device="cpu"):
    out = []
    for dtype in (torch.float32, torch.float64):
        for kind in KINDS:
            for requires_grad in (False, True):
                scores, targets = random_batch(40, dtype=dtype, ties=True)
                out.append((scores.to(device).requires_grad_(requires_grad), targets.to(device), kind, 0.1, 0.05))
    return out


def test_opcheck_given_pairs():
    for args in _given_samples():
        torch.library.opcheck(torch.ops.nasfast.pairwise_ranking_loss.default, args)


def test_opcheck_all_pairs():
    for args in _all_pairs_samples():
        torch.library.opcheck(torch.ops.nasfast.all_pairs_ranking_loss.default, args)


def test_opcheck_backward_ops():
    scores, pairs, labels = random_pairs(20, 64)
    grad = torch.tensor(1.5, dtype=torch.float64)
    torch.library.opcheck(torch.ops.nasfast.pairwise_ranking_loss_backward.default, (grad, scores, pairs, labels, "hinge", 0.1))
    scores, targets = random_batch(30)
    _, num_pairs = torch.ops.nasfast.all_pairs_ranking_loss(scores, targets, "logistic", 0.1, 0.0)
    torch.library.opcheck(torch.ops.nasfast.all_pairs_ranking_loss_backward.default,
                          (grad, scores, targets, num_pairs, "logistic", 0.1, 0.0))


# ---- errors --------------------------------------------------------------------------------------

def _pairs_with(i, value):
    args = list(random_pairs(5, 4, dtype=torch.float32))
    args[i] = value
    return args


@pytest.mark.parametrize(
    "args, message",
    [
        (_pairs_with(0, torch.zeros(5, dtype=torch.int64)), "scores must have dtype float32 or float64"),
        (_pairs_with(0, torch.zeros(5, 1)), "scores must have 1 dimensions"),
        (_pairs_with(1, torch.zeros(4, 3, dtype=torch.int64)), "pairs must be (P, 2)"),
        (_pairs_with(1, torch.zeros(4, 2, dtype=torch.int32)), "pairs must have dtype"),
        (_pairs_with(2, torch.ones(4, dtype=torch.float64)), "labels must have the dtype of scores"),
        (_pairs_with(2, torch.ones(3)), "labels must be (P,) with P = 4"),
    ],
)
def test_given_pairs_bad_inputs_raise_naming_the_problem(args, message):
    with pytest.raises(RuntimeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        pairwise_ranking_loss(*args)


def test_unknown_kind_raises():
    scores, pairs, labels = random_pairs(5, 4)
    with pytest.raises(RuntimeError, match="kind must be 'hinge' or 'logistic', got 'ranknet'"):
        pairwise_ranking_loss(scores, pairs, labels, "ranknet")
    with pytest.raises(RuntimeError, match="kind must be 'hinge' or 'logistic', got 'l2'"):
        all_pairs_ranking_loss(scores, torch.rand(5, dtype=torch.float64), "l2")


@pytest.mark.parametrize("bad", [5, -1])
def test_pair_index_out_of_range_raises(bad):
    scores, pairs, labels = random_pairs(5, 4)
    pairs[2, 1] = bad
    with pytest.raises(RuntimeError, match=rf"pairs\[2\] = \({pairs[2, 0].item()}, {bad}\) is out of range for 5 scores"):
        pairwise_ranking_loss(scores, pairs, labels)
    with pytest.raises(RuntimeError, match="out of range"):
        torch.ops.nasfast.pairwise_ranking_loss_backward(torch.tensor(1.0, dtype=torch.float64), scores, pairs, labels, "hinge", 0.1)


@pytest.mark.parametrize(
    "targets, tie_threshold, message",
    [
        (torch.rand(5, dtype=torch.float32), 0.0, "targets must have the dtype of scores"),
        (torch.rand(6, dtype=torch.float64), 0.0, "targets must have the shape of scores"),
        (torch.rand(5, dtype=torch.float64), -0.1, "tie_threshold must be >= 0, got -0.1"),
    ],
)
def test_all_pairs_bad_inputs_raise_naming_the_problem(targets, tie_threshold, message):
    with pytest.raises(RuntimeError, match=message):
        all_pairs_ranking_loss(torch.randn(5, dtype=torch.float64), targets, tie_threshold=tie_threshold)


# ---- CUDA ----------------------------------------------------------------------------------------

@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kind", KINDS)
def test_cuda_matches_cpu(dtype, kind):
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == torch.float32 else {}
    for n, P in [(1, 0), (10, 30), (4096, 16384), (100, 300000)]:
        scores, pairs, labels = random_pairs(n, P, dtype=dtype)
        s_cpu, s_cuda = scores.clone().requires_grad_(), scores.cuda().requires_grad_()
        l_cpu = pairwise_ranking_loss(s_cpu, pairs, labels, kind)
        l_cuda = pairwise_ranking_loss(s_cuda, pairs.cuda(), labels.cuda(), kind)
        torch.testing.assert_close(l_cuda.cpu(), l_cpu, **tol)
        (l_cpu * 2).backward()
        (l_cuda * 2).backward()
        torch.testing.assert_close(s_cuda.grad.cpu(), s_cpu.grad, **tol)
    for n in (0, 1, 7, 1000, 5000):
        scores, targets = random_batch(n, dtype=dtype, ties=True)
        s_cpu, s_cuda = scores.clone().requires_grad_(), scores.cuda().requires_grad_()
        l_cpu = all_pairs_ranking_loss(s_cpu, targets, kind, 0.1, 0.05)
        l_cuda = all_pairs_ranking_loss(s_cuda, targets.cuda(), kind, 0.1, 0.05)
        torch.testing.assert_close(l_cuda.cpu(), l_cpu, **tol)
        l_cpu.backward()
        l_cuda.backward()
        torch.testing.assert_close(s_cuda.grad.cpu(), s_cpu.grad, **tol)
        # Fixed-order reductions: bit-identical on a rerun.
        assert torch.equal(all_pairs_ranking_loss(s_cuda.detach(), targets.cuda(), kind, 0.1, 0.05), l_cuda.detach())
    scores, pairs, labels = random_pairs(5, 4, dtype=dtype)
    pairs[1, 0] = 9
    with pytest.raises(RuntimeError, match="out of range"):
        pairwise_ranking_loss(scores.cuda(), pairs.cuda(), labels.cuda(), kind)
    with pytest.raises(RuntimeError, match="out of range"):  # the backward op checks too
        torch.ops.nasfast.pairwise_ranking_loss_backward(torch.tensor(1.0, dtype=dtype, device="cuda"), scores.cuda(),
                                                         pairs.cuda(), labels.cuda(), kind, 0.1)
    # the tie threshold is compared in float64 on both devices: float32 0.2 - 0.1 is not above 0.1 there
    t = torch.tensor([0.1, 0.2], dtype=dtype)
    s = torch.tensor([0.0, 1.0], dtype=dtype)
    assert torch.equal(torch.ops.nasfast.all_pairs_ranking_loss(s.cuda(), t.cuda(), kind, 0.1, 0.1)[1].cpu(),
                       torch.ops.nasfast.all_pairs_ranking_loss(s, t, kind, 0.1, 0.1)[1])
    for args in _given_samples("cuda"):
        torch.library.opcheck(torch.ops.nasfast.pairwise_ranking_loss.default, args)
    for args in _all_pairs_samples("cuda"):
        torch.library.opcheck(torch.ops.nasfast.all_pairs_ranking_loss.default, args)
    scores, pairs, labels = (t.cuda() for t in random_pairs(20, 64, dtype=dtype))
    grad = torch.tensor(1.5, dtype=dtype, device="cuda")
    torch.library.opcheck(torch.ops.nasfast.pairwise_ranking_loss_backward.default, (grad, scores, pairs, labels, kind, 0.1))
    scores, targets = (t.cuda() for t in random_batch(30, dtype=dtype))
    _, num_pairs = torch.ops.nasfast.all_pairs_ranking_loss(scores, targets, kind, 0.1, 0.0)
    torch.library.opcheck(torch.ops.nasfast.all_pairs_ranking_loss_backward.default,
                          (grad, scores, targets, num_pairs, kind, 0.1, 0.0))

"""gather_dropout ops: agreement with float64 references (the mask recomputed in numpy from its
definition), the mask's statistics, gradients, opcheck, determinism, errors, CPU vs CUDA."""

from __future__ import annotations

import pytest
import torch
from reference_gather_dropout import gather_dropout_dot_reference, gather_dropout_reference, keep_mask

from nasfast.ops.gather_dropout import draw_seed, gather_dropout, gather_dropout_dot

PS = [0.0, 0.1, 0.5, 1.0]
SEED = 0x5EED_1234_ABCD_0001  # > 2^32, and one negative below: the schema's int is int64


def random_inputs(n, d, U, dtype=torch.float64, generator=None):
    x = torch.randn(n, d, dtype=dtype, generator=generator)
    index = torch.randint(0, n, (U,), generator=generator)
    w = torch.randn(d, dtype=dtype, generator=generator)
    return x, index, w


@pytest.mark.parametrize("p", PS)
@pytest.mark.parametrize("n, d, U", [(1, 1, 1), (7, 33, 50), (512, 200, 4096), (3, 5, 0), (4, 0, 6)])
def test_forward_matches_reference(p, n, d, U):
    x, index, w = random_inputs(n, d, U)
    for seed in (SEED, -SEED, 0):
        torch.testing.assert_close(gather_dropout(x, index, p, seed), gather_dropout_reference(x, index, p, seed))
        torch.testing.assert_close(gather_dropout_dot(x, index, w, p, seed),
                                   gather_dropout_dot_reference(x, index, w, p, seed))


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_float32_matches_float64_reference(p):
    x, index, w = random_inputs(300, 200, 2000, dtype=torch.float32)
    ref = gather_dropout_reference(x.double(), index, p, SEED)
    torch.testing.assert_close(gather_dropout(x, index, p, SEED), ref.float())
    torch.testing.assert_close(gather_dropout_dot(x, index, w, p, SEED), (ref @ w.double()).float(),
                               rtol=1e-5, atol=1e-5)


def test_p0_is_a_plain_gather_and_p1_gives_zeros():
    x, index, w = random_inputs(10, 20, 30)
    assert torch.equal(gather_dropout(x, index, 0.0, 1), x[index])
    assert torch.equal(gather_dropout(x, index, 1.0, 1), torch.zeros(30, 20, dtype=torch.float64))
    assert torch.equal(gather_dropout_dot(x, index, w, 1.0, 1), torch.zeros(30, dtype=torch.float64))


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_mask_statistics(p):
    """Each element is kept with probability 1 - p, the same in every row and column, and
    neighbouring elements are uncorrelated: overall rates within 5 binomial standard errors, the
    largest of the 4,096 row / 256 column rates within 9 (the maximum of many is wider)."""
    U, d = 4096, 256
    m = keep_mask(U, d, p, SEED)
    op = (gather_dropout(torch.ones(1, d, dtype=torch.float64), torch.zeros(U, dtype=torch.long), p, SEED) != 0).double()
    assert torch.equal(op, m)
    q = 1 - p
    se = (q * p / m.numel()) ** 0.5
    assert abs(m.mean().item() - q) < 5 * se
    col, row = m.mean(0), m.mean(1)  # per-column / per-row keep rates
    assert (col - q).abs().max() < 9 * (q * p / U) ** 0.5
    assert (row - q).abs().max() < 9 * (q * p / d) ** 0.5
    for a, b in ((m[:, 1:], m[:, :-1]), (m[1:], m[:-1])):  # neighbours within a row, across rows
        both = (a * b).mean().item()
        assert abs(both - q * q) < 5 * (q * q * (1 - q * q) / a.numel()) ** 0.5


def test_seeds_draw_different_masks_and_the_default_seed_follows_torch_manual_seed():
    x, index, _ = random_inputs(5, 64, 64)
    assert not torch.equal(gather_dropout(x, index, 0.5, 1), gather_dropout(x, index, 0.5, 2))
    torch.manual_seed(3)
    a = gather_dropout(x, index, 0.5)
    b = gather_dropout(x, index, 0.5)
    torch.manual_seed(3)
    assert torch.equal(gather_dropout(x, index, 0.5), a) and not torch.equal(a, b)
    torch.manual_seed(3)
    seed = draw_seed()
    assert torch.equal(gather_dropout(x, index, 0.5, seed), a)
    for bad in (2**63, -(2**63) - 1, 1.5, True):  # an int64 seed, or a message that says so
        with pytest.raises(ValueError, match="seed must be an integer that fits in int64"):
            gather_dropout(x, index, 0.5, bad)


def test_dot_equals_gather_dropout_then_dot_for_one_seed():
    x, index, w = random_inputs(50, 70, 300)
    torch.testing.assert_close(gather_dropout_dot(x, index, w, 0.3, 9), gather_dropout(x, index, 0.3, 9) @ w)


@pytest.mark.parametrize("p", [0.0, 0.3])
def test_gradients_match_reference_with_repeated_indices(p):
    x, index, w = random_inputs(6, 40, 100)  # ~17 uses per row
    g = torch.randn(100, 40, dtype=torch.float64)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    gather_dropout(xa, index, p, SEED).backward(g)
    gather_dropout_reference(xb, index, p, SEED).backward(g)
    torch.testing.assert_close(xa.grad, xb.grad)
    gy = torch.randn(100, dtype=torch.float64)
    (xa, wa), (xb, wb) = [(x.clone().requires_grad_(), w.clone().requires_grad_()) for _ in range(2)]
    gather_dropout_dot(xa, index, wa, p, SEED).backward(gy)
    gather_dropout_dot_reference(xb, index, wb, p, SEED).backward(gy)
    torch.testing.assert_close(xa.grad, xb.grad)
    torch.testing.assert_close(wa.grad, wb.grad)


def test_gradcheck_and_gradgradcheck():
    x, index, w = random_inputs(5, 19, 23)
    x.requires_grad_()
    w.requires_grad_()
    assert torch.autograd.gradcheck(lambda x: gather_dropout(x, index, 0.4, SEED), (x,))
    assert torch.autograd.gradgradcheck(lambda x: gather_dropout(x, index, 0.4, SEED), (x,))
    assert torch.autograd.gradcheck(lambda x, w: gather_dropout_dot(x, index, w, 0.4, SEED), (x, w))


def test_opcheck_dot_backward_with_transposed_x():
    x, index, w = random_inputs(5, 19, 23)
    x_t = x.t().contiguous().t()  # same values, column-major
    torch.library.opcheck(torch.ops.nasfast.gather_dropout_dot_backward.default,
                          (torch.randn(23, dtype=x.dtype), x_t, index, w, 0.4, SEED))


def test_backward_is_deterministic_across_thread_counts():
    x, index, w = random_inputs(512, 200, 4096, dtype=torch.float32)
    g, gy = torch.randn(4096, 200), torch.randn(4096)
    before = torch.get_num_threads()
    out = []
    try:
        for threads in (1, 2, 4):
            torch.set_num_threads(threads)
            out.append((torch.ops.nasfast.gather_dropout_backward(g, index, 512, 0.1, SEED),
                        *torch.ops.nasfast.gather_dropout_dot_backward(gy, x, index, w, 0.1, SEED),
                        gather_dropout_dot(x, index, w, 0.1, SEED)))
    finally:
        torch.set_num_threads(before)
    for other in out[1:]:
        assert all(torch.equal(a, b) for a, b in zip(out[0], other))


def _samples(device):
    gen = torch.Generator().manual_seed(0)
    for n, d, U, p in ((4, 8, 10, 0.2), (1, 1, 0, 0.5), (30, 16, 64, 0.0)):
        x, index, w = (t.to(device) for t in random_inputs(n, d, U, generator=gen))
        x.requires_grad_()
        w.requires_grad_()
        yield x, index, w, p


def test_opcheck():
    for x, index, w, p in _samples("cpu"):
        torch.library.opcheck(torch.ops.nasfast.gather_dropout.default, (x, index, p, SEED))
        torch.library.opcheck(torch.ops.nasfast.gather_dropout_dot.default, (x, index, w, p, SEED))
        g, gy = torch.randn(len(index), x.shape[1], dtype=x.dtype), torch.randn(len(index), dtype=x.dtype)
        torch.library.opcheck(torch.ops.nasfast.gather_dropout_backward.default, (g, index, x.shape[0], p, SEED))
        torch.library.opcheck(torch.ops.nasfast.gather_dropout_dot_backward.default,
                              (gy, x.detach(), index, w.detach(), p, SEED))


@pytest.mark.parametrize("call, message", [
    (lambda x, i, w: gather_dropout(x, i, 1.5), r"p must be in \[0, 1\]"),
    (lambda x, i, w: gather_dropout(x, i, -0.1), r"p must be in \[0, 1\]"),
    (lambda x, i, w: gather_dropout(x.int(), i, 0.1), "x must have dtype float32 or float64"),
    (lambda x, i, w: gather_dropout(x[0], i, 0.1), "x must be 2-D"),
    (lambda x, i, w: gather_dropout(x, i.int(), 0.1), "index must have dtype"),
    (lambda x, i, w: gather_dropout(x, i.view(2, 5), 0.1), "index must have 1 dimensions"),
    (lambda x, i, w: gather_dropout_dot(x, i, w[:3], 0.1), r"w must be \(d,\) with d = 6"),
    (lambda x, i, w: gather_dropout_dot(x, i, w.float(), 0.1), "w must have the dtype of x"),
    (lambda x, i, w: torch.ops.nasfast.gather_dropout_backward(x, i, 4, 0.1, 1), r"grad must have one row per index \(10\)"),
    (lambda x, i, w: torch.ops.nasfast.gather_dropout_backward(x.new_ones(10, 6), i, -1, 0.1, 1), "rows must be >= 0"),
    (lambda x, i, w: torch.ops.nasfast.gather_dropout_dot_backward(w, x, i, w, 0.1, 1), r"grad must be \(U,\) with U = 10"),
])
def test_bad_inputs_raise_naming_the_problem(call, message):
    x, index, w = random_inputs(4, 6, 10)
    with pytest.raises(RuntimeError, match=message):
        call(x, index, w)


@pytest.mark.parametrize("bad", [4, -1])
def test_index_out_of_range_raises(bad):
    x, index, w = random_inputs(4, 6, 10)
    index[7] = bad
    for call in (lambda: gather_dropout(x, index, 0.1), lambda: gather_dropout_dot(x, index, w, 0.1),
                 lambda: torch.ops.nasfast.gather_dropout_backward(torch.ones(10, 6, dtype=torch.float64), index,
                                                                   4, 0.1, 1)):
        with pytest.raises(RuntimeError, match=rf"index\[7\] = {bad} is out of range for 4 rows"):
            call()


def assert_sums_close(got: torch.Tensor, want: torch.Tensor) -> None:
    """Values that sum many terms (a dot over 300 columns, a row's gradient over ~300 uses, a w-gradient
    over 30,000) in another order on each device (CPU blocks and vector lanes, CUDA warps and atomics).
    float32 rounding follows the partial sums' size, so elements near zero differed by 1e-5 to 2e-4
    on an H100: compare the whole tensor's relative norm."""
    if want.dtype == torch.float32:
        assert float((got - want).norm()) <= 1e-5 * float(want.norm()) + 1e-6
    else:
        torch.testing.assert_close(got, want)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_matches_cpu(dtype):
    for n, d, U in ((1, 1, 1), (7, 33, 50), (512, 200, 4096), (100, 300, 30000), (3, 5, 0)):
        x, index, w = random_inputs(n, d, U, dtype=dtype)
        g, gy = torch.randn(U, d, dtype=dtype), torch.randn(U, dtype=dtype)
        for p in (0.0, 0.1, 1.0):
            (xc, wc), (xg, wg) = [(t1.clone().to(dev).requires_grad_(), t2.clone().to(dev).requires_grad_())
                                  for dev, (t1, t2) in (("cpu", (x, w)), ("cuda", (x, w)))]
            ic, ig = index, index.cuda()
            assert torch.equal(gather_dropout(xg, ig, p, SEED).cpu(), gather_dropout(xc, ic, p, SEED))
            gather_dropout(xc, ic, p, SEED).backward(g)
            gather_dropout(xg, ig, p, SEED).backward(g.cuda())
            assert_sums_close(xg.grad.cpu(), xc.grad)
            xc.grad = xg.grad = None
            yc, yg = gather_dropout_dot(xc, ic, wc, p, SEED), gather_dropout_dot(xg, ig, wg, p, SEED)
            assert_sums_close(yg.cpu(), yc.detach())
            yc.backward(gy)
            yg.backward(gy.cuda())
            assert_sums_close(xg.grad.cpu(), xc.grad)
            assert_sums_close(wg.grad.cpu(), wc.grad)
    # a dropped NaN / inf is NaN on both devices (times 0, as torch's dropout), not 0 on one of them
    x, index, w = random_inputs(6, 40, 30, dtype=dtype)
    x[0, :20], x[1, :20] = float("nan"), float("inf")
    for p in (0.5, 1.0):
        want = gather_dropout(x, index, p, SEED)
        torch.testing.assert_close(gather_dropout(x.cuda(), index.cuda(), p, SEED).cpu(), want, equal_nan=True)
        want = gather_dropout_dot(x, index, w, p, SEED)
        torch.testing.assert_close(gather_dropout_dot(x.cuda(), index.cuda(), w.cuda(), p, SEED).cpu(), want,
                                   equal_nan=True)
    x, index, w = random_inputs(4, 6, 10, dtype=dtype)
    index[3] = 9
    with pytest.raises(RuntimeError, match="out of range"):
        gather_dropout(x.cuda(), index.cuda(), 0.1)
    # the backwards add atomically: they refuse to run where the user asked for determinism
    x, index, w = random_inputs(4, 6, 10, dtype=dtype)
    torch.use_deterministic_algorithms(True)
    try:
        with pytest.raises(RuntimeError, match="deterministic"):
            torch.ops.nasfast.gather_dropout_backward(torch.ones(10, 6, dtype=dtype, device="cuda"), index.cuda(), 4,
                                                      0.1, SEED)
    finally:
        torch.use_deterministic_algorithms(False)
    for x, index, w, p in _samples("cuda"):
        torch.library.opcheck(torch.ops.nasfast.gather_dropout.default, (x, index, p, SEED))
        torch.library.opcheck(torch.ops.nasfast.gather_dropout_dot.default, (x, index, w, p, SEED))

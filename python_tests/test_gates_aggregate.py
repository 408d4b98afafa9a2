"""gates_aggregate op: agreement with the dense PyTorch reference, gradients, opcheck, errors,
CPU vs CUDA."""

from __future__ import annotations

import pytest
import torch
from reference_gates_aggregate import gates_aggregate_dense, nb101_op_on_node

from nasfast.ops.gates_aggregate import gates_aggregate


def random_inputs(B: int, N: int, D: int, K: int = 4, dtype=torch.float64, device="cpu", generator=None):
    g = generator
    S = torch.randn(B, N, D, dtype=dtype, generator=g).to(device)
    G = torch.rand(K, D, dtype=dtype, generator=g).to(device)
    edge_op = torch.randint(0, K, (B, N, N), generator=g)
    edge_op[torch.rand(B, N, N, generator=g) < 0.4] = -1
    residual = torch.rand(N, generator=g) < 0.5
    return S, G, edge_op.to(device), residual.to(device)


@pytest.mark.parametrize("N", [4, 7, 10, 16])
@pytest.mark.parametrize("D", [1, 8, 128])
@pytest.mark.parametrize("B", [1, 3, 37])
def test_matches_dense_reference_float64(B, N, D):
    S, G, edge_op, residual = random_inputs(B, N, D)
    torch.testing.assert_close(gates_aggregate(S, G, edge_op, residual),
                               gates_aggregate_dense(S, G, edge_op, residual), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("N", [4, 7, 16])
@pytest.mark.parametrize("D", [1, 128])
def test_float32_matches_float64_reference(N, D):
    S, G, edge_op, residual = random_inputs(200, N, D)
    out = gates_aggregate(S.float(), G.float(), edge_op, residual)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.double(), gates_aggregate_dense(S, G, edge_op, residual), rtol=1e-5, atol=1e-5)


def test_op_on_node_nb101_batch_and_all_masked_rows():
    g = torch.Generator().manual_seed(0)
    edge_op = nb101_op_on_node(1000, generator=g)
    edge_op[:10] = -1  # graphs with no edges at all
    S, G = torch.randn(1000, 7, 32, dtype=torch.float64, generator=g), torch.rand(4, 32, dtype=torch.float64, generator=g)
    for residual in (torch.zeros(7, dtype=torch.bool), torch.ones(7, dtype=torch.bool)):
        torch.testing.assert_close(gates_aggregate(S, G, edge_op, residual), gates_aggregate_dense(S, G, edge_op, residual))
    assert torch.equal(gates_aggregate(S, G, edge_op, torch.zeros(7, dtype=torch.bool))[:10], torch.zeros(10, 7, 32, dtype=torch.float64))


def test_negative_values_other_than_minus_one_also_mask():
    S, G, edge_op, residual = random_inputs(5, 7, 8)
    other = edge_op.masked_fill(edge_op < 0, -7)
    assert torch.equal(gates_aggregate(S, G, edge_op, residual), gates_aggregate(S, G, other, residual))


def test_empty_batch_and_zero_width():
    S, G, edge_op, residual = random_inputs(0, 7, 16)
    S.requires_grad_(True)
    G.requires_grad_(True)
    out = gates_aggregate(S, G, edge_op, residual)
    assert out.shape == (0, 7, 16)
    out.sum().backward()
    assert S.grad.shape == (0, 7, 16) and torch.equal(G.grad, torch.zeros_like(G))
    S, G, edge_op, residual = random_inputs(3, 7, 0)
    assert gates_aggregate(S, G, edge_op, residual).shape == (3, 7, 0)


def test_non_contiguous_inputs():
    S, G, edge_op, residual = random_inputs(6, 7, 16)
    S_t = S.transpose(0, 1).contiguous().transpose(0, 1)
    E_t = edge_op.transpose(0, 2).contiguous().transpose(0, 2)
    G_t = G.t().contiguous().t()
    assert not (S_t.is_contiguous() or E_t.is_contiguous() or G_t.is_contiguous())
    torch.testing.assert_close(gates_aggregate(S_t, G_t, E_t, residual), gates_aggregate_dense(S, G, edge_op, residual))


@pytest.mark.parametrize("N, D", [(4, 3), (7, 5)])
def test_gradcheck(N, D):
    S, G, edge_op, residual = random_inputs(3, N, D)
    S.requires_grad_(True)
    G.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda s, g: gates_aggregate(s, g, edge_op, residual), (S, G))


def test_gradients_match_reference_float32_large_batch():
    g = torch.Generator().manual_seed(1)
    S, G, edge_op, residual = random_inputs(700, 7, 128, generator=g)  # > several gradient chunks
    grad = torch.randn(700, 7, 128, dtype=torch.float64, generator=g)
    ref = torch.autograd.grad(gates_aggregate_dense(S.requires_grad_(), G.requires_grad_(), edge_op, residual), (S, G), grad)
    Sf, Gf = S.detach().float().requires_grad_(), G.detach().float().requires_grad_()
    ours = torch.autograd.grad(gates_aggregate(Sf, Gf, edge_op, residual), (Sf, Gf), grad.float())
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a.double(), b, rtol=1e-4, atol=1e-4)


def test_grad_of_G_is_deterministic_across_thread_counts():
    S, G, edge_op, residual = random_inputs(1000, 7, 64, dtype=torch.float32)
    grad = torch.randn_like(S)
    threads = torch.get_num_threads()
    try:
        outs = []
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            outs.append(torch.ops.nasfast.gates_aggregate_backward(grad, S, G, edge_op, residual))
    finally:
        torch.set_num_threads(threads)
    for dS, dG in outs[1:]:
        assert torch.equal(dS, outs[0][0]) and torch.equal(dG, outs[0][1])


def test_grad_of_G_past_the_chunk_cap():
    """Above 64 x 4,096 graphs the CPU backward widens its chunks (a fixed number of K x D partials
    instead of one per 64 graphs): the gate gradient is still the full sum, and still the same for
    any thread count."""
    g = torch.Generator().manual_seed(5)
    S, G, edge_op, residual = random_inputs(64 * 4096 + 777, 3, 2, dtype=torch.float64, generator=g)
    grad = torch.randn(S.shape, dtype=torch.float64, generator=g)
    dS, dG = torch.ops.nasfast.gates_aggregate_backward(grad, S, G, edge_op, residual)
    want = torch.zeros_like(G)
    for k in range(G.shape[0]):  # dG[k] = sum over edges j -> i with op k of dy_i * S_j
        mask = (edge_op == k).to(S.dtype)  # (B, N, N): [b, i, j]
        want[k] = torch.einsum("bij,bid,bjd->d", mask, grad, S)
    torch.testing.assert_close(dG, want, rtol=1e-12, atol=1e-9)
    S32, G32, grad32 = S.float(), G.float(), grad.float()  # float32: a changed sum order would show
    threads = torch.get_num_threads()
    try:
        outs = []
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            outs.append(torch.ops.nasfast.gates_aggregate_backward(grad32, S32, G32, edge_op, residual)[1])
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(o, outs[0]) for o in outs[1:])


def test_only_requested_gradients_are_returned():
    S, G, edge_op, residual = random_inputs(2, 4, 3)
    S.requires_grad_(True)
    gates_aggregate(S, G, edge_op, residual).sum().backward()
    assert S.grad is not None and G.grad is None


def _opcheck_inputs(device="cpu"):
    g = torch.Generator().manual_seed(2)
    out = []
    for dtype in (torch.float32, torch.float64):
        for grad_S, grad_G in ((False, False), (True, True), (True, False), (False, True)):
            S, G, edge_op, residual = random_inputs(5, 7, 8, dtype=dtype, device=device, generator=g)
            out.append((S.requires_grad_(grad_S), G.requires_grad_(grad_G), edge_op, residual))
    return out


def test_opcheck_forward():
    for args in _opcheck_inputs():
        torch.library.opcheck(torch.ops.nasfast.gates_aggregate.default, args)


def test_opcheck_backward():
    S, G, edge_op, residual = random_inputs(5, 7, 8)
    torch.library.opcheck(torch.ops.nasfast.gates_aggregate_backward.default, (torch.randn_like(S), S, G, edge_op, residual))


def test_opcheck_transposed_inputs():
    """The fake kernels promise contiguous outputs, as the kernels return (torch.compile relies on it)."""
    S, G, edge_op, residual = random_inputs(5, 7, 8)
    S_t = S.transpose(1, 2).contiguous().transpose(1, 2)  # same values, permuted strides
    G_t = G.t().contiguous().t()
    torch.library.opcheck(torch.ops.nasfast.gates_aggregate.default, (S_t, G_t, edge_op, residual))
    torch.library.opcheck(torch.ops.nasfast.gates_aggregate_backward.default,
                          (torch.randn_like(S), S_t, G_t, edge_op, residual))


def _good():
    return random_inputs(2, 7, 8, dtype=torch.float32)


def _replace(i, value):
    args = list(_good())
    args[i] = value
    return args


@pytest.mark.parametrize(
    "args, message",
    [
        (_replace(0, torch.zeros(2, 7, 8, dtype=torch.int32)), "S must have dtype float32 or float64"),
        (_replace(1, torch.zeros(4, 8, dtype=torch.float64)), "G must have the dtype of S"),
        (_replace(2, torch.zeros(2, 7, 7, dtype=torch.int32)), "edge_op must have dtype"),
        (_replace(3, torch.zeros(7, dtype=torch.uint8)), "residual must have dtype"),
        (_replace(0, torch.zeros(2, 56, dtype=torch.float32)), "S must have 3 dimensions"),
        (_replace(1, torch.zeros(4, 9, dtype=torch.float32)), "G must be (K, D) with D = 8"),
        (_replace(2, torch.zeros(2, 7, 6, dtype=torch.int64)), "edge_op must be (B, N, N) = (2, 7, 7)"),
        (_replace(3, torch.zeros(6, dtype=torch.bool)), "residual must be (N,) with N = 7"),
    ],
)
def test_bad_inputs_raise_naming_the_problem(args, message):
    with pytest.raises(RuntimeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        gates_aggregate(*args)


def test_out_of_range_op_index_raises_with_its_position():
    S, G, edge_op, residual = _good()
    edge_op[1, 3, 2] = 4  # K = 4
    with pytest.raises(RuntimeError, match=r"edge_op\[1, 3, 2\] = 4 is out of range: G has K = 4 rows"):
        gates_aggregate(S, G, edge_op, residual)
    with pytest.raises(RuntimeError, match="out of range"):
        torch.ops.nasfast.gates_aggregate_backward(torch.ones_like(S), S, G, edge_op, residual)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_matches_cpu(dtype):
    g = torch.Generator().manual_seed(3)
    for B, N, D in [(0, 7, 8), (1, 4, 1), (300, 7, 128), (5000, 7, 128), (64, 16, 200)]:
        S, G, edge_op, residual = random_inputs(B, N, D, dtype=dtype, generator=g)
        grad = torch.randn(B, N, D, dtype=dtype, generator=g)
        cpu = (gates_aggregate(S, G, edge_op, residual),
               *torch.ops.nasfast.gates_aggregate_backward(grad, S, G, edge_op, residual))
        args = [t.cuda() for t in (S, G, edge_op, residual)]
        cuda = (gates_aggregate(*args), *torch.ops.nasfast.gates_aggregate_backward(grad.cuda(), *args))
        tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else {}
        for a, b in zip(cpu, cuda):
            torch.testing.assert_close(b.cpu(), a, **tol)
        # dG is reduced in a fixed order: bit-identical on a rerun.
        assert torch.equal(torch.ops.nasfast.gates_aggregate_backward(grad.cuda(), *args)[1], cuda[2])
    S, G, edge_op, residual = random_inputs(2, 7, 8, dtype=dtype, generator=g)
    edge_op[0, 1, 0] = 4
    with pytest.raises(RuntimeError, match="out of range"):
        gates_aggregate(S.cuda(), G.cuda(), edge_op.cuda(), residual.cuda())
    for args in _opcheck_inputs("cuda"):
        torch.library.opcheck(torch.ops.nasfast.gates_aggregate.default, args)
        S, G, edge_op, residual = (t.detach() for t in args)
        torch.library.opcheck(torch.ops.nasfast.gates_aggregate_backward.default,
                              (torch.randn_like(S), S, G, edge_op, residual))

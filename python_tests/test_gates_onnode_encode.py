"""gates_onnode_encode op (the fused NB101 GATES encoder for scoring): agreement with a float64
loop reference and with the layer-by-layer encoder on real NB101 cells, gradients, opcheck, errors."""

from __future__ import annotations

import pytest
import torch
from reference_gates_onnode_encode import gates_onnode_encode_loops

from nasfast.ops.gates_onnode_encode import gates_onnode_encode, reference


def random_inputs(B, N, dims, K=6, dtype=torch.float64, generator=None, requires_grad=False):
    g = generator
    x0 = torch.randn(N, dims[0], dtype=dtype, generator=g)
    W = [torch.randn(a, b, dtype=dtype, generator=g) / a ** 0.5 for a, b in zip(dims[:-1], dims[1:])]
    G = [torch.rand(K, b, dtype=dtype, generator=g) for b in dims[1:]]
    bias = [torch.randn(b, dtype=dtype, generator=g) for b in dims[1:]]
    adjacency = torch.tril(torch.rand(B, N, N, generator=g) < 0.5, -1)  # edge j -> i only for j < i
    node_op = torch.randint(0, K, (B, N), generator=g)
    valid = torch.rand(B, N, generator=g) < 0.85
    if requires_grad:
        for t in (x0, *W, *G, *bias):
            t.requires_grad_(True)
    return x0, W, G, bias, adjacency, node_op, valid


@pytest.mark.parametrize("B", [0, 1, 31, 33, 100])
@pytest.mark.parametrize("N, dims", [(2, (3, 4)), (4, (5, 8, 3)), (7, (96, 128, 128, 128, 128))])
def test_matches_loop_reference_float64(B, N, dims):
    args = random_inputs(B, N, dims, generator=torch.Generator().manual_seed(B * 10 + N))
    out = gates_onnode_encode(*args)
    assert out.shape == (B, dims[-1]) and out.dtype == torch.float64
    torch.testing.assert_close(out, gates_onnode_encode_loops(*args), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(reference(*args), gates_onnode_encode_loops(*args), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_nan_propagates_through_the_relu_as_in_the_reference(dtype):
    """A NaN gate weight must not be flattened to 0 by the ReLU between layers (torch.relu keeps NaN),
    or a broken network would score finite numbers under no_grad and NaN with grad."""
    x0, W, G, bias, adjacency, node_op, valid = random_inputs(40, 7, (8, 16, 16, 8),
                                                             generator=torch.Generator().manual_seed(3))
    x0, W, G, bias = x0.to(dtype), [w.to(dtype) for w in W], [g.to(dtype) for g in G], [b.to(dtype) for b in bias]
    nan_op = int(node_op[0, 3])
    G[0][nan_op, 5] = float("nan")  # an op used by an interior node, in layer 1 (a ReLU follows)
    # node 0 (the input) has no inputs, so the op skips its gate; the reference multiplies it by a zero
    # sum, and 0 * NaN would differ. Keep the NaN op off node 0.
    node_op[:, 0] = (nan_op + 1) % G[0].shape[0]
    out = gates_onnode_encode(x0, W, G, bias, adjacency, node_op, valid)
    ref = reference(x0, W, G, bias, adjacency, node_op, valid)
    assert torch.isnan(ref).any() and torch.equal(torch.isnan(out), torch.isnan(ref))
    torch.testing.assert_close(out[~torch.isnan(ref)], ref[~torch.isnan(ref)], rtol=1e-4, atol=1e-4)


def test_float32_matches_float64_reference():
    args = random_inputs(300, 7, (96, 128, 128, 128, 128), generator=torch.Generator().manual_seed(1))
    as32 = [[t.float() for t in a] if isinstance(a, list) else (a.float() if a.is_floating_point() else a)
            for a in args]
    out = gates_onnode_encode(*as32)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.double(), gates_onnode_encode_loops(*args), rtol=1e-4, atol=1e-4)


def test_same_bits_whatever_the_thread_count():
    args = random_inputs(500, 7, (16, 32, 32), dtype=torch.float32, generator=torch.Generator().manual_seed(2))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = gates_onnode_encode(*args)
        torch.set_num_threads(max(2, threads))
        assert torch.equal(gates_onnode_encode(*args), one)
    finally:
        torch.set_num_threads(threads)


def test_gradcheck():
    x0, W, G, bias, adjacency, node_op, valid = random_inputs(
        5, 5, (3, 4, 4, 2), K=3, generator=torch.Generator().manual_seed(3), requires_grad=True)
    n = len(W)

    def f(x0, *flat):
        return gates_onnode_encode(x0, flat[:n], flat[n:2 * n], flat[2 * n:], adjacency, node_op, valid)

    assert torch.autograd.gradcheck(f, (x0, *W, *G, *bias))


def test_opcheck():
    g = torch.Generator().manual_seed(4)
    for dtype in (torch.float32, torch.float64):
        for requires_grad in (False, True):
            x0, W, G, bias, adjacency, node_op, valid = random_inputs(
                6, 7, (8, 8, 4), dtype=dtype, generator=g, requires_grad=requires_grad)
            torch.library.opcheck(torch.ops.nasfast.gates_onnode_encode.default,
                                  (x0, W, G, bias, adjacency, node_op, valid))


def test_nb101_encoder_scores_through_the_fused_op_and_matches_the_layer_path():
    import numpy as np

    from nasfast.predictors.encoding import encode_nb101
    from nasfast.predictors.gates import NB101GATES
    from nasfast.tabular.bundled import NB101_MAIN, npz_array

    adj, ops = npz_array(NB101_MAIN, "adjacency"), npz_array(NB101_MAIN, "ops")
    idx = np.random.default_rng(0).choice(len(ops), 777, replace=False)
    enc = encode_nb101((adj[idx], ops[idx]))
    assert not enc["valid"].all()  # some cells have padding
    torch.manual_seed(0)
    net = NB101GATES()
    layered = net(enc).detach()  # grad enabled: the layer-by-layer autograd path
    with torch.no_grad():
        assert net.fused(enc)
        fused = net(enc)
    torch.testing.assert_close(fused, layered, rtol=1e-5, atol=1e-5)
    net64 = NB101GATES().double()
    layered64 = net64(enc).detach()
    with torch.no_grad():
        torch.testing.assert_close(net64(enc), layered64, rtol=1e-12, atol=1e-12)  # the same function
    for variant in (dict(plus_I=True), dict(residual_only=0), dict(readout="output")):
        with torch.no_grad():
            assert not NB101GATES(**variant).fused(enc)  # those keep the layer path


def _good():
    return random_inputs(3, 7, (8, 8, 4), dtype=torch.float32, generator=torch.Generator().manual_seed(5))


def test_bad_inputs_raise_naming_the_problem():
    x0, W, G, bias, adjacency, node_op, valid = _good()
    cases = [
        ((x0.int(), W, G, bias, adjacency, node_op, valid), "x0 must have dtype float32 or float64"),
        ((x0, W, G, bias, adjacency.int(), node_op, valid), "adjacency must have dtype"),
        ((x0, W, G, bias, adjacency, node_op.int(), valid), "node_op must have dtype"),
        ((x0, W, G[:1], bias, adjacency, node_op, valid), "one entry per layer"),
        ((x0, [W[0].double(), W[1]], G, bias, adjacency, node_op, valid), "layer 0: every weight"),
        ((x0, [W[0], W[1].t()], G, bias, adjacency, node_op, valid), r"layer 1: weight must be \(8, d_out\)"),
        ((x0, W, [G[0], G[1][:, :3]], bias, adjacency, node_op, valid), r"layer 1: gate table must be \(K, 4\)"),
        ((x0, W, G, bias, adjacency[:, :6, :6], node_op, valid), r"adjacency must be \(B, N, N\) with N = 7"),
        ((x0, W, G, bias, adjacency, node_op[:, :6], valid), r"node_op must be \(B, N\) = \(3, 7\)"),
    ]
    for args, message in cases:
        with pytest.raises(RuntimeError, match=message):
            gates_onnode_encode(*args)
    bad_adj = adjacency.clone()
    bad_adj[2, 0, 4] = True
    with pytest.raises(RuntimeError, match="node 0 must be the input node.*graph 2 has an edge 4 -> 0"):
        gates_onnode_encode(x0, W, G, bias, bad_adj, node_op, valid)
    bad_op = node_op.clone()
    bad_op[1, 5] = 6
    with pytest.raises(RuntimeError, match=r"node_op\[1, 5\] = 6 is not a row of the gate tables \(K = 6\)"):
        gates_onnode_encode(x0, W, G, bias, adjacency, bad_op, valid)
    bad_op = node_op.clone()
    bad_op[2, 0] = 99  # node 0's gate is never read forward, but the backward indexes it
    with pytest.raises(ValueError, match=r"node_op\[:, 0\] must lie in 0..5 .* got 99"):
        gates_onnode_encode(x0, W, G, bias, adjacency, bad_op, valid)

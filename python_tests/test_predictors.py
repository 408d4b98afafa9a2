"""nasfast.predictors: GATES encoders vs a dense float64 reference, encodings, isomorphism
invariance, losses, pair/list sampling, a smoke training run, save/load and chunked scoring."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from nasfast import metrics, tabular
from nasfast.predictors import GATESPredictor, encoding, losses
from nasfast.predictors.gates import NB101GATES, NB201GATES, DartsGATES
from nasfast.predictors.train import _batch_loss, adam, listwise_batches, sample_lists, sample_pairs
from nasfast.spaces import darts, nb101, nb201
from nasfast.tabular.bundled import NB101_MAIN, npz_array

NB201_C10V = "cifar10-valid/acc/valid/200ep"


def nb101_specs(n: int, seed: int = 0) -> list[nb101.Spec]:
    rng = np.random.default_rng(seed)
    return [nb101.sample(rng) for _ in range(n)]


def darts_genotypes(n: int, seed: int = 0) -> list[darts.Genotype]:
    rng = np.random.default_rng(seed)
    return [darts.sample(rng) for _ in range(n)]


def randomise(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Non-trivial values in every parameter and buffer that starts at zero (other-node embeddings),
    keeping the fixed-zero ones (input op embedding, NB201 non-input nodes) at zero."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name == "other_node_emb":
                p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


# ---- dense float64 references: per-node / per-edge gates materialised, bmm over (B, N, N) --------

def ref_layer_op_on_node(layer, x, op_emb_nodes, adj, residual):
    """y = sigmoid(o_i U + c) * (A S)_i + r_i S_i + b, with o_i the receiving node's op embedding."""
    S = x @ layer.weight.double()
    gate = torch.sigmoid(op_emb_nodes @ layer.op_attention.weight.double().T + layer.op_attention.bias.double())
    y = gate * torch.bmm(adj, S) + residual[None, :, None] * S
    return y + layer.bias.double() if layer.bias is not None else y


def ref_layer_op_on_edge(layer, x, op_table, edge_op, residual):
    """y_i = sum_j mask_ij sigmoid(E[op_ij] U + c) * S_j + r_i S_i, as a (B, N, N, D) gate tensor."""
    S = x @ layer.weight.double()
    gates = torch.sigmoid(op_table[edge_op.clamp(min=0)] @ layer.op_attention.weight.double().T
                          + layer.op_attention.bias.double())
    gates = gates * (edge_op >= 0)[..., None].double()
    y = torch.einsum("bijd,bjd->bid", gates, S) + residual[None, :, None] * S
    return y + layer.bias.double() if layer.bias is not None else y


def ref_nb101(m: NB101GATES, enc) -> torch.Tensor:
    adj = enc["adjacency"].double()
    B, n = enc["node_op"].shape
    if m.plus_I:
        adj = adj + torch.eye(n, dtype=torch.float64)
    table = torch.cat([m.op_emb.weight.double(), m.output_op_emb.double()[None], torch.zeros(1, m.op_emb.weight.shape[1],
                                                                                           dtype=torch.float64)])
    op_nodes = table[enc["node_op"]]
    residual = torch.ones(n, dtype=torch.float64) if m.residual_only is None else \
        (torch.arange(n) < m.residual_only).double()
    e = torch.stack([m.input_node_emb.double()] + [m.other_node_emb.double()] * (n - 1))
    x = (e @ m.x_hidden.weight.double().T + m.x_hidden.bias.double())[None].expand(B, -1, -1)
    for k, layer in enumerate(m.layers):
        x = ref_layer_op_on_node(layer, x, op_nodes, adj, residual)
        x = torch.relu(x) if k < len(m.layers) - 1 else x
    if m.readout == "output":
        return x[:, 6]
    return (x[:, 1:] * enc["valid"][:, 1:, None].double()).sum(1) / 6


def ref_nb201(m: NB201GATES, enc) -> torch.Tensor:
    edge_op = enc["edge_op"]
    B = edge_op.shape[0]
    e = torch.stack([m.input_node_emb.double()] + [torch.zeros_like(m.input_node_emb.double())] * 3)
    x = (e @ m.x_hidden.weight.double().T + m.x_hidden.bias.double())[None].expand(B, -1, -1)
    residual = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=torch.float64)
    for k, layer in enumerate(m.layers):
        x = ref_layer_op_on_edge(layer, x, m.op_emb.weight.double(), edge_op, residual)
        x = torch.relu(x) if k < len(m.layers) - 1 else x
    return x[:, 3]


def ref_darts(m: DartsGATES, enc) -> torch.Tensor:
    edge_op = enc["edge_op"]
    B = edge_op.shape[0]
    outs = []
    for c in range(2):
        e = torch.cat([m.init_node_emb[c].double(), m.other_node_emb[c].double()[None].expand(4, -1)])
        x = (e @ m.x_hidden.weight.double().T + m.x_hidden.bias.double())[None].expand(B, -1, -1)
        for k, layer in enumerate(m.layers):
            S = x @ layer.weight.double()
            zero = torch.zeros(6, dtype=torch.float64)
            msgs = [ref_layer_op_on_edge(layer, x, m.op_emb.double(), edge_op[:, c, d], zero) for d in range(2)]
            x = (msgs[0] + msgs[1]) / 2 + S
            x = torch.relu(x) if k < len(m.layers) - 1 else x
        outs.append(x[:, 2:].mean(1))
    return torch.cat(outs, 1)


@pytest.mark.parametrize("variant", [dict(), dict(plus_I=True, residual_only=0), dict(readout="output"),
                                     dict(residual_only=2, layers=(16, 8))])
def test_nb101_gates_matches_dense_reference(variant):
    torch.manual_seed(0)
    m = randomise(NB101GATES(**variant)).double()
    enc = encoding.encode_nb101(nb101_specs(64))
    torch.testing.assert_close(m(enc), ref_nb101(m, enc), rtol=1e-9, atol=1e-9)
    m32 = m.float()
    torch.testing.assert_close(m32(enc).double(), ref_nb101(m, enc), rtol=1e-5, atol=1e-5)


def test_nb201_gates_matches_dense_reference():
    torch.manual_seed(0)
    m = randomise(NB201GATES()).double()
    enc = encoding.encode_nb201(np.arange(0, nb201.NUM_ARCHS, 97))
    torch.testing.assert_close(m(enc), ref_nb201(m, enc), rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(m.float()(enc).double(), ref_nb201(m, enc), rtol=1e-5, atol=1e-5)


def test_darts_gates_matches_dense_reference():
    torch.manual_seed(0)
    m = randomise(DartsGATES(layers=(32, 16, 8))).double()
    enc = encoding.encode_darts(darts_genotypes(40))
    out = m(enc)
    assert out.shape == (40, 16)
    torch.testing.assert_close(out, ref_darts(m, enc), rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(m.float()(enc).double(), ref_darts(m, enc), rtol=1e-5, atol=1e-5)


def test_gates_gradients_flow_to_every_trainable_parameter():
    # NB201 keeps the self term only on the input node and reads the output node, so a message
    # computed in layer l reaches the readout only if it still has 5 - l hops to go; the longest
    # path 0->1->2->3 has 3, so the gates of layers 0 and 1 (which only act on non-input nodes)
    # get exactly zero gradient, in aw_nas's formulation too (the dense reference agrees).
    dead = {("NB201GATES", f"layers.{k}.op_attention.{w}") for k in (0, 1) for w in ("weight", "bias")}
    torch.manual_seed(0)
    for m, enc in ((NB101GATES(), encoding.encode_nb101(nb101_specs(16))),
                   (NB201GATES(), encoding.encode_nb201(np.arange(16))),
                   (DartsGATES(), encoding.encode_darts(darts_genotypes(16)))):
        m(enc).square().sum().backward()
        for name, p in m.named_parameters():
            if p.requires_grad:
                live = p.grad is not None and p.grad.abs().sum() > 0
                assert live != ((type(m).__name__, name) in dead), (type(m).__name__, name)


# ---- encodings -----------------------------------------------------------------------------------

def test_nb101_encoding_follows_aw_nas_layout():
    specs = nb101_specs(200, seed=1)
    enc = encoding.encode_nb101(specs)
    assert any(s.num_vertices < 7 for s in specs)
    for b, s in enumerate(specs):
        adj, ops = nb101.to_aw_nas(s)  # aw_nas: row = source; ours: row = destination
        assert np.array_equal(enc["adjacency"][b].numpy(), adj.T != 0)
        rows = enc["node_op"][b].numpy()
        assert rows[0] == encoding.NB101_INPUT_ROW and rows[6] == encoding.NB101_OUTPUT_ROW
        assert np.array_equal(rows[1:6], ops[1:6])  # aw_nas op indices, none = 3 on padding
        assert np.array_equal(enc["valid"][b].numpy(), ops != nb101.AW_NAS_NONE)


def test_nb101_encoding_accepts_arrays_and_other_widths():
    specs = nb101_specs(30, seed=2)
    enc = encoding.encode_nb101(specs)
    adj = np.stack([s.padded(7)[0] for s in specs])
    ops = np.stack([s.padded(7)[1] for s in specs])
    wide = (np.pad(adj, ((0, 0), (0, 2), (0, 2))), np.pad(ops, ((0, 0), (0, 2)), constant_values=-3))
    for other in (encoding.encode_nb101((adj, ops)), encoding.encode_nb101(wide),
                  encoding.encode_nb101((torch.from_numpy(adj), torch.from_numpy(ops)))):
        for k in enc:
            assert torch.equal(enc[k], other[k])


def test_nb201_encoding():
    archs = [nb201.from_index(i) for i in range(0, nb201.NUM_ARCHS, 311)]
    enc = encoding.encode_nb201(archs)["edge_op"]
    for b, a in enumerate(archs):
        for k, (dst, src) in enumerate(nb201.EDGES):
            op = a.op_indices[k]
            assert enc[b, dst, src] == (op if op != 0 else -1)
        assert (enc[b][~torch.tensor(np.tril(np.ones((4, 4), bool), -1))] == -1).all()
    idx = np.arange(0, nb201.NUM_ARCHS, 311)
    for other in (idx, [str(a) for a in archs], nb201.op_indices(archs), list(idx)):
        assert torch.equal(encoding.encode_nb201(other)["edge_op"], enc)


def test_darts_encoding():
    gens = darts_genotypes(20, seed=3)
    enc = encoding.encode_darts(gens)["edge_op"]
    for b, g in enumerate(gens):
        for c, cell in enumerate((g.normal, g.reduce)):
            assert int((enc[b, c] >= 0).sum()) == 8
            for e, (op, src) in enumerate(cell):
                assert enc[b, c, e % 2, e // 2 + 2, src] == darts.OP_INDEX[op]
    compact = np.stack([g.to_compact() for g in gens])
    assert torch.equal(encoding.encode_darts(compact)["edge_op"], enc)


@pytest.mark.parametrize("space", ["nb101", "nb201", "darts"])
def test_node_graphs_are_dags_with_valid_labels(space):
    archs = {"nb101": nb101_specs(20), "nb201": np.arange(0, 15625, 777), "darts": darts_genotypes(20)}[space]
    g = encoding.node_graph(space, archs)
    adj, labels, valid = g["adjacency"], g["labels"], g["valid"]
    assert not torch.tril(adj).any()  # upper triangular: a topological order
    assert labels.min() >= 0 and labels.max() < encoding.NODE_GRAPH_LABELS[space]
    assert not (adj & ~valid[:, :, None]).any() and not (adj & ~valid[:, None, :]).any()


def test_nb101_node_graph_labels_are_the_documented_ones():
    """input 0, output 1, conv3x3 2, conv1x1 3, maxpool 4 (conv3x3 once shared the output's label)."""
    chain = nb101.Spec(np.eye(5, k=1, dtype=int), ["input", "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3", "output"])
    g = encoding.node_graph("nb101", [chain])
    assert g["labels"][0, :5].tolist() == [0, 2, 3, 4, 1]
    assert not g["valid"][0, 5:].any()


# ---- isomorphism (REFERENCES A1.8) -----------------------------------------------------------------

def random_topological_relabel(spec: nb101.Spec, rng: np.random.Generator) -> nb101.Spec:
    """The same cell with its interior vertices in a random topological order (input first, output
    last): an isomorphic spec that is still upper-triangular."""
    adj = spec.adjacency.astype(int)
    n = len(adj)
    order, placed = [0], {0}
    while len(order) < n - 1:
        ready = [v for v in range(1, n - 1) if v not in placed and all(u in placed for u in np.flatnonzero(adj[:, v]))]
        v = int(rng.choice(ready))
        order.append(v)
        placed.add(v)
    order.append(n - 1)
    perm = np.array(order)
    return nb101.Spec(adj[np.ix_(perm, perm)], [spec.ops[v] for v in perm])


@pytest.mark.parametrize("variant", [dict(), dict(readout="output"), dict(plus_I=True, residual_only=0)])
def test_nb101_isomorphic_specs_share_an_embedding(variant):
    torch.manual_seed(0)
    m = randomise(NB101GATES(**variant)).eval()
    rng = np.random.default_rng(4)
    specs = nb101_specs(300, seed=4)
    relabelled = [random_topological_relabel(s, rng) for s in specs]
    moved = sum(a != b for a, b in zip(specs, relabelled))
    assert moved > 20  # the relabelling really changes most vertex orders
    assert all(a.fingerprint() == b.fingerprint() for a, b in zip(specs, relabelled))
    with torch.no_grad():
        e1, e2 = m(encoding.encode_nb101(specs)), m(encoding.encode_nb101(relabelled))
    assert (e1 - e2).abs().max() < 1e-5


def test_nb101_unpruned_spec_embeds_as_its_pruned_form():
    # vertex 2 is dangling (no path to the output), vertex 3 unreachable from the input
    adj = np.zeros((7, 7), int)
    for i, j in [(0, 1), (1, 6), (0, 2), (3, 6), (0, 4), (4, 5), (5, 6)]:
        adj[i, j] = 1
    ops = [-1, 0, 1, 2, 2, 1, -2]
    spec = nb101.Spec(adj, ops)
    assert spec.num_vertices == 5
    pruned = nb101.Spec(spec.adjacency, list(spec.ops))
    torch.manual_seed(0)
    m = randomise(NB101GATES()).eval()
    with torch.no_grad():
        raw = m(encoding.encode_nb101((adj, np.array(ops))))
        assert (raw - m(encoding.encode_nb101([pruned]))).abs().max() < 1e-6
        assert (raw - m(encoding.encode_nb101([spec]))).abs().max() < 1e-6


# ---- losses ------------------------------------------------------------------------------------------

def random_pairs(n=40, P=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(n, dtype=torch.float64, generator=g, requires_grad=True)
    pairs = torch.randint(0, n, (P, 2), generator=g)
    y = torch.where(torch.rand(P, generator=g) < 0.5, 1.0, -1.0).double()
    return s, pairs, y


def test_hinge_and_bce_match_plain_torch():
    s, pairs, y = random_pairs()
    diff = s[pairs[:, 1]] - s[pairs[:, 0]]
    for ours, ref in ((losses.hinge_loss(s, pairs, y, 0.1), torch.clamp(0.1 - y * diff, min=0).mean()),
                      (losses.bce_pair_loss(s, pairs, y),
                       F.binary_cross_entropy(torch.sigmoid(diff), (y > 0).double()))):
        torch.testing.assert_close(ours, ref)
        g1, = torch.autograd.grad(ours, s, retain_graph=True)
        g2, = torch.autograd.grad(ref, s, retain_graph=True)
        torch.testing.assert_close(g1, g2)


def test_comparator_loss_matches_reference():
    g = torch.Generator().manual_seed(1)
    l12, l21 = torch.randn(50, generator=g), torch.randn(50, generator=g)
    y = torch.where(torch.rand(50, generator=g) < 0.5, 1.0, -1.0)
    t = (y > 0).float()
    ref = -(t * torch.log(torch.sigmoid(l12)) + (1 - t) * torch.log(1 - torch.sigmoid(l12))).mean() / 2 \
        - ((1 - t) * torch.log(torch.sigmoid(l21)) + t * torch.log(1 - torch.sigmoid(l21))).mean() / 2
    torch.testing.assert_close(losses.comparator_loss(l12, l21, y), ref)


def test_listmle_matches_loop_reference():
    g = torch.Generator().manual_seed(2)
    s = torch.randn(7, 5, dtype=torch.float64, generator=g) * 3
    per_list_mean, per_list_sum = [], []
    for row in s.tolist():
        terms = [np.log(sum(np.exp(row[j]) for j in range(k, len(row)))) - row[k] for k in range(len(row))]
        per_list_mean.append(np.mean(terms))
        per_list_sum.append(np.sum(terms))
    assert losses.listmle_loss(s).item() == pytest.approx(np.mean(per_list_mean), rel=1e-12)
    assert losses.listmle_loss(s, "sum").item() == pytest.approx(np.mean(per_list_sum), rel=1e-12)
    with pytest.raises(ValueError, match="reduction"):
        losses.listmle_loss(s, "max")


def test_regression_loss():
    s, acc = torch.tensor([0.0, 2.0, -1.0]), torch.tensor([0.5, 0.9, 0.1])
    ref = ((1 / (1 + np.exp(-s.numpy())) - acc.numpy()) ** 2).mean()
    assert losses.regression_loss(s, acc).item() == pytest.approx(ref, rel=1e-6)


# ---- pair and list sampling (REFERENCES A1.5, A1.6) ------------------------------------------------

def test_sample_pairs_properties():
    rng = np.random.default_rng(0)
    acc = np.round(rng.random(512), 2)  # many exact ties
    pairs, labels = sample_pairs(acc, rng)
    assert len(pairs) == 4 * 512
    a1, a2 = pairs[:, 0], pairs[:, 1]
    assert (a2 < a1).all()  # (a1, a2) = (j, i) for i < j
    assert (acc[a1] != acc[a2]).all()  # no ties
    assert np.array_equal(labels, np.where(acc[a2] > acc[a1], 1.0, -1.0))
    assert len({tuple(p) for p in pairs.tolist()}) == len(pairs)  # no pair twice
    # small batch: every non-tied pair is kept
    small = np.array([0.3, 0.1, 0.3, 0.9, 0.5])
    p, y = sample_pairs(small, rng)
    assert len(p) == 10 - 1
    # threshold and the "diff" criterion
    p, _ = sample_pairs(small, rng, threshold=0.25)
    assert all(abs(small[i] - small[j]) > 0.25 for i, j in p)
    p, _ = sample_pairs(acc, rng, max_compare_ratio=0.5, choice="diff")
    gaps = np.abs(acc[p[:, 0]] - acc[p[:, 1]])
    assert len(p) == 256 and gaps.min() >= np.sort(np.abs(acc[:, None] - acc[None]).ravel())[::-1][2 * 256 - 1]


def test_sample_pairs_is_uniform_over_kept_pairs():
    rng = np.random.default_rng(1)
    acc = rng.random(20)  # 190 pairs, keep 80 each time
    counts = np.zeros((20, 20))
    for _ in range(2000):
        p, _ = sample_pairs(acc, rng)
        np.add.at(counts, (p[:, 0], p[:, 1]), 1)
    kept = counts[np.tril_indices(20, -1)]
    assert kept.min() > 0.8 * 2000 * 80 / 190 and kept.max() < 1.2 * 2000 * 80 / 190


def test_sample_lists():
    rng = np.random.default_rng(2)
    acc = rng.random(50)
    lists = sample_lists(acc, rng, 300, 6)
    assert lists.shape == (300, 6)
    assert all(len(set(row)) == 6 for row in lists.tolist())
    assert (np.diff(acc[lists], axis=1) <= 0).all()
    assert sample_lists(acc, rng, 10, 40).shape == (10, 40)  # dense case
    assert listwise_batches(381262, 512, 4, 4) == round(381262 / 2048 * 4)
    assert listwise_batches(100, 512, 4, 4) == 8


# ---- the predictor -------------------------------------------------------------------------------------

def nb201_split(n_train=500, n_test=2000, seed=0):
    acc = tabular.load("nb201").column(NB201_C10V)
    perm = np.random.default_rng(seed).permutation(nb201.NUM_ARCHS)
    tr, te = perm[:n_train], perm[n_train:n_train + n_test]
    return tr, acc[tr], te, acc[te]


def test_smoke_training_nb201_kendall_tau():
    # GATES + hinge with the paper's NB201 config (A1.3), 40 epochs on 500 random archs: 40 steps of
    # <= 2000 pairs. Measured tau 0.72-0.76 (3 splits x 3 seeds, ~3 s on 2 cores); 0.65 leaves margin.
    threads = torch.get_num_threads()
    torch.set_num_threads(min(2, threads))
    try:
        tr, acc_tr, te, acc_te = nb201_split()
        p = GATESPredictor("nb201").fit(tr, acc_tr, epochs=40, seed=0)
    finally:
        torch.set_num_threads(threads)  # later tests must not depend on this one having run
    tau = metrics.kendall_tau(acc_te, p.score(te))
    assert tau > 0.65, tau
    assert p.history[-1] < p.history[0]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_adam_is_fused_and_steps_as_the_per_parameter_loop(dtype):
    torch.manual_seed(0)
    net = NB101GATES().to(dtype)
    ref, start = copy.deepcopy(net), copy.deepcopy(net)
    enc = encoding.encode_nb101((npz_array(NB101_MAIN, "adjacency")[:8], npz_array(NB101_MAIN, "ops")[:8]))
    opt, ref_opt = adam(net.parameters(), lr=1e-2, weight_decay=1e-4), torch.optim.Adam(
        ref.parameters(), lr=1e-2, weight_decay=1e-4, foreach=False)
    assert opt.defaults["fused"] and not ref_opt.defaults["fused"]
    for _ in range(3):
        for model, o in ((net, opt), (ref, ref_opt)):
            o.zero_grad()
            model(enc).square().sum().backward()
            o.step()
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    for p, q in zip(net.parameters(), ref.parameters()):
        torch.testing.assert_close(p, q, rtol=tol, atol=tol)
    assert all((p - p0).abs().max() > 1e-3 for p, p0 in zip(net.parameters(), start.parameters()) if p.requires_grad)


def test_fit_is_deterministic_and_chunking_does_not_change_scores():
    tr, acc_tr, te, _ = nb201_split(200, 300)
    cfg = dict(layers=(32, 32), mlp_hidden=(32,), epochs=3)
    p1 = GATESPredictor("nb201", **cfg).fit(tr, acc_tr, seed=3)
    p2 = GATESPredictor("nb201", **cfg).fit(tr, acc_tr, seed=3)
    s = p1.score(te)
    assert s.dtype == np.float64 and s.shape == (300,)
    assert np.array_equal(s, p2.score(te))
    assert np.array_equal(s, p1.score(te, chunk_size=7))
    assert not np.array_equal(s, GATESPredictor("nb201", **cfg).fit(tr, acc_tr, seed=4).score(te))


@pytest.mark.parametrize("loss", ["hinge", "comparator"])
def test_save_load_round_trip(tmp_path, loss):
    tr, acc_tr, te, _ = nb201_split(200, 300)
    p = GATESPredictor("nb201", loss=loss, layers=(32, 32), mlp_hidden=(32,), num_references=17).fit(
        tr, acc_tr, epochs=2)
    path = tmp_path / "p.pt"
    p.save(path)
    torch.load(path, weights_only=True)  # plain content only
    q = GATESPredictor.load(path)
    assert (q.space, q.encoder, q.loss, q.config) == (p.space, p.encoder, p.loss, p.config)
    assert np.array_equal(p.score(te), q.score(te))
    assert np.array_equal(p.score(te), q.score(te, chunk_size=11))


@pytest.mark.parametrize("space", ["nb101", "nb201", "darts"])
@pytest.mark.parametrize("encoder", ["gates", "mlp", "gcn", "gcn_global"])
def test_every_encoder_fits_every_space(space, encoder):
    archs = {"nb101": nb101_specs(60), "nb201": np.arange(0, 15000, 250), "darts": darts_genotypes(60)}[space]
    acc = np.random.default_rng(0).random(60)
    p = GATESPredictor(space, encoder=encoder, layers=(16, 16), mlp_hidden=(16,), mlp_encoder_hidden=(16,),
                       batch_size=32).fit(archs, acc, epochs=2)
    s = p.score(archs, chunk_size=25)
    assert s.shape == (60,) and np.isfinite(s).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("space", ["nb101", "nb201", "darts"])
@pytest.mark.parametrize("loss", ["hinge", "comparator"])
def test_cuda_scores_and_gradients_match_cpu(space, loss):
    """A fitted predictor scores the same on both devices (the encoders' CUDA path: gates_aggregate
    per layer), and one training batch gives the same loss and gradients (the CUDA backward kernels).
    Whole fits are not compared: Adam's first steps amplify float32 rounding differences."""
    archs = {"nb101": nb101_specs(300), "nb201": np.arange(0, 15000, 50), "darts": darts_genotypes(300)}[space]
    acc = np.random.default_rng(1).random(300)
    p = GATESPredictor(space, loss=loss, layers=(32, 32), mlp_hidden=(32,), batch_size=64).fit(archs, acc, epochs=1)
    cpu_net = copy.deepcopy(p.net)
    cpu = p.score(archs, chunk_size=70)
    gpu = p.to("cuda").score(archs, chunk_size=70)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-4, atol=1e-5)
    results = []
    for net, device in ((cpu_net, "cpu"), (p.net, "cuda")):
        net.eval()  # no dropout: the two devices' random streams differ
        value = _batch_loss(net, encoding.to_device(p.encode(archs[:64]), device), acc[:64],
                            torch.as_tensor(acc[:64], dtype=torch.float32, device=device), np.random.default_rng(0),
                            loss=loss, margin=0.1, max_compare_ratio=4.0, compare_threshold=0.0, pair_choice="random")
        params = [q for q in net.parameters() if q.requires_grad]
        grads = torch.autograd.grad(value, params, allow_unused=True)
        results.append((float(value), [None if g is None else g.cpu() for g in grads]))
    assert results[1][0] == pytest.approx(results[0][0], rel=1e-4)
    for g_cpu, g_gpu in zip(results[0][1], results[1][1]):
        assert (g_cpu is None) == (g_gpu is None)
        if g_cpu is not None:
            assert float((g_gpu - g_cpu).norm()) <= 1e-4 * float(g_cpu.norm()) + 1e-7


@pytest.mark.parametrize("loss", ["hinge", "bce", "comparator", "listmle", "regression"])
def test_every_loss_trains(loss):
    tr, acc_tr, te, acc_te = nb201_split(200, 500)
    p = GATESPredictor("nb201", loss=loss, layers=(32, 32), mlp_hidden=(64,), batch_size=64).fit(tr, acc_tr,
                                                                                                 epochs=8)
    assert p.history[-1] < p.history[0]
    # regression (MSE on sigmoid scores) needs many more steps to order archs (slides, loss table)
    assert metrics.kendall_tau(acc_te, p.score(te)) > (0.0 if loss == "regression" else 0.2)


def test_regression_warns_when_its_scores_saturate_the_sigmoid():
    """A regression fit whose scores end in sigmoid's flat tail has stalled (the NB101 reproduction's
    collapsed runs, reproductions/gates-nb101.md): fit says so. A large lr forces it here; the
    paper's lr on a few epochs stays in range and must not warn."""
    import warnings

    tr, acc_tr, _, _ = nb201_split(160, 10)
    small = dict(layers=(16, 16), mlp_hidden=(16,), batch_size=64)
    with pytest.warns(RuntimeWarning, match="regression fit saturated"):
        p = GATESPredictor("nb201", loss="regression", lr=0.1, **small).fit(tr, acc_tr, epochs=30)
    assert np.mean(np.abs(p.score(tr)) > GATESPredictor.SATURATED_SCORE) > 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        p = GATESPredictor("nb201", loss="regression", **small).fit(tr, acc_tr, epochs=5)
    assert np.median(np.abs(p.score(tr))) < GATESPredictor.SATURATED_SCORE


@pytest.mark.parametrize("loss", ["hinge", "bce", "listmle"])
def test_score_per_use_runs_the_head_once_per_pair_member_or_list_element(loss):
    """aw_nas scores the two sides of its pairs in separate passes and every list element on its
    own, so each occurrence of an arch draws its own dropout mask (network.COMMON["score_per"]).
    Without dropout the two ways are the same computation: equal loss histories."""
    tr, acc_tr, _, _ = nb201_split(120, 10)
    rows = {}

    def fit(score_per, dropout):
        p = GATESPredictor("nb201", loss=loss, layers=(16, 16), mlp_hidden=(16,), batch_size=64, dropout=dropout,
                           score_per=score_per)
        seen = []  # rows reaching the head's last layer: one per use, or one per arch
        p.net.head.mlp[-1].register_forward_hook(lambda m, inp, out: seen.append(inp[0].shape[0]))
        p._build = lambda seed, net=p.net: net  # keep the hooked network
        p.fit(tr, acc_tr, epochs=2, seed=3)
        rows[score_per] = seen
        return p.history

    np.testing.assert_allclose(fit("use", 0.0), fit("arch", 0.0), rtol=2e-4)  # float32 sums in another order
    if loss == "listmle":  # batch_size lists of list_length, each element a head row
        assert set(rows["use"]) == {64 * 4} and max(rows["arch"]) <= 120
    else:  # 2 rows per sampled pair (4 pairs per arch of the minibatch) vs one per arch
        assert set(rows["use"]) == {2 * 4 * 64, 2 * 4 * 56} and set(rows["arch"]) == {64, 56}
    a, b = fit("use", 0.5), fit("arch", 0.5)  # with dropout the draws differ
    assert not np.allclose(a, b)


def test_head_forward_uses_equals_forward_on_the_gathered_rows():
    from nasfast.predictors.heads import PointwiseHead

    torch.manual_seed(0)
    emb, uses = torch.randn(10, 8, dtype=torch.float64), torch.randint(0, 10, (37,))
    for hidden in ((16,), (16, 12), ()):
        head = PointwiseHead(8, hidden, dropout=0.3).double().eval()
        torch.testing.assert_close(head.forward_uses(emb, uses), head(emb[uses]))
        head.train()  # with dropout on, rows that gather the same arch get different draws
        s = head.forward_uses(emb, torch.zeros(50, dtype=torch.long))
        assert (len(torch.unique(s)) > 1) == bool(hidden)


def test_head_forward_uses_in_training_draws_the_compiled_ops_masks():
    """Training mode: the first ReLU's output gathered with the compiled dropout (fused with the
    last Linear for one hidden layer), the mask seeded from torch's generator; unbiased."""
    from nasfast.ops.gather_dropout import draw_seed, gather_dropout
    from nasfast.predictors.heads import PointwiseHead

    emb, uses = torch.randn(10, 8, dtype=torch.float64), torch.randint(0, 10, (37,))
    for hidden in ((16,), (16, 12)):
        head = PointwiseHead(8, hidden, dropout=0.3).double().train()
        (linear, act, _), *rest = head.mlp
        torch.manual_seed(4)
        got = head.forward_uses(emb, uses)
        torch.manual_seed(4)
        h = gather_dropout(act(linear(emb)), uses, 0.3, draw_seed())
        for layer in rest:
            h = layer(h)
        torch.testing.assert_close(got, h.squeeze(-1))
        if len(hidden) == 1:  # linear in the mask: the mean over draws tends to the eval score
            mean = torch.stack([head.forward_uses(emb, uses) for _ in range(4000)]).mean(0)
            torch.testing.assert_close(mean, head.eval()(emb[uses]), atol=0.02, rtol=0)


def test_comparator_scores_are_antisymmetric_win_rates():
    tr, acc_tr, te, _ = nb201_split(100, 50)
    p = GATESPredictor("nb201", loss="comparator", layers=(16,), mlp_hidden=(16,)).fit(tr, acc_tr, epochs=2)
    emb = p.net.embed(p.encode(te[:10]))
    with torch.no_grad():
        pab, pba = p.net.head.prob_better(emb[:5], emb[5:]), p.net.head.prob_better(emb[5:], emb[:5])
    torch.testing.assert_close(pab + pba, torch.ones(5))
    s = p.score(te)
    assert ((s >= 0) & (s <= 1)).all()


@pytest.mark.parametrize("choice", ["random", "top"])
def test_comparator_reference_choice(choice):
    tr, acc_tr, _, _ = nb201_split(100, 10)
    p = GATESPredictor("nb201", loss="comparator", layers=(8,), mlp_hidden=(8,), num_references=10,
                       reference_choice=choice).fit(tr, acc_tr, epochs=1)
    refs = p.net.references()
    top10 = np.asarray(tr)[np.sort(np.argsort(-np.asarray(acc_tr), kind="stable")[:10])]  # the best, index order
    same = all(torch.equal(refs[k], v) for k, v in p.encode(top10).items())
    # "random": 10 of 100 archs happen to be exactly the best 10 with probability ~6e-14
    assert same == (choice == "top")


def test_config_and_input_errors():
    with pytest.raises(ValueError, match="reference_choice"):
        GATESPredictor("nb201", reference_choice="best")
    with pytest.raises(ValueError, match="unknown config key"):
        GATESPredictor("nb201", layer=(3,))
    with pytest.raises(ValueError, match="unknown space"):
        GATESPredictor("nb999")
    with pytest.raises(ValueError, match="unknown loss"):
        GATESPredictor("nb201", loss="mse")
    p = GATESPredictor("nb201", layers=(8,), mlp_hidden=(8,))
    with pytest.raises(ValueError, match="accuracies"):
        p.fit(np.arange(5), np.arange(4.0))
    with pytest.raises(ValueError, match="NaN"):
        p.fit(np.arange(3), [1.0, np.nan, 2.0])
    with pytest.raises(ValueError, match=r"invalid nb101 architecture '\|none~0\|': expected \{\"matrix\""):
        with pytest.warns(RuntimeWarning, match="before fit"):
            GATESPredictor("nb101").score(["|none~0|"])
    # settings that would train nothing, or train to NaN, silently
    for bad, match in ((dict(margin=float("nan")), "margin"), (dict(acc_scale=0), "acc_scale"),
                       (dict(max_compare_ratio=0), "max_compare_ratio"), (dict(pair_choice="rand"), "pair_choice"),
                       (dict(compare_threshold=-1), "compare_threshold"), (dict(layers=8), "list of layer widths"),
                       (dict(seed=-1), "seed must be a non-negative integer"), (dict(seed=1.5), "seed"),
                       (dict(residual_only="x"), "residual_only must be a non-negative"),
                       (dict(residual_only=None), "residual_only"), (dict(pairing="zz"), "pairing"),
                       (dict(listmle_reduction="median"), "listmle_reduction"), (dict(op_dim=0), "op_dim")):
        with pytest.raises(ValueError, match=match):
            GATESPredictor("nb201", **bad)
    for bad, match in ((dict(residual_only=-1), "None or a non-negative"), (dict(plus_I="no"), "plus_I"),
                       (dict(readout="max"), "readout")):
        with pytest.raises(ValueError, match=match):
            GATESPredictor("nb101", **bad)
    GATESPredictor("nb101", residual_only=None, plus_I=True)  # the NB101 search config's settings
    for loss in ("hinge", "bce", "comparator", "listmle"):
        with pytest.raises(ValueError, match="no training pair"):
            GATESPredictor("nb201", loss=loss, layers=(8,), mlp_hidden=(8,)).fit(np.arange(8), np.full(8, 0.9))
    with pytest.raises(ValueError, match="compare_threshold 0.5"):
        GATESPredictor("nb201", compare_threshold=0.5).fit(np.arange(8), np.linspace(0.5, 0.9, 8))


def test_a_failed_fit_leaves_the_predictor_as_it_was():
    archs, acc = np.arange(0, 15625, 300), np.linspace(0.5, 0.9, 53)
    p = GATESPredictor("nb201", loss="listmle", layers=(8,), mlp_hidden=(8,), epochs=2).fit(archs, acc)
    scores, history = p.score(np.arange(5)), list(p.history)
    with pytest.raises(ValueError, match="list"):
        p.fit(archs[:3], acc[:3])  # 3 archs, lists of 4: fails before the first step
    assert p.fitted and p.history == history and np.array_equal(p.score(np.arange(5)), scores)
    q = GATESPredictor("nb201", loss="listmle", layers=(8,), mlp_hidden=(8,))
    with pytest.raises(ValueError, match="list"):
        q.fit(archs[:3], acc[:3])
    assert not q.fitted

    def stop_after_first_epoch(epoch, loss):  # Ctrl-C after optimiser steps have changed the weights
        raise KeyboardInterrupt
    for warm_start in (False, True):
        with pytest.raises(KeyboardInterrupt):
            p.fit(archs, acc, epochs=3, warm_start=warm_start, progress=stop_after_first_epoch)
        assert p.fitted and p.history == history and np.array_equal(p.score(np.arange(5)), scores)


def test_a_fit_that_takes_no_step_is_an_error_not_a_zero_loss():
    archs, acc = np.arange(0, 15625, 300), np.linspace(0.5, 0.9, 53)
    for loss in ("hinge", "bce", "comparator"):
        p = GATESPredictor("nb201", loss=loss, layers=(8,), mlp_hidden=(8,), epochs=2, batch_size=1)
        with pytest.raises(ValueError, match="no training step: no minibatch of batch_size=1"):
            p.fit(archs, acc)
        assert not p.fitted


def test_lone_archs_and_an_unfitted_comparator():
    p = GATESPredictor("nb201", layers=(8,), mlp_hidden=(8,))
    with pytest.warns(RuntimeWarning, match="before fit"):
        assert p.score(5).shape == (1,) and p.score(np.int64(5)).shape == (1,)
    with pytest.raises(TypeError, match="NB201 archs must be .* got NoneType"), pytest.warns(RuntimeWarning):
        p.score(None)
    with pytest.raises(ValueError, match=r"comparator .* fit\(\) it first"), pytest.warns(RuntimeWarning):
        GATESPredictor("nb201", loss="comparator", layers=(8,), mlp_hidden=(8,)).score([0, 1])


def test_score_before_fit_warns_and_a_fitted_or_loaded_model_does_not(tmp_path):
    p = GATESPredictor("nb201", layers=(8,), mlp_hidden=(8,), batch_size=16)
    with pytest.warns(RuntimeWarning, match=r"score\(\) before fit\(\)"):
        p.score(np.arange(5))
    p.save(tmp_path / "untrained.pt")
    with pytest.warns(RuntimeWarning, match="before fit"):
        GATESPredictor.load(tmp_path / "untrained.pt").score(np.arange(5))
    p.fit(np.arange(0, 15000, 500), np.linspace(0, 1, 30), epochs=1)
    p.save(tmp_path / "trained.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p.score(np.arange(5))
        GATESPredictor.load(tmp_path / "trained.pt").score(np.arange(5))


def test_nb101_array_batches_are_encoded_a_chunk_at_a_time():
    """Scores of an (adjacency, ops) batch do not depend on the chunking (the default micro-batch is
    one shape for all), and a bad graph in a later chunk is named with its chunk's start."""
    adj, ops = npz_array(NB101_MAIN, "adjacency")[:300], npz_array(NB101_MAIN, "ops")[:300]
    p = GATESPredictor("nb101", layers=(16, 16), mlp_hidden=(16,))
    p._trained = True  # an untrained net is enough to compare chunkings; silence score()'s warning
    whole = p.score((adj, ops), chunk_size=4096, micro_batch=64)
    assert whole.shape == (300,) and np.isfinite(whole).all()
    assert np.array_equal(p.score((adj, ops), chunk_size=64, micro_batch=64), whole)
    assert np.array_equal(p.score([nb101.Spec(a, o) for a, o in zip(adj, ops)], micro_batch=64), whole)
    bad = ops.copy()
    bad[200, 0] = 0  # graph 200 loses its input label
    with pytest.raises(ValueError, match="NB101 graph 8: .*chunk that starts at arch 192"):
        p.score((adj, bad), chunk_size=64, micro_batch=64)


def test_bad_settings_devices_and_model_files_are_named(tmp_path):
    with pytest.raises(ValueError, match="epochs must be a positive integer, got -1"):
        GATESPredictor("nb201", epochs=-1)
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        GATESPredictor("nb201", batch_size=0)
    p = GATESPredictor("nb201", layers=(8,), mlp_hidden=(8,))
    for bad in (0, 2.5):  # 2.5 used to train 2 epochs
        with pytest.raises(ValueError, match=f"epochs must be a positive integer, got {bad}"):
            p.fit(np.arange(4), np.arange(4.0), epochs=bad)
    with pytest.raises(IsADirectoryError, match="is a directory; give a file path"):
        p.save(tmp_path)
    with pytest.raises(FileNotFoundError, match="no directory"):
        p.save(tmp_path / "missing" / "p.pt")
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        GATESPredictor("nb201", device="gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no usable CUDA"):
            GATESPredictor("nb201", device="cuda")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(bytes(range(100)))
    with pytest.raises(ValueError, match="not a readable saved GATESPredictor"):
        GATESPredictor.load(junk)


def test_damaged_old_and_incomplete_model_files_are_named(tmp_path):
    p = GATESPredictor("nb201", layers=(8,), mlp_hidden=(8,), epochs=1).fit(np.arange(0, 15625, 300),
                                                                            np.linspace(0.5, 0.9, 53))
    path = tmp_path / "p.pt"
    p.save(path)
    data = bytearray(path.read_bytes())
    import zipfile

    with zipfile.ZipFile(path) as z:  # zero 16 bytes inside the largest stored tensor
        info = max(z.infolist(), key=lambda i: i.file_size)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + info.file_size // 2
    data[start:start + 16] = bytes(16)
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged.pt' is damaged: its member .* fails its checksum"):
        GATESPredictor.load(damaged)
    blob = torch.load(path, weights_only=True)
    for key, value, match in (("format", "nasfast.GATESPredictor/0", r"found 'nasfast.GATESPredictor/0'"),
                              ("history", None, "incomplete saved GATESPredictor: no history")):
        changed = dict(blob)
        if value is None:
            del changed[key]
        else:
            changed[key] = value
        torch.save(changed, tmp_path / "x.pt")
        with pytest.raises(ValueError, match=match):
            GATESPredictor.load(tmp_path / "x.pt")
    changed = dict(blob, config={**blob["config"], "layers": [16]})
    torch.save(changed, tmp_path / "y.pt")
    with pytest.raises(ValueError, match="weights do not fit the network its config describes"):
        GATESPredictor.load(tmp_path / "y.pt")

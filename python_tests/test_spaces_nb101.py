"""NB101 space: validation, pruning, the benchmark fingerprint, canonical hash, aw_nas form, mutation."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nasfast.data import data_path
from nasfast.spaces import nb101
from nasfast.spaces.nb101 import Spec
from python_tests.reference_graph_hash import nb101_module_hash, prune

BAD = (ValueError, TypeError)


@pytest.fixture(scope="module")
def subset():
    with np.load(data_path("nb101", "nb101_subset_30k.npz")) as z:
        return {k: z[k] for k in ("key", "adjacency", "ops")}


@pytest.fixture(scope="module")
def naslib():
    with np.load(data_path("nb101", "nb101_zc_naslib_500.npz")) as z:
        return {k: z[k] for k in ("key", "adjacency", "ops", "raw_adjacency", "raw_ops")}


def reference_valid(adj: np.ndarray, ops: list[int]) -> bool:
    """The benchmark's rule, restated with the plain-Python pruning of the reference module."""
    pruned = prune(np.asarray(adj), list(ops))
    return pruned is not None and len(pruned[1]) <= 7 and int(pruned[0].sum()) <= 9


CHAIN = ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [-1, 0, -2])


# ---- bundled data -------------------------------------------------------------------------------

def test_subset_specs_round_trip_padded_and_aw_nas(subset):
    for adj, ops in zip(subset["adjacency"], subset["ops"]):
        spec = Spec(adj, ops)
        pa, po = spec.padded(7)
        assert np.array_equal(pa, adj) and np.array_equal(po, ops)
        aw_adj, aw_ops = nb101.to_aw_nas(spec)
        assert aw_ops[6] == nb101.OUTPUT and aw_ops[0] == nb101.INPUT
        n = spec.num_vertices
        # aw_nas keeps the output at index 6: its in-edges are the output column of our matrix
        assert np.array_equal(aw_adj[: n - 1, 6], spec.adjacency[: n - 1, n - 1])
        assert (aw_ops[n - 1:6] == nb101.AW_NAS_NONE).all()
        assert nb101.from_aw_nas(aw_adj, aw_ops if n % 2 else aw_ops[1:-1]) == spec  # both op forms


def test_aw_nas_op_numbering():
    spec = Spec([[0, 1, 1, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0] * 5],
                ["input", "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3", "output"])
    adj, ops = nb101.to_aw_nas(spec)
    assert ops.tolist() == [-1, 1, 0, 2, 3, 3, -2]  # aw_nas: conv1x1 = 0, conv3x3 = 1, none = 3
    assert [nb101.AW_NAS_OPS[i] for i in ops[1:4]] == ["conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"]
    assert adj[:, 6].tolist() == [0, 1, 1, 1, 0, 0, 0]


def test_raw_specs_prune_to_stored(naslib):
    assert naslib["raw_adjacency"].sum(axis=(1, 2)).max() > 9  # raw edge counts are not limited
    pa, po = nb101.prune_batch(naslib["raw_adjacency"], naslib["raw_ops"])
    assert np.array_equal(pa, naslib["adjacency"]) and np.array_equal(po, naslib["ops"])
    for dtype in (np.int8, np.int64, np.float32):  # int8 is checked in int8 (the fast path), the rest in int64
        pa, po = nb101.prune_batch(naslib["raw_adjacency"].astype(dtype), naslib["raw_ops"].astype(dtype))
        assert np.array_equal(pa, naslib["adjacency"]) and np.array_equal(po, naslib["ops"])
    assert nb101.fingerprint(naslib["raw_adjacency"].astype(np.int8), naslib["raw_ops"].astype(np.int8)) == \
        nb101.fingerprint(naslib["raw_adjacency"].astype(np.int64), naslib["raw_ops"].astype(np.int64))
    for raw_a, raw_o, adj, ops in zip(naslib["raw_adjacency"], naslib["raw_ops"],
                                      naslib["adjacency"], naslib["ops"]):
        spec = Spec(raw_a, raw_o)
        assert np.array_equal(spec.padded()[0], adj) and np.array_equal(spec.padded()[1], ops)
        assert np.array_equal(spec.original_adjacency, raw_a)


def test_fingerprint_equals_every_stored_key(subset, naslib):
    fp = nb101.fingerprint(subset["adjacency"], subset["ops"])
    assert sum(a == b for a, b in zip(fp, subset["key"])) == 30001
    raw = nb101.fingerprint(torch.from_numpy(naslib["raw_adjacency"]), torch.from_numpy(naslib["raw_ops"]))
    assert raw == naslib["key"].tolist()
    assert nb101.fingerprint(naslib["adjacency"], naslib["ops"]) == naslib["key"].tolist()


def test_fingerprint_matches_plain_python_reference(naslib):
    for a, o in zip(naslib["raw_adjacency"][:50], naslib["raw_ops"][:50]):
        assert Spec(a, o).fingerprint() == nb101_module_hash(a, o)


def test_fingerprint_single_graph_and_empty_batch(subset):
    assert nb101.fingerprint(subset["adjacency"][3], subset["ops"][3]) == [subset["key"][3]]
    assert nb101.fingerprint(np.zeros((0, 7, 7), np.int8), np.zeros((0, 7), np.int8)) == []


def test_fingerprint_names_first_bad_graph(subset):
    adj, ops = subset["adjacency"][:10].copy(), subset["ops"][:10].copy()
    adj[7, 6, 0] = 1
    with pytest.raises(ValueError, match=r"graph 7: adjacency entry \(6, 0\) = 1 is on or below"):
        nb101.fingerprint(adj, ops)
    adj[7, 6, 0] = 0
    ops[4, 0] = 0
    with pytest.raises(ValueError, match=r"graph 4: first vertex has label 0, expected -1"):
        nb101.canonical_hash(adj, ops)


# ---- canonical hash -----------------------------------------------------------------------------

def _permute_interior(adj: np.ndarray, ops: np.ndarray, rng: np.random.Generator):
    m = int((ops != nb101.PAD).sum())
    perm = np.arange(len(ops))
    perm[1: m - 1] = 1 + rng.permutation(m - 2)
    return adj[np.ix_(perm, perm)], ops[perm]


def test_canonical_hash_invariant_under_relabelling(subset):
    rng = np.random.default_rng(0)
    rows = rng.choice(30001, size=3000, replace=False)
    adj, ops = subset["adjacency"][rows], subset["ops"][rows]
    perm = [_permute_interior(a, o, rng) for a, o in zip(adj, ops)]
    padj, pops = np.stack([p[0] for p in perm]), np.stack([p[1] for p in perm])
    assert nb101.canonical_hash(adj, ops) == nb101.canonical_hash(padj, pops)
    from nasfast.ops import graph_hash  # the op itself, on the same free relabellings

    direct = graph_hash.graph_canonical_hash(torch.from_numpy(padj), torch.from_numpy(pops), True)
    assert graph_hash.digests_to_hex(direct) == nb101.canonical_hash(adj, ops)


def test_canonical_partition_equals_key_partition(subset, naslib):
    adj = np.concatenate([subset["adjacency"], naslib["raw_adjacency"], naslib["adjacency"]])
    ops = np.concatenate([subset["ops"], naslib["raw_ops"], naslib["ops"]])
    keys = list(subset["key"]) + list(naslib["key"]) * 2
    canon = nb101.canonical_hash(adj, ops)
    assert len(set(canon[:30001])) == 30001
    by_key: dict[str, set[str]] = {}
    for k, c in zip(keys, canon):
        by_key.setdefault(k, set()).add(c)
    assert all(len(v) == 1 for v in by_key.values())
    assert len(set(canon)) == len(by_key)


# ---- Spec behaviour and messages ----------------------------------------------------------------

def test_spec_basics():
    s = Spec(*CHAIN)
    assert s.num_vertices == 3 and s.num_edges == 2 and s.ops == (-1, 0, -2)
    assert s == Spec(np.array(CHAIN[0]), torch.tensor(CHAIN[1])) and hash(s) == hash(Spec(*CHAIN))
    assert s == Spec([[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]], [-1, 0, -2, -3])
    assert eval(repr(s), {"Spec": Spec}) == s
    with pytest.raises(AttributeError):
        s.ops = (1,)
    raw = Spec([[0, 1, 1], [0, 0, 0], [0, 0, 0]], [-1, 2, -2])  # vertex 1 is pruned away
    for clone in (pickle.loads(pickle.dumps(raw)), copy.deepcopy(raw)):
        assert clone == raw and clone.original_ops == raw.original_ops
    with pytest.raises(ValueError):
        s.adjacency[0, 1] = 0
    with pytest.raises(ValueError, match="cannot pad"):
        s.padded(2)


def test_pruning_drops_dead_vertices():
    # vertex 2 (maxpool) has no path to the output, vertex 3 none from the input
    adj = np.zeros((6, 6), int)
    adj[0, 1] = adj[1, 5] = adj[0, 2] = adj[3, 4] = adj[4, 5] = 1
    s = Spec(adj, [-1, 0, 2, 1, 1, -2])
    assert s.ops == (-1, 0, -2) and s.adjacency.tolist() == [[0, 1, 0], [0, 0, 1], [0, 0, 0]]
    assert s.original_ops == (-1, 0, 2, 1, 1, -2)


@pytest.mark.parametrize("adj, ops, message", [
    ([[0, 2], [0, 0]], [-1, -2], r"entry \(0, 1\) = 2, expected 0 or 1"),
    ([[0, 1], [1, 0]], [-1, -2], r"entry \(1, 0\) = 1 is on or below the diagonal"),
    ([[1, 1], [0, 0]], [-1, -2], r"entry \(0, 0\) = 1 is on or below"),
    ([[0, 1], [0, 0]], [0, -2], "first vertex has label 0, expected -1"),
    ([[0, 1], [0, 0]], [-1, 0], "last non-padding vertex 1 has label 0, expected -2"),
    ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [-1, -1, -2], "interior vertex 1 has label -1"),
    ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [-1, 3, -2], "vertex 1 has label 3"),
    ([[0, 1, 0], [0, 0, 0], [0, 0, 0]], [-1, -2, -3], None),
    ([[0, 0, 1], [0, 0, 0], [0, 0, 0]], [-1, -3, -2], "padding vertex 1 .* followed by vertex 2"),
    ([[0, 1, 1], [0, 0, 0], [0, 0, 0]], [-1, -2, -3], "padding vertex 2 .* has edges"),
    ([[0, 0, 0], [0, 0, 1], [0, 0, 0]], [-1, 0, -2], "no path from the input to the output"),
    ([[0]], [-1], "1 non-padding vertices, expected at least 2"),
    ([[0, 1, 0], [0, 0, 1]], [-1, 0, -2], r"square 2-D matrix, got shape \(2, 3\)"),
    ([[0, 1], [0, 0]], [-1, 0, -2], r"ops must have 2 labels"),
    ([[0, np.nan], [0, 0]], [-1, -2], r"entry \(0, 1\) = .*nan.* is not an integer"),
    ([[0, 0.5], [0, 0]], [-1, -2], "is not an integer"),
    ([[0, 1], [0]], [-1, -2], "not a rectangular array"),
    ([[0, 1], [0, 0]], ["input", "conv5x5"], "unknown NB101 op name 'conv5x5'"),
])
def test_spec_errors_name_the_problem(adj, ops, message):
    if message is None:
        assert Spec(adj, ops).num_vertices == 2
        return
    with pytest.raises(ValueError, match=message):
        Spec(adj, ops)


def test_limits_apply_after_pruning():
    full = np.triu(np.ones((7, 7), int), 1)  # 21 edges, all on input->output paths
    with pytest.raises(ValueError, match="21 edges after pruning, expected at most 9"):
        Spec(full, [-1, 0, 0, 0, 0, 0, -2])
    dead = np.zeros((7, 7), int)  # vertices 1..5 never reach the output: 11 raw edges, 1 pruned
    dead[0, 6] = 1
    dead[0, 1:6] = dead[1, 2:6] = dead[2, 3] = 1
    assert dead.sum() == 11
    assert Spec(dead, [-1, 0, 0, 0, 0, 0, -2]).num_edges == 1
    big = np.zeros((9, 9), int)
    big[0, 8] = big[0, 1] = big[1, 2] = 1  # 9 raw vertices, 2 after pruning
    assert Spec(big, [-1] + [0] * 7 + [-2]).num_vertices == 2
    chain = np.eye(9, k=1, dtype=int)
    with pytest.raises(ValueError, match="9 vertices after pruning, expected at most 7"):
        Spec(chain, [-1] + [0] * 7 + [-2])


def test_type_errors():
    with pytest.raises(TypeError):
        Spec("abc", [-1, -2])
    with pytest.raises(TypeError):
        Spec([[0, 1j], [0, 0]], [-1, -2])
    with pytest.raises(TypeError):
        nb101.to_aw_nas(CHAIN)


def test_from_aw_nas_rejects_misplaced_none():
    adj = np.zeros((7, 7), int)
    adj[0, 2] = adj[2, 6] = 1
    with pytest.raises(ValueError, match="one block right before the output"):
        nb101.from_aw_nas(adj, [3, 0, 3, 3, 3])
    adj[0, 5] = 1
    with pytest.raises(ValueError, match="have edges"):
        nb101.from_aw_nas(adj, [0, 3, 3, 3, 3])
    with pytest.raises(ValueError, match="must be in 0..3"):
        nb101.from_aw_nas(adj, [0, 4, 3, 3, 3])


# ---- sampling and mutation ----------------------------------------------------------------------

def test_sample_and_mutate_are_valid_and_seeded():
    rng = np.random.default_rng(1)
    specs = [nb101.sample(rng) for _ in range(300)]
    assert all(isinstance(s, Spec) and s.num_edges <= 9 and s.num_vertices <= 7 for s in specs)
    # the benchmark's rejection sampler favours small pruned cells (about 10 % are input->output)
    assert len({s.fingerprint() for s in specs}) > 120
    children = [nb101.mutate(s, rng) for s in specs]
    changed = sum(c.fingerprint() != s.fingerprint() for s, c in zip(specs, children))
    assert 150 < changed < 300  # flips on pruned parts leave some parents unchanged, as in the benchmark
    assert nb101.mutate(specs[0], np.random.default_rng(5)) == nb101.mutate(specs[0], np.random.default_rng(5))


def test_mutate_can_grow_a_small_spec():
    rng = np.random.default_rng(2)
    s = Spec(*CHAIN)
    sizes = set()
    for _ in range(200):
        s = nb101.mutate(s, rng)
        sizes.add(s.num_vertices)
    assert max(sizes) >= 6  # grown from 3 vertices; 7-vertex pruned cells are rare under this mutation


def test_mutate_refuses_a_rate_that_would_retry_forever(monkeypatch):
    s = Spec(*CHAIN)
    for rate in (0, -1, 7, 8.5, float("nan")):
        with pytest.raises(ValueError, match=r"mutation_rate must be in \(0, 7\)"):
            nb101.mutate(s, np.random.default_rng(0), mutation_rate=rate)
    assert isinstance(nb101.mutate(s, np.random.default_rng(0), mutation_rate=6.9), Spec)
    monkeypatch.setattr(nb101, "_MUTATE_TRIES", 3)  # a bound, not a hang, when no valid child turns up
    with pytest.raises(RuntimeError, match="no valid child"):
        nb101.mutate(s, np.random.default_rng(0), mutation_rate=6.99)


# ---- property tests -----------------------------------------------------------------------------

@st.composite
def raw_specs(draw, min_n: int = 2, max_n: int = 8):
    n = draw(st.integers(min_n, max_n))
    adj = np.zeros((n, n), dtype=np.int64)
    iu = np.triu_indices(n, 1)
    adj[iu] = draw(st.lists(st.integers(0, 1), min_size=len(iu[0]), max_size=len(iu[0])))
    ops = [-1] + draw(st.lists(st.integers(0, 2), min_size=n - 2, max_size=n - 2)) + [-2]
    return adj, ops


@settings(max_examples=1000, deadline=None)
@given(raw_specs())
def test_spec_accepts_exactly_the_benchmark_valid_specs(spec):
    adj, ops = spec
    if reference_valid(adj, ops):
        s = Spec(adj, ops)
        assert s.fingerprint() == nb101_module_hash(adj, ops)
    else:
        with pytest.raises(ValueError):
            Spec(adj, ops)


def _valid(spec) -> bool:
    return reference_valid(*spec)


NEAR_MISSES = ["two", "lower", "diagonal", "tenth_edge", "first_op", "last_op", "interior_op",
               "non_square", "ops_length", "nan", "mid_padding", "string"]


@settings(max_examples=1000, deadline=None)
@given(raw_specs(min_n=3, max_n=7).filter(_valid), st.sampled_from(NEAR_MISSES), st.data())
def test_near_miss_specs_are_rejected(spec, kind, data):
    adj, ops = spec[0].copy(), list(spec[1])
    n = len(ops)
    i = data.draw(st.integers(0, n - 2))
    j = data.draw(st.integers(i + 1, n - 1))
    if kind == "two":
        adj[i, j] = 2
    elif kind == "lower":
        adj[j, i] = 1
    elif kind == "diagonal":
        adj[i, i] = 1
    elif kind == "tenth_edge":
        adj = np.eye(7, k=1, dtype=np.int64)  # a 7-vertex chain plus 3 skips: 9 edges, none pruned
        adj[0, 2] = adj[0, 3] = adj[0, 4] = 1
        free = [(a, b) for a in range(7) for b in range(a + 1, 7) if not adj[a, b]]
        adj[data.draw(st.sampled_from(free))] = 1
        ops = [-1, 0, 0, 0, 0, 0, -2]
    elif kind == "first_op":
        ops[0] = data.draw(st.sampled_from([-2, -3, 0, 1, 2, 3]))
    elif kind == "last_op":
        ops[-1] = data.draw(st.sampled_from([-1, 0, 1, 2, 5]))
    elif kind == "interior_op":
        ops[data.draw(st.integers(1, n - 2))] = data.draw(st.sampled_from([-1, -2, 3, 100]))
    elif kind == "non_square":
        adj = adj[:, :-1]
    elif kind == "ops_length":
        ops = ops + [-2]
    elif kind == "nan":
        adj = adj.astype(float)
        adj[i, j] = data.draw(st.sampled_from([np.nan, np.inf, 0.5]))
    elif kind == "mid_padding":
        ops[data.draw(st.integers(1, n - 2))] = -3
    elif kind == "string":
        ops = [str(o) for o in ops]
    with pytest.raises(BAD):
        Spec(adj, ops)


garbage_arrays = st.one_of(
    st.lists(st.lists(st.integers(-4, 4), max_size=8), max_size=8),
    st.lists(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=4), max_size=4),
    st.lists(st.integers(-(2**70), 2**70), max_size=8),
    st.integers(-3, 3), st.text(max_size=5), st.none(),
    st.builds(lambda n, v: np.full((n, n), v), st.integers(0, 8), st.integers(-3, 3)),
    st.builds(lambda a: np.array(a, dtype=np.uint64), st.lists(st.integers(0, 2**64 - 1), max_size=7)),
)


@settings(max_examples=1000, deadline=None)
@given(garbage_arrays, garbage_arrays)
def test_garbage_never_crashes_or_passes_silently(adj, ops):
    try:
        s = Spec(adj, ops)
    except BAD:
        return
    assert reference_valid(s.original_adjacency, list(s.original_ops))


@settings(max_examples=1000, deadline=None)
@given(st.lists(raw_specs(max_n=7), min_size=1, max_size=6))
def test_batch_validation_agrees_with_spec(specs):
    adj = np.zeros((len(specs), 7, 7), np.int64)
    ops = np.full((len(specs), 7), nb101.PAD, np.int64)
    for b, (a, o) in enumerate(specs):
        adj[b, : len(o), : len(o)] = a
        ops[b, : len(o)] = o
    bad = [b for b, s in enumerate(specs) if not _valid(s)]
    if not bad:
        pa, po = nb101.prune_batch(adj, ops)
        for b, (a, o) in enumerate(specs):
            s = Spec(a, o)
            assert np.array_equal(pa[b], s.padded()[0]) and po[b].tolist() == list(s.padded()[1])
    elif len(bad) == 1:
        with pytest.raises(ValueError, match=f"graph {bad[0]}:"):
            nb101.prune_batch(adj, ops)
    else:
        with pytest.raises(ValueError):
            nb101.prune_batch(adj, ops)


@settings(max_examples=1000, deadline=None)
@given(raw_specs(max_n=7).filter(_valid), st.sampled_from(["garbage", "near"]), st.data())
def test_from_aw_nas_garbage_and_near_misses(spec, kind, data):
    aw_adj, aw_ops = nb101.to_aw_nas(Spec(*spec))
    if kind == "garbage":
        adj = data.draw(garbage_arrays)
        ops = data.draw(garbage_arrays)
        try:
            s = nb101.from_aw_nas(adj, ops)
        except BAD:
            return
        assert isinstance(s, Spec)
        return
    i, j = data.draw(st.integers(0, 6)), data.draw(st.integers(0, 6))
    what = data.draw(st.sampled_from(["entry", "op", "none_edge"]))
    if what == "entry":
        aw_adj[i, j] = 2 if i < j else 1  # a 2 above, or any 1 on or below the diagonal
    elif what == "op":
        aw_ops[data.draw(st.sampled_from([0, 6]))] = data.draw(st.sampled_from([0, 1, 2, 3]))
    else:
        nones = np.flatnonzero(aw_ops == nb101.AW_NAS_NONE)
        if len(nones) == 0:
            aw_ops[1] = -5
        else:
            v = int(data.draw(st.sampled_from(nones.tolist())))
            aw_adj[0, v] = 1
    with pytest.raises(BAD):
        nb101.from_aw_nas(aw_adj, aw_ops)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 9))
def test_path_sweep_equals_the_closure(seed, n):
    """The one-sweep keep mask of topologically ordered graphs equals the transitive-closure one."""
    rng = np.random.default_rng(seed)
    B = 50
    adj = np.triu(rng.random((B, n, n)) < rng.uniform(0.1, 0.7), 1).astype(np.int8)
    out = rng.integers(1, n, B)  # the output vertex; later vertices are isolated (padding)
    adj *= (np.arange(n)[None, :, None] <= out[:, None, None]) & (np.arange(n)[None, None, :] <= out[:, None, None])
    reach = nb101._closure(adj)
    expected = (reach[:, 0, :] & reach[np.arange(B), :, out]) > 0
    kept = nb101._on_a_path_topological(*nb101._neighbour_bits(adj), out)
    assert np.array_equal(((kept[:, None] >> np.arange(n)) & 1).astype(bool), expected)
    edges = (adj * expected[:, :, None] * expected[:, None, :]).sum(axis=(1, 2))
    succ = nb101._neighbour_bits(adj)[0]
    assert np.array_equal((nb101._popcount(succ & kept[:, None]) * expected).sum(axis=1), edges)

"""graph_hash op: bit-identical NB101 keys, exact canonical form, opcheck, CPU vs CUDA."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_graph_hash import nb101_module_hash, prune, strip_padding

from nasfast.data import data_path
from nasfast.ops import graph_hash

NB101 = np.load(data_path("nb101", "nb101_subset_30k.npz"))
NB101_ZC = np.load(data_path("nb101", "nb101_zc_naslib_500.npz"))


def random_dags(rng: np.random.Generator, batch: int, n: int, num_labels: int, density: float = 0.4):
    adj = np.triu((rng.random((batch, n, n)) < density).astype(np.uint8), k=1)
    labels = rng.integers(0, num_labels, size=(batch, n)).astype(np.int64)
    return adj, labels


def relabel(adj: np.ndarray, labels: np.ndarray, perm: np.ndarray):
    """Graph with vertex perm[i] renamed to i."""
    return adj[np.ix_(perm, perm)], labels[perm]


# ---- nb101_fingerprint ---------------------------------------------------------------------------

def test_fingerprint_equals_stored_keys_for_all_30001():
    out = graph_hash.digests_to_hex(graph_hash.nb101_fingerprint(NB101["adjacency"], NB101["ops"]))
    assert sum(a == b for a, b in zip(out, NB101["key"])) == 30001


def test_fingerprint_of_raw_unpruned_specs_equals_stored_keys():
    out = graph_hash.digests_to_hex(graph_hash.nb101_fingerprint(NB101_ZC["raw_adjacency"], NB101_ZC["raw_ops"]))
    assert out == list(NB101_ZC["key"])


def fresh_rng() -> np.random.Generator:
    """New random graphs on every run, from a seed printed so that pytest shows it with a failure."""
    seed = int(np.random.SeedSequence().entropy % 2**32)
    print(f"graphs drawn with np.random.default_rng({seed})")
    return np.random.default_rng(seed)


def test_fingerprint_matches_python_reference_on_random_specs():
    rng = fresh_rng()
    adj, ops = random_dags(rng, 300, 7, 3, density=0.35)
    ops[:, 0], ops[:, -1] = -1, -2
    digests = graph_hash.digests_to_hex(graph_hash.nb101_fingerprint(adj, ops))
    for b in range(len(adj)):
        pruned = prune(*strip_padding(adj[b], ops[b]))
        if pruned is None:
            assert digests[b] == "0" * 32
        else:
            assert digests[b] == nb101_module_hash(adj[b], ops[b])


def test_fingerprint_invariant_to_interior_relabelling():
    rng = np.random.default_rng(0)
    idx = rng.choice(len(NB101["key"]), 500, replace=False)
    adj, ops = [], []
    for i in idx:
        n = int(NB101["num_vertices"][i])
        perm = np.concatenate([[0], 1 + rng.permutation(n - 2), [n - 1], np.arange(n, 7)])
        a, o = relabel(NB101["adjacency"][i], NB101["ops"][i], perm)
        adj.append(a)
        ops.append(o)
    out = graph_hash.digests_to_hex(graph_hash.nb101_fingerprint(np.stack(adj), np.stack(ops)))
    assert out == list(NB101["key"][idx])


# ---- graph_canonical_hash ------------------------------------------------------------------------

def brute_force_canonical(adj: np.ndarray, labels: np.ndarray) -> tuple:
    n = len(labels)
    return min(
        (tuple(labels[list(p)]), tuple(adj[np.ix_(p, p)].ravel()))
        for p in itertools.permutations(range(n))
    )


def assert_partition_equals_brute_force(rng, adj, labels):
    """The graphs plus a random relabelling of each (so that isomorphic pairs are common, not just
    identical copies): equal canonical hashes exactly where the brute-force forms are equal."""
    perms = [rng.permutation(adj.shape[1]) for _ in range(len(adj))]
    adj_all = np.concatenate([adj, np.stack([a[np.ix_(p, p)] for a, p in zip(adj, perms)])])
    lab_all = np.concatenate([labels, np.stack([lab[p] for lab, p in zip(labels, perms)])])
    ours = graph_hash.digests_to_hex(graph_hash.graph_canonical_hash(adj_all, lab_all))
    ref = [brute_force_canonical(a, lab) for a, lab in zip(adj_all, lab_all)]
    for i in range(len(ours)):
        for j in range(i + 1, len(ours)):
            assert (ours[i] == ours[j]) == (ref[i] == ref[j]), (i, j)


def test_canonical_partition_equals_brute_force_on_small_graphs():
    rng = fresh_rng()
    adj, labels = random_dags(rng, 400, 5, 2, density=0.5)
    assert_partition_equals_brute_force(rng, adj, labels)


def test_canonical_partition_on_30k_equals_fingerprint_partition():
    canon = graph_hash.digests_to_hex(graph_hash.graph_canonical_hash(NB101["adjacency"], NB101["ops"], prune=True))
    keys = NB101["key"]
    assert len(set(keys)) == len(keys) == 30001
    # Same partition: one canonical class per fingerprint class and vice versa.
    assert len(set(canon)) == len(set(keys))
    assert len(set(zip(canon, keys))) == len(set(keys))


@settings(max_examples=300, deadline=None)
@given(st.integers(2, 12), st.integers(1, 4), st.floats(0.1, 0.9), st.integers(0, 2**32 - 1))
def test_canonical_hash_invariant_under_relabelling(n, num_labels, density, seed):
    rng = np.random.default_rng(seed)
    adj, labels = random_dags(rng, 1, n, num_labels, density)
    perm = rng.permutation(n)
    a2, l2 = relabel(adj[0], labels[0], perm)
    h = graph_hash.digests_to_hex(graph_hash.graph_canonical_hash(np.stack([adj[0], a2]), np.stack([labels[0], l2])))
    assert h[0] == h[1]


def test_canonical_hash_separates_non_isomorphic_graphs_with_equal_refinement():
    # Two disjoint 3-cycles vs one 6-cycle: colour refinement alone cannot tell them apart.
    def cycles(sizes):
        n = sum(sizes)
        adj = np.zeros((n, n), dtype=np.uint8)
        start = 0
        for s in sizes:
            for i in range(s):
                adj[start + i, start + (i + 1) % s] = 1
            start += s
        return adj

    adj = np.stack([cycles([3, 3]), cycles([6])])
    labels = np.zeros((2, 6), dtype=np.int64)
    h = graph_hash.digests_to_hex(graph_hash.graph_canonical_hash(adj, labels))
    assert h[0] != h[1]


def test_canonical_hash_handles_highly_symmetric_graphs_quickly():
    # Input -> 14 identical parallel vertices -> output: 14! orderings, twins make it one branch each.
    n = 16
    adj = np.zeros((n, n), dtype=np.uint8)
    adj[0, 1:-1] = 1
    adj[1:-1, -1] = 1
    labels = np.zeros(n, dtype=np.int64)
    labels[0], labels[-1] = -1, -2
    perm = np.concatenate([[0], 1 + np.random.default_rng(1).permutation(n - 2), [n - 1]])
    a2, l2 = relabel(adj, labels, perm)
    h = graph_hash.digests_to_hex(graph_hash.graph_canonical_hash(np.stack([adj, a2]), np.stack([labels, l2])))
    assert h[0] == h[1]


def test_canonical_partition_equals_brute_force_on_small_digraphs_with_cycles_and_twins():
    """General digraphs (2-cycles, self-loops): the pruning that swaps adjacent twins (u -> v and v -> u)
    must keep the partition exact."""
    rng = np.random.default_rng(7)
    n, count = 5, 300
    adj = (rng.random((count, n, n)) < 0.4).astype(np.uint8)
    sym = rng.random(count) < 0.5  # half of them symmetric: many adjacent twins
    adj[sym] = adj[sym] | adj[sym].transpose(0, 2, 1)
    assert_partition_equals_brute_force(rng, adj, rng.integers(0, 2, (count, n)))


def test_complete_digraphs_hash_in_linear_branches():
    """K_16 (every ordered pair an edge) took n! branches before adjacent twins were pruned
    (K_11 35 s, K_16 about 200 days); now it is one branch per level."""
    full = (np.ones((16, 16)) - np.eye(16)).astype(np.uint8)
    minus = full.copy()
    minus[0, 1] = 0  # one edge fewer: not isomorphic
    h = graph_hash.digests_to_hex(graph_hash.graph_canonical_hash(np.stack([full, full, minus]),
                                                                  np.zeros((3, 16), dtype=np.int64)))
    assert h[0] == h[1] != h[2]


# ---- op contract -----------------------------------------------------------------------------------

def _sample_inputs(device="cpu"):
    adj = torch.as_tensor(NB101["adjacency"][:64], dtype=torch.uint8, device=device)
    ops = torch.as_tensor(NB101["ops"][:64], dtype=torch.int64, device=device)
    return adj, ops


def test_opcheck_nb101_fingerprint():
    torch.library.opcheck(torch.ops.nasfast.nb101_fingerprint.default, _sample_inputs())


@pytest.mark.parametrize("prune_flag", [False, True])
def test_opcheck_graph_canonical_hash(prune_flag):
    adj, ops = _sample_inputs()
    torch.library.opcheck(torch.ops.nasfast.graph_canonical_hash.default, (adj, ops, prune_flag))


def test_empty_batch():
    out = graph_hash.nb101_fingerprint(np.zeros((0, 7, 7), np.uint8), np.zeros((0, 7), np.int64))
    assert out.shape == (0, 16)


@pytest.mark.parametrize(
    "adj, labels, message",
    [
        (torch.zeros(2, 7, 7, dtype=torch.float32), torch.zeros(2, 7, dtype=torch.int64), "dtype"),
        (torch.zeros(2, 7, 6, dtype=torch.uint8), torch.zeros(2, 7, dtype=torch.int64), "(B, N, N)"),
        (torch.zeros(2, 7, 7, dtype=torch.uint8), torch.zeros(3, 7, dtype=torch.int64), "labels must be"),
        (torch.zeros(1, 17, 17, dtype=torch.uint8), torch.zeros(1, 17, dtype=torch.int64), "1..16"),
    ],
)
def test_bad_inputs_raise_naming_the_problem(adj, labels, message):
    with pytest.raises(RuntimeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        torch.ops.nasfast.nb101_fingerprint(adj, labels)


@pytest.mark.parametrize("fn", [graph_hash.nb101_fingerprint, graph_hash.graph_canonical_hash])
def test_wrappers_refuse_values_their_casts_would_change(fn):
    """The wrappers cast to uint8 / int64: 256 and 0.5 would both become "no edge", 1.5 label 1."""
    adj, labels = np.triu(np.ones((7, 7), np.int64), 1), np.array([-1, 0, 1, 2, 0, 1, -2])
    fn(adj, labels)
    for scale in (256, 0.5):
        with pytest.raises(ValueError, match="adjacency entries must be 0 or 1"):
            fn(adj * scale, labels)
    with pytest.raises(ValueError, match="labels must be integers"):
        fn(adj, labels + 0.5)
    assert torch.equal(fn(adj.astype(np.float32), labels.astype(np.float64)), fn(adj, labels))
    # the kernels hash 32-bit labels: 1 and 2**32 + 1 would be one label
    with pytest.raises(ValueError, match=r"labels must fit in 32 bits .* got 4294967297"):
        fn(adj, np.where(labels == 1, 2**32 + 1, labels))
    fn(adj, np.where(labels == 1, 2**31 - 1, labels))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu_on_all_30001():
    adj = torch.as_tensor(NB101["adjacency"], dtype=torch.uint8)
    ops = torch.as_tensor(NB101["ops"], dtype=torch.int64)
    for fn in (torch.ops.nasfast.nb101_fingerprint, lambda a, o: torch.ops.nasfast.graph_canonical_hash(a, o, True),
               lambda a, o: torch.ops.nasfast.graph_canonical_hash(a, o, False)):
        assert torch.equal(fn(adj, ops), fn(adj.cuda(), ops.cuda()).cpu())
    torch.library.opcheck(torch.ops.nasfast.nb101_fingerprint.default, _sample_inputs("cuda"))
    adj, ops = _sample_inputs("cuda")
    for prune_flag in (True, False):
        torch.library.opcheck(torch.ops.nasfast.graph_canonical_hash.default, (adj, ops, prune_flag))

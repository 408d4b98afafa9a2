"""arch2vec (``nasfast.predictors.arch2vec``): the graphs it reads, the pretraining, the invariances
of its vectors, the comparator on them, and RANK-NOSH with it as the ranker."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from nasfast import tabular
from nasfast.predictors import arch2vec
from nasfast.search.multifidelity import MultiFidelityEvaluator, run_multifidelity
from nasfast.search.nosh import RankNOSH
from nasfast.search.spaces import DARTS_SEARCH_SPACE
from nasfast.spaces import nb201
from nasfast.tabular.bundled import NB101_MAIN, npz_array


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Pretrained vectors go to a per-test folder, never to the user's ~/.cache."""
    monkeypatch.setenv("NASFAST_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def nb101_graphs():
    rows = np.arange(400)
    return npz_array(NB101_MAIN, "adjacency")[rows], npz_array(NB101_MAIN, "ops")[rows]


def test_nb201_graph_is_the_op_on_node_cell():
    arch = nb201.parse("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|")
    adj, ops = arch2vec.graph_tensors("nb201", np.array([arch.index]))
    assert adj.shape == (1, 8, 8) and ops.shape == (1, 8, 7)
    a = adj[0].int().numpy()
    # edge op nodes 1..6 follow nb201.EDGES: (1<-0), (2<-0), (2<-1), (3<-0), (3<-1), (3<-2)
    assert set(zip(*np.nonzero(a))) == {(0, 1), (0, 2), (0, 4), (1, 3), (1, 5), (2, 6), (3, 6), (4, 7), (5, 7), (6, 7)}
    # arch2vec's op order: input, conv1x1, conv3x3, avgpool, skip, none, output
    assert ops[0].argmax(-1).tolist() == [0, 2, 4, 5, 3, 1, 4, 6]
    same, _ = arch2vec.graph_tensors("nb201", np.array([arch.op_indices]))
    assert torch.equal(same, adj)


def test_nb101_graph_maps_labels_and_leaves_padding_empty(nb101_graphs):
    adj, ops = nb101_graphs
    A, H = arch2vec.graph_tensors("nb101", (adj, ops))
    real = ops != -3
    assert torch.equal(H.sum(-1), torch.as_tensor(real, dtype=torch.float32))
    assert torch.equal(A, torch.as_tensor(adj, dtype=torch.float32))
    # our labels: -1 input, 0 conv3x3, 1 conv1x1, 2 maxpool, -2 output -> arch2vec's 0, 2, 1, 3, 4
    for label, t in ((-1, 0), (0, 2), (1, 1), (2, 3), (-2, 4)):
        assert bool((H[torch.as_tensor(ops == label)].argmax(-1) == t).all())


def test_bad_graphs_are_named(nb101_graphs):
    adj, ops = nb101_graphs
    with pytest.raises(ValueError, match="upper-triangular"):
        arch2vec.graph_tensors("nb101", (adj.transpose(0, 2, 1), ops))
    bad = ops.copy()
    bad[0, 1] = 7
    with pytest.raises(ValueError, match="op label 7"):
        arch2vec.graph_tensors("nb101", (adj, bad))
    with pytest.raises(ValueError, match="out of range"):
        arch2vec.graph_tensors("nb201", np.array([15625]))
    for floats in (np.array([1.7]), np.array([True, False])):  # read as arch 1 (and 0) before
        with pytest.raises(TypeError, match="integer indices"):
            arch2vec.graph_tensors("nb201", floats)
    with pytest.raises(ValueError, match="nb101' and 'nb201'"):
        arch2vec.graph_tensors("darts", [])
    with pytest.raises(ValueError, match="at least 2 graphs"):
        arch2vec.pretrain(*arch2vec.graph_tensors("nb201", np.array([3])))


def test_pretraining_learns_and_vectors_ignore_node_order_and_padding(nb101_graphs):
    A, H = arch2vec.graph_tensors("nb101", nb101_graphs)
    losses = []
    model = arch2vec.pretrain(A, H, epochs=4, seed=0, progress=lambda e, loss: losses.append(loss))
    assert len(losses) == 4 and losses[-1] < 0.8 * losses[0]
    emb = model.embed(A, H)
    assert emb.shape == (len(A), 16) and torch.isfinite(emb).all()
    # relabel the nodes of every graph (any permutation: GIN reads the symmetric adjacency)
    g = torch.Generator().manual_seed(1)
    perm = torch.randperm(7, generator=g)
    P = torch.eye(7)[perm]
    A2, H2 = P @ A @ P.T, P @ H
    torch.testing.assert_close(model.embed(A2, H2), emb, rtol=1e-4, atol=1e-5)
    # the same graphs with one more padding node (8 slots) keep their vectors
    A3, H3 = torch.nn.functional.pad(A, (0, 1, 0, 1)), torch.nn.functional.pad(H, (0, 0, 0, 1))
    torch.testing.assert_close(model.embed(A3, H3), emb, rtol=1e-4, atol=1e-5)
    # and different graphs get different vectors
    assert torch.unique(emb.round(decimals=4), dim=0).shape[0] > 0.9 * len(A)  # 400 distinct NB101 graphs


def test_space_embedding_is_cached_and_seeded():
    idx = np.arange(0, 15625, 61)
    a = arch2vec.space_embedding("nb201", idx, seed=3, epochs=1)
    assert arch2vec.space_embedding("nb201", idx, seed=3, epochs=1) is a
    b = arch2vec.space_embedding("nb201", idx, seed=4, epochs=1)
    assert a.shape == (len(idx), 16) and not np.allclose(a, b)


def test_vectors_are_cached_on_disk_for_the_next_process(tmp_path, monkeypatch):
    idx = np.arange(0, 15625, 97)
    first = arch2vec.space_embedding("nb201", idx, seed=5, epochs=1)
    assert len(list((tmp_path / "cache" / "arch2vec").glob("nb201-*-seed5.npy"))) == 1
    arch2vec._CACHE.clear()  # what a new process starts with
    monkeypatch.setattr(arch2vec, "pretrain", lambda *a, **k: pytest.fail("pretrained again"))
    np.testing.assert_array_equal(arch2vec.space_embedding("nb201", idx, seed=5, epochs=1), first)
    monkeypatch.setenv("NASFAST_CACHE", "off")
    assert arch2vec.cache_dir() is None


def test_an_unwritable_cache_only_warns(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("NASFAST_CACHE", str(blocker))
    with pytest.warns(UserWarning, match="could not cache"):
        emb = arch2vec.space_embedding("nb201", np.arange(40), seed=0, epochs=1)
    assert emb.shape == (40, 16)


def test_comparator_on_frozen_vectors_learns_the_order():
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((300, 16)).astype(np.float32)
    key = emb[:, 0] - 0.5 * emb[:, 1]
    key[:20] = np.nan  # unknown: no pairs
    model = arch2vec.fit_comparator(emb, key, seed=0, epochs=30, hidden=(32,))
    with torch.no_grad():
        score = model.win_rate(torch.as_tensor(emb), torch.as_tensor(emb[20:52])).numpy()
    assert spearmanr(score[20:], key[20:]).statistic > 0.8
    with pytest.raises(ValueError, match="emb"):
        arch2vec.fit_comparator(emb, key[:10], seed=0)


def test_rank_nosh_with_the_arch2vec_ranker_runs_and_records_pretraining():
    bench = tabular.load("nb201")
    cfg = dict(epochs=5, mlp_hidden=(16,), num_references=8, pretrain_epochs=1)
    nosh = RankNOSH(nb201, 0, pool_size=30, k_init=12, k=9, ranker="arch2vec", ranker_config=cfg)
    out = run_multifidelity(nosh, MultiFidelityEvaluator(bench, "cifar10", observe="random-seed", seed=0))
    assert nosh.level_counts() == [20, 5, 5] and out.best.extra["epochs"] == 200
    assert nosh.rounds[1]["pretrain_s"] > 0 and all(r["pretrain_s"] < 0.5 for r in nosh.rounds[2:])
    assert nosh.config()["ranker"] == "arch2vec"
    with pytest.raises(ValueError, match="arch2vec' supports nb101 and nb201"):
        RankNOSH(DARTS_SEARCH_SPACE, 0, schedule=(1, 2), prior=None, ranker="arch2vec")

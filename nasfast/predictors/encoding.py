"""Batch tensorisation of architectures for the GATES encoders and the baseline encoders.

An encoding is a dict of tensors that all have the batch as their leading dimension (``take``
selects rows, ``to_device`` moves it), built once per data set with numpy over the whole batch.

GATES layouts (REFERENCES A1.2-A1.4; ``edge_op[.., i, j]`` / ``adjacency[.., i, j]`` describe the
edge j -> i, row = destination, as aw_nas's transposed matrices do):

- NB101 (``encode_nb101``): specs are pruned first (A1.8 pitfall 1), then put in aw_nas's layout:
  output at index 6 and padding *before* it. Our own arrays pad *after* the output; the readout
  of A1.2 (drop the input, zero the padding, divide by the 6 slots) and ``use_final_only`` read
  "index 6", so the vertex order matters and we follow ``nb101.to_aw_nas`` exactly (checked
  against it in the tests). ``node_op`` holds rows of the NB101 gate table ``NB101_OP_ROWS``.
- NB201 (``encode_nb201``): ``edge_op`` (B, 4, 4), op index of edge j -> i, ``none`` and absent
  edges -1 (masked).
- DARTS (``encode_darts``): ``edge_op`` (B, 2 cells, 2 slots, 6, 6): slot d of intermediate node
  k + 2 is the genotype's edge 2k + d, so each node has one entry per slot (A1.4).

Baseline layout (``node_graph``): op-on-node graphs in the usual orientation (row = source, an
upper-triangular DAG), integer node labels 0..L-1 and a ``valid`` mask, for the MLP and GCN
encoders. Op-on-edge spaces are turned into op-on-node graphs by making every edge a vertex.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from nasfast.spaces import darts, nb101, nb201

Encoded = dict[str, torch.Tensor]

SPACES = ("nb101", "nb201", "darts")

#: Rows of the NB101 gate table: aw_nas's 4 op embeddings (``AW_NAS_OPS``, ``none`` last), then
#: the output node's own learned op embedding and the input node's fixed zero one (A1.2).
NB101_OP_ROWS: tuple[str, ...] = (*nb101.AW_NAS_OPS, "output", "input")
NB101_NONE_ROW, NB101_OUTPUT_ROW, NB101_INPUT_ROW = 3, 4, 5
# our label + 3 (-3 pad, -2 output, -1 input, 0 conv3x3, 1 conv1x1, 2 maxpool) -> gate-table row
_NB101_ROW_OF_LABEL = np.array([NB101_NONE_ROW, NB101_OUTPUT_ROW, NB101_INPUT_ROW,
                                nb101._TO_AW[0], nb101._TO_AW[1], nb101._TO_AW[2]], dtype=np.int64)
NB201_NUM_NODES = 4
DARTS_NUM_NODES = 2 + darts.NUM_NODES  # 2 cell inputs + 4 intermediate nodes


def take(enc: Encoded, idx: Any) -> Encoded:
    """Rows ``idx`` (an index array, tensor or slice) of every tensor of an encoding."""
    if isinstance(idx, np.ndarray):
        idx = torch.from_numpy(idx.astype(np.int64, copy=False))
    out = {}
    for k, v in enc.items():
        i = idx.to(v.device) if isinstance(idx, torch.Tensor) else idx
        out[k] = v[i]
    return out


def to_device(enc: Encoded, device: torch.device | str) -> Encoded:
    return {k: v.to(device) for k, v in enc.items()}


def batch_size(enc: Encoded) -> int:
    return int(next(iter(enc.values())).shape[0])


# ---- NB101 --------------------------------------------------------------------------------------

def nb101_arrays(archs: Any) -> tuple[np.ndarray, np.ndarray]:
    """(adjacency (B, N, N), ops (B, N)) from a sequence of ``Spec`` or an ``(adjacency, ops)`` pair
    of arrays in our labels (one graph or a batch; raw, padded or pruned)."""
    if isinstance(archs, nb101.Spec):
        archs = [archs]
    if isinstance(archs, tuple) and len(archs) == 2 and not isinstance(archs[0], nb101.Spec):
        adj = np.asarray(archs[0].cpu() if isinstance(archs[0], torch.Tensor) else archs[0])
        ops = np.asarray(archs[1].cpu() if isinstance(archs[1], torch.Tensor) else archs[1])
        if adj.ndim == 2:
            adj, ops = adj[None], ops[None]
        return adj, ops
    specs = list(archs)
    for i, s in enumerate(specs):
        if not isinstance(s, nb101.Spec):
            raise TypeError(f"NB101 archs must be Specs or an (adjacency, ops) pair of arrays; item {i} is "
                            f"{type(s).__name__}: {s!r:.100}")
    if not specs:
        return np.zeros((0, 7, 7), np.int8), np.zeros((0, 7), np.int8)
    padded = [s.padded(nb101.MAX_VERTICES) for s in specs]  # Specs are already pruned
    return np.stack([p[0] for p in padded]), np.stack([p[1] for p in padded])


def nb101_pruned(archs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Pruned graphs in our layout, exactly 7 vertices: ((B, 7, 7) int8, (B, 7) int8)."""
    adj, ops = nb101_arrays(archs)
    if len(ops) == 0:
        return np.zeros((0, 7, 7), np.int8), np.zeros((0, 7), np.int8)
    adj, ops = nb101.prune_batch(adj, ops)
    n, v = ops.shape[1], nb101.MAX_VERTICES
    if n > v:  # validation guarantees at most 7 kept vertices, compacted to the front
        adj, ops = adj[:, :v, :v], ops[:, :v]
    elif n < v:
        adj = np.pad(adj, ((0, 0), (0, v - n), (0, v - n)))
        ops = np.pad(ops, ((0, 0), (0, v - n)), constant_values=nb101.PAD)
    return adj, ops


def nb101_to_aw_layout(adj: np.ndarray, ops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batched ``nb101.to_aw_nas`` on pruned 7-vertex graphs in our layout: vertex d of the result
    is our vertex d for d < n - 1, our output (n - 1) for d = 6, and padding in between. Labels are
    kept in our numbering (the op index change is done by the gate-table lookup)."""
    B, v = ops.shape
    short = np.flatnonzero(ops[:, v - 1] == nb101.PAD)  # only graphs with padding move vertices
    if short.size == 0:
        return adj, ops
    adj, ops = adj.copy(), ops.copy()
    a, o = adj[short], ops[short]
    n = (o != nb101.PAD).sum(1, keepdims=True)  # (b, 1) real vertices, output at n - 1
    d = np.arange(v)[None, :]
    src = np.where(d < n - 1, d, np.where(d == v - 1, n - 1, d + 1))  # (b, 7) our vertex at slot d
    src = np.minimum(src, v - 1)
    b = np.arange(len(short))[:, None, None]
    adj[short], ops[short] = a[b, src[:, :, None], src[:, None, :]], np.take_along_axis(o, src, 1)
    return adj, ops


def encode_nb101(archs: Any) -> Encoded:
    """GATES encoding of NB101 cells (see the module docstring).

    Returns ``adjacency`` (B, 7, 7) bool with [b, i, j] = edge j -> i, ``node_op`` (B, 7) int64
    rows of ``NB101_OP_ROWS`` and ``valid`` (B, 7) bool (False on padding), in aw_nas's layout.
    """
    adj, ops = nb101_to_aw_layout(*nb101_pruned(archs))
    return {
        "adjacency": torch.from_numpy(np.ascontiguousarray(adj.transpose(0, 2, 1)) != 0),
        "node_op": torch.from_numpy(_NB101_ROW_OF_LABEL[ops.astype(np.int64) + 3]),
        "valid": torch.from_numpy(ops != nb101.PAD),
    }


# ---- NB201 --------------------------------------------------------------------------------------

def nb201_op_indices(archs: Any) -> np.ndarray:
    """(B, 6) int64 op indices from NB201Archs / arch strings / benchmark indices (a sequence), a 1-D
    int array of benchmark indices or a (B, 6) int array of op indices (the fast paths)."""
    if isinstance(archs, torch.Tensor):
        archs = archs.cpu().numpy()
    if isinstance(archs, np.ndarray) and archs.dtype.kind in "iu":
        if archs.ndim == 2:
            if archs.shape[1] != nb201.NUM_EDGES:
                raise ValueError(f"NB201 op index array must be (B, 6) with values 0..4, got shape {archs.shape}")
            bad = np.argwhere((archs < 0) | (archs >= nb201.NUM_OPS))
            if len(bad):
                (b, e), count = bad[0], len(bad)
                raise ValueError(f"NB201 op index array must hold values 0..{nb201.NUM_OPS - 1}: [{b}, {e}] is "
                                 f"{archs[b, e]} ({count} such value(s))")
            return archs.astype(np.int64)
        if archs.ndim == 1:
            if archs.size and (archs.min() < 0 or archs.max() >= nb201.NUM_ARCHS):
                raise ValueError(f"NB201 index out of range 0..{nb201.NUM_ARCHS - 1}: {archs.min()}..{archs.max()}")
            return nb201.codes_to_op_indices(nb201.indices_to_codes(archs))
    if isinstance(archs, (str, nb201.NB201Arch)) or (isinstance(archs, (int, np.integer))
                                                      and not isinstance(archs, bool)):
        archs = [archs]  # one arch: a batch of one, as the tabular API takes it
    if not hasattr(archs, "__iter__"):
        raise TypeError(f"NB201 archs must be arch strings, NB201Archs, benchmark indices or a (B, 6) op-index "
                        f"array; got {type(archs).__name__}")
    return nb201.op_indices(archs)


def encode_nb201(archs: Any) -> Encoded:
    """``edge_op`` (B, 4, 4) int64: [b, i, j] = op on edge j -> i, -1 for ``none`` and no edge."""
    ops = nb201_op_indices(archs)
    edge_op = np.full((len(ops), NB201_NUM_NODES, NB201_NUM_NODES), -1, dtype=np.int64)
    for k, (dst, src) in enumerate(nb201.EDGES):
        edge_op[:, dst, src] = np.where(ops[:, k] == nb201.OP_INDEX["none"], -1, ops[:, k])
    return {"edge_op": torch.from_numpy(edge_op)}


# ---- DARTS --------------------------------------------------------------------------------------

def darts_compact(archs: Any) -> np.ndarray:
    """(B, 2, 8, 2) int64 (input node, op index) from Genotypes or a compact int array."""
    if isinstance(archs, darts.Genotype):
        archs = [archs]
    if isinstance(archs, (np.ndarray, torch.Tensor)):
        arr = np.asarray(archs.cpu() if isinstance(archs, torch.Tensor) else archs)
        if arr.ndim == 3:
            arr = arr[None]
        if arr.ndim != 4 or arr.shape[1:] != (2, darts.EDGES_PER_CELL, 2):
            raise ValueError(f"DARTS compact batch must have shape (B, 2, 8, 2), got {arr.shape}")
        bad = ~_darts_compact_valid(arr) if arr.dtype.kind in "iu" else np.ones(len(arr), dtype=bool)
        for g in arr[bad]:  # from_compact raises with the offending genotype (or accepts integral floats)
            darts.from_compact(g)
        return arr.astype(np.int64)
    gens = list(archs)
    if not gens:
        return np.zeros((0, 2, darts.EDGES_PER_CELL, 2), np.int64)
    return np.stack([darts.from_compact(g).to_compact() if not isinstance(g, darts.Genotype) else g.to_compact()
                     for g in gens]).astype(np.int64)


def _darts_compact_valid(arr: np.ndarray) -> np.ndarray:
    """(B,) bool: which rows of an integer (B, 2, 8, 2) compact batch ``darts.from_compact`` accepts
    (op in range, edge e reads a node in 0..e//2+1, the two inputs of a node differ), vectorised so
    that millions of sampled genotypes are not checked one Python object at a time."""
    src, op = arr[..., 0].astype(np.int64), arr[..., 1].astype(np.int64)
    limit = np.arange(darts.EDGES_PER_CELL) // 2 + 1
    ok = (op >= 0) & (op < len(darts.OPS)) & (src >= 0) & (src <= limit)
    return ok.all((1, 2)) & (src[:, :, 0::2] != src[:, :, 1::2]).all((1, 2))


def encode_darts(archs: Any) -> Encoded:
    """``edge_op`` (B, 2 cells, 2 slots, 6, 6) int64: [b, c, d, i, j] = op of the edge j -> i that
    fills input slot d of node i in cell c (normal 0, reduce 1), -1 elsewhere."""
    comp = darts_compact(archs)
    B = len(comp)
    edge_op = np.full((B, 2, 2, DARTS_NUM_NODES, DARTS_NUM_NODES), -1, dtype=np.int64)
    e = np.arange(darts.EDGES_PER_CELL)
    b, c = np.arange(B)[:, None, None], np.arange(2)[None, :, None]
    edge_op[b, c, (e % 2)[None, None], (e // 2 + 2)[None, None], comp[..., 0]] = comp[..., 1]
    return {"edge_op": torch.from_numpy(edge_op)}


ENCODERS = {"nb101": encode_nb101, "nb201": encode_nb201, "darts": encode_darts}


def encode(space: str, archs: Any) -> Encoded:
    """GATES encoding of a batch of architectures of ``space`` ("nb101", "nb201", "darts")."""
    if space not in ENCODERS:
        raise ValueError(f"unknown space {space!r}; expected one of {SPACES}")
    return ENCODERS[space](archs)


# ---- op-on-node graphs for the baselines ------------------------------------------------------

#: number of node labels of ``node_graph`` per space
NODE_GRAPH_LABELS = {"nb101": 5, "nb201": 7, "darts": 22}
NODE_GRAPH_SIZE = {"nb101": 7, "nb201": 10, "darts": 30}
# NB201 node graph (as nb201.to_node_graphs): in, e(1<-0), n1, e(2<-0), e(2<-1), n2, e(3<-0), e(3<-1),
# e(3<-2), out; labels: 0 input, 1 output, 2..5 the ops skip/conv1x1/conv3x3/avgpool, 6 sum node
_NB201_NODE = (0, 2, 5, 9)
_NB201_EDGE_VERTEX = (1, 3, 4, 6, 7, 8)
# DARTS node graph, per cell (topological): in0, in1, then per node k: e(2k), e(2k+1), n_k; out
_DARTS_EDGE_VERTEX = np.array([2 + 3 * (e // 2) + e % 2 for e in range(darts.EDGES_PER_CELL)])
_DARTS_SUM_VERTEX = np.array([4 + 3 * k for k in range(darts.NUM_NODES)])


def node_graph(space: str, archs: Any) -> Encoded:
    """Op-on-node graphs: ``adjacency`` (B, N, N) bool, [b, i, j] = edge i -> j (upper triangular),
    ``labels`` (B, N) int64 in 0..NODE_GRAPH_LABELS[space]-1, ``valid`` (B, N) bool.

    - nb101: the pruned 7-vertex graph in our layout; labels input 0, output 1, conv3x3 2,
      conv1x1 3, maxpool 4; padding invalid.
    - nb201: 10 vertices, each edge a vertex carrying its op (``none`` edges invalid, their
      wires dropped), each cell node a "sum" vertex.
    - darts: per cell 15 vertices (2 inputs, then per node its 2 edge vertices and its sum
      vertex, then the output that concatenates the 4 nodes); labels in0 0, in1 1, ops 2..8, sum
      9, output 10, offset by 11 in the reduce cell; the two cells side by side.
    """
    if space == "nb101":
        adj, ops = nb101_pruned(archs)
        valid = ops != nb101.PAD
        # indexed by op - PAD: pad, output, input, conv3x3, conv1x1, maxpool
        labels = np.where(valid, np.array([0, 1, 0, 2, 3, 4])[ops.astype(np.int64) - nb101.PAD], 0)
        return _graph(adj != 0, labels, valid)
    if space == "nb201":
        ops = nb201_op_indices(archs)
        B = len(ops)
        adj = np.zeros((B, 10, 10), dtype=bool)
        labels = np.full((B, 10), 6, dtype=np.int64)
        labels[:, 0], labels[:, 9] = 0, 1
        valid = np.ones((B, 10), dtype=bool)
        for k, (dst, src) in enumerate(nb201.EDGES):
            v, live = _NB201_EDGE_VERTEX[k], ops[:, k] != nb201.OP_INDEX["none"]
            adj[:, _NB201_NODE[src], v] = live
            adj[:, v, _NB201_NODE[dst]] = live
            labels[:, v] = np.where(live, ops[:, k] + 1, 0)
            valid[:, v] = live
        return _graph(adj, labels, valid)
    if space == "darts":
        comp = darts_compact(archs)
        B, n = len(comp), 15
        adj = np.zeros((B, 2 * n, 2 * n), dtype=bool)
        labels = np.zeros((B, 2 * n), dtype=np.int64)
        b, e = np.arange(B)[:, None], np.arange(darts.EDGES_PER_CELL)
        edge_vertex, sum_vertex = _DARTS_EDGE_VERTEX[e], _DARTS_SUM_VERTEX
        for c in range(2):
            o, src = c * n, comp[:, c, :, 0]
            src_vertex = np.where(src < 2, src, _DARTS_SUM_VERTEX[np.maximum(src - 2, 0)])
            adj[b, o + src_vertex, o + edge_vertex] = True  # cell input / earlier node -> edge vertex
            adj[:, o + edge_vertex, o + sum_vertex[e // 2]] = True  # edge vertex -> its node
            adj[:, o + sum_vertex, o + n - 1] = True  # nodes -> output (concat)
            lab = np.zeros((B, n), dtype=np.int64)
            lab[:, 1] = 1
            lab[:, edge_vertex] = 2 + comp[:, c, :, 1]
            lab[:, sum_vertex], lab[:, n - 1] = 9, 10
            labels[:, o:o + n] = c * 11 + lab
        return _graph(adj, labels, np.ones((B, 2 * n), dtype=bool))
    raise ValueError(f"unknown space {space!r}; expected one of {SPACES}")


def _graph(adj: np.ndarray, labels: np.ndarray, valid: np.ndarray) -> Encoded:
    return {"adjacency": torch.from_numpy(np.ascontiguousarray(adj)),
            "labels": torch.from_numpy(labels.astype(np.int64)),
            "valid": torch.from_numpy(valid)}



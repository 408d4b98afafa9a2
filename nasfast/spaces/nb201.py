"""NAS-Bench-201 cell space: 4 nodes, 6 edges, 5 ops per edge, 15,625 cells.

An architecture is written exactly as the NAS-Bench-201 API writes it::

    |nor_conv_3x3~0|+|none~0|skip_connect~1|+|nor_conv_1x1~0|avg_pool_3x3~1|none~2|

Group g (1..3) lists the inputs of node g; ``op~j`` is the op on edge j -> g.  We keep the six ops
in the order of the string: (1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2).

Two integer identities exist and must not be confused:
- ``index``: the benchmark's own arch index 0..15624 (its order is the benchmark's generation order,
  not a formula; we read it from the bundled table);
- ``code``: our base-5 number of the op indices, ``sum(op_k * 5**k)``, used for fast vectorised work.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from nasfast.data import data_path
from nasfast.spaces import check_generator

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
OP_INDEX: dict[str, int] = {op: i for i, op in enumerate(OPS)}
#: (destination, source) of each of the six edges, in arch-string order.
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
NUM_EDGES = 6
NUM_OPS = 5
NUM_ARCHS = NUM_OPS**NUM_EDGES  # 15,625

_TOKEN = re.compile(r"^([A-Za-z0-9_]+)~(0|[1-9][0-9]*)$")  # canonical numbers only: "~00" would not print back
_POW5 = NUM_OPS ** np.arange(NUM_EDGES, dtype=np.int64)


@dataclass(frozen=True)
class NB201Arch:
    """One NB201 cell. ``ops`` holds the 6 op names in edge order (1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2)."""

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.ops, tuple) or len(self.ops) != NUM_EDGES:
            raise ValueError(f"NB201 arch needs 6 ops (one per edge), got {self.ops!r}")
        for op in self.ops:
            if op not in OP_INDEX:
                raise ValueError(f"unknown NB201 op {op!r}; expected one of {list(OPS)}")

    @property
    def op_indices(self) -> tuple[int, ...]:
        return tuple(OP_INDEX[op] for op in self.ops)

    @property
    def code(self) -> int:
        """Base-5 code of the op indices (0..15624); not the benchmark index."""
        return int(np.dot(self.op_indices, _POW5))

    @property
    def index(self) -> int:
        """The NAS-Bench-201 arch index (row of the benchmark tables)."""
        return int(_code_to_index()[self.code])

    def __str__(self) -> str:
        o = self.ops
        return f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|"

    def __repr__(self) -> str:
        return f"NB201Arch('{self}')"


def parse(arch_str: str) -> NB201Arch:
    """Parse a NAS-Bench-201 arch string; raise ``ValueError`` naming what is wrong."""
    if not isinstance(arch_str, str):
        raise TypeError(f"NB201 arch string must be str, got {type(arch_str).__name__}: {arch_str!r}")
    groups = arch_str.split("+")
    if len(groups) != 3:
        raise ValueError(
            f"NB201 arch string has {len(groups)} node groups, expected 3 separated by '+': {arch_str!r}"
        )
    ops: list[str] = []
    for node, group in enumerate(groups, start=1):
        if len(group) < 2 or not (group.startswith("|") and group.endswith("|")):
            raise ValueError(f"NB201 node group {node} must be wrapped in '|...|', got {group!r} in {arch_str!r}")
        tokens = group[1:-1].split("|")
        if len(tokens) != node:
            raise ValueError(
                f"NB201 node {node} has {len(tokens)} inputs, expected {node} in {arch_str!r}"
            )
        for src, token in enumerate(tokens):
            m = _TOKEN.match(token)
            if m is None:
                raise ValueError(f"NB201 edge token {token!r} is not 'op~input' in {arch_str!r}")
            op, idx = m.group(1), int(m.group(2))
            if op not in OP_INDEX:
                raise ValueError(f"unknown NB201 op {op!r} in {arch_str!r}; expected one of {list(OPS)}")
            if idx != src:
                raise ValueError(
                    f"NB201 node {node} input {src} names node {idx} ({token!r}), expected ~{src} in {arch_str!r}"
                )
            ops.append(op)
    return NB201Arch(tuple(ops))


def from_ops(ops: Sequence[str] | Sequence[int]) -> NB201Arch:
    """Build an arch from 6 op names or 6 op indices (edge order of the string)."""
    items = list(ops)
    if len(items) != NUM_EDGES:
        raise ValueError(f"NB201 arch needs 6 ops, got {len(items)}: {items!r}")
    names = []
    for op in items:
        if isinstance(op, (int, np.integer)) and not isinstance(op, bool):
            if not 0 <= int(op) < NUM_OPS:
                raise ValueError(f"NB201 op index {op} out of range 0..4 in {items!r}")
            names.append(OPS[int(op)])
        else:
            names.append(op)
    return NB201Arch(tuple(names))


def from_code(code: int) -> NB201Arch:
    if isinstance(code, bool) or not isinstance(code, (int, np.integer)):
        raise TypeError(f"NB201 code must be an int, got {type(code).__name__}: {code!r}")
    if not 0 <= int(code) < NUM_ARCHS:
        raise ValueError(f"NB201 code {code} out of range 0..{NUM_ARCHS - 1}")
    return from_ops(list(codes_to_op_indices(np.array([code]))[0]))


def from_index(index: int) -> NB201Arch:
    """The arch at NAS-Bench-201 index ``index``."""
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise TypeError(f"NB201 index must be an int, got {type(index).__name__}: {index!r}")
    if not 0 <= int(index) < NUM_ARCHS:
        raise ValueError(f"NB201 index {index} out of range 0..{NUM_ARCHS - 1}")
    return parse(str(_index_strings()[int(index)]))


def as_arch(arch: NB201Arch | str | int) -> NB201Arch:
    """Accept an arch, an arch string or a benchmark index."""
    if isinstance(arch, NB201Arch):
        return arch
    if isinstance(arch, str):
        return parse(arch)
    if isinstance(arch, (int, np.integer)) and not isinstance(arch, bool):
        return from_index(int(arch))
    raise TypeError(f"expected an NB201Arch, arch string or index, got {type(arch).__name__}: {arch!r}")


def all_archs() -> list[NB201Arch]:
    """All 15,625 cells in benchmark-index order."""
    return [parse(str(s)) for s in _index_strings()]


# ---- vectorised helpers -------------------------------------------------------------------------

def op_indices(archs: Iterable[NB201Arch | str | int]) -> np.ndarray:
    """(B, 6) int64 op indices."""
    if isinstance(archs, (str, NB201Arch)):  # iterating a string would parse its characters
        raise TypeError(f"expected a batch (list) of NB201 archs, got one {type(archs).__name__}; wrap it in a list")
    rows = [as_arch(a).op_indices for a in archs]
    return np.asarray(rows, dtype=np.int64).reshape(-1, NUM_EDGES)


def _checked(values: np.ndarray | Sequence[int], what: str) -> np.ndarray:
    """``values`` as int64, refusing non-integers and anything outside 0..15624 (codes and indices
    share that range) instead of wrapping around."""
    arr = np.asarray(values)
    if arr.size and not (np.issubdtype(arr.dtype, np.integer) or (np.issubdtype(arr.dtype, np.floating)
                                                               and np.array_equal(arr, np.round(arr)))):
        raise TypeError(f"NB201 {what} must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and (arr.min() < 0 or arr.max() >= NUM_ARCHS):
        bad = arr[(arr < 0) | (arr >= NUM_ARCHS)]
        raise ValueError(f"NB201 {what} must lie in 0..{NUM_ARCHS - 1}, got {bad[:5].tolist()}")
    return arr


def codes_to_op_indices(codes: np.ndarray) -> np.ndarray:
    codes = _checked(codes, "codes")
    return (codes[..., None] // _POW5) % NUM_OPS


#: NASLib's NB201 encoding: ops [skip_connect, none, nor_conv_3x3, nor_conv_1x1, avg_pool_3x3] on edges
#: (1,2), (1,3), (1,4), (2,3), (2,4), (3,4) (1-based nodes); ours: ``OPS`` on ``EDGES``
_NASLIB_OP = np.array([1, 0, 3, 2, 4])
_NASLIB_EDGE = np.array([0, 1, 3, 2, 4, 5])  # our edge k is NASLib's edge _NASLIB_EDGE[k]


def from_naslib_op_indices(ops: np.ndarray) -> np.ndarray:
    """(B, 6) op indices in NASLib's order (e.g. ``op_indices_naslib`` of the bundled zero-cost file)
    -> (B, 6) op indices in ours, which every (B, 6) array nasfast takes is read in. The two orders
    differ in both the ops and the edges, and a NASLib array would be read silently as other archs.

    Example:
        >>> import numpy as np
        >>> from nasfast.spaces import nb201
        >>> str(nb201.from_ops(nb201.from_naslib_op_indices(np.array([[0, 1, 2, 3, 4, 0]]))[0].tolist()))
        '|skip_connect~0|+|none~0|nor_conv_1x1~1|+|nor_conv_3x3~0|avg_pool_3x3~1|skip_connect~2|'
    """
    arr = np.asarray(ops)
    if arr.ndim != 2 or arr.shape[1] != NUM_EDGES or arr.dtype.kind not in "iu" or arr.size and (
            arr.min() < 0 or arr.max() >= NUM_OPS):
        raise ValueError(f"NASLib op indices must be a (B, 6) int array of 0..4, got {arr.dtype} {arr.shape}")
    return _NASLIB_OP[arr.astype(np.int64)][:, _NASLIB_EDGE]


def op_indices_to_codes(ops: np.ndarray) -> np.ndarray:
    """(..., 6) op indices in [0, 5) -> base-5 codes (...,); the inverse of ``codes_to_op_indices``."""
    ops = np.asarray(ops)
    if ops.ndim == 0 or ops.shape[-1] != NUM_EDGES:
        raise ValueError(f"NB201 op indices must have {NUM_EDGES} per arch (last axis), got shape {ops.shape}")
    if not np.issubdtype(ops.dtype, np.integer):
        raise TypeError(f"NB201 op indices must be integers, got dtype {ops.dtype}")
    if ops.size and (ops.min() < 0 or ops.max() >= NUM_OPS):
        raise ValueError(f"NB201 op indices must lie in [0, {NUM_OPS}), got values {ops.min()}..{ops.max()}")
    return ops.astype(np.int64, copy=False) @ _POW5


def indices_to_codes(indices: np.ndarray) -> np.ndarray:
    return _index_to_code()[_checked(indices, "indices")]


def codes_to_indices(codes: np.ndarray) -> np.ndarray:
    return _code_to_index()[_checked(codes, "codes")]


def encode(archs: Iterable[NB201Arch | str | int]):
    """One-hot tensor encoding, shape (B, 6 edges, 5 ops), float32."""
    import torch

    idx = torch.from_numpy(op_indices(archs))
    return torch.nn.functional.one_hot(idx, NUM_OPS).to(torch.float32)


# ---- sampling and mutation ----------------------------------------------------------------------

def sample(rng: np.random.Generator) -> NB201Arch:
    """A uniformly random cell (each edge op uniform and independent)."""
    rng = check_generator(rng, "nb201.sample")
    return from_ops([int(x) for x in rng.integers(0, NUM_OPS, size=NUM_EDGES)])


def mutate(arch: NB201Arch, rng: np.random.Generator) -> NB201Arch:
    """Change one uniformly chosen edge to a uniformly chosen *different* op (NB201's REA mutation)."""
    rng = check_generator(rng, "nb201.mutate")
    ops = list(as_arch(arch).op_indices)  # an arch string or index works too
    edge = int(rng.integers(NUM_EDGES))
    choices = [o for o in range(NUM_OPS) if o != ops[edge]]
    ops[edge] = choices[int(rng.integers(len(choices)))]
    return from_ops(ops)


# ---- the benchmark's index order ----------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _index_strings() -> np.ndarray:
    with np.load(data_path("nb201", "nb201_200ep_nats_tss.npz"), allow_pickle=False) as z:
        return z["arch_str"]


@functools.lru_cache(maxsize=1)
def _index_to_code() -> np.ndarray:
    codes = op_indices_to_codes(np.array([parse(str(s)).op_indices for s in _index_strings()]))
    if len(np.unique(codes)) != NUM_ARCHS:
        raise RuntimeError("bundled NB201 index table does not hold 15,625 distinct archs")
    return codes


@functools.lru_cache(maxsize=1)
def _code_to_index() -> np.ndarray:
    inverse = np.empty(NUM_ARCHS, dtype=np.int64)
    inverse[_index_to_code()] = np.arange(NUM_ARCHS)
    return inverse


# ---- isomorphism classes ------------------------------------------------------------------------
# Rule (documented in docs of `canonical_hash`): an op-on-edge cell becomes an op-on-node graph in
# which every edge j -> i with op o is a vertex labelled o between j and i; the cell's nodes are
# input (-1), two "sum" nodes (SUM_LABEL) and output (-2). `none` edges carry nothing and are
# dropped; so is every edge not on an input->output path (it cannot affect the output). Two cells
# are one class iff these graphs are isomorphic, i.e. iff they differ only by which of the
# intermediate nodes is which once dead edges are gone. We do NOT merge skip_connect with an
# identity wire or parallel duplicate paths (the benchmark's own `canonicalize` does, giving
# 6,466 classes): those are functional equivalences, not graph isomorphisms.

SUM_LABEL = 10
# Vertex order (topological): in, e(1<-0), n1, e(2<-0), e(2<-1), n2, e(3<-0), e(3<-1), e(3<-2), out
_NODE_OF_CELL = {0: 0, 1: 2, 2: 5, 3: 9}
_EDGE_VERTEX = (1, 3, 4, 6, 7, 8)


def to_node_graphs(archs: Iterable[NB201Arch | str | int]) -> tuple[np.ndarray, np.ndarray]:
    """Op-on-node form: adjacency (B, 10, 10) uint8 and labels (B, 10) int64, `none` edges as
    padding (-3). Edge op labels are the NB201 op indices 1..4."""
    ops = op_indices(archs)
    B = len(ops)
    adj = np.zeros((B, 10, 10), dtype=np.uint8)
    labels = np.full((B, 10), SUM_LABEL, dtype=np.int64)
    labels[:, 0], labels[:, 9] = -1, -2
    for k, (dst, src) in enumerate(EDGES):
        v = _EDGE_VERTEX[k]
        adj[:, _NODE_OF_CELL[src], v] = 1
        adj[:, v, _NODE_OF_CELL[dst]] = 1
        labels[:, v] = np.where(ops[:, k] == OP_INDEX["none"], -3, ops[:, k])
    return adj, labels


def canonical_hash(archs: Iterable[NB201Arch | str | int]) -> list[str]:
    """Isomorphism-class hash of each cell (32 hex); the rule is in the comment above. A cell with
    no input->output path maps to 32 zeros (all such cells compute the same constant)."""
    from nasfast.ops import graph_hash

    adj, labels = to_node_graphs(archs)
    return graph_hash.digests_to_hex(graph_hash.graph_canonical_hash(adj, labels, prune=True))

"""NAS-Bench-101 cell space: DAGs of at most 7 vertices and 9 edges, 3 ops per interior vertex.

A spec is an upper-triangular 0/1 adjacency matrix (vertex order is a topological order) and one
integer label per vertex, in the labels the benchmark's own module hash uses::

    -1 input   0 conv3x3-bn-relu   1 conv1x1-bn-relu   2 maxpool3x3   -2 output   -3 padding

Padding vertices (-3) come *after* the output and carry no edges, so a 5-vertex spec padded to 7
keeps its output at index 4. aw_nas pads *before* the output instead (output at index 6) and numbers
the ops differently; ``to_aw_nas`` / ``from_aw_nas`` convert.

Which checks run on which graph follows the benchmark (``nasbench/api.py::_check_spec``, applied to
a ``ModelSpec`` whose ``matrix``/``ops`` have already been pruned): the given matrix must be square
and strictly upper-triangular, but the limits of 7 vertices and 9 edges apply to the *pruned* graph.
Raw NB101 specs with up to 16 edges are therefore valid (NASLib's 500 bundled raw specs include
them). We are stricter in one place: every vertex label is checked, even on vertices that pruning
drops, because our labels are integer codes and a stray -1 or 7 is a bug in the caller.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from nasfast.spaces import check_generator

if TYPE_CHECKING:
    import torch

INPUT, OUTPUT, PAD = -1, -2, -3
CONV3X3, CONV1X1, MAXPOOL3X3 = 0, 1, 2
#: Benchmark op names -> our labels (``Spec`` accepts either).
OP_LABELS: dict[str, int] = {"input": INPUT, "output": OUTPUT, "conv3x3-bn-relu": CONV3X3,
                             "conv1x1-bn-relu": CONV1X1, "maxpool3x3": MAXPOOL3X3}
MAX_VERTICES = 7
MAX_EDGES = 9
#: aw_nas op indices (``NasBench101SearchSpace.ops_choices``): conv1x1 first, then conv3x3.
AW_NAS_OPS: tuple[str, ...] = ("conv1x1-bn-relu", "conv3x3-bn-relu", "maxpool3x3", "none")
AW_NAS_NONE = 3
_TO_AW = np.array([1, 0, 2], dtype=np.int8)  # our interior label -> aw_nas index
_FROM_AW = np.array([1, 0, 2], dtype=np.int8)  # aw_nas index -> our interior label

GraphArray = Union[np.ndarray, list, tuple, "torch.Tensor"]


# ---- input conversion and vectorised validation -------------------------------------------------

def _as_int_array(x: Any, name: str, *, names: bool = False, narrow: bool = False) -> np.ndarray:
    """Integer ndarray from numpy / nested lists / torch; floats only when exactly integral.
    int64, except that ``narrow`` keeps int8 and bool input as int8 (8x less memory traffic for the
    batch checks; every valid label and entry fits)."""
    torch_mod = sys.modules.get("torch")
    if torch_mod is not None and isinstance(x, torch_mod.Tensor):
        x = x.detach().cpu().numpy()
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"NB101 {name} must be an array of integers, got {type(x).__name__}: {x!r:.80}")
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise ValueError(f"NB101 {name} is not a rectangular array: {x!r:.200} ({exc})") from None
    kind = arr.dtype.kind
    if kind == "U" and names:
        flat = [OP_LABELS.get(str(s)) for s in arr.ravel()]
        if None in flat:
            bad = arr.ravel()[flat.index(None)]
            raise ValueError(f"unknown NB101 op name {str(bad)!r} in {name}; expected one of {list(OP_LABELS)}")
        return np.asarray(flat, dtype=np.int64).reshape(arr.shape)
    if kind == "f":
        bad = ~np.isfinite(arr) | (np.abs(arr) > 2**31)
        bad[~bad] = arr[~bad] != np.round(arr[~bad])
        if bad.any():
            pos = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"NB101 {name} entry {pos} = {arr[pos]!r} is not an integer")
        return arr.astype(np.int64)
    if kind == "u" and arr.size and int(arr.max()) > 2**62:  # would wrap to a negative label
        raise ValueError(f"NB101 {name} value {int(arr.max())} is out of range")
    if kind not in "biu":
        raise TypeError(f"NB101 {name} must hold integers, got dtype {arr.dtype} ({x!r:.80})")
    return arr.astype(np.int8 if narrow and arr.dtype in (np.int8, np.bool_) else np.int64)


def _batch(adjacency: Any, ops: Any) -> tuple[np.ndarray, np.ndarray]:
    """(B, N, N) and (B, N) int64 (int8 when given int8 or bool); a single (N, N) / (N,) graph becomes a
    batch of one."""
    a = _as_int_array(adjacency, "adjacency", narrow=True)
    o = _as_int_array(ops, "ops", narrow=True)
    if a.ndim == 2 and o.ndim == 1:
        a, o = a[None], o[None]
    if a.ndim != 3 or a.shape[1] != a.shape[2]:
        raise ValueError(f"NB101 adjacency must have shape (B, N, N) or (N, N), got {a.shape}")
    if o.shape != a.shape[:2]:
        raise ValueError(f"NB101 ops shape {o.shape} does not match adjacency shape {a.shape}")
    return a, o


def _first(bad: np.ndarray) -> tuple[int, ...] | None:
    """Index of the first True (row-major), or None; argmax is much cheaper than argwhere here."""
    if not bad.any():
        return None
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), bad.shape))


def _closure(adj: np.ndarray) -> np.ndarray:
    """Reflexive-transitive closure of a (B, N, N) 0/1 batch by repeated squaring (any vertex order)."""
    reach = np.minimum(adj.astype(np.int64) + np.eye(adj.shape[1], dtype=np.int64), 1)  # no int8 overflow
    for _ in range(max(1, int(np.ceil(np.log2(max(adj.shape[1], 2)))))):
        reach = np.minimum(np.matmul(reach, reach), 1)
    return reach


def _neighbour_bits(adj: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(successors, predecessors) of every vertex as (B, N) int64 bitmasks (bit j = vertex j), for
    N <= 63: ``np.packbits`` is far cheaper than numpy's reductions over a short axis."""
    B, N, _ = adj.shape
    nz = adj != 0

    def pack(x: np.ndarray) -> np.ndarray:
        packed = np.packbits(x, axis=2, bitorder="little")
        buf = np.zeros((B, N, 8), dtype=np.uint8)
        buf[:, :, :packed.shape[2]] = packed
        return buf.view("<i8")[..., 0].astype(np.int64)

    return pack(nz), pack(nz.transpose(0, 2, 1))


_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)


def _popcount(x: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):  # numpy >= 2
        return np.bitwise_count(x).astype(np.int64)
    return _POPCOUNT8[np.ascontiguousarray(x).view(np.uint8).reshape(*x.shape, 8)].sum(-1)


def _on_a_path_topological(succ: np.ndarray, pred: np.ndarray, out: np.ndarray) -> np.ndarray:
    """(B,) bitmask of the vertices reachable from vertex 0 and reaching vertex ``out[b]``, for
    topologically ordered graphs given as ``_neighbour_bits``: one sweep each way."""
    B, N = succ.shape
    from_input = np.ones(B, dtype=np.int64)
    for i in range(N):
        from_input |= succ[:, i] * ((from_input >> i) & 1)
    to_output = np.left_shift(np.int64(1), out.astype(np.int64))
    for j in range(N - 1, -1, -1):
        to_output |= pred[:, j] * ((to_output >> j) & 1)
    return from_input & to_output


def _validate(adj: np.ndarray, ops: np.ndarray, *, topological: bool,
              where: Callable[[int], str]) -> np.ndarray:
    """Check a batch; raise ValueError for the first offending graph; return the (B, N) keep mask.

    ``topological``: require the strictly upper-triangular form (the benchmark's); otherwise any DAG
    with the input first and the output last, which is what a canonical hash is for.
    """
    B, N, _ = adj.shape
    if B == 0:
        return np.zeros((0, N), dtype=bool)

    def fail(b: int, msg: str) -> None:
        raise ValueError(f"{where(b)}{msg}")

    if (hit := _first((adj != 0) & (adj != 1))) is not None:
        b, i, j = hit
        fail(b, f"adjacency entry ({i}, {j}) = {adj[hit]}, expected 0 or 1")
    if (hit := _first((ops < PAD) | (ops > MAXPOOL3X3))) is not None:
        fail(hit[0], f"vertex {hit[1]} has label {ops[hit]}, expected one of -3 (padding), -2 (output), "
                     "-1 (input), 0 (conv3x3), 1 (conv1x1), 2 (maxpool3x3)")
    pad = ops == PAD
    if (hit := _first(pad[:, :-1] & ~pad[:, 1:])) is not None:
        fail(hit[0], f"padding vertex {hit[1]} (label -3) is followed by vertex {hit[1] + 1} with label "
                     f"{ops[hit[0], hit[1] + 1]}; padding must be a trailing block after the output")
    bits = _neighbour_bits(adj) if topological and N <= 63 else None
    has_edges = (bits[0] != 0) | (bits[1] != 0) if bits else adj.any(axis=2) | adj.any(axis=1)
    if (hit := _first(pad & has_edges)) is not None:
        fail(hit[0], f"padding vertex {hit[1]} (label -3) has edges; padding vertices must be isolated")
    m = (~pad).sum(axis=1)
    if (hit := _first(m < 2)) is not None:
        fail(hit[0], f"has {m[hit]} non-padding vertices, expected at least 2 (input and output)")
    if topological:
        if (hit := _first(~np.triu(np.ones((N, N), dtype=bool), 1)[None] & (adj != 0))) is not None:
            fail(hit[0], f"adjacency entry ({hit[1]}, {hit[2]}) = 1 is on or below the diagonal; the "
                         "matrix must be strictly upper-triangular (vertices in topological order)")
    else:
        if (hit := _first(np.diagonal(adj, axis1=1, axis2=2) != 0)) is not None:
            fail(hit[0], f"vertex {hit[1]} has a self-loop")
        back = np.diagonal(np.matmul(adj, _closure(adj)), axis1=1, axis2=2)  # i -> j ->* i
        if (hit := _first(back > 0)) is not None:
            fail(hit[0], f"adjacency has a directed cycle through vertex {hit[1]}; expected a DAG")
    if (hit := _first(ops[:, 0] != INPUT)) is not None:
        fail(hit[0], f"first vertex has label {ops[hit[0], 0]}, expected -1 (input)")
    out = m - 1
    last = ops[np.arange(B), out]
    if (hit := _first(last != OUTPUT)) is not None:
        b = hit[0]
        fail(b, f"last non-padding vertex {out[b]} has label {last[b]}, expected -2 (output)")
    idx = np.arange(N)[None]
    interior = (idx > 0) & (idx < out[:, None])
    if (hit := _first(interior & (ops < 0))) is not None:
        fail(hit[0], f"interior vertex {hit[1]} has label {ops[hit]}, expected 0, 1 or 2")
    if bits:
        kept = _on_a_path_topological(*bits, out)
        keep = ((kept[:, None] >> np.arange(N)) & 1).astype(bool)
    else:
        reach = _closure(adj)
        keep = (reach[:, 0, :] & reach[np.arange(B), :, out]) > 0  # from the input and to the output
    if (hit := _first(~keep[:, 0])) is not None:
        fail(hit[0], "has no path from the input to the output (NAS-Bench-101 rejects it as disconnected)")
    nv = keep.sum(axis=1)
    if (hit := _first(nv > MAX_VERTICES)) is not None:
        fail(hit[0], f"has {nv[hit]} vertices after pruning, expected at most {MAX_VERTICES}")
    if bits:  # kept vertices' edges to kept vertices
        ne = (_popcount(bits[0] & kept[:, None]) * keep).sum(axis=1)
    else:
        ne = (adj * keep[:, :, None] * keep[:, None, :]).sum(axis=(1, 2))
    if (hit := _first(ne > MAX_EDGES)) is not None:
        fail(hit[0], f"has {ne[hit]} edges after pruning, expected at most {MAX_EDGES}")
    return keep


def _where_batch(b: int) -> str:
    return f"NB101 graph {b}: "


def _compact(adj: np.ndarray, ops: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Move kept vertices to the front (order preserved), pad the rest with -3 after the output."""
    a_out, o_out = adj.astype(np.int8), ops.astype(np.int8)
    # graphs whose kept vertices are already the non-padding prefix (every pruned input) stay as
    # they are: the output is always kept, so the rest is padding
    moved = np.flatnonzero(~(keep == (np.arange(keep.shape[1])[None] < keep.sum(axis=1)[:, None])).all(axis=1))
    if moved.size:
        a_out[moved], o_out[moved] = _compact_rows(adj[moved], ops[moved], keep[moved])
    return a_out, o_out


def _compact_rows(adj: np.ndarray, ops: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(~keep, axis=1, kind="stable")
    kept = np.take_along_axis(keep, order, 1)
    a = np.take_along_axis(np.take_along_axis(adj, order[:, :, None], 1), order[:, None, :], 2)
    a = a * kept[:, :, None] * kept[:, None, :]
    o = np.where(kept, np.take_along_axis(ops, order, 1), PAD)
    return a.astype(np.int8), o.astype(np.int8)


# ---- the spec -----------------------------------------------------------------------------------

class Spec:
    """One validated, pruned NB101 cell.

    ``adjacency`` (n, n) int8 and ``ops`` (n labels) hold the pruned graph (NAS-Bench-101's
    ``ModelSpec.matrix``/``ops``); ``original_adjacency``/``original_ops`` the given one without its
    padding. Equality and ``hash()`` compare the pruned matrix and labels (vertex order matters);
    ``fingerprint()`` is the isomorphism-invariant benchmark key.

    Example:
        >>> from nasfast.spaces.nb101 import Spec
        >>> s = Spec([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [-1, 0, -2])
        >>> s.padded(7)[1].tolist()
        [-1, 0, -2, -3, -3, -3, -3]
    """

    __slots__ = ("adjacency", "ops", "original_adjacency", "original_ops")
    adjacency: np.ndarray
    ops: tuple[int, ...]
    original_adjacency: np.ndarray
    original_ops: tuple[int, ...]

    def __init__(self, adjacency: GraphArray, ops: GraphArray | list[str]) -> None:
        a = _as_int_array(adjacency, "adjacency")
        o = _as_int_array(ops, "ops", names=True)
        if a.ndim != 2 or a.shape[0] != a.shape[1]:
            raise ValueError(f"NB101 adjacency must be a square 2-D matrix, got shape {a.shape}")
        if o.shape != (a.shape[0],):
            raise ValueError(f"NB101 ops must have {a.shape[0]} labels (one per vertex), got shape {o.shape}")
        keep = _validate(a[None], o[None], topological=True, where=lambda b: "NB101 spec: ")[0]
        m = int((o != PAD).sum())
        idx = np.flatnonzero(keep)
        for name, value in (("original_adjacency", a[:m, :m].astype(np.int8)),
                            ("original_ops", tuple(int(v) for v in o[:m])),
                            ("adjacency", a[np.ix_(idx, idx)].astype(np.int8)),
                            ("ops", tuple(int(v) for v in o[idx]))):
            if isinstance(value, np.ndarray):
                value.flags.writeable = False
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Spec is immutable; cannot set {name!r}")

    def __reduce__(self) -> tuple[type, tuple[np.ndarray, tuple[int, ...]]]:
        # rebuild (and re-validate) from the given graph: slots plus a blocked __setattr__ defeat
        # pickle's default, and evaluator worker pools pickle specs
        return (Spec, (np.array(self.original_adjacency), self.original_ops))

    @property
    def num_vertices(self) -> int:
        return len(self.ops)

    @property
    def num_edges(self) -> int:
        return int(self.adjacency.sum())

    def padded(self, num_vertices: int = MAX_VERTICES) -> tuple[np.ndarray, np.ndarray]:
        """Pruned spec padded to ``num_vertices``: ((n, n) int8, (n,) int8), padding after the output."""
        if num_vertices < self.num_vertices:
            raise ValueError(f"cannot pad a {self.num_vertices}-vertex NB101 spec to {num_vertices} vertices")
        n = self.num_vertices
        adj = np.zeros((num_vertices, num_vertices), dtype=np.int8)
        adj[:n, :n] = self.adjacency
        ops = np.full(num_vertices, PAD, dtype=np.int8)
        ops[:n] = self.ops
        return adj, ops

    def fingerprint(self) -> str:
        """The NAS-Bench-101 module hash (32 hex digits), the key of the benchmark's tables."""
        return fingerprint(self.adjacency, np.asarray(self.ops))[0]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Spec):
            return NotImplemented
        return self.ops == other.ops and np.array_equal(self.adjacency, other.adjacency)

    def __hash__(self) -> int:
        return hash((self.ops, self.adjacency.tobytes()))

    def __repr__(self) -> str:
        return f"Spec({self.adjacency.tolist()}, {list(self.ops)})"


# ---- batched validation and hashing (the compiled ops) ------------------------------------------

def prune_batch(adjacency: GraphArray, ops: GraphArray) -> tuple[np.ndarray, np.ndarray]:
    """Validate a batch as ``Spec`` does and return it pruned, in our padded form.

    Shapes: adjacency ``B x N x N``, ops ``B x N`` (or one ``N x N`` / ``N`` graph). Returns int8
    arrays of the same shapes; pruned vertices become -3 padding after the output.
    """
    a, o = _batch(adjacency, ops)
    keep = _validate(a, o, topological=True, where=_where_batch)
    return _compact(a, o, keep)


def _op_inputs(adjacency: Any, ops: Any, *, topological: bool) -> tuple[Any, Any]:
    import torch

    from nasfast.ops.graph_hash import MAX_NODES

    a, o = _batch(adjacency, ops)
    keep = _validate(a, o, topological=topological, where=_where_batch)
    if a.shape[1] > MAX_NODES:  # the op's limit; what survives pruning always fits, so prune here
        a, o = (x[:, :MAX_NODES, :MAX_NODES] if x.ndim == 3 else x[:, :MAX_NODES]
                for x in _compact(a, o, keep))
    device = adjacency.device if isinstance(adjacency, torch.Tensor) else torch.device("cpu")
    return (torch.from_numpy(a.astype(np.uint8)).to(device),
            torch.from_numpy(o.astype(np.int64, copy=False)).to(device))  # int8 input arrives as int8


def fingerprint(adjacency: GraphArray, ops: GraphArray) -> list[str]:
    """NAS-Bench-101 module hashes (32 hex digits each) of a batch of specs.

    Shapes: adjacency ``B x N x N``, ops ``B x N`` (numpy or torch; one ``N x N`` / ``N`` graph gives a
    list of one). Specs may be raw (unpruned) or padded; every graph is validated first and the
    first bad one is named. The hashing is ``nasfast.ops.graph_hash.nb101_fingerprint``.
    """
    from nasfast.ops import graph_hash

    a, o = _op_inputs(adjacency, ops, topological=True)
    if a.shape[0] == 0:
        return []
    return graph_hash.digests_to_hex(graph_hash.nb101_fingerprint(a, o))


def canonical_hash(adjacency: GraphArray, ops: GraphArray) -> list[str]:
    """Exact isomorphism-invariant hashes of pruned NB101 cells (no Weisfeiler-Lehman collisions).

    Same inputs as ``fingerprint``, except that vertices need not be in topological order: any DAG
    with the input first and the output last (before padding) is accepted, since an order-free key
    is the point of a canonical form. The hashing is ``graph_hash.graph_canonical_hash(prune=True)``.
    """
    from nasfast.ops import graph_hash

    a, o = _op_inputs(adjacency, ops, topological=False)
    if a.shape[0] == 0:
        return []
    return graph_hash.digests_to_hex(graph_hash.graph_canonical_hash(a, o, True))


# ---- aw_nas form --------------------------------------------------------------------------------

def to_aw_nas(spec: Spec) -> tuple[np.ndarray, np.ndarray]:
    """aw_nas's padded form of the pruned spec: ((7, 7) int8, (7,) int8).

    Padding vertices sit *before* the output, which stays at index 6, and have op 3 (``none``).
    Interior ops use aw_nas's indices (conv1x1 0, conv3x3 1, maxpool 2, none 3); aw_nas gives the
    input and output no op index, so we store -1 and -2 there: ``ops[1:6]`` is aw_nas's own 5-list.
    """
    if not isinstance(spec, Spec):
        raise TypeError(f"to_aw_nas expects a Spec, got {type(spec).__name__}")
    n = spec.num_vertices
    pos = list(range(n - 1)) + [MAX_VERTICES - 1]
    adj = np.zeros((MAX_VERTICES, MAX_VERTICES), dtype=np.int8)
    adj[np.ix_(pos, pos)] = spec.adjacency
    ops = np.full(MAX_VERTICES, AW_NAS_NONE, dtype=np.int8)
    ops[0], ops[-1] = INPUT, OUTPUT
    ops[1:n - 1] = _TO_AW[list(spec.ops[1:-1])]
    return adj, ops


def from_aw_nas(adjacency: GraphArray, ops: GraphArray) -> Spec:
    """Spec from aw_nas's form: an (N, N) matrix and either N ops (-1, interior..., -2) or aw_nas's
    N - 2 interior op indices. ``none`` (3) vertices must be isolated and form one block right before
    the output, as aw_nas's padding does."""
    a = _as_int_array(adjacency, "aw_nas adjacency")
    o = _as_int_array(ops, "aw_nas ops")
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < 2:
        raise ValueError(f"aw_nas adjacency must be a square matrix of at least 2 vertices, got shape {a.shape}")
    n = a.shape[0]
    if o.shape == (n,):
        if o[0] != INPUT or o[-1] != OUTPUT:
            raise ValueError(f"aw_nas ops of length {n} must start with -1 (input) and end with -2 "
                             f"(output), got {o.tolist()}")
        inner = o[1:-1]
    elif o.shape == (n - 2,):
        inner = o
    else:
        raise ValueError(f"aw_nas ops must have {n} or {n - 2} entries for a {n}-vertex matrix, got shape {o.shape}")
    if ((inner < 0) | (inner > AW_NAS_NONE)).any():
        raise ValueError(f"aw_nas interior ops {inner.tolist()} must be in 0..3 "
                         "(conv1x1, conv3x3, maxpool3x3, none)")
    none = np.flatnonzero(inner == AW_NAS_NONE) + 1
    real = n - 1 - len(none)
    if len(none) and (none != np.arange(real, n - 1)).any():
        raise ValueError(f"aw_nas 'none' vertices {none.tolist()} must form one block right before the "
                         f"output (vertices {real}..{n - 2}), ops {inner.tolist()}")
    if len(none) and (a[none].any() or a[:, none].any()):
        raise ValueError(f"aw_nas 'none' vertices {none.tolist()} have edges; padding must be isolated")
    pos = list(range(real)) + [n - 1]
    labels = [INPUT] + [int(_FROM_AW[v]) for v in inner[: real - 1]] + [OUTPUT]
    return Spec(a[np.ix_(pos, pos)], labels)


# ---- sampling and mutation ----------------------------------------------------------------------

def sample(rng: np.random.Generator) -> Spec:
    """A random valid spec as the benchmark's example samples one: a uniform random 7x7 strictly
    upper-triangular 0/1 matrix and uniform interior ops, rejected until valid. Uniform over raw
    specs, so not uniform over the 423,624 unique cells."""
    rng = check_generator(rng, "nb101.sample")
    while True:
        adj = np.triu(rng.integers(0, 2, size=(MAX_VERTICES, MAX_VERTICES)), 1)
        ops = rng.integers(0, 3, size=MAX_VERTICES)
        ops[0], ops[-1] = INPUT, OUTPUT
        try:
            return Spec(adj, ops)
        except ValueError:
            continue


#: retries before ``mutate`` gives up (the paper's rate 1 needs a few; a rate near 7 can need very many)
_MUTATE_TRIES = 100_000


def mutate(spec: Spec, rng: np.random.Generator, mutation_rate: float = 1.0) -> Spec:
    """NAS-Bench-101's example mutation, retried until the result is valid.

    On the unpruned 7-vertex spec, each of the 21 upper-triangle entries flips with probability
    ``mutation_rate / 7`` (about 3 flips, most of them pruned away) and each of the 5 interior ops
    is replaced by a different op with probability ``mutation_rate / 5``. A spec given with fewer
    vertices is first widened to 7 by isolated vertices (uniform random ops) before its output, so
    that mutation can grow it; one given with more uses its pruned form. As in the benchmark, the
    result may equal the parent (every flip can land on pruned parts).
    """
    if not isinstance(spec, Spec):
        raise TypeError(f"mutate expects a Spec, got {type(spec).__name__}")
    if not 0 < mutation_rate < MAX_VERTICES:
        # at 7 every edge flips for sure, so a child that is invalid once is invalid on every retry
        raise ValueError(f"mutation_rate must be in (0, {MAX_VERTICES}) (edges flip with probability "
                         f"rate / {MAX_VERTICES}), got {mutation_rate!r}")
    rng = check_generator(rng, "nb101.mutate")
    base_adj, base_ops = spec.original_adjacency, spec.original_ops
    if len(base_ops) > MAX_VERTICES:
        base_adj, base_ops = spec.adjacency, spec.ops
    n, v = len(base_ops), MAX_VERTICES
    pos = list(range(n - 1)) + [v - 1]
    adj0 = np.zeros((v, v), dtype=np.int64)
    adj0[np.ix_(pos, pos)] = base_adj
    ops0 = np.concatenate([base_ops[:-1], rng.integers(0, 3, size=v - n), [OUTPUT]]).astype(np.int64)
    upper = np.triu(np.ones((v, v), dtype=bool), 1)
    for _ in range(_MUTATE_TRIES):
        flip = upper & (rng.random((v, v)) < mutation_rate / v)
        adj = np.where(flip, 1 - adj0, adj0)
        ops = ops0.copy()
        for i in range(1, v - 1):
            if rng.random() < mutation_rate / (v - 2):
                ops[i] = (ops[i] + 1 + rng.integers(2)) % 3  # uniform over the two other ops
        try:
            return Spec(adj, ops)
        except ValueError:
            continue
    raise RuntimeError(f"nb101.mutate found no valid child of {spec!r} in {_MUTATE_TRIES} tries at "
                       f"mutation_rate {mutation_rate}; try a lower rate")

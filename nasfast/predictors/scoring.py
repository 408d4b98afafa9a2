"""Streaming top-K scoring of many candidate architectures with a trained ``GATESPredictor``
(``nasfast score``): candidates come chunk by chunk (sampled, or read from a file), duplicates are
dropped, and only the best K survive each chunk, so memory does not grow with the number scored
(except for the set of keys already seen, 8 bytes a slot for DARTS).

Candidates never become Python arch objects on the way: each space has an array form that the
predictor's encoders take directly (``encoding.py``) and a vectorised sampler for it.

=======  ======================================  ===============================================
space    array form of a batch                   duplicate key
=======  ======================================  ===============================================
nb201    (B, 6) int64 op indices                 isomorphism class (``nb201.canonical_hash``)
nb101    pruned (adjacency (B, 7, 7), ops (B,    NAS-Bench-101 fingerprint (isomorphism-invariant
         7)) int8 in our labels                  module hash, ``graph_hash.nb101_fingerprint``)
darts    (B, 2, 8, 2) compact (input, op)        ``darts_key``: genotype up to the order of each
                                                 node's two edges and relabellings of the
                                                 intermediate nodes (isomorphism of the cells)
=======  ======================================  ===============================================
"""

from __future__ import annotations

import csv
import functools
import itertools
import json
import resource
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from nasfast.spaces import darts, nb101, nb201

__all__ = ["SPACES", "darts_key", "sample_darts", "sample_nb101", "sample_nb201", "score_stream", "read_archs",
           "ScoreResult", "UInt64Set", "peak_rss_bytes"]

SPACES = ("nb101", "nb201", "darts")
#: headers taken as the arch column of a ``--archs`` CSV file, in this order (as ``tabular.from_csv``)
ARCH_HEADERS = ("arch", "arch_str", "architecture", "genotype", "spec")


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (``ru_maxrss`` is in KiB on Linux)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


# ---- vectorised samplers -----------------------------------------------------------------------

def sample_nb201(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` uniform NB201 cells as (n, 6) int64 op indices (as ``nb201.sample``, in one draw)."""
    return rng.integers(0, nb201.NUM_OPS, size=(n, nb201.NUM_EDGES), dtype=np.int64)


def sample_darts(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` uniform genotypes as a (n, 2, 8, 2) int64 compact array, distributed as ``darts.sample``:
    per cell and node k, an ordered pair of distinct inputs from 0..k+1 and two uniform ops."""
    out = np.empty((n, 2, darts.EDGES_PER_CELL, 2), dtype=np.int64)
    for k in range(darts.NUM_NODES):
        first = rng.integers(0, k + 2, size=(n, 2))
        second = rng.integers(0, k + 1, size=(n, 2))
        second += second >= first  # uniform over the k + 1 inputs other than ``first``
        out[:, :, 2 * k, 0], out[:, :, 2 * k + 1, 0] = first, second
    out[..., 1] = rng.integers(0, len(darts.OPS), size=(n, 2, darts.EDGES_PER_CELL))
    return out


_NB101_UPPER = np.triu(np.ones((nb101.MAX_VERTICES, nb101.MAX_VERTICES), dtype=np.int8), 1)


def _nb101_valid(adj: np.ndarray) -> np.ndarray:
    """Which raw 7-vertex upper-triangular graphs NAS-Bench-101 accepts: an input->output path and
    at most 9 edges once pruned to the vertices on such paths (7 vertices always fit)."""
    v = adj.shape[1]
    reach = np.minimum(adj.astype(np.int16) + np.eye(v, dtype=np.int16), 1)
    for _ in range(3):  # 2^3 >= 7: paths of any length
        reach = np.minimum(reach @ reach, 1)
    keep = (reach[:, 0, :] & reach[:, :, v - 1]).astype(bool)
    edges = (adj.astype(bool) & keep[:, :, None] & keep[:, None, :]).sum((1, 2))
    return keep[:, 0] & (edges <= nb101.MAX_EDGES)


def sample_nb101(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` valid NB101 specs, distributed as ``nb101.sample`` (uniform raw 7x7 upper-triangular
    matrix and interior ops, rejected until valid), drawn in numpy batches and returned pruned:
    (adjacency (n, 7, 7) int8, ops (n, 7) int8), padding after the output."""
    v = nb101.MAX_VERTICES
    adjs, opss, got = [], [], 0
    while got < n:
        m = max(1024, int((n - got) * 1.6))  # about 70 % of the raw draws are valid
        adj = rng.integers(0, 2, size=(m, v, v), dtype=np.int8) * _NB101_UPPER
        ops = rng.integers(0, 3, size=(m, v), dtype=np.int8)
        ops[:, 0], ops[:, -1] = nb101.INPUT, nb101.OUTPUT
        ok = _nb101_valid(adj)
        adjs.append(adj[ok])
        opss.append(ops[ok])
        got += int(ok.sum())
    return nb101.prune_batch(np.concatenate(adjs)[:n], np.concatenate(opss)[:n])


# ---- duplicate keys ----------------------------------------------------------------------------

_DARTS_PAIRS = [(k + 2) * (k + 1) // 2 for k in range(darts.NUM_NODES)]  # unordered input pairs of node k
_DARTS_NODE_RADIX = [p * len(darts.OPS) ** 2 for p in _DARTS_PAIRS]
_DARTS_CELL_RADIX = int(np.prod(_DARTS_NODE_RADIX))  # 1,037,664,180 < 2^30: a genotype key fits in 60 bits


def _darts_cell_code(cell: np.ndarray) -> np.ndarray:
    """(B,) mixed-radix codes of (B, 8, 2) int64 cells, order-free within each node (``darts_key``)."""
    n_ops = len(darts.OPS)
    code = np.zeros(len(cell), dtype=np.int64)
    for k in range(darts.NUM_NODES):
        (s0, o0), (s1, o1) = cell[:, 2 * k].T, cell[:, 2 * k + 1].T
        swap = s0 > s1
        lo, hi = np.where(swap, s1, s0), np.where(swap, s0, s1)
        op_lo, op_hi = np.where(swap, o1, o0), np.where(swap, o0, o1)
        pair = hi * (hi - 1) // 2 + lo  # inputs differ, so hi >= 1
        code = code * _DARTS_NODE_RADIX[k] + (pair * n_ops + op_lo) * n_ops + op_hi
    return code


#: relabellings of the 4 intermediate nodes: new label of old node k is perm[k]
_DARTS_PERMS = np.array(list(itertools.permutations(range(darts.NUM_NODES))), dtype=np.int64)
#: per relabelling, the old edge rows in the new node order (new node j is old node argsort(perm)[j])
_DARTS_PERM_ROWS = (2 * np.argsort(_DARTS_PERMS, axis=1)[:, :, None] + np.arange(2)).reshape(len(_DARTS_PERMS), -1)
#: bit of "intermediate node k reads intermediate node j" (j < k) in a cell's dependency pattern
_DARTS_DEP_BIT = {(k, j): k * (k - 1) // 2 + j for k in range(darts.NUM_NODES) for j in range(k)}


@functools.lru_cache(maxsize=1)
def _darts_relabellings() -> list[np.ndarray]:
    """Per dependency pattern (6 bits), the non-identity relabellings that keep node order a DAG: every
    node read comes before its reader (perm[j] < perm[k])."""
    out = []
    for pattern in range(1 << len(_DARTS_DEP_BIT)):
        deps = [kj for kj, bit in _DARTS_DEP_BIT.items() if pattern >> bit & 1]
        out.append(np.array([i for i, perm in enumerate(_DARTS_PERMS) if i and all(perm[j] < perm[k] for k, j in deps)],
                            dtype=np.int64))
    return out


def _darts_cell_canonical_code(cell: np.ndarray) -> np.ndarray:
    """The least code over the relabellings of the intermediate nodes that keep the cell a DAG in node
    order (each node reading only the inputs and lower nodes): every node feeds the output, which
    concatenates them all, so such a relabelling is the same network. Rows are grouped by their
    dependency pattern, whose valid relabellings are known, so only those are coded."""
    best = _darts_cell_code(cell)  # the identity is always valid
    src, op = cell[..., 0], cell[..., 1]
    pattern = np.zeros(len(cell), dtype=np.int64)
    for (k, j), bit in _DARTS_DEP_BIT.items():
        reads = (src[:, 2 * k] == j + 2) | (src[:, 2 * k + 1] == j + 2)
        pattern |= reads.astype(np.int64) << bit
    relabellings = _darts_relabellings()
    order = np.argsort(pattern, kind="stable")
    bounds = np.flatnonzero(np.diff(pattern[order])) + 1
    for idx in np.split(order, bounds):
        perms = relabellings[int(pattern[idx[0]])] if idx.size else ()
        if not len(perms):
            continue
        group_src, group_op, group_best = src[idx], op[idx], best[idx]  # gathered once per group
        for p in perms:
            perm, rows = _DARTS_PERMS[p], _DARTS_PERM_ROWS[p]
            s_old = group_src[:, rows]
            new_src = np.where(s_old >= 2, perm[np.maximum(s_old - 2, 0)] + 2, s_old)
            code = _darts_cell_code(np.stack([new_src, group_op[:, rows]], axis=-1))
            np.minimum(group_best, code, out=group_best)
        best[idx] = group_best
    return best


def darts_key(compact: np.ndarray, isomorphism: bool = True) -> np.ndarray:
    """(B,) int64 keys, equal iff two genotypes are the same network: up to the order of each node's
    two (input, op) edges (a node sums its inputs) and, with ``isomorphism``, up to relabelling the
    intermediate nodes (each cell's least code over the relabellings that keep node order a DAG; all
    four nodes are concatenated at the output, so their labels carry no meaning).

    Mixed radix per cell: for node k, (index of its unordered input pair among C(k+2, 2)) x 49 + 7 x
    (op of the lower input) + (op of the higher input); the normal cell's code times
    ``_DARTS_CELL_RADIX`` plus the reduce cell's.
    """
    c = np.asarray(compact, dtype=np.int64)
    key = np.zeros(len(c), dtype=np.int64)
    for cell in range(2):
        code = _darts_cell_canonical_code(c[:, cell]) if isomorphism else _darts_cell_code(c[:, cell])
        key = key * _DARTS_CELL_RADIX + code
    return key


@functools.lru_cache(maxsize=1)
def nb201_class_of_code() -> np.ndarray:
    """(15625,) int64: the isomorphism class (``nb201.canonical_hash``, 8,765 classes) of each NB201
    op code, numbered by first appearance; computed once (~1.5 s)."""
    hashes = nb201.canonical_hash([nb201.from_code(code) for code in range(nb201.NUM_ARCHS)])
    _, first, inverse = np.unique(np.array(hashes), return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[inverse.reshape(-1)]


class UInt64Set:
    """A set of non-negative int64 keys in one numpy open-addressing table (linear probing,
    load <= 1/2): 16 bytes or less per key, and batch insertion without Python objects. A Python
    ``set`` of 10 million ints needs about 1 GB."""

    def __init__(self, capacity: int = 1 << 16) -> None:
        self._bits = max(4, int(capacity - 1).bit_length())
        self._table = np.zeros(1 << self._bits, dtype=np.uint64)  # 0 = empty; keys stored + 1
        self._size = 0

    def __len__(self) -> int:
        return self._size

    @property
    def nbytes(self) -> int:
        return self._table.nbytes

    def add_new(self, keys: np.ndarray) -> np.ndarray:
        """Insert ``keys``; returns a bool mask of the entries that were not in the set before (for
        a key repeated within ``keys``, only its first occurrence is True)."""
        keys = np.asarray(keys, dtype=np.int64)
        if keys.size and keys.min() < 0:
            raise ValueError(f"UInt64Set keys must be non-negative, got {keys.min()}")
        uniq, first = np.unique(keys.astype(np.uint64) + np.uint64(1), return_index=True)
        while 2 * (self._size + len(uniq)) > len(self._table):
            self._grow()
        new = self._insert(uniq)
        mask = np.zeros(len(keys), dtype=bool)
        mask[first[new]] = True
        self._size += int(new.sum())
        return mask

    def _slots(self, keys: np.ndarray) -> np.ndarray:
        # Fibonacci hashing: the top bits of key * 2^64 / golden ratio
        return ((keys * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - self._bits)).astype(np.int64)

    def _insert(self, keys: np.ndarray) -> np.ndarray:
        """Insert distinct stored-form keys; returns which were absent."""
        table, mask = self._table, len(self._table) - 1
        new = np.zeros(len(keys), dtype=bool)
        pending = np.arange(len(keys))
        slot = self._slots(keys)
        while pending.size:
            k, s = keys[pending], slot[pending]
            cur = table[s]
            empty = cur == 0
            table[s[empty]] = k[empty]  # colliding writers: one wins, the others probe on
            won = empty & (table[s] == k)
            new[pending[won]] = True
            done = won | (cur == k)
            pending = pending[~done]
            slot[pending] = (slot[pending] + 1) & mask
        return new

    def _grow(self) -> None:
        old = self._table[self._table != 0]
        self._bits += 1
        self._table = np.zeros(1 << self._bits, dtype=np.uint64)
        self._insert(old)


class _Dedup(Protocol):
    def new(self, batch: Any) -> np.ndarray: ...


class _NB201Dedup:
    def __init__(self) -> None:
        self.classes = nb201_class_of_code()
        self.seen = np.zeros(int(self.classes.max()) + 1, dtype=bool)
        _, first = np.unique(self.classes, return_index=True)
        self.representative = first.astype(np.int64)  # class -> its lowest code

    def canonical(self, batch: np.ndarray) -> np.ndarray:
        """Each arch's class representative (op indices): what is scored, so that isomorphic cells get
        bit-identical scores, and which twin comes first cannot change a score in the last bits."""
        codes = self.representative[self.classes[nb201.op_indices_to_codes(batch)]]
        return nb201.codes_to_op_indices(codes)

    def new(self, batch: np.ndarray) -> np.ndarray:
        cls = self.classes[nb201.op_indices_to_codes(batch)]
        _, first = np.unique(cls, return_index=True)
        mask = np.zeros(len(cls), dtype=bool)
        mask[first] = True
        mask &= ~self.seen[cls]
        self.seen[cls] = True
        return mask


class _NB101Dedup:
    """At most 423,624 distinct fingerprints exist, so a Python set of 16-byte digests stays small."""

    def __init__(self) -> None:
        self.seen: set[bytes] = set()

    def new(self, batch: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        from nasfast.ops import graph_hash

        adj, ops = batch
        digests = graph_hash.nb101_fingerprint(torch.from_numpy(adj.astype(np.uint8)),
                                               torch.from_numpy(ops.astype(np.int64))).numpy()
        mask = np.zeros(len(ops), dtype=bool)
        for i, row in enumerate(digests):
            d = row.tobytes()
            if d not in self.seen:
                self.seen.add(d)
                mask[i] = True
        return mask


class _DartsDedup:
    def __init__(self, expected: int | None = None) -> None:
        # sized for the expected count when it is known (--sample): growing rehashes the whole table,
        # a peak of ~3.4x its size (10M keys: a 256 MiB table)
        self.seen = UInt64Set(2 * expected) if expected else UInt64Set()

    def new(self, batch: np.ndarray) -> np.ndarray:
        return self.seen.add_new(darts_key(batch))


DEDUP_RULE = {
    "nb201": "isomorphism classes of nb201.canonical_hash (8,765 of the 15,625 cells; each scored as its "
             "class representative, so twins score alike to the last bit)",
    "nb101": "NAS-Bench-101 fingerprint (isomorphism-invariant graph hash)",
    "darts": "genotype up to the order of each node's two edges and relabellings of the intermediate nodes",
}


def _dedup(space: str, expected: int | None = None) -> _Dedup:
    """The duplicate filter of ``space``; ``expected``: how many candidates will come, when known."""
    return _DartsDedup(expected) if space == "darts" else {"nb201": _NB201Dedup, "nb101": _NB101Dedup}[space]()


# ---- batches: take, concatenate, text --------------------------------------------------------

def _take(space: str, batch: Any, idx: np.ndarray) -> Any:
    if space == "nb101":
        return batch[0][idx], batch[1][idx]
    return batch[idx]


def _concat(space: str, a: Any, b: Any) -> Any:
    if space == "nb101":
        return np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]])
    return np.concatenate([a, b])


def _size(space: str, batch: Any) -> int:
    return len(batch[1]) if space == "nb101" else len(batch)


def arch_texts(space: str, batch: Any) -> list[str]:
    """Text of each arch, in the form ``read_archs`` (and ``tabular.from_csv``) reads back: NB201
    arch strings, DARTS genotype text, NB101 ``{"matrix": ..., "ops": ...}`` JSON (pruned)."""
    if space == "nb201":
        return [str(nb201.from_ops([int(o) for o in row])) for row in batch]
    if space == "darts":
        return [str(darts.from_compact(row)) for row in batch]
    out = []
    for adj, ops in zip(*batch):
        n = int((ops != nb101.PAD).sum())
        out.append(json.dumps({"matrix": adj[:n, :n].tolist(), "ops": ops[:n].tolist()}, separators=(",", ":")))
    return out


# ---- reading candidates from a file ------------------------------------------------------------

def _parse_arch(space: str, text: str) -> Any:
    """One arch of ``space`` from its text, in the array form of a batch row."""
    if space == "nb201":
        arch = nb201.from_index(int(text)) if text.isdigit() else nb201.parse(text)
        return np.array(arch.op_indices, dtype=np.int64)
    if space == "darts":
        g = darts.parse(text) if text.startswith("Genotype") else darts.from_compact(json.loads(text))
        return g.to_compact().astype(np.int64)
    if len(text) == 32 and all(c in "0123456789abcdef" for c in text.lower()):
        raise ValueError("is an NB101 module hash; scoring needs the graph: "
                         '{"matrix": [[...]], "ops": [...]} (ops as labels or benchmark op names)')
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        obj = None
    if not isinstance(obj, dict) or "ops" not in obj or not ({"matrix", "adjacency"} & obj.keys()):
        raise ValueError('expected {"matrix": [[...]], "ops": [...]} JSON (or, from Python, nb101.Spec objects)')
    return nb101.Spec(obj.get("matrix", obj.get("adjacency")), obj["ops"]).padded(nb101.MAX_VERTICES)


def _stack(space: str, rows: list[Any]) -> Any:
    if space == "nb101":
        return (np.stack([r[0] for r in rows]).astype(np.int8), np.stack([r[1] for r in rows]).astype(np.int8))
    return np.stack(rows)


def _arch_cells(path: Path, is_arch: Callable[[str], bool] = lambda text: False) -> Iterator[tuple[int, str]]:
    """(line number, arch text) of every candidate: a ``.csv`` file is read by its arch column (the
    first header among ``ARCH_HEADERS``, else the first column; a first line with no such header
    whose first cell ``is_arch`` is a candidate, not a header), any other file one arch a line
    (blank lines and lines starting with ``#`` skipped). A UTF-8 byte-order mark is dropped."""
    try:
        yield from _arch_cells_utf8(path, is_arch)
    except UnicodeDecodeError as err:  # its own message names neither the file nor the line
        raise ValueError(f"{path}: not UTF-8 text ({err.reason}); give a text file of architectures") from None


def _arch_cells_utf8(path: Path, is_arch: Callable[[str], bool]) -> Iterator[tuple[int, str]]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        if path.suffix.lower() == ".csv":
            reader = csv.reader(fh)
            first = next(reader, [])
            header = [h.strip().lower() for h in first]
            if not header:
                raise ValueError(f"{path}: empty CSV file (expected a header line)")
            col = next((header.index(h) for h in ARCH_HEADERS if h in header), None)
            if col is None:
                col = 0
                if first[0].strip() and is_arch(first[0].strip()):  # no header line: never drop a candidate
                    yield reader.line_num, first[0].strip()
            for fields in reader:
                if fields and len(fields) > col and fields[col].strip():
                    yield reader.line_num, fields[col].strip()
        else:
            for line_no, line in enumerate(fh, 1):
                text = line.strip()
                if text and not text.startswith("#"):
                    yield line_no, text


def read_archs(space: str, path: str | Path, chunk_size: int) -> Iterator[Any]:
    """Batches of at most ``chunk_size`` archs read from ``path`` (see ``_arch_cells``); a bad arch
    raises ``ValueError`` naming its line."""
    path = Path(path)
    rows: list[Any] = []

    def is_arch(text: str) -> bool:
        try:
            _parse_arch(space, text)
        except (ValueError, TypeError, KeyError):
            return False
        return True

    for line_no, text in _arch_cells(path, is_arch):
        try:
            rows.append(_parse_arch(space, text))
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{path}:{line_no}: invalid {space} architecture {text[:120]!r}: {exc}") from None
        if len(rows) == chunk_size:
            yield _stack(space, rows)
            rows = []
    if rows:
        yield _stack(space, rows)


def sampled_batches(space: str, n: int, chunk_size: int, seed: int, block: int = 4096) -> Iterator[Any]:
    """``n`` sampled candidates in batches of ``chunk_size``, drawn ``block`` at a time from one
    seeded generator (never all at once). The candidates do not depend on ``chunk_size``: blocks are
    always drawn whole (the last one cut at ``n``)."""
    rng = np.random.default_rng(seed)
    sampler = {"nb201": sample_nb201, "nb101": sample_nb101, "darts": sample_darts}[space]
    buf: Any = None
    drawn = 0
    while drawn < n:
        want = min(chunk_size, n - drawn)
        while buf is None or _size(space, buf) < want:
            new = sampler(rng, block)
            buf = new if buf is None else _concat(space, buf, new)
        yield _take(space, buf, np.arange(want))
        buf = _take(space, buf, np.arange(want, _size(space, buf)))
        drawn += want


# ---- the streaming loop ------------------------------------------------------------------------

@dataclass
class ScoreResult:
    """``archs`` / ``scores``: the top K, best first (ties: the earlier candidate first)."""

    archs: list[str]
    scores: np.ndarray
    candidates: int  # read or sampled
    unique: int  # left after dropping duplicates; all were scored
    seconds: float  # the stream: reading, dedup, scoring (the one-off set-up is ``setup_seconds``)
    peak_rss: int  # bytes, of the whole process
    dedup_rule: str
    extra: dict[str, Any] = field(default_factory=dict)
    setup_seconds: float = 0.0  # building the dedup tables (the NB201 classes: ~0.6 s), before the stream

    @property
    def archs_per_s(self) -> float:
        return self.candidates / max(self.seconds, 1e-12)


def score_stream(predictor: Any, batches: Iterator[Any], top: int, *, total: int | None = None,
                 progress: bool = True, micro_batch: int = 256) -> ScoreResult:
    """Score every batch of ``batches`` (array form of ``predictor.space``), dropping duplicates
    (of earlier batches too), and keep the ``top`` best. Memory: one batch, its encoding, the top
    K and the set of keys seen."""
    from tqdm.auto import tqdm

    space = predictor.space
    if space not in SPACES:
        raise ValueError(f"unknown space {space!r}; expected one of {SPACES}")
    if top < 1:
        raise ValueError(f"--top must be positive, got {top}")
    setup = time.perf_counter()
    dedup = _dedup(space, total)
    start = time.perf_counter()  # archs/s is the stream's rate: a 2-line file must not read as 3 archs/s
    best: Any = None
    best_scores = np.empty(0, dtype=np.float64)
    best_seq = np.empty(0, dtype=np.int64)
    seen = unique = 0
    # disable=None: no bar when stderr is not a terminal (a log file would fill with frames)
    bar = tqdm(total=total, unit="arch", unit_scale=True, desc="score", disable=None if progress else True)
    try:
        for batch in batches:
            n = _size(space, batch)
            keep = np.flatnonzero(dedup.new(batch))
            if keep.size:
                fresh = _take(space, batch, keep)
                scored = dedup.canonical(fresh) if isinstance(dedup, _NB201Dedup) else fresh
                scores = predictor.score(scored, chunk_size=len(keep), micro_batch=micro_batch)
                seq = seen + keep
                if keep.size > top:  # only this chunk's top K can enter the running top K
                    # every arch tied with the K-th stays a candidate, so that ties go to the earlier
                    # one whatever the chunking (an argpartition cut would pick among them at random)
                    kth = np.partition(-scores, top - 1)[top - 1]
                    cand = np.flatnonzero(~(-scores > kth))  # NaN scores too when the K-th is NaN
                    part = cand[np.lexsort((seq[cand], -scores[cand]))[:top]]
                    fresh, scores, seq = _take(space, fresh, part), scores[part], seq[part]
                if best is None:
                    best, best_scores, best_seq = fresh, scores, seq
                else:
                    best = _concat(space, best, fresh)
                    best_scores, best_seq = np.concatenate([best_scores, scores]), np.concatenate([best_seq, seq])
                order = np.lexsort((best_seq, -best_scores))[:top]
                best, best_scores, best_seq = _take(space, best, order), best_scores[order], best_seq[order]
                unique += int(keep.size)
            seen += n
            bar.update(n)
            bar.set_postfix(unique=unique, refresh=False)
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    texts = arch_texts(space, best) if best is not None else []
    extra = {"seen_keys_bytes": dedup.seen.nbytes} if isinstance(dedup, _DartsDedup) else {}
    return ScoreResult(texts, best_scores, seen, unique, seconds, peak_rss_bytes(), DEDUP_RULE[space], extra,
                       setup_seconds=start - setup)


def write_top(result: ScoreResult, path: str | Path) -> None:
    """CSV ``rank,arch,score`` (best first); readable again by ``read_archs`` and ``tabular.from_csv``."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["rank", "arch", "score"])
        for r, (arch, s) in enumerate(zip(result.archs, result.scores), 1):
            w.writerow([r, arch, repr(float(s))])

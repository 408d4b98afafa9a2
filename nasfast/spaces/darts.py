"""DARTS / NAS-Bench-301 cell space: a normal and a reduction cell, each of 4 intermediate nodes
with 2 (op, input) edges, 7 ops, inputs from the two cell inputs and earlier nodes.

Two written forms, both exact:

- DARTS's own text (``print(genotype)`` in the DARTS code base), which we parse without ``eval``::

    Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ...], normal_concat=range(2, 6),
             reduce=[('max_pool_3x3', 0), ...], reduce_concat=range(2, 6))

- NASLib's compact encoding, an int array (2 cells [normal, reduce], 8 edges, 2) holding
  (input node, op index) per edge, which the bundled ``nb301_zc_naslib.npz`` uses.

Nodes are numbered as in DARTS: 0 and 1 are the cell inputs (outputs of the two previous cells),
2..5 the intermediate nodes; edges 2k and 2k+1 feed node k + 2 and may read nodes 0..k+1. The cell
output concatenates nodes 2..5, the only concat DARTS and NB-301 use.

The two inputs of a node must differ. DARTS derives a genotype by keeping, for each node, the two
strongest *distinct* predecessors (``model_search.py::genotype._parse``), and NB-301's configuration
space names each node's inputs as a pair of distinct nodes; a repeated input is therefore never a
real DARTS/NB-301 cell and is rejected rather than silently accepted.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nasfast.spaces import check_generator

#: DARTS ``PRIMITIVES`` without ``none`` (which a derived genotype never holds), in that order;
#: also the op order of NASLib's compact encoding and of the bundled NB-301 data.
OPS: tuple[str, ...] = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
                        "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
OP_INDEX: dict[str, int] = {op: i for i, op in enumerate(OPS)}
NUM_NODES = 4
EDGES_PER_CELL = 2 * NUM_NODES
CONCAT: tuple[int, ...] = (2, 3, 4, 5)
CELLS: tuple[str, ...] = ("normal", "reduce")

Edge = tuple[str, int]


def _check_cell(cell: str, edges: Any) -> tuple[Edge, ...]:
    if isinstance(edges, (str, bytes)) or not isinstance(edges, Sequence):
        raise TypeError(f"DARTS {cell} cell must be a sequence of (op, input) pairs, got {edges!r:.120}")
    if len(edges) != EDGES_PER_CELL:
        raise ValueError(f"DARTS {cell} cell has {len(edges)} edges, expected {EDGES_PER_CELL} "
                         f"(2 per intermediate node): {edges!r:.200}")
    out: list[Edge] = []
    for e, edge in enumerate(edges):
        if isinstance(edge, (str, bytes)) or not isinstance(edge, Sequence) or len(edge) != 2:
            raise ValueError(f"DARTS {cell} edge {e} must be an (op, input) pair, got {edge!r:.80}")
        op, src = edge
        if not isinstance(op, str):
            raise TypeError(f"DARTS {cell} edge {e} = {edge!r:.80}: op must be an op name (pairs are "
                             "(op, input); NASLib's compact (input, op) form goes through from_compact)")
        if op not in OP_INDEX:
            hint = " ('none' never appears in a derived genotype)" if op == "none" else ""
            raise ValueError(f"unknown DARTS op {op!r} in {cell} edge {e}{hint}; expected one of {list(OPS)}")
        if isinstance(src, bool) or not isinstance(src, (int, np.integer)):
            raise TypeError(f"DARTS {cell} edge {e} = {edge!r:.80}: input must be an int node index")
        node = e // 2
        if not 0 <= int(src) <= node + 1:
            raise ValueError(f"DARTS {cell} edge {e} (node {node + 2}) reads node {int(src)}, "
                             f"expected 0..{node + 1}")
        out.append((op, int(src)))
    for node in range(NUM_NODES):
        if out[2 * node][1] == out[2 * node + 1][1]:
            raise ValueError(f"DARTS {cell} node {node + 2} reads node {out[2 * node][1]} twice "
                             f"(edges {2 * node}, {2 * node + 1}); its two inputs must differ")
    return tuple(out)


@dataclass(frozen=True)
class Genotype:
    """One DARTS architecture: ``normal`` and ``reduce`` hold 8 (op name, input node) pairs each.

    Example:
        >>> import numpy as np
        >>> from nasfast.spaces.darts import from_compact, parse, sample
        >>> g = sample(np.random.default_rng(0))
        >>> parse(str(g)) == g and from_compact(g.to_compact()) == g
        True
    """

    normal: tuple[Edge, ...]
    reduce: tuple[Edge, ...]

    def __post_init__(self) -> None:
        for cell in CELLS:
            object.__setattr__(self, cell, _check_cell(cell, getattr(self, cell)))

    @property
    def normal_concat(self) -> tuple[int, ...]:
        return CONCAT

    @property
    def reduce_concat(self) -> tuple[int, ...]:
        return CONCAT

    def __str__(self) -> str:
        def edges(cell: tuple[Edge, ...]) -> str:
            return "[" + ", ".join(f"('{op}', {src})" for op, src in cell) + "]"

        return (f"Genotype(normal={edges(self.normal)}, normal_concat=range(2, 6), "
                f"reduce={edges(self.reduce)}, reduce_concat=range(2, 6))")

    __repr__ = __str__

    def to_compact(self) -> np.ndarray:
        """NASLib's compact encoding: (2, 8, 2) int8 of (input node, op index)."""
        return np.array([[(src, OP_INDEX[op]) for op, src in getattr(self, cell)] for cell in CELLS],
                        dtype=np.int8)


# ---- the compact encoding -----------------------------------------------------------------------

def canonical_compact(compact: np.ndarray) -> np.ndarray:
    """Compact genotype(s), shape (..., 2, 8, 2), with each node's two (input, op) edges in ascending
    order. A node sums its two inputs, so the order of its edges does not change the network (DARTS
    lists them by strength, NASLib's files in any order): equal canonical forms are one architecture.

    Example:
        >>> import numpy as np
        >>> from nasfast.spaces.darts import canonical_compact, sample
        >>> c = sample(np.random.default_rng(0)).to_compact()
        >>> swapped = c.copy(); swapped[0, [0, 1]] = c[0, [1, 0]]
        >>> bool((canonical_compact(swapped) == canonical_compact(c)).all())
        True
    """
    arr = np.asarray(compact)
    pairs = arr.reshape(*arr.shape[:-2], NUM_NODES, 2, 2)
    key = pairs[..., 0].astype(np.int64) * 16 + pairs[..., 1]  # ops < 16: (input, op) order
    order = np.argsort(key, axis=-1, kind="stable")
    return np.take_along_axis(pairs, order[..., None], axis=-2).reshape(arr.shape)


def from_compact(compact: Any) -> Genotype:
    """Genotype from NASLib's compact form: (2, 8, 2) integers (input node, op index), as numpy,
    nested lists/tuples or a torch tensor."""
    torch_mod = sys.modules.get("torch")
    if torch_mod is not None and isinstance(compact, torch_mod.Tensor):
        compact = compact.detach().cpu().numpy()
    if isinstance(compact, (str, bytes)) or compact is None:
        raise TypeError(f"DARTS compact genotype must be an integer array, got {type(compact).__name__}")
    try:
        arr = np.asarray(compact)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"DARTS compact genotype is not a rectangular array: {compact!r:.200} ({exc})") from None
    if arr.dtype.kind == "f":
        finite = np.isfinite(arr)
        if not finite.all() or (arr[finite] != np.round(arr[finite])).any() or (np.abs(arr[finite]) > 2**31).any():
            raise ValueError(f"DARTS compact genotype holds non-integer values: {arr.tolist()!r:.200}")
    elif arr.dtype.kind not in "iu":
        raise TypeError(f"DARTS compact genotype must hold integers, got dtype {arr.dtype}")
    if arr.shape != (2, EDGES_PER_CELL, 2):
        raise ValueError(f"DARTS compact genotype must have shape (2, 8, 2) = (cell, edge, (input, op)), "
                         f"got {arr.shape}")
    if arr.dtype.kind == "u" and int(arr.max()) > 2**31:
        raise ValueError(f"DARTS compact genotype value {int(arr.max())} is out of range")
    arr = arr.astype(np.int64)
    ops = arr[..., 1]
    if ((ops < 0) | (ops >= len(OPS))).any():
        c, e = (int(i) for i in np.argwhere((ops < 0) | (ops >= len(OPS)))[0])
        raise ValueError(f"DARTS compact {CELLS[c]} edge {e} has op index {ops[c, e]}, expected 0..{len(OPS) - 1}")
    cells = [[(OPS[op], int(src)) for src, op in arr[c]] for c in range(2)]
    return Genotype(normal=tuple(cells[0]), reduce=tuple(cells[1]))


# ---- DARTS text ---------------------------------------------------------------------------------

_TOKEN = re.compile(r"""\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<int>-?(?:0|[1-9][0-9]*))(?![0-9])
                        |(?P<str>'[^'\\\n]*'|"[^"\\\n]*")|(?P<punct>[()\[\],=]))""", re.VERBOSE)


_KIND_NAMES = {"name": "a name", "int": "an integer", "str": "a quoted op name", "punct": "symbol", "end": "end"}


class _Parser:
    """Recursive descent over DARTS's repr grammar; never evaluates the text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.next: tuple[str, Any, int] | None = None

    def fail(self, pos: int, msg: str) -> None:
        raise ValueError(f"DARTS genotype text, position {pos}: {msg} in {self.text!r:.300}")

    def peek(self) -> tuple[str, Any, int]:
        """The next token, scanned lazily so that the earliest problem in the text is the one named."""
        if self.next is None:
            text, pos = self.text, self.pos
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos == len(text):
                self.next = ("end", None, pos)
            else:
                m = _TOKEN.match(text, pos)
                if m is None:
                    self.fail(pos, f"unexpected character {text[pos]!r}")
                kind = m.lastgroup
                raw = m.group(kind)
                value = int(raw) if kind == "int" else raw[1:-1] if kind == "str" else raw
                self.next = (kind, value, m.start(kind))
                pos = m.end()
            self.pos = pos
        return self.next

    def take(self, kind: str, value: Any = None) -> Any:
        k, v, pos = self.peek()
        if k != kind or (value is not None and v != value):
            want = repr(value) if value is not None else _KIND_NAMES[kind]
            found = "the end" if k == "end" else f"{_KIND_NAMES[k]} {v!r}"
            self.fail(pos, f"expected {want}, found {found}")
        self.next = None
        return v

    def accept(self, punct: str) -> bool:
        if self.peek()[:2] == ("punct", punct):
            self.next = None
            return True
        return False

    def items(self, close: str, item) -> list:
        """``item (',' item)* [',']`` up to ``close`` (Python's trailing comma allowed)."""
        out = []
        while not self.accept(close):
            out.append(item())
            if not self.accept(","):
                self.take("punct", close)
                break
        return out

    def edge(self) -> Edge:
        self.take("punct", "(")
        op_pos = self.peek()[2]
        op = self.take("str")
        self.take("punct", ",")
        src = self.take("int")
        self.accept(",")
        self.take("punct", ")")
        if op not in OP_INDEX:
            self.fail(op_pos, f"unknown DARTS op {op!r}; expected one of {list(OPS)}")
        return (op, src)

    def concat(self) -> list[int]:
        pos = self.peek()[2]
        if self.accept("["):
            return self.items("]", lambda: self.take("int"))
        if self.peek()[:2] == ("name", "range"):
            self.next = None
            self.take("punct", "(")
            start = self.take("int")
            self.take("punct", ",")
            stop = self.take("int")
            self.accept(",")
            self.take("punct", ")")
            if not 0 <= stop - start <= 2 + NUM_NODES:  # never build a huge list from a typo'd range
                self.fail(pos, f"concat range({start}, {stop}) is not range(2, 6)")
            return list(range(start, stop))
        self.fail(pos, "expected a concat list [2, 3, 4, 5] or range(2, 6)")
        return []

    def genotype(self) -> Genotype:
        self.take("name", "Genotype")
        self.take("punct", "(")
        fields: dict[str, Any] = {}

        def keyword() -> None:
            name_pos = self.peek()[2]
            name = self.take("name")
            if name not in ("normal", "normal_concat", "reduce", "reduce_concat"):
                self.fail(name_pos, f"unknown Genotype field {name!r}; expected normal, normal_concat, "
                                    "reduce, reduce_concat")
            if name in fields:
                self.fail(name_pos, f"Genotype field {name!r} given twice")
            self.take("punct", "=")
            if name.endswith("_concat"):
                fields[name] = self.concat()
            else:
                self.take("punct", "[")
                fields[name] = self.items("]", self.edge)

        self.items(")", keyword)
        if self.peek()[0] != "end":
            self.fail(self.peek()[2], f"unexpected {self.peek()[1]!r} after the Genotype")
        missing = [f for f in ("normal", "normal_concat", "reduce", "reduce_concat") if f not in fields]
        if missing:
            self.fail(len(self.text), f"Genotype is missing {missing}")
        for cell in CELLS:
            if fields[f"{cell}_concat"] != list(CONCAT):
                self.fail(0, f"{cell}_concat is {fields[f'{cell}_concat']}, expected [2, 3, 4, 5] "
                             "(every intermediate node, as DARTS and NB-301 use)")
        try:
            return Genotype(normal=tuple(fields["normal"]), reduce=tuple(fields["reduce"]))
        except ValueError as exc:
            raise ValueError(f"{exc} in {self.text!r:.300}") from None


def parse(text: str) -> Genotype:
    """Parse DARTS's ``Genotype(normal=[...], normal_concat=..., reduce=[...], reduce_concat=...)``.

    Fields may come in any order, concat as ``range(2, 6)`` or a list, strings in either quote.
    Every problem raises ``ValueError`` naming its position (``TypeError`` if ``text`` is no str).
    """
    if not isinstance(text, str):
        raise TypeError(f"DARTS genotype text must be str, got {type(text).__name__}: {text!r:.80}")
    return _Parser(text).genotype()


# ---- sampling and mutation ----------------------------------------------------------------------

def sample(rng: np.random.Generator) -> Genotype:
    """Uniform random genotype as NASLib / NB-301 sample one: per cell and node, 2 distinct inputs
    (ordered) and 2 ops, all uniform."""
    rng = check_generator(rng, "darts.sample")
    cells = []
    for _ in CELLS:
        edges: list[Edge] = []
        for node in range(NUM_NODES):
            srcs = rng.choice(node + 2, size=2, replace=False)
            ops = rng.integers(0, len(OPS), size=2)
            edges += [(OPS[int(o)], int(s)) for o, s in zip(ops, srcs)]
        cells.append(tuple(edges))
    return Genotype(normal=cells[0], reduce=cells[1])


def mutate(genotype: Genotype, rng: np.random.Generator) -> Genotype:
    """Change one thing: pick a cell, an edge and (op or input) uniformly, and set it to a uniformly
    chosen *different* valid value. Unlike NASLib's version, which may redraw the same value or
    give up on a clashing input, the child always differs from the parent. The two edges of node 2
    can only read nodes 0 and 1, so their input cannot change; such a draw is repeated."""
    if not isinstance(genotype, Genotype):
        raise TypeError(f"mutate expects a Genotype, got {type(genotype).__name__}")
    rng = check_generator(rng, "darts.mutate")
    while True:
        cell = CELLS[int(rng.integers(2))]
        e = int(rng.integers(EDGES_PER_CELL))
        edges = list(getattr(genotype, cell))
        op, src = edges[e]
        if rng.integers(2) == 0:
            choices = [o for o in OPS if o != op]
            edges[e] = (choices[int(rng.integers(len(choices)))], src)
        else:
            sibling = edges[e ^ 1][1]
            choices_src = [s for s in range(e // 2 + 2) if s not in (src, sibling)]
            if not choices_src:
                continue
            edges[e] = (op, choices_src[int(rng.integers(len(choices_src)))])
        fields = {c: getattr(genotype, c) for c in CELLS}
        fields[cell] = tuple(edges)
        return Genotype(**fields)

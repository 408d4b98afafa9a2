"""Users' own benchmark tables, read from CSV.

Format: a header line, then one architecture per line. One column holds the architecture, every
other column a number (an empty cell or ``nan`` is a missing value, stored as NaN)::

    arch,cifar10-valid/acc/valid/200ep,my_score
    |nor_conv_3x3~0|+|none~0|skip_connect~1|+|nor_conv_1x1~0|avg_pool_3x3~1|none~2|,91.2,0.53
    ...

The architecture column, by space:

- ``nb201``: an NB201 arch string, or an integer NAS-Bench-201 index;
- ``nb101``: a 32-hex NAS-Bench-101 module hash, or a JSON object
  ``{"matrix": [[0, 1, ...], ...], "ops": ["input", "conv3x3-bn-relu", ..., "output"]}`` (the
  benchmark's ``ModelSpec`` fields; integer labels as in ``nasfast.spaces.nb101`` work too);
- ``darts``: DARTS's genotype text (``Genotype(normal=[('sep_conv_3x3', 0), ...], ...)``, quoted
  in the CSV), or the JSON of NASLib's (2, 8, 2) compact array
  ``[[[input, op], ... 8 edges of the normal cell], [... 8 of the reduction cell]]``.

Headers written like canonical names (``cifar100/acc/test/200ep``) take part in ``resolve``;
any other header is a column name of its own. On NB201, ``nasfast search --dataset cifar10`` selects on
``cifar10-valid/...`` (the runs with a validation split; ``cifar10/...`` is the 50k-trained one). ``.gz`` files are read through gzip.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nasfast.tabular.benchmark import Benchmark
from nasfast.tabular.columns import parse_name
from nasfast.tabular.keys import BytesKeys, HashKeys, NB201Keys

_ARCH_HEADERS = ("arch", "arch_str", "architecture", "genotype", "spec", "hash", "key")
_SPACES = {"nb201": "nb201", "nb101": "nb101", "darts": "darts", "nb301": "darts"}


def from_csv(path: str | Path, space: str, arch_column: str | None = None) -> Benchmark:
    """A ``Benchmark`` from a CSV file (format in the module docstring).

    ``arch_column`` defaults to the first header among ``arch``, ``arch_str``, ``architecture``,
    ``genotype``, ``spec``, ``hash``, ``key`` (else the first column). Raises ``ValueError`` naming
    the file line for an invalid or duplicate architecture, a non-numeric value or a short row.

    Example:
        >>> b = from_csv("my_runs.csv", "nb201")                           # doctest: +SKIP
        >>> b.query(["|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"], "my_score")  # doctest: +SKIP
    """
    path = Path(path)
    key = space.strip().lower()
    if key not in _SPACES:
        raise ValueError(f"unknown space {space!r} for a CSV table; expected one of {sorted(set(_SPACES))}")
    space = _SPACES[key]
    opener: Callable[..., Any] = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="", encoding="utf-8-sig") as fh:  # -sig: Excel's "CSV UTF-8" starts with a BOM
        return _read(fh, path, space, arch_column)


def _read(fh: io.TextIOBase, path: Path, space: str, arch_column: str | None) -> Benchmark:
    reader = csv.reader(fh)
    header = next(reader, None)
    if not header:
        raise ValueError(f"{path}: empty CSV file (expected a header line)")
    header = [h.strip() for h in header]
    seen: dict[str, int] = {}
    for i, h in enumerate(header):
        if not h:
            raise ValueError(f"{path}:1: column {i + 1} has an empty header")
        if h in seen:
            raise ValueError(f"{path}:1: duplicate column header {h!r} (columns {seen[h] + 1} and {i + 1})")
        seen[h] = i
    if arch_column is None:
        lower = {h.lower(): h for h in header}
        arch_column = next((lower[c] for c in _ARCH_HEADERS if c in lower), header[0])
    if arch_column not in seen:
        raise ValueError(f"{path}: no arch column {arch_column!r}; the header has {header}")
    a_idx = seen[arch_column]
    value_cols = [(i, h) for i, h in enumerate(header) if i != a_idx]
    if not value_cols:
        raise ValueError(f"{path}: no metric columns besides the arch column {arch_column!r}")

    parse_arch = _ARCH_PARSERS[space]
    arch_items: list[Any] = []
    keys: list[Any] = []
    first_line: dict[Any, int] = {}
    values: list[list[float]] = []
    for fields in reader:
        line = reader.line_num
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) != len(header):
            raise ValueError(f"{path}:{line}: {len(fields)} fields, expected {len(header)} (as in the header)")
        cell = fields[a_idx].strip()
        try:
            item, k = parse_arch(cell)
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{path}:{line}: invalid {space} architecture {cell!r}: {exc}") from None
        if k in first_line:
            raise ValueError(f"{path}:{line}: duplicate architecture {cell!r} (already on line {first_line[k]})")
        first_line[k] = line
        arch_items.append(item)
        keys.append(k)
        values.append([_number(fields[i], h, path, line) for i, h in value_cols])
    if not keys:
        raise ValueError(f"{path}: no data rows")

    table = np.asarray(values, dtype=np.float64)
    infos = [parse_name(h) for _, h in value_cols]
    columns = [(info, _const(table[:, j])) for j, info in enumerate(infos)]
    what = f"{path.name} ({space})"
    if space == "nb201":
        code_to_row = np.full(15625, -1, dtype=np.int64)
        code_to_row[np.asarray(keys, dtype=np.int64)] = np.arange(len(keys))
        arch_keys: NB201Keys | HashKeys | BytesKeys = NB201Keys(code_to_row, what)
    elif space == "nb101":
        arch_keys = HashKeys(keys, what, "nb101")
    else:
        arch_keys = BytesKeys(np.stack([np.frombuffer(k, dtype=np.int8).reshape(2, 8, 2) for k in keys]), what, "darts")
    name = path.name.removesuffix(".gz").removesuffix(".csv")
    return Benchmark(name, space, len(keys), arch_keys, columns, archs=lambda: list(arch_items),
                     provenance=f"user table {path}")


def _const(arr: np.ndarray) -> Callable[[], np.ndarray]:
    arr = np.ascontiguousarray(arr)
    return lambda: arr


def _number(text: str, column: str, path: Path, line: int) -> float:
    t = text.strip()
    if not t:
        return math.nan
    try:
        value = float(t)
    except ValueError:
        raise ValueError(f"{path}:{line}: column {column!r} holds {text!r}, which is not a number") from None
    if math.isinf(value):  # an accuracy or cost of inf is a broken export: searches would keep it as a value
        raise ValueError(f"{path}:{line}: column {column!r} holds {text!r}; give a finite number, or leave the "
                         "cell empty (or nan) where there is no value")
    return value


# ---- one parser per space: cell text -> (arch object, lookup key) ------------------------------

def _parse_nb201(cell: str) -> tuple[Any, int]:
    from nasfast.spaces import nb201

    arch = nb201.from_index(int(cell)) if cell.isdigit() else nb201.parse(cell)
    return arch, arch.code


def _parse_nb101(cell: str) -> tuple[Any, str]:
    if len(cell) == 32 and all(c in "0123456789abcdef" for c in cell.lower()):
        return cell.lower(), cell.lower()
    from nasfast.spaces import nb101

    expected = 'expected a 32-hex module hash or {"matrix": [[...]], "ops": [...]} JSON'
    try:
        obj = json.loads(cell)
    except json.JSONDecodeError:
        raise ValueError(expected + _other_space_hint(cell, "nb101")) from None
    if not isinstance(obj, dict) or "ops" not in obj or not ({"matrix", "adjacency"} & obj.keys()):
        raise ValueError(expected)
    spec = nb101.Spec(obj.get("matrix", obj.get("adjacency")), obj["ops"])
    return spec, spec.fingerprint()


def _parse_darts(cell: str) -> tuple[Any, bytes]:
    from nasfast.spaces import darts

    if cell.startswith("Genotype"):
        genotype = darts.parse(cell)
    else:
        try:
            compact = json.loads(cell)
        except json.JSONDecodeError:
            raise ValueError("expected Genotype(...) text or a (2, 8, 2) JSON array"
                             + _other_space_hint(cell, "darts")) from None
        genotype = darts.from_compact(compact)
    # the key is order-free within a node (canonical_compact): one network, one row, whatever the edge order
    return genotype, np.ascontiguousarray(darts.canonical_compact(genotype.to_compact()), dtype=np.int8).tobytes()


def _other_space_hint(cell: str, space: str) -> str:
    """A hint when ``cell`` reads as an architecture of another space (the usual cause)."""
    if cell.startswith("|") and "~" in cell:
        return f"; this looks like an NB201 architecture string, not a {space} one (wrong space?)"
    if cell.startswith("Genotype"):
        return f"; this looks like a DARTS genotype, not a {space} one (wrong space?)"
    return ""


_ARCH_PARSERS: dict[str, Callable[[str], tuple[Any, Any]]] = {
    "nb201": _parse_nb201, "nb101": _parse_nb101, "darts": _parse_darts,
}

"""Finding the table rows of architectures, one strategy per search space.

Each ``*Keys`` class turns a batch of architectures into an int64 row array, raising ``KeyError``
that names the first few archs the table does not hold. Parsing is per item (it has to be); the
lookup itself is one dict or array access per item, never a scan of the table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from nasfast.spaces import nb201

_SHOW = 5  # how many unknown archs an error names
_GENOTYPE_ATTRS = ("to_compact",)


def _missing(unknown: Sequence[Any], what: str, note: str = "", total: int | None = None) -> KeyError:
    total = len(unknown) if total is None else total
    shown = ", ".join(str(int(a)) if _int_like(a) else repr(str(a)) for a in list(unknown)[:_SHOW])
    more = f" (and {total - _SHOW} more)" if total > _SHOW else ""
    note = f" ({note})" if note else ""
    return KeyError(f"{total} arch(s) not in the {what} table{note}: {shown}{more}")


def as_batch(archs: Any, single: Callable[[Any], bool], space: str = "") -> tuple[Sequence[Any] | np.ndarray, bool]:
    """(items, was_single): a lone arch is treated as a batch of one."""
    if single(archs):
        return [archs], True
    if isinstance(archs, np.ndarray):
        return archs, False
    if hasattr(archs, "__array__") and hasattr(archs, "dtype"):  # torch tensors and the like
        return np.asarray(archs), False
    if isinstance(archs, Iterable) and not isinstance(archs, (str, bytes)):
        return list(archs), False
    # not an arch of this space, nor a batch: likely an arch of another space
    raise TypeError(f"expected {space + ' ' if space else ''}arch(s), one or a list/array of them, "
                    f"got {type(archs).__name__}: {archs!r:.80}")


def _int_like(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


class NB201Keys:
    """NB201 archs: ``NB201Arch``, arch strings, or int NAS-Bench-201 indices (0..15624).

    ``code_to_row[code]`` is the row of the cell with base-5 code ``code`` (-1 if absent), so a
    table may hold any subset of the space in any order.
    """

    space = "nb201"

    def __init__(self, code_to_row: np.ndarray, what: str) -> None:
        self.code_to_row = np.asarray(code_to_row, dtype=np.int64)
        self.what = what
        self._str_to_code: dict[str, int] | None = None

    @staticmethod
    def single(x: Any) -> bool:
        return isinstance(x, (str, nb201.NB201Arch)) or _int_like(x)

    def _string_codes(self) -> dict[str, int]:
        if self._str_to_code is None:
            strings = nb201._index_strings()
            codes = nb201._index_to_code()
            self._str_to_code = {str(s): int(c) for s, c in zip(strings.tolist(), codes.tolist())}
        return self._str_to_code

    def codes(self, archs: Sequence[Any] | np.ndarray) -> np.ndarray:
        """Base-5 codes of a batch; ints are NB201 indices. ``KeyError`` for indices out of range."""
        if isinstance(archs, np.ndarray) and archs.dtype.kind in "iu":
            if archs.ndim == 2 and archs.shape[1] == nb201.NUM_EDGES:  # (B, 6) op indices, the predictors' form
                return nb201.op_indices_to_codes(archs)
            if archs.ndim != 1:
                raise ValueError(f"an NB201 int array must be 1-D benchmark indices or (B, 6) op indices, "
                                 f"got shape {archs.shape}")
            idx = archs.astype(np.int64)
            bad = idx[(idx < 0) | (idx >= nb201.NUM_ARCHS)]
            if bad.size:
                raise _missing(bad.tolist(), self.what, "NB201 indices are 0..15624", total=bad.size)
            return nb201.indices_to_codes(idx)
        lookup = self._string_codes()
        index_to_code = nb201._index_to_code()
        out = np.empty(len(archs), dtype=np.int64)
        bad_ints: list[Any] = []
        for i, a in enumerate(archs):
            if isinstance(a, str):
                code = lookup.get(a)
                out[i] = code if code is not None else nb201.parse(a).code  # parse raises a clear ValueError
            elif isinstance(a, nb201.NB201Arch):
                out[i] = a.code
            elif _int_like(a):
                if 0 <= int(a) < nb201.NUM_ARCHS:
                    out[i] = index_to_code[int(a)]
                else:
                    bad_ints.append(a)
            else:
                raise TypeError(f"expected an NB201Arch, arch string or NB201 index, got {type(a).__name__}: {a!r}")
        if bad_ints:
            raise _missing(bad_ints, self.what, "NB201 indices are 0..15624")
        return out

    def rows(self, archs: Sequence[Any] | np.ndarray) -> np.ndarray:
        rows = self.code_to_row[self.codes(archs)]
        if (rows < 0).any():
            bad = np.flatnonzero(rows < 0)
            items = archs.ravel() if isinstance(archs, np.ndarray) else archs
            shown = [items[i] if not _int_like(items[i]) else nb201.from_index(int(items[i])) for i in bad[:_SHOW]]
            raise _missing(shown, self.what, total=len(bad))
        return rows


class HashKeys:
    """Tables keyed by a string hash (NB101: the 32-hex module fingerprint).

    Accepts hash strings, objects with a ``fingerprint()`` method (``nasfast.spaces.nb101.Spec``),
    and int rows of this table.
    """

    def __init__(self, keys: Sequence[str], what: str, space: str) -> None:
        self.keys = [str(k) for k in keys]
        self.what = what
        self.space = space
        self.lookup = {k: i for i, k in enumerate(self.keys)}
        if len(self.lookup) != len(self.keys):
            raise ValueError(f"{what} table has duplicate arch keys")

    @staticmethod
    def single(x: Any) -> bool:
        return isinstance(x, str) or _int_like(x) or hasattr(x, "fingerprint")

    def key_of(self, a: Any) -> str:
        if isinstance(a, str):
            return a.lower()
        if hasattr(a, "fingerprint"):
            return str(a.fingerprint())
        raise TypeError(f"expected a hash string, an object with .fingerprint() or a row, got {type(a).__name__}: {a!r}")

    def rows(self, archs: Sequence[Any] | np.ndarray) -> np.ndarray:
        return _rows_by_key(self, archs)

    def prefetch(self, archs: Sequence[Any]) -> dict[int, str]:
        """Fingerprints of all ``Spec``-like items at once (one call of the compiled hash)."""
        specs = [(i, a) for i, a in enumerate(archs) if hasattr(a, "padded") and hasattr(a, "fingerprint")]
        if len(specs) < 2:
            return {}
        from nasfast.spaces import nb101

        padded = [a.padded() for _, a in specs]
        hashes = nb101.fingerprint(np.stack([p[0] for p in padded]), np.stack([p[1] for p in padded]))
        return {i: h for (i, _), h in zip(specs, hashes)}


class BytesKeys:
    """DARTS genotypes keyed by their compact encoding, an int8 array (2 cells, 8 edges, (input, op)).

    Accepts ``nasfast.spaces.darts.Genotype`` objects (anything with ``to_compact()``), DARTS's
    genotype text, the compact array itself or its bytes, and int rows of this table. Keys are the
    canonical compact form (``darts.canonical_compact``): a genotype listing a node's two edges in
    the other order is the same network, and finds the same row.
    """

    def __init__(self, encodings: np.ndarray, what: str, space: str) -> None:
        from nasfast.spaces import darts

        enc = np.ascontiguousarray(darts.canonical_compact(np.asarray(encodings, dtype=np.int8)), dtype=np.int8)
        self.shape = enc.shape[1:]
        self.keys = [row.tobytes() for row in enc]
        self.what = what
        self.space = space
        self.lookup = {k: i for i, k in enumerate(self.keys)}
        if len(self.lookup) != len(self.keys):
            raise ValueError(f"{what} table has duplicate genotypes")

    def single(self, x: Any) -> bool:
        if isinstance(x, np.ndarray):
            return x.shape == self.shape
        return isinstance(x, (bytes, str)) or _int_like(x) or any(hasattr(x, a) for a in _GENOTYPE_ATTRS)

    def key_of(self, a: Any) -> bytes:
        from nasfast.spaces import darts

        if isinstance(a, bytes):
            if len(a) != int(np.prod(self.shape)):
                return a  # not a genotype's bytes: looked up as given (and not found)
            a = np.frombuffer(a, dtype=np.int8).reshape(self.shape)
        if isinstance(a, str):
            from nasfast.spaces import darts

            a = darts.parse(a)
        for attr in _GENOTYPE_ATTRS:
            fn = getattr(a, attr, None)
            if callable(fn):
                a = fn()
                break
            if isinstance(fn, np.ndarray):
                a = fn
                break
        arr = np.asarray(a)
        if arr.shape != self.shape:
            raise TypeError(f"expected a genotype, its {self.shape} compact array or a row, got {type(a).__name__}: {a!r}")
        return np.ascontiguousarray(darts.canonical_compact(_as_int8(arr))).tobytes()

    def rows(self, archs: Sequence[Any] | np.ndarray) -> np.ndarray:
        return _rows_by_key(self, archs)


def _as_int8(arr: np.ndarray) -> np.ndarray:
    """A compact genotype array as the table's int8 keys, refusing values the cast would change
    (+256 wraps, +0.4 truncates, and either would look up another genotype)."""
    small = np.ascontiguousarray(arr, dtype=np.int8)
    if arr.size and not np.array_equal(small, arr):
        raise ValueError("compact genotype arrays hold small integers (op and input indices); got values "
                         f"such as {np.asarray(arr)[small != arr].ravel()[:3].tolist()}")
    return small


def _rows_by_key(keys: HashKeys | BytesKeys, archs: Sequence[Any] | np.ndarray) -> np.ndarray:
    n = len(keys.keys)
    if isinstance(keys, BytesKeys) and isinstance(archs, np.ndarray) and archs.ndim > 1:
        if archs.shape[1:] != keys.shape:
            raise ValueError(f"expected a batch of {keys.shape} genotype arrays, got an array of shape {archs.shape}")
        archs = [a.tobytes() for a in _as_int8(archs)]
    if isinstance(archs, np.ndarray) and archs.dtype.kind in "iu":
        if archs.ndim != 1:  # e.g. a (B, 7, 7) NB101 adjacency batch would read as 49 B row numbers
            raise ValueError(f"an int array of archs must be 1-D row numbers, got shape {archs.shape}")
        rows = archs.astype(np.int64)
        bad = rows[(rows < 0) | (rows >= n)]
        if bad.size:
            raise _missing(bad.tolist(), keys.what, f"rows are 0..{n - 1}", total=bad.size)
        return rows
    out = np.empty(len(archs), dtype=np.int64)
    unknown: list[Any] = []
    known: dict[int, Any] = keys.prefetch(archs) if isinstance(keys, HashKeys) else {}
    for i, a in enumerate(archs):
        if _int_like(a):
            r = int(a) if 0 <= int(a) < n else -1
        else:
            key = known.get(i)
            r = keys.lookup.get(key if key is not None else keys.key_of(a), -1)
        if r < 0:
            unknown.append(a)
        out[i] = r
    if unknown:
        raise _missing(unknown, keys.what)
    return out

"""``Benchmark``: a table of architectures (rows) and named metric columns, loaded lazily."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from nasfast.tabular.columns import ColumnInfo, resolve_column
from nasfast.tabular.keys import BytesKeys, HashKeys, NB201Keys, as_batch

Loader = Callable[[], np.ndarray]
ArchKeys = NB201Keys | HashKeys | BytesKeys


class Benchmark:
    """Rows are architectures, columns are named metrics (float64, NaN where a value is missing).

    Columns are read from disk on first use and kept. Look up by canonical name (``columns``), by
    the raw key of the bundled ``.npz`` file (e.g. ``'c10v_valid_acc'``), or by parts through
    ``resolve``. Example::

        >>> from nasfast import tabular
        >>> b = tabular.load("nb201")
        >>> best = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
        >>> b.query([best, 0], b.resolve("cifar10", split="valid")).round(4)
        array([91.6067, 81.9827])
    """

    def __init__(
        self,
        name: str,
        space: str,
        size: int,
        keys: ArchKeys,
        columns: Sequence[tuple[ColumnInfo, Loader]],
        *,
        aliases: Mapping[str, str] | None = None,
        seeds: Mapping[str, Loader] | None = None,
        archs: Callable[[], Sequence[Any]] | None = None,
        default_epochs: int | None = None,
        provenance: str = "",
    ) -> None:
        self.name = name
        self.space = space
        self._size = int(size)
        self._keys = keys
        self._infos: dict[str, ColumnInfo] = {}
        self._loaders: dict[str, Loader] = {}
        for info, loader in columns:
            if info.name in self._infos:
                raise ValueError(f"duplicate column {info.name!r} in benchmark {name!r}")
            self._infos[info.name] = info
            self._loaders[info.name] = loader
        self._aliases: dict[str, str] = dict(aliases or {})
        for alias, target in self._aliases.items():
            if target not in self._infos:
                raise ValueError(f"alias {alias!r} names unknown column {target!r}")
        self._lower = {n.lower(): n for n in self._infos}
        self._seed_loaders: dict[str, Loader] = dict(seeds or {})
        self._cache: dict[str, np.ndarray] = {}
        self._archs_factory = archs
        self._archs: Sequence[Any] | None = None
        self.default_epochs = default_epochs
        self.provenance = provenance

    # ---- shape and names --------------------------------------------------------------------

    def __len__(self) -> int:
        return self._size

    def __repr__(self) -> str:
        return f"Benchmark({self.name!r}, space={self.space!r}, rows={self._size}, columns={len(self._infos)})"

    @property
    def columns(self) -> list[str]:
        """Canonical column names, in a stable order (main metrics first)."""
        return list(self._infos)

    @property
    def aliases(self) -> dict[str, str]:
        """Extra accepted names (raw ``.npz`` keys) -> canonical name."""
        return dict(self._aliases)

    def info(self, name: str) -> ColumnInfo:
        """Parts, unit and description of a column (any accepted name)."""
        return self._infos[self.canonical(name)]

    def canonical(self, name: str) -> str:
        """The canonical name of a column given any accepted name; ``KeyError`` with suggestions."""
        if not isinstance(name, str):
            raise TypeError(f"a column name is a string (see {self.name!r}.columns), got {name!r}")
        if name in self._infos:
            return name
        if name in self._aliases:
            return self._aliases[name]
        if name.lower() in self._lower:
            return self._lower[name.lower()]
        known = list(self._infos) + list(self._aliases)
        close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
        if close:
            hint = f"; did you mean {close}?"
        elif len(self._infos) <= 12 or self.name not in ("nb201", "nb101", "nb301"):
            hint = f"; its columns are {list(self._infos)}"  # a user table: `nasfast info` knows only bundled ones
        else:
            hint = f"; see .columns, or `nasfast info --benchmark {self.name}` ({len(self._infos)} names)"
        raise KeyError(f"benchmark {self.name!r} has no column {name!r}{hint}")

    # ---- values -----------------------------------------------------------------------------

    def column(self, name: str) -> np.ndarray:
        """The whole column, shape (len(self),), float64, aligned with rows. Read-only view."""
        key = self.canonical(name)
        arr = self._cache.get(key)
        if arr is None:
            arr = np.asarray(self._loaders[key](), dtype=np.float64)
            if arr.shape != (self._size,):
                raise RuntimeError(f"column {key!r} of {self.name!r} has shape {arr.shape}, expected ({self._size},)")
            arr.setflags(write=False)
            self._cache[key] = arr
        return arr

    def seeds(self, name: str) -> np.ndarray:
        """Per-seed values behind a mean column, shape (len(self), k), NaN for missing runs.

        For NB201 k = 3 (slots in seed order 777, 888, 999; a missing run leaves NaN at the end).
        ``KeyError`` if the column has no per-seed data (see ``seed_columns``).
        """
        key = self.canonical(name) if not name.endswith("_seeds") else self.canonical(name.removesuffix("_seeds"))
        if key not in self._seed_loaders:
            raise KeyError(f"column {key!r} of {self.name!r} has no per-seed values; those that do: {self.seed_columns}")
        cache_key = key + "#seeds"
        arr = self._cache.get(cache_key)
        if arr is None:
            arr = np.asarray(self._seed_loaders[key](), dtype=np.float64)
            arr.setflags(write=False)
            self._cache[cache_key] = arr
        return arr

    @property
    def seed_columns(self) -> list[str]:
        return list(self._seed_loaders)

    def rows(self, archs: Any) -> np.ndarray:
        """Row numbers of a batch of archs (a lone arch counts as a batch of one), int64.

        Accepted archs depend on the space: NB201 takes ``NB201Arch``, arch strings and int
        NAS-Bench-201 indices (an int numpy array is looked up without a Python loop); NB101
        takes ``Spec`` objects (anything with ``.fingerprint()``) and 32-hex hashes; DARTS takes
        genotypes / their compact arrays. For NB101/DARTS tables ints are rows of this table.
        ``KeyError`` names the first few archs the table does not hold.
        """
        items, _ = as_batch(archs, self._keys.single, self._keys.space)
        return self._keys.rows(items)

    def keys(self) -> list[Any]:
        """The lookup key of every row, in row order: NB101 fingerprints (32 hex), DARTS compact
        genotype bytes; NB201 rows are keyed by their benchmark index."""
        keys = getattr(self._keys, "keys", None)
        return list(keys) if keys is not None else list(range(len(self)))

    def query(self, archs: Any, column: str) -> np.ndarray:
        """``column(column)[rows(archs)]`` as a new float64 array."""
        return self.column(column)[self.rows(archs)]

    def value(self, arch: Any, column: str) -> float:
        """One number: the value of ``column`` for one arch."""
        rows = self.rows(arch)
        if rows.shape != (1,):
            raise TypeError(f"value() takes one arch, got {len(rows)}")
        return float(self.column(column)[rows[0]])

    def contains(self, arch: Any) -> bool:
        """Whether the table holds ``arch`` (False also for malformed archs)."""
        try:
            self.rows(arch)
        except (KeyError, ValueError, TypeError):
            return False
        return True

    def __contains__(self, arch: Any) -> bool:
        return self.contains(arch)

    def archs(self) -> Sequence[Any]:
        """The arch object of every row, in row order (built once, then shared: do not mutate).

        A list for NB201/NB301; for NB101 a lazy read-only sequence that builds each ``Spec`` on
        first access (``len``, indexing, slicing and iteration work as on a list).
        """
        if self._archs is None:
            if self._archs_factory is None:
                raise NotImplementedError(f"benchmark {self.name!r} cannot build arch objects")
            self._archs = self._archs_factory()
        return self._archs

    def available(self, column: str) -> np.ndarray:
        """Rows where ``column`` has a value (not NaN), int64; e.g. the 725 zero-cost rows of NB201."""
        return np.flatnonzero(~np.isnan(self.column(column)))

    # ---- choosing a column ------------------------------------------------------------------

    def resolve(
        self,
        dataset: str,
        metric: str = "acc",
        split: str | None = None,
        epochs: int | str | None = None,
        version: str | None = None,
    ) -> str:
        """Canonical name of the one column matching the parts; ``ValueError`` listing the choices.

        - ``dataset``: ``cifar10-valid``, ``cifar10``, ``cifar100``, ``ImageNet16-120`` (also
          ``imagenet16-120``, ``in16``, ``c10v``, ``c10``, ``c100``).
        - NB201's ``cifar10`` dataset (trained on all 50k images) has no valid split:
          ``resolve("cifar10", split="valid")`` returns the CIFAR-10 x-valid column, which belongs
          to ``cifar10-valid`` (trained on 25k). With no split, ``cifar10`` is ambiguous between the
          two CIFAR-10 datasets and raises.
        - ``split``: ``valid`` (x-valid), ``test`` (x-test; for CIFAR-10 the original test set),
          ``oritest`` (the whole original test set of CIFAR-100 / ImageNet16-120).
        - ``epochs=None`` means the table's full budget (``default_epochs``: 200 for NB201, 108 for
          NB101) or a quantity without epochs; pass ``epochs=12`` for NB201's short schedule.
        - ``version=None`` is the main release; ``"v1.1"`` / ``"v1.0"`` pick NB201's older API data.
        """
        return resolve_column(self._infos.values(), dataset, metric, split, epochs, version, self.default_epochs)

    # ---- summary ----------------------------------------------------------------------------

    def describe(self) -> str:
        """Human-readable summary: rows, space, columns with units, where the data came from."""
        lines = [f"{self.name}: {self._size} architectures, space {self.space}, {len(self._infos)} columns"]
        if self.default_epochs is not None:
            lines.append(f"  full training budget: {self.default_epochs} epochs")
        width = max((len(n) for n in self._infos), default=0)
        for info in self._infos.values():
            unit = f" [{info.unit}]" if info.unit else ""
            seeds = " (+ per-seed)" if info.name in self._seed_loaders else ""
            lines.append(f"  {info.name:<{width}}  {info.description}{unit}{seeds}")
        if self._aliases:
            lines.append(f"  raw .npz key names are accepted too ({len(self._aliases)} aliases, see .aliases)")
        if self.provenance:
            lines.append(f"  provenance: {self.provenance}")
        return "\n".join(lines)

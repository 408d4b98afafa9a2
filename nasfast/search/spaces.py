"""What a search needs from the NB-101 and DARTS spaces, on top of ``nasfast.spaces``.

A strategy needs, for each space, hashable arch objects whose ``str()`` is the text written to
``history.csv`` and read back by a resume, plus ``sample``, ``mutate``, ``parse`` and ``NUM_ARCHS``
(``nasfast.search.base.SearchSpace``). NB201's module has all of this. The two adapters here supply
it for the other spaces:

- ``NB101_SEARCH_SPACE``: archs are ``NB101Arch``, an NB-101 cell *identified by its 32-hex module
  fingerprint* (the benchmark's isomorphism-invariant key, ``nasfast.spaces.nb101.Spec.fingerprint``).
  That fingerprint is the arch's text form in history.csv: compact, the key of the bundled table,
  and what makes "never propose the same arch twice" mean "never the same table row" (two
  ``Spec`` objects that are isomorphic but list their vertices in another order are one arch here).
  The graph (``Spec``), needed only to mutate, is built on demand.
- ``DARTS_SEARCH_SPACE``: archs are ``nasfast.spaces.darts.Genotype`` as they are; their text form is
  DARTS's own ``Genotype(normal=[...], ...)``.

Neither space is enumerated, so random search needs candidates (a table's rows, see
``table_candidates``), and REA mutates in the whole space: see ``nasfast.search.rea`` for what that
means on the bundled tables, which hold a small part of each space.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nasfast.spaces import darts, nb101

__all__ = ["DARTS_SEARCH_SPACE", "NB101_SEARCH_SPACE", "NB101Arch", "table_candidates"]

_HEX32 = re.compile(r"^[0-9a-f]{32}$")


class NB101Arch:
    """An NB-101 cell as a search sees it: equal, hashed and printed by its fingerprint.

    Args:
        key: the 32-hex NAS-Bench-101 module fingerprint (lower case).
        spec: the cell's ``nb101.Spec``, or a zero-argument callable that returns it (built on first
            use: NB-101 ``Spec`` construction costs ~0.2 ms, too much for 30k table rows up front),
            or ``None`` when only the fingerprint is known (a user table keyed by hashes).

    Example:
        >>> from nasfast.search import NB101Arch
        >>> from nasfast.search.spaces import NB101_SEARCH_SPACE
        >>> from nasfast.spaces import nb101
        >>> a = NB101Arch.from_spec(nb101.Spec([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [-1, 0, -2]))
        >>> NB101_SEARCH_SPACE.parse(str(a)) == a and len(str(a)) == 32
        True
    """

    __slots__ = ("_key", "_spec")

    def __init__(self, key: str, spec: nb101.Spec | Callable[[], Any] | None = None) -> None:
        key = str(key).lower()
        if not _HEX32.match(key):
            raise ValueError(f"NB101 arch key must be a 32-hex module fingerprint, got {key!r}")
        self._key = key
        self._spec = spec

    @classmethod
    def from_spec(cls, spec: nb101.Spec) -> NB101Arch:
        return cls(spec.fingerprint(), spec)

    def fingerprint(self) -> str:
        """The 32-hex NAS-Bench-101 module hash (what ``nasfast.tabular`` looks NB-101 rows up by)."""
        return self._key

    @property
    def spec(self) -> nb101.Spec | None:
        """The cell's graph, or ``None`` if only its fingerprint is known."""
        if callable(self._spec) and not isinstance(self._spec, nb101.Spec):
            built = self._spec()
            self._spec = built if isinstance(built, nb101.Spec) else None
        return self._spec  # type: ignore[return-value]

    def has_spec(self) -> bool:
        """Whether ``spec`` is not None, told without building the graph where that is cheap (the
        rows of a table, a cell of the bundled table)."""
        known = getattr(self._spec, "known", None)
        return known() if known is not None else self.spec is not None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NB101Arch):
            return NotImplemented
        return self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __str__(self) -> str:
        return self._key

    def __repr__(self) -> str:
        return f"NB101Arch({self._key!r})"


class _RowSpec:
    """The ``Spec`` of one row of the bundled table, built when first needed (a callable for
    ``NB101Arch``)."""

    __slots__ = ("archs", "row")

    def __init__(self, archs: Sequence[Any], row: int) -> None:
        self.archs, self.row = archs, row

    def __call__(self) -> Any:
        return self.archs[self.row]

    def known(self) -> bool:
        return True  # every row of the bundled table is a graph


class _BundledSpec:
    """The ``Spec`` of a cell known by its fingerprint, from the bundled table if it holds it."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key

    def __call__(self) -> Any:
        from nasfast import tabular

        bench = tabular.load("nb101")
        return bench.archs()[int(bench.rows(self.key)[0])] if bench.contains(self.key) else None

    def known(self) -> bool:
        from nasfast import tabular

        return tabular.load("nb101").contains(self.key)


class NB101SearchSpace:
    """The NB-101 space for strategies (see the module docstring). A singleton: ``NB101_SEARCH_SPACE``."""

    #: unique cells of NAS-Bench-101 (Ying et al. 2019, Sec. 2.2)
    NUM_ARCHS = 423_624
    OPS: tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")

    def sample(self, rng: np.random.Generator) -> NB101Arch:
        return NB101Arch.from_spec(nb101.sample(rng))

    def mutate(self, arch: NB101Arch, rng: np.random.Generator) -> NB101Arch:
        """``nb101.mutate`` of the arch's graph (the benchmark's example mutation; the child may be
        isomorphic to the parent, i.e. equal to it here)."""
        spec = arch.spec
        if spec is None:
            raise ValueError(f"NB101 arch {arch} is known only by its fingerprint, so it cannot be mutated; "
                             'give the table\'s arch column as JSON {"matrix": [[...]], "ops": [...]} to run REA')
        return NB101Arch.from_spec(nb101.mutate(spec, rng))

    def parse(self, text: str) -> NB101Arch:
        """A 32-hex fingerprint (the history.csv form; its graph is taken from the bundled table
        when it holds it) or JSON ``{"matrix": [[...]], "ops": [...]}``."""
        text = text.strip()
        if _HEX32.match(text.lower()):
            return NB101Arch(text, _BundledSpec(text.lower()))
        import json

        try:
            obj = json.loads(text)
        except json.JSONDecodeError:
            obj = None
        if not isinstance(obj, dict) or "ops" not in obj or not ({"matrix", "adjacency"} & obj.keys()):
            raise ValueError(f'NB101 arch text must be a 32-hex fingerprint or {{"matrix": [[...]], "ops": [...]}}, '
                             f"got {text!r:.120}")
        return NB101Arch.from_spec(nb101.Spec(obj.get("matrix", obj.get("adjacency")), obj["ops"]))

    def as_arch(self, arch: Any) -> NB101Arch:
        if isinstance(arch, NB101Arch):
            return arch
        if isinstance(arch, nb101.Spec):
            return NB101Arch.from_spec(arch)
        if isinstance(arch, str):
            return self.parse(arch)
        raise TypeError(f"expected an NB101Arch, an nb101.Spec or its text, got {type(arch).__name__}: {arch!r:.80}")

    def describe(self, arch: Any) -> dict[str, Any] | None:
        """The cell behind an arch (or its text) as NAS-Bench-101 writes one, ``{"matrix": [[...]],
        "ops": ["input", ...]}`` (pruned), for a result a person reads; ``None`` when only the
        fingerprint is known."""
        spec = self.as_arch(arch).spec
        if spec is None:
            return None
        names = {label: name for name, label in nb101.OP_LABELS.items()}
        return {"matrix": spec.adjacency.tolist(), "ops": [names[o] for o in spec.ops]}

    def all_archs(self) -> list[Any]:
        raise NotImplementedError("the NB-101 space is not enumerated here; search a table's rows instead "
                                  "(candidates=nasfast.search.table_candidates(space, benchmark))")

    def table_candidates(self, benchmark: Any) -> list[NB101Arch]:
        """One ``NB101Arch`` per row of an NB-101 table, without building 30k graphs up front. A row
        of a user's table given by its fingerprint alone takes its graph from the bundled table,
        when that holds the cell (as ``parse`` does)."""
        from nasfast.tabular.bundled import LazyArchs

        archs, keys = benchmark.archs(), _row_keys(benchmark)
        if isinstance(archs, LazyArchs):  # the bundled table: graphs built when first needed
            return [NB101Arch(key, _RowSpec(archs, row)) for row, key in enumerate(keys)]
        return [NB101Arch(key, a if isinstance(a, nb101.Spec) else _BundledSpec(key)) for key, a in zip(keys, archs)]

    def can_mutate(self, arch: Any) -> bool:
        """Whether ``mutate`` can take ``arch`` (its graph is known), without building the graph."""
        return self.as_arch(arch).has_spec()

    def __repr__(self) -> str:
        return "NB101_SEARCH_SPACE"


def _row_keys(benchmark: Any) -> list[str]:
    """The fingerprint of every row of an NB-101 table, in row order."""
    # The table's own keys: computing 30k fingerprints from the graphs would take ~10 s per run.
    return [str(k) for k in benchmark.keys()]


class DartsSearchSpace:
    """The DARTS / NB-301 space for strategies: ``darts.Genotype`` archs, DARTS genotype text."""

    #: distinct genotypes: per cell, node k (k = 0..3) takes an ordered pair of distinct inputs among
    #: k + 2 nodes (2 * 6 * 12 * 20 = 2880 ways) and 7 ops on each of its 2 edges (7**8); two cells.
    NUM_ARCHS = (2880 * 7**8) ** 2
    OPS: tuple[str, ...] = darts.OPS

    def sample(self, rng: np.random.Generator) -> darts.Genotype:
        return darts.sample(rng)

    def mutate(self, arch: darts.Genotype, rng: np.random.Generator) -> darts.Genotype:
        return darts.mutate(arch, rng)

    def parse(self, text: str) -> darts.Genotype:
        return darts.parse(text)

    def all_archs(self) -> list[Any]:
        raise NotImplementedError("the DARTS space (~2.8e20 genotypes) cannot be enumerated; search a "
                                  "table's rows instead (candidates=nasfast.search.table_candidates(space, benchmark))")

    def __repr__(self) -> str:
        return "DARTS_SEARCH_SPACE"


NB101_SEARCH_SPACE = NB101SearchSpace()
DARTS_SEARCH_SPACE = DartsSearchSpace()


def table_candidates(space: Any, benchmark: Any) -> Sequence[Any]:
    """The archs of every row of ``benchmark`` in the form ``space``'s strategies use."""
    own = getattr(space, "table_candidates", None)
    return own(benchmark) if own is not None else benchmark.archs()

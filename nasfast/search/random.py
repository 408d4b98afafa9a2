"""Random search: the first ``budget`` architectures of one random permutation of the space.

Drawing a permutation (rather than sampling with replacement) is what the NB201 baselines in
shared/notes/nb201-baselines.md §2 use: every evaluation is a distinct architecture.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from nasfast.search.base import SearchSpace, SpaceExhausted, Strategy, space_archs


class RandomSearch(Strategy):
    """Propose the architectures of the space (or of ``candidates``) in a random order, no repeats.

    Example:
        >>> from nasfast.spaces import nb201
        >>> from nasfast.search import RandomSearch
        >>> rs = RandomSearch(nb201, seed=0)
        >>> [req] = rs.ask()
        >>> str(req.arch).startswith("|")
        True
    """

    name = "random"

    def __init__(self, space: SearchSpace, seed: int, candidates: Iterable[Any] | None = None) -> None:
        super().__init__(space, seed, candidates)
        pool = self.candidates if self.candidates is not None else space_archs(self.space)
        # the whole order is fixed up front, so the n-th proposal depends only on the seed
        self._order = [pool[int(i)] for i in self.rng.permutation(len(pool))]
        self._pos = 0

    def _propose(self) -> Any:
        while self._pos < len(self._order):
            arch = self._order[self._pos]
            self._pos += 1
            if arch not in self.seen:
                return arch
        raise SpaceExhausted(f"all {self.space_size} architectures have been proposed")

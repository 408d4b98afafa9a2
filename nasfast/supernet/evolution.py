"""SPOS's evolutionary architecture search (Guo et al., ECCV 2020, Sec. 3.3 and ``src/Search/search.py`` of
megvii-model/SinglePathOneShot), as an ask/tell strategy over NB201.

A generation holds ``population`` archs. The first is uniformly random. Each later one is built from the ``select``
best archs evaluated so far (SPOS's ``keep_top_k`` accumulates over all generations):

- ``mutation`` children: a random top arch with each edge's op redrawn uniformly with probability
  ``mutation_prob`` (the redraw may give back the same op, as in SPOS);
- ``crossover`` children: each edge's op taken from one of two random top archs (possibly the same one);
- random archs fill the generation up to ``population``.

A child already proposed is rejected and another drawn, at most 10x the wanted count (SPOS's ``max_iters``); SPOS
also rejects children over a FLOPs limit, which NB201 does not need. SPOS's values: population 50, select 10,
25 mutations (probability 0.1), 25 crossovers, 20 generations.

The strategy never evaluates anything: the caller asks a generation, evaluates it (``search_supernet`` uses the
super-net's accuracy), tells the results, and asks again. Asked before the results of the previous generation are
back, it breeds from the results it has (random archs while it has none).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from nasfast.search.base import Request, Result, SearchSpace, Strategy


class SposEvolution(Strategy):
    """SPOS's evolution: top-``select`` parents, per-edge mutation and uniform crossover, random fill.

    Example:
        >>> from nasfast.spaces import nb201
        >>> from nasfast.search import Result
        >>> from nasfast.supernet import SposEvolution
        >>> ea = SposEvolution(nb201, seed=0, population=10, select=3, mutation=4, crossover=4)
        >>> for _ in range(3):
        ...     for req in ea.ask(10):
        ...         ea.tell(req, Result(valid_acc=float(req.arch.op_indices.count(3))))
        >>> len(ea.history)
        30
    """

    name = "spos-ea"

    def __init__(self, space: SearchSpace, seed: int, candidates: Iterable[Any] | None = None,
                 population: int = 50, select: int = 10, mutation: int = 25, crossover: int = 25,
                 mutation_prob: float = 0.1) -> None:
        for label, value in (("population", population), ("select", select)):
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"SPOS evolution {label} must be a positive integer, got {value!r}")
        for label, value in (("mutation", mutation), ("crossover", crossover)):
            if isinstance(value, bool) or int(value) != value or value < 0:
                raise ValueError(f"SPOS evolution {label} must be a non-negative integer, got {value!r}")
        if mutation + crossover > population:
            raise ValueError(f"mutation + crossover = {mutation + crossover} exceeds population = {population}")
        if not 0.0 <= mutation_prob <= 1.0:
            raise ValueError(f"mutation_prob must be in [0, 1], got {mutation_prob!r}")
        if not hasattr(space, "from_ops"):
            raise ValueError("SposEvolution needs a space of fixed-length op lists (NB201)")
        super().__init__(space, seed, candidates)
        self.population_size, self.select = int(population), int(select)
        self.mutation, self.crossover, self.mutation_prob = int(mutation), int(crossover), float(mutation_prob)
        self._queue: deque[Any] = deque()
        self._results: list[tuple[Any, float]] = []

    def top(self) -> list[tuple[Any, float]]:
        """The ``select`` best (arch, accuracy) told so far, best first (earlier told first on ties)."""
        return sorted(self._results, key=lambda r: -r[1])[:self.select]

    def _propose(self) -> Any:
        while self._queue:
            arch = self._queue.popleft()
            if arch not in self.seen:
                return arch
        self._queue.extend(self._generation())
        return self._queue.popleft() if self._queue else self.random_unseen()

    def _generation(self) -> list[Any]:
        parents = [a for a, _ in self.top()]
        out: list[Any] = []
        if parents:
            out += self._children(self.mutation, lambda: self._mutate(parents), out)
            out += self._children(self.crossover, lambda: self._cross(parents), out)
        while len(out) < self.population_size:
            arch = self.random_unseen()
            if arch not in out:
                out.append(arch)
        return out

    def _children(self, want: int, make: Callable[[], Any], taken: list[Any]) -> list[Any]:
        res: list[Any] = []
        for _ in range(10 * want):  # SPOS's max_iters
            if len(res) >= want:
                break
            child = make()
            if child not in self.seen and child not in res and child not in taken and self.allowed(child):
                res.append(child)
        return res

    def _pick(self, parents: list[Any]) -> tuple[int, ...]:
        return parents[int(self.rng.integers(len(parents)))].op_indices

    def _mutate(self, parents: list[Any]) -> Any:
        ops = list(self._pick(parents))
        for e in range(len(ops)):
            if self.rng.random() < self.mutation_prob:
                ops[e] = int(self.rng.integers(self.space.NUM_OPS))
        return self.space.from_ops(ops)

    def _cross(self, parents: list[Any]) -> Any:
        p1, p2 = self._pick(parents), self._pick(parents)
        return self.space.from_ops([a if self.rng.random() < 0.5 else b for a, b in zip(p1, p2)])

    def _observe(self, request: Request, result: Result) -> None:
        acc = float(result.valid_acc)
        self._results.append((request.arch, acc if acc == acc else float("-inf")))  # NaN never a parent

    def _params(self) -> dict[str, Any]:
        return {"population": self.population_size, "select": self.select, "mutation": self.mutation,
                "crossover": self.crossover, "mutation_prob": self.mutation_prob}

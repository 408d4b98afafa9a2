"""Regularized evolution (REA, Real et al. 2019) as NAS-Bench-201 runs it.

We follow AutoDL-Projects' ``exps/algos/R_EA.py`` (the NB201 reference), as pinned down in
shared/notes/nb201-baselines.md §2:

- the population starts as ``population`` uniformly random architectures;
- each step draws a tournament of ``tournament`` members uniformly *with* replacement
  (R_EA.py calls ``random.choice`` in a loop) and takes the one with the best validation accuracy
  (the first drawn on ties, as Python's ``max`` does);
- the child is the parent with one edge changed to a different op (the space's ``mutate``);
- the child joins the population and the oldest member leaves ("aging", hence *regularized*).

One deliberate difference from R_EA.py: architectures never repeat. A child that was already
proposed is mutated again from the same parent, up to ``max_mutation_tries`` times, then replaced by
a random unseen architecture; so a budget of b buys b distinct evaluations. (R_EA.py re-evaluates
repeats and charges them; the notes found that this changes nothing qualitatively.)

On a table that holds only part of its space (``candidates``: the bundled 30,001-arch NB-101 subset
of 423,624 cells, the 725 NB-301 genotypes), the child must also be a row of the table, and the same
retry-then-random rule applies. Mutation acts in the whole space, so most children land outside the
table. NB-101: about one mutation in eight is a table row (12.7 % of 2,000; 2.5 % of all
mutations are the parent itself, unchanged after pruning), so a step costs tens of mutations
(~20 ms) and about 7 % of the children after the first P are random (seed 0, 300 steps, measured). NB-301: a one-edge mutation of
a table genotype is practically never another of the 725 (none in 725 tries), so after the first P
every request is a random unseen row: REA on ``nb301`` *is* random search over the table, and is
offered only so that the two can be run side by side.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from typing import Any

from nasfast.search.base import Request, Result, SearchSpace, Strategy
from nasfast.validation import check_positive_int


class RegularizedEvolution(Strategy):
    """REA with aging, tournament selection on validation accuracy and one-edge mutation.

    Args:
        space, seed, candidates: see ``Strategy``.
        population: population size P (NB201 default 10).
        tournament: tournament size S, drawn with replacement (NB201 default 3).
        max_mutation_tries: mutations of the parent tried before falling back to a random arch.

    Asked in batches (``ask(n)`` with n > 1, results pending), the first P requests are random and
    later tournaments are drawn from the members whose results have come back; while none has, the
    request is a random unseen architecture. Asked one at a time this is exactly the sequential REA.

    Example:
        >>> from nasfast.spaces import nb201
        >>> from nasfast.search import RegularizedEvolution, Result
        >>> rea = RegularizedEvolution(nb201, seed=0, population=10, tournament=3)
        >>> for step in range(20):
        ...     [req] = rea.ask()
        ...     rea.tell(req, Result(valid_acc=float(req.arch.op_indices.count(3))))
        >>> len(rea.population)
        10
    """

    name = "rea"

    def __init__(
        self,
        space: SearchSpace,
        seed: int,
        candidates: Iterable[Any] | None = None,
        population: int = 10,
        tournament: int = 3,
        max_mutation_tries: int = 100,
    ) -> None:
        self.population_size = check_positive_int(population, "REA population")
        self.tournament_size = check_positive_int(tournament, "REA tournament")
        self.max_mutation_tries = check_positive_int(max_mutation_tries, "REA max_mutation_tries")
        super().__init__(space, seed, candidates)
        can_mutate = getattr(self.space, "can_mutate", None)
        if can_mutate is not None and self.candidates is not None:
            # refuse now, not after the first P evaluations have been spent
            stuck = [a for a in self.candidates if not can_mutate(a)]
            if stuck:
                raise ValueError(f"REA mutates its parents' graphs, but {len(stuck)} of the {len(self.candidates)} "
                                 f"candidates are known only by their fingerprint (e.g. {stuck[0]}), which the bundled "
                                 "table does not hold; give the table's arch column as graphs, or use random search")
        #: (arch, valid_acc) of the living members, oldest first
        self.population: deque[tuple[Any, float]] = deque()
        self._random_asked = 0

    def _propose(self) -> Any:
        if self._random_asked < self.population_size or not self.population:
            self._random_asked += 1
            return self.random_unseen()
        parent = self._tournament()
        for _ in range(self.max_mutation_tries):
            child = self.space.mutate(parent, self.rng)
            if child not in self.seen and self.allowed(child):
                return child
        return self.random_unseen()

    def _tournament(self) -> Any:
        members = self.population
        picks = self.rng.integers(len(members), size=self.tournament_size)
        best_arch, best_acc = members[int(picks[0])]
        for i in picks[1:]:
            arch, acc = members[int(i)]
            if acc > best_acc:  # strict: the first drawn wins ties
                best_arch, best_acc = arch, acc
        return best_arch

    def _observe(self, request: Request, result: Result) -> None:
        acc = float(result.valid_acc)
        # a failed evaluation (NaN, or an inf no real accuracy is) must never win a tournament
        self.population.append((request.arch, acc if math.isfinite(acc) else -math.inf))
        if len(self.population) > self.population_size:
            self.population.popleft()

    def _params(self) -> dict[str, Any]:
        return {"population": self.population_size, "tournament": self.tournament_size,
                "max_mutation_tries": self.max_mutation_tries}

"""Multi-fidelity ask/tell: requests for (arch, epochs), a tabular evaluator that answers them from
the bundled fidelities, and the uniform successive-halving and Hyperband baselines.

A multi-fidelity strategy asks for a *batch* of ``Request(arch, id, epochs)`` at a time (every
request of a batch can be trained in parallel, by a table or by the user's own loop) and must be
told all of them before it asks again: successive halving needs the whole rung to rank it. The
single-fidelity ``Strategy`` / ``run_search`` of ``nasfast.search`` are untouched; an arch may be
asked here several times, at increasing epochs.

Budget convention (issue 7; shared/REFERENCES.md A2 "Budget"): the budget is counted in
training epochs. Asking for an arch at ``e`` epochs when it was already trained to ``e' < e``
charges ``e - e'`` (a promotion pays only the increment, as if training resumed from a
checkpoint); asking again at ``e <= e'`` charges nothing. **This is a simulation convention on our
tables**: the NB201 12-epoch numbers come from the separate 12-epoch schedule (hp=12, its own
learning-rate annealing) and the 200-epoch ones from the 200-epoch schedule; the NB101
4/12/36/108-epoch accuracies are separately annealed runs (REFERENCES A2). Nothing in either
benchmark was continued from 12 to 200 (or 4 to 12) epochs.

Fidelities (notes/nb201-baselines.md §4): NB201 has every arch at 12 and 200 epochs only, so its
schedule is E = (12, 200); NB101-30k has 4/12/36/108 epochs.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from nasfast.evaluators.base import Evaluator, Request, Result, check_replayed, check_result
from nasfast.evaluators.tabular import canonical_dataset
from nasfast.search.base import (
    SearchSpace,
    SpaceExhausted,
    check_seed,
    resolve_space,
    space_archs,
    space_name,
)
from nasfast.validation import check_positive_int

__all__ = ["FIDELITIES", "Hyperband", "MultiFidelityEvaluator", "MultiFidelityRun", "MultiFidelityStrategy",
           "SuccessiveHalving", "check_fidelities", "check_ratio", "check_schedule", "fidelity_columns", "hyperband_brackets",
           "run_multifidelity", "sh_rungs", "rungs_cost"]

#: epochs at which every arch of a bundled table has a validation accuracy
FIDELITIES: dict[str, tuple[int, ...]] = {"nb201": (12, 200), "nb101": (4, 12, 36, 108)}
#: NB201 dataset -> (the table's dataset of the valid column, of the test column). CIFAR-10 reports
#: the test accuracy of the cifar10 (50k-trained) runs, as the RANK-NOSH / arch2vec rows do and as
#: the oracle 94.37 of RANK-NOSH Table 2 is defined (notes/nb201-baselines.md §3). This differs
#: from ``TabularEvaluator``, which reports the cifar10-valid ori-test (ProxyBO's convention, §2).
_NB201_DATASETS = {"cifar10": ("cifar10-valid", "cifar10"), "cifar100": ("cifar100", "cifar100"),
                   "ImageNet16-120": ("ImageNet16-120", "ImageNet16-120")}
OBSERVE = ("mean", "random-seed")

Batch = list[tuple[Any, int]]


# ---- argument checks shared with nasfast.search.nosh ------------------------------------------------

def check_schedule(schedule: Iterable[int]) -> tuple[int, ...]:
    """E = (e1 < ... < eN) as positive integers; ``ValueError`` with the offending schedule."""
    try:
        E = tuple(schedule)
    except TypeError:
        raise ValueError(f"schedule must be a sequence of epochs, got {schedule!r}") from None
    try:
        E = tuple(check_positive_int(e, "epochs") for e in E)
    except ValueError:
        raise ValueError(f"schedule must be non-empty positive integer epochs, got {E!r}") from None
    if not E:
        raise ValueError(f"schedule must be non-empty positive integer epochs, got {E!r}")
    if any(b <= a for a, b in zip(E, E[1:])):
        raise ValueError(f"schedule must be strictly increasing (e1 < e2 < ...), got {E!r}")
    return E


def check_ratio(value: float, label: str = "move ratio r", upper_inclusive: bool = False) -> Fraction:
    """A ratio in (0, 1) (or (0, 1]) as an exact fraction, so that ceil(r * n) is not hit by float
    error (1/3 * 300 is 100.00000000000001 in floats)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Fraction)) or not math.isfinite(value):
        raise ValueError(f"{label} must be a number in (0, 1{']' if upper_inclusive else ')'}, got {value!r}")
    ok = 0 < value <= 1 if upper_inclusive else 0 < value < 1
    if not ok:
        raise ValueError(f"{label} must be in (0, 1{']' if upper_inclusive else ')'}, got {value!r}")
    return Fraction(value).limit_denominator(10**6)


# ---- the evaluator ----------------------------------------------------------------------------------------

def fidelity_columns(benchmark: str, dataset: str = "cifar10") -> dict[int, tuple[str, str | None]]:
    """epochs -> (validation column, test column or None) of a bundled table."""
    if benchmark == "nb201":
        valid_ds, test_ds = _NB201_DATASETS[canonical_dataset(dataset)]
        return {e: (f"{valid_ds}/acc/valid/{e}ep", f"{test_ds}/acc/test/{e}ep") for e in FIDELITIES["nb201"]}
    if benchmark == "nb101":
        if canonical_dataset(dataset) != "cifar10":
            raise ValueError(f"the bundled nb101 table has cifar10 only, got dataset {dataset!r}")
        return {e: (f"cifar10/acc/valid/{e}ep", None) for e in FIDELITIES["nb101"]}
    raise ValueError(f"no bundled fidelities for table {benchmark!r}; known: {sorted(FIDELITIES)} "
                     "(pass columns={epochs: (valid, test)} for another table)")


class MultiFidelityEvaluator:
    """Answer ``Request(arch, id, epochs)`` from a table holding several training lengths.

    Args:
        benchmark: ``nasfast.tabular.load("nb201")`` or ``load("nb101")`` (or any table, with ``columns``).
        dataset: ``cifar10``, ``cifar100`` or ``ImageNet16-120`` (NB101: cifar10).
        observe: what ``valid_acc`` (the number a strategy selects on) is. ``"mean"``: the seed mean;
            ``"random-seed"``: one seed's value drawn per (arch, epochs), where the column has
            per-seed values (NB201 200 epochs; the 12-epoch table and NB101 have none, so they stay
            the mean). This is the arch2vec observation rule that reproduces the RANK-NOSH RS/REA
            rows (notes/nb201-baselines.md §3). ``extra["valid_acc_mean"]`` always holds the mean.
        seed: seed of the random-seed draws (each is a function of (seed, row, epochs) only, so the
            answer does not depend on the order of the queries).
        columns: ``{epochs: (valid, test or None)}`` instead of ``fidelity_columns``.

    ``Result.cost`` is the **epochs charged** (the module's increment convention), not seconds;
    ``extra["epochs"]`` is the requested length. ``total_epochs`` sums the charges.

    Example:
        >>> from nasfast import tabular
        >>> from nasfast.evaluators import Request
        >>> from nasfast.search.multifidelity import MultiFidelityEvaluator
        >>> ev = MultiFidelityEvaluator(tabular.load("nb201"), "cifar10")
        >>> [ev(Request(9930, i, e)).cost for i, e in enumerate((12, 200, 12))]
        [12.0, 188.0, 0.0]
    """

    def __init__(self, benchmark: Any, dataset: str = "cifar10", observe: str = "mean", seed: int = 0,
                 columns: dict[int, tuple[str, str | None]] | None = None) -> None:
        if observe not in OBSERVE:
            raise ValueError(f"observe must be one of {OBSERVE}, got {observe!r}")
        self.benchmark, self.observe, self.seed = benchmark, observe, check_seed(seed)
        self.dataset = canonical_dataset(dataset)
        cols = columns if columns is not None else fidelity_columns(benchmark.name, self.dataset)
        self.columns = {int(e): (v, t) for e, (v, t) in sorted(cols.items())}
        check_schedule(self.columns)
        self.fidelities: tuple[int, ...] = tuple(self.columns)
        self._valid, self._test, self._seeds = {}, {}, {}
        for e, (v, t) in self.columns.items():
            self._valid[e] = benchmark.column(v)
            self._test[e] = benchmark.column(t) if t else np.full(len(benchmark), math.nan)
            if observe == "random-seed" and v in benchmark.seed_columns:
                self._seeds[e] = benchmark.seeds(v)
        #: row -> the longest training charged so far
        self.trained: dict[int, int] = {}
        self.total_epochs = 0
        self.evaluations = 0

    def __call__(self, request: Request) -> Result:
        epochs = self.fidelities[-1] if request.epochs is None else int(request.epochs)
        if epochs not in self.columns:
            raise ValueError(f"request {request.id} asks for {request.epochs} epochs; this table has "
                             f"{list(self.fidelities)}")
        row = int(self.benchmark.rows([request.arch])[0])
        charge = max(0, epochs - self.trained.get(row, 0))
        self.trained[row] = max(epochs, self.trained.get(row, 0))
        self.total_epochs += charge
        self.evaluations += 1
        mean = float(self._valid[epochs][row])
        observed, seed_slot = mean, None
        if epochs in self._seeds:
            values = self._seeds[epochs][row]
            slots = np.flatnonzero(np.isfinite(values))
            if len(slots):
                seed_slot = int(slots[np.random.default_rng([self.seed, row, epochs]).integers(len(slots))])
                observed = float(values[seed_slot])
        return Result(valid_acc=observed, test_acc=float(self._test[epochs][row]), cost=float(charge),
                      extra={"row": row, "epochs": epochs, "valid_acc_mean": mean, "seed_slot": seed_slot})

    def replay(self, request: Request, result: Result) -> None:
        """Account for a result restored from a run's history (charges included), checking that the
        table still gives it."""
        check_replayed(self(request), result, f"{request.arch} at {request.epochs} epochs")

    def config(self) -> dict[str, Any]:
        return {"kind": "multifidelity-tabular", "benchmark": self.benchmark.name, "dataset": self.dataset,
                "observe": self.observe, "seed": self.seed,
                "columns": {str(e): list(c) for e, c in self.columns.items()},
                "budget_rule": "epochs; a promotion pays only the increment (separately trained runs in the table)"}


# ---- strategies ------------------------------------------------------------------------------------------

class MultiFidelityStrategy(abc.ABC):
    """Base of multi-fidelity strategies: ``ask()`` returns the next batch of requests (an empty
    list once the search is over); ``tell`` every one of them before asking again.

    Subclasses write the search as a generator ``_search()`` that yields batches of
    ``(arch, epochs)`` and receives the list of ``Result`` in the same order, so the code reads like
    the paper's pseudo-code. Everything random comes from ``self.rng`` (seeded), so a strategy
    rebuilt with the same seed and told the same results asks the same batches.

    Args:
        space: the search space; seed: the seed of ``self.rng``; candidates: the only archs it may
            propose (required for spaces that are not enumerated: ``table_candidates(space, bench)``);
            stored sorted by ``str`` so the run does not depend on the caller's order.
        schedule: E = (e1 < ... < eN), the epochs of levels / rungs 1..N.
    """

    name = ""

    def __init__(self, space: SearchSpace, seed: int, candidates: Iterable[Any] | None,
                 schedule: Sequence[int]) -> None:
        self.space, self.seed = resolve_space(space), check_seed(seed)  # a name ("nb201") or the space
        space = self.space
        self.rng = np.random.default_rng(self.seed)
        self.schedule = check_schedule(schedule)
        if candidates is None:
            try:
                self.archs: list[Any] = list(space_archs(space))
            except NotImplementedError as err:
                raise ValueError(f"{self.name}: {space_name(space)} is not enumerated; pass "
                                 "candidates=nasfast.search.table_candidates(space, benchmark)") from err
        else:
            as_arch = getattr(space, "as_arch", None)
            self.archs = sorted({as_arch(a) if as_arch else a for a in candidates}, key=str)
            if not self.archs:
                raise ValueError(f"{self.name}: candidates is empty")
        self.position = {a: i for i, a in enumerate(self.archs)}
        #: arch -> longest training asked so far (the strategy's own budget view)
        self.trained: dict[Any, int] = {}
        self.epochs_used = 0
        self.history: list[tuple[Request, Result]] = []
        self._gen: Generator[Batch, list[Result], None] | None = None
        self._batch: list[Request] = []
        self._told: dict[int, Result] = {}
        self._next_id = 0
        self.done = False

    # ---- ask / tell -----------------------------------------------------------------------------------

    def ask(self) -> list[Request]:
        """The next batch of (arch, epochs) requests; ``[]`` when the search is over."""
        missing = [r.id for r in self._batch if r.id not in self._told]
        if missing:
            raise RuntimeError(f"{type(self).__name__}: tell the results of requests {missing} before asking again")
        if self.done:
            return []
        try:
            if self._gen is None:
                self._gen = self._search()
                batch = next(self._gen)
            else:
                batch = self._gen.send([self._told[r.id] for r in self._batch])
        except StopIteration:
            self.done, self._batch = True, []
            return []
        if not batch:
            raise RuntimeError(f"{type(self).__name__} yielded an empty batch")  # a strategy bug
        self._batch, self._told = [], {}
        for arch, epochs in batch:
            self._batch.append(Request(arch=arch, id=self._next_id, epochs=int(epochs)))
            self._next_id += 1
        return list(self._batch)

    def tell(self, request: Request, result: Result) -> None:
        """Report the result of a request of the current batch."""
        check_result(result)
        if request not in self._batch:
            raise ValueError(f"tell() got request {request.id} ({request.arch}, {request.epochs} ep), "
                             "which is not in the current batch")
        if request.id in self._told:
            raise ValueError(f"request {request.id} was already told")
        self._told[request.id] = result
        done = self.trained.get(request.arch, 0)
        self.epochs_used += max(0, int(request.epochs) - done)  # the increment convention
        self.trained[request.arch] = max(done, int(request.epochs))
        self.history.append((request, result))

    def config(self) -> dict[str, Any]:
        """What a run directory records (a resume must match it)."""
        return {"algo": self.name, "space": space_name(self.space), "seed": self.seed, "schedule": list(self.schedule),
                "candidates": len(self.archs), **self._config()}

    def _config(self) -> dict[str, Any]:
        return {}

    def best(self) -> tuple[Any, Result] | None:
        """The arch with the highest observed validation accuracy at the top fidelity (eN), the
        earliest on ties; ``None`` before any top-fidelity result."""
        top, out = self.schedule[-1], None
        for req, res in self.history:
            if req.epochs == top and math.isfinite(res.valid_acc) and (out is None or res.valid_acc > out[1].valid_acc):
                out = (req.arch, res)
        return out

    # ---- helpers for subclasses ------------------------------------------------------------------------

    def random_new(self, n: int, exclude: set[int]) -> list[int]:
        """``n`` distinct random candidate positions not in ``exclude`` (``SpaceExhausted`` if fewer)."""
        free = len(self.archs) - len(exclude)
        if n > free:
            raise SpaceExhausted(f"{self.name}: asked for {n} new archs, only {free} are left")
        out: list[int] = []
        taken = set(exclude)
        while len(out) < n and len(taken) * 2 < len(self.archs):  # rejection while most are free
            p = int(self.rng.integers(len(self.archs)))
            if p not in taken:
                out.append(p)
                taken.add(p)
        if len(out) < n:
            rest = np.setdiff1d(np.arange(len(self.archs)), np.fromiter(taken, dtype=np.int64))
            out += [int(p) for p in self.rng.choice(rest, size=n - len(out), replace=False)]
        return out

    @abc.abstractmethod
    def _search(self) -> Generator[Batch, list[Result], None]:
        """Yield batches of (arch, epochs); receive their results in order."""


def _by_accuracy(items: Sequence[Any], acc: dict[Any, float]) -> list[Any]:
    """``items`` by descending accuracy, NaN last, stable (earlier first on ties)."""
    return sorted(items, key=lambda a: -acc[a] if math.isfinite(acc[a]) else math.inf)


# ---- uniform successive halving and Hyperband ---------------------------------------------------------

def sh_rungs(n: int, ratio: float | Fraction, rungs: int) -> list[int]:
    """Archs per rung of a successive-halving bracket: n_i = max(1, floor(n r^i)) (Li et al.,
    Hyperband, JMLR 2018, Alg. 1: n_i = floor(n eta^-i), here with r = 1/eta; at least one
    survives to the top)."""
    r = check_ratio(ratio) if not isinstance(ratio, Fraction) else ratio
    return [max(1, math.floor(n * r**i)) for i in range(rungs)]


def rungs_cost(counts: Sequence[int], epochs: Sequence[int]) -> int:
    """Epochs of a bracket whose rung i trains counts[i] archs to epochs[i], paying increments."""
    prev, total = 0, 0
    for c, e in zip(counts, epochs):
        total += c * (e - prev)
        prev = e
    return total


def hyperband_brackets(schedule: Sequence[int], ratio: float, scale: float = 1.0) -> list[tuple[int, ...]]:
    """Hyperband's brackets on a discrete schedule, most exploratory first: bracket s = s_max..0
    (s_max = N - 1) starts at rung E[N-1-s] with n_s = ceil(scale (s_max + 1) eta^s / (s + 1))
    archs (Li et al. 2018, Alg. 1, eta = 1/r) and halves them with ``sh_rungs``. Returns the
    per-rung counts, aligned to the *last* len(counts) epochs of the schedule. (Li et al.'s sizes
    equalise bracket budgets only when E is geometric with ratio eta; NB201's (12, 200) is not.)"""
    E = check_schedule(schedule)
    r = check_ratio(ratio)
    if not (scale > 0 and math.isfinite(scale)):
        raise ValueError(f"Hyperband scale must be a finite number > 0, got {scale!r}")
    s_max = len(E) - 1
    out = []
    for s in range(s_max, -1, -1):
        n = math.ceil(Fraction(scale).limit_denominator(10**6) * (s_max + 1) / r**s / (s + 1))
        out.append(tuple(sh_rungs(n, r, s + 1)))
    return out


class SuccessiveHalving(MultiFidelityStrategy):
    """Uniform successive halving (Jamieson & Talwalkar 2016; one Hyperband bracket): ``n`` random
    archs trained to e1, the top n_i = floor(n r^i) by accuracy at e_i trained on to e_(i+1), the
    rest dropped for good (what NOSH's non-uniform pyramid changes).

    Args:
        space, seed, candidates, schedule: see ``MultiFidelityStrategy``.
        ratio: r, the fraction kept per rung (1/eta).
        n: archs at the first rung; default 100, the archs RANK-NOSH's default pool trains to e1
            (300 proposals, a third leaving level 0), so the budgets are about equal.

    Example:
        >>> from nasfast.spaces import nb201
        >>> from nasfast.search import Result
        >>> from nasfast.search.multifidelity import SuccessiveHalving
        >>> sh = SuccessiveHalving(nb201, 0, schedule=(1, 2, 4), ratio=0.5, n=8)
        >>> while batch := sh.ask():
        ...     for req in batch:
        ...         sh.tell(req, Result(valid_acc=float(req.arch.index)))
        >>> sh.epochs_used  # 8 x 1 + 4 x (2 - 1) + 2 x (4 - 2)
        16
    """

    name = "sh"

    def __init__(self, space: SearchSpace, seed: int, candidates: Iterable[Any] | None = None,
                 schedule: Sequence[int] = FIDELITIES["nb201"], ratio: float = 0.5, n: int = 100) -> None:
        self.ratio = check_ratio(ratio)
        self.n = check_positive_int(n, "successive halving n")
        super().__init__(space, seed, candidates, schedule)
        if self.n > len(self.archs):  # else the first ask would fail, or a run dir would be left half-made
            raise ValueError(f"successive halving n={self.n} exceeds the {len(self.archs)} candidates")
        self.counts = sh_rungs(self.n, self.ratio, len(self.schedule))

    def _config(self) -> dict[str, Any]:
        return {"ratio": str(self.ratio), "n": self.n}

    def _search(self) -> Generator[Batch, list[Result], None]:
        new = self.random_new(self.n, set())
        yield from _bracket(self, [self.archs[p] for p in new], self.counts, self.schedule)


def _bracket(strategy: MultiFidelityStrategy, archs: list[Any], counts: Sequence[int],
             epochs: Sequence[int]) -> Generator[Batch, list[Result], None]:
    """One SH bracket: all ``archs`` to epochs[0], then the top counts[i] by accuracy on to epochs[i]."""
    alive, acc = archs, {}
    for i, (count, e) in enumerate(zip(counts, epochs)):
        if i:
            alive = _by_accuracy(alive, acc)[:count]
        results = yield [(a, e) for a in alive]
        acc = {a: float(r.valid_acc) for a, r in zip(alive, results)}


class Hyperband(MultiFidelityStrategy):
    """Hyperband (Li et al., JMLR 2018) on a discrete schedule: brackets s = s_max..0 of
    ``hyperband_brackets``, run one after the other, each on fresh random archs (no arch twice).

    Args:
        space, seed, candidates, schedule: see ``MultiFidelityStrategy``.
        ratio: r = 1/eta (0.5, as NOSH and SH here, so the three compare at one ratio).
        scale: multiplies every bracket's n_s (Li et al.'s B/R factor).
        max_epochs: None: one Hyperband iteration (s_max + 1 brackets); else brackets keep cycling
            (s_max, ..., 0, s_max, ...) while the next one's whole cost fits in what is left.

    Example:
        >>> from nasfast.search.multifidelity import hyperband_brackets, rungs_cost
        >>> [sum(rungs_cost(c, (1, 3, 9)[-len(c):]) for c in hyperband_brackets((1, 3, 9), 1 / 3))]
        [69]
    """

    name = "hyperband"

    def __init__(self, space: SearchSpace, seed: int, candidates: Iterable[Any] | None = None,
                 schedule: Sequence[int] = FIDELITIES["nb201"], ratio: float = 0.5, scale: float = 1.0,
                 max_epochs: int | None = None) -> None:
        self.ratio = check_ratio(ratio)
        self.max_epochs = None if max_epochs is None else check_positive_int(max_epochs, "Hyperband max_epochs")
        super().__init__(space, seed, candidates, schedule)
        self.brackets = hyperband_brackets(self.schedule, self.ratio, scale)
        self.scale = float(scale)
        self.costs = [rungs_cost(c, self.schedule[-len(c):]) for c in self.brackets]
        if self.brackets[0][0] > len(self.archs):  # else the search would end at once, having done nothing
            raise ValueError(f"Hyperband's first bracket needs {self.brackets[0][0]} archs, more than the "
                             f"{len(self.archs)} candidates (scale={scale!r})")
        if self.max_epochs is not None and self.max_epochs < min(self.costs):
            raise ValueError(f"Hyperband max_epochs {self.max_epochs} is below its cheapest bracket "
                             f"({min(self.costs)} epochs)")

    def _config(self) -> dict[str, Any]:
        return {"ratio": str(self.ratio), "scale": self.scale, "max_epochs": self.max_epochs}

    def _search(self) -> Generator[Batch, list[Result], None]:
        used: set[int] = set()
        spent, i = 0, 0
        while True:
            k = i % len(self.brackets)
            if i >= len(self.brackets) and self.max_epochs is None:
                return
            if self.max_epochs is not None and spent + self.costs[k] > self.max_epochs:
                return
            counts = self.brackets[k]
            if counts[0] > len(self.archs) - len(used):
                return  # the candidates ran out
            new = self.random_new(counts[0], used)
            used.update(new)
            yield from _bracket(self, [self.archs[p] for p in new], counts, self.schedule[-len(counts):])
            spent += self.costs[k]
            i += 1


# ---- driving a strategy -----------------------------------------------------------------------------------

def check_fidelities(strategy: MultiFidelityStrategy, evaluator: Evaluator) -> None:
    """``ValueError`` before anything is evaluated when ``evaluator`` has ``fidelities`` and some
    epochs of ``strategy.schedule`` are not among them (it would fail only after a rung was paid)."""
    fidelities = getattr(evaluator, "fidelities", None)
    if fidelities is not None and not set(strategy.schedule) <= set(fidelities):
        missing = sorted(set(strategy.schedule) - set(fidelities))
        raise ValueError(f"{strategy.name} schedule {list(strategy.schedule)} asks for {missing} epochs, which the "
                         f"evaluator cannot answer (its fidelities: {list(fidelities)})")


@dataclass
class MultiFidelityRun:
    """What ``run_multifidelity`` returns: the best arch at the top fidelity and its result, the
    epochs charged, and the incumbent after every result: (epochs so far, arch, Result at eN)."""

    best_arch: Any
    best: Result | None
    epochs: int
    trace: list[tuple[int, Any, Result]] = field(default_factory=list)


def run_multifidelity(strategy: MultiFidelityStrategy, evaluator: Evaluator) -> MultiFidelityRun:
    """Ask, evaluate and tell until the strategy is done (in memory; nothing is written).

    The incumbent is the top-fidelity result with the highest observed validation accuracy; a
    result at a lower fidelity never becomes it (its accuracy is not comparable).
    """
    check_fidelities(strategy, evaluator)
    trace: list[tuple[int, Any, Result]] = []
    top = strategy.schedule[-1]
    inc: tuple[Any, Result] | None = None
    while batch := strategy.ask():
        for req in batch:
            res = evaluator(req)
            strategy.tell(req, res)
            if req.epochs == top and math.isfinite(res.valid_acc) and (inc is None or res.valid_acc > inc[1].valid_acc):
                inc = (req.arch, res)
            if inc is not None:
                trace.append((strategy.epochs_used, inc[0], inc[1]))
    return MultiFidelityRun(best_arch=None if inc is None else inc[0], best=None if inc is None else inc[1],
                            epochs=strategy.epochs_used, trace=trace)

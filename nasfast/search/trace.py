"""The running record of a search: one ``Observation`` per evaluation, the incumbent, and the
reporting rules.

Reporting rules (see shared/notes/nb201-baselines.md §2):

- ``"incumbent"`` (default, the notes' convention A): select on validation accuracy and report the
  test accuracy of the incumbent, the evaluated arch with the best validation accuracy (the first
  one on ties). This is the only honest rule: the test split never influences the answer.
- ``"best-test-seen"`` (convention C): the best test accuracy among all evaluated archs, whatever
  their validation accuracy. It peeks at the test split; it is offered only because published NB201
  baseline tables (ProxyBO Table 2, the zero-cost-nas notebooks) appear to use it, so a fair
  comparison with them needs it. Never the default.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from nasfast.search.base import Result

REPORT_RULES: tuple[str, ...] = ("incumbent", "best-test-seen")


def check_report_rule(rule: str) -> str:
    if rule not in REPORT_RULES:
        raise ValueError(f"unknown report rule {rule!r}; choose one of {list(REPORT_RULES)}")
    return rule


@dataclass(frozen=True)
class Observation:
    """One evaluation and the state of the search right after it (a row of ``history.csv``).

    ``step`` counts evaluations from 1. Accuracies in percent, costs in seconds.
    """

    step: int
    arch: str
    valid_acc: float
    test_acc: float
    cost: float
    cumulative_cost: float
    incumbent_arch: str
    incumbent_valid_acc: float
    incumbent_test_acc: float
    best_test_seen: float

    def to_row(self) -> list[str]:
        # repr() of a float is the shortest string that reads back to the same float, so a resumed
        # run tells its strategy bit-identical numbers and makes the same decisions.
        return [repr(v) if isinstance(v, float) else str(v) for v in asdict(self).values()]

    @classmethod
    def from_row(cls, row: dict[str, str]) -> Observation:
        values: dict[str, Any] = {}
        for f in fields(cls):
            text = row[f.name]
            values[f.name] = int(text) if f.type == "int" else float(text) if f.type == "float" else text
        return cls(**values)


HISTORY_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Observation))


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def same_observation(a: Observation, b: Observation) -> bool:
    """Field-wise equality with NaN equal to NaN (dataclass ``==`` says NaN != NaN)."""
    for f in fields(Observation):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if not (_same(x, y) if isinstance(x, float) else x == y):
            return False
    return True


class Trace:
    """Builds observations one result at a time and answers what a search found.

    Example:
        >>> from nasfast.search import Result, Trace
        >>> t = Trace()
        >>> _ = t.add("a", Result(valid_acc=90.0, test_acc=89.0, cost=10.0))
        >>> _ = t.add("b", Result(valid_acc=89.0, test_acc=91.0, cost=10.0))
        >>> t.report("incumbent")["test_acc"], t.report("best-test-seen")["test_acc"]
        (89.0, 91.0)
    """

    def __init__(self) -> None:
        self.observations: list[Observation] = []
        self.cumulative_cost = 0.0
        self._inc: tuple[str, float, float] | None = None  # arch, valid, test
        self._best_test: tuple[str, float] | None = None  # arch, test

    def __len__(self) -> int:
        return len(self.observations)

    def add(self, arch: Any, result: Result) -> Observation:
        arch_s = str(arch)
        valid, test, cost = float(result.valid_acc), float(result.test_acc), float(result.cost)
        if not math.isnan(cost):
            self.cumulative_cost += cost
        # strict '>' keeps the first arch on ties; NaN or +-inf (a failed evaluation, as BO and the
        # multi-fidelity runner read it) never becomes incumbent
        if math.isfinite(valid) and (self._inc is None or valid > self._inc[1]):
            self._inc = (arch_s, valid, test)
        if math.isfinite(test) and (self._best_test is None or test > self._best_test[1]):
            self._best_test = (arch_s, test)
        inc = self._inc or ("", math.nan, math.nan)
        obs = Observation(
            step=len(self.observations) + 1, arch=arch_s, valid_acc=valid, test_acc=test, cost=cost,
            cumulative_cost=self.cumulative_cost, incumbent_arch=inc[0], incumbent_valid_acc=inc[1],
            incumbent_test_acc=inc[2],
            best_test_seen=self._best_test[1] if self._best_test else math.nan,
        )
        self.observations.append(obs)
        return obs

    @property
    def incumbent(self) -> tuple[str, float, float] | None:
        """(arch, valid_acc, test_acc) of the best-validation arch so far, or None."""
        return self._inc

    def report(self, rule: str = "incumbent") -> dict[str, Any]:
        """The arch and test accuracy that ``rule`` reports (see the module docstring)."""
        check_report_rule(rule)
        if rule == "incumbent":
            arch, test = (self._inc[0], self._inc[2]) if self._inc else (None, math.nan)
        else:
            arch, test = self._best_test if self._best_test else (None, math.nan)
        return {"rule": rule, "arch": arch, "test_acc": test, "test_error": 100.0 - test}

"""The records strategies and evaluators exchange, and what an evaluator is.

They live on the evaluators' floor (below ``nasfast.search``, see DESIGN.md's layering) so that
evaluators never import the search package; ``nasfast.search`` re-exports both.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Request:
    """One evaluation a strategy asks for.

    ``id`` numbers the requests of a strategy from 0 in the order they were asked; ``epochs`` is the
    training length a multi-fidelity strategy wants (``None``: the evaluator's full budget).
    """

    arch: Any
    id: int
    epochs: int | None = None


@dataclass(frozen=True)
class Result:
    """What an evaluator reports for a request.

    Accuracies are in percent. ``valid_acc`` is the only number a strategy may select on;
    ``test_acc`` is carried for reporting (NaN when the evaluator has no test split); ``cost`` is the
    (real or simulated) training time in seconds; ``extra`` anything else (not written to history).
    """

    valid_acc: float
    test_acc: float = math.nan
    cost: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class Evaluator(Protocol):
    """Anything that answers a request. Optional extras the runner uses when present:
    ``config() -> dict`` (stored in a run's config.json, used to rebuild it) and
    ``replay(request, result)`` (told about results restored from disk instead of evaluating)."""

    def __call__(self, request: Request) -> Result: ...


def check_result(result: Any) -> Result:
    """``result`` if it is a ``Result`` whose ``valid_acc``, ``test_acc`` and ``cost`` are real numbers
    (NaN included: a failed evaluation); a TypeError naming what is wrong otherwise (checked before a
    strategy records anything, so a corrected ``tell`` can follow)."""
    if not isinstance(result, Result):
        raise TypeError(f"expected a nasfast Result (Result(valid_acc=..., test_acc=..., cost=...), from "
                        f"nasfast.search or nasfast.evaluators), got {type(result).__name__}: {result!r:.80}; "
                        "an evaluator must return one")
    for name in ("valid_acc", "test_acc", "cost"):
        value = getattr(result, name)
        # bool is an int to Python, but True as an accuracy is a bug upstream
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"Result.{name} must be a real number (NaN for a failed evaluation), got "
                            f"{type(value).__name__}: {value!r:.80}")
    return result


def check_replayed(fresh: Result, recorded: Result, what: str) -> None:
    """A tabular evaluator's ``replay``: the table's answer now (``fresh``) must equal what a run's
    history recorded (NaN equal to NaN); ``what`` names the request in the error."""
    for name in ("valid_acc", "test_acc", "cost"):
        a, b = getattr(fresh, name), getattr(recorded, name)
        if not (a == b or (math.isnan(a) and math.isnan(b))):
            raise ValueError(f"the table gives {name}={a!r} for {what} but the run's history recorded {b!r}: "
                             "the table changed since the run started")

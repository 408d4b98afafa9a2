"""Search strategies behind one ask/tell interface, and the runner that records a search on disk.

    >>> from nasfast.spaces import nb201
    >>> from nasfast.search import RegularizedEvolution, Result
    >>> rea = RegularizedEvolution(nb201, seed=0)
    >>> [req] = rea.ask()
    >>> rea.tell(req, Result(valid_acc=90.0, test_acc=89.5, cost=1000.0))
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from nasfast.search.base import (
    SPACE_ALIASES,
    SPACES,
    Request,
    Result,
    SearchSpace,
    SpaceExhausted,
    Strategy,
    candidates_fingerprint,
    canonical_space,
    get_space,
)
from nasfast.search.proxybo import BayesianOptimization, ProxyBO, ProxyOrder, ProxyTable, WarmupBO
from nasfast.search.random import RandomSearch
from nasfast.search.rea import RegularizedEvolution
from nasfast.search.runner import ResumeError, RunDirectoryInUse, read_history, run_search, search
from nasfast.search.spaces import NB101Arch, table_candidates
from nasfast.search.trace import HISTORY_FIELDS, REPORT_RULES, Observation, Trace

#: Strategies by the name used in configs and on the command line.
STRATEGIES: dict[str, type[Strategy]] = {
    "random": RandomSearch, "rea": RegularizedEvolution, "bo": BayesianOptimization, "proxybo": ProxyBO,
    "warmup-bo": WarmupBO, "proxy": ProxyOrder,
}


def build_strategy(config: dict[str, Any], candidates: Iterable[Any] | None = None) -> Strategy:
    """Rebuild a strategy from its ``config()`` (as stored in a run's config.json).

    ``candidates`` must be given again when the config says the strategy was restricted (the config
    stores only their count and fingerprint, which are checked here).
    """
    cfg = dict(config)
    algo = cfg.pop("algo")
    if algo not in STRATEGIES:
        raise ValueError(f"unknown search algorithm {algo!r}; choose one of {sorted(STRATEGIES)}")
    space = get_space(cfg.pop("space"))
    seed = cfg.pop("seed")
    restriction = cfg.pop("candidates", None)
    if (restriction is None) != (candidates is None):
        raise ValueError("the config and the call disagree on whether the strategy has candidates "
                         f"(config: {restriction}, candidates given: {candidates is not None})")
    strategy = STRATEGIES[algo](space, seed, candidates, **cfg)
    if restriction is not None and strategy.config()["candidates"] != restriction:
        raise ValueError(f"the candidates given ({strategy.config()['candidates']}) are not the ones "
                         f"the config was made with ({restriction})")
    return strategy


__all__ = [
    "HISTORY_FIELDS", "REPORT_RULES", "SPACES", "SPACE_ALIASES", "STRATEGIES", "BayesianOptimization",
    "NB101Arch", "Observation", "ProxyBO", "ProxyOrder", "ProxyTable", "RandomSearch", "RegularizedEvolution",
    "Request", "Result", "ResumeError", "RunDirectoryInUse", "SearchSpace", "SpaceExhausted", "Strategy", "Trace", "WarmupBO",
    "build_strategy", "candidates_fingerprint", "canonical_space", "get_space", "read_history", "run_search",
    "search", "table_candidates",
]

"""The ask/tell interface every search strategy implements, and the spaces strategies run on.

A strategy proposes architectures (``ask``) and learns from their results (``tell``); it never
evaluates anything itself, so the same object runs against a tabular benchmark, the user's own
training loop or a pool of workers (the Optuna study pattern). Everything a strategy decides comes
from its own ``numpy.random.Generator`` and the results it was told, so a strategy rebuilt with the
same seed and told the same results proposes the same architectures: that is what makes a run
resumable by replaying its history.

``Request`` and ``Result`` (what ask/tell exchange) are defined in ``nasfast.evaluators.base``, the
floor below, so evaluators need not import the search package; they are re-exported here.
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

import numpy as np

from nasfast.evaluators.base import Request, Result, check_result
from nasfast.validation import check_positive_int, check_seed

__all__ = ["SPACES", "SPACE_ALIASES", "Request", "Result", "SearchSpace", "SpaceExhausted", "Strategy",
           "canonical_space", "candidates_fingerprint", "check_seed", "get_space", "resolve_space", "space_archs", "space_name"]


@runtime_checkable
class SearchSpace(Protocol):
    """What a strategy needs from a space; a space module (``nasfast.spaces.nb201``) is one."""

    NUM_ARCHS: int

    def sample(self, rng: np.random.Generator) -> Any: ...

    def mutate(self, arch: Any, rng: np.random.Generator) -> Any: ...

    def parse(self, arch_str: str) -> Any: ...

    def all_archs(self) -> list[Any]: ...


def _nb201() -> ModuleType:
    from nasfast.spaces import nb201

    return nb201


def _nb101() -> Any:
    from nasfast.search.spaces import NB101_SEARCH_SPACE

    return NB101_SEARCH_SPACE


def _darts() -> Any:
    from nasfast.search.spaces import DARTS_SEARCH_SPACE

    return DARTS_SEARCH_SPACE


#: Spaces a search can run on, by the name used in configs and on the command line (each name is
#: also the bundled table searched by default: ``nasfast.tabular.load(name)``). NB-101 and DARTS
#: are adapted in ``nasfast.search.spaces``; neither is enumerated, so their searches run on tables.
SPACES: dict[str, Callable[[], Any]] = {"nb201": _nb201, "nb101": _nb101, "nb301": _darts}
#: Other accepted names -> the registered one.
SPACE_ALIASES: dict[str, str] = {"darts": "nb301"}


def canonical_space(name: str) -> str:
    """``'darts'`` -> ``'nb301'``; ``ValueError`` lists the choices."""
    key = SPACE_ALIASES.get(name, name)
    if key not in SPACES:
        raise ValueError(f"unknown search space {name!r}; choose one of {sorted(SPACES)} "
                         f"(aliases: {SPACE_ALIASES})")
    return key


def get_space(name: str) -> SearchSpace:
    """The space registered as ``name`` (or an alias); ``ValueError`` lists the choices."""
    return SPACES[canonical_space(name)]()


def resolve_space(space: SearchSpace | str) -> SearchSpace:
    """``space`` itself, or the space registered under that name ("nb201", "nb101", "darts", ...)."""
    return get_space(space) if isinstance(space, str) else space


def space_name(space: SearchSpace) -> str:
    """The registered name of ``space`` (so configs can rebuild it), else its module name."""
    for name, loader in SPACES.items():
        if loader() is space:
            return name
    return getattr(space, "__name__", type(space).__name__)


_ALL_ARCHS: dict[int, tuple[Any, list[Any]]] = {}


def space_archs(space: SearchSpace) -> list[Any]:
    """``space.all_archs()``, built once per space: NB201 parses 15,625 strings (~0.15 s) per call,
    which would dominate a 100-seed benchmark of random search. Callers must not mutate the list."""
    hit = _ALL_ARCHS.get(id(space))
    if hit is None or hit[0] is not space:
        hit = (space, list(space.all_archs()))
        _ALL_ARCHS[id(space)] = hit
    return hit[1]


class SpaceExhausted(RuntimeError):
    """Every architecture the strategy may propose has already been proposed."""


def candidates_fingerprint(archs: Iterable[Any]) -> str:
    """A short hash of a candidate set, stored in configs so a resume can tell the table changed."""
    h = hashlib.sha256()
    for s in sorted(str(a) for a in archs):
        h.update(s.encode())
        h.update(b"\n")
    return h.hexdigest()[:16]


class Strategy(abc.ABC):
    """Base class of search strategies.

    Args:
        space: the search space (a module such as ``nasfast.spaces.nb201``).
        seed: seed of the strategy's only source of randomness.
        candidates: if given, the only architectures the strategy may propose (e.g. the rows of a
            user's table). Stored sorted by arch string so the order, and hence the run, does not
            depend on how the caller built the collection (set order changes between processes).

    Subclasses implement ``_propose`` (one new, never-asked architecture) and may override
    ``_observe``. The base class numbers requests, refuses repeats and keeps the history.
    """

    #: name used in configs and on the command line
    name: str = ""

    def __init__(self, space: SearchSpace | str, seed: int, candidates: Iterable[Any] | None = None) -> None:
        self.space = resolve_space(space)  # "nb201" or the module
        self.seed = check_seed(seed)
        self.rng = np.random.default_rng(self.seed)
        self.candidates: list[Any] | None = None
        self._candidate_set: frozenset[Any] | None = None
        if candidates is not None:
            unique = {self._as_arch(a) for a in candidates}
            if not unique:
                raise ValueError("candidates is empty: the strategy could propose nothing")
            self.candidates = sorted(unique, key=str)
            self._candidate_set = frozenset(unique)
        self.seen: set[Any] = set()
        self.history: list[tuple[Request, Result]] = []
        self._next_id = 0
        self._issued: dict[int, Request] = {}  # requests asked and not told yet, by id

    # ---- public interface -----------------------------------------------------------------------

    @property
    def space_size(self) -> int:
        """How many distinct architectures this strategy can propose."""
        return len(self.candidates) if self.candidates is not None else int(self.space.NUM_ARCHS)

    def ask(self, n: int = 1) -> list[Request]:
        """Propose ``n`` architectures never proposed before; ``SpaceExhausted`` when fewer than ``n``
        are left (then nothing is proposed: a batch is all or nothing)."""
        n = check_positive_int(n, "n of ask(n)")
        left = self.space_size - len(self.seen)
        if n > left:
            raise SpaceExhausted(f"asked for {n} architectures, but only {left} of the {self.space_size} "
                                 "have not been proposed yet")
        out: list[Request] = []
        try:
            for _ in range(n):
                arch = self._propose()
                if arch in self.seen or not self.allowed(arch):
                    # a strategy bug, not a user error: repeats would silently waste budget
                    raise RuntimeError(f"{type(self).__name__} proposed {arch} twice or outside its candidates")
                self.seen.add(arch)  # at once: the next _propose of the batch must not repeat it
                out.append(Request(arch=arch, id=self._next_id + len(out)))
        except BaseException:
            # a failed batch proposes nothing, so no arch is marked proposed without a request for it
            self.seen.difference_update(r.arch for r in out)
            raise
        self._next_id += len(out)
        self._issued.update((r.id, r) for r in out)
        return out

    def tell(self, request: Request, result: Result) -> None:
        """Report the result of a request returned by ``ask``, once; ``ValueError`` for any other
        request (a told one, one never issued, or an id paired with another arch)."""
        check_result(result)
        if self._issued.get(request.id) != request:
            told = any(r == request for r, _ in self.history)
            why = ("a second time; each request is reported once" if told
                   else "which is not one of the requests ask() returned and not told yet")
            raise ValueError(f"tell() got request {request.id} ({request.arch}) {why}")
        del self._issued[request.id]
        self.history.append((request, result))
        self._observe(request, result)

    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild this strategy (see ``nasfast.search.build_strategy``)."""
        cfg: dict[str, Any] = {"algo": self.name, "space": space_name(self.space), "seed": self.seed}
        cfg.update(self._params())
        if self.candidates is None:
            cfg["candidates"] = None
        else:
            cfg["candidates"] = {"count": len(self.candidates),
                                 "fingerprint": candidates_fingerprint(self.candidates)}
        return cfg

    # ---- helpers for subclasses -----------------------------------------------------------------

    def allowed(self, arch: Any) -> bool:
        return self._candidate_set is None or arch in self._candidate_set

    def random_unseen(self) -> Any:
        """A uniformly random architecture not proposed yet (within the candidates, if any)."""
        # rejection sampling is cheap while most of the space is unseen; past that, enumerate
        for _ in range(64):
            if self.candidates is not None:
                arch = self.candidates[int(self.rng.integers(len(self.candidates)))]
            else:
                arch = self.space.sample(self.rng)
            if arch not in self.seen:
                return arch
        pool = self.candidates if self.candidates is not None else space_archs(self.space)
        unseen = [a for a in pool if a not in self.seen]
        if not unseen:
            raise SpaceExhausted(f"all {self.space_size} architectures have been proposed")
        return unseen[int(self.rng.integers(len(unseen)))]

    def _as_arch(self, arch: Any) -> Any:
        # spaces with an ``as_arch`` (NB201) also accept benchmark indices
        as_arch = getattr(self.space, "as_arch", None)
        if as_arch is not None:
            return as_arch(arch)
        return self.space.parse(arch) if isinstance(arch, str) else arch

    @abc.abstractmethod
    def _propose(self) -> Any:
        """One architecture that is not in ``self.seen`` and is ``allowed``."""

    def _observe(self, request: Request, result: Result) -> None:  # noqa: B027 (optional hook)
        """Learn from a result (called by ``tell`` after the history is updated)."""

    def _params(self) -> dict[str, Any]:
        """Hyper-parameters to store in the config (constructor keyword arguments)."""
        return {}

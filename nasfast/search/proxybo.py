"""ProxyBO (Shen et al., arXiv 2110.10423, AAAI 2023) and its baselines, on NAS-Bench-201.

ProxyBO, as the paper states it (Algorithms 1 and 2):

- while fewer than 5 results are in, propose a random architecture;
- otherwise compute the generalisation ability G of each zero-cost proxy (fraction of the observed
  pairs it orders as their accuracies are ordered) and of the surrogate (the same, on out-of-fold
  predictions of K-fold cross-validation); the influence is I = softmax(G / tau) over
  {surrogate, proxies} with tau = tau0 / (1 + log T), tau0 = 0.05, T the iteration number;
- draw Q candidates by random and local sampling, rank them by the surrogate's expected improvement
  (R_M) and by each proxy (R_Pi), rank 1 = best, and evaluate the lowest combined rank
  CR = I_M R_M + sum_i I_i R_Pi.

Our choices where the paper leaves a detail open (each is a constructor argument):

- T is the 1-based number of the proposal being made (the first evaluation is T = 1), so the first
  ranked proposal, the 6th, has T = 6. log is natural.
- D holds the results with a finite validation accuracy: a failed evaluation (NaN) is never
  proposed again but gives the surrogate and G nothing to learn from.
- Surrogate target: the forest models -validation accuracy, which is minimised (the paper minimises
  the validation error, 100 - accuracy for percentages: EI is the same, as EI ignores a shift; -acc
  also suits tables whose accuracies are fractions). EI has xi = 0 and is 0 where the trees agree
  (``nasfast.search.surrogate``).
- Cross-validation: K = min(cv_folds, |D| // 2) folds (5 once |D| >= 10), so every fold holds at
  least two observations; the fold assignment is drawn from the strategy's generator.
- Ties: in G a pair tied in the scorer or in accuracy counts 1/2 (a constant proxy scores 0.5, a
  coin flip); in the candidate ranks tied candidates share their mean rank; a tie in CR goes to the
  first candidate (local ones come first). NaN proxy values (unknown) are the worst score and tie
  with each other, in G and in the ranks.
- Candidates: Q = 200, half local, half random. Local: the one-edge neighbours (6 edges x 4 other
  ops) of the 5 best observed archs (best accuracy first, earlier result first on ties) that were
  never proposed, a random subset when there are more than Q/2; random: uniform never-proposed
  archs, filling the pool to Q. The local part is OpenBox's neighbourhood search reduced to one
  step (REFERENCES.md A3.2); OpenBox's interleaved random config (rand_prob 0.1) is not in the
  paper's Algorithm 1 and is not done.

Proxy scores come from a ``ProxyTable``: one float per NB201 benchmark index and proxy, *higher =
predicted better* (negate a column whose lower values are better before building the table).

Baselines behind the same ask/tell: ``bo`` (the same forest, EI and candidate pool, no proxies),
``warmup-bo`` (the top-k archs by one proxy as the initial design, then ``bo``) and ``proxy``
(archs in descending order of one proxy).
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nasfast.search.base import Request, Result, SearchSpace, Strategy, resolve_space, space_archs, space_name
from nasfast.search.surrogate import (
    RandomForest,
    average_ranks,
    cross_val_predict,
    expected_improvement,
    pair_concordance,
    softmax,
)
from nasfast.spaces import nb201
from nasfast.validation import check_positive_int

__all__ = ["PACKAGED_TABLES", "PAPER_PROXIES", "BayesianOptimization", "ProxyBO", "ProxyOrder", "ProxyTable", "WarmupBO",
           "combined_rank", "dataset_table", "encode", "influence", "proxy_order", "temperature"]

#: the paper's proxy set (proxybo-notes, Table 1)
PAPER_PROXIES: tuple[str, ...] = ("snip", "synflow", "jacob_cov")
BUNDLED, IN_MEMORY = "bundled", "in-memory"
WEIGHTS_CSV, WEIGHTS_PNG = "proxybo_weights.csv", "proxybo_weights.png"


# ---- proxy scores -----------------------------------------------------------------------------------

class ProxyTable:
    """Zero-cost proxy scores of all 15,625 NB201 archs: per proxy name a float64 array indexed by
    the benchmark index (``arch.index``); higher = predicted better; NaN = unknown.

    Example:
        >>> import numpy as np
        >>> from nasfast.search import ProxyTable
        >>> from nasfast.spaces import nb201
        >>> t = ProxyTable({"toy": np.arange(nb201.NUM_ARCHS, dtype=float)})
        >>> t.scores("toy", [nb201.from_index(7)]).tolist()
        [7.0]
    """

    def __init__(self, columns: Mapping[str, Any], source: str = IN_MEMORY) -> None:
        if not columns:
            raise ValueError("a proxy table needs at least one proxy column")
        self._columns: dict[str, np.ndarray] = {}
        for name, values in columns.items():
            arr = np.array(values, dtype=np.float64)
            if arr.shape != (nb201.NUM_ARCHS,):
                raise ValueError(f"proxy {name!r} has shape {arr.shape}; expected ({nb201.NUM_ARCHS},), "
                                 "one value per NB201 index (NaN = unknown)")
            arr.setflags(write=False)
            self._columns[str(name)] = arr
        self.source = source

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._columns)

    def require(self, names: Iterable[str]) -> None:
        """``ValueError`` naming the first of ``names`` the table lacks."""
        for name in names:
            if name not in self._columns:
                raise ValueError(f"proxy {name!r} is not in the proxy table ({self.source}); "
                                 f"it has {list(self.names)}")

    def column(self, name: str) -> np.ndarray:
        self.require([name])
        return self._columns[name]

    def scores(self, name: str, archs: Iterable[nb201.NB201Arch]) -> np.ndarray:
        """The scores of ``archs`` under proxy ``name`` (NaN where unknown)."""
        idx = np.fromiter((a.index for a in archs), dtype=np.int64)
        return self.column(name)[idx]

    def fingerprint(self, names: Iterable[str]) -> str:
        """A short hash of the named columns, stored in configs so a resume can tell they changed."""
        h = hashlib.sha256()
        for name in names:
            col = self.column(name)
            h.update(name.encode() + b"\0")
            h.update(np.where(np.isnan(col), np.nan, col).tobytes())  # one NaN bit pattern
        return h.hexdigest()[:16]

    @classmethod
    def bundled(cls) -> ProxyTable:
        """What ships with the package for every arch: ``jacob_cov`` (the NASWOT v1 score on
        CIFAR-10, NaN for the 341 cells without an input-output path; nasfast/data/PROVENANCE.md)
        and ``params`` (millions of parameters, cifar10-valid; the other datasets differ by the
        classifier only, so they order archs the same way)."""
        from nasfast.tabular.bundled import NB201_MAIN, NB201_NASWOT, npz_array

        return cls({"jacob_cov": npz_array(NB201_NASWOT, "naswot_v1_score"),
                    "params": npz_array(NB201_MAIN, "c10v_params_mb")}, source=BUNDLED)

    @classmethod
    def packaged(cls, name: str) -> ProxyTable:
        """A proxy table shipped in ``nasfast/data/proxies`` by its name (``PACKAGED_TABLES``), e.g.
        ``nb201_cifar100``: the proxies of every NB201 arch with that dataset's head
        (nasfast/data/PROVENANCE.md; ``dataset_table`` names the one for a dataset)."""
        from nasfast.proxies.table import bundled_table

        if name not in PACKAGED_TABLES:
            raise ValueError(f"unknown packaged proxy table {name!r}; expected one of {list(PACKAGED_TABLES)}")
        return cls.from_columns(bundled_table(name), source=name)

    @classmethod
    def from_columns(cls, columns: Mapping[str, np.ndarray], source: str = IN_MEMORY) -> ProxyTable:
        """From a proxy CSV read by ``nasfast.proxies.table.read_table``: rows keyed by ``index``,
        one column per proxy (``arch`` is ignored); archs without a row are NaN."""
        if "index" not in columns:
            raise ValueError(f"proxy table {source} has no 'index' column; it has {list(columns)}")
        index = np.asarray(columns["index"], dtype=np.int64)
        bad = index[(index < 0) | (index >= nb201.NUM_ARCHS)]
        if len(bad):
            raise ValueError(f"proxy table {source} has NB201 index {int(bad[0])}, outside 0..{nb201.NUM_ARCHS - 1}")
        uniq, counts = np.unique(index, return_counts=True)
        if (counts > 1).any():
            raise ValueError(f"proxy table {source} has index {int(uniq[counts > 1][0])} on more than one row")
        full = {}
        for name, values in columns.items():
            if name in ("index", "arch"):
                continue
            col = np.full(nb201.NUM_ARCHS, np.nan)
            col[index] = np.asarray(values, dtype=np.float64)
            full[name] = col
        if not full:
            raise ValueError(f"proxy table {source} has no proxy column")
        return cls(full, source=source)

    @classmethod
    def from_csv(cls, path: str | os.PathLike[str]) -> ProxyTable:
        """A proxy CSV as ``nasfast proxies`` writes it (``index``, ``arch``, one column per proxy)."""
        from nasfast.proxies.table import read_table

        p = Path(path)
        if not p.is_file():
            raise ValueError(f"proxy table {p}: no such file")
        return cls.from_columns(read_table(p), source=str(p.resolve()))


#: the packaged proxy tables ProxyBO can name (``ProxyTable.packaged``), one per NB201 dataset head
PACKAGED_TABLES: tuple[str, ...] = ("nb201_cifar10", "nb201_cifar100", "nb201_ImageNet16-120")


def dataset_table(dataset: str) -> str:
    """The packaged proxy table whose classifier head matches an NB201 dataset (its name)."""
    name = "nb201_cifar10" if dataset == "cifar10-valid" else f"nb201_{dataset}"  # one network, one head
    if name not in PACKAGED_TABLES:
        raise ValueError(f"no packaged proxy table for dataset {dataset!r}; "
                         f"the tables are {list(PACKAGED_TABLES)}")
    return name


#: a proxy column unknown (NaN) for more archs than this is incomplete: those archs rank last
_NAN_WARN_FRACTION = 0.05


def _resolve_proxies(algo: str, table: ProxyTable | str | os.PathLike[str] | None,
                     proxies: Sequence[str] | str | None, fingerprint: str | None,
                     default: Sequence[str] | None, exactly_one: bool) -> tuple[ProxyTable, str, list[str], str]:
    """(table, its label for configs, proxy names, fingerprint of those columns)."""
    if table is None or (isinstance(table, str) and table == BUNDLED):
        tab, label = ProxyTable.bundled(), BUNDLED
    elif isinstance(table, ProxyTable):
        tab, label = table, table.source
    elif isinstance(table, str) and table in PACKAGED_TABLES:
        tab, label = ProxyTable.packaged(table), table
    elif isinstance(table, str) and table == IN_MEMORY:
        raise ValueError(f"{algo}: the run used an in-memory proxy table, which a config cannot rebuild; "
                         "pass the ProxyTable itself as proxy_table")
    else:
        tab = ProxyTable.from_csv(table)
        label = tab.source
    if isinstance(proxies, str):
        proxies = [p.strip() for p in proxies.split(",") if p.strip()]
    if proxies is None:
        names = [p for p in (default or ()) if p in tab.names]
        if not names:
            raise ValueError(f"{algo}: the proxy table ({label}) has none of the default proxies {list(default or ())}; "
                             f"name some of {list(tab.names)} (proxies= / --proxies)")
    else:
        names = [str(p) for p in proxies]
    if not names or len(set(names)) != len(names) or "surrogate" in names:
        raise ValueError(f"{algo}: proxies must be distinct names other than 'surrogate', got {names}")
    if exactly_one and len(names) != 1:
        raise ValueError(f"{algo} uses exactly one proxy, got {names}")
    tab.require(names)
    for name in names:
        unknown = int(np.isnan(tab.column(name)).sum())
        if unknown > _NAN_WARN_FRACTION * nb201.NUM_ARCHS:
            warnings.warn(f"{algo}: proxy {name!r} is unknown (NaN) for {unknown:,} of {nb201.NUM_ARCHS:,} archs in "
                          f"the proxy table ({label}); those archs rank last by it", stacklevel=3)
    fp = tab.fingerprint(names)
    if fingerprint is not None and fingerprint != fp:
        raise ValueError(f"{algo}: the proxy table {label} has changed since the run started (columns {names} "
                         f"hash to {fp}, the config says {fingerprint})")
    return tab, label, names, fp


def proxy_order(table: ProxyTable, name: str, archs: Sequence[nb201.NB201Arch]) -> list[nb201.NB201Arch]:
    """``archs`` by descending proxy score, NaN last, ties by ascending benchmark index."""
    scores = table.scores(name, archs)
    key = np.where(np.isnan(scores), np.inf, -scores)
    idx = np.fromiter((a.index for a in archs), dtype=np.int64)
    return [archs[int(i)] for i in np.lexsort((idx, key))]


# ---- ProxyBO's formulas -------------------------------------------------------------------------------

def encode(archs: Sequence[nb201.NB201Arch]) -> np.ndarray:
    """One-hot op per edge, (n, 30) float64: edge-major, NB201 op order within an edge."""
    ops = np.array([a.op_indices for a in archs], dtype=np.int64).reshape(-1, nb201.NUM_EDGES)
    return np.eye(nb201.NUM_OPS)[ops].reshape(len(ops), nb201.NUM_EDGES * nb201.NUM_OPS)


def temperature(T: int, tau0: float = 0.05) -> float:
    """tau = tau0 / (1 + log T) (proxybo-notes, Eq. 8); T counts iterations from 1."""
    if T < 1:
        raise ValueError(f"iteration number T counts from 1, got {T}")
    return tau0 / (1.0 + math.log(T))


def influence(G: Sequence[float], T: int, tau0: float = 0.05) -> np.ndarray:
    """I = softmax(G / tau) over the scorers (proxybo-notes, Eq. 8)."""
    return softmax(np.asarray(G, dtype=np.float64) / temperature(T, tau0))


def combined_rank(weights: Sequence[float], ranks: Sequence[np.ndarray]) -> np.ndarray:
    """CR(x) = sum_s I_s R_s(x) over the scorers (surrogate first, then proxies; Eq. 7)."""
    if len(weights) != len(ranks):
        raise ValueError(f"{len(weights)} influence values for {len(ranks)} rankings")
    return np.sum([w * np.asarray(r, dtype=np.float64) for w, r in zip(weights, ranks)], axis=0)


# ---- strategies -----------------------------------------------------------------------------------------

def _check_nb201(space: SearchSpace | str, algo: str) -> SearchSpace:
    space = resolve_space(space)
    if space is not nb201:
        raise ValueError(f"{algo} runs on the nb201 space only (NB201 one-hot encoding, proxy tables by NB201 "
                         f"index), got {space_name(space)!r}")
    return space


def _positive_int(algo: str, label: str, value: Any, minimum: int = 1) -> int:
    return check_positive_int(value, f"{algo} {label}", minimum)


class BayesianOptimization(Strategy):
    """BO with OpenBox's probabilistic random forest and EI: random archs while fewer than
    ``initial_random`` results are in, then the candidate with the highest EI (ties: the lower
    predicted target, then the first candidate). Candidates as in ProxyBO (module docstring).

    Example:
        >>> from nasfast.search import BayesianOptimization, Result
        >>> from nasfast.spaces import nb201
        >>> bo = BayesianOptimization(nb201, seed=0, num_candidates=20)
        >>> for _ in range(7):
        ...     [req] = bo.ask()
        ...     bo.tell(req, Result(valid_acc=float(req.arch.op_indices.count(3))))
        >>> len(bo.history)
        7
    """

    name = "bo"

    def __init__(self, space: SearchSpace, seed: int, candidates: Iterable[Any] | None = None,
                 num_candidates: int = 200, local_fraction: float = 0.5, local_top: int = 5,
                 initial_random: int = 5) -> None:
        space = _check_nb201(space, self.name)
        self.num_candidates = _positive_int(self.name, "num_candidates", num_candidates)
        self.local_top = _positive_int(self.name, "local_top", local_top)
        self.initial_random = _positive_int(self.name, "initial_random", initial_random, minimum=2)
        if not 0.0 <= float(local_fraction) <= 1.0:
            raise ValueError(f"{self.name} local_fraction must be in [0, 1], got {local_fraction!r}")
        self.local_fraction = float(local_fraction)
        super().__init__(space, seed, candidates)
        #: D: the archs with a finite validation accuracy and those accuracies, in the order told
        self.observed: list[nb201.NB201Arch] = []
        self.observed_acc: list[float] = []

    def _observe(self, request: Request, result: Result) -> None:
        acc = float(result.valid_acc)
        if math.isfinite(acc):
            self.observed.append(request.arch)
            self.observed_acc.append(acc)

    def _training_data(self) -> tuple[np.ndarray, np.ndarray]:
        """Encoded D and its minimisation target, -accuracy."""
        return encode(self.observed), -np.asarray(self.observed_acc, dtype=np.float64)

    def _step_rng(self) -> np.random.Generator:
        # one draw from the strategy's generator per ranked step seeds all of that step's forests
        return np.random.default_rng(int(self.rng.integers(2**63)))

    def candidate_pool(self) -> list[nb201.NB201Arch]:
        """Q never-proposed archs: local neighbours of the best observed first, then random ones."""
        q = min(self.num_candidates, self.space_size - len(self.seen))
        n_local = min(q, int(round(q * self.local_fraction)))
        best = sorted(range(len(self.observed)), key=lambda i: -self.observed_acc[i])[: self.local_top]
        local: list[nb201.NB201Arch] = []
        taken: set[nb201.NB201Arch] = set()
        for i in best:
            ops = self.observed[i].op_indices
            for edge in range(nb201.NUM_EDGES):
                for op in range(nb201.NUM_OPS):
                    if op == ops[edge]:
                        continue
                    child = nb201.from_ops(ops[:edge] + (op,) + ops[edge + 1:])
                    if child not in self.seen and child not in taken and self.allowed(child):
                        local.append(child)
                        taken.add(child)
        if len(local) > n_local:
            keep = np.sort(self.rng.choice(len(local), size=n_local, replace=False))
            local = [local[int(i)] for i in keep]
            taken = set(local)
        return local + self._random_fill(q - len(local), taken)

    def _random_fill(self, n: int, taken: set[nb201.NB201Arch]) -> list[nb201.NB201Arch]:
        out: list[nb201.NB201Arch] = []
        for _ in range(64 * n):  # rejection sampling while most of the space is free
            if len(out) >= n:
                return out
            if self.candidates is not None:
                arch = self.candidates[int(self.rng.integers(len(self.candidates)))]
            else:
                arch = self.space.sample(self.rng)
            if arch not in self.seen and arch not in taken:
                out.append(arch)
                taken.add(arch)
        source = self.candidates if self.candidates is not None else space_archs(self.space)
        rest = [a for a in source if a not in self.seen and a not in taken]
        pick = np.sort(self.rng.choice(len(rest), size=min(n - len(out), len(rest)), replace=False))
        return out + [rest[int(i)] for i in pick]

    def _propose(self) -> Any:
        if len(self.observed) < self.initial_random:
            return self.random_unseen()
        pool = self.candidate_pool()
        X, f = self._training_data()
        model = RandomForest(seed=int(self._step_rng().integers(2**31))).fit(X, f)
        mean, var = model.predict(encode(pool))
        ei = expected_improvement(mean, var, best=float(f.min()))
        return pool[int(np.lexsort((mean, -ei))[0])]

    def _params(self) -> dict[str, Any]:
        return {"num_candidates": self.num_candidates, "local_fraction": self.local_fraction,
                "local_top": self.local_top, "initial_random": self.initial_random}


class ProxyBO(BayesianOptimization):
    """ProxyBO (module docstring): BO whose pick is the lowest combined rank of EI and proxies.

    Args:
        space, seed, candidates: see ``Strategy`` (space must be ``nasfast.spaces.nb201``).
        proxies: proxy names (a list or "a,b"); default: those of the paper's snip, synflow,
            jacob_cov that the table holds (only jacob_cov in the bundled table).
        proxy_table: a ``ProxyTable``, a packaged table's name (``PACKAGED_TABLES``, e.g.
            ``dataset_table("cifar100")``: the paper's three proxies for every arch), a proxy CSV
            path, or None / "bundled" (jacob_cov and params only).
        proxy_fingerprint: set by configs; a mismatch means the table changed (``ValueError``).
        num_candidates, local_fraction, local_top, initial_random: candidate pool and initial design
            (initial_random >= 4: the surrogate's cross-validation needs 2 folds of 2).
        tau0: initial temperature (0.05, the paper's best, proxybo-notes Fig. 2a).
        cv_folds: K of the surrogate's cross-validation (fewer while |D| < 2K).

    ``diagnostics()`` lists, per proposal, T, |D|, tau, the folds, and G and I of every scorer.
    """

    name = "proxybo"

    def __init__(self, space: SearchSpace, seed: int, candidates: Iterable[Any] | None = None,
                 proxies: Sequence[str] | str | None = None,
                 proxy_table: ProxyTable | str | os.PathLike[str] | None = None,
                 proxy_fingerprint: str | None = None, num_candidates: int = 200, local_fraction: float = 0.5,
                 local_top: int = 5, initial_random: int = 5, tau0: float = 0.05, cv_folds: int = 5) -> None:
        space = _check_nb201(space, self.name)
        self.table, self.table_label, self.proxies, self.proxy_fingerprint = _resolve_proxies(
            self.name, proxy_table, proxies, proxy_fingerprint, PAPER_PROXIES, exactly_one=False)
        if not float(tau0) > 0:
            raise ValueError(f"proxybo tau0 must be > 0, got {tau0!r}")
        self.tau0 = float(tau0)
        self.cv_folds = _positive_int(self.name, "cv_folds", cv_folds, minimum=2)
        if _positive_int(self.name, "initial_random", initial_random) < 4:
            raise ValueError(f"{self.name} initial_random must be >= 4, got {initial_random!r}: the first ranked step "
                             "cross-validates the surrogate on the initial design, which needs 2 folds of 2")
        super().__init__(space, seed, candidates, num_candidates, local_fraction, local_top, initial_random)
        self._diagnostics: list[dict[str, Any]] = []

    @property
    def scorers(self) -> list[str]:
        return ["surrogate", *self.proxies]

    def diagnostics(self) -> list[dict[str, Any]]:
        """One dict per proposal: step (T), observations (|D|), phase ("random" / "ranked"), tau,
        cv_folds, ``G_<scorer>`` and ``I_<scorer>`` (NaN in the random phase), arch."""
        return [dict(row) for row in self._diagnostics]

    def _propose(self) -> Any:
        T, n = len(self.seen) + 1, len(self.observed)
        row: dict[str, Any] = {"step": T, "observations": n, "phase": "random", "tau": math.nan, "cv_folds": 0}
        row.update({f"{k}_{s}": math.nan for s in self.scorers for k in ("G", "I")})
        if n < self.initial_random:
            arch = self.random_unseen()
            self._diagnostics.append({**row, "arch": str(arch)})
            return arch
        pool = self.candidate_pool()
        rng = self._step_rng()
        X, f = self._training_data()
        acc = -f
        folds = min(self.cv_folds, n // 2)
        oof = cross_val_predict(X, f, folds, rng)
        G = [pair_concordance(-oof, acc)]  # the forest predicts -acc: negate to score "higher = better"
        G += [pair_concordance(self.table.scores(p, self.observed), acc) for p in self.proxies]
        weights = influence(G, T, self.tau0)
        model = RandomForest(seed=int(rng.integers(2**31))).fit(X, f)
        mean, var = model.predict(encode(pool))
        ranks = [average_ranks(expected_improvement(mean, var, best=float(f.min())))]
        ranks += [average_ranks(self.table.scores(p, pool)) for p in self.proxies]
        arch = pool[int(np.argmin(combined_rank(weights, ranks)))]
        row.update({"phase": "ranked", "tau": temperature(T, self.tau0), "cv_folds": folds, "arch": str(arch)})
        for s, g, w in zip(self.scorers, G, weights):
            row[f"G_{s}"], row[f"I_{s}"] = float(g), float(w)
        self._diagnostics.append(row)
        return arch

    def write_diagnostics(self, out_dir: str | os.PathLike[str]) -> list[Path]:
        """``proxybo_weights.csv`` (``diagnostics()``) and ``proxybo_weights.png`` (I against
        evaluations) in ``out_dir``; the runner calls this when a run ends."""
        out = Path(out_dir)
        rows = self._diagnostics
        fields = ["step", "observations", "phase", "tau", "cv_folds",
                  *[f"{k}_{s}" for s in self.scorers for k in ("G", "I")], "arch"]
        with open(out / WEIGHTS_CSV, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
            writer.writeheader()
            for r in rows:
                writer.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else
                                     repr(v) if isinstance(v, float) else v) for k, v in r.items()})
        written = [out / WEIGHTS_CSV]
        ranked = [r for r in rows if r["phase"] == "ranked"]
        if ranked:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure

            fig = Figure(figsize=(6.4, 4.0))
            FigureCanvasAgg(fig)
            ax = fig.add_subplot()
            for s in self.scorers:
                ax.plot([r["step"] for r in ranked], [r[f"I_{s}"] for r in ranked], label=s)
            ax.set_xlabel("evaluations (T)")
            ax.set_ylabel("influence I")
            ax.set_ylim(-0.02, 1.02)
            ax.set_title(f"ProxyBO influence, tau0 {self.tau0} (seed {self.seed})", fontsize=9)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
            fig.tight_layout()
            fig.savefig(out / WEIGHTS_PNG, dpi=120)
            written.append(out / WEIGHTS_PNG)
        return written

    def _params(self) -> dict[str, Any]:
        return {"proxies": list(self.proxies), "proxy_table": self.table_label,
                "proxy_fingerprint": self.proxy_fingerprint, **super()._params(), "tau0": self.tau0,
                "cv_folds": self.cv_folds}


class WarmupBO(BayesianOptimization):
    """Zero-cost warm-up: the ``warmup`` best archs by one proxy (default jacob_cov) are the initial
    design, then ``bo`` (random while |D| < initial_random). In the spirit of the paper's "Warm-up"
    baseline, not that baseline: the paper's Warm-up BRP uses a GCN predictor and all three proxies
    (papers/proxybo-notes.md), and no paper number is set beside this one."""

    name = "warmup-bo"

    def __init__(self, space: SearchSpace, seed: int, candidates: Iterable[Any] | None = None,
                 proxies: Sequence[str] | str | None = None,
                 proxy_table: ProxyTable | str | os.PathLike[str] | None = None,
                 proxy_fingerprint: str | None = None, warmup: int = 5, num_candidates: int = 200,
                 local_fraction: float = 0.5, local_top: int = 5, initial_random: int = 5) -> None:
        space = _check_nb201(space, self.name)
        self.table, self.table_label, self.proxies, self.proxy_fingerprint = _resolve_proxies(
            self.name, proxy_table, proxies, proxy_fingerprint, ("jacob_cov",), exactly_one=True)
        self.warmup = _positive_int(self.name, "warmup", warmup)
        super().__init__(space, seed, candidates, num_candidates, local_fraction, local_top, initial_random)
        pool = self.candidates if self.candidates is not None else space_archs(space)
        self._warm = iter(proxy_order(self.table, self.proxies[0], pool))
        self._warm_asked = 0

    def _propose(self) -> Any:
        if self._warm_asked < self.warmup:
            self._warm_asked += 1
            for arch in self._warm:
                if arch not in self.seen:
                    return arch
        return super()._propose()

    def _params(self) -> dict[str, Any]:
        return {"proxies": list(self.proxies), "proxy_table": self.table_label,
                "proxy_fingerprint": self.proxy_fingerprint, "warmup": self.warmup, **super()._params()}


class ProxyOrder(Strategy):
    """One proxy alone: archs in descending proxy order (NaN last, ties by benchmark index); the seed
    is stored but nothing is random."""

    name = "proxy"

    def __init__(self, space: SearchSpace, seed: int, candidates: Iterable[Any] | None = None,
                 proxies: Sequence[str] | str | None = None,
                 proxy_table: ProxyTable | str | os.PathLike[str] | None = None,
                 proxy_fingerprint: str | None = None) -> None:
        space = _check_nb201(space, self.name)
        self.table, self.table_label, self.proxies, self.proxy_fingerprint = _resolve_proxies(
            self.name, proxy_table, proxies, proxy_fingerprint, ("jacob_cov",), exactly_one=True)
        super().__init__(space, seed, candidates)
        pool = self.candidates if self.candidates is not None else space_archs(space)
        self._order = iter(proxy_order(self.table, self.proxies[0], pool))

    def _propose(self) -> Any:
        for arch in self._order:
            if arch not in self.seen:
                return arch
        return self.random_unseen()  # raises SpaceExhausted: the order holds every allowed arch

    def _params(self) -> dict[str, Any]:
        return {"proxies": list(self.proxies), "proxy_table": self.table_label,
                "proxy_fingerprint": self.proxy_fingerprint}

"""Answer search requests by table lookup (a simulated search on a NAS benchmark).

Which columns a dataset uses follows the NB201 convention of shared/notes/nb201-baselines.md
§0 and §2 (convention A, "select on validation, report the incumbent's test error"):

- ``cifar10``: select on ``c10v_valid_acc`` (cifar10-valid x-valid: trained on 25k, evaluated on
  the other 25k training images), report ``c10v_test_acc`` (the same runs on the original 10k test
  set, "ori-test"), cost ``c10v_train_time_total``;
- ``cifar100``: ``c100_valid_acc`` (x-valid), ``c100_test_acc`` (x-test), ``c100_train_time_total``;
- ``ImageNet16-120``: ``in16_valid_acc``, ``in16_test_acc``, ``in16_train_time_total``.

All are 200-epoch seed means; costs are the seconds of the 200-epoch training run.

CIFAR-10's "test" is the cifar10-valid ori-test, not the 50k-trained ``c10_test_acc``: the RS/REA
baselines we reproduce sit near 9 % error, which only the 25k-trained runs give (notes §2).

The other bundled tables have CIFAR-10 only and no test column (``BUNDLED_COLUMNS``):

- ``nb101`` (30,001-arch subset): select on ``cifar10/acc/valid/108ep`` (one value per arch: like
  the best of NB101's 3 repeats, PROVENANCE.md), cost ``cifar10/train_time/108ep``;
- ``nb301`` (725 genotypes): select on ``cifar10/surrogate_acc``, NAS-Bench-301's *surrogate
  prediction* of validation accuracy, not a trained value (said in ``notes``); no cost column.

Without a test column a run reports validation accuracy only (``NO_TEST_COLUMN``), never a
stand-in test number.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import numpy as np

from nasfast.evaluators.base import Request, Result, check_replayed

#: dataset -> (valid, test, cost) raw column names of the bundled NB201 table
DATASET_COLUMNS: dict[str, tuple[str, str, str]] = {
    "cifar10": ("c10v_valid_acc", "c10v_test_acc", "c10v_train_time_total"),
    "cifar100": ("c100_valid_acc", "c100_test_acc", "c100_train_time_total"),
    "ImageNet16-120": ("in16_valid_acc", "in16_test_acc", "in16_train_time_total"),
}
DATASETS: tuple[str, ...] = tuple(DATASET_COLUMNS)
#: bundled table other than nb201 -> dataset -> (valid, test, cost) canonical names; None: no such column
BUNDLED_COLUMNS: dict[str, dict[str, tuple[str, str | None, str | None]]] = {
    "nb101": {"cifar10": ("cifar10/acc/valid/108ep", None, "cifar10/train_time/108ep")},
    "nb301": {"cifar10": ("cifar10/surrogate_acc", None, None)},
}
#: what results say instead of a test accuracy when the table has none
NO_TEST_COLUMN = "no test column in this table"
#: where each dataset's numbers live in a table that names columns by parts (``Benchmark.resolve``)
_RESOLVE_DATASET = {"cifar10": "cifar10-valid", "cifar100": "cifar100", "ImageNet16-120": "ImageNet16-120"}
_DATASET_ALIASES = {"cifar10-valid": "cifar10", "imagenet16": "ImageNet16-120", "in16": "ImageNet16-120",
                    "c10": "cifar10", "c10v": "cifar10", "c100": "cifar100"}


def canonical_dataset(name: str) -> str:
    """``'imagenet16-120'`` -> ``'ImageNet16-120'``; ``ValueError`` lists the choices."""
    if not isinstance(name, str):
        raise ValueError(f"dataset must be a name, one of {list(DATASETS)}; got {name!r}")
    key = name.strip().lower()
    for ds in DATASETS:
        if key == ds.lower():
            return ds
    if key in _DATASET_ALIASES:
        return _DATASET_ALIASES[key]
    raise ValueError(f"unknown dataset {name!r}; choose one of {list(DATASETS)}")


class TabularEvaluator:
    """Look up the validation accuracy, test accuracy and training cost of each requested arch.

    Args:
        benchmark: a ``nasfast.tabular.Benchmark`` (``tabular.load("nb201")`` or a user's table), or
            the name of a bundled one ("nb201").
        dataset: ``cifar10``, ``cifar100`` or ``ImageNet16-120``.
        valid_column, test_column, cost_column: override the dataset's columns (any name the
            benchmark accepts). For a table without the default names, the columns are found with
            ``benchmark.resolve``; a table without a test or a cost column reports NaN / 0.
        table_path: the CSV a user table was read from, recorded in ``config()`` for resumes, with
            ``table_sha256``, a hash of the numbers each of its archs is answered with, so that a
            resume notices an edited table (rows not evaluated yet included).

    ``total_cost`` sums the simulated training time of every evaluation so far.

    Example:
        >>> from nasfast import tabular
        >>> from nasfast.evaluators import Request, TabularEvaluator
        >>> ev = TabularEvaluator(tabular.load("nb201"), "cifar100")
        >>> r = ev(Request(arch=9930, id=0))
        >>> round(r.test_acc, 2)
        73.51
    """

    def __init__(
        self,
        benchmark: Any,
        dataset: str,
        valid_column: str | None = None,
        test_column: str | None = None,
        cost_column: str | None = None,
        table_path: str | Path | None = None,
    ) -> None:
        from nasfast import tabular

        if isinstance(benchmark, str):
            benchmark = tabular.load(benchmark)
        elif not isinstance(benchmark, tabular.Benchmark):
            raise TypeError(f"benchmark must be a nasfast.tabular.Benchmark (tabular.load(...) or "
                            f"tabular.from_csv(...)) or a bundled name, got {type(benchmark).__name__}")
        self.benchmark = benchmark
        self.dataset = canonical_dataset(dataset)
        self.table_path = str(table_path) if table_path is not None else None
        bundled = _bundled_columns(benchmark, self.table_path)
        if bundled is None:
            default_valid, default_test, default_cost = DATASET_COLUMNS[self.dataset]
            ds = _RESOLVE_DATASET[self.dataset]
            self.valid_column = self._pick(valid_column, default_valid, {"dataset": ds, "split": "valid"},
                                           required=True)
            self.test_column = self._pick(test_column, default_test, {"dataset": ds, "split": "test"})
            self.cost_column = self._pick(cost_column, default_cost, {"dataset": ds, "metric": "train_time"})
        else:
            if self.dataset not in bundled:
                raise ValueError(f"the bundled {benchmark.name} table has no {self.dataset} data; "
                                 f"its datasets: {sorted(bundled)}")
            defaults = bundled[self.dataset]
            self.valid_column, self.test_column, self.cost_column = (
                self._pick(given, default, {}) for given, default in zip((valid_column, test_column, cost_column),
                                                                         defaults))
        #: caveats about the numbers (stored in config.json and result.json when there are any)
        self.notes: list[str] = []
        valid_info = benchmark.info(self.valid_column)
        if "surrogate" in valid_info.metric or "surrogate" in valid_info.description.lower():
            self.notes.append(f"{self.valid_column} is a surrogate prediction, not a trained accuracy")
        if self.test_column is None:
            self.notes.append(f"{NO_TEST_COLUMN}: only validation accuracy is reported")
        nan = np.full(len(benchmark), math.nan)
        self._valid = benchmark.column(self.valid_column)
        self._test = benchmark.column(self.test_column) if self.test_column else nan
        self._cost = benchmark.column(self.cost_column) if self.cost_column else np.zeros(len(benchmark))
        self.total_cost = 0.0
        self.evaluations = 0
        self._table_sha256: str | None = None

    def _pick(self, given: str | None, default: str | None, parts: dict[str, str],
              required: bool = False) -> str | None:
        if given is not None:
            self.benchmark.canonical(given)  # KeyError with suggestions if the table lacks it
            return given
        if not parts:  # a bundled table whose columns are known: no searching
            return default
        try:
            self.benchmark.canonical(default)
            return default
        except KeyError:
            pass
        try:
            return self.benchmark.resolve(**parts)
        except (KeyError, ValueError) as err:
            if required:
                raise ValueError(f"table {self.benchmark.name!r} has no {parts.get('split')} column for "
                                 f"{self.dataset} ({err}); name it with valid_column= "
                                 "(--valid-column on the command line)") from err
            return None

    def _row(self, request: Request) -> int:
        if request.epochs is not None and request.epochs != getattr(self.benchmark, "default_epochs", None):
            raise ValueError(f"TabularEvaluator answers full-budget runs only; request {request.id} asks for "
                             f"{request.epochs} epochs")
        rows = self.benchmark.rows(request.arch)
        if rows.shape != (1,):  # a list would be read as a batch: say so rather than answer its first arch
            raise TypeError(f"request {request.id} holds {rows.size} archs ({request.arch!r:.60}); a request is one arch")
        return int(rows[0])

    def __call__(self, request: Request) -> Result:
        row = self._row(request)
        result = Result(valid_acc=float(self._valid[row]), test_acc=float(self._test[row]),
                        cost=float(self._cost[row]), extra={"row": row})
        self.total_cost += result.cost
        self.evaluations += 1
        return result

    evaluate = __call__

    def replay(self, request: Request, result: Result) -> None:
        """Account for a result restored from a run's history, checking the table still agrees."""
        check_replayed(self(request), result, str(request.arch))

    def config(self) -> dict[str, Any]:
        """Everything ``build_evaluator`` needs, and which columns answered (named in config.json)."""
        canonical = self.benchmark.canonical
        cfg = {
            "kind": "tabular",
            "benchmark": self.benchmark.name,
            "table": self.table_path,
            "space": self.benchmark.space,
            "dataset": self.dataset,
            "columns": {"valid": self.valid_column, "test": self.test_column, "cost": self.cost_column},
            "canonical_columns": {"valid": canonical(self.valid_column),
                                  "test": canonical(self.test_column) if self.test_column else None,
                                  "cost": canonical(self.cost_column) if self.cost_column else None},
        }
        if self.table_path is not None:  # a bundled table changes only with the package: no hash, as before
            cfg["table_sha256"] = self.table_sha256()
        if self.notes:
            cfg["notes"] = list(self.notes)
        return cfg

    def table_sha256(self) -> str:
        """A short hash of (arch, valid, test, cost) over every row of the table, in arch order (a
        reordered CSV is the same table); computed once."""
        if self._table_sha256 is None:
            names = [str(a) for a in self.benchmark.archs()]
            order = sorted(range(len(names)), key=names.__getitem__)
            h = hashlib.sha256()
            h.update("\n".join(names[i] for i in order).encode())
            h.update(np.stack([self._valid, self._test, self._cost]).astype(np.float64)[:, order].tobytes())
            self._table_sha256 = h.hexdigest()[:16]
        return self._table_sha256


def _bundled_columns(benchmark: Any, table_path: str | None) -> dict[str, tuple[str, str | None, str | None]] | None:
    """The known columns of a bundled table other than nb201 (None for nb201 and users' tables)."""
    if table_path is not None or benchmark.name not in BUNDLED_COLUMNS:
        return None
    from nasfast import tabular

    return BUNDLED_COLUMNS[benchmark.name] if tabular.load(benchmark.name) is benchmark else None


def build_evaluator(config: dict[str, Any]) -> TabularEvaluator:
    """Rebuild an evaluator from its ``config()`` (as stored in a run's config.json)."""
    if config.get("kind") != "tabular":
        raise ValueError(f"cannot rebuild evaluator of kind {config.get('kind')!r} from a config; "
                         "pass the evaluator object to run_search(resume=True) instead")
    from nasfast import tabular

    if config.get("table"):
        if not Path(config["table"]).is_file():
            raise FileNotFoundError(f"the run's table {config['table']} (recorded in its config.json) no longer "
                                    "exists; put it back, or start a new run")
        benchmark = tabular.from_csv(config["table"], space=config["space"])
    else:
        benchmark = tabular.load(config["benchmark"])
    cols = config.get("columns") or {}
    return TabularEvaluator(benchmark, config["dataset"], valid_column=cols.get("valid"),
                            test_column=cols.get("test"), cost_column=cols.get("cost"),
                            table_path=config.get("table"))

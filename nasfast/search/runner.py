"""Drive a strategy against an evaluator, in memory (``search``) or into a run directory
(``run_search``) that can be resumed after a crash.

A run directory holds:

- ``config.json``: the strategy's and the evaluator's ``config()`` (enough to rebuild both, see
  ``nasfast.search.build_strategy`` / ``nasfast.evaluators.build_evaluator``), the budget and the
  reporting rule;
- ``history.csv``: one row per evaluation (``HISTORY_FIELDS``), appended, flushed and fsync'd as
  each result arrives, so a crash loses at most the evaluation in flight;
- ``.lock``: locked (``fcntl.flock``) while a search runs in the directory, so a second search on it
  (``make search`` twice, a resume while the first run is still going) is refused instead of
  appending to the same history. It stays behind when the run ends (removing it could race with
  the next search taking it), holding the pid of the last search, and is never a run's content;
- ``result.json``: the best arch by validation, its accuracies, what the reporting rule reports,
  the columns used and the wall time (written at the end). When the evaluator's config names no
  test column (``columns.test`` is null: the NB-101 and NB-301 tables), the test fields are null
  and ``"test"`` says ``"no test column in this table"``; the evaluator's ``notes`` are copied;
- ``trajectory.png``: best-so-far validation accuracy and the incumbent's test accuracy per step;
- whatever the strategy's optional ``write_diagnostics(out_dir)`` writes at the end (ProxyBO:
  ``proxybo_weights.csv`` / ``.png``, the influence of each scorer per step). A resume rebuilds
  these from the replay, which recomputes every step the strategy took.

Resuming replays ``history.csv`` through the strategy's ask/tell: a strategy is a deterministic
function of its seed and of what it was told, so the replay rebuilds its exact state without
evaluating anything, and the continued run equals an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import json
import math
import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nasfast.evaluators.base import Evaluator, Result
from nasfast.evaluators.tabular import NO_TEST_COLUMN
from nasfast.search.base import Strategy
from nasfast.search.trace import HISTORY_FIELDS, Observation, Trace, check_report_rule, same_observation
from nasfast.validation import check_positive_int

NO_INCUMBENT = ("no evaluation returned a finite validation accuracy, so there is no best architecture "
                "(is the validation column empty or NaN for these archs?)")
CONFIG_FILE, HISTORY_FILE, RESULT_FILE, PLOT_FILE = "config.json", "history.csv", "result.json", "trajectory.png"
LOCK_FILE = ".lock"


class ResumeError(RuntimeError):
    """A run directory cannot be continued with the given strategy/evaluator."""


class RunDirectoryInUse(RuntimeError):
    """Another search holds the lock of the run directory."""


def _check_budget(strategy: Strategy, budget: int) -> int:
    budget = check_positive_int(budget, "budget")
    if budget > strategy.space_size:
        where = ("candidate archs (rows of the table searched)" if strategy.candidates is not None
                 else "archs in the search space")
        raise ValueError(f"budget {budget} exceeds the {strategy.space_size} {where}")
    return budget


def step(strategy: Strategy, evaluator: Evaluator, trace: Trace) -> Observation:
    """Ask for one arch, evaluate it, tell the result and record it."""
    [request] = strategy.ask(1)
    result = evaluator(request)
    strategy.tell(request, result)
    return trace.add(request.arch, result)


def search(strategy: Strategy, evaluator: Evaluator, budget: int) -> Trace:
    """Run ``budget`` distinct evaluations in memory (nothing written); for benchmarks and tests.

    Example:
        >>> from nasfast.spaces import nb201
        >>> from nasfast.search import RandomSearch, Result, search
        >>> toy = lambda req: Result(valid_acc=float(sum(req.arch.op_indices)))
        >>> search(RandomSearch(nb201, seed=0), toy, budget=5).report()["rule"]
        'incumbent'
    """
    budget = _check_budget(strategy, budget)
    trace = Trace()
    for _ in range(budget):
        step(strategy, evaluator, trace)
    return trace


# ---- files ----------------------------------------------------------------------------------------

def _finite_or_null(obj: Any) -> Any:
    """``obj`` with NaN / inf floats as None: JSON has no NaN, and strict readers reject it."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite_or_null(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_null(v) for v in obj]
    return obj


def _write_json(path: Path, obj: Any) -> None:
    # write-then-rename: a crash never leaves a half-written json behind
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(_finite_or_null(obj), indent=2, allow_nan=False) + "\n")
    os.replace(tmp, path)


def _normalise(obj: Any) -> Any:
    return json.loads(json.dumps(obj))


def _config_of(obj: Any) -> dict[str, Any]:
    if hasattr(obj, "config"):
        return obj.config()
    return {"kind": "callable", "name": getattr(obj, "__qualname__", type(obj).__qualname__)}


def complete_lines(path: Path) -> bytes:
    """The complete lines of a history file; a partially written last line (a crash mid-write) is
    cut from the file as well, so appending continues on a clean line. A missing file: b""."""
    if not path.exists():
        return b""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
        with open(path, "r+b") as f:
            f.truncate(len(data))
            os.fsync(f.fileno())
    return data


def holds_a_run(out: Path, fields: tuple[str, ...], clear: bool = True) -> bool:
    """Whether run directory ``out`` holds anything a new run would lose (``LOCK_FILE`` aside).

    It does not when it holds only what a run of this kind (history columns ``fields``) leaves when
    it fails before its first observation (a bad evaluator, a typo in an option): a ``config.json``
    that is a search config with those history columns, and no ``history.csv`` or one holding only
    their header. With ``clear``, those files are removed, so the corrected command needs no
    ``--resume``; anything else (another tool's config.json, a history with a row) is never removed.
    """
    if not out.is_dir():
        return False
    names = {p.name for p in out.iterdir()} - {LOCK_FILE}
    if not names:
        return False
    if CONFIG_FILE not in names or not names <= {CONFIG_FILE, HISTORY_FILE}:
        return True
    try:
        config = read_run_config(out)
    except ResumeError:
        return True  # not ours: keep it
    header = (",".join(fields) + "\n").encode()
    history = out / HISTORY_FILE
    if config.get("history_columns") != list(fields) or (history.exists() and history.read_bytes() != header):
        return True
    if clear:
        for name in names:  # an aborted start: nothing observed
            (out / name).unlink()
    return False


@contextlib.contextmanager
def claim_run_directory(out: Path, config: dict[str, Any], fields: tuple[str, ...], resume: bool) -> Iterator[bool]:
    """Create run directory ``out`` if needed and hold its ``LOCK_FILE`` (an exclusive ``flock``,
    released when the block ends or the process dies) for the block; yields whether it holds a run
    to continue (``holds_a_run``, whose leftovers of an aborted start are cleared under the lock).

    ``FileExistsError`` when it holds a run and not ``resume``, ``ResumeError`` when that run's
    config differs from ``config``, ``RunDirectoryInUse`` when another search holds the lock. A
    directory refused for its contents is refused before the lock file is created: left untouched.
    """
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"run directory {out} exists and is not a directory")
    _check_contents(out, config, fields, resume, clear=False)
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise RunDirectoryInUse(f"run directory {out} is in use by another search (pid {holder}); wait for it "
                                    "to finish, or choose another output directory") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)  # only for the message above
        # again under the lock: another search may have written to the directory since the first look
        yield _check_contents(out, config, fields, resume, clear=True)
    finally:
        os.close(fd)  # releases the lock


def _check_contents(out: Path, config: dict[str, Any], fields: tuple[str, ...], resume: bool, clear: bool) -> bool:
    existing = holds_a_run(out, fields, clear=clear)
    if existing and not resume:
        raise FileExistsError(
            f"run directory {out} is not empty; pass resume=True (--resume) to continue that run, "
            "or choose another output directory"
        )
    if existing:
        check_resumable(out, config)
    return existing


def read_run_config(out: Path) -> dict[str, Any]:
    """The ``config.json`` of run directory ``out``; ``ResumeError`` naming the file when it is not
    JSON or not a search run's config (another command's directory, a hand-edited file)."""
    path = Path(out) / CONFIG_FILE
    try:
        config = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ResumeError(f"cannot resume {out}: {path} is not readable JSON ({err})") from err
    missing = [k for k in ("strategy", "evaluator") if not isinstance(config, dict) or k not in config]
    if missing:
        raise ResumeError(f"cannot resume {out}: {path} is not a nasfast search config (it lacks {missing}); "
                          "choose another --out or remove the directory")
    return config


def check_resumable(out: Path, config: dict[str, Any]) -> None:
    """``out`` is a run directory whose saved strategy and evaluator configs equal ``config``'s;
    ``ResumeError`` saying what differs otherwise."""
    if not (out / CONFIG_FILE).exists():
        raise ResumeError(f"cannot resume {out}: it has no {CONFIG_FILE} (not a nasfast run directory?)")
    saved = read_run_config(out)
    for key in ("strategy", "evaluator"):
        given, was = _normalise(config[key]), saved.get(key)
        if key == "evaluator" and isinstance(was, dict) and "table_sha256" not in was:
            given.pop("table_sha256", None)  # a run started before the hash was stored
        if was == given:
            continue
        if key == "evaluator" and isinstance(was, dict) and {**was, "table_sha256": None} == {**given, "table_sha256": None}:
            raise ResumeError(f"cannot resume {out}: the table {given.get('table')} changed since the run started "
                              "(its table_sha256 differs), so the continued run would search another table; "
                              "start a new run directory")
        raise ResumeError(f"cannot resume {out}: its {key} config differs from the given one in "
                          f"{_config_difference(was, given)}; drop the differing options or use another output "
                          "directory")


def _config_difference(was: Any, given: Any, limit: int = 6) -> str:
    """The keys where two configs differ, as ``key: saved -> given`` (the whole values when not dicts)."""
    if not (isinstance(was, dict) and isinstance(given, dict)):
        return f"its whole value: {was!r} -> {given!r}"
    keys = [k for k in dict.fromkeys([*was, *given]) if was.get(k, "<absent>") != given.get(k, "<absent>")]
    parts = [f"{k}: {was.get(k, '<absent>')!r} -> {given.get(k, '<absent>')!r}" for k in keys[:limit]]
    return ", ".join(parts) + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def read_history(path: Path) -> list[Observation]:
    """Rows of a ``history.csv`` (``complete_lines``: a half-written last line is dropped)."""
    data = complete_lines(path)
    if not data:
        return []
    reader = csv.DictReader(io.StringIO(data.decode()))
    if tuple(reader.fieldnames or ()) != HISTORY_FIELDS:
        raise ResumeError(f"{path} has columns {reader.fieldnames}, expected {list(HISTORY_FIELDS)}")
    rows = [Observation.from_row(r) for r in reader]
    for i, row in enumerate(rows, start=1):
        if row.step != i:
            raise ResumeError(f"{path}: row {i} has step {row.step}; the history is not a clean sequence")
    return rows


class _HistoryWriter:
    def __init__(self, path: Path, write_header: bool) -> None:
        self._f = open(path, "a", newline="")  # noqa: SIM115 - held open for the whole run
        self._csv = csv.writer(self._f, lineterminator="\n")
        if write_header:
            self._write(list(HISTORY_FIELDS))

    def _write(self, row: list[str]) -> None:
        self._csv.writerow(row)
        self._f.flush()
        os.fsync(self._f.fileno())  # the row survives a crash or power loss from here on

    def append(self, obs: Observation) -> None:
        self._write(obs.to_row())

    def close(self) -> None:
        self._f.close()


def plot_trajectory(trace: Trace, path: Path, title: str = "", report_rule: str = "incumbent",
                    show_test: bool = True) -> None:
    """Best-so-far validation accuracy and the incumbent's test accuracy against evaluations
    (``show_test=False``: validation only, for tables without a test column)."""
    # the object API with an explicit Agg canvas: no pyplot global state, no display needed
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    obs = trace.observations
    x = [o.step for o in obs]
    fig = Figure(figsize=(6.4, 4.0))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    steps = {"drawstyle": "steps-post"}  # both curves change only when an evaluation arrives
    ax.plot(x, [o.incumbent_valid_acc for o in obs], label="best validation acc so far", **steps)
    if show_test:
        ax.plot(x, [o.incumbent_test_acc for o in obs], label="incumbent's test acc", **steps)
    if show_test and report_rule == "best-test-seen":
        ax.plot(x, [o.best_test_seen for o in obs], "--", label="best test acc seen (test-informed)", **steps)
    ax.set_xlabel("evaluations")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


# ---- run directory --------------------------------------------------------------------------------

def _replay(strategy: Strategy, evaluator: Evaluator, rows: list[Observation], trace: Trace) -> None:
    replay_hook = getattr(evaluator, "replay", None)
    for row in rows:
        [request] = strategy.ask(1)
        if str(request.arch) != row.arch:
            raise ResumeError(
                f"replay diverged at step {row.step}: the strategy now proposes {request.arch} but "
                f"history.csv recorded {row.arch}; the code, seed or candidates changed since the run "
                "started, so it cannot be continued (start a new run directory)"
            )
        result = Result(valid_acc=row.valid_acc, test_acc=row.test_acc, cost=row.cost)
        if replay_hook is not None:
            replay_hook(request, result)
        strategy.tell(request, result)
        if not same_observation(trace.add(request.arch, result), row):
            raise ResumeError(f"history.csv row {row.step} is inconsistent with its own earlier rows")


def run_search(
    strategy: Strategy,
    evaluator: Evaluator,
    budget: int,
    out_dir: str | os.PathLike[str],
    resume: bool = False,
    progress: bool = True,
    report_rule: str = "incumbent",
) -> dict[str, Any]:
    """Run a search into ``out_dir``, writing every observation as it happens; return result.json.

    Args:
        strategy: a fresh strategy (nothing asked yet).
        evaluator: answers each request (``TabularEvaluator``, or any callable).
        budget: total number of distinct evaluations of the run (including resumed ones).
        out_dir: the run directory. It must be absent or empty unless ``resume`` (the files of a
            run that failed before its first observation count as empty: ``holds_a_run``). It is
            locked while the search runs: a second search on it raises ``RunDirectoryInUse``.
        resume: continue the run in ``out_dir``: its config must match the strategy's and the
            evaluator's, and its history is replayed through ``strategy`` before new evaluations.
            An absent or empty ``out_dir`` simply starts a new run. The budget and the reporting
            rule may differ from the first session's (neither affects the strategy).
        progress: show a tqdm bar (only when stderr is a terminal).
        report_rule: ``"incumbent"`` or ``"best-test-seen"`` (see ``nasfast.search.trace``).
    """
    started = time.perf_counter()
    check_report_rule(report_rule)
    budget = _check_budget(strategy, budget)
    if strategy.history or strategy.seen:
        raise ValueError("run_search needs a fresh strategy (it has already been asked)")
    if not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(f"out_dir must be a path (str or os.PathLike): every observation is written there as "
                        f"it happens; got {type(out_dir).__name__}")
    out = Path(out_dir)
    config = {
        "strategy": _config_of(strategy),
        "evaluator": _config_of(evaluator),
        "budget": int(budget),
        "report_rule": report_rule,
        "history_columns": list(HISTORY_FIELDS),
    }
    has_test = _has_test_column(config["evaluator"])
    if not has_test and report_rule != "incumbent":
        raise ValueError(f"report rule {report_rule!r} needs test accuracies, and the evaluator has "
                         f"{NO_TEST_COLUMN}; use the default rule 'incumbent'")
    with claim_run_directory(out, config, HISTORY_FIELDS, resume) as existing:
        return _run_claimed(strategy, evaluator, budget, out, config, existing, progress, report_rule, started)


def _run_claimed(strategy: Strategy, evaluator: Evaluator, budget: int, out: Path, config: dict[str, Any],
                 existing: bool, progress: bool, report_rule: str, started: float) -> dict[str, Any]:
    """``run_search`` once it holds the lock of ``out`` (``existing``: it holds a run to continue)."""
    has_test = _has_test_column(config["evaluator"])
    rows: list[Observation] = []
    if existing:
        rows = read_history(out / HISTORY_FILE)
        if len(rows) > budget:
            raise ValueError(f"{out} already holds {len(rows)} evaluations, more than the budget {budget}")
    trace = Trace()
    _replay(strategy, evaluator, rows, trace)  # before writing anything: it may refuse
    _write_json(out / CONFIG_FILE, config)
    writer = _HistoryWriter(out / HISTORY_FILE, write_header=not rows and not _has_header(out / HISTORY_FILE))
    from tqdm.auto import tqdm

    bar = tqdm(total=budget, initial=len(rows), unit="eval", desc=strategy.name or "search",
               disable=None if progress else True)  # None: a terminal or a notebook only, not a log file
    try:
        while len(trace) < budget:
            obs = step(strategy, evaluator, trace)
            writer.append(obs)
            bar.update(1)
            bar.set_postfix(valid=f"{obs.incumbent_valid_acc:.2f}", test=f"{obs.incumbent_test_acc:.2f}",
                            refresh=False)
    finally:
        bar.close()
        writer.close()

    inc = trace.incumbent
    evaluator_cfg = config["evaluator"]
    result = {
        "algo": strategy.name,
        "seed": strategy.seed,
        "dataset": evaluator_cfg.get("dataset"),
        "best_arch": inc[0] if inc else None,
        "best_valid_acc": inc[1] if inc else math.nan,
        "best_test_acc": inc[2] if inc else math.nan,
        "selection": "best validation accuracy among evaluated archs (first on ties)",
        "report_rule": report_rule,
        "reported": trace.report(report_rule),
        "columns": evaluator_cfg.get("columns"),
        "evaluations": len(trace),
        "resumed_at_step": len(rows) if existing else None,
        "total_cost": trace.cumulative_cost,
        "wall_time_s": time.perf_counter() - started,  # this session only
    }
    if not has_test:
        # validation only: say so rather than write a NaN that reads like a missing measurement
        result["best_test_acc"] = None
        result["test"] = NO_TEST_COLUMN
        result["reported"] = {"rule": report_rule, "arch": result["best_arch"], "test_acc": None,
                              "test_error": None, "note": NO_TEST_COLUMN}
    if evaluator_cfg.get("notes"):
        result["notes"] = list(evaluator_cfg["notes"])
    describe_best(result, strategy.space, out)
    _write_json(out / RESULT_FILE, result)
    title = f"{strategy.name} on {evaluator_cfg.get('dataset', '')} (seed {strategy.seed})"
    plot_trajectory(trace, out / PLOT_FILE, title=title, report_rule=report_rule, show_test=has_test)
    write_diagnostics = getattr(strategy, "write_diagnostics", None)
    if write_diagnostics is not None:
        write_diagnostics(out)
    return result


def describe_best(result: dict[str, Any], space: Any, out: Path) -> None:
    """Add to a search's ``result`` what a reader needs beside ``best_arch``: the cell behind an
    NB-101 fingerprint (``best_cell``), or, when there is no best arch, a warning (also raised)."""
    if result["best_arch"] is None:
        result["warning"] = NO_INCUMBENT
        warnings.warn(f"{out}: {NO_INCUMBENT}", RuntimeWarning, stacklevel=3)
        return
    describe = getattr(space, "describe", None)
    if describe is not None:
        result["best_cell"] = describe(result["best_arch"])


def _has_header(path: Path) -> bool:
    return path.exists() and path.stat().st_size > 0


def _has_test_column(evaluator_cfg: dict[str, Any]) -> bool:
    """False only when the evaluator's config says it has no test column (``columns.test`` null)."""
    columns = evaluator_cfg.get("columns")
    return not (isinstance(columns, dict) and "test" in columns and columns["test"] is None)

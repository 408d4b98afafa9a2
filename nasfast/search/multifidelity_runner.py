"""Run a multi-fidelity strategy (RANK-NOSH, SH, Hyperband) into a run directory that can be resumed,
as ``nasfast.search.runner.run_search`` does for single-fidelity searches.

A run directory holds ``config.json`` (the strategy's and evaluator's ``config()``), ``history.csv``
(one row per (arch, epochs) result, ``MF_HISTORY_FIELDS``, flushed and fsync'd as it arrives: a
crash loses at most the result in flight), ``result.json`` (the answer: the top-fidelity arch with
the best observed validation accuracy, and the epochs charged), ``trajectory.png`` (that
incumbent's accuracy against epochs spent) and ``.lock`` (held while a search runs there, as in
``run_search``'s directories).

Resuming replays ``history.csv`` through ask/tell: a strategy is a deterministic function of its
seed and of what it was told (the ranker is seeded from the strategy), so the replay rebuilds its
state without evaluating anything again; RANK-NOSH re-fits its ranker in every replayed round, so
its replay costs about what those rounds' ranker training cost. The evaluator's ``replay(request, result)``, when it has one,
re-accounts each restored result (the tabular one checks the table still agrees). A replay that
proposes something else than the history recorded (changed code, seed or thread count changing a
float rounding) stops with ``ResumeError``.
"""

from __future__ import annotations

import csv
import math
import os
import time
from pathlib import Path
from typing import Any

from nasfast.evaluators.base import Evaluator, Result
from nasfast.search.multifidelity import MultiFidelityStrategy, check_fidelities
from nasfast.search.runner import (
    CONFIG_FILE,
    HISTORY_FILE,
    PLOT_FILE,
    RESULT_FILE,
    ResumeError,
    _normalise,
    _write_json,
    claim_run_directory,
    complete_lines,
    describe_best,
)

MF_HISTORY_FIELDS = ("step", "arch", "epochs", "valid_acc", "test_acc", "cost", "epochs_used",
                     "incumbent_arch", "incumbent_valid_acc", "incumbent_test_acc")


class _Incumbent:
    """The top-fidelity result with the highest observed validation accuracy (first on ties)."""

    def __init__(self, top: int) -> None:
        self.top, self.arch, self.valid, self.test = top, "", math.nan, math.nan

    def update(self, arch: Any, epochs: int, result: Result) -> None:
        if epochs == self.top and math.isfinite(result.valid_acc) and not result.valid_acc <= self.valid:
            self.arch, self.valid, self.test = str(arch), float(result.valid_acc), float(result.test_acc)


def _read(path: Path) -> list[dict[str, str]]:
    """Rows of a history; a half-written last line (a crash mid-write) is cut from the file too."""
    rows = list(csv.DictReader(complete_lines(path).decode().splitlines()))
    if rows and tuple(rows[0]) != MF_HISTORY_FIELDS:
        raise ResumeError(f"{path} has columns {list(rows[0])}, expected {list(MF_HISTORY_FIELDS)}")
    return rows


def run_multifidelity_search(strategy: MultiFidelityStrategy, evaluator: Evaluator, out_dir: str | os.PathLike[str],
                             resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Ask, evaluate and tell until ``strategy`` is done, writing every result to ``out_dir``;
    returns ``result.json``. ``resume``: continue the run in ``out_dir`` (same configs), replaying
    its history first; an absent or empty ``out_dir`` starts a new run. ``out_dir`` is locked while
    the search runs (``nasfast.search.runner.claim_run_directory``)."""
    started = time.perf_counter()
    if strategy.history:
        raise ValueError("run_multifidelity_search needs a fresh strategy (it has already been asked)")
    if not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(f"out_dir must be a path (str or os.PathLike), got {type(out_dir).__name__}")
    out = Path(out_dir)
    check_fidelities(strategy, evaluator)
    config = {"strategy": strategy.config(), "evaluator": evaluator.config(), "history_columns": list(MF_HISTORY_FIELDS)}
    with claim_run_directory(out, config, MF_HISTORY_FIELDS, resume) as existing:
        return _run_claimed(strategy, evaluator, out, config, existing, progress, started)


def _run_claimed(strategy: MultiFidelityStrategy, evaluator: Evaluator, out: Path, config: dict[str, Any],
                 existing: bool, progress: bool, started: float) -> dict[str, Any]:
    """``run_multifidelity_search`` once it holds the lock of ``out`` (``existing``: a run to continue)."""
    rows: list[dict[str, str]] = []
    if existing:
        rows = _read(out / HISTORY_FILE)
    inc = _Incumbent(strategy.schedule[-1])
    # the plot follows the incumbent's test accuracy where the top fidelity has a test column
    top_columns = config["evaluator"].get("columns", {}).get(str(strategy.schedule[-1]), [None, None])
    plot_test = bool(top_columns[1:] and top_columns[1])
    curve: list[tuple[int, float]] = []
    replay_hook = getattr(evaluator, "replay", None)
    _write_json(out / CONFIG_FILE, _normalise(config))  # write-then-rename, as run_search
    new_file = not rows and not ((out / HISTORY_FILE).exists() and (out / HISTORY_FILE).stat().st_size)
    from tqdm.auto import tqdm

    bar = tqdm(unit="result", desc=strategy.name or "search", disable=None if progress else True)  # None: tty only
    step = 0
    with open(out / HISTORY_FILE, "a", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        if new_file:
            writer.writerow(MF_HISTORY_FIELDS)
        while batch := strategy.ask():
            for req in batch:
                if step < len(rows):  # replay: the recorded result, checked against what is asked now
                    row = rows[step]
                    if row["arch"] != str(req.arch) or int(row["epochs"]) != int(req.epochs):
                        raise ResumeError(
                            f"replay diverged at step {step + 1}: the strategy now asks {req.arch} at {req.epochs} "
                            f"epochs but history.csv recorded {row['arch']} at {row['epochs']}; the code, seed or "
                            "thread count changed since the run started (start a new run directory)")
                    res = Result(valid_acc=float(row["valid_acc"]), test_acc=float(row["test_acc"]),
                                 cost=float(row["cost"]))
                    if replay_hook is not None:
                        replay_hook(req, res)
                else:
                    res = evaluator(req)
                strategy.tell(req, res)
                inc.update(req.arch, int(req.epochs), res)
                step += 1
                curve.append((strategy.epochs_used, inc.test if plot_test else inc.valid))
                if step > len(rows):
                    writer.writerow([step, str(req.arch), int(req.epochs), res.valid_acc, res.test_acc, res.cost,
                                     strategy.epochs_used, inc.arch, inc.valid, inc.test])
                    f.flush()
                    os.fsync(f.fileno())
                bar.update(1)
    bar.close()
    result = {"algo": strategy.name, "seed": strategy.seed, "dataset": config["evaluator"].get("dataset"),
              "best_arch": inc.arch or None, "best_valid_acc": inc.valid, "best_test_acc": inc.test,
              "selection": f"best observed validation accuracy at {strategy.schedule[-1]} epochs (first on ties)",
              "epochs": strategy.epochs_used, "results": step, "resumed_at_step": len(rows) if existing else None,
              "wall_time_s": time.perf_counter() - started}
    describe_best(result, strategy.space, out)
    _write_json(out / RESULT_FILE, result)  # NaN (no test column, no incumbent) is written as null
    what = "test" if plot_test else "validation"
    column = top_columns[1] if plot_test else top_columns[0]
    _plot(curve, out / PLOT_FILE, f"{strategy.name} (seed {strategy.seed})",
          f"incumbent's {what} accuracy (%)" + (f"\n{column}" if column else ""))
    return result


def _plot(curve: list[tuple[int, float]], path: Path, title: str, ylabel: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    if curve:
        x, y = zip(*curve, strict=True)
        ax.step(x, y, where="post")
    ax.set_xlabel("epochs spent")
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


__all__ = ["MF_HISTORY_FIELDS", "run_multifidelity_search"]

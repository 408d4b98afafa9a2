"""Reproductions of the papers' tables: ``nasfast reproduce <name>``.

``EXPERIMENTS`` maps each name to its definition (``gates``: the GATES predictor tables on NB101 and
NB201). ``run`` trains every (config, count, seed) not yet in ``OUT/results.csv``, appending each
row as it finishes, then writes ``table.md``, ``summary.json`` and ``tau.png`` from all the rows
that match the request, and returns the summary.

    >>> from nasfast import reproduce
    >>> sorted(reproduce.EXPERIMENTS)
    ['gates-nb101', 'gates-nb201']
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nasfast.output_lock import hold_output
from nasfast.reproduce import report
from nasfast.reproduce.gates import (
    ALL_CONFIGS,
    GATES_NB101,
    GATES_NB201,
    QUICK_OVERRIDES,
    PredictorExperiment,
    format_count,
    run_one,
    split_config,
)

__all__ = ["EXPERIMENTS", "PredictorExperiment", "get", "run"]

EXPERIMENTS: dict[str, PredictorExperiment] = {e.name: e for e in (GATES_NB101, GATES_NB201)}

QUICK = {"seeds": 2, "epochs": 2}  #: --quick: also ``exp.quick_counts`` and ``QUICK_OVERRIDES``


def get(name: str) -> PredictorExperiment:
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; expected one of {sorted(EXPERIMENTS)}")
    return EXPERIMENTS[name]


def run(name: str, out: str | Path, *, seeds: int | None = None, epochs: int | None = None,
        counts: Sequence[float] | None = None, configs: Sequence[str] | None = None, quick: bool = False,
        device: str = "cpu", threads: int | None = None, progress: bool = True, echo: Callable[[str], None] = print,
        report_only: bool = False) -> dict[str, Any]:
    """Run (or resume) experiment ``name`` into directory ``out``; see the module docstring.

    ``seeds``: how many (0..seeds-1; default 3, 2 with ``quick``). ``epochs``: default 200 (2 with
    ``quick``). ``counts``: training-set sizes (the experiment's unit, default its paper counts).
    ``configs``: "encoder+loss" names (default the experiment's). ``quick``: a small network, few
    counts, seeds and epochs, for CI; its rows are kept apart from full-size ones (``variant``).
    ``threads``: ``torch.set_num_threads`` for the whole run (default: torch's own; 1 with
    ``quick``). On a shared machine 1 thread can be many times faster than 2 busy-waiting ones.
    ``echo`` receives one line per finished run and the final table. ``report_only``: run nothing,
    only write the table etc. from what ``out/results.csv`` holds (missing cells show as not run).
    ``OutputInUse`` (``nasfast.output_lock``) when another run holds ``out`` (its ``.lock``, removed
    when a run ends).
    """
    exp = get(name)
    variant = "quick" if quick else "paper"
    seeds = (QUICK["seeds"] if quick else 3) if seeds is None else int(seeds)
    epochs = (QUICK["epochs"] if quick else 200) if epochs is None else int(epochs)
    if seeds < 1 or epochs < 1:
        raise ValueError(f"--seeds and --epochs must be >= 1, got {seeds} and {epochs}")
    counts = tuple(float(c) for c in (counts or (exp.quick_counts if quick else exp.counts)))
    configs = tuple(configs or exp.configs)
    for c in configs:
        split_config(c)
    overrides = dict(QUICK_OVERRIDES) if quick else {}
    import torch

    if threads is None and quick:
        threads = 1
    if threads is not None:
        if threads < 1:
            raise ValueError(f"--threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
    req = report.Request(variant, configs, counts, tuple(range(seeds)), epochs)

    split = exp.make_split()
    for c in counts:  # fail before the first run, not after hours
        split.train_rows(exp.n_train(c, len(split.pool)), 0)
    out = Path(out)
    results = out / "results.csv"
    if report_only and not (results.exists() and results.stat().st_size):  # refused before mkdir: no empty --out
        raise ValueError(f"--report-only: {results} has no {exp.name} rows to report")
    out.mkdir(parents=True, exist_ok=True)
    with hold_output(out, "reproduce directory"):  # a second run on --out would append the same rows
        log = report.ResultsLog(results, exp.name)
        done = log.done()
        # smallest counts first, all configs and seeds of a count before the next: early rows fill whole columns
        todo = [(count, seed, config) for count in counts for seed in req.seeds for config in configs
                if (variant, config, format_count(count), seed, epochs) not in done and not report_only]
        if report_only:
            if not done:
                raise ValueError(f"--report-only: {results} has no {exp.name} rows to report")
            echo(f"{exp.name}: report only, from the {len(done)} row(s) in {results}")
        else:
            skipped = len(counts) * len(configs) * seeds - len(todo)
            echo(f"{exp.name}: {len(todo)} run(s) to do, {skipped} already in {results} (skipped)")

        from tqdm.auto import tqdm

        # disable=None: tqdm draws no bar when its stream is not a terminal (no frames in a log file),
        # and tqdm.auto's notebook bar still shows in Jupyter
        bar = tqdm(total=len(todo), desc=exp.name, unit="run", disable=None if progress and todo else True)
        show_bar = not bar.disable
        start = time.perf_counter()
        try:
            for count, seed, config in todo:
                bar.set_postfix_str(f"{config} n={format_count(count)} seed={seed}")
                row = run_one(exp, split, config, count, seed, epochs=epochs, overrides=overrides, device=device)
                log.append({"variant": variant, **row})
                bar.update(1)
                msg = (f"{config:<18} count={row['count']:>6} (n={row['n_train']:>6}) seed={seed} "
                       f"tau={row['tau']:.4f} N@5={row['n_at_5']} N@10={row['n_at_10']} ({row['seconds']:.1f} s)")
                if show_bar:
                    bar.write(msg)  # above the bar, which stays at the bottom
                else:
                    echo(msg)
        finally:
            bar.close()

        settings = {
            "experiment": exp.name, "variant": variant, "configs": list(configs), "counts": list(counts),
            "seeds": list(req.seeds), "epochs": epochs, "device": device,
            "torch_threads": torch.get_num_threads(), "network_overrides": overrides,
            "label_column": exp.label_column, "n_test": len(split.test), "pool_size": len(split.pool),
            "split_seed": split.seed, "tau": "mean test tau of the last 5 epochs (A1.7); N@K after the final epoch",
            "notes": list(exp.notes), "seconds_this_invocation": round(time.perf_counter() - start, 1),
            "known_configs": list(ALL_CONFIGS),
        }
        cells = report.aggregate(exp, log.rows, req)
        checks = exp.checks(report.cell_lookup(cells))
        table = report.markdown(exp, req, cells, checks, settings)
        (out / "table.md").write_text(table)
        report.write_summary(out / "summary.json", exp, cells, checks, settings)
        report.plot(out / "tau.png", exp, req, cells)
        echo(table)
        echo(f"written: {out / 'results.csv'}, {out / 'table.md'}, {out / 'summary.json'}, {out / 'tau.png'}")
        return {"settings": settings, "cells": cells, "checks": checks}

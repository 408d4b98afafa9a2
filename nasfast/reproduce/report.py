"""What a reproduction writes: ``results.csv`` (one row per finished run, appended as it finishes,
read back to resume), and from it ``table.md``, ``summary.json`` and ``tau.png``."""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nasfast.output_lock import repeated_header
from nasfast.reproduce.gates import CONFIG_LABELS, CellLookup, PredictorExperiment, format_count

FIELDS = ("experiment", "variant", "config", "encoder", "loss", "count", "n_train", "seed", "epochs", "tau",
          "tau_final", "tau_epochs", "n_at_5", "n_at_10", "n_test", "train_loss", "seconds", "device")
_INT_FIELDS = ("n_train", "seed", "epochs", "tau_epochs", "n_at_5", "n_at_10", "n_test")
_FLOAT_FIELDS = ("tau", "tau_final", "train_loss", "seconds")

RunKey = tuple[str, str, str, int, int]  # (variant, config, count, seed, epochs)


def run_key(row: dict[str, Any]) -> RunKey:
    return (str(row["variant"]), str(row["config"]), str(row["count"]), int(row["seed"]), int(row["epochs"]))


def read_rows(path: Path, ints: Sequence[str] = (), floats: Sequence[str] = ()) -> list[dict[str, str]]:
    """The rows of a results CSV as read (none when it is missing or empty). A repeated header line, a
    row with too few or too many fields, or an ``ints`` / ``floats`` field that does not parse is a
    ``ValueError`` naming ``path:line``: read back to resume, such a row would otherwise stop every
    later run with a bare "invalid literal for int()"."""
    if not path.exists() or path.stat().st_size == 0:
        return []
    rows = []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [k for k in (*ints, *floats) if k not in (reader.fieldnames or [])]
        if missing:  # another experiment's (or another tool's) file: its rows are not damaged, just not ours
            raise ValueError(f"{path} is not a results file of this experiment (its header has no "
                             f"{', '.join(missing)}); choose another --out")
        for raw in reader:
            check_row(path, reader.line_num, raw, reader.fieldnames or [], ints, floats)
            rows.append(raw)
    return rows


def check_row(path: Path, line: int, raw: dict[str, Any], fieldnames: Sequence[str], ints: Sequence[str] = (),
              floats: Sequence[str] = ()) -> None:
    """``read_rows``' checks of one ``csv.DictReader`` row (``line``: ``reader.line_num``)."""
    if list(raw.values()) == list(fieldnames):
        raise repeated_header(path, line)
    if None in raw or None in raw.values():  # DictReader's marks of a row longer / shorter than the header
        raise ValueError(f"{path}:{line}: not the header's {len(fieldnames)} fields (a line cut short?); remove "
                         "the line, or choose another --out")
    for k, kind in [(k, int) for k in ints] + [(k, float) for k in floats]:
        try:
            kind(raw[k])
        except (KeyError, ValueError):
            what = "an integer" if kind is int else "a number"
            raise ValueError(f"{path}:{line}: {k} {raw.get(k)!r} is not {what}; remove the line, or choose "
                             "another --out") from None


class ResultsLog:
    """``results.csv`` of one experiment: the rows already there, and ``append`` for new ones
    (flushed and fsynced, so a killed run loses at most the run in progress). Not locked itself:
    ``nasfast.reproduce.run`` holds the directory's lock while it uses one."""

    def __init__(self, path: Path, experiment: str) -> None:
        self.path, self.experiment = path, experiment
        self.rows: list[dict[str, Any]] = []
        if path.exists() and path.stat().st_size > 0:
            with open(path, newline="") as f:
                reader = csv.DictReader(f)
                if tuple(reader.fieldnames or ()) != FIELDS:
                    raise ValueError(f"{path} has columns {reader.fieldnames}, expected {list(FIELDS)}; "
                                     "use another --out")
                for raw in reader:
                    check_row(path, reader.line_num, raw, FIELDS, _INT_FIELDS, _FLOAT_FIELDS)
                    if raw["experiment"] != experiment:
                        raise ValueError(f"{path} holds results of {raw['experiment']!r}, not {experiment!r}; "
                                         "use another --out")
                    self.rows.append(_parse(raw))

    def done(self) -> set[RunKey]:
        return {run_key(r) for r in self.rows}

    def append(self, row: dict[str, Any]) -> None:
        row = {"experiment": self.experiment, **row}
        new = not self.path.exists() or self.path.stat().st_size == 0
        with open(self.path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=FIELDS)
            if new:
                writer.writeheader()
            writer.writerow({k: row[k] for k in FIELDS})
            f.flush()
            os.fsync(f.fileno())
        self.rows.append(row)


def _parse(raw: dict[str, str]) -> dict[str, Any]:
    row: dict[str, Any] = dict(raw)
    for k in _INT_FIELDS:
        row[k] = int(raw[k])
    for k in _FLOAT_FIELDS:
        row[k] = float(raw[k])
    return row


# ---- aggregation --------------------------------------------------------------------------------

@dataclass
class Request:
    """What one invocation asked for; only matching rows of results.csv enter its table."""

    variant: str
    configs: tuple[str, ...]
    counts: tuple[float, ...]
    seeds: tuple[int, ...]
    epochs: int


def aggregate(exp: PredictorExperiment, rows: Iterable[dict[str, Any]], req: Request) -> list[dict[str, Any]]:
    """One cell per (config, count): mean and std (ddof=1; 0 with one seed) over the seeds found."""
    by_cell: dict[tuple[str, str], list[dict[str, Any]]] = {}
    seeds = set(req.seeds)
    for r in rows:
        if r["variant"] == req.variant and int(r["epochs"]) == req.epochs and int(r["seed"]) in seeds:
            by_cell.setdefault((r["config"], r["count"]), []).append(r)
    cells = []
    for config in req.configs:
        for count in req.counts:
            found = sorted(by_cell.get((config, format_count(count)), []), key=lambda r: r["seed"])
            if not found:
                continue
            tau = np.array([r["tau"] for r in found])
            paper = exp.paper_tau.get(config, {}).get(float(count))
            cells.append({
                "config": config, "label": CONFIG_LABELS[config], "count": float(count), "n_train": found[0]["n_train"],
                "seeds": [r["seed"] for r in found], "n_seeds": len(found),
                "tau_mean": float(tau.mean()), "tau_std": float(tau.std(ddof=1)) if len(tau) > 1 else 0.0,
                "tau_final_mean": float(np.mean([r["tau_final"] for r in found])),
                "n_at_5_mean": float(np.mean([r["n_at_5"] for r in found])),
                "n_at_10_mean": float(np.mean([r["n_at_10"] for r in found])),
                "n_at_5": [r["n_at_5"] for r in found], "n_at_10": [r["n_at_10"] for r in found],
                "seconds_mean": float(np.mean([r["seconds"] for r in found])),
                "paper_tau": paper, "delta": None if paper is None else float(tau.mean()) - paper,
            })
    return cells


def cell_lookup(cells: list[dict[str, Any]]) -> CellLookup:
    index = {(c["config"], c["count"]): c for c in cells}
    return lambda config, count: index.get((config, float(count)))


# ---- table.md -----------------------------------------------------------------------------------

def _headers(exp: PredictorExperiment, req: Request, cells: list[dict[str, Any]]) -> list[str]:
    n_of = {c["count"]: c["n_train"] for c in cells}
    out = []
    for count in req.counts:
        n = n_of.get(float(count))
        out.append(exp.count_header(count, n) if n is not None else format_count(count))
    return out


def markdown(exp: PredictorExperiment, req: Request, cells: list[dict[str, Any]],
             checks: list[tuple[str, bool | None]], settings: dict[str, Any]) -> str:
    look = cell_lookup(cells)
    heads = _headers(exp, req, cells)
    rule = "|" + "---|" * (len(heads) + 1)
    lines = [f"# {exp.title}", "",
             f"{settings['variant']} settings: {len(req.seeds)} seed(s) {list(req.seeds)}, {req.epochs} epochs, "
             f"test set {settings['n_test']:,} archs, labels `{exp.label_column}`.", ""]
    lines += ["## Kendall tau (test set; mean ± std over seeds)" + ("; paper below, Δ = ours − paper"
                                                                    if exp.paper_tau else ""), "",
              "| config | " + " | ".join(heads) + " |", rule]
    for config in req.configs:
        ours, paper = [], []
        for count in req.counts:
            c = look(config, count)
            if c is None:
                ours.append("not run")
            else:
                partial = f" ({c['n_seeds']}/{len(req.seeds)} seeds)" if c["n_seeds"] < len(req.seeds) else ""
                ours.append(f"{c['tau_mean']:.4f} ± {c['tau_std']:.4f}{partial}")
            p = exp.paper_tau.get(config, {}).get(float(count))
            if p is None:
                paper.append("—")
            else:
                paper.append(f"{p:.4f}" + ("" if c is None else f" (Δ {c['tau_mean'] - p:+.4f})"))
        lines.append(f"| {CONFIG_LABELS[config]} | " + " | ".join(ours) + " |")
        if config in exp.paper_tau:
            lines.append("| ↳ paper | " + " | ".join(paper) + " |")
    def per_count_table(title: str, cell) -> list[str]:
        """A config x count table of ``cell(summary)``, "not run" where a cell has no runs."""
        out = ["", title, "", "| config | " + " | ".join(heads) + " |", rule]
        for config in req.configs:
            vals = [("not run" if (c := look(config, count)) is None else cell(c)) for count in req.counts]
            out.append(f"| {CONFIG_LABELS[config]} | " + " | ".join(vals) + " |")
        return out

    lines += per_count_table(
        "## N@5 / N@10 (true rank of the best of the predicted top K; mean over seeds, lower is better)",
        lambda c: f"{c['n_at_5_mean']:.1f} / {c['n_at_10_mean']:.1f}")
    lines += per_count_table(
        "## Seconds per run (training + scoring the test set each of the last epochs; mean over seeds)",
        lambda c: f"{c['seconds_mean']:.1f}")
    if checks:
        lines += ["", "## Acceptance checks (issue 5)", ""]
        mark = {True: "[x]", False: "[ ] FAILS:", None: "[?] not run:"}
        lines += [f"- {mark[ok]} {text}" for text, ok in checks]
    lines += ["", "## Notes", ""] + [f"- {n}" for n in settings["notes"]]
    return "\n".join(lines) + "\n"


# ---- summary.json and the plot ------------------------------------------------------------------

def write_summary(path: Path, exp: PredictorExperiment, cells: list[dict[str, Any]],
                  checks: list[tuple[str, bool | None]], settings: dict[str, Any]) -> None:
    blob = {"experiment": exp.name, "settings": settings, "cells": cells,
            "checks": [{"check": t, "passed": ok} for t, ok in checks]}
    path.write_text(json.dumps(_plain(blob), indent=1, allow_nan=False) + "\n")


def _plain(x: Any) -> Any:
    """JSON-ready: numpy scalars as Python numbers, NaN (an undefined tau: constant scores) as null."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (np.integer, np.floating)):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def plot(path: Path, exp: PredictorExperiment, req: Request, cells: list[dict[str, Any]]) -> None:
    """Mean test tau vs training-set size (log axis), error bars = std over seeds; paper dashed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 4.6))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    look = cell_lookup(cells)
    for i, config in enumerate(req.configs):
        color = f"C{i % 10}"
        got = [look(config, c) for c in req.counts]
        pts = [(g["n_train"], g["tau_mean"], g["tau_std"]) for g in got if g is not None]
        if pts:
            x, y, e = zip(*pts)
            ax.errorbar(x, y, yerr=e, color=color, marker="o", ms=4, capsize=3, label=CONFIG_LABELS[config])
        # the paper's points are all drawn, run or not; its counts are absolute (NB101) when it has any
        pp = sorted(exp.paper_tau.get(config, {}).items())
        if pp:
            ax.plot(*zip(*pp), "--", color=color, marker="x", ms=5, alpha=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("training architectures")
    ax.set_ylabel("Kendall tau on the test set")
    title = exp.title + (" (dashed: paper)" if exp.paper_tau else "")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, which="both")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)

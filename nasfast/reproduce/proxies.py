"""``nasfast reproduce proxies-nb201``: zero-cost proxies over NB201, beside the published correlations.

Computes (or resumes) the proxy tables into OUT, starting from the tables shipped in the package
(``nasfast/data/proxies``) when their settings match, then reports per proxy and head:
- Spearman rho between the proxy and the NB201 200-epoch validation accuracy (NATS x-valid seed mean;
  ``notes/nb201-baselines.md``), over the archs computed so far (NaN excluded and counted), beside
  the published |rho| (Abdelfattah et al. ICLR 2021, notebook ``nasbench201_correlations.ipynb``,
  REFERENCES A5.3; naswot: NASLib's 725-arch figure, PROVENANCE);
- on NASLib's 725 archs (``nb201_zc_naslib_725.npz``): Spearman between our values and NASLib's.
The published table takes abs() of rho; we print the sign too.
"""

from __future__ import annotations

import gzip
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nasfast.metrics import spearman
from nasfast.output_lock import hold_output
from nasfast.tabular.bundled import ZC_FAILURE_MARKER

#: Spearman |rho| vs accuracy, REFERENCES A5.3 (zero-cost-nas notebook, all 15,625 archs); naswot:
#: NASLib's 725-arch subset (PROVENANCE, nb201_zc_naslib_725).
PUBLISHED = {
    "cifar10": {"grad_norm": 0.594, "snip": 0.596, "grasp": 0.514, "fisher": 0.360, "synflow": 0.737,
                "jacob_cov": 0.731, "naswot": 0.79},
    "cifar100": {"grad_norm": 0.637, "snip": 0.637, "grasp": 0.547, "fisher": 0.385, "synflow": 0.763,
                 "jacob_cov": 0.704},
    "ImageNet16-120": {"grad_norm": 0.578, "snip": 0.578, "grasp": 0.549, "fisher": 0.327, "synflow": 0.751,
                       "jacob_cov": 0.701},
}
#: issue acceptance 2: Spearman(ours, NASLib) floors on the 725 archs
NASLIB_FLOOR = {"synflow": 0.95, "snip": 0.95, "naswot": 0.95, "params": 0.95, "flops": 0.95, "jacob_cov": 0.9}
NASLIB_NAME = {"naswot": "nwot", "jacob_cov": "jacov"}
VALID_COLUMN = {"cifar10": "cifar10-valid/acc/valid/200ep", "cifar100": "cifar100/acc/valid/200ep",
                "ImageNet16-120": "ImageNet16-120/acc/valid/200ep"}
NASLIB_TAG = {"cifar10": "c10", "cifar100": "c100", "ImageNet16-120": "in16"}


@dataclass(frozen=True)
class Job:
    name: str
    dataset: str
    proxies: tuple[str, ...]
    sample: int | None = None  # None: all archs in priority order; n: the fixed n-arch sample


JOBS = (
    Job("nb201_cifar10", "cifar10", ("synflow", "snip", "jacob_cov", "naswot", "grad_norm", "l2_norm", "params", "flops")),
    Job("nb201_cifar100", "cifar100", ("synflow", "snip", "jacob_cov")),
    Job("nb201_ImageNet16-120", "ImageNet16-120", ("synflow", "snip", "jacob_cov")),
    Job("nb201_cifar10_fisher_grasp", "cifar10", ("fisher", "grasp"), sample=1000),
    # data-free: minutes for the whole space; mag is RANK-NOSH's Level-0 prior (nasfast.search.nosh)
    Job("nb201_cifar10_data_free", "cifar10", ("l2_norm", "mag", "params", "flops")),
)
QUICK = {"channels": 4, "cells": 1, "batch_size": 16, "limit": 12}


def _seed_from_bundle(job: Job, csv_path: Path, config_dict: dict) -> None:
    """Start OUT's table from the shipped one when it was made with the same settings."""
    from nasfast.proxies.table import bundled_files

    src, meta = bundled_files(job.name)
    if csv_path.exists() or not src.exists() or not meta.exists():
        return
    if json.loads(meta.read_text()) != config_dict:
        return
    with gzip.open(src, "rb") as f, open(csv_path, "wb") as g:
        shutil.copyfileobj(f, g)
    csv_path.with_name(csv_path.name + ".json").write_text(meta.read_text())


def run(out: str | Path, *, quick: bool = False, limit: int | None = None, threads: int | None = None,
        progress: bool = True, echo=print) -> dict[str, Any]:
    import torch

    from nasfast.proxies.table import TableConfig, fixed_sample, priority_order, read_table, run_nb201_table

    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive integer (archs per table), got {limit!r}")  # -1 would slice
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if threads:
        torch.set_num_threads(threads)
    if quick and limit is None:
        limit = QUICK["limit"]
    size = {k: QUICK[k] for k in ("channels", "cells", "batch_size")} if quick else {}
    # the whole directory, as the other experiments: seeding a table from the bundle writes it too
    with hold_output(out, "reproduce directory"):
        tables = {}
        for job in JOBS:
            config = TableConfig(dataset=job.dataset, proxies=job.proxies, **size)
            csv_path = out / f"{job.name}.csv"
            want = {**config.__dict__, "proxies": list(config.proxies)}
            if not quick:
                _seed_from_bundle(job, csv_path, want)
            order = fixed_sample(job.sample) if job.sample else priority_order()
            if limit is not None:
                order = order[:limit]
            n = run_nb201_table(order, config, csv_path, progress=progress)
            echo(f"{job.name}: {n} archs computed this run")
            tables[job.name] = read_table(csv_path)
        summary = report(tables, quick=quick)
        (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
        text = markdown(summary)
        (out / "table.md").write_text(text)
        echo(text)
        echo(f"written: {out / 'table.md'}, {out / 'summary.json'}")
        return summary


def report(tables: dict[str, dict[str, np.ndarray]], *, quick: bool = False) -> dict[str, Any]:
    from nasfast.tabular import load
    from nasfast.tabular.bundled import npz_array

    bench = load("nb201")
    rows = []
    for job in JOBS:
        t = tables.get(job.name)
        if t is None or not len(t["index"]):
            continue
        acc = bench.column(VALID_COLUMN[job.dataset])[t["index"]]
        tag = NASLIB_TAG[job.dataset]
        naslib_index = np.asarray(npz_array(("nb201", "nb201_zc_naslib_725.npz"), f"{tag}_index"))
        for p in job.proxies:
            v = t[p]
            ok = np.isfinite(v) & np.isfinite(acc)
            rho = spearman(acc[ok], v[ok]) if ok.sum() > 2 else float("nan")
            row = {"dataset": job.dataset, "proxy": p, "n": int(ok.sum()), "nan": int((~np.isfinite(v)).sum()),
                   "of": job.sample or 15625, "rho": rho, "published": PUBLISHED[job.dataset].get(p)}
            key = f"{tag}_{NASLIB_NAME.get(p, p)}"
            try:
                theirs = np.asarray(npz_array(("nb201", "nb201_zc_naslib_725.npz"), key), dtype=np.float64)
            except KeyError:
                theirs = None
            if theirs is not None:
                pos = {int(i): k for k, i in enumerate(t["index"])}
                pick = [(pos[int(i)], k) for k, i in enumerate(naslib_index) if int(i) in pos]
                if len(pick) > 2:
                    a = np.array([v[i] for i, _ in pick])
                    b = theirs[[k for _, k in pick]]
                    good = np.isfinite(a) & np.isfinite(b) & (b != ZC_FAILURE_MARKER)  # NASLib's failures out
                    row["naslib_n"] = int(good.sum())
                    row["naslib_rho"] = spearman(b[good], a[good]) if good.sum() > 2 else float("nan")
                    row["naslib_floor"] = NASLIB_FLOOR.get(p)
            if row["published"] is not None and np.isfinite(rho):
                row["within_0.05"] = bool(abs(abs(rho) - row["published"]) <= 0.05)
            rows.append(row)
    return {"quick": quick, "rows": rows,
            "notes": ["images: the bundled CIFAR-10 subset for every head (CIFAR-100 / ImageNet16-120 images are "
                      "not available; 100/120-class heads, 16 px for ImageNet16-120)",
                      "accuracy: NB201 200-epoch validation accuracy, NATS x-valid seed mean",
                      "rho over the archs computed so far (NASLib's 725 first, then a seeded random order)"]}


def _f(x, nd=3) -> str:
    return "—" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.{nd}f}"


def markdown(summary: dict[str, Any]) -> str:
    lines = ["# Zero-cost proxies on NB201: ours beside the published", "",
             *(f"- {n}" for n in summary["notes"]), "",
             "| head | proxy | archs (NaN) | Spearman rho vs valid acc | published abs(rho) | within 0.05 | "
             "rho vs NASLib (725) | floor |",
             "|---|---|---|---|---|---|---|---|"]
    for r in summary["rows"]:
        within = {True: "yes", False: "**no**"}.get(r.get("within_0.05"), "—")
        nl = _f(r.get("naslib_rho")) + (f" (n={r['naslib_n']})" if "naslib_n" in r else "")
        lines.append(f"| {r['dataset']} | {r['proxy']} | {r['n']:,}/{r['of']:,} ({r['nan']}) | {_f(r['rho'])} | "
                     f"{_f(r['published'], 3)} | {within} | {nl} | {_f(r.get('naslib_floor'), 2)} |")
    return "\n".join(lines) + "\n"

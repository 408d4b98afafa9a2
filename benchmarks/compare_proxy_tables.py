"""Two NB201 proxy tables of the same settings, arch by arch: how far apart, and whether they rank
alike (e.g. a table computed on a GPU against the bundled CPU one).

For every proxy both tables have, over the archs both cover: NaN counts, the median / 99th
percentile / largest relative difference, the fraction within 1e-3, Spearman between the two
tables, and each table's Spearman with the NB201 validation accuracy of its dataset on those archs.
Usage: ``python benchmarks/compare_proxy_tables.py NEW.csv [--against nasfast/data/proxies/nb201_cifar10.csv.gz]
[--dataset cifar10]``.
"""

from __future__ import annotations

import argparse

import numpy as np

from nasfast.metrics import spearman
from nasfast.proxies.table import bundled_files, read_table
from nasfast.reproduce.proxies import VALID_COLUMN
from nasfast.tabular import load


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("table")
    ap.add_argument("--against", default=str(bundled_files("nb201_cifar10")[0]),
                    help="reference table (default: the shipped CPU cifar10 table)")
    ap.add_argument("--dataset", default="cifar10", choices=sorted(VALID_COLUMN))
    args = ap.parse_args()
    new, ref = read_table(args.table), read_table(args.against)
    where = {int(i): k for k, i in enumerate(ref["index"])}
    shared = np.array([k for k, i in enumerate(new["index"]) if int(i) in where])
    idx = new["index"][shared]
    ref_rows = np.array([where[int(i)] for i in idx])
    acc = load("nb201").column(VALID_COLUMN[args.dataset])[idx]
    proxies = [p for p in new if p not in ("index", "arch") and p in ref]
    print(f"{len(idx)} archs in both tables; accuracy: {VALID_COLUMN[args.dataset]}")
    print(f"{'proxy':<10}{'NaN new/ref':>12}{'median rel':>12}{'p99 rel':>10}{'max rel':>10}{'<1e-3':>8}"
          f"{'rho(new,ref)':>14}{'rho acc new':>13}{'rho acc ref':>13}")
    for p in proxies:
        a, b = new[p][shared], ref[p][ref_rows]
        ok = np.isfinite(a) & np.isfinite(b)
        rel = np.abs(a[ok] - b[ok]) / np.maximum(np.abs(b[ok]), 1e-30)
        print(f"{p:<10}{f'{np.isnan(a).sum()}/{np.isnan(b).sum()}':>12}{np.median(rel):>12.1e}"
              f"{np.quantile(rel, 0.99):>10.1e}{rel.max():>10.1e}{np.mean(rel < 1e-3):>8.3f}"
              f"{spearman(a[ok], b[ok]):>14.5f}{spearman(acc[ok], a[ok]):>13.4f}{spearman(acc[ok], b[ok]):>13.4f}")


if __name__ == "__main__":
    main()

"""Benchmark tables: bundled NAS-Bench-201 / -101 / -301 data and users' own CSV tables.

    >>> from nasfast import tabular
    >>> nb201 = tabular.load("nb201")
    >>> col = nb201.resolve("cifar10", split="valid")      # 'cifar10-valid/acc/valid/200ep'
    >>> nb201.query([6111, "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"], col).round(2)
    array([91.61,  9.71])

Column names are ``{dataset}/{metric}[/{split}][/{epochs}ep][@{version}]``; the raw key names of
the bundled ``.npz`` files are accepted too. Where the data come from: ``nasfast/data/PROVENANCE.md``.
"""

from nasfast.tabular.benchmark import Benchmark
from nasfast.tabular.bundled import benchmark_names, load, nb201_curves, nb201_data_split
from nasfast.tabular.columns import DATASETS, ColumnInfo, canonical_dataset
from nasfast.tabular.csv_table import from_csv

__all__ = [
    "DATASETS",
    "Benchmark",
    "ColumnInfo",
    "benchmark_names",
    "canonical_dataset",
    "from_csv",
    "load",
    "nb201_curves",
    "nb201_data_split",
]

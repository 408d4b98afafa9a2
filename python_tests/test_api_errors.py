"""Python API calls with arguments of the wrong kind: errors that name the argument and the
problem, not an AttributeError or IndexError from deep inside (found by a user-experience audit)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nasfast import tabular
from nasfast.evaluators import TabularEvaluator
from nasfast.predictors import encoding
from nasfast.proxies.single import compute_proxies
from nasfast.search import RandomSearch, run_search


def test_tabular_evaluator_takes_a_benchmark_or_a_bundled_name():
    by_name = TabularEvaluator("nb201", "cifar10")
    assert by_name.benchmark is tabular.load("nb201")
    assert by_name.config() == TabularEvaluator(tabular.load("nb201"), "cifar10").config()
    with pytest.raises(TypeError, match="benchmark must be a nasfast.tabular.Benchmark .* got dict"):
        TabularEvaluator({"name": "nb201"}, "cifar10")


def test_run_search_needs_a_run_directory():
    with pytest.raises(TypeError, match="out_dir must be a path .* got NoneType"):
        run_search(RandomSearch("nb201", seed=0), TabularEvaluator("nb201", "cifar10"), 3, None)


def test_op_index_array_names_the_bad_value():
    ops = np.zeros((5, 6), dtype=np.int64)
    ops[3, 2] = 7
    with pytest.raises(ValueError, match=r"values 0..4: \[3, 2\] is 7 \(1 such value"):
        encoding.nb201_op_indices(ops)
    with pytest.raises(ValueError, match=r"must be \(B, 6\) .* got shape \(5, 5\)"):
        encoding.nb201_op_indices(ops[:, :5])


def test_proxy_labels_beyond_a_plain_modules_classes_are_named():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(4, 10))
    x, y = torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 3])
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(ValueError, match=r"labels must lie in 0..9, got 100..103"):
        compute_proxies(net, ["snip"], x, y + 100)
    # the class-count probe runs in eval mode: the module's batch-norm statistics are untouched
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items()) and net.training
    assert np.isfinite(compute_proxies(net, ["snip", "synflow"], x, y)["snip"])


def test_an_unknown_column_of_a_small_table_lists_its_columns(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("arch,acc,cost\n0,91.0,10\n1,90.5,12\n")
    with pytest.raises(KeyError, match=r"no column 'nosuch'; its columns are \['acc', 'cost'\]"):
        tabular.from_csv(path, "nb201").column("nosuch")
    with pytest.raises(KeyError, match=r"nasfast info --benchmark nb201"):
        tabular.load("nb201").column("zzzzqqq")
    wide = tmp_path / "wide.csv"  # more columns than the short list, and not known to `nasfast info`
    wide.write_text("arch," + ",".join(f"c{i}" for i in range(14)) + "\n0," + ",".join(["1"] * 14) + "\n")
    with pytest.raises(KeyError, match=r"its columns are \['c0', 'c1'.*'c13'\]"):
        tabular.from_csv(wide, "nb201").column("zzzzzzzz")


def test_proxies_archs_file_names_the_line_of_an_index_out_of_range(tmp_path):
    from nasfast.proxy_commands import _read_archs

    path = tmp_path / "a.txt"
    path.write_text("# indices\n5\n99999\n")
    with pytest.raises(ValueError, match=r"a.txt:3: NB201 index 99999 out of range 0..15624"):
        _read_archs(path)
    path.write_text("5\n15624\n")
    assert _read_archs(path) == [5, 15624]

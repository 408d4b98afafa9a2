"""``nasfast reproduce gates-nb101|gates-nb201``: the --quick runs (every code path: training, table,
csv, summary, plot, resume) in a subprocess, and the data splits the experiments rest on."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from cli_runner import nasfast

from nasfast import reproduce
from nasfast.reproduce import report
from nasfast.reproduce.gates import GATES_NB101, GATES_NB201, NB101_PAPER_TAU, PAPER_CONFIGS

OUTPUTS = {"results.csv", "table.md", "summary.json", "tau.png"}


def rows(out: Path) -> list[dict[str, str]]:
    with open(out / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_nb201_quick_writes_everything_and_resumes(tmp_path):
    out = tmp_path / "nb201"
    proc = nasfast("reproduce", "gates-nb201", "--quick", "--out", str(out), "--no-progress")
    assert {p.name for p in out.iterdir()} == OUTPUTS
    got = rows(out)
    # quick: counts 1 % and 10 % of the 7,813-arch half, seeds 0 and 1, the 3 default configs
    assert len(got) == 2 * 2 * 3
    assert {(r["count"], r["n_train"]) for r in got} == {("1", "78"), ("10", "781")}
    assert {r["seed"] for r in got} == {"0", "1"}
    assert {r["variant"] for r in got} == {"quick"} and {r["n_test"] for r in got} == {"7812"}
    assert all(-1 <= float(r["tau"]) <= 1 and int(r["n_at_5"]) >= int(r["n_at_10"]) >= 1 for r in got)
    assert "12 run(s) to do, 0 already" in proc.stdout
    # the paper's NB201 N@K (slides) and the split we had to invent are stated
    assert "GATES 1 / 1 with a ranking loss" in proc.stdout and "default_rng(201)" in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["n_test"] == 7812 and summary["settings"]["pool_size"] == 7813
    assert len(summary["cells"]) == 6 and all(c["n_seeds"] == 2 for c in summary["cells"])

    # a rerun skips everything and leaves the csv as it was
    before = (out / "results.csv").read_bytes()
    again = nasfast("reproduce", "gates-nb201", "--quick", "--out", str(out), "--no-progress")
    assert "0 run(s) to do, 12 already" in again.stdout
    assert (out / "results.csv").read_bytes() == before

    # a run killed midway: only the missing rows are trained, appended after the kept ones
    lines = before.decode().splitlines(keepends=True)
    (out / "results.csv").write_text("".join(lines[:6]))  # header + 5 rows
    # --report-only trains nothing: the table is re-written from the 5 rows there
    only = nasfast("reproduce", "gates-nb201", "--quick", "--out", str(out), "--no-progress", "--report-only")
    assert "report only, from the 5 row(s)" in only.stdout and len(rows(out)) == 5
    assert sum(c["n_seeds"] for c in json.loads((out / "summary.json").read_text())["cells"]) == 5
    resumed = nasfast("reproduce", "gates-nb201", "--quick", "--out", str(out), "--no-progress")
    assert "7 run(s) to do, 5 already" in resumed.stdout
    after = rows(out)
    assert len(after) == 12
    assert {report.run_key(r) for r in after} == {report.run_key(r) for r in got}


def test_nb101_quick_prints_paper_numbers(tmp_path):
    out = tmp_path / "nb101"
    proc = nasfast("reproduce", "gates-nb101", "--quick", "--out", str(out), "--no-progress")
    assert {p.name for p in out.iterdir()} == OUTPUTS
    got = rows(out)
    assert len(got) == len(PAPER_CONFIGS) * 2 * 2
    assert {r["config"] for r in got} == set(PAPER_CONFIGS)
    assert {r["count"] for r in got} == {"190", "381"} and {r["n_test"] for r in got} == {"5000"}
    table = (out / "table.md").read_text()
    for config in PAPER_CONFIGS:  # every paper number of the two quick counts, printed and on disk
        for n in (190, 381):
            assert f"{NB101_PAPER_TAU[config][n]:.4f}" in proc.stdout
            assert f"{NB101_PAPER_TAU[config][n]:.4f}" in table
    assert "one value per arch" in table and "not the paper's 42,362" in table
    summary = json.loads((out / "summary.json").read_text())
    cell = next(c for c in summary["cells"] if c["config"] == "gates+hinge" and c["count"] == 190)
    paper = 0.7634  # GATES slides, NB101 encoder table, GATES at 0.05 % (190), as in NB101_PAPER_TAU
    assert cell["paper_tau"] == paper and cell["delta"] == pytest.approx(cell["tau_mean"] - paper)
    assert any("GATES beats MLP" in c["check"] for c in summary["checks"])
    again = nasfast("reproduce", "gates-nb101", "--quick", "--out", str(out), "--no-progress")
    assert "0 run(s) to do, 28 already" in again.stdout


def test_bad_arguments(tmp_path):
    bad = nasfast("reproduce", "gates-nb101", "--configs", "gates+nope", "--out", str(tmp_path), check=False)
    assert bad.returncode == 2 and "gates+nope" in bad.stderr
    bad = nasfast("reproduce", "gates-nb201", "--quick", "--counts", "150", "--out", str(tmp_path), check=False)
    assert bad.returncode == 2 and "percentages" in bad.stderr and "150" in bad.stderr
    bad = nasfast("reproduce", "gates-nb101", "--quick", "--counts", "30000", "--out", str(tmp_path), check=False)
    assert bad.returncode == 2 and "30000" in bad.stderr and not (tmp_path / "results.csv").exists()
    bad = nasfast("reproduce", "gates-nb101", "--report-only", "--out", str(tmp_path), check=False)
    assert bad.returncode == 2 and "no gates-nb101 rows" in bad.stderr
    # an option the experiment would ignore is refused before anything runs
    for argv, opt in ((["gates-nb101", "--budget", "5"], "--budget"), (["landmark-nb201", "--device", "cuda"], "--device"),
                      (["proxybo-nb201", "--threads", "1"], "--threads")):
        bad = nasfast("reproduce", *argv, "--out", str(tmp_path / "x"), check=False)
        assert bad.returncode == 2 and f"{opt} does not apply to reproduce {argv[0]}" in bad.stderr
        assert not (tmp_path / "x").exists()
    # counts are positive: 0 once passed as "not given" (0 == False) and nosh wrote a "0 seeds" table
    for argv, opt in ((["nosh-nb201", "--quick", "--seeds", "0"], "--seeds"),
                      (["proxybo-nb201", "--workers", "0"], "--workers"),
                      (["proxies-nb201", "--limit", "0"], "--limit")):
        bad = nasfast("reproduce", *argv, "--out", str(tmp_path / "x"), check=False)
        assert bad.returncode == 2 and f"{opt}: expected a positive integer, got 0" in bad.stderr
        assert not (tmp_path / "x").exists()


def test_results_of_another_experiment_are_refused(tmp_path):
    log = report.ResultsLog(tmp_path / "results.csv", "gates-nb201")
    log.append({k: 0 for k in report.FIELDS if k != "experiment"} | {"variant": "quick", "config": "gates+hinge",
                                                                        "count": "1"})
    with pytest.raises(ValueError, match="gates-nb201"):
        report.ResultsLog(tmp_path / "results.csv", "gates-nb101")
    assert report.ResultsLog(tmp_path / "results.csv", "gates-nb201").done() == {("quick", "gates+hinge", "1", 0, 0)}


def test_splits_are_fixed_disjoint_and_nested():
    s101 = GATES_NB101.make_split()
    assert len(s101.test) == 5000 and len(s101.pool) == 30001 - 5000
    assert not set(s101.test) & set(s101.pool)
    assert np.array_equal(s101.test, GATES_NB101.make_split().test)  # fixed by the split seed
    small, large = s101.train_rows(190, 1), s101.train_rows(381, 1)
    assert np.array_equal(small, large[:190])  # nested within a seed
    assert not np.array_equal(small, s101.train_rows(190, 2))
    s201 = GATES_NB201.make_split()
    assert len(s201.pool) == 7813 and len(s201.test) == 7812
    assert sorted(np.concatenate([s201.pool, s201.test]).tolist()) == list(range(15625))
    # percentages of the half, truncated as aw_nas's train_ratio (A1.1)
    assert [GATES_NB201.n_train(p, 7813) for p in (1, 10, 50, 100)] == [78, 781, 3906, 7813]
    assert sorted(reproduce.EXPERIMENTS) == ["gates-nb101", "gates-nb201"]


def test_reproduce_proxies_nb201_quick(tmp_path):
    from nasfast.reproduce import proxies

    summary = proxies.run(tmp_path, quick=True, limit=6, progress=False, echo=lambda s: None)
    table = (tmp_path / "table.md").read_text()
    assert "published abs(rho)" in table and "synflow" in table
    rows = {(r["dataset"], r["proxy"]): r for r in summary["rows"]}
    assert rows[("cifar10", "synflow")]["published"] == 0.737  # REFERENCES A5.3
    assert rows[("cifar10", "snip")]["n"] + rows[("cifar10", "snip")]["nan"] == 6
    # rerun: nothing left to compute
    lines = []
    proxies.run(tmp_path, quick=True, limit=6, progress=False, echo=lines.append)
    assert any("nb201_cifar10: 0 archs computed" in s for s in lines)


def test_reproduce_proxybo_nb201_quick_resumes(tmp_path):
    from nasfast.reproduce import proxybo

    summary = proxybo.run(tmp_path, quick=True, budget=8, workers=2, progress=False, echo=lambda s: None)
    cell = summary["cells"]["proxybo/cifar10"]
    assert cell["valid_regret"]["n"] == 2 and cell["valid_regret"]["mean"] >= 0
    assert cell["best_test_error_seen"]["mean"] <= cell["incumbent_test_error"]["mean"] + 1e-9
    text = (tmp_path / "table.md").read_text()
    assert "8.56 ± .10" in text  # Shen et al. Table 2, ProxyBO cifar10
    assert "| cifar10 | proxybo | " in text.split("Evaluations until")[1]  # the Table 3 section
    curves = [json.loads(line) for line in (tmp_path / "curves.jsonl").read_text().splitlines()]
    assert len(curves) == 12 and all(len(c["curve"]) == 8 for c in curves)  # 6 quick methods x 2 seeds
    assert all(np.all(np.diff(c["curve"]) >= 0) for c in curves)  # best-so-far never falls
    reach = summary["evals_to_rea"]["rea-s3/cifar10/rea-s3"]
    assert reach["evals"] is not None and reach["evals"] <= 8  # REA reaches its own final mean by its end
    assert (tmp_path / "curves.png").stat().st_size > 0
    assert (tmp_path / "weights-cifar10" / "proxybo_weights.csv").exists()
    lines = []
    proxybo.run(tmp_path, quick=True, budget=8, progress=False, echo=lines.append)
    assert lines[0].startswith("proxybo-nb201: 0 run(s) to do")
    with pytest.raises(ValueError, match="unknown method 'ga'"):
        proxybo.run(tmp_path, quick=True, methods=["ga"], echo=lambda s: None)


def test_reproduce_proxybo_resumes_after_a_kill_before_its_first_row(tmp_path):
    from nasfast.reproduce import proxybo

    (tmp_path / "results.csv").write_bytes(b"")  # what a kill during the first search leaves
    proxybo.run(tmp_path, quick=True, budget=6, seeds=1, methods=["rs"], progress=False, echo=lambda s: None)
    with open(tmp_path / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["method"], r["seed"]) for r in rows] == [("rs", "0")]


def test_reproduce_proxybo_negated_proxies_order_the_space_backwards():
    import numpy as np

    from nasfast.reproduce import proxybo

    plain, negated = proxybo.make_strategy("proxybo", 0), proxybo.make_strategy("proxybo-negated", 0)
    assert negated.proxies == plain.proxies and negated.name == "proxybo"
    for name in plain.proxies:
        a, b = plain.table.column(name), negated.table.column(name)
        assert np.array_equal(np.isnan(a), np.isnan(b)) and np.array_equal(a[~np.isnan(a)], -b[~np.isnan(b)])


def test_reproduce_proxybo_random_proxies_are_uninformative_and_fresh_per_seed():
    import numpy as np
    from scipy.stats import spearmanr

    from nasfast.reproduce import proxybo

    plain = proxybo.make_strategy("proxybo", 0)
    r0, r0b, r1 = (proxybo.make_strategy("proxybo-random", s) for s in (0, 0, 1))
    assert r0.proxies == plain.proxies and r0.name == "proxybo"
    for name in plain.proxies:
        a, b = plain.table.column(name), r0.table.column(name)
        known = ~np.isnan(a)
        assert np.array_equal(np.isnan(b), ~known)  # the no-path archs stay NaN (ranked last)
        assert abs(spearmanr(a[known], b[known]).statistic) < 0.05  # no ranking signal left
        assert np.array_equal(b, r0b.table.column(name), equal_nan=True)  # a seed reproduces its proxies
        assert not np.allclose(b[known], r1.table.column(name)[known])  # another seed draws new ones
    assert not np.allclose(r0.table.column("snip")[known], r0.table.column("synflow")[known])

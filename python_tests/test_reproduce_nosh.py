"""``nasfast.reproduce.nosh``: a quick run writes its files, a rerun skips finished rows, and the
table carries the paper's numbers (RANK-NOSH Table 2, as cited in issue 7; the RS / REA rows from
../shared/notes/nb201-baselines.md §3, cited where they are checked) and the fidelity note."""

from __future__ import annotations

import csv
import json
import math

import pytest

from nasfast.reproduce import nosh

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def quick_out(tmp_path_factory, one_thread):
    out = tmp_path_factory.mktemp("nosh")
    lines: list[str] = []
    summary = nosh.run(out, quick=True, echo=lines.append)
    return out, summary, lines


def _rows(out):
    with open(out / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_quick_run_writes_every_file(quick_out):
    out, summary, lines = quick_out
    for name in ("results.csv", "table.md", "summary.json", "budget.png"):
        assert (out / name).stat().st_size > 0
    rows = _rows(out)
    assert len(rows) == len(nosh.METHODS) * 2  # 2 seeds, cifar10 only (quick: baselines on the same seeds)
    assert {r["dataset"] for r in rows} == {"cifar10"} and {r["mode"] for r in rows} == {"quick"}
    by = {(r["method"], int(r["seed"])): r for r in rows}
    assert all(math.isfinite(float(r["test_acc"])) and 80 < float(r["valid_acc"]) < 100 for r in rows)
    # charged the fidelity observed (RANK-NOSH Table 2's budgets: 1,200 = 100 x 12 on C10): rs / rea observe
    # the 12-epoch table on C10 (arch2vec's rule), rea-full the 200-epoch one (issue 7's yardstick)
    assert int(by["rs", 0]["epochs"]) == int(by["rea", 0]["epochs"]) == nosh.QUICK["full_archs"] * 12
    assert int(by["rea-full", 0]["epochs"]) == nosh.QUICK["full_archs"] * 200
    assert summary["acceptance"]["cifar10"]["rea_budget"] == nosh.QUICK["full_archs"] * 200
    # quick pool 60: 20 archs to 12 epochs, then ceil(r x 20) on to 200 (nosh_budget, cumulative rounding):
    # 3 at our NB201 r = 0.15, 10 at the paper's r = 1/2
    assert int(by["rank-nosh", 0]["epochs"]) == nosh.nosh_budget((12, 200), 60, ratio=0.15) == 20 * 12 + 3 * 188
    assert int(by["rank-nosh-paper", 0]["epochs"]) == nosh.nosh_budget((12, 200), 60) == 20 * 12 + 10 * 188
    for same in ("nosh-no-level0", "sh"):  # the ablations train the same archs as far
        assert int(by[same, 0]["epochs"]) == 20 * 12 + 3 * 188
    assert float(by["rank-nosh", 0]["ranker_s"]) > 0 and float(by["nosh-no-ranker", 0]["ranker_s"]) == 0
    assert int(by["hyperband", 0]["epochs"]) <= nosh.nosh_budget((12, 200), 60)
    saved = json.loads((out / "summary.json").read_text())
    assert saved["cells"]["cifar10"]["rank-nosh"]["test_acc"]["n"] == 2
    printed = "\n".join(lines)  # the printed table carries the acceptance lines and the fidelity note
    assert "cifar10" in summary["acceptance"] and "acceptance nb201 cifar10" in printed
    assert "E = (12, 200)" in printed


def test_default_nb201_budget_matches_the_issue_schedule():
    assert nosh.nosh_budget((12, 200), 300) == 100 * 12 + 50 * 188  # 10,600
    assert nosh.nosh_budget((1, 2, 3, 12), 300) == 292  # RANK-NOSH Table 2, C10
    assert nosh.nosh_budget((10, 50, 100, 200), 300) == 5550  # Table 2, C100 / IN16
    # our NB201 row: M = 450, r = 0.15 -> 150 x 12 + 23 x 188 = 6,124 <= 20,000 / 3
    args = nosh.NOSH_ARGS["nb201"]
    assert nosh.nosh_budget((12, 200), args["pool_size"], ratio=args["ratio"]) == 6124 <= 20000 / 3
    # NB101 at the paper's settings: 100 x 4 + 50 x 8 + 25 x 24 + 13 x 72 = 2,336 <= 10,800 / 3
    args = nosh.NOSH_ARGS["nb101"]
    assert nosh.nosh_budget((4, 12, 36, 108), args["pool_size"], ratio=args["ratio"]) == 2336 <= 10800 / 3
    # RANK-NOSH Table 7 budgets at M = 300 on E = (10, 50, 100, 200) (nosh.py our choice 1)
    for key, (budget, _) in nosh.PAPER_TABLE7.items():
        variant = nosh.parse_variant(f"rank-nosh[{key}]")[1]
        E, r = variant.get("schedule", (10, 50, 100, 200)), variant.get("ratio", 0.5)
        assert nosh.nosh_budget(E, 300, ratio=r) == budget, key


def test_variants_parse_and_run(tmp_path):
    assert nosh.parse_variant("rank-nosh[r=0.3,E=4-36-108,M=90,prior=params]") == (
        "rank-nosh", {"ratio": 0.3, "schedule": (4, 36, 108), "pool_size": 90, "prior": "params"})
    assert nosh.parse_variant("rea") == ("rea", {})
    assert nosh.parse_variant("rank-nosh[ranker=arch2vec,M=450]") == ("rank-nosh", {"ranker": "arch2vec", "pool_size": 450})
    for bad in ("rank-nosh[q=1]", "rank-nosh[r=x]", "sh[r=0.3]", "rank-nosh[r]"):
        with pytest.raises(ValueError):
            nosh.parse_variant(bad)
    with pytest.raises(ValueError, match="method"):
        nosh.run(tmp_path / "bad", quick=True, methods=["rank-nosh[q=1]"])
    summary = nosh.run(tmp_path / "v", quick=True, seeds=1, methods=["rea"], sweep=True, progress=False,
                       echo=lambda s: None)
    rows = _rows(tmp_path / "v")
    assert {r["method"] for r in rows} == {"rea", *nosh.SWEEPS["nb201"]}
    by = {r["method"]: int(r["epochs"]) for r in rows}
    for r in (0.3, 0.5, 0.7):  # quick pool 60: 20 to 12 epochs, ceil(r x 20) on to 200
        assert by[f"rank-nosh[r={r},M=300]"] == 20 * 12 + math.ceil(r * 20) * 188
    # a prior variant keeps the rank-nosh row's r = 0.15
    assert by["rank-nosh[prior=params]"] == nosh.nosh_budget((12, 200), 60, ratio=0.15) == 20 * 12 + 3 * 188
    text = (tmp_path / "v" / "table.md").read_text()
    assert "## Table 7" in text and "9,750 / 91.58" in text and summary["cells"]["cifar10"]["rank-nosh[r=0.3,M=300]"]


def test_baselines_run_on_more_seeds(tmp_path):
    nosh.run(tmp_path, quick=True, seeds=1, methods=["rs", "sh"], baseline_seeds=3, progress=False,
             echo=lambda s: None)
    rows = _rows(tmp_path)
    assert sorted((r["method"], int(r["seed"])) for r in rows) == [("rs", 0), ("rs", 1), ("rs", 2), ("sh", 0)]


def test_table_has_the_paper_numbers_and_the_fidelity_note(quick_out):
    text = (quick_out[0] / "table.md").read_text()
    for number in ("91.4 / 94.26 @ 292",  # RANK-NOSH Table 2, NB201 cifar10 (valid / test @ epochs)
                   "90.91 / 93.69", "91.04 / 93.81",  # published RS / REA rows, notes/nb201-baselines.md §3
                   "90.93 / 93.72", "91.13 / 93.93"):  # the notes' 100-seed RS / REA re-simulation (§3)
        assert number in text
    assert "E = (12, 200)" in text and "Quick mode" in text
    full = nosh.markdown(nosh.aggregate([], "nb201", "full", list(nosh.DATASETS["nb201"]), nosh.METHODS, 10))
    for number in ("73.49 / 73.51 @ 5,550", "46.37 / 46.34 @ 5,550",  # RANK-NOSH Table 2, C100 / IN16
                   "71.28 / 71.32", "45.12 / 45.15",  # the notes' RS re-simulation (§3)
                   "72.31 / 72.30", "45.78 / 45.79"):  # and REA
        assert number in full


def test_rerun_skips_finished_rows(quick_out, monkeypatch):
    out, _, _ = quick_out
    before = (out / "results.csv").read_text()
    calls = []
    monkeypatch.setattr(nosh, "run_one", lambda *a, **k: calls.append(a) or pytest.fail("rerun ran a finished row"))
    nosh.run(out, quick=True, progress=False)
    assert not calls and (out / "results.csv").read_text() == before
    # one more seed: only its rows run
    monkeypatch.undo()
    nosh.run(out, quick=True, seeds=[0, 1, 2], methods=["rs", "sh"], progress=False)
    rows = _rows(out)
    assert len(rows) == len(nosh.METHODS) * 2 + 2
    assert sorted((r["method"], r["seed"]) for r in rows if r["seed"] == "2") == [("rs", "2"), ("sh", "2")]


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="space"):
        nosh.run(tmp_path / "a", space="nb301")
    with pytest.raises(ValueError, match="dataset"):
        nosh.run(tmp_path / "b", quick=True, datasets=["svhn"])
    with pytest.raises(ValueError, match="method"):
        nosh.run(tmp_path / "c", quick=True, methods=["bo"])
    assert not any(tmp_path.iterdir())  # nothing written before the arguments are checked

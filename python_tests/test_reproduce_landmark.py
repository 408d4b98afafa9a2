"""``nasfast.reproduce.landmark`` (issue 8's reproduction): the quick run end to end, its files, resuming, and the
paper's Table 1 NB201 numbers (landmark-regularization-cvpr2021.md: SPOS S-KdT 0.771 -> 0.802, mean acc
87.66 -> 92.08) in table.md."""

from __future__ import annotations

import csv
import json

import pytest

from nasfast.reproduce import landmark

pytestmark = pytest.mark.usefixtures("one_thread")


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def quick_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("landmark")
    lines: list[str] = []
    summary = landmark.run(out, quick=True, progress=False, echo=lines.append)
    return out, summary, lines


def test_quick_run_writes_every_file(quick_out):
    out, summary, lines = quick_out
    for name in ("results.csv", "curves.csv", "table.md", "summary.json", "skdt.png"):
        assert (out / name).stat().st_size > 0, name
    assert json.loads((out / "summary.json").read_text())["settings"]["seeds"] == [0, 1]
    assert summary["settings"]["full_cifar10"] is False
    assert any("run(s) to do" in line for line in lines)


def test_one_row_per_variant_and_seed(quick_out):
    out, _, _ = quick_out
    got = rows(out / "results.csv")
    assert sorted((r["variant"], int(r["seed"])) for r in got) == [
        ("spos", 0), ("spos", 1), ("spos+landmarks", 0), ("spos+landmarks", 1)]
    setup = landmark._with_protocol(landmark.QUICK, "paper", quick=True)  # the default protocol
    assert {r["config"] for r in got} == {setup.tag}
    # paper protocol: 3 rounds; the landmark runs end with their first landmarks plus the searches' additions
    assert setup.rounds == 3 and setup.landmark_method == "hamming"
    for r in got:
        n = int(r["landmarks"])
        assert n == setup.num_landmarks if r["variant"] == "spos" else \
            setup.num_landmarks < n <= setup.num_landmarks + (setup.rounds - 1) * setup.add_top_k
    curves = rows(out / "curves.csv")
    assert len(curves) == 4 * setup.epochs  # every epoch of every run (across rounds), S-KdT each epoch
    assert all(c["skdt"] != "" for c in curves)
    # lambda is 0 without landmarks, > 0 after the warm-up with them
    lam = {(c["variant"], int(c["epoch"])): float(c["lambda"]) for c in curves}
    assert lam[("spos", 1)] == 0 and lam[("spos+landmarks", 0)] == 0 and lam[("spos+landmarks", 1)] > 0


def test_rerun_skips_finished_rows(quick_out, monkeypatch):
    out, _, _ = quick_out
    before = (out / "results.csv").read_text()

    def fail(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(landmark, "run_one", fail)
    lines: list[str] = []
    landmark.run(out, quick=True, progress=False, echo=lines.append)
    assert (out / "results.csv").read_text() == before
    assert "0 run(s) to do, 4 already" in lines[0]


def test_table_cites_the_paper(quick_out):
    out, _, _ = quick_out
    table = (out / "table.md").read_text()
    for number in ("0.771", "0.802", "87.66", "92.08"):
        assert number in table
    assert "landmark-regularization-cvpr2021.md" in table and "Table 1" in table
    assert "Full CIFAR-10 is not available" in table
    assert f"C = {landmark.QUICK.channels}, N = {landmark.QUICK.cells}" in table


def test_paper_schedule_rows_are_kept_apart(tmp_path):
    from nasfast.reproduce import landmark

    summary = landmark.run(tmp_path, quick=True, seeds=1, schedule="paper", progress=False, echo=lambda s: None)
    assert "schedule `paper`" in (tmp_path / "table.md").read_text()
    assert summary is not None
    with pytest.raises(ValueError, match="schedule must be"):
        landmark.run(tmp_path, quick=True, seeds=1, schedule="cosine", echo=lambda s: None)


def test_table_reports_the_pick_in_the_papers_metric(quick_out):
    """Table 1's Mean / Best Acc. are CIFAR-10 test accuracies: its Best Rank values are ranks in that column."""
    from nasfast import tabular

    assert [landmark._rank(a) for a in (92.30, 92.53)] == [3381, 2563]  # paper: 3383, 2557
    out, summary, _ = quick_out
    got = rows(out / "results.csv")
    bench = tabular.load("nb201")
    for variant in landmark.VARIANTS:
        archs = [r["found_arch"] for r in got if r["variant"] == variant]
        cell = summary["cells"][variant]
        assert cell["found_test_acc"] == pytest.approx(bench.query(archs, "cifar10/acc/test/200ep").mean())
        assert cell["best_test_rank"] == landmark._rank(cell["best_test_acc"])
    assert "`cifar10/acc/test/200ep`" in (out / "table.md").read_text()
    assert all(r["config"].endswith(landmark.TRAINER_VERSION) for r in got)


def test_reference_protocol_is_one_round_of_random_landmarks(tmp_path):
    lines: list[str] = []
    landmark.run(tmp_path, quick=True, seeds=[0], protocol="reference", progress=False, echo=lines.append)
    got = rows(tmp_path / "results.csv")
    assert {r["config"] for r in got} == {landmark.QUICK.tag}  # the tag of the earlier (reference) tables
    assert {int(r["landmarks"]) for r in got} == {landmark.QUICK.num_landmarks}
    assert "random, one round (the reference's script" in (tmp_path / "table.md").read_text()
    with pytest.raises(ValueError, match="landmark protocol must be one of"):
        landmark.run(tmp_path, quick=True, protocol="both", progress=False, echo=lines.append)
    with pytest.raises(ValueError, match="epochs 4 must split into the protocol's 3 equal rounds"):
        landmark.run(tmp_path, quick=True, epochs=4, progress=False, echo=lines.append)

"""Multi-fidelity run directories: every result is written as it arrives, a killed run resumes to
the same answer as an uninterrupted one, and ``nasfast search --algo rank-nosh | sh | hyperband``
drives it."""

from __future__ import annotations

import csv
import fcntl
import json

import pytest

from nasfast import tabular
from nasfast.cli import main
from nasfast.search import ResumeError, RunDirectoryInUse, SpaceExhausted
from nasfast.search.multifidelity import MultiFidelityEvaluator, SuccessiveHalving
from nasfast.search.multifidelity_runner import MF_HISTORY_FIELDS, run_multifidelity_search
from nasfast.search.nosh import RankNOSH
from nasfast.spaces import nb201

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = dict(op_dim=4, node_dim=4, hid_dim=4, layers=(4,), mlp_hidden=(4,), epochs=2, num_references=4)


def _nosh(seed=0):
    return RankNOSH(nb201, seed, pool_size=30, k_init=12, k=9, ranker_config=TINY, proposal_sample=500)


def _ev(seed=0):
    return MultiFidelityEvaluator(tabular.load("nb201"), "cifar10", observe="random-seed", seed=seed)


def _rows(path):
    with open(path / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("make", [_nosh, lambda: SuccessiveHalving(nb201, 3, n=16)], ids=["rank-nosh", "sh"])
def test_a_killed_run_resumes_to_the_uninterrupted_result(tmp_path, make):
    full = run_multifidelity_search(make(), _ev(), tmp_path / "full", progress=False)
    rows = _rows(tmp_path / "full")
    assert tuple(rows[0]) == MF_HISTORY_FIELDS and len(rows) == full["results"]
    assert int(rows[-1]["epochs_used"]) == full["epochs"]
    # a crash after 7 results, mid-way through writing the 8th line
    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / "config.json").write_text((tmp_path / "full" / "config.json").read_text())
    lines = (tmp_path / "full" / "history.csv").read_text().splitlines(keepends=True)
    (cut / "history.csv").write_text("".join(lines[:8]) + lines[8][:20])
    with pytest.raises(FileExistsError, match="resume"):
        run_multifidelity_search(make(), _ev(), cut, progress=False)
    resumed = run_multifidelity_search(make(), _ev(), cut, resume=True, progress=False)
    assert resumed["resumed_at_step"] == 7
    assert (cut / "history.csv").read_text() == (tmp_path / "full" / "history.csv").read_text()
    for key in ("best_arch", "best_valid_acc", "best_test_acc", "epochs", "results"):
        assert resumed[key] == full[key]
    assert json.loads((cut / "result.json").read_text())["best_arch"] == full["best_arch"]
    assert (cut / "trajectory.png").stat().st_size > 0


def test_a_run_that_failed_before_its_first_result_can_be_started_again(tmp_path):
    class Broken(MultiFidelityEvaluator):
        def __call__(self, request):
            raise RuntimeError("evaluator down")

    broken = Broken(tabular.load("nb201"), "cifar10", observe="random-seed", seed=0)
    with pytest.raises(RuntimeError, match="evaluator down"):
        run_multifidelity_search(SuccessiveHalving(nb201, 0, n=8), broken, tmp_path / "run", progress=False)
    assert {p.name for p in (tmp_path / "run").iterdir()} <= {"config.json", "history.csv", ".lock"}
    again = run_multifidelity_search(SuccessiveHalving(nb201, 0, n=8), _ev(), tmp_path / "run", progress=False)
    fresh = run_multifidelity_search(SuccessiveHalving(nb201, 0, n=8), _ev(), tmp_path / "fresh", progress=False)
    assert again["resumed_at_step"] is None and again["best_arch"] == fresh["best_arch"]
    assert (tmp_path / "run" / "history.csv").read_text() == (tmp_path / "fresh" / "history.csv").read_text()
    # a single-fidelity search's leftovers are not this runner's to remove
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"strategy": {}, "evaluator": {}, "history_columns": ["step"]}))
    with pytest.raises(FileExistsError, match="not empty"):
        run_multifidelity_search(SuccessiveHalving(nb201, 0, n=8), _ev(), other, progress=False)
    assert [p.name for p in other.iterdir()] == ["config.json"]


def test_a_run_directory_in_use_is_refused(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / ".lock").touch()
    with open(run / ".lock", "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a search running there holds it
        with pytest.raises(RunDirectoryInUse, match="is in use by another search"):
            run_multifidelity_search(SuccessiveHalving(nb201, 0, n=8), _ev(), run, progress=False)
    assert [p.name for p in run.iterdir()] == [".lock"]
    assert run_multifidelity_search(SuccessiveHalving(nb201, 0, n=8), _ev(), run, progress=False)["results"] == 12


def test_a_schedule_the_evaluator_cannot_answer_is_refused_before_any_evaluation(tmp_path):
    from nasfast.search.multifidelity import run_multifidelity

    ev = _ev()
    with pytest.raises(ValueError, match=r"schedule \[12, 100\] asks for \[100\] epochs.*\[12, 200\]"):
        run_multifidelity_search(SuccessiveHalving(nb201, 0, schedule=(12, 100), n=20), ev, tmp_path / "r",
                                 progress=False)
    with pytest.raises(ValueError, match=r"asks for \[100\] epochs"):
        run_multifidelity(SuccessiveHalving(nb201, 0, schedule=(12, 100), n=20), ev)
    assert ev.evaluations == 0 and not (tmp_path / "r").exists()


def test_resume_refuses_another_config_or_a_diverging_history(tmp_path):
    run_multifidelity_search(SuccessiveHalving(nb201, 0, n=8), _ev(), tmp_path, progress=False)
    with pytest.raises(ResumeError, match="strategy config"):
        run_multifidelity_search(SuccessiveHalving(nb201, 1, n=8), _ev(), tmp_path, resume=True, progress=False)
    text = (tmp_path / "history.csv").read_text().splitlines(keepends=True)
    first = text[1].split(",")
    first[1] = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    (tmp_path / "history.csv").write_text(text[0] + ",".join(first) + "".join(text[2:]))
    with pytest.raises(ResumeError, match="diverged at step 1"):
        run_multifidelity_search(SuccessiveHalving(nb201, 0, n=8), _ev(), tmp_path, resume=True, progress=False)


def test_cli_multifidelity_search_and_resume(tmp_path, capsys):
    out = tmp_path / "sh"
    assert main(["search", "--algo", "sh", "--archs", "8", "--ratio", "0.25", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert f"epochs charged:      {8 * 12 + 2 * 188} (10 results)" in printed  # 8 at 12 epochs, 2 on to 200
    # the search observed one seed's run: the printed value says so, beside the column's seed mean
    result = json.loads((out / "result.json").read_text())
    mean = tabular.load("nb201").query([result["best_arch"]], "cifar10-valid/acc/valid/200ep")[0]
    assert f"(one seed of cifar10-valid/acc/valid/200ep, observed at 200 epochs; the column's seed mean: {mean:.2f} %)" \
        in printed and result["best_valid_acc"] != mean
    before = (out / "history.csv").read_text()
    (out / "history.csv").write_text("".join(before.splitlines(keepends=True)[:4]))
    assert main(["search", "--resume", "--out", str(out), "--no-progress"]) == 0  # the algo comes from config.json
    assert (out / "history.csv").read_text() == before
    for argv, message in ((["--algo", "sh", "--budget", "5"], "--budget does not apply"),
                          (["--algo", "rea", "--ratio", "0.3"], "--ratio applies to"),
                          (["--algo", "sh", "--space", "nb301"], "nb201 or nb101"),
                          (["--algo", "hyperband", "--pool-size", "9"], "--pool-size applies to"),
                          (["--algo", "sh", "--ranker", "arch2vec"], "--ranker applies to"),
                          (["--algo", "sh", "--archs", "20000"], "n=20000 exceeds the 15625 candidates")):
        assert main(["search", *argv, "--out", str(tmp_path / "x"), "--no-progress"]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


class _NoValidation:
    """An evaluator whose top fidelity never returns a finite validation accuracy."""

    def __init__(self):
        self.inner = _ev()

    def __call__(self, request):
        res = self.inner(request)
        return type(res)(valid_acc=float("nan"), test_acc=res.test_acc, cost=res.cost) if request.epochs == 200 else res

    def config(self):
        return self.inner.config()


def test_no_incumbent_warns_and_result_json_stays_valid_json(tmp_path, monkeypatch):
    from nasfast.search import multifidelity_runner

    labels = []
    monkeypatch.setattr(multifidelity_runner, "_plot", lambda curve, path, title, ylabel: labels.append(ylabel))
    with pytest.warns(RuntimeWarning, match="no best architecture"):
        result = run_multifidelity_search(SuccessiveHalving(nb201, 3, n=8), _NoValidation(), tmp_path / "r",
                                          progress=False)
    text = (tmp_path / "r" / "result.json").read_text()
    saved = json.loads(text, parse_constant=lambda c: pytest.fail(f"result.json holds {c}, which is not JSON"))
    assert result["best_arch"] is None and saved["best_valid_acc"] is None and "warning" in saved
    # the plot says which accuracy it follows: the top fidelity's test column on the NB201 table
    assert labels == ["incumbent's test accuracy (%)\ncifar10/acc/test/200ep"]


def test_cli_multifidelity_search_without_incumbent_exits_1(tmp_path, capsys, monkeypatch):
    from nasfast.search import multifidelity

    monkeypatch.setattr(multifidelity.MultiFidelityEvaluator, "__call__",
                        lambda self, req: multifidelity.Result(float("nan"), float("nan"), 1.0))
    code = main(["search", "--algo", "sh", "--space", "nb201", "--out", str(tmp_path / "r"), "--no-progress"])
    assert code == 1
    err = capsys.readouterr().err
    assert err.count("no best architecture") == 1  # said once, by the command (not again as a warning)


def test_cli_reports_running_out_of_candidates_as_a_user_error(tmp_path, capsys, monkeypatch):
    from nasfast.search import multifidelity

    def exhausted(self, n, exclude):
        raise SpaceExhausted(f"{self.name}: asked for {n} new archs, only 3 are left")

    monkeypatch.setattr(multifidelity.MultiFidelityStrategy, "random_new", exhausted)
    assert main(["search", "--algo", "sh", "--out", str(tmp_path / "r"), "--no-progress"]) == 2
    assert capsys.readouterr().err.strip() == "nasfast search: error: sh: asked for 100 new archs, only 3 are left"

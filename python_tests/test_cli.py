"""``nasfast`` command line, run as ``python -m nasfast`` in a subprocess (works before installing)."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_runner import nasfast, subprocess_env

from nasfast.search import read_history


def history(run: Path) -> list[dict[str, str]]:
    with open(run / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_search_end_to_end(tmp_path):
    run = tmp_path / "run"
    proc = nasfast("search", "--space", "nb201", "--dataset", "cifar100", "--algo", "rea", "--budget", "25",
                   "--seed", "1", "--out", str(run), "--population", "5", "--tournament", "2")
    assert {p.name for p in run.iterdir()} == {"config.json", "history.csv", "result.json", "trajectory.png", ".lock"}
    rows = history(run)
    assert [int(r["step"]) for r in rows] == list(range(1, 26))
    assert len({r["arch"] for r in rows}) == 25
    result = json.loads((run / "result.json").read_text())
    assert result["best_arch"] == rows[-1]["incumbent_arch"]
    assert result["columns"]["valid"] == "c100_valid_acc" and result["report_rule"] == "incumbent"
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["strategy"]["population"] == 5 and cfg["strategy"]["tournament"] == 2
    assert result["best_arch"] in proc.stdout and str(run) in proc.stdout
    assert f"{result['best_test_acc']:.2f}" in proc.stdout


def test_default_out_and_best_test_seen(tmp_path):
    proc = nasfast("search", "--algo", "random", "--budget", "10", "--report-rule", "best-test-seen",
                   "--no-progress", cwd=tmp_path)
    run = tmp_path / "runs" / "nb201-cifar10-random-seed0"
    assert run.is_dir() and "best-test-seen" in proc.stdout
    assert json.loads((run / "result.json").read_text())["report_rule"] == "best-test-seen"


def test_errors_are_clear(tmp_path):
    p = nasfast("search", "--dataset", "mnist", "--out", str(tmp_path / "x"), check=False)
    assert p.returncode == 2 and "invalid choice: 'mnist'" in p.stderr and "ImageNet16-120" in p.stderr
    p = nasfast("search", "--algo", "nope", "--out", str(tmp_path / "x"), check=False)
    assert p.returncode == 2 and "'random'" in p.stderr and "'proxybo'" in p.stderr
    p = nasfast("search", "--budget", "20000", "--out", str(tmp_path / "x"), check=False)
    assert p.returncode == 2 and "budget 20000 exceeds the 15625" in p.stderr
    p = nasfast("search", "--algo", "random", "--population", "5", "--out", str(tmp_path / "x"), check=False)
    assert p.returncode == 2 and "--population applies to --algo rea only" in p.stderr
    run = tmp_path / "run"
    nasfast("search", "--budget", "5", "--out", str(run))
    p = nasfast("search", "--budget", "5", "--out", str(run), check=False)
    assert p.returncode == 2 and "not empty" in p.stderr and "--resume" in p.stderr
    p = nasfast("search", "--budget", "5", "--out", str(run), "--resume", "--seed", "9", check=False)
    assert p.returncode == 2 and "--seed 9 disagrees" in p.stderr


def test_info():
    out = nasfast("info", "--benchmark", "nb201").stdout
    assert "nb201: 15625 architectures" in out
    assert "c10v_valid_acc / c10v_test_acc / c10v_train_time_total" in out
    assert "PROVENANCE" in out
    assert "rank-nosh" in out
    # --benchmark keeps to that table: its space and columns only
    out = nasfast("info", "--benchmark", "nb101").stdout
    assert "nb101: 423624 architectures" in out and "cifar10/acc/valid/108ep" in out
    assert "nb201:" not in out and "nb301" not in out and "c10v_valid_acc" not in out
    p = nasfast("info", "--benchmark", "nb999", check=False)
    assert p.returncode == 2 and "unknown benchmark 'nb999'" in p.stderr


def test_resume_after_sigkill_equals_uninterrupted(tmp_path):
    killed, full = tmp_path / "killed", tmp_path / "full"
    args = ["search", "--dataset", "ImageNet16-120", "--algo", "rea", "--budget", "150", "--seed", "5",
            "--no-progress"]
    # --eval-delay (hidden, for tests) makes the run slow enough to be killed midway
    proc = subprocess.Popen([sys.executable, "-m", "nasfast", *args, "--out", str(killed), "--eval-delay", "0.02"],
                            env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            path = killed / "history.csv"
            if path.exists() and path.read_text().count("\n") > 40:
                break
            if proc.poll() is not None:
                pytest.fail(f"run ended before it could be killed: {proc.stderr.read().decode()}")
            time.sleep(0.01)
        else:
            pytest.fail("history.csv never reached 40 rows")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    done = len(history(killed))
    assert 40 <= done < 150 and not (killed / "result.json").exists()
    # as if the kill had struck in the middle of a write
    with open(killed / "history.csv", "a") as f:
        f.write(f"{done + 1},|nor_conv_3x3~0|+|no")
    out = nasfast(*args, "--out", str(killed), "--resume").stdout
    nasfast(*args, "--out", str(full))
    got, want = history(killed), history(full)
    assert len(got) == 150 and len({r["arch"] for r in got}) == 150
    assert got == want  # every column of every row: arch, accuracies, costs, incumbent
    assert (killed / "history.csv").read_bytes() == (full / "history.csv").read_bytes()
    assert json.loads((killed / "result.json").read_text())["resumed_at_step"] == done
    assert want[-1]["incumbent_arch"] in out


def test_a_second_search_on_a_running_directory_is_refused(tmp_path):
    run = tmp_path / "run"
    args = ["search", "--algo", "rea", "--budget", "300", "--no-progress", "--out", str(run), "--resume"]
    # as `make search` run twice at once: the first is still evaluating (slowly, so that it is
    # sure to be, however slow the second is to start) when the second starts
    first = subprocess.Popen([sys.executable, "-m", "nasfast", *args, "--eval-delay", "0.3"],
                             env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not ((run / "history.csv").exists() and (run / "history.csv").read_text().count("\n") > 2):
            if first.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the first run ended or stalled before the test could start a second: {first.stderr.read()}")
            time.sleep(0.01)
        second = nasfast(*args, check=False)
        assert second.returncode == 2
        assert f"run directory {run} is in use by another search (pid {first.pid})" in second.stderr
    finally:
        first.kill()
        first.wait()
    steps = [r.step for r in read_history(run / "history.csv")]
    assert steps == list(range(1, len(steps) + 1))  # one writer: a clean history, still resumable
    nasfast(*args[:3], "--budget", str(len(steps) + 2), *args[5:])


def _write_table(path: Path, n: int = 120) -> list[int]:
    """A user table of n NB201 archs (by index) with canonical-name headers and a free-form cost."""
    import numpy as np

    from nasfast import tabular

    bench = tabular.load("nb201")
    idx = [int(i) for i in np.random.default_rng(0).choice(15625, n, replace=False)]
    with open(path, "w") as f:
        f.write("arch,cifar100/acc/valid/200ep,cifar100/acc/test/200ep,gpu_seconds\n")
        for i in idx:
            row = [bench.value(i, c) for c in ("c100_valid_acc", "c100_test_acc", "c100_train_time_total")]
            f.write(f"{i}," + ",".join(repr(v) for v in row) + "\n")
    return idx


def test_search_a_user_table_and_resume(tmp_path):
    from nasfast.spaces import nb201

    table = tmp_path / "mine.csv"
    idx = _write_table(table)
    args = ["search", "--table", str(table), "--dataset", "cifar100", "--cost-column", "gpu_seconds",
            "--seed", "2"]
    nasfast(*args, "--budget", "60", "--out", str(tmp_path / "a"))
    nasfast("search", "--out", str(tmp_path / "a"), "--budget", "120", "--resume")  # config.json has the rest
    nasfast(*args, "--budget", "120", "--out", str(tmp_path / "b"))
    rows = history(tmp_path / "a")
    assert rows == history(tmp_path / "b")
    assert {r["arch"] for r in rows} == {str(nb201.from_index(i)) for i in idx}  # only, and all, table archs
    cfg = json.loads((tmp_path / "a" / "config.json").read_text())
    assert cfg["evaluator"]["columns"] == {"valid": "cifar100/acc/valid/200ep", "test": "cifar100/acc/test/200ep",
                                           "cost": "gpu_seconds"}
    assert cfg["strategy"]["candidates"]["count"] == 120
    p = nasfast(*args, "--budget", "121", "--out", str(tmp_path / "c"), check=False)
    assert p.returncode == 2 and "budget 121 exceeds the 120 candidate archs" in p.stderr


def test_search_nb101_end_to_end(tmp_path):
    from nasfast import tabular
    from nasfast.search import get_space

    run = tmp_path / "run"
    proc = nasfast("search", "--space", "nb101", "--algo", "rea", "--budget", "30", "--seed", "3",
                   "--population", "6", "--out", str(run), "--no-progress")
    rows = history(run)
    assert len({r["arch"] for r in rows}) == 30
    bench, space = tabular.load("nb101"), get_space("nb101")
    assert all(bench.contains(r["arch"]) for r in rows)  # 32-hex fingerprints of table rows
    assert [float(r["valid_acc"]) for r in rows] == [bench.value(space.parse(r["arch"]), "cifar10/acc/valid/108ep")
                                                    for r in rows]
    assert {r["test_acc"] for r in rows} == {"nan"}
    result = json.loads((run / "result.json").read_text())
    assert result["best_arch"] == rows[-1]["incumbent_arch"] and result["best_test_acc"] is None
    assert result["test"] == "no test column in this table"
    assert result["columns"] == {"valid": "cifar10/acc/valid/108ep", "test": None, "cost": "cifar10/train_time/108ep"}
    assert "test accuracy:       none (no test column in this table)" in proc.stdout
    assert result["best_arch"] in proc.stdout
    p = nasfast("search", "--space", "nb101", "--dataset", "cifar100", "--out", str(tmp_path / "x"), check=False)
    assert p.returncode == 2 and "no cifar100 data" in p.stderr
    p = nasfast("search", "--space", "nb101", "--report-rule", "best-test-seen", "--out", str(tmp_path / "x"),
                check=False)
    assert p.returncode == 2 and "needs test accuracies" in p.stderr


def test_search_nb301_end_to_end_and_resume(tmp_path):
    from nasfast import tabular
    from nasfast.spaces import darts

    run, full = tmp_path / "run", tmp_path / "full"
    args = ["search", "--algo", "rea", "--seed", "1", "--no-progress"]
    proc = nasfast(*args, "--space", "darts", "--budget", "20", "--out", str(run))
    rows = history(run)
    genotypes = {str(g) for g in tabular.load("nb301").archs()}
    assert len({r["arch"] for r in rows}) == 20 and {r["arch"] for r in rows} <= genotypes
    assert all(str(darts.parse(r["arch"])) == r["arch"] for r in rows)
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["strategy"]["space"] == "nb301" and cfg["strategy"]["candidates"]["count"] == 725
    assert cfg["evaluator"]["columns"]["valid"] == "cifar10/surrogate_acc"
    result = json.loads((run / "result.json").read_text())
    assert any("surrogate prediction" in n for n in result["notes"]) and result["best_test_acc"] is None
    assert "surrogate prediction" in proc.stdout and "no test column in this table" in proc.stdout
    # the alias and the registered name are one space: resuming with either is allowed
    nasfast(*args, "--space", "nb301", "--budget", "45", "--out", str(run), "--resume")
    nasfast(*args, "--space", "darts", "--budget", "45", "--out", str(full))
    assert (run / "history.csv").read_bytes() == (full / "history.csv").read_bytes()


def test_resume_nb101_after_a_torn_write_equals_uninterrupted(tmp_path):
    cut, full = tmp_path / "cut", tmp_path / "full"
    args = ["search", "--space", "nb101", "--algo", "rea", "--budget", "40", "--seed", "7", "--no-progress"]
    nasfast(*args, "--out", str(cut))
    nasfast(*args, "--out", str(full))
    # as a SIGKILL in the middle of writing row 19 would leave the run: 18 rows, a torn one, no result
    lines = (cut / "history.csv").read_text().splitlines(keepends=True)
    (cut / "history.csv").write_text("".join(lines[:19]) + lines[19][:25])
    (cut / "result.json").unlink()
    out = nasfast("search", "--out", str(cut), "--resume").stdout  # config.json has the rest
    assert (cut / "history.csv").read_bytes() == (full / "history.csv").read_bytes()
    result = json.loads((cut / "result.json").read_text())
    assert result["resumed_at_step"] == 18 and result["best_test_acc"] is None
    assert result["best_arch"] == json.loads((full / "result.json").read_text())["best_arch"]
    assert result["best_arch"] in out


def test_reproduce_proxybo_one_dataset(tmp_path):
    out = tmp_path / "pbo"
    nasfast("reproduce", "proxybo-nb201", "--quick", "--budget", "6", "--seeds", "1", "--datasets", "ImageNet16-120",
            "--methods", "rs", "proxybo", "--no-progress", "--out", str(out))
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {(r["method"], r["dataset"]) for r in rows} == {("rs", "ImageNet16-120"), ("proxybo", "ImageNet16-120")}
    p = nasfast("reproduce", "proxybo-nb201", "--quick", "--datasets", "mnist", "--out", str(out), check=False)
    assert p.returncode != 0 and "unknown dataset 'mnist'" in p.stderr
    for opt in ("--seeds", "--budget"):  # 0 is refused, not read as "the default" (30 seeds)
        p = nasfast("reproduce", "proxybo-nb201", "--quick", opt, "0", "--out", str(out), check=False)
        assert p.returncode == 2 and f"{opt}: expected a positive integer, got 0" in p.stderr
    other = tmp_path / "other"
    other.mkdir()
    (other / "results.csv").write_text("config,count,tau\ngates+hinge,190,0.7\n")  # another experiment's
    p = nasfast("reproduce", "proxybo-nb201", "--quick", "--out", str(other), check=False)
    assert p.returncode == 2 and "not a proxybo-nb201 results file" in p.stderr


def test_ctrl_c_warnings_and_os_errors_are_one_line(monkeypatch, capsys, tmp_path):
    """What `cli.main` makes of an interrupt (exit 130, what was kept and how to go on), of warnings
    (one line each, once, without Python's source echo) and of an OSError (exit 2, the message)."""
    import warnings

    from nasfast import cli

    def interrupted(args):
        raise KeyboardInterrupt
    monkeypatch.setitem(cli._COMMANDS, "search", interrupted)
    assert cli.main(["search", "--out", str(tmp_path / "run")]) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"nasfast search: interrupted; the results so far are in {tmp_path / 'run'}/history.csv" in err
    assert "continue with the same command plus --resume" in err
    monkeypatch.setitem(cli._COMMANDS, "proxies", interrupted)
    assert cli.main(["proxies", "--sample", "2", "--out", str(tmp_path / "p.csv")]) == 130
    assert "the same command continues from them" in capsys.readouterr().err
    # reproduce without --out: the hint names the default directory the command chose
    import nasfast.reproduce

    monkeypatch.setattr(nasfast.reproduce, "run", lambda *a, **k: interrupted(None))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["reproduce", "gates-nb201", "--quick", "--no-progress"]) == 130
    assert "the rows so far are in runs/reproduce-gates-nb201-quick;" in capsys.readouterr().err

    def warns_twice(args):
        for _ in range(2):
            warnings.warn("proxy 'synflow' is unknown for 3 archs", UserWarning, stacklevel=1)
        return 0
    monkeypatch.setitem(cli._COMMANDS, "search", warns_twice)
    assert cli.main(["search", "--out", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    assert err == "nasfast search: warning: proxy 'synflow' is unknown for 3 archs\n"

    def unreadable(args):
        raise IsADirectoryError(21, "Is a directory", "adir")
    monkeypatch.setitem(cli._COMMANDS, "search", unreadable)
    assert cli.main(["search", "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err == "nasfast search: error: [Errno 21] Is a directory: 'adir'\n"


def test_resuming_a_table_run_whose_table_is_gone_says_so(tmp_path):
    table = tmp_path / "t.csv"
    with open(table, "w") as f:
        f.write("arch,acc\n")
        for i in range(0, 15625, 500):
            f.write(f"{i},{i / 200:.2f}\n")
    run = tmp_path / "run"
    nasfast("search", "--table", str(table), "--valid-column", "acc", "--budget", "5", "--out", str(run),
            "--no-progress")
    table.unlink()
    proc = nasfast("search", "--budget", "8", "--out", str(run), "--resume", "--no-progress", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"the run's table {table} (recorded in its config.json) no longer exists" in proc.stderr


def test_no_progress_bar_frames_in_a_log_file(tmp_path):
    """Progress bars are for terminals: with stderr redirected (here a pipe) they stay out of it."""
    proc = nasfast("train-predictor", "--space", "nb201", "--train-size", "60", "--epochs", "3", "--out",
                   str(tmp_path / "m.pt"))
    assert "fit:" not in proc.stderr and "\r" not in proc.stderr

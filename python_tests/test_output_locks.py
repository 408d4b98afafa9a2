"""``nasfast proxies`` and ``nasfast reproduce`` outputs: a second run on the same --out is refused
while the first holds it (``nasfast.output_lock``), a damaged results CSV is named ``path:line``, a
refused reproduce leaves no directory, and no progress bar is drawn when stderr is not a terminal."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import nasfast

from nasfast import reproduce
from nasfast.output_lock import OutputInUse, hold_output, lock_path
from nasfast.proxies.table import TableConfig, read_table, run_nb201_table
from nasfast.reproduce import landmark, nosh, proxybo, report

pytestmark = pytest.mark.usefixtures("one_thread")

# tiny and data-free: a row in milliseconds
TINY = TableConfig(proxies=("params",), batch_size=4, channels=4, cells=1)

_HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, f"{os.getpid()}\\n".encode())
print("locked", flush=True)
time.sleep(120)
"""


@contextlib.contextmanager
def held_by_another_process(lock: Path):
    """Another process holding the flock of ``lock``, as a first run would; yields its pid."""
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_lock_is_exclusive_names_the_holder_and_is_removed_after(tmp_path):
    out = tmp_path / "t.csv"
    assert lock_path(out) == tmp_path / "t.csv.lock" and lock_path(tmp_path) == tmp_path / ".lock"
    with hold_output(out, "proxy table") as lock:
        assert lock.read_text().strip() == str(os.getpid())
        with pytest.raises(OutputInUse, match=r"output .*t\.csv is in use by another process \(pid \d+"):
            with hold_output(out):
                pass
    assert not lock.exists()  # a finished output holds only its results
    with held_by_another_process(lock) as pid:
        with pytest.raises(OutputInUse, match=f"pid {pid}"):
            with hold_output(out):
                pass
    with hold_output(out):  # the holder died: the lock is free again
        pass
    assert issubclass(OutputInUse, FileExistsError)  # reported by the CLI as one line


def test_lock_taken_on_a_file_its_holder_removed_is_not_kept(tmp_path, monkeypatch):
    # a run that opened the lock file just before the holder removed it must not go on with a lock on
    # the removed file while a third run locks a new one
    import fcntl

    from nasfast import output_lock

    lock = tmp_path / "t.csv.lock"
    real_flock, calls = fcntl.flock, []

    def flock(fd, op):
        real_flock(fd, op)
        if not calls:  # the first holder's file disappears between our open and our lock
            lock.unlink()
        calls.append(fd)

    monkeypatch.setattr(output_lock.fcntl, "flock", flock)
    with hold_output(tmp_path / "t.csv") as held:
        assert len(calls) == 2 and held.exists()  # tried again, on the file now at the path


def test_a_second_proxies_run_on_the_same_out_is_refused(tmp_path):
    out = tmp_path / "zc.csv"
    with held_by_another_process(tmp_path / "zc.csv.lock") as pid:
        with pytest.raises(OutputInUse, match=f"zc.csv is in use by another process \\(pid {pid}"):
            run_nb201_table([3, 5], TINY, out, progress=False)
        assert not out.exists() and not out.with_name("zc.csv.json").exists()  # nothing written
        bad = nasfast("proxies", "--sample", "2", "--proxies", "params", "--out", str(out), check=False)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        f"nasfast proxies: error: proxy table {out} is in use by another process (pid {pid}, lock {out}.lock); "
        "wait for it to finish, or choose another --out"]
    assert run_nb201_table([3, 5], TINY, out, progress=False) == 2  # free again
    assert not (tmp_path / "zc.csv.lock").exists()


def test_a_repeated_header_in_a_proxy_csv_is_named_by_line(tmp_path):
    out = tmp_path / "zc.csv"
    run_nb201_table([3, 5], TINY, out, progress=False)
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:2] + lines[:1] + lines[1:]))  # what two runs appending at once left
    with pytest.raises(ValueError, match=r"zc\.csv:3: the header line again"):
        run_nb201_table([3, 5, 7], TINY, out, progress=False)
    with pytest.raises(ValueError, match=r"zc\.csv:3: the header line again"):
        read_table(out)
    out.write_text("".join(lines[:2]) + "x7,|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,1.0\n")
    with pytest.raises(ValueError, match=r"zc\.csv:3: index 'x7' is not an integer"):
        run_nb201_table([3], TINY, out, progress=False)
    with pytest.raises(ValueError, match=r"zc\.csv:3: index 'x7' is not an integer"):
        read_table(out)
    out.write_text("".join(lines[:2]) + "7,|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,abc\n")
    with pytest.raises(ValueError, match=r"zc\.csv:3: params 'abc' is not a number"):
        read_table(out)


def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path, capsys):
    run_nb201_table([3, 5], TINY, tmp_path / "zc.csv", progress=True)  # pytest's stderr is not a terminal
    assert capsys.readouterr().err == ""


# ---- reproduce ---------------------------------------------------------------------------------------------

def _fake_gates_run_one(exp, split, config, count, seed, *, epochs, overrides=None, device="cpu"):
    """A results.csv row of gates' shape, without training (the lock and the bar are the subject)."""
    encoder, loss = config.split("+")
    return {"config": config, "encoder": encoder, "loss": loss, "count": reproduce.format_count(count),
            "n_train": 78, "seed": seed, "epochs": epochs, "tau": 0.5, "tau_final": 0.5, "tau_epochs": 1,
            "n_at_5": 3, "n_at_10": 2, "n_test": 7812, "train_loss": 0.1, "seconds": 0.0, "device": device}


def _gates(out: Path, **kw):
    return reproduce.run("gates-nb201", out, quick=True, counts=[1], configs=["gates+hinge"], seeds=1,
                         echo=lambda s: None, **kw)


def test_gates_lock_bar_and_repeated_header(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(reproduce, "run_one", _fake_gates_run_one)
    out = tmp_path / "g"
    out.mkdir()
    with held_by_another_process(out / ".lock") as pid:
        with pytest.raises(OutputInUse, match=f"reproduce directory {out} is in use by another process \\(pid {pid}"):
            _gates(out, progress=False)
    assert not (out / "results.csv").exists()
    _gates(out, progress=True)
    assert "run/s" not in capsys.readouterr().err  # no bar frames into a log file
    assert {p.name for p in out.iterdir()} == {"results.csv", "table.md", "summary.json", "tau.png"}
    lines = (out / "results.csv").read_text().splitlines(keepends=True)
    (out / "results.csv").write_text("".join(lines + lines))  # two runs' appends: the header twice
    with pytest.raises(ValueError, match=r"results\.csv:3: the header line again"):
        _gates(out, progress=False)
    with pytest.raises(ValueError, match=r"results\.csv:3: the header line again"):
        report.ResultsLog(out / "results.csv", "gates-nb201")
    (out / "results.csv").write_text(lines[0] + lines[1].replace(",0.5,", ",half,", 1))
    with pytest.raises(ValueError, match=r"results\.csv:2: tau 'half' is not a number"):
        report.ResultsLog(out / "results.csv", "gates-nb201")


def test_proxybo_lock_bar_and_repeated_header(tmp_path, capsys):
    out = tmp_path / "p"
    out.mkdir()
    with held_by_another_process(out / ".lock") as pid:
        with pytest.raises(OutputInUse, match=f"pid {pid}"):
            proxybo.run(out, seeds=1, budget=4, methods=["rs"], datasets=["cifar10"], progress=False,
                        echo=lambda s: None)
    assert not (out / "results.csv").exists()
    proxybo.run(out, seeds=1, budget=4, methods=["rs"], datasets=["cifar10"], progress=True, echo=lambda s: None)
    assert "run/s" not in capsys.readouterr().err
    lines = (out / "results.csv").read_text().splitlines(keepends=True)
    (out / "results.csv").write_text("".join(lines + lines))
    with pytest.raises(ValueError, match=r"results\.csv:3: the header line again"):
        proxybo.run(out, seeds=1, budget=4, methods=["rs"], datasets=["cifar10"], progress=False, echo=lambda s: None)
    (out / "results.csv").write_text(lines[0] + lines[1].replace(",0,4,", ",zero,4,", 1))
    with pytest.raises(ValueError, match=r"results\.csv:2: seed 'zero' is not an integer"):
        proxybo.run(out, seeds=1, budget=4, methods=["rs"], datasets=["cifar10"], progress=False, echo=lambda s: None)


def test_nosh_and_landmark_lock_and_repeated_header(tmp_path):
    out = tmp_path / "n"
    out.mkdir()
    with held_by_another_process(out / ".lock") as pid:
        with pytest.raises(OutputInUse, match=f"pid {pid}"):
            nosh.run(out, quick=True, seeds=1, methods=["rs"], progress=False, echo=lambda s: None)
        with pytest.raises(OutputInUse, match=f"pid {pid}"):
            landmark.run(out, quick=True, seeds=1, progress=False, echo=lambda s: None)
    assert [p.name for p in out.iterdir()] == [".lock"]  # only the (killed) holder's: nothing written
    header = ",".join(nosh.FIELDS) + "\n"
    row = "nb201,quick,rs,cifar10,0,12,90.0,90.5,|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,0.1,0.0\n"
    (out / "results.csv").write_text(header + row + header + row)
    with pytest.raises(ValueError, match=r"results\.csv:3: the header line again"):
        nosh.run(out, quick=True, seeds=1, methods=["rs"], progress=False, echo=lambda s: None)
    (out / "results.csv").write_text(header + row.replace(",0,12,", ",0,twelve,", 1))
    with pytest.raises(ValueError, match=r"results\.csv:2: epochs 'twelve' is not a number"):
        nosh.run(out, quick=True, seeds=1, methods=["rs"], progress=False, echo=lambda s: None)
    lm = tmp_path / "l"
    lm.mkdir()
    header = ",".join(landmark.RESULT_FIELDS) + "\n"
    (lm / "results.csv").write_text(header + header)
    with pytest.raises(ValueError, match=r"results\.csv:2: the header line again"):
        landmark.run(lm, quick=True, seeds=1, progress=False, echo=lambda s: None)


def test_landmark_bar_only_on_a_terminal(tmp_path, capsys):
    """progress=True asks for the trainer's per-batch bar; with stderr not a terminal (captured here,
    as a log file) tqdm draws nothing, and in a terminal or notebook it would."""
    landmark.run(tmp_path / "l", quick=True, seeds=[0], progress=True, echo=lambda s: None)
    err = capsys.readouterr().err
    assert "\r" not in err and "it/s" not in err
    assert not (tmp_path / "l" / ".lock").exists()


def test_refused_reproduce_commands_leave_no_directory(tmp_path):
    with pytest.raises(ValueError, match="unknown method 'foo'"):
        proxybo.run(tmp_path / "r1", methods=["foo"], echo=lambda s: None)
    with pytest.raises(ValueError, match="no gates-nb101 rows to report"):
        reproduce.run("gates-nb101", tmp_path / "r2", report_only=True, echo=lambda s: None)
    bad = nasfast("reproduce", "proxybo-nb201", "--methods", "foo", "--out", str(tmp_path / "r3"), check=False)
    assert bad.returncode == 2 and "unknown method 'foo'" in bad.stderr
    assert not any(tmp_path.iterdir())


def test_reproduce_cli_refuses_a_second_run_in_one_line(tmp_path):
    out = tmp_path / "rcc"
    out.mkdir()
    with held_by_another_process(out / ".lock") as pid:
        bad = nasfast("reproduce", "proxybo-nb201", "--seeds", "1", "--budget", "4", "--methods", "rs",
                      "--datasets", "cifar10", "--out", str(out), "--no-progress", check=False)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        f"nasfast reproduce: error: reproduce directory {out} is in use by another process (pid {pid}, lock "
        f"{out}/.lock); wait for it to finish, or choose another --out"]
    assert not (out / "results.csv").exists()


def test_a_symlink_to_a_locked_output_takes_the_same_lock(tmp_path):
    target = tmp_path / "b.csv"
    target.write_text("index,arch\n")
    (tmp_path / "a.csv").symlink_to(target)
    with hold_output(target):
        with pytest.raises(OutputInUse, match="in use by another process"):
            with hold_output(tmp_path / "a.csv"):
                pass
    assert not (tmp_path / "b.csv.lock").exists()


def test_a_lock_file_replaced_under_its_holder_is_left_to_its_new_owner(tmp_path):
    out = tmp_path / "zc.csv"
    with hold_output(out) as lock:
        lock.unlink()  # someone removes it; another run then creates and holds a new one
        lock.write_text("999\n")
    assert lock.exists() and lock.read_text() == "999\n"  # the first holder did not remove the new file


def test_another_experiments_results_file_is_refused_as_such(tmp_path):
    other = tmp_path / "o"
    other.mkdir()
    (other / "results.csv").write_text("experiment,config,seed,tau\ngates-nb201,gates+hinge,0,0.5\n")
    with pytest.raises(ValueError, match=r"results.csv is not a results file of this experiment \(its header "
                                         r"has no skdt, kdt, found_acc, top_mean_acc\)"):
        landmark.run(other, quick=True, seeds=1, progress=False, echo=lambda s: None)
    assert (other / "results.csv").read_text().count("\n") == 2  # left as it was

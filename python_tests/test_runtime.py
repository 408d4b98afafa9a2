"""nasfast.runtime: the malloc setting the ``nasfast`` command applies, and NASFAST_MALLOC."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from nasfast import runtime

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

# a fresh process: twenty GATES training steps (NB101, batch 512, 2,048 hinge pairs, Adam), then the
# median minor page faults of the last ten (kept memory still faults in bursts while the heap grows)
STEPS = """
import resource, sys
import numpy as np, torch
from nasfast import runtime
if sys.argv[1] == "keep":
    assert runtime.keep_freed_memory()
from nasfast.predictors import GATESPredictor
from nasfast.predictors.encoding import encode_nb101
from nasfast.predictors.losses import hinge_loss
from nasfast.predictors.train import adam, pair_scores
torch.manual_seed(0)
torch.set_num_threads(1)
from nasfast.tabular.bundled import NB101_MAIN, npz_array
rng = np.random.default_rng(0)
adj, ops = npz_array(NB101_MAIN, "adjacency")[:512], npz_array(NB101_MAIN, "ops")[:512]
net = GATESPredictor("nb101").net.train()
enc = encode_nb101((adj, ops))
pairs = torch.from_numpy(rng.integers(0, 512, (2048, 2)))
labels = torch.from_numpy(rng.choice([-1.0, 1.0], 2048)).float()
opt = adam(net.parameters(), lr=1e-3)
faults = []
for _ in range(20):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    opt.zero_grad()
    hinge_loss(*pair_scores(net, enc, pairs, "use"), labels, 0.1).backward()
    opt.step()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(float(np.median(faults[10:])))
"""


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_keep_freed_memory_stops_page_faults_of_a_training_step():
    def faults(mode: str) -> float:
        # the variable too: a `nasfast` command run earlier in this process has set it to keep
        env = {**os.environ, runtime.ENV_OPT_OUT: mode}
        done = subprocess.run([sys.executable, "-c", STEPS, mode], capture_output=True, text=True, timeout=300,
                              env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        return float(done.stdout.strip().splitlines()[-1])

    default, keep = faults("default"), faults("keep")
    # measured on the 2-core VM (medians): 1,900-3,000 per step with glibc's defaults, 0-0.5 kept
    assert default > 200, default
    assert keep < default / 5, (keep, default)


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_keep_freed_memory_applies_and_repeats():
    assert runtime.keep_freed_memory()
    assert runtime.keep_freed_memory()


@pytest.mark.parametrize("kwargs", [dict(mmap_threshold=-1), dict(trim=2**31), dict(top_pad=1.5),
                                    dict(mmap_threshold=True)])
def test_keep_freed_memory_rejects_bad_values(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs)).split("_")[0]):
        runtime.keep_freed_memory(**kwargs)


def test_cli_applies_it_unless_opted_out(monkeypatch):
    calls = []
    monkeypatch.setattr(runtime, "keep_freed_memory", lambda: calls.append(1) or True)
    monkeypatch.delenv(runtime.ENV_OPT_OUT, raising=False)
    runtime.apply_cli_defaults()
    assert calls == [1]
    assert os.environ[runtime.ENV_OPT_OUT] == "keep"  # for the processes the command spawns
    monkeypatch.setenv(runtime.ENV_OPT_OUT, "default")
    runtime.apply_cli_defaults()
    assert calls == [1]
    assert os.environ[runtime.ENV_OPT_OUT] == "default"


def _child_kept() -> bool:
    return runtime.kept()


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
@pytest.mark.parametrize("setting", ["keep", "default", ""])
def test_spawned_workers_follow_the_variable(monkeypatch, setting):
    """A ``spawn`` worker (the proxies table's and ProxyBO's pools) imports nasfast afresh, so the
    variable is what carries the command's setting into it."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    monkeypatch.setenv(runtime.ENV_OPT_OUT, setting)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        assert pool.submit(_child_kept).result(timeout=120) is (setting == "keep")


def test_the_command_calls_it(monkeypatch):
    from nasfast import cli

    calls = []
    monkeypatch.setattr(cli, "apply_cli_defaults", lambda: calls.append(os.getpid()))
    assert cli.main(["info"]) == 0
    assert calls == [os.getpid()]

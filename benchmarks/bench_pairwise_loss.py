"""pairwise_ranking_loss: time and peak memory of the compiled ops vs plain PyTorch, forward +
backward (one training step's loss), measured in the same run on the same inputs.

- given pairs (P = 4n random pairs, aw_nas's max_compare_ratio 4, REFERENCES A1.6):
  ``pairwise_ranking_loss`` vs gather / relu (or softplus) / mean;
- all pairs of the batch (every i < j with distinct targets): ``all_pairs_ranking_loss`` vs the
  materialised n x n masked form, and vs building the list of all pairs then gather / relu / mean.

Peak memory: each (n, kind, implementation) in its own subprocess, which first makes one call on a
16-element input (loading kernels, autograd's and the allocator's lazy set-up), then takes the
baseline and makes one call at full size. On CUDA: torch.cuda.max_memory_allocated minus the
allocation before the call. On CPU: the growth of the process's peak resident set
(resource.getrusage ru_maxrss), measured after the inputs exist, so it counts every intermediate the
call allocates (and returns to the OS or not); ru_maxrss moves in pages and with the allocator's own
bookkeeping, so growth under 2 MiB is printed as "< 2 (floor)": no smaller size is resolved.
Times: one more subprocess per (n, kind) calls the five implementations in turn, call by call,
after one untimed call of each (so a slow spell of a shared machine hits them all); medians (best)
of --repeats rounds, capped at 1 round at n >= 16,384 (the n x n references take seconds there);
the rounds used are printed. float32, 1 thread by default.
Usage: ``python benchmarks/bench_pairwise_loss.py [--threads 1] [--sizes 512 4096 16384] [--repeats 5]
[--devices cpu cuda]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python_tests"))

from reference_pairwise_ranking_loss import (
    all_pairs_as_given_pairs,
    all_pairs_reference,
    given_pairs_reference,
)

from nasfast.ops.pairwise_ranking_loss import all_pairs_ranking_loss, pairwise_ranking_loss

IMPLS = {
    "op given pairs (P=4n)": "given",
    "ref gather/relu/mean (P=4n)": "given",
    "op all pairs": "all",
    "ref n x n masked": "all",
    "ref all-pairs list + gather": "all",
}


def loss_fn(impl: str, scores, targets, pairs, labels, kind: str):
    if impl == "op given pairs (P=4n)":
        return pairwise_ranking_loss(scores, pairs, labels, kind)
    if impl == "ref gather/relu/mean (P=4n)":
        return given_pairs_reference(scores, pairs, labels, kind)
    if impl == "op all pairs":
        return all_pairs_ranking_loss(scores, targets, kind)
    if impl == "ref n x n masked":
        return all_pairs_reference(scores, targets, kind)
    all_pairs, all_labels = all_pairs_as_given_pairs(targets)
    return given_pairs_reference(scores, all_pairs.to(scores.device), all_labels, kind)


def make_step(impl: str, n: int, kind: str, device: str):
    """One forward + backward of `impl` on the seeded size-n inputs: returns (loss, grad)."""
    g = torch.Generator().manual_seed(n)
    scores = torch.randn(n, generator=g).to(device)
    targets = torch.rand(n, generator=g).to(device)
    pairs = torch.randint(0, n, (4 * n, 2), generator=g).to(device)
    labels = torch.where(targets[pairs[:, 1]] > targets[pairs[:, 0]], 1.0, -1.0)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def step():
        s = scores.detach().requires_grad_(True)
        loss = loss_fn(impl, s, targets, pairs, labels, kind)
        (grad,) = torch.autograd.grad(loss, s)
        sync()
        return loss.detach(), grad
    return step


def run_memory(impl: str, n: int, kind: str, device: str, threads: int) -> dict:
    """Peak memory of one call, in this process (called in a fresh subprocess)."""
    torch.set_num_threads(threads)
    make_step(impl, 16, kind, device)()  # lazy set-up on a tiny input, before the baseline
    step = make_step(impl, n, kind, device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    loss, grad = step()
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    return {"peak_bytes": peak, "loss": float(loss), "grad": grad.double().cpu().tolist()}


def run_times(n: int, kind: str, device: str, repeats: int, threads: int) -> dict:
    """Every implementation called in turn, after one untimed call of each: {impl: [median, best]}."""
    torch.set_num_threads(threads)
    steps = {impl: make_step(impl, n, kind, device) for impl in IMPLS}
    for step in steps.values():
        step()
    times: dict[str, list[float]] = {impl: [] for impl in IMPLS}
    for _ in range(repeats):
        for impl, step in steps.items():
            start = time.perf_counter()
            step()
            times[impl].append(time.perf_counter() - start)
    return {impl: [float(np.median(t)), min(t)] for impl, t in times.items()}


def worker(*args):
    cmd = [sys.executable, __file__, "--worker", json.dumps(list(args))]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{args} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def mib(peak_bytes: int) -> str:
    return f"{peak_bytes / 2**20:.1f}" if peak_bytes >= 2 * 2**20 else "< 2 (floor)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 4096, 16384])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda"], choices=["cpu", "cuda"],
                        help="where to run (cuda only when available)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        job, *rest = json.loads(args.worker)
        print(json.dumps(run_memory(*rest) if job == "memory" else run_times(*rest)))
        return
    devices = [d for d in args.devices if d == "cpu" or torch.cuda.is_available()]
    print(f"load average before: {os.getloadavg()}")
    print(f"torch {torch.__version__}, threads={args.threads}, float32, forward+backward, "
          f"device={'cuda: ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu only'}; "
          f"peak = {'max_memory_allocated (cuda) / ' if torch.cuda.is_available() else ''}ru_maxrss growth (cpu)")
    print(f"{'device':6s} {'n':>6s} {'kind':9s} {'implementation':30s} {'rounds':>6s} {'median ms':>10s} "
          f"{'best ms':>10s} {'vs op':>8s} {'peak MiB':>12s}")
    for device in devices:
        for n in args.sizes:
            for kind in ("hinge", "logistic"):
                results = {impl: worker("memory", impl, n, kind, device, args.threads) for impl in IMPLS}
                rounds = args.repeats if n < 16384 else 1
                times = worker("times", n, kind, device, rounds, args.threads)
                for impl, r in results.items():
                    op_impl = "op given pairs (P=4n)" if IMPLS[impl] == "given" else "op all pairs"
                    op = results[op_impl]
                    # Same loss and gradient as the op of its mode (float32 sums in the references).
                    assert abs(r["loss"] - op["loss"]) <= 1e-4 * max(1.0, abs(op["loss"])), (impl, r["loss"], op["loss"])
                    g_ref, g_op = torch.tensor(r["grad"]), torch.tensor(op["grad"])
                    assert float((g_ref - g_op).abs().max()) <= 1e-4 * max(float(g_op.abs().max()), 1e-12), impl
                    (med, best), op_med = times[impl], times[op_impl][0]
                    print(f"{device:6s} {n:6d} {kind:9s} {impl:30s} {rounds:6d} {med * 1e3:10.2f} {best * 1e3:10.2f} "
                          f"{med / op_med:7.2f}x {mib(r['peak_bytes']):>12s}", flush=True)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

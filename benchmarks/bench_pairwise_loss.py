"""pairwise_ranking_loss: time and peak memory of the compiled ops vs plain PyTorch, forward +
backward (one training step's loss), measured in the same run on the same inputs.

- given pairs (P = 4n random pairs, aw_nas's max_compare_ratio 4, REFERENCES A1.6):
  ``pairwise_ranking_loss`` vs gather / relu (or softplus) / mean;
- all pairs of the batch (every i < j with distinct targets): ``all_pairs_ranking_loss`` vs the
  materialised n x n masked form, and vs building the list of all pairs then gather / relu / mean.

Each (n, kind, implementation) runs in its own subprocess. Peak memory: on CUDA
torch.cuda.max_memory_allocated minus the allocation before the call; on CPU the growth of the
process's peak resident set (resource.getrusage ru_maxrss) over one call, measured after the
inputs exist, so it counts every intermediate the call allocates (and returns to the OS or not).
Times are the best of --repeats calls after that first one. float32, 2 threads by default.
Usage: ``python benchmarks/bench_pairwise_loss.py [--threads 2] [--sizes 512 4096 16384] [--devices cpu cuda]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

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


def run_one(impl: str, n: int, kind: str, device: str, repeats: int, threads: int) -> dict:
    """One measurement, in this process (called in a fresh subprocess)."""
    torch.set_num_threads(threads)
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

    if device == "cuda":
        step()  # load kernels first
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    loss, grad = step()
    first = time.perf_counter() - start
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    times = [first]
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return {"seconds": min(times), "peak_bytes": peak, "loss": float(loss), "grad": grad.double().cpu().tolist()}


def measure(impl: str, n: int, kind: str, device: str, repeats: int, threads: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", json.dumps([impl, n, kind, device, repeats, threads])]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{impl} (n={n}, {kind}, {device}) failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 4096, 16384])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda"], choices=["cpu", "cuda"],
                        help="where to run (cuda only when available)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(run_one(*json.loads(args.worker))))
        return
    devices = [d for d in args.devices if d == "cpu" or torch.cuda.is_available()]
    print(f"torch {torch.__version__}, threads={args.threads}, float32, forward+backward, "
          f"device={'cuda: ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu only'}; "
          f"peak = {'max_memory_allocated (cuda) / ' if torch.cuda.is_available() else ''}ru_maxrss growth (cpu)")
    print(f"{'device':6s} {'n':>6s} {'kind':9s} {'implementation':30s} {'ms':>10s} {'vs op':>8s} {'peak MiB':>10s}")
    for device in devices:
        for n in args.sizes:
            for kind in ("hinge", "logistic"):
                results = {impl: measure(impl, n, kind, device, args.repeats if n < 16384 else 1, args.threads)
                           for impl in IMPLS}
                for impl, r in results.items():
                    op = results["op given pairs (P=4n)" if IMPLS[impl] == "given" else "op all pairs"]
                    # Same loss and gradient as the op of its mode (float32 sums in the references).
                    assert abs(r["loss"] - op["loss"]) <= 1e-4 * max(1.0, abs(op["loss"])), (impl, r["loss"], op["loss"])
                    g_ref, g_op = torch.tensor(r["grad"]), torch.tensor(op["grad"])
                    assert float((g_ref - g_op).abs().max()) <= 1e-4 * max(float(g_op.abs().max()), 1e-12), impl
                    print(f"{device:6s} {n:6d} {kind:9s} {impl:30s} {r['seconds'] * 1e3:10.2f} "
                          f"{r['seconds'] / op['seconds']:7.1f}x {r['peak_bytes'] / 2**20:10.1f}", flush=True)


if __name__ == "__main__":
    main()

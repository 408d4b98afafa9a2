"""gates_aggregate throughput: the compiled op vs the plain-PyTorch dense reference (gather G by
edge_op, mask, einsum over a materialised B x N x N x D tensor), forward and forward+backward,
measured in the same run on the same inputs (outputs compared), beside a torch.mm of the layer's
own linear map (B*N x D) @ (D x D) as a yardstick for what this machine's GEMM reaches.

Inputs: NB101-shaped op-on-node batches (random DAGs on N = 7 nodes, each edge with probability
1/2, plus_I self loops, no residual: the NB101 search config), D = 128, K = 4, float32.
FLOPs counted are the useful ones: 2 D per unmasked edge (forward); 3x that for forward+backward
(dS and dG each cost as much as the forward). The dense reference is timed on the same count.
GB/s counts the bytes the op must move (S in, y out, edge_op; x3 for forward+backward).
`clone ms` is S.clone() of the same batch: the floor for any op returning a fresh B x N x D
tensor (at B = 100,000 it is dominated by the kernel zero-filling the 358 MB of new pages).
Usage: ``python benchmarks/bench_gates_aggregate.py [--threads 2] [--batches 512 4096 100000]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python_tests"))

from reference_gates_aggregate import gates_aggregate_dense, nb101_op_on_node

from nasfast.ops.gates_aggregate import gates_aggregate


def best_time(fn, repeats: int, sync):
    """Best of `repeats` timed calls after one warm-up call; returns (seconds, last result)."""
    out = fn()
    sync()
    times = []
    for _ in range(repeats):
        del out
        start = time.perf_counter()
        out = fn()
        sync()
        times.append(time.perf_counter() - start)
    return min(times), out


def available_bytes(device: str) -> int:
    if device == "cuda":
        free, _ = torch.cuda.mem_get_info()
        return free
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def fwd_bwd(fn, S, G, edge_op, residual, grad):
    S = S.detach().requires_grad_(True)
    G = G.detach().requires_grad_(True)
    return torch.autograd.grad(fn(S, G, edge_op, residual), (S, G), grad)


def time_layer_mm(rows: int, D: int, device: str, reps: int, sync) -> float:
    """The layer's own linear map X W, (rows x D) @ (D x D): the yardstick GEMM."""
    X, W = torch.randn(rows, D, device=device), torch.randn(D, D, device=device)
    return best_time(lambda: torch.mm(X, W), reps, sync)[0]


def bench_batch(device: str, B: int, N: int, D: int, K: int, repeats: int) -> None:
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    g = torch.Generator().manual_seed(B)
    edge_op = nb101_op_on_node(B, K, N, generator=g).to(device)
    S = torch.randn(B, N, D, generator=g).to(device)
    G = torch.rand(K, D, generator=g).to(device)
    residual = torch.zeros(N, dtype=torch.bool, device=device)
    grad = torch.randn(B, N, D, generator=g).to(device)
    flops_fwd = 2.0 * D * int((edge_op >= 0).sum())
    reps = repeats if B * N * D <= 4096 * 7 * 128 else 2
    mm_gflops = 2.0 * B * N * D * D / time_layer_mm(B * N, D, device, reps, sync) / 1e9
    # Floor for a memory-bound op that returns a fresh B x N x D tensor: read S, write a new one
    # (at large B this includes the kernel zero-filling the new pages).
    t_copy, _ = best_time(lambda: S.clone(), reps, sync)
    # The dense reference keeps about five B x N x N x D tensors alive in forward+backward.
    ref_ok = 6 * B * N * N * D * 4 < 0.8 * available_bytes(device)
    for name, flops, op_fn, ref_fn in [
        ("forward", flops_fwd, lambda: gates_aggregate(S, G, edge_op, residual),
         lambda: gates_aggregate_dense(S, G, edge_op, residual)),
        ("fwd+bwd", 3 * flops_fwd, lambda: fwd_bwd(gates_aggregate, S, G, edge_op, residual, grad),
         lambda: fwd_bwd(gates_aggregate_dense, S, G, edge_op, residual, grad)),
    ]:
        t_op, ours = best_time(op_fn, reps, sync)
        bytes_moved = (2 * B * N * D * 4 + B * N * N * 8) * (1 if name == "forward" else 3)
        if ref_ok:
            t_ref, ref = best_time(ref_fn, reps, sync)
            # Both sides are float32 sums of up to ~1e6 terms (dG): compare at the scale of the
            # result, not element by element.
            for a, b in zip(ours if isinstance(ours, tuple) else (ours,), ref if isinstance(ref, tuple) else (ref,)):
                err = float((a - b).abs().max()) / max(float(b.abs().max()), 1e-30)
                assert err < 1e-4, f"{name} B={B}: op and reference differ (max error {err:.2e} of max |ref|)"
            del ref
            ref_ms, ratio, ref_gf = f"{t_ref * 1e3:9.2f}", f"{t_ref / t_op:6.1f}x", f"{flops / t_ref / 1e9:8.2f}"
        else:
            ref_ms, ratio, ref_gf = f"{'skipped':>9s}", f"{'':>7s}", f"{'':>8s}"
        del ours
        print(f"{device:6s} {B:7d} {name:8s} {t_op * 1e3:9.2f} {ref_ms} {ratio} "
              f"{flops / t_op / 1e9:8.2f} {ref_gf} {bytes_moved / t_op / 1e9:8.2f} {mm_gflops:8.1f} "
              f"{t_copy * 1e3:9.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", type=int, nargs="+", default=[512, 4096, 100_000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--N", type=int, default=7)
    parser.add_argument("--D", type=int, default=128)
    parser.add_argument("--K", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads={args.threads}, N={args.N}, D={args.D}, K={args.K}, float32, "
          f"device={'cuda: ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu only'}")
    print(f"{'device':6s} {'B':>7s} {'pass':8s} {'op ms':>9s} {'ref ms':>9s} {'ref/op':>7s} "
          f"{'op GF/s':>8s} {'ref GF/s':>8s} {'op GB/s':>8s} {'mm GF/s':>8s} {'clone ms':>9s}")
    for device in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
        for B in args.batches:
            bench_batch(device, B, args.N, args.D, args.K, args.repeats)


if __name__ == "__main__":
    main()

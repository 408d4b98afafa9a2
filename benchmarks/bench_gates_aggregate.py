"""gates_aggregate throughput: the compiled op vs plain-PyTorch references, forward and
forward+backward, measured in the same run on the same inputs (outputs compared), beside a torch.mm
of the layer's own linear map (B*N x D) @ (D x D) as a yardstick for what this machine's GEMM reaches.

References (plain PyTorch, no B x N x N x D tensor), each given the 0/1 matrices it needs built
once before timing (not per call: a fair encoder builds them once per batch for all its layers):

- ``per-op bmm``: ``sum_k G[k] * bmm(A_k, S) + residual * S``, ``A_k`` the 0/1 matrix of the edges
  that carry op k: valid for any ``edge_op``;
- ``on-node bmm``: ``G[op(i)] * bmm(A, S) + residual * S``, valid only for op-on-node input (the
  gate of edge j -> i is op(i), as in these NB101 inputs and aw_nas's NB101 encoder).

The ratio ``ref/op`` is against the FASTEST of these, per row. ``--dense`` also times the dense
form (gather G by edge_op, mask, einsum over a materialised B x N x N x D tensor); it is kept as a
memory illustration only (its tensor's size is printed either way) and never enters the ratio.
Ours and the references are called in turn, call by call (so a slow spell of a shared machine hits
all of them); times are medians (best in brackets) of the calls after one untimed call of each.

Inputs: NB101-shaped op-on-node batches (random DAGs on N = 7 nodes, each edge with probability
1/2, plus_I self loops, no residual: the NB101 search config), D = 128, K = 4, float32.
FLOPs counted are the useful ones: 2 D per unmasked edge (forward); 3x that for forward+backward.
GB/s counts the bytes the op must move (S in, y out, edge_op; x3 for forward+backward).
`clone ms` is S.clone() of the same batch: the floor for any op returning a fresh B x N x D tensor.
Above B*N*D = 4096*7*128 the calls per row are capped at 2 (printed as `reps`).
Usage: ``python benchmarks/bench_gates_aggregate.py [--threads 1] [--batches 512 4096 100000]
[--repeats 20] [--dense]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python_tests"))

from reference_gates_aggregate import gates_aggregate_dense, nb101_op_on_node

from nasfast.ops.gates_aggregate import gates_aggregate


def interleaved(fns: dict, repeats: int, sync) -> tuple[dict, dict]:
    """One untimed call of each, then `repeats` rounds calling each in turn.
    Returns ({name: (median s, best s)}, {name: result of the untimed call})."""
    outs = {}
    for name, fn in fns.items():
        outs[name] = fn()
        sync()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - start)
    return {name: (float(np.median(t)), min(t)) for name, t in times.items()}, outs


def available_bytes(device: str) -> int:
    if device == "cuda":
        free, _ = torch.cuda.mem_get_info()
        return free
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def per_op_bmm(A_k: torch.Tensor, K: int):
    """sum_k G[k] * bmm(A_k, S) + residual * S; A_k stacked as (B, K*N, N). Any edge_op."""
    def ref(S, G, edge_op, residual):
        B, N, D = S.shape
        y = (torch.bmm(A_k, S).view(B, K, N, D) * G[None, :, None, :]).sum(1)
        return y + residual.to(S.dtype)[None, :, None] * S
    return ref


def on_node_bmm(A: torch.Tensor, node_op: torch.Tensor):
    """G[op(i)] * bmm(A, S) + residual * S: op-on-node input only (gate of j -> i is op(i))."""
    def ref(S, G, edge_op, residual):
        return G[node_op] * torch.bmm(A, S) + residual.to(S.dtype)[None, :, None] * S
    return ref


def fwd_bwd(fn, S, G, edge_op, residual, grad):
    S = S.detach().requires_grad_(True)
    G = G.detach().requires_grad_(True)
    return torch.autograd.grad(fn(S, G, edge_op, residual), (S, G), grad)


def bench_batch(device: str, B: int, N: int, D: int, K: int, repeats: int, dense: bool) -> None:
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    g = torch.Generator().manual_seed(B)
    edge_op = nb101_op_on_node(B, K, N, generator=g).to(device)
    S = torch.randn(B, N, D, generator=g).to(device)
    G = torch.rand(K, D, generator=g).to(device)
    residual = torch.zeros(N, dtype=torch.bool, device=device)
    grad = torch.randn(B, N, D, generator=g).to(device)
    flops_fwd = 2.0 * D * int((edge_op >= 0).sum())
    reps = repeats if B * N * D <= 4096 * 7 * 128 else min(repeats, 2)
    # The references' structure, built once (not timed).
    A_k = torch.stack([(edge_op == k) for k in range(K)], 1).to(S.dtype).reshape(B, K * N, N)
    node_op = torch.diagonal(edge_op, dim1=1, dim2=2)
    assert bool(((edge_op < 0) | (edge_op == node_op[:, :, None])).all()), "inputs are not op-on-node"
    A = (edge_op >= 0).to(S.dtype)
    refs = {"per-op bmm": per_op_bmm(A_k, K), "on-node bmm": on_node_bmm(A, node_op)}
    dense_bytes = B * N * N * D * S.element_size()
    # The dense reference keeps about five B x N x N x D tensors alive in forward+backward.
    if dense and 6 * dense_bytes < 0.8 * available_bytes(device):
        refs["dense"] = gates_aggregate_dense
    X, W = torch.randn(B * N, D, device=device), torch.randn(D, D, device=device)
    stats, _ = interleaved({"mm": lambda: torch.mm(X, W), "clone": lambda: S.clone()}, reps, sync)
    mm_gflops = 2.0 * B * N * D * D / stats["mm"][0] / 1e9
    t_copy = stats["clone"][0]
    for name, flops in (("forward", flops_fwd), ("fwd+bwd", 3 * flops_fwd)):
        if name == "forward":
            fns = {"op": lambda: gates_aggregate(S, G, edge_op, residual)}
            fns.update({r: (lambda f=f: f(S, G, edge_op, residual)) for r, f in refs.items()})
            ctx = torch.no_grad()
        else:
            fns = {"op": lambda: fwd_bwd(gates_aggregate, S, G, edge_op, residual, grad)}
            fns.update({r: (lambda f=f: fwd_bwd(f, S, G, edge_op, residual, grad)) for r, f in refs.items()})
            ctx = torch.enable_grad()
        with ctx:
            stats, outs = interleaved(fns, reps, sync)
        ours = outs.pop("op")
        ours = ours if isinstance(ours, tuple) else (ours,)
        for r, out in outs.items():
            # float32 sums of up to ~1e6 terms (dG): compare at the scale of the result.
            for a, b in zip(ours, out if isinstance(out, tuple) else (out,)):
                err = float((a - b).abs().max()) / max(float(b.abs().max()), 1e-30)
                assert err < 1e-4, f"{name} B={B}: op and {r} differ (max error {err:.2e} of max |ref|)"
        t_op, b_op = stats["op"]
        fastest = min(("per-op bmm", "on-node bmm"), key=lambda r: stats[r][0])
        t_ref = stats[fastest][0]
        t_dense = f"{stats['dense'][0] * 1e3:10.2f}" if "dense" in stats else f"{'-':>10s}"
        bytes_moved = (2 * B * N * D * 4 + B * N * N * 8) * (1 if name == "forward" else 3)
        print(f"{device:6s} {B:7d} {name:8s} {reps:4d} {t_op * 1e3:9.3f} ({b_op * 1e3:.3f}) "
              f"{stats['per-op bmm'][0] * 1e3:10.3f} {stats['on-node bmm'][0] * 1e3:11.3f} "
              f"{t_ref / t_op:7.2f}x {fastest:>11s} {t_dense} {dense_bytes / 2**20:9.0f} "
              f"{flops / t_op / 1e9:8.2f} {bytes_moved / t_op / 1e9:8.2f} {mm_gflops:8.1f} {t_copy * 1e3:9.3f}",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batches", type=int, nargs="+", default=[512, 4096, 100_000])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--dense", action="store_true", help="also time the dense B x N x N x D form")
    parser.add_argument("--N", type=int, default=7)
    parser.add_argument("--D", type=int, default=128)
    parser.add_argument("--K", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"load average before: {os.getloadavg()}; torch {torch.__version__}, threads={args.threads}, "
          f"N={args.N}, D={args.D}, K={args.K}, float32, "
          f"device={'cuda: ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu only'}")
    print("times in ms, medians of `reps` interleaved calls (op's best in brackets); ref/op = fastest "
          "plain-PyTorch reference (per-op or on-node bmm) / op")
    print(f"{'device':6s} {'B':>7s} {'pass':8s} {'reps':>4s} {'op ms (best)':>17s} {'per-op ms':>10s} "
          f"{'on-node ms':>11s} {'ref/op':>8s} {'fastest':>11s} {'dense ms':>10s} {'dense MiB':>9s} "
          f"{'op GF/s':>8s} {'op GB/s':>8s} {'mm GF/s':>8s} {'clone ms':>9s}")
    for device in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
        for B in args.batches:
            bench_batch(device, B, args.N, args.D, args.K, args.repeats, args.dense)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

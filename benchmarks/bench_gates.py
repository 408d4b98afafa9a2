"""The NB101 GATES encoder (4 x 128, the paper config, REFERENCES A1.2) end to end: ours
(forward under no_grad: the one-call ``gates_onnode_encode``; forward+backward: every layer one
``gates_aggregate`` call) vs a plain-PyTorch dense version with the same weights (the
aw_nas way: ``sigmoid(op_emb U + c) * (A @ (X W)) + X W + b``, one ``bmm`` per layer) and vs
``torch.compile`` of that dense version; forward (inference, no_grad) and forward+backward (grads of
every parameter), outputs and gradients asserted equal, on real NB101 cells of the bundled 30k
subset (tiled for batches above 30,001).

Also: ``GATESPredictor.score`` on 423,624 NB101 specs (the size of NAS-Bench-101: the bundled 30,001
tiled; validation, pruning and encoding from raw (adjacency, ops) arrays included); and one training step
(batch 512, 2,048 hinge pairs, Adam) of the full predictor, first with malloc as the process
started and then as the ``nasfast`` command sets it (``nasfast.runtime.keep_freed_memory``), with
the minor page faults per step of each; each run also times the step with torch's per-parameter
Adam loop (training uses the fused one, ``train.adam``) and prints the paired difference.

FLOPs counted are the useful ones of the encoder: per layer 2 N d_in d_out (S = X W on N = 7
nodes) plus 2 d_out per edge (gate-multiply-add of one message), batch-independent parts (node
and gate tables) left out; forward+backward counts 3x. ``mm GF/s`` is a torch.mm of the same FLOP
shape as the dominant GEMM, (B*7 x 128) @ (128 x 128), measured in the same run. Encoder times are
the best of --repeats calls after one untimed call, capped at 2 calls above B = 4,096 (column `reps`
prints the count used).
Usage: ``python benchmarks/bench_gates.py [--threads 2] [--batches 512 4096 100000] [--device cpu]``.
"""

from __future__ import annotations

import argparse
import copy
import os
import resource
import subprocess
import sys
import time

import numpy as np
import torch
from torch import nn

from nasfast.predictors import GATESPredictor
from nasfast.predictors.encoding import encode_nb101, to_device
from nasfast.predictors.gates import NB101GATES
from nasfast.predictors.losses import hinge_loss
from nasfast.predictors.train import adam, pair_scores
from nasfast.runtime import keep_freed_memory
from nasfast.tabular.bundled import NB101_MAIN, npz_array

TOTAL_NB101 = 423_624


class DenseNB101GATES(nn.Module):
    """The plain dense reference, sharing ``enc``'s parameters (no copy)."""

    def __init__(self, enc: NB101GATES) -> None:
        super().__init__()
        if enc.plus_I or enc.residual_only is not None or enc.readout != "mean":
            raise ValueError("the dense reference covers the paper config only (no plus_I, self term everywhere, mean)")
        self.enc = enc

    def forward(self, adjacency: torch.Tensor, node_op: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        e = self.enc
        B, n = node_op.shape
        adj = adjacency.to(torch.float32)
        op_table = e.op_table()
        y = e.initial_features(B, n)
        for k, layer in enumerate(e.layers):
            S = torch.matmul(y, layer.weight)
            gate = torch.sigmoid(layer.op_attention(op_table))[node_op]  # op-on-node: the receiver's op
            y = gate * torch.bmm(adj, S) + S + layer.bias
            if k < len(e.layers) - 1:
                y = torch.relu(y)
        return (y[:, 1:] * valid[:, 1:, None].to(y.dtype)).sum(1) / (n - 1)


def best_time(fn, repeats: int, sync) -> tuple[float, object]:
    out = fn()
    sync()
    times = []
    for _ in range(repeats):
        del out
        t = time.perf_counter()
        out = fn()
        sync()
        times.append(time.perf_counter() - t)
    return min(times), out


def encoder_flops(enc: NB101GATES, adjacency: torch.Tensor) -> float:
    n, dims = adjacency.shape[1], [enc.x_hidden.out_features] + [layer.weight.shape[1] for layer in enc.layers]
    edges = float(adjacency.sum())
    B = adjacency.shape[0]
    return sum(2.0 * B * n * a * b + 2.0 * b * edges for a, b in zip(dims[:-1], dims[1:]))


def nb101_inputs(B: int, device: str) -> dict[str, torch.Tensor]:
    adj, ops = npz_array(NB101_MAIN, "adjacency"), npz_array(NB101_MAIN, "ops")
    idx = np.arange(B) % len(ops)
    return to_device(encode_nb101((adj[idx], ops[idx])), device)


def bench_encoder(device: str, B: int, repeats: int, compiled: dict) -> None:
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    torch.manual_seed(0)
    enc = NB101GATES().to(device)
    dense = DenseNB101GATES(enc)
    inp = nb101_inputs(B, device)
    args = (inp["adjacency"], inp["node_op"], inp["valid"])
    flops = encoder_flops(enc, inp["adjacency"])
    reps = repeats if B <= 4096 else 2
    X, W = torch.randn(B * 7, 128, device=device), torch.randn(128, 128, device=device)
    t_mm, _ = best_time(lambda: torch.mm(X, W), reps, sync)
    mm_gf = 2.0 * B * 7 * 128 * 128 / t_mm / 1e9
    params = [p for p in enc.parameters() if p.requires_grad]

    def fwd(fn):
        def run():
            with torch.no_grad():
                return fn()
        return run

    def fwd_bwd(fn):
        def run():
            out = fn()
            return (out.detach(), *torch.autograd.grad(out.sum(), params))
        return run

    for name, wrap, count in (("forward", fwd, flops), ("fwd+bwd", fwd_bwd, 3 * flops)):
        impls = {"ours": lambda: enc(inp), "dense": lambda: dense(*args)}
        # one static-shape compile per batch size and pass: a graph compiled under no_grad (or for
        # another batch, with dynamic shapes) was reused for fwd+bwd and lost the parameters' grads
        if compiled.get("why") is None:
            try:
                fn = torch.compile(dense, dynamic=False)
                impls["compiled"] = lambda fn=fn: fn(*args)
            except Exception as exc:  # noqa: BLE001 - report why and go on without it
                compiled["why"] = f"{type(exc).__name__}: {exc}"
        torch._dynamo.reset()
        results = {}
        for impl, fn in impls.items():
            try:
                t, out = best_time(wrap(fn), reps, sync)
            except Exception as exc:  # noqa: BLE001 - torch.compile may fail on a machine; say why
                if impl != "compiled":
                    raise
                print(f"  torch.compile failed at B={B} {name}: {type(exc).__name__}: {str(exc)[:300]}")
                continue
            results[impl] = (t, out)
        ref = results["ours"][1]
        for impl, (t, out) in results.items():
            for k, (a, b) in enumerate(zip(out if isinstance(out, tuple) else (out,),
                                           ref if isinstance(ref, tuple) else (ref,))):
                # outputs: 1e-4 of their scale; parameter grads are float32 sums over B x 7 nodes,
                # summed in another order by each implementation (3e-4 seen at B = 100,000)
                err = float((a - b).abs().max()) / max(float(b.abs().max()), 1e-30)
                tol = 1e-4 if k == 0 else 2e-3
                assert err < tol, f"{impl} {name} B={B} (tensor {k}): differs from ours by {err:.2e} of max |ours|"
            print(f"{device:5s} {B:7d} {name:8s} {impl:9s} {reps:4d} {t * 1e3:10.2f} {B / t:12,.0f} {count / t / 1e9:8.1f} "
                  f"{mm_gf:8.1f} {t / results['ours'][0]:8.2f}", flush=True)
        del results, ref


def bench_score(device: str) -> None:
    adj, ops = npz_array(NB101_MAIN, "adjacency"), npz_array(NB101_MAIN, "ops")
    p = GATESPredictor("nb101", device=device)
    p.score((adj[:512], ops[:512]))
    # NAS-Bench-101's 423,624 cells are not bundled: the 30,001 real ones tiled to that count
    idx = np.arange(TOTAL_NB101) % len(ops)
    adj, ops = adj[idx], ops[idx]
    for kw in ({}, {"chunk_size": 4096, "micro_batch": 1024}):
        t = time.perf_counter()
        p.score((adj, ops), **kw)
        s = time.perf_counter() - t
        print(f"score() {device}, {kw or 'default chunk_size / micro_batch'}: {len(ops):,} NB101 specs (the bundled "
              f"30,001 tiled) in {s:.2f} s = {len(ops) / s:,.0f} archs/s (validation, pruning and encoding included)")
    t = time.perf_counter()
    encode_nb101((adj, ops))
    print(f"  encode_nb101 of all {len(ops):,} specs in one call (score() encodes a chunk at a time): "
          f"{time.perf_counter() - t:.2f} s")


def bench_train_step(device: str, malloc: str, steps: int = 20) -> None:
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    adj, ops = npz_array(NB101_MAIN, "adjacency"), npz_array(NB101_MAIN, "ops")
    acc = npz_array(NB101_MAIN, "valid_acc_108ep").astype(np.float64)
    p = GATESPredictor("nb101", device=device)
    net = p.net.train()
    enc = to_device(encode_nb101((adj[:512], ops[:512])), device)
    rng = np.random.default_rng(0)
    i, j = rng.integers(0, 512, 2048), rng.integers(0, 511, 2048)
    j += j >= i
    pairs = torch.from_numpy(np.stack([i, j], 1)).to(device)
    labels = torch.from_numpy(np.where(acc[j] > acc[i], 1.0, -1.0)).to(device, torch.float32)
    opt = adam(net.parameters(), lr=1e-3)  # as train() builds it: torch's fused Adam
    # the same step with torch's default per-parameter Adam loop, on a copy of the net
    loop_net = copy.deepcopy(net)
    loop_opt = torch.optim.Adam(loop_net.parameters(), lr=1e-3, foreach=False)

    def torch_dropout_scores():
        # the reference for "use": the same scores, with torch's gather and dropout on the gathered rows
        (linear, act, drop), last = net.head.mlp
        h = drop(act(linear(net.embed(enc))).index_select(0, pairs.reshape(-1)))
        return last(h).reshape(-1), torch.arange(2 * len(pairs), device=pairs.device).view(-1, 2)

    # "use" (the default, aw_nas's dropout): the head's layers after its first ReLU run per pair
    # member, with the compiled gather_dropout_dot; "use, torch dropout": the same with torch's ops;
    # "arch": the whole head once per arch; "use, Adam loop": "use" with the per-parameter Adam.
    # The encoder runs once per arch in all four.
    modes = {"use": (lambda: pair_scores(net, enc, pairs, "use"), opt),
             "use, torch dropout": (torch_dropout_scores, opt),
             "arch": (lambda: pair_scores(net, enc, pairs, "arch"), opt),
             "use, Adam loop": (lambda: pair_scores(loop_net, enc, pairs, "use"), loop_opt)}
    times: dict[str, list[float]] = {m: [] for m in modes}
    faults = 0
    for k in range(steps + 3):
        if k == 3:
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for mode, (scores, o) in modes.items():  # interleaved, so that a slow spell of the VM hits all
            t = time.perf_counter()
            o.zero_grad(set_to_none=True)
            hinge_loss(*scores(), labels, 0.1).backward()
            o.step()
            sync()
            if k >= 3:
                times[mode].append(time.perf_counter() - t)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / (steps * len(modes))
    for mode, ts in times.items():
        print(f"training step {device} (batch 512, 2,048 hinge pairs, Adam, each arch encoded once, "
              f"score_per={mode!r}, malloc {malloc}): median {np.median(ts) * 1e3:.1f} ms, "
              f"best {min(ts) * 1e3:.1f} ms over {steps}")
    gain = np.subtract(times["use, Adam loop"], times["use"])
    print(f"  fused Adam vs the per-parameter loop, paired step by step: median {np.median(gain) * 1e3:.2f} ms "
          "less per step")
    print(f"  minor page faults per step (all four modes, malloc {malloc}): {faults:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", type=int, nargs="+", default=[512, 4096, 100_000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--train-step-worker", choices=["default", "keep"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.train_step_worker:
        if args.train_step_worker == "keep" and not keep_freed_memory():
            print("  (malloc settings unavailable on this system: the second run is the default again)")
        bench_train_step(args.device, "default" if args.train_step_worker == "default" else "keeping freed memory")
        return
    dev = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(f"load average before: {os.getloadavg()} (other processes share these cores)")
    print(f"torch {torch.__version__}, threads={args.threads}, device={dev}, NB101 GATES 4 x 128, float32; "
          f"{encoder_flops(NB101GATES(), nb101_inputs(30_001, 'cpu')['adjacency']) / 30_001 / 1e6:.3f} "
          "MFLOP per arch (mean over the 30k subset)")
    print(f"{'dev':5s} {'B':>7s} {'pass':8s} {'impl':9s} {'reps':>4s} {'ms':>10s} {'archs/s':>12s} {'GF/s':>8s} "
          f"{'mm GF/s':>8s} {'t/ours':>8s}")
    compiled: dict = {}
    for B in args.batches:
        bench_encoder(args.device, B, args.repeats, compiled)
    if compiled.get("why"):
        print(f"torch.compile unavailable: {compiled['why']}")
    bench_score(args.device)
    # each in a fresh process (the sections above have already grown this one's heap): with malloc
    # as a process starts, then as the `nasfast` command sets it (nasfast.runtime)
    for malloc in ("default", "keep"):
        cmd = [sys.executable, __file__, "--threads", str(args.threads), "--device", args.device,
               "--train-step-worker", malloc]
        print(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout, end="")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

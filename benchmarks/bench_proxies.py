"""Zero-cost proxies on NB201: seconds per architecture, the zero-cost-nas way vs batched.

- "one at a time": ``nasfast.proxies.single``, the reference's procedure (SamsungLabs/zero-cost-nas
  ``find_measures``): every proxy on its own fresh copy of the network with its own forward and
  backward passes, one architecture at a time, torch's own ops;
- "batched": ``nb201_proxies_batched``: one forward and two backward passes shared by the data
  proxies, the compiled ``avg_pool3x3``, ``--arch-batch`` architectures per call.

Same networks (same initial weights), same batch (the bundled CIFAR-10 batch, 64 images, 32 px),
float32, the paper-size network (C = 16, 5 cells per stage). Values are compared: the script exits
non-zero when a batched value differs from one-at-a-time by more than 1e-3 relative (float32).
Each side makes one untimed call before it is timed (the one-at-a-time side: every proxy on the first
arch; the batched side: one call per arch batch size), so neither pays first-call set-up
(oneDNN / cuDNN primitives, allocator growth) inside its best-of-``--repeats``. One-at-a-time is
timed per arch and proxy (best of ``--repeats`` each), so any subset of the archs has its own time.
With ``--table-archs N`` > 0 (N <= ``--archs``), the table path ``run_nb201_table`` (what
``nasfast proxies --workers W`` runs) is timed once over the first N of the same archs with W worker
processes sharing the ``--threads`` (process start-up included), against one-at-a-time on those N.
``avg_pool3x3`` against torch's pooling has its own benchmark, ``bench_avg_pool3x3.py``.
Last, the arithmetic bound: the convolution and linear FLOPs the shared passes cannot avoid (forward,
input and weight gradients for the loss, input gradients for jacob_cov: 4x the forward's) at the
``torch.mm`` rate measured in the same run, i.e. the fastest any exact batched method could be here.
Usage: ``python benchmarks/bench_proxies.py [--threads 2] [--archs 6] [--arch-batch 1 4]
[--table-archs 6] [--table-workers 1 2] [--table-arch-batch 1] [--device cpu]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

from nasfast.models.nb201 import has_input_output_path, nb201_network
from nasfast.proxies import compute_proxies, nb201_proxies_batched
from nasfast.proxies.data import proxy_batch
from nasfast.spaces import nb201

DEFAULT = ("synflow", "snip", "grad_norm", "jacob_cov", "naswot")
TOLERANCE = 1e-3  # relative, float32 batched vs one at a time


SYNC = [lambda: None]  # torch.cuda.synchronize when --device cuda: the timers must wait for the GPU


def best_of(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        SYNC[0]()
        t = time.perf_counter()
        fn()
        SYNC[0]()
        best = min(best, time.perf_counter() - t)
    return best


def live_archs(n: int, rng: np.random.Generator) -> list:
    """``n`` random NB201 archs with an input->output path (the others have no data proxies)."""
    archs = []
    while len(archs) < n:
        a = nb201.sample(rng)
        if has_input_output_path(a.op_indices):
            archs.append(a)
    return archs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--archs", type=int, default=6, help="random live NB201 archs timed")
    ap.add_argument("--arch-batch", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--proxies", default=",".join(DEFAULT))
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--table-archs", type=int, default=0,
                    help="also time run_nb201_table over the first this many of the --archs archs")
    ap.add_argument("--table-workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--table-arch-batch", type=int, default=1, help="archs per batched call in the table path")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (both ways run there)")
    args = ap.parse_args()
    if args.table_archs > args.archs:
        ap.error(f"--table-archs {args.table_archs} > --archs {args.archs}: the table path is timed on the "
                 "reference's archs; raise --archs")
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    if dev.type == "cuda":
        SYNC[0] = torch.cuda.synchronize
    names = args.proxies.split(",")
    rng = np.random.default_rng(args.seed)
    archs = live_archs(args.archs, rng)
    nets = [nb201_network(a, 10, seed=i).to(dev) for i, a in enumerate(archs)]
    x, y = (t.to(dev) for t in proxy_batch("cifar10", 64, 42))
    where = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu, {args.threads} threads"
    print(f"# {len(archs)} NB201 archs, C=16, 5 cells/stage, batch 64 x 32 px, float32, {where}, "
          f"best of {args.repeats} after one untimed call; load average before: {os.getloadavg()}")

    # one at a time, per proxy and arch, after one untimed call of every proxy on the first arch
    compute_proxies(nets[0], names, x, y)
    ref_values = {n: [0.0] * len(nets) for n in names}
    per_arch = {n: [0.0] * len(nets) for n in names}  # seconds, best of --repeats
    for name in names:
        for k, net in enumerate(nets):
            def run_one(name=name, k=k, net=net):
                ref_values[name][k] = compute_proxies(net, [name], x, y)[name]
            per_arch[name][k] = best_of(run_one, args.repeats)
    per_proxy = {n: float(np.mean(per_arch[n])) for n in names}
    single_total = sum(per_proxy.values())
    print(f"\n{'proxy':<12}{'one at a time s/arch':>22}")
    for name in names:
        print(f"{name:<12}{per_proxy[name]:>22.3f}")
    print(f"{'all':<12}{single_total:>22.3f}")

    print(f"\n{'arch batch':>10}{'batched s/arch (all proxies)':>30}{'speed-up':>10}{'max rel diff':>14}")
    worst, worst_at = 0.0, ""
    for b in args.arch_batch:
        nb201_proxies_batched(nets[:b], names, x, y)  # untimed call
        out: dict[str, list[float]] = {n: [] for n in names}

        def run_batched(b=b, out=out):
            for n in names:
                out[n].clear()
            for s in range(0, len(nets), b):
                vals = nb201_proxies_batched(nets[s:s + b], names, x, y)
                for n in names:
                    out[n].extend(vals[n].tolist())
        t = best_of(run_batched, args.repeats) / len(nets)
        rel, at = max((rel_diff(o, r), n) for n in names for o, r in zip(out[n], ref_values[n]))
        if rel >= worst:
            worst, worst_at = rel, f"{at}, arch batch {b}"
        print(f"{b:>10}{t:>30.3f}{single_total / t:>9.2f}x{rel:>14.1e}")

    setup_cost(archs, dev, x, args.repeats)
    if args.table_archs:
        n = args.table_archs
        table_single = sum(float(np.mean(per_arch[name][:n])) for name in names)
        table_throughput(args, names, archs[:n], table_single)
    flop_bound(nets, x, single_total)
    print(f"load average after: {os.getloadavg()}")
    if worst > TOLERANCE:
        print(f"FAIL: batched values differ from one at a time by {worst:.1e} relative ({worst_at}; "
              f"> {TOLERANCE:.0e})")
        sys.exit(1)
    print(f"values: batched = one at a time within {worst:.1e} relative (largest: {worst_at}; "
          f"tolerance {TOLERANCE:.0e})")


def rel_diff(o: float, r: float) -> float:
    """Relative difference; NaN on both sides (no data proxies) counts as equal, on one side as a failure."""
    if np.isnan(o) and np.isnan(r):
        return 0.0
    if np.isnan(o) or np.isnan(r):
        return float("inf")
    return abs(o - r) / max(abs(r), 1e-12)


def setup_cost(archs, dev: torch.device, x: torch.Tensor, repeats: int) -> None:
    """What the table path spends per arch before any proxy pass: drawing the seeded initial weights,
    stacking them on the device, and the data-free flops / params. "modules": the way the table path
    did it before (``nb201_network(...).to(device)`` per arch, stacked there, flops by hooked forward
    passes); "weights": ``nb201_weights`` on the CPU, stacked there and moved once per layer, flops
    counted from the arch. Same weights bit for bit (``python_tests/test_proxies_nb201.py``)."""
    from nasfast.models.nb201 import nb201_weights
    from nasfast.models.nb201_batched import BatchedNB201
    from nasfast.proxies.nb201_batched import nb201_flops
    from nasfast.proxies.single import SINGLE

    def modules():
        nets = [nb201_network(a, 10, seed=i).to(dev) for i, a in enumerate(archs)]
        BatchedNB201(nets)
        [(SINGLE["flops"](n, x), SINGLE["params"](n)) for n in nets]

    def weights():
        ws = [nb201_weights(a, 10, seed=i) for i, a in enumerate(archs)]
        BatchedNB201(ws, device=dev)
        [(nb201_flops(w, 32, 32), sum(t.numel() for t in w.params.values())) for w in ws]

    slow, fast = (best_of(f, repeats) / len(archs) for f in (modules, weights))
    print(f"\nset-up per arch (initial weights, stacking on {dev.type}, flops + params): modules "
          f"{slow * 1e3:.1f} ms, weights {fast * 1e3:.1f} ms: {slow / fast:.1f}x")


def flop_bound(nets, x: torch.Tensor, single_total: float) -> None:
    """Print the conv + linear FLOPs per arch and the time they take at the measured GEMM rate."""
    counted = (torch.nn.Conv2d, torch.nn.Linear)
    per_arch = []
    for net in nets:
        total = [0]

        def count(m, _inp, out, total=total):
            k = m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1] if isinstance(m, torch.nn.Conv2d) \
                else m.in_features
            total[0] += 2 * out.numel() * k
        hooks = [m.register_forward_hook(count) for m in net.modules() if isinstance(m, counted)]
        with torch.no_grad():
            net(x)
        for h in hooks:
            h.remove()
        per_arch.append(total[0])
    need = 4 * float(np.mean(per_arch))
    a, b = torch.randn(2048, 2048, device=x.device), torch.randn(2048, 2048, device=x.device)
    best_of(lambda: a @ b, 2)  # warm-up (cuBLAS handle, kernel selection)
    rate = 2 * 2048 ** 3 / best_of(lambda: a @ b, 5)
    bound = need / rate
    print(f"\nforward conv + linear FLOPs per arch (batch 64): {np.mean(per_arch) / 1e9:.2f} G; the shared passes "
          f"need 4x = {need / 1e9:.2f} G")
    print(f"torch.mm 2048^3 float32: {rate / 1e9:.0f} GFLOP/s -> at best {bound:.3f} s/arch, "
          f"{single_total / bound:.2f}x one at a time")


def table_throughput(args, names, archs, single_total: float) -> None:
    """Seconds per arch of the table path over ``archs`` (the reference's first N archs),
    W processes x (threads / W) torch threads each; ``single_total``: one at a time on those archs."""
    import tempfile

    from nasfast.proxies.table import TableConfig, run_nb201_table

    indices = list(dict.fromkeys(a.index for a in archs))  # the table computes each index once
    config = TableConfig(proxies=tuple(names))
    print(f"\ntable path on the first {len(indices)} of the same archs; one at a time on them: "
          f"{single_total:.3f} s/arch")
    print(f"{'table workers':>13}{'threads each':>14}{'s/arch (all proxies)':>22}{'vs one at a time':>18}")
    for w in args.table_workers:
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            run_nb201_table(indices, config, f"{tmp}/t.csv", progress=False, workers=w, device=args.device,
                            arch_batch=args.table_arch_batch)
            per = (time.perf_counter() - t) / len(indices)
        print(f"{w:>13}{max(1, args.threads // w):>14}{per:>22.3f}{single_total / per:>17.2f}x")


if __name__ == "__main__":
    main()

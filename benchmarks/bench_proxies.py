"""Zero-cost proxies on NB201: seconds per architecture, the zero-cost-nas way vs batched.

- "one at a time": ``nasfast.proxies.single``, the reference's procedure (SamsungLabs/zero-cost-nas
  ``find_measures``): every proxy on its own fresh copy of the network with its own forward and
  backward passes, one architecture at a time, torch's own ops;
- "batched": ``nb201_proxies_batched``: one forward and two backward passes shared by the data
  proxies, the compiled ``avg_pool3x3``, ``--arch-batch`` architectures per call.

Same networks (same initial weights), same batch (the bundled CIFAR-10 batch, 64 images, 32 px),
float32, the paper-size network (C = 16, 5 cells per stage). Values are compared (float32, rel 1e-3).
Also times ``avg_pool3x3`` against torch's pooling on one stage-1 activation, and (``--table-archs``
> 0) the table path ``run_nb201_table`` (what ``nasfast proxies --workers W`` runs) over that many
random live archs with W worker processes sharing the ``--threads`` (process start-up included).
Last, the arithmetic bound: the convolution and linear FLOPs the shared passes cannot avoid (forward,
input and weight gradients for the loss, input gradients for jacob_cov: 4x the forward's) at the
``torch.mm`` rate measured in the same run, i.e. the fastest any exact batched method could be here.
Usage: ``python benchmarks/bench_proxies.py [--threads 2] [--archs 6] [--arch-batch 1 4]
[--table-archs 24] [--table-workers 1 2] [--table-arch-batch 1] [--device cpu]``.
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
import torch

from nasfast.models.nb201 import has_input_output_path, nb201_network
from nasfast.ops.avg_pool3x3 import avg_pool3x3
from nasfast.proxies import compute_proxies, nb201_proxies_batched
from nasfast.proxies.data import proxy_batch
from nasfast.spaces import nb201

DEFAULT = ("synflow", "snip", "grad_norm", "jacob_cov", "naswot")


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
    ap.add_argument("--table-archs", type=int, default=0, help="also time run_nb201_table over this many archs")
    ap.add_argument("--table-workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--table-arch-batch", type=int, default=1, help="archs per batched call in the table path")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (both ways run there)")
    args = ap.parse_args()
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
    print(f"# {len(archs)} NB201 archs, C=16, 5 cells/stage, batch 64 x 32 px, float32, {where}")

    # one at a time, per proxy
    per_proxy = {}
    ref_values = {n: [] for n in names}
    for name in names:
        def run_one(name=name):
            for k, net in enumerate(nets):
                v = compute_proxies(net, [name], x, y)[name]
                if len(ref_values[name]) < len(nets):
                    ref_values[name].append(v)
                else:
                    ref_values[name][k] = v
        per_proxy[name] = best_of(run_one, args.repeats) / len(nets)
    single_total = sum(per_proxy.values())
    print(f"\n{'proxy':<12}{'one at a time s/arch':>22}")
    for name in names:
        print(f"{name:<12}{per_proxy[name]:>22.3f}")
    print(f"{'all':<12}{single_total:>22.3f}")

    print(f"\n{'arch batch':>10}{'batched s/arch (all proxies)':>30}{'speed-up':>10}{'max rel diff':>14}")
    for b in args.arch_batch:
        out: dict[str, list[float]] = {n: [] for n in names}

        def run_batched(b=b, out=out):
            for n in names:
                out[n].clear()
            for s in range(0, len(nets), b):
                vals = nb201_proxies_batched(nets[s:s + b], names, x, y)
                for n in names:
                    out[n].extend(vals[n].tolist())
        t = best_of(run_batched, args.repeats) / len(nets)
        rel = max(abs(o - r) / max(abs(r), 1e-12) for n in names for o, r in zip(out[n], ref_values[n]))
        print(f"{b:>10}{t:>30.3f}{single_total / t:>9.2f}x{rel:>14.1e}")

    setup_cost(archs, dev, x, args.repeats)
    if args.table_archs:
        table_throughput(args, names, single_total, rng)
    flop_bound(nets, x, single_total)

    pool = torch.nn.AvgPool2d(3, 1, 1, count_include_pad=False)
    for (label, fn), fmt in itertools.product((("torch AvgPool2d", pool), ("nasfast avg_pool3x3", avg_pool3x3)),
                                               (torch.contiguous_format, torch.channels_last)):
        act = torch.randn(64, 16, 32, 32, device=dev).contiguous(memory_format=fmt)
        label = f"{label} {'NHWC' if fmt == torch.channels_last else 'NCHW'}"
        xr = act.clone().requires_grad_(True)
        g = torch.randn_like(act)
        fwd = best_of(lambda fn=fn, act=act: fn(act), 10)
        yv = fn(xr)
        bwd = best_of(lambda yv=yv, xr=xr, g=g: torch.autograd.grad(yv, xr, g, retain_graph=True), 10)
        print(f"{label:<27} (64,16,32,32): forward {fwd * 1e3:7.2f} ms, backward {bwd * 1e3:7.2f} ms")


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


def table_throughput(args, names, single_total: float, rng: np.random.Generator) -> None:
    """Seconds per arch of the table path, W processes x (threads / W) torch threads each."""
    import tempfile

    from nasfast.proxies.table import TableConfig, run_nb201_table

    indices = []
    while len(indices) < args.table_archs:
        a = nb201.sample(rng)
        if has_input_output_path(a.op_indices) and a.index not in indices:
            indices.append(a.index)
    config = TableConfig(proxies=tuple(names))
    print(f"\n{'table workers':>13}{'threads each':>14}{'s/arch (all proxies)':>22}{'vs one at a time':>18}")
    for w in args.table_workers:
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            run_nb201_table(indices, config, f"{tmp}/t.csv", progress=False, workers=w, device=args.device,
                            arch_batch=args.table_arch_batch)
            per = (time.perf_counter() - t) / len(indices)
        print(f"{w:>13}{max(1, args.threads // w):>14}{per:>22.3f}{single_total / per:>17.2f}x")


if __name__ == "__main__":
    main()

"""Where the batched NB201 proxy pass spends its time, phase by phase, and whether each phase is
bound by the host (Python, launches) or by the device.

For each phase: the time until the Python call returns ("host") and the time until the device has
finished too ("synced"). host ~ synced: the host is the bound (the device waits on it); host much
smaller than synced: the device is. On a CPU both are the same. Phases: building ``BatchedNB201``
from drawn weights, the forward pass (recording naswot's kernels), the loss backward, snip's per-arch
reduction, the input-gradient backward of jacob_cov, its eigen-solve, naswot's slogdet, synflow
(its own float64 network), the main pass alone and with synflow run while its backwards are queued
(as the table runs them: on a GPU the overlapped line should be under the sum of the two before it),
and drawing the initial weights (CPU).
The second of two rounds is printed. ``--profile K`` adds a ``torch.profiler`` trace of one whole
``nb201_proxies_batched`` call: the K ops with the most device time and the K with the most host
time, and the number of kernel launches. Usage: ``python benchmarks/proxies_phase_times.py
[--device cuda] [--archs 64] [--threads 16] [--profile 25]``.
"""

from __future__ import annotations

import argparse
import time

import torch

from nasfast.models.nb201 import nb201_weights
from nasfast.models.nb201_batched import BatchedNB201
from nasfast.proxies import nb201_batched as batched
from nasfast.proxies import nb201_proxies_batched
from nasfast.proxies.data import proxy_batch
from nasfast.proxies.definitions import ieee_float32, jacob_cov_scores, naswot_scores
from nasfast.proxies.table import arch_seed, priority_order


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--archs", type=int, default=64, help="the first ARCHS of the table's --all order")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--profile", type=int, default=0, metavar="K", help="also print a profile's top K ops")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    x, y = proxy_batch("cifar10", 64, 42)
    x, y = x.to(dev), y.to(dev)
    order = priority_order(0)[:args.archs]
    draw = lambda: [nb201_weights(int(i), 10, seed=arch_seed(0, int(i))) for i in order]  # noqa: E731
    nets = [w for w in draw() if w.has_path]
    main = ["snip", "grad_norm", "jacob_cov", "naswot"]  # the table's proxies but synflow
    rows: list[tuple[str, float, float]] = []

    def phase(name, fn):
        sync()
        t0 = time.perf_counter()
        out = fn()
        t1 = time.perf_counter()
        sync()
        rows.append((name, t1 - t0, time.perf_counter() - t0))
        return out

    def main_pass_phases() -> None:
        net = phase("build BatchedNB201", lambda: BatchedNB201(nets, dtype=torch.float32, device=dev))
        rec = batched._Collect(net.B, len(x), True, False, dev)
        xin = x.repeat(1, net.B, 1, 1).requires_grad_(True)
        logits = phase("forward (+ naswot kernels)", lambda: net.forward(xin, rec))
        loss = batched._batched_loss(logits, y)
        ws = [sw.weight for sw in net.weights]
        g = phase("loss backward", lambda: torch.autograd.grad(loss, ws, retain_graph=True, allow_unused=True))
        phase("snip reduction", lambda: batched._per_arch(
            net, [((sw.weight * gw).abs().reshape(len(sw.archs), -1).sum(1), sw)
                  for sw, gw in zip(net.weights, g) if gw is not None]))
        (jac,) = phase("jacob_cov input-gradient backward", lambda: torch.autograd.grad(logits.sum(), xin))
        phase("jacob_cov eigvalsh", lambda: jacob_cov_scores(jac.reshape(len(x), net.B, -1).transpose(0, 1)))
        phase("naswot slogdet", lambda: naswot_scores(rec.kernel))

    for _ in range(2):
        rows.clear()
        with ieee_float32():
            main_pass_phases()
            phase("synflow (build, forward, backward; float64)", lambda: batched._synflow(nets, x))
            phase("main pass alone (all above but synflow)", lambda: batched._main_pass(nets, main, x, y, torch.float32))
            phase("main pass + synflow as the table runs them (overlapped)", lambda: batched._main_pass(
                nets, main, x, y, torch.float32, meanwhile=lambda: batched._synflow(nets, x)))
        phase("initial weights drawn (CPU)", draw)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    print(f"torch {torch.__version__}, {name}, {len(nets)} live archs of {args.archs}, batch 64 x 32 px, float32")
    print(f"{'phase':56} {'host ms':>9} {'synced ms':>10}")
    for n, host, synced in rows:
        print(f"{n:56} {host * 1e3:9.1f} {synced * 1e3:10.1f}")
    if args.profile:
        profile_call(nets, x, y, dev, args.profile)


def profile_call(nets, x, y, dev: torch.device, top: int) -> None:
    from torch.profiler import ProfilerActivity, profile

    names = ["synflow", "snip", "grad_norm", "jacob_cov", "naswot"]
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
    with profile(activities=activities) as prof:
        nb201_proxies_batched(nets, names, x, y)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
    table = prof.key_averages()
    if dev.type == "cuda":
        print(table.table(sort_by="self_device_time_total", row_limit=top, max_name_column_width=70))
    print(table.table(sort_by="self_cpu_time_total", row_limit=top, max_name_column_width=70))
    launches = sum(e.count for e in table if e.key in ("cudaLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernel"))
    print(f"kernel launches in one call of {len(nets)} archs: {launches}")


if __name__ == "__main__":
    main()

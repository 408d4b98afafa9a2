"""Zero-cost proxies of the same NB201 networks on the CPU and on CUDA: the batched path on both,
the one-at-a-time reference on CUDA, and the batched path on CUDA with TF32 allowed (what PyTorch
does by default) instead of IEEE float32 (what nasfast does, ``proxies.definitions.ieee_float32``).

Prints, per proxy and comparison, the median and largest relative difference and the Spearman
between the two, over ``--archs`` random live archs (float32, the bundled CIFAR-10 batch of 64).
Needs a CUDA device. Usage: ``python benchmarks/proxies_cpu_vs_cuda.py [--archs 32] [--threads 16]``.
"""

from __future__ import annotations

import argparse
import contextlib
import time

import numpy as np
import torch
from bench_proxies import live_archs  # the sibling script: python puts benchmarks/ on the path

import nasfast.proxies.nb201_batched as batched_module
from nasfast.metrics import spearman
from nasfast.models.nb201 import nb201_network
from nasfast.proxies import compute_proxies, nb201_proxies_batched
from nasfast.proxies.data import proxy_batch

NAMES = ["synflow", "snip", "grad_norm", "jacob_cov", "naswot"]


def compare(a: np.ndarray, b: np.ndarray) -> str:
    rel = np.abs(a - b) / np.maximum(np.abs(b), 1e-12)
    return f"{np.median(rel):10.1e} {rel.max():8.1e} {spearman(a, b):7.4f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", type=int, default=32)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("needs a CUDA device")
    torch.set_num_threads(args.threads)
    archs = live_archs(args.archs, np.random.default_rng(args.seed))
    x, y = proxy_batch("cifar10", 64, 42)
    t = time.perf_counter()
    cpu = nb201_proxies_batched([nb201_network(a, 10, seed=i) for i, a in enumerate(archs)], NAMES, x, y)
    print(f"{len(archs)} archs; CPU batched pass {time.perf_counter() - t:.1f} s; {torch.cuda.get_device_name()}")
    nets = [nb201_network(a, 10, seed=i).cuda() for i, a in enumerate(archs)]
    xg, yg = x.cuda(), y.cuda()
    gpu = nb201_proxies_batched(nets, NAMES, xg, yg)
    one = {n: np.array([compute_proxies(net, [n], xg, yg)[n] for net in nets]) for n in NAMES}
    saved = batched_module.ieee_float32, torch.backends.cudnn.allow_tf32
    batched_module.ieee_float32, torch.backends.cudnn.allow_tf32 = contextlib.nullcontext, True
    try:
        tf32 = nb201_proxies_batched(nets, NAMES, xg, yg)
    finally:
        batched_module.ieee_float32, torch.backends.cudnn.allow_tf32 = saved
    cols = ("CUDA batched vs CPU batched", "CUDA one at a time vs batched", "CUDA TF32 vs CPU")
    print(f"{'':10s}" + "".join(f" | {c:>27s}" for c in cols))
    print(f"{'proxy':10s}" + f" | {'median rel':>10s} {'max rel':>8s} {'rho':>7s}" * 3)
    for n in NAMES:
        print(f"{n:10s} | {compare(gpu[n], cpu[n])} | {compare(one[n], gpu[n])} | {compare(tf32[n], cpu[n])}")


if __name__ == "__main__":
    main()

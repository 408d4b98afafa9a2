"""gather_dropout / gather_dropout_dot vs plain PyTorch (index_select, F.dropout, and for the dot
``@ w``), forward and forward + backward, measured in the same run on the same inputs.

The sizes are GATES' pointwise head in training: the NB101 paper head (first hidden layer 200
wide) and the NB201 one (300 wide), a minibatch of 512 archs each used by 8 pair members (4 pairs
per arch, aw_nas's max_compare_ratio), and a larger 16,384-arch batch. Times are medians of
--repeats calls after warm-up. float32, 2 threads by default.
Usage: ``python benchmarks/bench_gather_dropout.py [--threads 2] [--repeats 50] [--device cpu]``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from nasfast.ops.gather_dropout import gather_dropout, gather_dropout_dot


def median_ms(fn, repeats: int, sync) -> float:
    for _ in range(3):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return float(np.median(times)) * 1e3


def bench_size(n: int, width: int, p: float, dev: str, repeats: int, sync) -> None:
    uses = 8 * n
    x = torch.randn(n, width, device=dev, requires_grad=True)
    w = torch.randn(width, device=dev, requires_grad=True)
    index = torch.randint(0, n, (uses,), device=dev)
    g, gy = torch.randn(uses, width, device=dev), torch.randn(uses, device=dev)
    cases = {
        "gather_dropout": (lambda: F.dropout(x.index_select(0, index), p), lambda: gather_dropout(x, index, p), g),
        "..._dot": (lambda: F.dropout(x.index_select(0, index), p) @ w, lambda: gather_dropout_dot(x, index, w, p), gy),
    }
    for op, (ref, ours, grad) in cases.items():
        with torch.no_grad():
            fwd = median_ms(ref, repeats, sync), median_ms(ours, repeats, sync)
        both = (median_ms(lambda r=ref, gr=grad: r().backward(gr), repeats, sync),
                median_ms(lambda o=ours, gr=grad: o().backward(gr), repeats, sync))
        for pass_name, (t_ref, t_ours) in (("forward", fwd), ("fwd+bwd", both)):
            print(f"{n:6d} {uses:7d} {width:5d} {op:14s} {pass_name:8s} {t_ref:9.3f} {t_ours:8.3f} {t_ref / t_ours:9.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dev = args.device
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    name = torch.cuda.get_device_name() if dev == "cuda" else "cpu"
    print(f"load average before: {os.getloadavg()}; torch {torch.__version__}, threads={args.threads}, device={name}, "
          f"p = 0.1, float32")
    print(f"{'archs':>6s} {'uses':>7s} {'width':>5s} {'op':14s} {'pass':8s} {'torch ms':>9s} {'ours ms':>8s} "
          f"{'torch/ours':>10s}")
    for n, width in ((512, 200), (512, 300), (16384, 200)):
        bench_size(n, width, 0.1, dev, args.repeats, sync)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

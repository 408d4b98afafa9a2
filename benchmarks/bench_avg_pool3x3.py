"""avg_pool3x3 vs torch's ``avg_pool2d(x, 3, 1, 1, count_include_pad=False)``, forward and
backward, per memory layout (NCHW and channels-last), measured in the same run on the same inputs.

The op is NB201's ``avg_pool_3x3`` in the batched proxy network, which runs channels-last, so the
channels-last ratio is the one that matters there; NCHW is where torch's CPU pooling is slowest.
Ours and torch are called in turn, call by call, after one untimed call of each; times are medians
of --repeats calls. "backward" times ``autograd.grad`` of the pool's output (the backward kernel
alone, the forward graph kept). Before timing, every layout checks our output and gradient, and
torch's, against torch's NCHW float64 result (PyTorch's CUDA channels-last backward with padding is
wrong, pytorch/pytorch#188344: that is reported, not asserted, for torch's side).
The last column compares ours in channels-last with torch in whichever layout is faster.
Usage: ``python benchmarks/bench_avg_pool3x3.py [--threads 1] [--repeats 30] [--device cpu]
[--shapes 64x16x32x32 64x32x16x16 64x64x8x8]`` (NxCxHxW; the defaults are NB201's three stages at
batch 64).
"""

from __future__ import annotations

import argparse
import os

import torch
import torch.nn.functional as F
from timing import interleaved_median_ms, rel

from nasfast.ops.avg_pool3x3 import avg_pool3x3

LAYOUTS = {"NCHW": torch.contiguous_format, "channels-last": torch.channels_last}


def torch_pool(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)




def bench_shape(shape: tuple[int, ...], dev: str, repeats: int, sync) -> None:
    gen = torch.Generator().manual_seed(0)
    x0, g0 = torch.randn(*shape, generator=gen), torch.randn(*shape, generator=gen)
    # The values every layout and side must give: torch, NCHW, float64, on the CPU.
    xr = x0.double().requires_grad_(True)
    y_true = torch_pool(xr)
    (dx_true,) = torch.autograd.grad(y_true, xr, g0.double())
    medians = {}
    for layout, fmt in LAYOUTS.items():
        x = x0.to(dev).contiguous(memory_format=fmt)
        g = g0.to(dev).contiguous(memory_format=fmt)
        xs = {side: x.clone().requires_grad_(True) for side in ("torch", "ours")}
        fns = {"torch": torch_pool, "ours": avg_pool3x3}
        ys = {side: fns[side](xs[side]) for side in fns}
        grads = {side: torch.autograd.grad(ys[side], xs[side], g, retain_graph=True)[0] for side in fns}
        err_ours = max(rel(ys["ours"], y_true), rel(grads["ours"], dx_true))
        err_torch = max(rel(ys["torch"], y_true), rel(grads["torch"], dx_true))
        assert err_ours < 1e-6, f"{shape} {layout}: avg_pool3x3 differs from torch (rel norm {err_ours:.1e})"
        note = "" if err_torch < 1e-6 else f"  (torch's own result is wrong here: rel norm {err_torch:.1e})"
        with torch.no_grad():
            fwd = interleaved_median_ms([lambda x=x: torch_pool(x), lambda x=x: avg_pool3x3(x)], repeats, sync)
        bwd = interleaved_median_ms(
            [lambda y=ys[side], xv=xs[side], g=g: torch.autograd.grad(y, xv, g, retain_graph=True)
             for side in ("torch", "ours")],
            repeats, sync)
        for pass_name, (t_torch, t_ours) in (("forward", fwd), ("backward", bwd)):
            medians[layout, pass_name] = (t_torch, t_ours)
            print(f"{'x'.join(map(str, shape)):>14s} {layout:13s} {pass_name:8s} {t_torch:9.3f} {t_ours:8.3f} "
                  f"{t_torch / t_ours:9.2f}x{note}", flush=True)
    for pass_name in ("forward", "backward"):
        best_torch = min(medians[layout, pass_name][0] for layout in LAYOUTS)
        ours_cl = medians["channels-last", pass_name][1]
        print(f"{'x'.join(map(str, shape)):>14s} {pass_name:8s}: fastest torch layout / ours channels-last "
              f"{best_torch / ours_cl:.2f}x", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--shapes", nargs="+", default=["64x16x32x32", "64x32x16x16", "64x64x8x8"],
                        help="NxCxHxW")
    args = parser.parse_args()
    shapes = [tuple(int(v) for v in s.lower().split("x")) for s in args.shapes]
    assert all(len(s) == 4 for s in shapes), "shapes are NxCxHxW"
    torch.set_num_threads(args.threads)
    dev = args.device
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    name = torch.cuda.get_device_name() if dev == "cuda" else "cpu"
    print(f"load average before: {os.getloadavg()}; torch {torch.__version__}, threads={args.threads}, device={name}, "
          f"float32, medians of {args.repeats} interleaved calls")
    print(f"{'shape':>14s} {'layout':13s} {'pass':8s} {'torch ms':>9s} {'ours ms':>8s} {'torch/ours':>10s}")
    for shape in shapes:
        bench_shape(shape, dev, args.repeats, sync)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

"""gather_dropout / gather_dropout_dot vs plain PyTorch (index_select, F.dropout, and for the dot
``@ w``), forward and forward + backward, measured in the same run on the same inputs.

The sizes are GATES' pointwise head in training: the NB101 paper head (first hidden layer 200
wide) and the NB201 one (300 wide), a minibatch of 512 archs each used by 8 pair members (4 pairs
per arch, aw_nas's max_compare_ratio), and a larger 16,384-arch batch. Torch and ours are called in
turn, call by call, after 3 untimed calls of each; times are medians of --repeats calls.
float32, p = 0.1, 1 thread by default.

Before timing, each size checks ours against ``python_tests/reference_gather_dropout.py`` (the mask
recomputed in numpy from its definition, float64 torch gather / dropout / dot) with the same seed on
the first 2,048 uses (a use's mask does not depend on how many uses follow): forward values and the
gradients of x (and w), plus the kept fraction over all uses against 1 - p.
Usage: ``python benchmarks/bench_gather_dropout.py [--threads 1] [--repeats 50] [--device cpu]
[--sizes 512x200 512x300 16384x200]`` (ARCHSxWIDTH; uses = 8 x archs).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python_tests"))

from reference_gather_dropout import gather_dropout_dot_reference, gather_dropout_reference
from timing import interleaved_median_ms, rel

from nasfast.ops.gather_dropout import gather_dropout, gather_dropout_dot


def check(x: torch.Tensor, w: torch.Tensor, index: torch.Tensor, p: float, seed: int = 12345) -> str:
    """Ours against the float64 reference with the same seed (first 2,048 uses), and the keep rate."""
    m = min(len(index), 2048)
    idx = index[:m]
    xs, ws = x.detach().clone().requires_grad_(True), w.detach().clone().requires_grad_(True)
    xr, wr = x.detach().double().cpu().requires_grad_(True), w.detach().double().cpu().requires_grad_(True)
    g = torch.randn(m, x.shape[1], dtype=torch.float64)
    ours = gather_dropout(xs, idx, p, seed=seed)
    ref = gather_dropout_reference(xr, idx.cpu(), p, seed)
    ours.backward(g.to(ours))
    ref.backward(g)
    errs = [rel(ours, ref), rel(xs.grad, xr.grad)]
    xs.grad = xr.grad = None
    gy = torch.randn(m, dtype=torch.float64)
    ours_dot = gather_dropout_dot(xs, idx, ws, p, seed=seed)
    ref_dot = gather_dropout_dot_reference(xr, idx.cpu(), wr, p, seed)
    ours_dot.backward(gy.to(ours_dot))
    ref_dot.backward(gy)
    errs += [rel(ours_dot, ref_dot), rel(xs.grad, xr.grad), rel(ws.grad, wr.grad)]
    # float32 against float64: sums over up to ~300 terms (dot) or ~300 uses (a row's gradient).
    assert max(errs) < 1e-5, f"ours differs from the reference: relative norms {errs}"
    with torch.no_grad():
        kept = float((gather_dropout(x, index, p, seed=seed) != 0).double().mean())
    n_el = len(index) * x.shape[1]
    sd = (p * (1 - p) / n_el) ** 0.5
    assert abs(kept - (1 - p)) < 6 * sd + 1e-6, f"kept fraction {kept:.5f}, expected {1 - p} (sd {sd:.1e})"
    return f"check ok: max rel norm {max(errs):.1e} (fwd, dx, dot, dx, dw), kept {kept:.4f}"


def bench_size(n: int, width: int, p: float, dev: str, repeats: int, sync) -> None:
    uses = 8 * n
    g0 = torch.Generator().manual_seed(n * 1000 + width)
    x = torch.randn(n, width, generator=g0).to(dev).requires_grad_(True)
    w = torch.randn(width, generator=g0).to(dev).requires_grad_(True)
    index = torch.randint(0, n, (uses,), generator=g0).to(dev)
    g, gy = torch.randn(uses, width, device=dev), torch.randn(uses, device=dev)
    print(f"# {n} archs, {uses} uses, width {width}: {check(x, w, index, p)}", flush=True)
    cases = {
        "gather_dropout": (lambda: F.dropout(x.index_select(0, index), p), lambda: gather_dropout(x, index, p), g),
        "..._dot": (lambda: F.dropout(x.index_select(0, index), p) @ w, lambda: gather_dropout_dot(x, index, w, p), gy),
    }
    for op, (ref, ours, grad) in cases.items():
        with torch.no_grad():
            fwd = interleaved_median_ms([ref, ours], repeats, sync, warmup=3)
        both = interleaved_median_ms([lambda r=ref, gr=grad: r().backward(gr),
                                      lambda o=ours, gr=grad: o().backward(gr)], repeats, sync, warmup=3)
        for pass_name, (t_ref, t_ours) in (("forward", fwd), ("fwd+bwd", both)):
            print(f"{n:6d} {uses:7d} {width:5d} {op:14s} {pass_name:8s} {t_ref:9.3f} {t_ours:8.3f} "
                  f"{t_ref / t_ours:9.1f}x", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", nargs="+", default=["512x200", "512x300", "16384x200"],
                        help="ARCHSxWIDTH, uses = 8 x archs")
    args = parser.parse_args()
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes]
    torch.set_num_threads(args.threads)
    dev = args.device
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    name = torch.cuda.get_device_name() if dev == "cuda" else "cpu"
    print(f"load average before: {os.getloadavg()}; torch {torch.__version__}, threads={args.threads}, device={name}, "
          f"p = 0.1, float32, medians of {args.repeats} interleaved calls")
    print(f"{'archs':>6s} {'uses':>7s} {'width':>5s} {'op':14s} {'pass':8s} {'torch ms':>9s} {'ours ms':>8s} "
          f"{'torch/ours':>10s}")
    for n, width in sizes:
        bench_size(n, width, 0.1, dev, args.repeats, sync)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

"""The ``nasfast proxies`` subcommand (registered by ``nasfast.cli``; imports torch only when run)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from nasfast.cli_types import positive_int

PROXY_NAMES = ("synflow", "snip", "grad_norm", "grasp", "fisher", "jacob_cov", "naswot", "plain", "l2_norm",
               "mag", "params", "flops")  # = nasfast.proxies.PROXIES (a test keeps them equal)
DATASETS = ("cifar10", "cifar100", "ImageNet16-120")


def add_proxies(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("proxies", help="zero-cost proxies of NB201 architectures, into a resumable CSV",
                       description="Compute zero-cost proxies (batched) for NB201 architectures. The CSV grows "
                                   "row by row; rerunning the same command resumes.")
    p.add_argument("--space", default="nb201", choices=("nb201",), help="search space (nb201)")
    p.add_argument("--dataset", default="cifar10", choices=DATASETS,
                   help="head and input size (the images are always the bundled CIFAR-10 subset)")
    p.add_argument("--proxies", default="synflow,snip,jacob_cov", help=f"comma list from {','.join(PROXY_NAMES)}")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="all 15,625 archs (NASLib's 725 first, then random order)")
    which.add_argument("--archs", type=Path, help="file with one NB201 arch string or index per line")
    which.add_argument("--sample", type=positive_int,
                       help="a fixed random sample of this many archs (seed 0). Samples of different sizes are "
                            "unrelated, not nested: a larger N computes mostly new archs. To grow a table, run "
                            "--all for as long as needed (rerunning resumes) or list the archs with --archs")
    p.add_argument("--out", type=Path, required=True,
                   help="CSV to write (appended to when resuming; a second run on it while one is running is refused)")
    p.add_argument("--batch-size", type=int, default=64, help="images per batch (default 64, the reference's)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial weights (each arch its own stream)")
    p.add_argument("--arch-batch", type=positive_int, default=1,
                   help="architectures evaluated together (default 1: fastest on CPU; larger on a GPU)")
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"),
                   help="precision of the networks and images (default float32; synflow always runs in "
                        "float64, as the reference does)")
    p.add_argument("--threads", type=positive_int, help="torch CPU threads (shared among --workers)")
    p.add_argument("--workers", type=positive_int, default=1,
                   help="processes computing archs side by side (default 1); rows are written in order")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _read_archs(path: Path) -> list[int]:
    from nasfast.spaces import nb201

    if not path.exists():
        raise ValueError(f"--archs file {path} does not exist")
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            index = int(line) if line.isdigit() else nb201.parse(line).index
            if not 0 <= index < nb201.NUM_ARCHS:
                raise ValueError(f"NB201 index {index} out of range 0..{nb201.NUM_ARCHS - 1}")
        except ValueError as err:
            raise ValueError(f"{path}:{n}: {err}") from None
        out.append(index)
    return out


def cmd_proxies(args: argparse.Namespace) -> int:
    import torch

    from nasfast.proxies.definitions import check_proxy_names
    from nasfast.proxies.table import TableConfig, fixed_sample, priority_order, run_nb201_table

    if args.threads:
        torch.set_num_threads(args.threads)
    names = check_proxy_names(args.proxies.split(","))
    config = TableConfig(dataset=args.dataset, proxies=tuple(names), batch_size=args.batch_size,
                         init_seed=args.seed, dtype=args.dtype)
    if args.all:
        indices = priority_order()
    elif args.sample is not None:
        indices = fixed_sample(args.sample)
    else:
        indices = _read_archs(args.archs)
    t0 = time.perf_counter()
    n = run_nb201_table(indices, config, args.out, arch_batch=args.arch_batch, progress=not args.no_progress,
                        device=args.device, workers=args.workers)
    dt = time.perf_counter() - t0
    rate = f", {dt / n:.3f} s/arch" if n else ""
    print(f"{n} archs computed ({len(set(indices)) - n} already in {args.out}){rate}; {args.out}")
    return 0

"""``nasfast reproduce <experiment>``: the argparse face of ``nasfast.reproduce.run``."""

from __future__ import annotations

import argparse
from pathlib import Path

from nasfast.cli_types import positive_int
from nasfast.reproduce.gates import ALL_CONFIGS

_PREDICTOR = ("gates-nb101", "gates-nb201")
_NOSH = ("nosh-nb201", "nosh-nb101")
#: option -> the experiments that read it (--out, --quick, --threads and --no-progress apply to all;
#: proxybo-nb201 runs its searches in worker processes and takes no --threads)
_APPLIES = {
    "seeds": (*_PREDICTOR, "landmark-nb201", *_NOSH, "proxybo-nb201"),
    "epochs": (*_PREDICTOR, "landmark-nb201"),
    "counts": _PREDICTOR, "configs": _PREDICTOR, "device": _PREDICTOR, "report_only": _PREDICTOR,
    "threads": (*_PREDICTOR, "landmark-nb201", *_NOSH, "proxies-nb201"),
    "schedule": ("landmark-nb201",), "landmark_protocol": ("landmark-nb201",),
    "budget": ("proxybo-nb201",), "workers": ("proxybo-nb201",), "methods": ("proxybo-nb201",),
    "datasets": ("proxybo-nb201",),
    "sweep": _NOSH, "baseline_seeds": _NOSH,
    "limit": ("proxies-nb201",),
}


def check_options(args: argparse.Namespace) -> None:
    """Refuse an option the experiment would ignore (``nasfast search`` does the same for --algo):
    a silently dropped ``--budget`` or ``--epochs`` would leave a table that is not what was asked."""
    from nasfast.cli import CLIError

    for opt, experiments in _APPLIES.items():
        value = getattr(args, opt)  # `is`, not `in (None, False)`: 0 == False would pass as "not given"
        if args.experiment not in experiments and value is not None and value is not False:
            raise CLIError(f"--{opt.replace('_', '-')} does not apply to reproduce {args.experiment} "
                           f"(it applies to {' / '.join(experiments)})")


def add_reproduce(sub: argparse._SubParsersAction) -> None:
    from nasfast.reproduce import EXPERIMENTS

    p = sub.add_parser(
        "reproduce", help="reproduce a paper's table (GATES, proxies, ProxyBO, RANK-NOSH, landmarks)",
        description="Run every (setting, seed) of a paper table, append each result to OUT/results.csv as it "
                    "finishes (a rerun with the same --out skips those; proxies-nb201 fills resumable proxy "
                    "CSVs instead), and write OUT/table.md (ours beside the paper's), OUT/summary.json and a "
                    "plot (gates-*: tau.png, nosh-*: budget.png, landmark-nb201: skdt.png, proxybo-nb201: "
                    "curves.png).")
    p.add_argument("experiment", choices=sorted([*EXPERIMENTS, "proxies-nb201", "proxybo-nb201", "nosh-nb201", "nosh-nb101", "landmark-nb201"]))
    p.add_argument("--out", type=Path,
                   help="output directory (default runs/reproduce-<experiment>[-quick]); a second run on it while one "
                        "is running is refused")
    p.add_argument("--seeds", type=positive_int,
                   help="number of seeds, 0..N-1 (default 3; proxybo-nb201 30, nosh-nb201 / nosh-nb101 10; 2 with "
                        "--quick)")
    p.add_argument("--epochs", type=positive_int,
                   help="training epochs (default 200, the paper's; landmark-nb201 30, the CPU-sized "
                        "configuration (paper 400); 2 with --quick)")
    p.add_argument("--counts", type=float, nargs="+",
                   help="training-set sizes: numbers of archs for gates-nb101 (default 190 381 1906 3812 "
                        "19063), percentages of the 7,813-arch half for gates-nb201 (default 1 10 50 100)")
    p.add_argument("--configs", nargs="+", choices=ALL_CONFIGS, metavar="ENCODER+LOSS",
                   help=f"which predictors (default: the experiment's); known: {' '.join(ALL_CONFIGS)}")
    p.add_argument("--quick", action="store_true",
                   help="tiny network, 2 counts, 2 seeds, 2 epochs: every code path in seconds (for CI)")
    p.add_argument("--device", help="gates-nb101 / gates-nb201: torch device to train on (default cpu)")
    p.add_argument("--threads", type=positive_int,
                   help="torch CPU threads (default: torch's; 1 for landmark-nb201 and for gates-nb101 / gates-nb201 "
                        "with --quick); 1 is often faster on a busy machine")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (one line per run instead)")
    p.add_argument("--report-only", action="store_true",
                   help="gates-nb101 / gates-nb201: write the table from OUT/results.csv and run nothing (a "
                        "missing cell shows as not run)")
    p.add_argument("--schedule", choices=("reference", "paper"),
                   help="landmark-nb201: lambda schedule (default reference: the code's; paper: Eq. 7 as written)")
    p.add_argument("--landmark-protocol", choices=("paper", "reference"),
                   help="landmark-nb201: landmarks (default paper: 10 Hamming-diverse, 3 rounds adding the "
                        "super-net's top 10, ~30 in all; reference: the reference script's 50 random, one round)")
    p.add_argument("--budget", type=positive_int, help="proxybo-nb201: distinct evaluations per search (default 200)")
    p.add_argument("--workers", type=positive_int, help="proxybo-nb201: searches run in parallel processes (default 1)")
    p.add_argument("--methods", nargs="+", metavar="METHOD",
                   help="proxybo-nb201: only these methods (default all; the rest can be added later into the same --out)")
    p.add_argument("--datasets", nargs="+", metavar="DATASET",
                   help="proxybo-nb201: only these NB201 heads (default all three; a later run with the same --out "
                        "and all three reuses these runs)")
    p.add_argument("--sweep", action="store_true",
                   help="nosh-nb201 / nosh-nb101: also run RANK-NOSH Table 7's variants on cifar10 (nb201: r and the "
                        "Level-0 prior; nb101: r and the schedule)")
    p.add_argument("--baseline-seeds", type=positive_int,
                   help="nosh-nb201 / nosh-nb101: RS and REA seeds (default 100: their means are the targets)")
    p.add_argument("--limit", type=positive_int, help="proxies-nb201: compute at most this many archs per table (a prefix of "
                                             "its order: NASLib's 725 first, then seeded random)")


def cmd_reproduce(args: argparse.Namespace) -> int:
    from nasfast import reproduce

    check_options(args)
    out = args.out or Path("runs") / f"reproduce-{args.experiment}{'-quick' if args.quick else ''}"
    args.out = out  # what an interrupted run kept is named from it (cli._interrupted_hint)
    if args.experiment == "proxies-nb201":
        from nasfast.reproduce import proxies

        proxies.run(out, quick=args.quick, limit=args.limit, threads=args.threads, progress=not args.no_progress)
        return 0
    if args.experiment == "landmark-nb201":
        import torch

        from nasfast.reproduce import landmark

        torch.set_num_threads(args.threads or 1)  # 1 thread: oneDNN oversubscribes a busy 2-core machine
        landmark.run(out, quick=args.quick, seeds=args.seeds, epochs=args.epochs, schedule=args.schedule,
                     protocol=args.landmark_protocol or "paper", progress=not args.no_progress)
        return 0
    if args.experiment in ("nosh-nb201", "nosh-nb101"):
        from nasfast.reproduce import nosh

        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        nosh.run(out, space=args.experiment.split("-")[1], quick=args.quick, seeds=args.seeds, sweep=args.sweep,
                 baseline_seeds=args.baseline_seeds, progress=not args.no_progress)
        return 0
    if args.experiment == "proxybo-nb201":
        from nasfast.reproduce import proxybo

        proxybo.run(out, seeds=args.seeds, budget=args.budget, quick=args.quick, workers=args.workers or 1,
                    methods=args.methods, datasets=args.datasets, progress=not args.no_progress)
        return 0
    reproduce.run(args.experiment, out, seeds=args.seeds, epochs=args.epochs, counts=args.counts,
                  configs=args.configs, quick=args.quick, device=args.device or "cpu", threads=args.threads, progress=not args.no_progress,
                  report_only=args.report_only)
    return 0

"""The ``nasfast train-predictor`` and ``nasfast score`` subcommands (registered by ``nasfast.cli``).

Outside ``nasfast.predictors`` so that ``nasfast info`` / ``search`` do not import torch: torch
and the predictor code are imported when one of these commands runs.

- ``train-predictor``: fit a ``GATESPredictor`` on a bundled table (nb101 / nb201 / nb301) or a
  user CSV table (``tabular.from_csv``) and save it.
- ``score``: stream candidates (``--archs FILE`` or ``--sample N``) through a saved predictor and
  write the top K (``nasfast.predictors.scoring``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from nasfast.cli_types import non_negative_int, output_file

SPACES = ("nb101", "nb201", "darts")
#: bundled table of each space, and the column trained on by default
DEFAULT_TABLE = {"nb101": "nb101", "nb201": "nb201", "darts": "nb301"}
DEFAULT_COLUMN = {"nb101": "cifar10/acc/valid/108ep", "nb201": "cifar10-valid/acc/valid/200ep",
                  "darts": "cifar10/surrogate_acc"}


#: ``nasfast.predictors.network.ENCODERS`` / ``LOSSES`` (a test keeps them equal; not imported: torch)
ENCODERS = ("gates", "mlp", "gcn", "gcn_global")
LOSSES = ("hinge", "bce", "comparator", "listmle", "regression")


class CommandError(Exception):
    """A user error, printed by ``nasfast.cli`` as one line with exit status 2."""


# ---- nasfast train-predictor ---------------------------------------------------------------------

def add_train_predictor(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-predictor", help="train a GATES (or baseline) ranking predictor on a table and save it",
                       description="Fit a GATESPredictor on a bundled benchmark table or a CSV table and save it "
                                   "for `nasfast score`.")
    p.add_argument("--space", required=True, choices=SPACES, help="search space of the table's archs")
    p.add_argument("--table", help="bundled table name (nb101, nb201, nb301) or a CSV file "
                                   "(default: the space's bundled table)")
    p.add_argument("--column", help="accuracy column to rank by (default: nb101 cifar10/acc/valid/108ep, nb201 "
                                    "cifar10-valid/acc/valid/200ep, nb301 cifar10/surrogate_acc, CSV: its first "
                                    "metric column)")
    p.add_argument("--encoder", default="gates", choices=ENCODERS, help="encoder (default gates)")
    p.add_argument("--loss", default="hinge", choices=LOSSES, help="ranking loss (default hinge, margin 0.1)")
    p.add_argument("--epochs", type=int, default=200, help="training epochs (default 200, the paper's)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the train subset, init and pair sampling")
    p.add_argument("--train-size", type=int, help="train on this many rows drawn at random (seeded); the rest "
                                                  "is held out and its Kendall tau printed (default: all rows)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--out", type=output_file, required=True, help="where to save the model (.pt)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _load_table(space: str, table: str | None) -> Any:
    from nasfast import tabular

    name = table or DEFAULT_TABLE[space]
    path = Path(name)
    if path.is_file():
        return tabular.from_csv(path, space=space), True
    if name.lower().endswith((".csv", ".csv.gz")) or "/" in name:
        raise CommandError(f"--table {name}: no such file")
    try:
        bench = tabular.load(name)
    except ValueError as err:
        raise CommandError(f"--table {name}: neither a file nor a bundled table ({err})") from None
    if bench.space != space:
        raise CommandError(f"--table {name} holds {bench.space} archs, not --space {space}")
    return bench, False


def _table_archs(space: str, bench: Any, from_csv: bool) -> Any:
    """The archs of every row in a form the predictor encodes without Python objects where we can."""
    if not from_csv and space == "nb201":
        return np.arange(len(bench))  # bundled rows are benchmark indices
    if not from_csv and space == "nb101":
        from nasfast.tabular.bundled import NB101_MAIN, npz_array

        return npz_array(NB101_MAIN, "adjacency"), npz_array(NB101_MAIN, "ops")
    archs = list(bench.archs())
    hashed = [i for i, a in enumerate(archs) if isinstance(a, str)] if space == "nb101" else []
    if hashed:
        rows = "every row" if len(hashed) == len(archs) else f"{len(hashed)} row(s), the first row {hashed[0] + 1}"
        raise CommandError(f"table {bench.name!r} keys NB101 archs by module hash only in {rows}; training needs "
                           'the graphs: write the arch column as {"matrix": [[...]], "ops": [...]}')
    return archs


def _rows(archs: Any, idx: np.ndarray) -> Any:
    if isinstance(archs, tuple):
        return archs[0][idx], archs[1][idx]
    if isinstance(archs, np.ndarray):
        return archs[idx]
    return [archs[i] for i in idx]


def cmd_train_predictor(args: argparse.Namespace) -> int:
    from nasfast.metrics import kendall_tau
    from nasfast.predictors import GATESPredictor

    bench, from_csv = _load_table(args.space, args.table)
    if args.column is None:
        column = bench.columns[0] if from_csv else DEFAULT_COLUMN[args.space]
    else:
        column = bench.canonical(args.column)
    acc = bench.column(column)
    rows = bench.available(column)
    if len(rows) < 2:
        raise CommandError(f"column {column!r} of {bench.name!r} has {len(rows)} values; need at least 2")
    if args.epochs < 1:
        raise CommandError(f"--epochs must be positive, got {args.epochs}")
    rng = np.random.default_rng(args.seed)
    if args.train_size is not None:
        if not 2 <= args.train_size <= len(rows):
            raise CommandError(f"--train-size must be in 2..{len(rows)} (rows with a value), got {args.train_size}")
        perm = rng.permutation(rows)
        train_rows, test_rows = np.sort(perm[:args.train_size]), np.sort(perm[args.train_size:])
    else:
        train_rows, test_rows = rows, rows[:0]
    archs = _table_archs(args.space, bench, from_csv)
    predictor = GATESPredictor(args.space, args.encoder, args.loss, device=args.device, seed=args.seed,
                               epochs=args.epochs)
    print(f"training {args.encoder} + {args.loss} on {len(train_rows)} of {len(rows)} rows of {bench.name} "
          f"({column}), {args.epochs} epochs")
    start = time.perf_counter()
    predictor.fit(_rows(archs, train_rows), acc[train_rows], progress=not args.no_progress)
    seconds = time.perf_counter() - start
    print(f"train size:          {len(train_rows)}")
    print(f"training time:       {seconds:.1f} s (final epoch loss {predictor.history[-1]:.4g})")
    if len(test_rows) >= 2:
        pred = predictor.score(_rows(archs, test_rows))
        print(f"held-out Kendall tau: {kendall_tau(acc[test_rows], pred):.4f} on the other {len(test_rows)} rows")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    predictor.save(args.out)
    print(f"model:               {args.out}")
    return 0


# ---- nasfast score -------------------------------------------------------------------------------

def add_score(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="score many candidate archs with a trained predictor and keep the top K",
                       description="Stream candidates in chunks through a saved predictor, drop duplicates, "
                                   "keep the top K and write them as CSV (rank, arch, score).")
    p.add_argument("--space", required=True, choices=SPACES, help="search space (must match the model's)")
    p.add_argument("--model", type=Path, required=True, help="model saved by `nasfast train-predictor`")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--archs", type=Path, help="candidates FILE: a .csv file (arch column) or one arch a line "
                                                "(NB201 string or index, DARTS genotype text, NB101 "
                                                '{"matrix": ..., "ops": ...} JSON)')
    src.add_argument("--sample", type=int, metavar="N", help="score N candidates sampled uniformly as the "
                                                             "space's sample() does (duplicates included in N)")
    p.add_argument("--top", type=int, default=100, help="how many best archs to keep (default 100)")
    p.add_argument("--out", type=output_file, required=True, help="CSV to write the top K to")
    p.add_argument("--chunk-size", type=int, default=65536, help="candidates per chunk (default 65536)")
    p.add_argument("--micro-batch", type=int,
                   help="archs per network call (default 4096, as GATESPredictor.score's: the fastest on 2 CPU "
                        "threads, or --chunk-size if smaller); at most --chunk-size; for a given --micro-batch "
                        "that is a multiple of 4 the scores are bit-identical for every --chunk-size (BLAS "
                        "rounds a row by its position in a call otherwise)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of --sample (default 0)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def cmd_score(args: argparse.Namespace) -> int:
    from nasfast.predictors import GATESPredictor, scoring

    if not args.model.is_file():
        raise CommandError(f"--model {args.model}: no such file (train one with `nasfast train-predictor`)")
    if args.micro_batch is None:
        args.micro_batch = min(4096, args.chunk_size)
    for opt in ("top", "chunk_size", "micro_batch"):
        if getattr(args, opt) < 1:
            raise CommandError(f"--{opt.replace('_', '-')} must be positive, got {getattr(args, opt)}")
    if args.chunk_size < args.micro_batch:  # score() pads every call to a whole micro-batch
        raise CommandError(f"--micro-batch {args.micro_batch} is above --chunk-size {args.chunk_size}: every chunk "
                           "would be padded to a whole micro-batch; lower --micro-batch or raise --chunk-size")
    if args.sample is not None and args.sample < 1:
        raise CommandError(f"--sample must be positive, got {args.sample}")
    if args.archs is not None and not args.archs.is_file():
        raise CommandError(f"--archs {args.archs}: no such file")
    predictor = GATESPredictor.load(args.model, device=args.device)
    if predictor.space != args.space:
        raise CommandError(f"--model {args.model} was trained on space {predictor.space!r}, not --space {args.space}")
    if args.archs is not None:
        batches = scoring.read_archs(args.space, args.archs, args.chunk_size)
        total = None
    else:
        batches = scoring.sampled_batches(args.space, args.sample, args.chunk_size, args.seed)
        total = args.sample
    result = scoring.score_stream(predictor, batches, args.top, total=total, progress=not args.no_progress,
                                  micro_batch=args.micro_batch)
    if result.candidates == 0:  # an empty or header-only file: nothing was scored, so no top-K to write
        raise CommandError(f"--archs {args.archs}: no architectures in the file")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    scoring.write_top(result, args.out)
    print(f"candidates:          {result.candidates} ({result.unique} unique, duplicates by {result.dedup_rule})")
    print(f"time:                {result.seconds:.2f} s, {result.archs_per_s:,.0f} archs/s "
          f"({result.unique / max(result.seconds, 1e-12):,.0f} unique scored/s; set-up before it "
          f"{result.setup_seconds:.2f} s)")
    print(f"peak RSS:            {result.peak_rss / 2**20:,.0f} MiB (whole process, torch included)")
    if result.archs:
        print(f"best:                {result.scores[0]:.6g}  {result.archs[0]}")
    print(f"top {len(result.archs)} written to:  {args.out}")
    return 0

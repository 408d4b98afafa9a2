"""``nasfast search --algo rank-nosh | sh | hyperband``: multi-fidelity searches on the bundled
tables (NB201 at 12 / 200 epochs, NB101-30k at 4 / 12 / 36 / 108), into a resumable run directory
(``nasfast.search.multifidelity_runner``)."""

from __future__ import annotations

import argparse
from typing import Any

MF_ALGOS = ("rank-nosh", "sh", "hyperband")
#: options of ``nasfast search`` that only these algorithms take: option -> (algos, constructor kwarg)
MF_OPTIONS = {"ratio": (MF_ALGOS, "ratio"), "pool_size": (("rank-nosh",), "pool_size"),
              "prior": (("rank-nosh",), "prior"), "ranker": (("rank-nosh",), "ranker"), "archs": (("sh",), "n")}
#: single-fidelity options these algorithms refuse (they would be silently ignored otherwise)
_NOT_HERE = ("budget", "population", "tournament", "proxies", "proxy_table", "candidates", "report_rule", "table",
             "valid_column", "test_column", "cost_column")


def add_mf_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ratio", type=float, help="rank-nosh / sh / hyperband: move ratio r (default 1/2)")
    p.add_argument("--pool-size", type=int, help="rank-nosh: pool size M (default 300)")
    p.add_argument("--prior", help="rank-nosh: Level-0 prior (default mag on nb201, trainable_parameters on nb101)")
    p.add_argument("--ranker", choices=("gates", "arch2vec"),
                   help="rank-nosh: the ranker's encoder (default gates; arch2vec: the paper's, pretrained first)")
    p.add_argument("--archs", type=int, help="sh: the NUMBER of archs at the first rung (default 100; not a file, unlike "
                                                   "`nasfast score --archs`)")


def mf_resume_args(args: argparse.Namespace, config: dict[str, Any]) -> None:
    """Resuming a multi-fidelity run directory: fill in from its config.json the options the command
    line left out (the algorithm included), so that ``--resume --out DIR`` alone continues it."""
    from fractions import Fraction

    strategy = config.get("strategy", {})
    if strategy.get("algo") not in MF_ALGOS or args.algo not in (None, strategy["algo"]):
        return
    args.algo = strategy["algo"]
    saved = {"space": strategy.get("space"), "seed": strategy.get("seed"),
             "dataset": config.get("evaluator", {}).get("dataset"), "pool_size": strategy.get("pool_size"),
             "prior": strategy.get("prior"), "ranker": strategy.get("ranker"), "archs": strategy.get("n"),
             "ratio": float(Fraction(strategy["ratio"])) if "ratio" in strategy else None}
    for key, value in saved.items():
        if getattr(args, key) is None and value is not None and (key in ("space", "seed", "dataset")
                                                                  or args.algo in MF_OPTIONS[key][0]):
            setattr(args, key, value)


def cmd_mf_search(args: argparse.Namespace) -> int:
    """``args``: ``nasfast search``'s, with --space / --dataset / --seed / --out already filled in."""
    from nasfast import tabular
    from nasfast.cli import CLIError, algo_kwargs, print_best_arch
    from nasfast.search import get_space, nosh, table_candidates
    from nasfast.search.multifidelity import Hyperband, MultiFidelityEvaluator, SuccessiveHalving
    from nasfast.search.multifidelity_runner import run_multifidelity_search

    for opt in _NOT_HERE:
        if getattr(args, opt, None) is not None:
            raise CLIError(f"--{opt.replace('_', '-')} does not apply to --algo {args.algo} (a multi-fidelity "
                           "search spends epochs, not evaluations)")
    if args.space not in ("nb201", "nb101"):
        raise CLIError(f"--algo {args.algo} runs on nb201 or nb101 (the tables with several training lengths), "
                       f"not {args.space!r}")
    space = get_space(args.space)
    bench = tabular.load(args.space)
    candidates = table_candidates(space, bench) if len(bench) < space.NUM_ARCHS else None
    kwargs = algo_kwargs(args, MF_OPTIONS)
    builders = {"rank-nosh": nosh.RankNOSH, "sh": SuccessiveHalving, "hyperband": Hyperband}
    if args.algo != "rank-nosh":
        from nasfast.search.multifidelity import FIDELITIES

        kwargs["schedule"] = FIDELITIES[args.space]
    try:
        strategy = builders[args.algo](space, args.seed, candidates, **kwargs)
    except ValueError as err:
        raise CLIError(str(err)) from None
    # one random seed per query where the table has seeds: the observation rule of the reproduction
    evaluator = MultiFidelityEvaluator(bench, args.dataset, observe="random-seed", seed=args.seed)
    result = run_multifidelity_search(strategy, evaluator, args.out, resume=args.resume, progress=not args.no_progress)
    if not print_best_arch(result, args.out):
        return 1
    test = result["best_test_acc"]
    valid_col, test_col = evaluator.columns[strategy.schedule[-1]]
    seed_mean = float(bench.query([result["best_arch"]], valid_col)[0])
    if abs(seed_mean - result["best_valid_acc"]) > 1e-9:  # the search saw one random seed's run, not the mean
        print(f"validation accuracy: {result['best_valid_acc']:.2f} %  (one seed of {valid_col}, observed at "
              f"{strategy.schedule[-1]} epochs; the column's seed mean: {seed_mean:.2f} %)")
    else:
        print(f"validation accuracy: {result['best_valid_acc']:.2f} %  ({valid_col}, observed at "
              f"{strategy.schedule[-1]} epochs)")
    # name the column: on cifar10 it is the 50k-trained runs' test set, not TabularEvaluator's cifar10-valid one
    print(f"test accuracy:       {'none (no test column in this table)' if test != test else f'{test:.2f} %  ({test_col})'}")
    print(f"epochs charged:      {result['epochs']} ({result['results']} results)")
    print(f"run directory:       {args.out}")
    return 0

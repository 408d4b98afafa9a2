"""The ``nasfast`` command line: ``info`` and ``search`` here; ``train-predictor`` / ``score``
(``predictor_commands``), ``proxies`` (``proxy_commands``), the multi-fidelity ``search --algo``
(``multifidelity_commands``) and ``reproduce`` (``reproduce.command``) in modules of their own.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nasfast.evaluators import (
    BUNDLED_COLUMNS,
    DATASET_COLUMNS,
    DATASETS,
    NO_TEST_COLUMN,
    Request,
    Result,
    TabularEvaluator,
    build_evaluator,
)
from nasfast.multifidelity_commands import MF_ALGOS, MF_OPTIONS, add_mf_options, cmd_mf_search, mf_resume_args
from nasfast.predictor_commands import (
    CommandError,
    add_score,
    add_train_predictor,
    cmd_score,
    cmd_train_predictor,
)
from nasfast.proxy_commands import add_proxies, cmd_proxies
from nasfast.reproduce.command import add_reproduce, cmd_reproduce
from nasfast.runtime import apply_cli_defaults
from nasfast.search import (
    REPORT_RULES,
    SPACE_ALIASES,
    SPACES,
    STRATEGIES,
    ResumeError,
    RunDirectoryInUse,
    SpaceExhausted,
    build_strategy,
    canonical_space,
    get_space,
    run_search,
    table_candidates,
)
from nasfast.search.proxybo import PACKAGED_TABLES, dataset_table
from nasfast.search.runner import CONFIG_FILE, NO_INCUMBENT, read_run_config

#: --option -> where in config.json the value it must agree with when resuming lies
_RESUME_CHECKS = {
    "space": ("strategy", "space"), "algo": ("strategy", "algo"), "seed": ("strategy", "seed"),
    "population": ("strategy", "population"), "tournament": ("strategy", "tournament"),
    "dataset": ("evaluator", "dataset"), "table": ("evaluator", "table"),
    "valid_column": ("evaluator", "columns", "valid"), "test_column": ("evaluator", "columns", "test"),
    "cost_column": ("evaluator", "columns", "cost"),
    "proxies": ("strategy", "proxies"), "proxy_table": ("strategy", "proxy_table"),
    "candidates": ("strategy", "num_candidates"),
}
_SEARCH_DEFAULTS = {"space": "nb201", "dataset": "cifar10", "algo": "rea", "budget": 200, "seed": 0,
                    "report_rule": "incumbent"}
_REA_DEFAULTS = {"population": 10, "tournament": 3}
#: strategy options: --option -> (the algorithms that take it, their keyword argument)
_PROXY_ALGOS = ("proxybo", "warmup-bo", "proxy")
_ALGO_OPTIONS = {"population": (("rea",), "population"), "tournament": (("rea",), "tournament"),
                 "proxies": (_PROXY_ALGOS, "proxies"), "proxy_table": (_PROXY_ALGOS, "proxy_table"),
                 "candidates": (("proxybo", "bo", "warmup-bo"), "num_candidates")}


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


def algo_kwargs(args: argparse.Namespace, options: dict[str, tuple[tuple[str, ...], str]]) -> dict[str, Any]:
    """The strategy keyword arguments of the ``options`` given (``--opt -> (algos, kwarg)``); an option
    for another ``--algo`` is a ``CLIError``. Paths are passed as strings (they go into configs)."""
    out: dict[str, Any] = {}
    for opt, (algos, kwarg) in options.items():
        value = getattr(args, opt)
        if value is None:
            continue
        if args.algo not in algos:
            raise CLIError(f"--{opt.replace('_', '-')} applies to --algo {' / '.join(algos)} only, not {args.algo!r}")
        out[kwarg] = str(value) if isinstance(value, Path) else value
    return out


# ---- nasfast info ---------------------------------------------------------------------------------

def _add_info(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="spaces, datasets, benchmark columns and where the data come from")
    p.add_argument("--benchmark", default=None, help="describe only this bundled benchmark (default: all)")


def _cmd_info(args: argparse.Namespace) -> int:
    from nasfast import tabular

    names = tabular.benchmark_names()
    if args.benchmark is not None and args.benchmark not in names:
        raise CLIError(f"unknown benchmark {args.benchmark!r}; bundled: {names}")
    # with --benchmark, only what concerns that table: its space, its search datasets, its columns
    only = [args.benchmark] if args.benchmark else names
    print("search spaces:")
    for name in SPACES:
        if name not in only:
            continue
        space = get_space(name)
        ops = getattr(space, "OPS", ())
        print(f"  {name}: {space.NUM_ARCHS} architectures; ops {list(ops)}")
        example = getattr(space, "from_index", None)
        if example is not None:
            print(f"    arch string: {example(0)}")
    print("\nsearch algorithms:", ", ".join(STRATEGIES), f"(rea defaults: {_REA_DEFAULTS}); multi-fidelity "
          f"(nb201, nb101 tables; they spend epochs): {', '.join(MF_ALGOS)}")
    print("reporting rules:", ", ".join(REPORT_RULES), "(default incumbent: select on validation, report its test)")
    if "nb201" in only:
        print("\nsearch datasets (columns of the nb201 table: selection / reported test / cost):")
        for ds, (valid, test, cost) in DATASET_COLUMNS.items():
            print(f"  {ds:<15} {valid} / {test} / {cost}")
    for bench, datasets in BUNDLED_COLUMNS.items():
        if bench not in only:
            continue
        print(f"search datasets of the {bench} table (only its rows are searched):")
        for ds, (valid, test, cost) in datasets.items():
            print(f"  {ds:<15} {valid} / {test or NO_TEST_COLUMN} / {cost or 'no cost column'}")
    for name in only:
        print()
        print(tabular.load(name).describe())
    return 0


# ---- nasfast search -------------------------------------------------------------------------------

def _add_search(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="run a search on a tabular benchmark, recorded in a run directory",
                       description="Run a search (random, rea; on nb201 also proxybo, bo, warmup-bo, proxy; "
                                   "multi-fidelity rank-nosh, sh, hyperband on nb201 and nb101) on "
                                   "a benchmark table; every evaluation is written to OUT/history.csv as it "
                                   "happens, and --resume continues a killed run.")
    # defaults are None here and filled in later, so a resume can tell which options were given
    p.add_argument("--space", choices=sorted(SPACES) + sorted(SPACE_ALIASES),
                   help="search space, searched on its bundled table (default nb201; nb101: the 30,001-arch "
                        "subset; nb301 = darts: the 725 NB-301 genotypes, surrogate accuracies)")
    p.add_argument("--dataset", choices=DATASETS, help="dataset whose columns answer (default cifar10)")
    p.add_argument("--algo", choices=sorted([*STRATEGIES, *MF_ALGOS]),
                   help="search algorithm (default rea); rank-nosh, sh and hyperband are multi-fidelity (nb201, "
                        "nb101: they spend epochs, see nasfast.search.multifidelity)")
    p.add_argument("--budget", type=int, help="distinct evaluations (default 200)")
    p.add_argument("--seed", type=int, help="seed of the strategy (default 0)")
    p.add_argument("--out", type=Path, help="run directory (default runs/<space>-<dataset>-<algo>-seed<seed>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out (replays its history)")
    p.add_argument("--population", type=int, help="REA population size P (default 10)")
    p.add_argument("--tournament", type=int, help="REA tournament size S, drawn with replacement (default 3)")
    p.add_argument("--proxies", help="proxybo / warmup-bo / proxy: comma-separated proxy names (default proxybo: "
                                     "those of snip,synflow,jacob_cov the table has; the others: jacob_cov)")
    p.add_argument("--proxy-table", help="proxybo / warmup-bo / proxy: a packaged table (nb201_cifar10, nb201_cifar100, "
                                         "nb201_ImageNet16-120), 'bundled' (jacob_cov and params only) or a proxy CSV "
                                         "as `nasfast proxies` writes it (default: the packaged table of --dataset)")
    p.add_argument("--candidates", type=int, help="proxybo / bo / warmup-bo: candidates Q ranked per step (default 200)")
    p.add_argument("--report-rule", choices=REPORT_RULES,
                   help="incumbent (default): test acc of the best-validation arch; best-test-seen: the "
                        "best test acc among evaluated archs (test-informed, for comparing with papers that use it)")
    p.add_argument("--table", type=Path, help="search only the archs of this CSV table, answered by its columns")
    p.add_argument("--valid-column", help="column to select on (default: the dataset's, see `nasfast info`)")
    p.add_argument("--test-column", help="column reported as test accuracy")
    p.add_argument("--cost-column", help="column of training cost in seconds")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_mf_options(p)
    # testing only: slows every evaluation so a test can kill a run midway
    p.add_argument("--eval-delay", type=float, default=0.0, help=argparse.SUPPRESS)


class _DelayedEvaluator:
    """Sleeps before each evaluation (``--eval-delay``); everything else is the wrapped evaluator's."""

    def __init__(self, inner: TabularEvaluator, delay: float) -> None:
        self.inner, self.delay = inner, delay

    def __call__(self, request: Request) -> Result:
        time.sleep(self.delay)
        return self.inner(request)

    def config(self) -> dict[str, Any]:
        return self.inner.config()

    def replay(self, request: Request, result: Result) -> None:
        self.inner.replay(request, result)


def _load_table(path: Path, space: str) -> Any:
    from nasfast import tabular

    if not path.is_file():
        raise CLIError(f"--table {path}: no such file")
    return tabular.from_csv(path, space=space)


def _fresh_objects(args: argparse.Namespace) -> tuple[Any, TabularEvaluator]:
    from nasfast import tabular

    space = get_space(args.space)
    if args.table is not None:
        benchmark = _load_table(args.table, args.space)
        candidates = table_candidates(space, benchmark)
    else:
        benchmark = tabular.load(args.space)
        # a table that holds only part of its space (nb101, nb301) restricts the search to its rows
        candidates = table_candidates(space, benchmark) if len(benchmark) < space.NUM_ARCHS else None
    evaluator = TabularEvaluator(benchmark, args.dataset, valid_column=args.valid_column,
                                 test_column=args.test_column, cost_column=args.cost_column,
                                 table_path=args.table)
    params: dict[str, Any] = dict(_REA_DEFAULTS) if args.algo == "rea" else {}
    if args.algo in _PROXY_ALGOS and args.proxy_table is None and args.space == "nb201":
        params["proxy_table"] = dataset_table(args.dataset)  # the proxies computed with this dataset's head
    params.update(algo_kwargs(args, _ALGO_OPTIONS))
    strategy = STRATEGIES[args.algo](space, args.seed, candidates, **params)
    return strategy, evaluator


def _resumed_objects(args: argparse.Namespace, config: dict[str, Any]) -> tuple[Any, TabularEvaluator]:
    for opt, where in _RESUME_CHECKS.items():
        given = getattr(args, opt)
        saved: Any = config
        for key in where:
            saved = saved.get(key) if isinstance(saved, dict) else None
        if isinstance(saved, list):
            saved = ",".join(map(str, saved))  # --proxies a,b is stored as a list
            if given is not None:  # ... parsed as ProxyBO does: "snip, synflow" is the same two proxies
                given = ",".join(p.strip() for p in str(given).split(",") if p.strip())
        if given is not None and str(given) != str(saved):
            raise CLIError(f"--{opt.replace('_', '-')} {given} disagrees with the run being resumed "
                           f"({'.'.join(where)}={saved} in {args.out / CONFIG_FILE}); drop the option "
                           "or use another --out")
    evaluator = build_evaluator(config["evaluator"])
    candidates = None
    if config["strategy"].get("candidates") is not None:
        candidates = table_candidates(get_space(config["strategy"]["space"]), evaluator.benchmark)
    return build_strategy(config["strategy"], candidates), evaluator


def _cmd_search(args: argparse.Namespace) -> int:
    if args.table is not None:
        args.table = args.table.resolve()  # the config must still find it when resumed from elsewhere
    if args.proxy_table is not None and args.proxy_table not in (*PACKAGED_TABLES, "bundled"):
        args.proxy_table = str(Path(args.proxy_table).resolve())  # a CSV: found again when resumed from elsewhere
    if args.space is not None:
        args.space = canonical_space(args.space)  # darts -> nb301: one name in configs and run dirs
    if args.out is None:
        named = {k: getattr(args, k) or _SEARCH_DEFAULTS[k] for k in ("space", "dataset", "algo")}
        seed = args.seed if args.seed is not None else _SEARCH_DEFAULTS["seed"]
        args.out = Path("runs") / f"{named['space']}-{named['dataset']}-{named['algo']}-seed{seed}"
    if args.resume and (args.out / CONFIG_FILE).exists():
        mf_resume_args(args, read_run_config(args.out))  # options the resume left out
    if (args.algo or _SEARCH_DEFAULTS["algo"]) in MF_ALGOS:
        for key in ("space", "dataset", "seed"):
            if getattr(args, key) is None:
                setattr(args, key, _SEARCH_DEFAULTS[key])
        return cmd_mf_search(args)
    for opt in MF_OPTIONS:
        if getattr(args, opt) is not None:
            raise CLIError(f"--{opt.replace('_', '-')} applies to --algo {' / '.join(MF_OPTIONS[opt][0])} only")
    if args.resume and (args.out / CONFIG_FILE).exists():
        config = read_run_config(args.out)
        strategy, evaluator = _resumed_objects(args, config)
        budget = args.budget if args.budget is not None else int(config.get("budget", _SEARCH_DEFAULTS["budget"]))
        rule = args.report_rule or config.get("report_rule", "incumbent")
    else:
        for key, value in _SEARCH_DEFAULTS.items():
            if getattr(args, key) is None:
                setattr(args, key, value)
        strategy, evaluator = _fresh_objects(args)
        budget, rule = args.budget, args.report_rule
    run_evaluator: Any = _DelayedEvaluator(evaluator, args.eval_delay) if args.eval_delay > 0 else evaluator
    result = run_search(strategy, run_evaluator, budget, args.out, resume=args.resume,
                        progress=not args.no_progress, report_rule=rule)
    cols = evaluator.config()["columns"]
    if not print_best_arch(result, args.out):
        return 1
    print(f"validation accuracy: {result['best_valid_acc']:.2f} %  ({cols['valid']}, selects)")
    if cols["test"] is None:
        print(f"test accuracy:       none ({NO_TEST_COLUMN})")
    else:
        print(f"test accuracy:       {result['best_test_acc']:.2f} %  ({cols['test']}; "
              f"error {100 - result['best_test_acc']:.2f} %)")
    if rule != "incumbent":
        rep = result["reported"]
        print(f"reported ({rule}, test-informed): test accuracy {rep['test_acc']:.2f} % of {rep['arch']}")
    cost = (f"simulated cost {result['total_cost'] / 3600:.1f} GPU-h" if cols["cost"] is not None
            else "no cost column in this table")
    print(f"evaluations:         {result['evaluations']} ({cost})")
    for note in result.get("notes", ()):
        print(f"note:                {note}")
    print(f"run directory:       {args.out}")
    return 0


def print_best_arch(result: dict[str, Any], out: Path) -> bool:
    """The first lines of a search's report (the best arch, and its cell where ``result`` has one);
    False, after saying why on stderr, when the search found no best arch."""
    if result["best_arch"] is None:
        print(f"nasfast search: {result['warning']}; history in {out}", file=sys.stderr)
        return False
    print(f"best architecture:   {result['best_arch']}")
    if result.get("best_cell"):
        print(f"  cell:              ops {result['best_cell']['ops']}, matrix {result['best_cell']['matrix']}")
    return True


# ---- entry point ----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nasfast", description="Ranking-based neural architecture search.")
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(_COMMANDS) + "}")
    sub.required = True
    _add_info(sub)
    _add_search(sub)
    add_train_predictor(sub)
    add_score(sub)
    add_proxies(sub)
    add_reproduce(sub)
    return parser


_COMMANDS = {"info": _cmd_info, "search": _cmd_search, "train-predictor": cmd_train_predictor, "score": cmd_score,
             "proxies": cmd_proxies, "reproduce": cmd_reproduce}


def _interrupted_hint(args: argparse.Namespace) -> str:
    """What an interrupted command kept, and how to go on from it."""
    out = getattr(args, "out", None)
    if args.command == "search" and out is not None:
        again = "the same command" if getattr(args, "resume", False) else "the same command plus --resume"
        return f"the results so far are in {out}/history.csv; continue with {again}"
    if args.command in ("proxies", "reproduce") and out is not None:
        return f"the rows so far are in {out}; the same command continues from them"
    return "nothing was written"


def _show_warning(command: str):
    """``warnings.showwarning`` for the CLI: one line per distinct message, without Python's source
    echo. The search's no-incumbent warning is left out: the search command reports it itself."""
    seen: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        text = str(message)
        if text in seen or text.endswith(NO_INCUMBENT):
            return
        seen.add(text)
        print(f"nasfast {command}: warning: {text}", file=sys.stderr)
    return show


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nasfast`` script and of ``python -m nasfast``; returns the exit status."""
    args = build_parser().parse_args(argv)
    apply_cli_defaults()  # malloc keeps freed memory (nasfast.runtime; NASFAST_MALLOC=default opts out)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning(args.command)
        try:
            return _COMMANDS[args.command](args)
        except BrokenPipeError:
            # output piped into e.g. `head`, which stopped reading: not an error; silence the final flush
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        except KeyboardInterrupt:  # Ctrl-C: what was kept and how to go on, not a traceback
            print(f"\nnasfast {args.command}: interrupted; {_interrupted_hint(args)}", file=sys.stderr)
            return 130
        except (CLIError, CommandError, ValueError, KeyError, OSError, ResumeError, RunDirectoryInUse,
                SpaceExhausted) as err:
            # KeyError's str() adds quotes around its message; show the message itself. OSError: a path
            # that cannot be read or written (its message names it)
            message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
            print(f"nasfast {args.command}: error: {message}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())

"""RANK-NOSH: wall time of whole NB201 searches and where it goes (issue 7, acceptance 3: < 60 s on 2
CPU threads, ranker training included).

Each run is ``nasfast reproduce nosh-nb201``'s ``rank-nosh`` row (M = 450, r = 0.15, GATES comparator
ranker, prior "mag") and, with ``--paper``, its ``rank-nosh-paper`` row (M = 300, r = 1/2). Prints per
run the total seconds and its split: ranker fitting, ranker scoring of the unseen archs (all of NB201
every round), and the rest (pyramid bookkeeping, tabular lookups); then the mean and the ratio of the
mean to the 60 s goal. The reference a search is compared with here is the goal: no other RANK-NOSH
implementation exists (REFERENCES A2).
Usage: ``python benchmarks/bench_nosh.py [--threads 2] [--seeds 3] [--dataset cifar10] [--paper]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from nasfast.reproduce.nosh import NOSH_ARGS, PAPER_NOSH_ARGS
from nasfast.search.multifidelity import MultiFidelityEvaluator, run_multifidelity
from nasfast.search.nosh import RankNOSH
from nasfast.spaces import nb201
from nasfast.tabular import load

GOAL_S = 60.0


def one_run(config: dict, dataset: str, seed: int, bench) -> dict[str, float]:
    start = time.perf_counter()
    nosh = RankNOSH(nb201, seed, **config)
    run_multifidelity(nosh, MultiFidelityEvaluator(bench, dataset, observe="random-seed", seed=seed))
    total = time.perf_counter() - start
    fit = sum(r.get("fit_s", 0.0) for r in nosh.rounds)
    score = sum(r.get("score_s", 0.0) for r in nosh.rounds)
    return {"total": total, "fit": fit, "score": score, "rest": total - fit - score, "rounds": len(nosh.rounds),
            "epochs": nosh.epochs_used}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--dataset", default="cifar10")
    p.add_argument("--paper", action="store_true", help="also time the paper's M = 300, r = 1/2")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    bench = load("nb201")
    configs = {"rank-nosh": NOSH_ARGS["nb201"], **({"rank-nosh-paper": PAPER_NOSH_ARGS} if args.paper else {})}
    print(f"RANK-NOSH on NB201 {args.dataset}, {args.threads} thread(s), torch {torch.__version__}")
    print(f"{'row':<16} {'seed':>4} {'rounds':>6} {'epochs':>6} {'total s':>8} {'fit s':>7} {'score s':>8} {'rest s':>7}")
    for name, config in configs.items():
        one_run({**config, "pool_size": 60, "k_init": 24, "k": 12}, args.dataset, 99, bench)  # warm-up: imports, tables
        rows = [one_run(config, args.dataset, s, bench) for s in range(args.seeds)]
        for s, r in enumerate(rows):
            print(f"{name:<16} {s:>4} {r['rounds']:>6} {r['epochs']:>6} {r['total']:>8.2f} {r['fit']:>7.2f} "
                  f"{r['score']:>8.2f} {r['rest']:>7.2f}")
        mean = {k: float(np.mean([r[k] for r in rows])) for k in ("total", "fit", "score", "rest")}
        print(f"{name:<16} mean: {mean['total']:.2f} s = fit {mean['fit']:.2f} + score {mean['score']:.2f} + rest "
              f"{mean['rest']:.2f}; {mean['total'] / GOAL_S:.3f} of the {GOAL_S:.0f} s goal")


if __name__ == "__main__":
    main()

"""ProxyBO: wall time of whole 200-evaluation NB201 searches and where it goes (issue 6, acceptance 4:
< 30 s on 2 CPU threads; per-iteration cost of the surrogate fit, the cross-validation and the
candidate scoring).

Each run is ``nasfast search --algo proxybo`` on NB201 (Q = 200, K = 5 folds, the packaged proxy
table of the dataset's head). The reference, measured in the same run on the same seeds, is the same
search with the forest fitted through ``sklearn.ensemble.RandomForestRegressor`` (the usual way);
``nasfast.search.surrogate.RandomForest`` grows that same forest tree by tree (the tests check the
predictions are identical), so both searches pick the same archs and only the time differs.
Usage: ``python benchmarks/bench_proxybo.py [--threads 2] [--seeds 3] [--dataset cifar10]``.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections import defaultdict

import numpy as np
import torch

from nasfast.evaluators import TabularEvaluator
from nasfast.search import proxybo as pbo
from nasfast.search import search, surrogate
from nasfast.search.proxybo import ProxyBO, dataset_table
from nasfast.spaces import nb201
from nasfast.tabular import load

GOAL_S = 30.0


class SklearnForest(surrogate.RandomForest):
    """The reference: the forest as ``RandomForestRegressor`` fits it (same seeds, same trees)."""

    def fit(self, X, y):
        from sklearn.ensemble import RandomForestRegressor

        forest = RandomForestRegressor(
            n_estimators=self.n_trees, min_samples_split=self.min_samples_split, min_samples_leaf=self.min_samples_leaf,
            max_features=float(self.max_features), bootstrap=self.bootstrap, random_state=int(self.seed) % 2**32,
            n_jobs=1).fit(np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64))
        self._forest = forest.estimators_
        return self


def timed(clock: dict[str, float], key: str, fn):
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            clock[key] += time.perf_counter() - t0
    return wrapper


def one_run(forest_cls, dataset: str, seed: int, bench) -> dict[str, float]:
    """One search with the stages timed by wrapping the names ``proxybo`` calls them by."""
    clock: dict[str, float] = defaultdict(float)
    saved = (pbo.RandomForest, pbo.cross_val_predict, surrogate.RandomForest, pbo.BayesianOptimization.candidate_pool,
             pbo.expected_improvement, pbo.average_ranks)

    class Forest(forest_cls):
        fit = timed(clock, "fit", forest_cls.fit)
        predict = timed(clock, "predict", forest_cls.predict)

    try:
        surrogate.RandomForest = forest_cls  # what cross_val_predict grows its fold forests with
        pbo.RandomForest = Forest  # the final fit of each step
        pbo.cross_val_predict = timed(clock, "cv", saved[1])
        pbo.BayesianOptimization.candidate_pool = timed(clock, "pool", saved[3])
        pbo.expected_improvement = timed(clock, "rank", saved[4])
        pbo.average_ranks = timed(clock, "rank", saved[5])
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a partial proxy table's warning
            strategy = ProxyBO(nb201, seed, proxy_table=dataset_table(dataset))
        trace = search(strategy, TabularEvaluator(bench, dataset), 200)
        total = time.perf_counter() - start
    finally:
        (pbo.RandomForest, pbo.cross_val_predict, surrogate.RandomForest, pbo.BayesianOptimization.candidate_pool,
         pbo.expected_improvement, pbo.average_ranks) = saved
    steps = sum(1 for d in strategy.diagnostics() if d["phase"] == "ranked")
    score = clock["predict"] + clock["rank"]
    return {"total": total, "cv": clock["cv"], "fit": clock["fit"], "score": score, "pool": clock["pool"],
            "rest": total - clock["cv"] - clock["fit"] - score - clock["pool"], "steps": steps,
            "best": trace.incumbent[1]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--dataset", default="cifar10")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    bench = load("nb201")
    print(f"ProxyBO on NB201 {args.dataset}, 200 evaluations, {args.threads} thread(s)")
    print(f"{'forest':<10} {'seed':>4} {'total s':>8} {'cv s':>6} {'fit s':>6} {'score s':>7} {'pool s':>6} "
          f"{'rest s':>6} {'ms/step':>7}")
    means = {}
    for name, cls in (("ours", surrogate.RandomForest), ("sklearn", SklearnForest)):
        one_run(cls, args.dataset, 99, bench)  # warm-up: imports, tables
        rows = [one_run(cls, args.dataset, s, bench) for s in range(args.seeds)]
        for s, r in enumerate(rows):
            print(f"{name:<10} {s:>4} {r['total']:>8.2f} {r['cv']:>6.2f} {r['fit']:>6.2f} {r['score']:>7.2f} "
                  f"{r['pool']:>6.2f} {r['rest']:>6.2f} {1000 * r['total'] / r['steps']:>7.1f}")
        means[name] = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
        m = means[name]
        print(f"{name:<10} mean: {m['total']:.2f} s over {m['steps']:.0f} ranked steps; per step: cv "
              f"{1000 * m['cv'] / m['steps']:.1f} ms, fit {1000 * m['fit'] / m['steps']:.1f} ms, scoring "
              f"{1000 * m['score'] / m['steps']:.1f} ms, candidate pool {1000 * m['pool'] / m['steps']:.1f} ms")
    same = abs(means["ours"]["best"] - means["sklearn"]["best"]) < 1e-9  # mean incumbent accuracy
    print(f"speed-up over RandomForestRegressor: {means['sklearn']['total'] / means['ours']['total']:.2f}x "
          f"(same incumbents: {same}); goal {GOAL_S:.0f} s: ours is {means['ours']['total'] / GOAL_S:.2f} of it")


if __name__ == "__main__":
    main()

"""``nasfast reproduce landmark-nb201``: SPOS vs SPOS + landmarks on NB201 (Yu, Ranftl, Salzmann, CVPR 2021).

For each seed, the same super-net (same initial weights, data, batch order and epochs) is trained twice with
``nasfast.supernet``: plain SPOS and SPOS + the landmark regulariser. Every ``eval_every`` epochs (and the last)
the S-KdT (bin 0.1 %) and Kendall tau-b of super-net accuracy against NB201 stand-alone accuracy are recorded on
a fixed pool of non-landmark archs (the same pool for both variants of a seed; the paper's Sec. 5 "Metrics": 200
random archs, landmarks excluded). After training, SPOS's evolutionary search runs on the super-net and the true
(NB201 ``cifar10-valid`` 200-epoch validation) accuracy of the archs it returns is looked up; the table reports the
pick in the paper's metric as well (``PAPER_ACC_COLUMN``, CIFAR-10 test).

Outputs in ``OUT``:

- ``results.csv``: one row per (variant, seed), appended as it finishes; a rerun skips the rows already there for
  the same configuration (``config`` column);
- ``curves.csv``: the per-epoch log (lambda, train loss, S-KdT, KdT) of every finished run;
- ``table.md``: ours (mean +- std over seeds) beside the paper's Table 1 NB201 rows;
- ``summary.json``; ``skdt.png``: S-KdT against epochs for both variants (the paper's Fig. 3, top).

The paper's numbers (``landmark-regularization-cvpr2021.md``, Table 1, NASBench-201): SPOS S-KdT 0.771 +- 0.04,
mean acc 87.66 +- 4.95, best acc 92.30; SPOS + Ours S-KdT 0.802 +- 0.02, mean acc 92.08 +- 0.37, best acc 92.53.
They come from C = 16, N = 5, 400 epochs (150 warm-up) on full CIFAR-10 (REFERENCES A4.3); the default here is a
2-CPU-core configuration (``FULL``), and full CIFAR-10 is not available: the bundled 2,000 + 2,000-image subset is
used (``nasfast.supernet.data``).

Timing that sized ``FULL`` (1 torch thread, on the 2-core machine shared with other jobs): C = 8, N = 1, batch 64,
25 steps per epoch on 1,600 images took 2.4 s per SPOS epoch and 6.7 s per epoch with the regulariser; the S-KdT of
the 200-arch pool on 250 images took ~32 s, so it is taken every 5 epochs; the 100-arch search took ~14 s (a 2-epoch
run of ``FULL``: 87 s). Estimate for one seed pair at the defaults: 2 x 6 x 32 s (S-KdT) + 72 s + 154 s (training)
+ 2 x 14 s (search) = ~11 minutes; three seeds ~33 minutes. The paper protocol (the default since 2026-11-25) adds
two searches to the landmark run (between its rounds); measured on a quieter VM: ~2 min per SPOS run and ~3 min
per landmark run, three seeds ~15 minutes.

The S-KdT pool is drawn once per seed, excluding the first landmarks. Under the paper protocol the archs added
after rounds 1 and 2 can fall in it (expected about one seed in four at 200 archs and ~20 additions); they stay in
the pool, so both variants keep scoring the same archs, and each row's ``pool`` column counts the pool archs that
never became landmarks.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from nasfast.output_lock import hold_output
from nasfast.reproduce.report import read_rows

EXPERIMENT = "landmark-nb201"
VARIANTS = ("spos", "spos+landmarks")
LABELS = {"spos": "SPOS", "spos+landmarks": "SPOS + landmarks"}

#: ``landmark-regularization-cvpr2021.md`` Table 1, NASBench-201 rows (SPOS, SPOS+Ours): S-KdT mean and std over
#: three runs, mean stand-alone accuracy (%) of the found archs and its std, best rank, best accuracy (%), cost
#: (GPU days).
PAPER = {
    "spos": {"skdt": 0.771, "skdt_std": 0.04, "mean_acc": 87.66, "mean_acc_std": 4.95, "best_rank": 3383,
             "best_acc": 92.30, "cost_gpu_days": 6.26},
    "spos+landmarks": {"skdt": 0.802, "skdt_std": 0.02, "mean_acc": 92.08, "mean_acc_std": 0.37, "best_rank": 2557,
                       "best_acc": 92.53, "cost_gpu_days": 7.23},
}
PAPER_SOURCE = "landmark-regularization-cvpr2021.md, Table 1 (NASBench-201, SPOS and SPOS+Ours)"
#: The column Table 1's Mean / Best Acc. are in: CIFAR-10 test accuracy of the 200-epoch training on train + valid.
#: Its Best Rank values are ranks in this column (92.30 -> 3383 here 3381, 92.53 -> 2557 here 2563; GDAS's 93.84 ->
#: 109 here 105), and 92.08 / 93.98 exceed the 91.61 that ``cifar10-valid``'s validation column reaches at best.
#: The search and the S-KdT use the validation column (``supernet.landmarks.GROUND_TRUTH_COLUMN``); only the pick's
#: reported accuracy is looked up here.
PAPER_ACC_COLUMN = "cifar10/acc/test/200ep"

RESULT_FIELDS = ("experiment", "config", "variant", "seed", "epochs", "skdt", "kdt", "found_acc", "top_mean_acc",
                 "top_best_acc", "found_arch", "landmarks", "pool", "seconds")
_NUMBERS = ("skdt", "kdt", "found_acc", "top_mean_acc")  # of RESULT_FIELDS, averaged per variant
CURVE_FIELDS = ("config", "variant", "seed", "epoch", "lr", "lambda", "train_loss", "train_acc", "rank_loss",
                "skdt", "kdt", "seconds")


@dataclass(frozen=True)
class LandmarkSetup:
    """One configuration of the reproduction. The paper's values (REFERENCES A4.3, paper Sec. 5): C = 16, N = 5,
    400 epochs with 150 warm-up, batch 256, lambda_max 10 with the cosine-increasing schedule, one pair per step
    (reference sampler), 200 evaluation archs, and landmarks per ``PROTOCOLS`` (the paper: 10 Hamming-diverse, 3
    rounds, ~30 in all; the reference's script: 50 random, one round, these fields' defaults); ``FULL`` and
    ``QUICK`` shrink them."""

    channels: int = 8
    cells: int = 1
    epochs: int = 30
    warmup_epochs: int = 11  #: 150/400 of the epochs, the paper's warm-up fraction (A4.3)
    batch_size: int = 64
    weights_per_class: int = 160  #: the whole weights part (1,600 images)
    landmark_per_class: int = 40  #: the whole landmark part (400 images)
    evaluation_per_class: int = 25  #: 250 held-out images for S-KdT and the search fitness
    eval_batch_size: int = 250
    num_landmarks: int = 50  #: M at the start (the paper protocol adds up to add_top_k per later round)
    landmark_method: str = "random"  #: ``select_landmarks`` method: random, or hamming (Algorithm 1)
    hamming_distance: int = 2  #: d of the hamming sampler (pairwise)
    rounds: int = 1  #: T, Fig. 2's iterations: the epochs split into T equal parts, top archs added between
    add_top_k: int = 10  #: archs the super-net's search proposes as new landmarks after each round but the last
    pool_size: int = 200
    eval_every: int = 5
    lambda_max: float = 10.0
    schedule: str = "reference"
    pair_sampler: str = "reference"
    search_population: int = 20
    search_generations: int = 5
    search_select: int = 5
    search_mutation: int = 8
    search_crossover: int = 8
    top_k: int = 5

    @property
    def tag(self) -> str:
        """The ``config`` column: rows of other configurations are kept apart (never skipped, never aggregated).
        ``TRAINER_VERSION`` keeps apart rows made before a change of the training itself."""
        protocol = ("" if (self.rounds, self.landmark_method) == (1, "random") else
                    f"{self.landmark_method[0]}{self.hamming_distance}T{self.rounds}K{self.add_top_k}")
        return (f"C{self.channels}N{self.cells}e{self.epochs}w{self.warmup_epochs}b{self.batch_size}"
                f"i{self.weights_per_class}-{self.landmark_per_class}-{self.evaluation_per_class}"
                f"M{self.num_landmarks}{protocol}P{self.pool_size}{self.schedule[0]}{self.pair_sampler[0]}"
                f"{TRAINER_VERSION}")

    def landmark_text(self) -> str:
        """The landmark protocol, for the table."""
        if self.rounds == 1 and self.landmark_method == "random":
            return (f"{self.num_landmarks} random, one round (the reference's script, A4.3; the paper's protocol "
                    "is 10 Hamming-diverse, 3 rounds, ~30 in all: `--landmark-protocol paper`)")
        how = (f"Hamming-diverse (Algorithm 1, pairwise d > {self.hamming_distance})"
               if self.landmark_method == "hamming" else "random")
        return (f"{self.num_landmarks} {how} at the start, then {self.rounds} rounds of {self.epochs // self.rounds} "
                f"epochs with the super-net's top {self.add_top_k} added after each round but the last (paper Sec. "
                "4 'Multi-iteration pipeline' and Sec. 5: K per iteration, T = 3, ~30 landmarks)")


#: bumped when ``nasfast.supernet`` trains differently: "v2" = off-path ops keep weight decay and momentum
#: (zero_grad without set_to_none, 2026-11-25); rows without a suffix came from the earlier trainer
TRAINER_VERSION = "v2"


FULL = LandmarkSetup()
QUICK = LandmarkSetup(channels=4, cells=1, epochs=2, warmup_epochs=1, batch_size=20, weights_per_class=4,
                      landmark_per_class=2, evaluation_per_class=2, eval_batch_size=20, num_landmarks=5,
                      pool_size=8, eval_every=1, search_population=4, search_generations=2, search_select=2,
                      search_mutation=1, search_crossover=1, top_k=2)


def _read_csv(path: Path, ints: Sequence[str] = ("seed",), floats: Sequence[str] = ()) -> list[dict[str, str]]:
    """The rows of ``path``, each checked (``read_rows``: a bad line is named ``path:line``)."""
    return read_rows(path, ints=ints, floats=floats)


def _write_csv(path: Path, fields: Sequence[str], rows: Sequence[dict[str, Any]], append: bool) -> None:
    new = not append or not path.exists() or path.stat().st_size == 0
    with open(path, "a" if append else "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(fields))
        if new:
            writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in fields})


def run_one(setup: LandmarkSetup, variant: str, seed: int, *, progress: bool = False) -> tuple[dict, list[dict]]:
    """Train one (variant, seed) super-net, search it; returns its results row and its per-epoch curve rows."""
    from nasfast.supernet import (
        TrainConfig,
        bundled_split,
        evaluation_pool,
        search_supernet,
        select_landmarks,
        train_supernet,
    )

    start = time.perf_counter()
    data = bundled_split(setup.weights_per_class, setup.landmark_per_class, setup.evaluation_per_class)
    landmarks = select_landmarks(setup.num_landmarks, method=setup.landmark_method, distance=setup.hamming_distance,
                                 seed=seed)
    # the same non-landmark pool for both variants of a seed (paper Sec. 5 "Metrics": landmarks excluded)
    pool = evaluation_pool(setup.pool_size, exclude=landmarks.archs, seed=seed)
    cfg = TrainConfig(channels=setup.channels, cells=setup.cells, epochs=setup.epochs,
                      warmup_epochs=setup.warmup_epochs, batch_size=setup.batch_size, lambda_max=setup.lambda_max,
                      schedule=setup.schedule, pair_sampler=setup.pair_sampler, seed=seed)
    search = dict(batch_size=setup.eval_batch_size, population=setup.search_population,
                  generations=setup.search_generations, select=setup.search_select, mutation=setup.search_mutation,
                  crossover=setup.search_crossover)
    if setup.add_top_k < setup.top_k:
        raise ValueError(f"add_top_k ({setup.add_top_k}) must be at least top_k ({setup.top_k}): the last round's "
                         "search gives the reported top archs")
    if variant == "spos+landmarks" and setup.rounds > 1:  # Fig. 2: the top archs of each round join the landmarks
        from nasfast.supernet.pipeline import landmark_pipeline

        done = landmark_pipeline(cfg, data, landmarks, iterations=setup.rounds, add_top_k=setup.add_top_k,
                                 search={"seed": seed, **search}, eval_archs=pool, eval_every=setup.eval_every,
                                 eval_batch_size=setup.eval_batch_size, progress=progress)
        trainer, landmarks = done.trainer, done.trainer.landmarks
        # the pipeline's last search is the one below (same super-net and seed; top_k only cuts the ranking)
        k = setup.top_k
        found = replace(done.final_search, top=done.final_search.top[:k],
                        top_supernet_acc=done.final_search.top_supernet_acc[:k],
                        top_true_acc=done.final_search.top_true_acc[:k])
    else:  # SPOS trains the same epochs in one go (the paper: baselines get the same total epochs)
        trainer = train_supernet(cfg, data, landmarks if variant == "spos+landmarks" else None, eval_archs=pool,
                                 eval_every=setup.eval_every, eval_batch_size=setup.eval_batch_size,
                                 progress=progress)
        found = search_supernet(trainer.supernet, data.eval_x, data.eval_y, seed=seed, top_k=setup.top_k, **search)
    last = trainer.history[-1]
    row = {"experiment": EXPERIMENT, "config": setup.tag, "variant": variant, "seed": seed, "epochs": setup.epochs,
           "skdt": last["skdt"], "kdt": last["kdt"], "found_acc": found.best_true_acc,
           "top_mean_acc": float(np.mean(found.top_true_acc)), "top_best_acc": float(np.max(found.top_true_acc)),
           "found_arch": str(found.top[0]), "landmarks": len(landmarks),
           "pool": len(set(pool) - set(landmarks.archs)),  # pool archs that never became landmarks
           "seconds": round(time.perf_counter() - start, 1)}
    curves = [{"config": setup.tag, "variant": variant, "seed": seed, **{k: h.get(k, "") for k in CURVE_FIELDS[3:]}}
              for h in trainer.history]
    return row, curves


def _stats(values: Sequence[float]) -> tuple[float, float]:
    v = np.asarray(values, dtype=np.float64)
    return (float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0) if len(v) else (math.nan, math.nan)


def aggregate(rows: Sequence[dict[str, str]], seeds: Sequence[int]) -> dict[str, dict[str, Any]]:
    """Per variant: mean and std (ddof 1) over the requested seeds of final S-KdT, KdT, the true accuracy of the
    search's pick ("Mean Acc." of Table 1) and of its top-k; best pick over seeds ("Best Acc.")."""
    out = {}
    for variant in VARIANTS:
        mine = [r for r in rows if r["variant"] == variant and int(r["seed"]) in set(seeds)]
        cell: dict[str, Any] = {"seeds": sorted(int(r["seed"]) for r in mine)}
        for key in ("skdt", "kdt", "found_acc", "top_mean_acc"):
            cell[key], cell[key + "_std"] = _stats([float(r[key]) for r in mine])
        test = _paper_metric([r["found_arch"] for r in mine])
        cell["found_test_acc"], cell["found_test_acc_std"] = _stats(test)
        cell["best_test_acc"] = max(test, default=math.nan)
        cell["best_test_rank"] = _rank(cell["best_test_acc"])
        out[variant] = cell
    return out


def _paper_metric(archs: Sequence[str]) -> list[float]:
    """``PAPER_ACC_COLUMN`` of the found archs."""
    from nasfast import tabular

    return tabular.load("nb201").query(list(archs), PAPER_ACC_COLUMN).tolist() if archs else []


def _rank(acc: float) -> float:
    """1 + the number of NB201 archs above ``acc`` in ``PAPER_ACC_COLUMN`` (Table 1's Best Rank)."""
    if math.isnan(acc):
        return math.nan
    from nasfast import tabular

    return 1 + int(np.sum(tabular.load("nb201").column(PAPER_ACC_COLUMN) > acc))


def checks(cells: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Issue 8's acceptance 1 (S-KdT gain > pooled std) and 2 (higher mean true accuracy with landmarks)."""
    a, b = cells["spos"], cells["spos+landmarks"]
    pooled = math.sqrt((a["skdt_std"] ** 2 + b["skdt_std"] ** 2) / 2)
    gain = b["skdt"] - a["skdt"]
    return {"skdt_gain": gain, "pooled_std": pooled, "skdt_gain_exceeds_pooled_std": bool(gain > pooled),
            "mean_acc_gain": b["found_test_acc"] - a["found_test_acc"],
            "mean_acc_higher_with_landmarks": bool(b["found_test_acc"] > a["found_test_acc"])}


def _pm(mean: float, std: float, digits: int) -> str:
    return "n/a" if math.isnan(mean) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def markdown(setup: LandmarkSetup, cells: dict, check: dict, settings: dict) -> str:
    """``table.md``: ours beside the paper's Table 1 NB201 rows, then the configuration."""
    lines = ["# Landmark regularisation on NAS-Bench-201: SPOS vs SPOS + landmarks", "",
             f"Paper: {PAPER_SOURCE}: SPOS S-KdT 0.771 -> 0.802 with landmarks, mean acc 87.66 -> 92.08.", "",
             "| Model | S-KdT (ours) | S-KdT (paper) | KdT (ours) | Mean Acc. (ours) | Mean Acc. (paper) "
             "| Best Acc. (ours) | Best Acc. (paper) | Best Rank (ours) | Best Rank (paper) "
             "| pick's valid acc. (ours) | top-k mean valid acc. (ours) | seeds |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for v in VARIANTS:
        c, p = cells[v], PAPER[v]
        best = "n/a" if math.isnan(c["best_test_acc"]) else f"{c['best_test_acc']:.2f}"
        rank = "n/a" if math.isnan(c["best_test_rank"]) else f"{c['best_test_rank']:,}"
        lines.append(f"| {LABELS[v]} | {_pm(c['skdt'], c['skdt_std'], 3)} | {p['skdt']:.3f} ± {p['skdt_std']:.2f} "
                     f"| {_pm(c['kdt'], c['kdt_std'], 3)} | {_pm(c['found_test_acc'], c['found_test_acc_std'], 2)} "
                     f"| {p['mean_acc']:.2f} ± {p['mean_acc_std']:.2f} | {best} | {p['best_acc']:.2f} "
                     f"| {rank} | {p['best_rank']:,} | {_pm(c['found_acc'], c['found_acc_std'], 2)} "
                     f"| {_pm(c['top_mean_acc'], c['top_mean_acc_std'], 2)} | {len(c['seeds'])} |")
    lines += ["", f"Mean Acc.: mean ± std over seeds of the NB201 accuracy of the arch the search picks, in the "
              f"paper's metric: `{PAPER_ACC_COLUMN}` (CIFAR-10 test, 200 epochs on train + valid; the paper's Best "
              "Rank values are ranks in this column). Best Acc. / Rank: the best pick over seeds (the paper's "
              "Table 1 columns, over three runs). The search itself and the S-KdT / KdT use the cifar10-valid "
              "validation column (the pick's value there is in the 'valid acc.' columns). S-KdT / KdT: after the "
              "last epoch, on the fixed pool of non-landmark archs.", "",
              f"Checks: S-KdT gain {check['skdt_gain']:+.3f} vs pooled std {check['pooled_std']:.3f} "
              f"(gain > pooled std: {check['skdt_gain_exceeds_pooled_std']}); mean-acc gain "
              f"{check['mean_acc_gain']:+.2f} (higher with landmarks: {check['mean_acc_higher_with_landmarks']}).",
              "", "## Configuration", "",
              f"- super-net: C = {setup.channels}, N = {setup.cells} cells per stage (paper: C = 16, N = 5); "
              f"{setup.epochs} epochs, {setup.warmup_epochs} warm-up (paper: 400 / 150), batch {setup.batch_size} "
              "(paper: 256), SGD lr 0.025 cosine, momentum 0.9, wd 5e-4, clip 5;",
              f"- landmarks: {setup.landmark_text()}; hinge loss, 1 pair per step, "
              f"pair sampler `{setup.pair_sampler}`, lambda_max {setup.lambda_max:g}, schedule `{setup.schedule}` "
              "(cosine-increasing after warm-up; `reference` = the reference code's, which never reaches lambda_max, "
              "A4.2);",
              f"- images: {settings['images']}. **Full CIFAR-10 is not available here**: the bundled 2,000 + "
              "2,000-image subset is used (paper: 25,000 + 25,000 training images);",
              f"- S-KdT pool: {setup.pool_size} random non-landmark archs per seed (paper: 200), evaluated every "
              f"{setup.eval_every} epoch(s) and at the end;",
              f"- search: SPOS evolution, {setup.search_generations} x {setup.search_population} archs, fitness = "
              f"super-net accuracy on the held-out images, top {setup.top_k} kept;",
              f"- seeds: {settings['seeds']}; torch threads: {settings['torch_threads']}; config tag `{setup.tag}`."]
    return "\n".join(lines) + "\n"


def plot(path: Path, curves: Sequence[dict[str, str]], seeds: Sequence[int]) -> None:
    """``skdt.png``: mean (± std) S-KdT over seeds against epochs, both variants (the paper's Fig. 3, top)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(111)
    for variant, color in zip(VARIANTS, ("tab:blue", "tab:orange"), strict=True):
        by_epoch: dict[int, list[float]] = {}
        for r in curves:
            if r["variant"] == variant and int(r["seed"]) in set(seeds) and r["skdt"] not in ("", None):
                by_epoch.setdefault(int(r["epoch"]) + 1, []).append(float(r["skdt"]))
        if not by_epoch:
            continue
        ep = sorted(by_epoch)
        mean = np.array([np.mean(by_epoch[e]) for e in ep])
        std = np.array([np.std(by_epoch[e]) for e in ep])
        ax.plot(ep, mean, "o-", color=color, label=f"{LABELS[variant]} (ours)")
        ax.fill_between(ep, mean - std, mean + std, color=color, alpha=0.2)
        ax.axhline(PAPER[variant]["skdt"], color=color, ls="--", lw=1, label=f"{LABELS[variant]} (paper, final)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("S-KdT")
    ax.set_title("S-KdT during super-net training (cf. paper Fig. 3)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


#: ``--landmark-protocol``: paper = Sec. 4-5 (10 Hamming-diverse landmarks, T = 3 rounds adding the super-net's top
#: 10: ~30 in all; Table 1's SPOS+Ours 0.802 / 92.08 is Table 6's T = 3 entry); reference = the reference's script
#: (A4.3: 50 random, one round). The paper does not give the NB201 Hamming threshold; d = 2 is our choice.
PROTOCOLS = ("paper", "reference")


def _with_protocol(setup: LandmarkSetup, protocol: str, quick: bool) -> LandmarkSetup:
    if protocol not in PROTOCOLS:
        raise ValueError(f"landmark protocol must be one of {list(PROTOCOLS)}, got {protocol!r}")
    if protocol == "reference":
        return setup
    if quick:  # 3 rounds of 1 epoch, 3 landmarks + 2 per round
        return replace(setup, epochs=3, warmup_epochs=1, num_landmarks=3, landmark_method="hamming", rounds=3,
                       add_top_k=2)
    return replace(setup, num_landmarks=10, landmark_method="hamming", rounds=3, add_top_k=10)


def run(out: str | Path, *, quick: bool = False, seeds: int | Sequence[int] | None = None, epochs: int | None = None,
        schedule: str | None = None, protocol: str = "paper", progress: bool = True,
        echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Run (or resume) the reproduction into ``out``; see the module docstring.

    ``quick``: the tiny ``QUICK`` configuration (C = 4, N = 1, 2 epochs, 40 + 20 + 20 images, 2 seeds), for CI.
    ``seeds``: a count (seeds 0..n-1) or explicit seeds; default 3 (the paper's "three independent runs"), 2 with
    ``quick``. ``epochs``: overrides the configuration's epochs, the warm-up keeping the paper's 150/400 fraction.
    ``schedule``: the lambda schedule, "reference" (default: the reference code's, never reaching lambda_max) or
    "paper" (Eq. 7 as written); the issue asks for both to be reported. ``protocol``: the landmarks, "paper"
    (default: 10 Hamming-diverse, 3 rounds adding the super-net's top 10, ``PROTOCOLS``) or "reference" (50
    random, one round); epochs must split into the rounds.
    Returns the summary written to ``summary.json``.
    """
    import torch

    setup = _with_protocol(QUICK if quick else FULL, protocol, quick)
    if schedule is not None:
        if schedule not in ("reference", "paper"):
            raise ValueError(f"schedule must be 'reference' or 'paper', got {schedule!r}")
        setup = replace(setup, schedule=schedule)
    if epochs is not None:
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"epochs must be a positive int, got {epochs!r}")
        warm = min(epochs - 1, int(round(epochs * 150 / 400)))
        if epochs % setup.rounds:
            raise ValueError(f"epochs {epochs} must split into the protocol's {setup.rounds} equal rounds")
        setup = replace(setup, epochs=epochs, warmup_epochs=warm, eval_every=min(setup.eval_every, epochs))
    if seeds is None:
        seeds = 2 if quick else 3
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seed_list or (isinstance(seeds, int) and seeds < 1):
        raise ValueError(f"seeds must be >= 1 or a non-empty list, got {seeds!r}")
    if quick:
        torch.set_num_threads(1)

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with hold_output(out, "reproduce directory"):  # a second run on --out would append the same rows
        results_path, curves_path = out / "results.csv", out / "curves.csv"
        rows = [r for r in _read_csv(results_path, floats=_NUMBERS) if r.get("experiment") == EXPERIMENT]
        done = {(r["variant"], int(r["seed"])) for r in rows if r["config"] == setup.tag}
        todo = [(v, s) for s in seed_list for v in VARIANTS if (v, s) not in done]
        echo(f"{EXPERIMENT}: {len(todo)} run(s) to do, {2 * len(seed_list) - len(todo)} already in {results_path} "
             f"(skipped); config {setup.tag}")
        start = time.perf_counter()
        for variant, seed in todo:
            # the trainer's per-batch bar shows only on a terminal or in a notebook (tqdm's disable=None)
            row, curve = run_one(setup, variant, seed, progress=progress)
            # drop curve rows a killed earlier attempt of this run may have left, then add this run's
            kept = [c for c in _read_csv(curves_path)
                    if (c["config"], c["variant"], c["seed"]) != (setup.tag, variant, str(seed))]
            _write_csv(curves_path, CURVE_FIELDS, kept + curve, append=False)
            _write_csv(results_path, RESULT_FIELDS, [row], append=True)
            echo(f"{LABELS[variant]:<17} seed={seed} S-KdT={row['skdt']:.3f} KdT={row['kdt']:.3f} "
                 f"found acc={row['found_acc']:.2f} ({row['found_arch']}) ({row['seconds']:.1f} s)")

        rows = [r for r in _read_csv(results_path, floats=_NUMBERS)
                if r.get("experiment") == EXPERIMENT and r["config"] == setup.tag]
        curves = [c for c in _read_csv(curves_path) if c["config"] == setup.tag]
        cells = aggregate(rows, seed_list)
        check = checks(cells)
        n_img = (setup.weights_per_class * 10, setup.landmark_per_class * 10, setup.evaluation_per_class * 10)
        settings = {"experiment": EXPERIMENT, "quick": quick, "config": setup.tag, "setup": asdict(setup),
                    "seeds": seed_list, "torch_threads": torch.get_num_threads(),
                    "images": f"weights {n_img[0]} / landmark {n_img[1]} / evaluation {n_img[2]} (bundled CIFAR-10 "
                              "subset)",
                    "full_cifar10": False, "seconds_this_invocation": round(time.perf_counter() - start, 1)}
        table = markdown(setup, cells, check, settings)
        (out / "table.md").write_text(table)
        summary = {"settings": settings, "cells": cells, "checks": check, "paper": PAPER, "paper_source": PAPER_SOURCE}
        (out / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=True) + "\n")
        plot(out / "skdt.png", curves, seed_list)
        echo(table)
        echo(f"written: {results_path}, {curves_path}, {out / 'table.md'}, {out / 'summary.json'}, {out / 'skdt.png'}")
        return summary

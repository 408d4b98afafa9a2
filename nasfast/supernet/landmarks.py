"""Landmark architectures and the landmark ranking regulariser (Yu, Ranftl, Salzmann, CVPR 2021; REFERENCES A4).

- ``select_landmarks``: M architectures with known stand-alone accuracy, drawn uniformly (``random``, the setting
  behind the NB201 numbers, A4.3) or with the Hamming-diverse sampler of the paper's Algorithm 1 (A4.4).
- ``Landmarks``: the set, sorted by ground truth **ascending** (A4.1: a smaller position is a worse arch, so in a
  pair (i, j) with i < j, j is the better one).
- ``sample_pair``: the pair of one training step, ``reference`` (A4.1's biased sampler, default) or ``uniform``.
- ``ranking_regulariser``: R on one pair from the two super-net losses (Eq. 4 / Eq. 6).
- ``landmark_coefficient``: lambda_t, the cosine-increasing schedule of Eq. 7, as written (``paper``) or as the
  reference computes it (``reference``, default; A4.2).

Ground truth: NB201 ``cifar10-valid/acc/valid/200ep`` (the validation accuracy after 200 epochs, percent), the
column the issue names; ``ground_truth_accuracy`` reads it from the bundled table.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from nasfast.spaces import nb201 as space

#: the ground-truth column: NB201 cifar10-valid, validation accuracy after 200 epochs (percent)
GROUND_TRUTH_COLUMN = "cifar10-valid/acc/valid/200ep"
REGULARISERS = ("hinge", "softplus", "logistic")
PAIR_SAMPLERS = ("reference", "uniform")
SCHEDULES = ("reference", "paper")
SELECTION_METHODS = ("random", "hamming")
HAMMING_MODES = ("pairwise", "root")


@functools.lru_cache(maxsize=4)
def _accuracy_table(column: str) -> np.ndarray:
    from nasfast.tabular import load

    return np.asarray(load("nb201").column(column), dtype=np.float64)


def ground_truth_accuracy(archs: Iterable[space.NB201Arch | str | int],
                          column: str = GROUND_TRUTH_COLUMN) -> np.ndarray:
    """Stand-alone accuracy (percent) of each arch from the bundled NB201 table, ``(len(archs),)`` float64."""
    table = _accuracy_table(column)
    return np.array([table[space.as_arch(a).index] for a in archs], dtype=np.float64)


def _check_finite(archs: Sequence[space.NB201Arch], accuracies: np.ndarray) -> None:
    # argsort puts NaN last, the best end: an arch of unknown accuracy would outrank every landmark
    bad = np.flatnonzero(~np.isfinite(accuracies))
    if bad.size:
        a = archs[bad[0]]
        raise ValueError(f"landmark accuracies must be finite, got {accuracies[bad[0]]} for arch {a.index} ({a})")


def hamming_distance(a: space.NB201Arch, b: space.NB201Arch) -> int:
    """Edges on which two cells pick different ops (A4.4; 0..6)."""
    return sum(x != y for x, y in zip(a.op_indices, b.op_indices))


@dataclass(frozen=True)
class Landmarks:
    """Landmark archs sorted by ground-truth accuracy, worst first (A4.1), with that accuracy (percent).

    Ties keep the order they were given in (a stable sort, like the reference's ``np.argsort`` on distinct values).
    """

    archs: tuple[space.NB201Arch, ...]
    accuracies: np.ndarray

    def __post_init__(self) -> None:
        if len(self.archs) != len(self.accuracies):
            raise ValueError(f"Landmarks got {len(self.archs)} archs but {len(self.accuracies)} accuracies")
        if len(set(self.archs)) != len(self.archs):
            raise ValueError("Landmarks contain a repeated arch")
        _check_finite(self.archs, np.asarray(self.accuracies, np.float64))
        if np.any(np.diff(np.asarray(self.accuracies)) < 0):
            raise ValueError("Landmarks must be sorted by accuracy, worst first; build them with Landmarks.of()")

    @classmethod
    def of(cls, archs: Iterable[space.NB201Arch | str | int], accuracies: Sequence[float] | None = None,
           column: str = GROUND_TRUTH_COLUMN) -> Landmarks:
        """Landmarks from archs and their accuracies (looked up in ``column`` when not given), sorted worst first."""
        archs = [space.as_arch(a) for a in archs]
        acc = ground_truth_accuracy(archs, column) if accuracies is None else np.asarray(accuracies, np.float64)
        if acc.shape != (len(archs),):
            raise ValueError(f"{len(archs)} archs but accuracies of shape {acc.shape}")
        _check_finite(archs, acc)
        order = np.argsort(acc, kind="stable")
        return cls(tuple(archs[i] for i in order), acc[order])

    def __len__(self) -> int:
        return len(self.archs)

    def extended(self, archs: Iterable[space.NB201Arch | str | int], accuracies: Sequence[float] | None = None,
                 column: str = GROUND_TRUTH_COLUMN) -> Landmarks:
        """These landmarks plus new ones (Fig. 2's pipeline: the super-net's top archs, once their stand-alone
        accuracy is known); archs already present are skipped."""
        new = [space.as_arch(a) for a in archs]
        acc = ground_truth_accuracy(new, column) if accuracies is None else np.asarray(accuracies, np.float64)
        keep = [i for i, a in enumerate(new) if a not in set(self.archs) and a not in new[:i]]
        return Landmarks.of([*self.archs, *(new[i] for i in keep)],
                            [*self.accuracies, *(acc[i] for i in keep)])


def _hamming_landmarks(num: int, distance: int, rng: np.random.Generator, mode: str, max_tries: int,
                       exclude: set[space.NB201Arch]) -> list[space.NB201Arch]:
    root = space.sample(rng)
    while root in exclude:
        root = space.sample(rng)
    chosen = [root]
    for k in range(1, num):
        # A4.4: a random walk of one-edge mutations from the root until the candidate is farther than
        # `distance` (strictly, the reference's `while dist <= distance`), at most `max_tries` steps
        cand, found = root, False
        for _ in range(max_tries):
            cand = space.mutate(cand, rng)
            targets = chosen if mode == "pairwise" else [root]
            if (cand not in chosen and cand not in exclude
                    and min(hamming_distance(cand, t) for t in targets) > distance):
                found = True
                break
        if not found:
            raise ValueError(f"Hamming landmark sampling found no arch farther than distance={distance} from "
                             f"{'every landmark' if mode == 'pairwise' else 'the root'} after {max_tries} tries "
                             f"(landmark {k + 1} of {num}); lower distance or num")
        chosen.append(cand)
    return chosen


def select_landmarks(num: int, *, method: str = "random", seed: int | np.random.Generator = 0,
                     distance: int = 2, hamming_mode: str = "pairwise", max_tries: int = 500,
                     exclude: Iterable[space.NB201Arch | str | int] = (),
                     column: str = GROUND_TRUTH_COLUMN) -> Landmarks:
    """Choose ``num`` landmarks and look up their stand-alone accuracy (A4.3-A4.4).

    Args:
        num: M, the number of landmarks (A4.3: 50 on NB201; 30 in the distance ablation).
        method: ``random`` (M distinct archs uniformly from the 15,625, the reference's
            ``landmark_sample_method random``) or ``hamming`` (Algorithm 1 of the paper).
        distance: d of ``hamming``: every new landmark is at Hamming distance > d (A4.4; the paper tried 1-4).
        hamming_mode: ``pairwise`` (default) requires distance > d to **every** landmark chosen so far, the
            diversity the paper describes. ``root`` measures it to the root only, which is what the reference's
            ``sample_topologies_by_distance`` does (its list of chosen archs never grows past the root); A4.4 reads
            it as "every landmark", the code reads otherwise. On 6 edges with 5 ops at most 5 archs are pairwise at
            distance 6, so ``pairwise`` with d = 5 caps M at 5; ``root`` allows any M.
        max_tries: mutation steps per landmark before giving up (A4.4: 500). The reference then keeps the last
            mutant anyway; we raise ``ValueError`` instead, so the promised distance always holds.
        exclude: archs that may not become landmarks.
    """
    if isinstance(num, bool) or not isinstance(num, (int, np.integer)) or num < 2:
        raise ValueError(f"num landmarks must be an int >= 2 (a pair is needed), got {num!r}")
    if method not in SELECTION_METHODS:
        raise ValueError(f"unknown landmark selection method {method!r}; choose from {list(SELECTION_METHODS)}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    excluded = {space.as_arch(a) for a in exclude}
    if num > space.NUM_ARCHS - len(excluded):
        raise ValueError(f"num={num} landmarks but only {space.NUM_ARCHS - len(excluded)} archs are allowed")
    if method == "random":
        allowed = np.setdiff1d(np.arange(space.NUM_ARCHS), [a.index for a in excluded])
        picks = rng.choice(allowed, size=num, replace=False)
        return Landmarks.of([space.from_index(int(i)) for i in picks], column=column)
    if hamming_mode not in HAMMING_MODES:
        raise ValueError(f"unknown hamming_mode {hamming_mode!r}; choose from {list(HAMMING_MODES)}")
    if isinstance(distance, bool) or not isinstance(distance, (int, np.integer)) or not 0 <= distance < 6:
        raise ValueError(f"Hamming distance threshold must be an int in 0..5 (an NB201 cell has 6 edges and the "
                         f"distance must exceed it), got {distance!r}")
    if hamming_mode == "pairwise" and distance == 5 and num > 5:
        raise ValueError(f"pairwise Hamming distance > 5 allows at most 5 NB201 archs, asked for num={num}")
    return Landmarks.of(_hamming_landmarks(int(num), int(distance), rng, hamming_mode, max_tries, excluded),
                        column=column)


def sample_pair(num_landmarks: int, rng: np.random.Generator, sampler: str = "reference") -> tuple[int, int]:
    """Positions (i, j), i < j, of one landmark pair: landmark i is the worse, j the better (A4.1).

    ``reference`` (default; what produced the paper's numbers): i ~ U{0..M-2}, then j ~ U{i+1..M-1}, as the
    reference's ``random_pairwise_loss_step``. It is **not uniform over pairs** (E.5): P(i, j) = 1 / ((M-1)(M-1-i)),
    so pairs among the best landmarks are drawn more often (M = 3: (0,1) and (0,2) 1/4 each, (1,2) 1/2).
    ``uniform``: each of the M(M-1)/2 pairs with equal probability.
    """
    if isinstance(num_landmarks, bool) or not isinstance(num_landmarks, (int, np.integer)) or num_landmarks < 2:
        raise ValueError(f"a landmark pair needs num_landmarks >= 2, got {num_landmarks!r}")
    if sampler == "reference":
        i = int(rng.integers(0, num_landmarks - 1))
        return i, int(rng.integers(i + 1, num_landmarks))
    if sampler == "uniform":
        i, j = sorted(int(v) for v in rng.choice(num_landmarks, size=2, replace=False))
        return i, j
    raise ValueError(f"unknown pair sampler {sampler!r}; choose from {list(PAIR_SAMPLERS)}")


def ranking_regulariser(loss_worse: torch.Tensor, loss_better: torch.Tensor, kind: str = "hinge", *,
                        beta: float = 5.0, margin: float = 0.0) -> torch.Tensor:
    """R on one pair from the super-net losses of the worse (i) and the better (j) landmark (Eq. 4 and 6; A4.1).

    - ``hinge`` (default): ``max(0, L_j - L_i + margin)``, with ``margin = 0`` exactly the reference's ``mae_relu``
      (its NB201/NB101 best setting; no margin). Zero, with zero gradient, when the better landmark already has the
      lower loss.
    - ``softplus``: ``softplus(L_j - L_i + margin, beta) = log(1 + exp(beta * d)) / beta`` (the reference's
      ``mae_softplus_beta{3,5,7}``; beta 5 in its GDAS/DARTS runs).
    - ``logistic``: ``-log(1 - sigmoid(L_j - L_i + margin))`` (the reference's ``crossentropy``), which is
      softplus with beta = 1; computed as such, without the overflow of the literal formula.
    """
    d = loss_better - loss_worse + margin
    if kind == "hinge":
        return F.relu(d)
    if kind == "softplus":
        if not beta > 0:
            raise ValueError(f"softplus beta must be > 0, got {beta!r}")
        return F.softplus(d, beta=beta)
    if kind == "logistic":
        return F.softplus(d)
    raise ValueError(f"unknown landmark regulariser {kind!r}; choose from {list(REGULARISERS)}")


def landmark_coefficient(epoch: int | float, *, epochs: int, warmup_epochs: int, lambda_max: float = 10.0,
                         schedule: str = "reference", step: int | None = None,
                         steps_per_epoch: int | None = None) -> float:
    """lambda_t, the weight of R in ``L_CE + lambda_t R`` (Eq. 5, 7; A4.2). Epochs count from 0.

    Zero while ``epoch < warmup_epochs`` (R is off during the super-net warm-up, A4.1). After it, with
    e' = epoch - warmup_epochs:

    - ``paper``: Eq. 7 as written, lambda_max * (1 - cos(pi * t)) / 2 rising from 0 to lambda_max over the epochs
      after warm-up, t = (e' + 1) / (epochs - warmup_epochs) per epoch, so the last epoch (``epochs - 1``) gets
      exactly lambda_max. With ``step`` (0-based) and ``steps_per_epoch`` t advances per step,
      t = (e' + (step + 1) / steps_per_epoch) / (epochs - warmup_epochs), reaching 1 at the last step.
    - ``reference`` (default, since it produced the paper's numbers; A4.2): ``adjust_landmark_coef`` with no
      batch index, t = (e' + 1) / epochs. The denominator counts the warm-up too, so the last epoch gets
      lambda_max * (1 - cos(pi * (epochs - warmup_epochs) / epochs)) / 2: about 0.691 lambda_max on NB201
      (400 epochs, 150 warm-up). Per epoch only: ``step`` is ignored, as the reference passes no batch index.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown lambda schedule {schedule!r}; choose from {list(SCHEDULES)}")
    if not 0 <= warmup_epochs < epochs:
        raise ValueError(f"need 0 <= warmup_epochs < epochs, got warmup_epochs={warmup_epochs}, epochs={epochs}")
    if not 0 <= epoch < epochs:
        raise ValueError(f"epoch {epoch} is outside 0..{epochs - 1}")
    if lambda_max < 0:
        raise ValueError(f"lambda_max must be >= 0, got {lambda_max}")
    if epoch < warmup_epochs:
        return 0.0
    e = epoch - warmup_epochs
    if schedule == "reference":
        t = (math.floor(e) + 1) / epochs
    elif step is None:
        t = (math.floor(e) + 1) / (epochs - warmup_epochs)
    else:
        if not steps_per_epoch or not 0 <= step < steps_per_epoch:
            raise ValueError(f"step must be in 0..steps_per_epoch-1, got step={step}, steps_per_epoch={steps_per_epoch}")
        t = (math.floor(e) + (step + 1) / steps_per_epoch) / (epochs - warmup_epochs)
    return float(lambda_max * 0.5 * (1.0 - math.cos(math.pi * t)))

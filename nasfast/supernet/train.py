"""SPOS super-net training on NB201, with or without the landmark regulariser (REFERENCES A4.1-A4.3).

One step (A4.1, the reference's ``darts_train_model_with_landmark_regularization``):

1. sample an arch uniformly from the 15,625 (SPOS; A4.3 "uniform per edge"), take the next batch of the weights
   part, backward ``L_CE``;
2. from the warm-up's end on, with landmarks: draw ``pairs_per_step`` landmark pairs (i worse, j better), take the
   next batch of the landmark part (``landmark_use_valid``; both archs of a pair see the same batch), backward
   ``lambda_t * R(L(W; a_i), L(W; a_j))``;
3. clip the gradient norm to 5, one SGD step (momentum 0.9, no Nesterov: the reference's ``torch.optim.SGD`` call
   passes none; weight decay 5e-4 on every parameter that has been on a sampled path at least once). Gradients
   are zeroed, not set to None, as the reference's ``optimizer.zero_grad()`` did by default in PyTorch 1.x, so an
   op off this step's path still decays and moves with its momentum.

The learning rate follows the reference's ``CosineAnnealingLR(T_max=epochs, eta_min=1e-3)`` stepped per epoch.
NB201 defaults (A4.3): 400 epochs, 150 warm-up, batch 256, lr 0.025, 50 random landmarks, lambda_max 10,
``cosine_increase``, one pair per step, hinge (``mae_relu``). These defaults are the paper's GPU setting; on 2 CPU
cores a run needs a smaller C, N and epoch count (the reproduction chooses them).

``require_path=True`` samples only archs with a path from the cell input to its output (rejection sampling).
The reference does not: 341 of the 15,625 cells (2.2 %) have no such path, so the network's logits are a
constant and their steps train only the top BN and the classifier; the option is offered for ablations.

Cost: with R a step runs three forward/backward passes instead of one (A4.1); ``benchmarks/bench_landmark.py``
measured 1.7x-3.0x the plain SPOS step on CPU, depending on the archs drawn.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from nasfast.models.nb201 import has_input_output_path
from nasfast.spaces import nb201 as space
from nasfast.supernet.data import SupernetData, augment
from nasfast.supernet.evaluate import evaluate_ranking
from nasfast.supernet.landmarks import (
    PAIR_SAMPLERS,
    REGULARISERS,
    SCHEDULES,
    Landmarks,
    landmark_coefficient,
    ranking_regulariser,
    sample_pair,
)
from nasfast.supernet.nb201_supernet import NB201SuperNet


@dataclass
class TrainConfig:
    """Hyper-parameters of one super-net training run; defaults are the reference's NB201 setting (A4.3)."""

    channels: int = 16
    cells: int = 5
    epochs: int = 400
    warmup_epochs: int = 150  #: super-net warm-up without R (A4.3 ``supernet_warmup_epoch``)
    batch_size: int = 256
    landmark_batch_size: int | None = None  #: batch of the R term; None = ``batch_size`` (the reference's)
    lr: float = 0.025
    lr_min: float = 1e-3
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    grad_clip: float = 5.0
    lambda_max: float = 10.0
    schedule: str = "reference"  #: ``reference`` or ``paper`` (``landmark_coefficient``)
    regulariser: str = "hinge"  #: ``hinge`` (mae_relu), ``softplus`` or ``logistic``
    softplus_beta: float = 5.0
    margin: float = 0.0
    pair_sampler: str = "reference"  #: ``reference`` (biased, A4.1) or ``uniform``
    pairs_per_step: int = 1
    landmark_use_valid: bool = True  #: R on the landmark part (True, the best setting) or on the training batch
    batched_pair: bool = False  #: the pair in one ``forward_many`` pass: same result, slower on CPU (x1.2-1.3)
    require_path: bool = False
    augment: bool = True
    channels_last: bool = True
    device: str = "cpu"  #: where the super-net and the images live; random draws stay on the CPU generators
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("channels", "cells", "epochs", "batch_size", "pairs_per_step"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"TrainConfig.{name} must be a positive int, got {v!r}")
        v = self.landmark_batch_size  # a negative batch size would make the landmark batches loop for ever
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ValueError(f"TrainConfig.landmark_batch_size must be None or a positive int, got {v!r}")
        v = self.softplus_beta  # checked here, not only once lambda > 0 (after the warm-up)
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not (math.isfinite(v) and v > 0):
            raise ValueError(f"TrainConfig.softplus_beta must be a finite number > 0, got {v!r}")
        if not 0 <= self.warmup_epochs < self.epochs:
            raise ValueError(f"TrainConfig needs 0 <= warmup_epochs < epochs, got {self.warmup_epochs} and {self.epochs}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown lambda schedule {self.schedule!r}; choose from {list(SCHEDULES)}")
        if self.regulariser not in REGULARISERS:
            raise ValueError(f"unknown landmark regulariser {self.regulariser!r}; choose from {list(REGULARISERS)}")
        if self.pair_sampler not in PAIR_SAMPLERS:
            raise ValueError(f"unknown pair sampler {self.pair_sampler!r}; choose from {list(PAIR_SAMPLERS)}")
        for name in ("lr", "lr_min", "momentum", "weight_decay", "grad_clip", "lambda_max"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"TrainConfig.{name} must be >= 0, got {getattr(self, name)!r}")


def cosine_lr(epoch: int, config: TrainConfig) -> float:
    """The reference's per-epoch ``CosineAnnealingLR(T_max=epochs, eta_min=lr_min)`` at ``epoch`` (from 0)."""
    return config.lr_min + (config.lr - config.lr_min) * 0.5 * (1.0 + math.cos(math.pi * epoch / config.epochs))


def _batches(x: torch.Tensor, y: torch.Tensor, batch_size: int, gen: torch.Generator,
             repeat: bool) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Shuffled batches, the last one smaller (a DataLoader without drop_last); ``repeat`` cycles for ever (the
    reference's ``RepeatedDataLoader`` for the landmark part)."""
    while True:
        order = torch.randperm(len(y), generator=gen)
        for k in range(0, len(y), batch_size):
            idx = order[k:k + batch_size].to(y.device)
            yield x[idx], y[idx]
        if not repeat:
            return


@dataclass
class SupernetTrainer:
    """Trains one super-net epoch by epoch; ``landmarks=None`` is plain SPOS.

    ``landmarks`` may be replaced between epochs (Fig. 2's pipeline: train, search the super-net, add the top
    archs with their stand-alone accuracy via ``Landmarks.extended``, continue). With ``eval_archs`` and
    ``eval_every > 0`` every ``eval_every``-th epoch (and the last) also records the S-KdT and Kendall tau of
    those archs' super-net accuracy on ``data.eval_x`` against their stand-alone accuracy (Fig. 3).

    Example:
        >>> from nasfast.supernet import SupernetTrainer, TrainConfig, bundled_split
        >>> cfg = TrainConfig(channels=4, cells=1, epochs=1, warmup_epochs=0, batch_size=16)
        >>> trainer = SupernetTrainer(cfg, bundled_split(2, 1, 1))
        >>> [round(h["lr"], 3) for h in trainer.train()]
        [0.025]
    """

    config: TrainConfig
    data: SupernetData
    landmarks: Landmarks | None = None
    eval_archs: Sequence[space.NB201Arch] | None = None
    eval_true: np.ndarray | None = None
    eval_every: int = 0
    eval_batch_size: int = 256
    progress: bool = False
    supernet: NB201SuperNet = field(init=False)
    epoch: int = field(init=False, default=0)
    history: list[dict] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        cfg = self.config
        if self.eval_every and not self.eval_archs:
            raise ValueError("eval_every > 0 needs eval_archs (e.g. evaluation_pool(200, exclude=landmarks))")
        if self.landmarks is not None and len(self.landmarks) < 2:
            raise ValueError(f"the regulariser needs >= 2 landmarks, got {len(self.landmarks)}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)  # the initial weights depend on the seed alone (built on the CPU)
            self.supernet = NB201SuperNet(10,  # CIFAR-10
                                          channels=cfg.channels, cells=cfg.cells, channels_last=cfg.channels_last)
        self.supernet.to(cfg.device)
        self.data = self.data.to(cfg.device)
        self.optimizer = torch.optim.SGD(self.supernet.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                         nesterov=cfg.nesterov, weight_decay=cfg.weight_decay)
        self.rng = np.random.default_rng(cfg.seed)  # archs and landmark pairs
        self.gen = torch.Generator().manual_seed(cfg.seed)  # batch order and augmentation
        landmark_batch = cfg.batch_size if cfg.landmark_batch_size is None else cfg.landmark_batch_size
        self._landmark_batches = _batches(self.data.landmark_x, self.data.landmark_y, landmark_batch, self.gen,
                                          repeat=True)

    def sample_arch(self) -> tuple[int, ...]:
        """SPOS: each edge's op uniform and independent = uniform over the 15,625 cells (A4.3)."""
        while True:
            ops = tuple(int(o) for o in self.rng.integers(0, space.NUM_OPS, size=space.NUM_EDGES))
            if not self.config.require_path or has_input_output_path(ops):
                return ops

    def lambda_at(self, epoch: int) -> float:
        """lambda_t of ``epoch``; 0 without landmarks."""
        if self.landmarks is None:
            return 0.0
        cfg = self.config
        return landmark_coefficient(epoch, epochs=cfg.epochs, warmup_epochs=cfg.warmup_epochs,
                                    lambda_max=cfg.lambda_max, schedule=cfg.schedule)

    def _rank_loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        cfg, lm, total = self.config, self.landmarks, torch.zeros((), device=x.device)
        for _ in range(cfg.pairs_per_step):
            i, j = sample_pair(len(lm), self.rng, cfg.pair_sampler)
            if cfg.batched_pair:
                out = self.supernet.forward_many(x, [lm.archs[i], lm.archs[j]])
                li, lj = F.cross_entropy(out[:, 0], y), F.cross_entropy(out[:, 1], y)
            else:
                li = F.cross_entropy(self.supernet(x, lm.archs[i]), y)
                lj = F.cross_entropy(self.supernet(x, lm.archs[j]), y)
            total = total + ranking_regulariser(li, lj, cfg.regulariser, beta=cfg.softplus_beta, margin=cfg.margin)
        return total

    def train_step(self, x: torch.Tensor, y: torch.Tensor, lam: float,
                   arch: tuple[int, ...] | None = None) -> tuple[float, int, float]:
        """One SGD step on the (augmented) batch ``x, y`` with weight ``lam`` on R; ``arch`` defaults to a uniform
        sample. Returns the batch's mean CE, its correct count and R (0 when ``lam`` is 0)."""
        cfg = self.config
        self.optimizer.zero_grad(set_to_none=False)  # PyTorch 1.x's zero_grad(): off-path ops keep decay + momentum
        logits = self.supernet(x, self.sample_arch() if arch is None else arch)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        rank = 0.0
        if lam > 0 and self.landmarks is not None:  # R is off during warm-up (A4.1); lam = 0 would add only time
            if cfg.landmark_use_valid:
                rx, ry = next(self._landmark_batches)
                rx = augment(rx, self.gen) if cfg.augment else rx
            else:
                rx, ry = x, y
            r = self._rank_loss(rx, ry)
            (lam * r).backward()  # a second backward into the same .grad, as the reference
            rank = float(r.detach())
        torch.nn.utils.clip_grad_norm_(self.supernet.parameters(), cfg.grad_clip)
        self.optimizer.step()
        return float(loss.detach()), int((logits.argmax(1) == y).sum()), rank

    def train_epoch(self) -> dict:
        """One epoch over the weights part; returns (and appends to ``history``) its log line."""
        cfg = self.config
        if self.epoch >= cfg.epochs:
            raise RuntimeError(f"training already finished its {cfg.epochs} epochs")
        lr, lam = cosine_lr(self.epoch, cfg), self.lambda_at(self.epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        start, sums = time.perf_counter(), {"ce": 0.0, "correct": 0, "n": 0, "rank": 0.0, "steps": 0}
        batches = _batches(self.data.weights_x, self.data.weights_y, cfg.batch_size, self.gen, repeat=False)
        if self.progress:
            from tqdm import tqdm

            batches = tqdm(batches, total=math.ceil(len(self.data.weights_y) / cfg.batch_size),
                           desc=f"epoch {self.epoch}", leave=False, disable=None)  # not into a log file
        self.supernet.train()
        for x, y in batches:
            if cfg.augment:
                x = augment(x, self.gen)
            loss, correct, rank = self.train_step(x, y, lam)
            sums["ce"] += loss * len(y)
            sums["correct"] += correct
            sums["n"] += len(y)
            sums["rank"] += rank
            sums["steps"] += 1
        entry = {"epoch": self.epoch, "lr": lr, "lambda": lam, "train_loss": sums["ce"] / sums["n"],
                 "train_acc": 100.0 * sums["correct"] / sums["n"], "rank_loss": sums["rank"] / sums["steps"],
                 "steps": sums["steps"], "seconds": time.perf_counter() - start}
        self.epoch += 1
        if self.eval_every and (self.epoch % self.eval_every == 0 or self.epoch == cfg.epochs):
            res = evaluate_ranking(self.supernet, self.eval_archs, self.data.eval_x, self.data.eval_y,
                                   true_acc=self.eval_true, batch_size=self.eval_batch_size)
            self.eval_true = res.true_acc
            entry.update(skdt=res.sparse_kendall_tau, kdt=res.kendall_tau,
                         eval_seconds=time.perf_counter() - start - entry["seconds"])
        self.history.append(entry)
        return entry

    def train(self, epochs: int | None = None) -> list[dict]:
        """Train ``epochs`` more epochs (default: to the end); returns their log lines."""
        todo = self.config.epochs - self.epoch if epochs is None else epochs
        if todo < 0 or self.epoch + todo > self.config.epochs:
            raise ValueError(f"cannot train {epochs} more epochs: at epoch {self.epoch} of {self.config.epochs}")
        return [self.train_epoch() for _ in range(todo)]

    def state(self) -> dict:
        """Config, epoch and history as plain data (for a run's JSON record)."""
        return {"config": asdict(self.config), "epoch": self.epoch, "history": list(self.history),
                "landmarks": None if self.landmarks is None else [str(a) for a in self.landmarks.archs]}


def train_supernet(config: TrainConfig, data: SupernetData, landmarks: Landmarks | None = None, *,
                   eval_archs: Sequence[space.NB201Arch] | None = None, eval_every: int = 0,
                   eval_batch_size: int = 256, progress: bool = False) -> SupernetTrainer:
    """Train a super-net for ``config.epochs`` epochs; the returned trainer holds ``supernet`` and ``history``."""
    trainer = SupernetTrainer(config, data, landmarks, eval_archs=eval_archs, eval_every=eval_every,
                              eval_batch_size=eval_batch_size, progress=progress)
    trainer.train()
    return trainer

"""What a trained super-net says about architectures, and how well it ranks them (REFERENCES A4.5).

- ``supernet_accuracy``: top-1 accuracy (percent) of archs with inherited weights on held-out images, in batches
  of ``batch_size`` images. BN uses each batch's own statistics (the super-net's BN keeps none; the reference
  evaluates the same way, A4.5), so the number depends on the batch size: 256 is the reference's
  ``evaluate_batch_size``. The accuracy is over all images (the reference's ``AverageMeter`` weighted by batch size).
- ``evaluation_pool``: the 200 random non-landmark archs of the reference's S-KdT (``top_K_complete_evaluate``).
- ``evaluate_ranking``: Kendall tau-b and sparse Kendall tau (ground truth binned at 0.1 % accuracy) of super-net
  accuracy against stand-alone accuracy (``nasfast.metrics``).
- ``search_supernet``: the evolutionary search of SPOS (or the reference's REA) with super-net accuracy as fitness,
  returning the top archs and their stand-alone accuracy (Table 1's "Mean Acc." / "Best Acc." per seed).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from nasfast.metrics import kendall_tau, sparse_kendall_tau
from nasfast.spaces import nb201 as space
from nasfast.supernet.landmarks import GROUND_TRUTH_COLUMN, ground_truth_accuracy
from nasfast.supernet.nb201_supernet import ArchLike, NB201SuperNet

SEARCH_METHODS = ("spos", "rea")


@torch.no_grad()
def supernet_accuracy(supernet: NB201SuperNet, archs: Iterable[ArchLike], images: torch.Tensor,
                      labels: torch.Tensor, *, batch_size: int = 256) -> np.ndarray:
    """Top-1 accuracy (percent) of each arch on ``images`` ``(n, 3, H, W)``; ``(len(archs),)`` float64."""
    if images.shape[0] != labels.shape[0] or images.shape[0] == 0:
        raise ValueError(f"images ({images.shape[0]}) and labels ({labels.shape[0]}) must be equal and non-empty")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
        raise ValueError(f"batch_size must be an int >= 2 (BN uses batch statistics), got {batch_size!r}")
    out = []
    for arch in archs:
        correct = 0
        for k in range(0, len(labels), batch_size):
            logits = supernet(images[k:k + batch_size], arch)
            correct += int((logits.argmax(1) == labels[k:k + batch_size]).sum())
        out.append(100.0 * correct / len(labels))
    return np.asarray(out, dtype=np.float64)


def evaluation_pool(num: int = 200, *, exclude: Iterable[ArchLike] = (), seed: int = 0) -> list[space.NB201Arch]:
    """``num`` distinct archs drawn uniformly from the 15,625 minus ``exclude`` (the landmarks; A4.5: 200 on NB201,
    landmarks excluded so that S-KdT is not flattered), in benchmark-index order as the reference sorts them."""
    excluded = {space.as_arch(a).index for a in exclude}
    allowed = np.setdiff1d(np.arange(space.NUM_ARCHS), sorted(excluded))
    if not 2 <= num <= len(allowed):
        raise ValueError(f"evaluation pool size must be in 2..{len(allowed)}, got {num!r}")
    picks = np.sort(np.random.default_rng(seed).choice(allowed, size=num, replace=False))
    return [space.from_index(int(i)) for i in picks]


@dataclass(frozen=True)
class RankingResult:
    archs: tuple[space.NB201Arch, ...]
    supernet_acc: np.ndarray  #: percent, on the held-out images
    true_acc: np.ndarray  #: stand-alone accuracy, percent
    kendall_tau: float
    sparse_kendall_tau: float


def evaluate_ranking(supernet: NB201SuperNet, archs: Sequence[ArchLike], images: torch.Tensor,
                     labels: torch.Tensor, *, true_acc: Sequence[float] | None = None, batch_size: int = 256,
                     column: str = GROUND_TRUTH_COLUMN) -> RankingResult:
    """Super-net accuracy of ``archs`` and its Kendall tau-b and S-KdT (bin 1e-3 = 0.1 %, A4.5) against stand-alone
    accuracy (looked up in ``column`` unless ``true_acc`` is given)."""
    archs = tuple(space.as_arch(a) if not isinstance(a, (tuple, list)) else space.from_ops(a) for a in archs)
    truth = ground_truth_accuracy(archs, column) if true_acc is None else np.asarray(true_acc, dtype=np.float64)
    pred = supernet_accuracy(supernet, archs, images, labels, batch_size=batch_size)
    # units="percent": the NB201 table is in percent; "auto" would agree, but a pool of all-10 % archs would not
    return RankingResult(archs, pred, truth, kendall_tau(truth, pred),
                         sparse_kendall_tau(truth, pred, bin=1e-3, units="percent"))


@dataclass(frozen=True)
class SearchResult:
    """The search's top archs (best super-net accuracy first) and every arch it evaluated."""

    top: tuple[space.NB201Arch, ...]
    top_supernet_acc: np.ndarray
    top_true_acc: np.ndarray  #: stand-alone accuracy of ``top``, percent
    evaluated: tuple[space.NB201Arch, ...]
    evaluated_supernet_acc: np.ndarray

    @property
    def best_true_acc(self) -> float:
        """Stand-alone accuracy of the arch the search picks (its top-1)."""
        return float(self.top_true_acc[0])


def search_supernet(supernet: NB201SuperNet, images: torch.Tensor, labels: torch.Tensor, *,
                    method: str = "spos", seed: int = 0, top_k: int = 5, batch_size: int = 256,
                    population: int = 20, generations: int = 5, select: int = 5, mutation: int = 8,
                    crossover: int = 8, mutation_prob: float = 0.1, tournament: int = 5, budget: int = 100,
                    column: str = GROUND_TRUTH_COLUMN) -> SearchResult:
    """Search the super-net for its best archs (fitness: ``supernet_accuracy`` on ``images``), then look up their
    stand-alone accuracy.

    - ``spos`` (default; the paper runs SPOS's search after super-net training, Sec. 5): ``SposEvolution`` for
      ``generations`` generations of ``population`` archs (SPOS's own values are 20 x 50, top 10, 25 mutations with
      probability 0.1 per edge, 25 crossovers; the defaults here are small: 5 x 20 = 100 evaluations).
    - ``rea``: what the reference code actually runs (``utils_evaluate.run_evolutionary_search_on_search_space``):
      regularized evolution, one-edge mutation, no crossover; its setting is population 50, tournament 10, 1,000
      evaluations. ``nasfast.search.RegularizedEvolution`` draws the tournament with replacement, the reference
      without; and it never re-evaluates an arch.

    The top ``top_k`` archs are ranked by super-net accuracy (the reference keeps 5).
    """
    from nasfast.search.base import Result
    from nasfast.search.rea import RegularizedEvolution
    from nasfast.supernet.evolution import SposEvolution

    if method == "spos":
        strategy = SposEvolution(space, seed, population=population, select=select, mutation=mutation,
                                 crossover=crossover, mutation_prob=mutation_prob)
        rounds, per_round = generations, population
    elif method == "rea":
        strategy = RegularizedEvolution(space, seed, population=population, tournament=tournament)
        rounds, per_round = budget, 1  # sequential, as the reference
    else:
        raise ValueError(f"unknown super-net search method {method!r}; choose from {list(SEARCH_METHODS)}")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive int, got {top_k!r}")
    archs: list[space.NB201Arch] = []
    fitness: list[float] = []
    for _ in range(rounds):
        requests = strategy.ask(per_round)
        acc = supernet_accuracy(supernet, [r.arch for r in requests], images, labels, batch_size=batch_size)
        for r, a in zip(requests, acc):
            strategy.tell(r, Result(valid_acc=float(a)))
            archs.append(r.arch)
            fitness.append(float(a))
    fit = np.asarray(fitness)
    order = np.argsort(-fit, kind="stable")[:top_k]
    top = tuple(archs[i] for i in order)
    return SearchResult(top, fit[order], ground_truth_accuracy(top, column), tuple(archs), fit)

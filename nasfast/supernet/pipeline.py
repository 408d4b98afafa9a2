"""The multi-iteration pipeline of the paper's Fig. 2: train the super-net with the landmarks, search
it for its top archs, look up their stand-alone accuracy, add them to the landmarks, continue.

The schedule of one super-net run is split into ``iterations`` equal parts (the learning rate and
lambda schedules run over the whole run, not restarted per iteration); after each part but the
last, ``search_supernet`` proposes ``add_top_k`` archs and those not already landmarks join (their
accuracy from the NB201 table, as a user would train them stand-alone).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nasfast.supernet.data import SupernetData
from nasfast.supernet.evaluate import SearchResult, search_supernet
from nasfast.supernet.landmarks import Landmarks
from nasfast.supernet.train import SupernetTrainer, TrainConfig


@dataclass
class PipelineResult:
    trainer: SupernetTrainer
    landmarks_per_iteration: list[int] = field(default_factory=list)  #: landmark count while training each part
    added: list[tuple[str, ...]] = field(default_factory=list)  #: archs added after each part
    final_search: SearchResult | None = None


def landmark_pipeline(config: TrainConfig, data: SupernetData, landmarks: Landmarks, *, iterations: int = 2,
                      add_top_k: int = 5, search: dict[str, Any] | None = None, **trainer_kwargs: Any) -> PipelineResult:
    """Run Fig. 2's loop; returns the trainer (its ``history`` spans all parts), what was added, and the
    final search on the last super-net. ``search``: keyword arguments of ``search_supernet`` except ``top_k``:
    every search, the final one too, keeps ``add_top_k`` archs, so ``top_k`` there is refused rather than
    silently replaced."""
    if not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"iterations must be a positive int, got {iterations!r}")
    if config.epochs % iterations:
        raise ValueError(f"epochs ({config.epochs}) must split into {iterations} equal parts")
    if add_top_k < 1:
        raise ValueError(f"add_top_k must be >= 1, got {add_top_k}")
    if search and "top_k" in search:
        raise ValueError(f"search sets top_k={search['top_k']!r}; the pipeline's searches keep add_top_k archs "
                         f"(add_top_k={add_top_k}): pass add_top_k instead")
    search = {"seed": config.seed, **(search or {})}
    trainer = SupernetTrainer(config, data, landmarks, **trainer_kwargs)
    result = PipelineResult(trainer)
    part = config.epochs // iterations
    for it in range(iterations):
        result.landmarks_per_iteration.append(len(trainer.landmarks))
        trainer.train(part)
        found = search_supernet(trainer.supernet, trainer.data.eval_x, trainer.data.eval_y,
                                **{**search, "top_k": add_top_k})
        if it == iterations - 1:
            result.final_search = found
            break
        known = {str(a) for a in trainer.landmarks.archs}
        new = tuple(str(a) for a in found.top if str(a) not in known)
        trainer.landmarks = trainer.landmarks.extended(new)
        result.added.append(new)
    return result

"""Landmark-regularised SPOS super-net on NAS-Bench-201 (Yu, Ranftl, Salzmann, CVPR 2021; REFERENCES A4).

- ``nb201_supernet``: the weight-sharing NB201 network, one op per edge per forward (SPOS), pairs in one pass;
- ``data``: the fixed weights / landmark / evaluation split of the bundled CIFAR-10 images;
- ``landmarks``: landmark selection (random, Hamming-diverse), the pair samplers, the ranking regulariser and the
  lambda schedule;
- ``train``: the SPOS training loop with the regulariser;
- ``evaluate``: super-net accuracy, Kendall tau and S-KdT, the search on the super-net;
- ``evolution``: SPOS's evolutionary search as an ask/tell strategy.

Example:
    >>> from nasfast.supernet import TrainConfig, bundled_split, select_landmarks, train_supernet
    >>> cfg = TrainConfig(channels=4, cells=1, epochs=1, warmup_epochs=0, batch_size=16)
    >>> trainer = train_supernet(cfg, bundled_split(2, 1, 1), select_landmarks(3, seed=0))
    >>> len(trainer.history)
    1
"""

from nasfast.supernet.data import SupernetData, bundled_split
from nasfast.supernet.evaluate import (
    RankingResult,
    SearchResult,
    evaluate_ranking,
    evaluation_pool,
    search_supernet,
    supernet_accuracy,
)
from nasfast.supernet.evolution import SposEvolution
from nasfast.supernet.landmarks import (
    GROUND_TRUTH_COLUMN,
    Landmarks,
    ground_truth_accuracy,
    hamming_distance,
    landmark_coefficient,
    ranking_regulariser,
    sample_pair,
    select_landmarks,
)
from nasfast.supernet.nb201_supernet import NB201SuperNet
from nasfast.supernet.pipeline import PipelineResult, landmark_pipeline
from nasfast.supernet.train import SupernetTrainer, TrainConfig, cosine_lr, train_supernet

__all__ = [
    "GROUND_TRUTH_COLUMN",
    "Landmarks",
    "NB201SuperNet",
    "PipelineResult",
    "RankingResult",
    "SearchResult",
    "SposEvolution",
    "SupernetData",
    "SupernetTrainer",
    "TrainConfig",
    "bundled_split",
    "cosine_lr",
    "evaluate_ranking",
    "evaluation_pool",
    "ground_truth_accuracy",
    "hamming_distance",
    "landmark_pipeline",
    "landmark_coefficient",
    "ranking_regulariser",
    "sample_pair",
    "search_supernet",
    "select_landmarks",
    "supernet_accuracy",
    "train_supernet",
]

"""Architecture performance predictors: GATES encoders (Ning et al., ECCV 2020), baseline encoders,
pointwise / pairwise heads, learning-to-rank losses and the aw_nas training recipe.

Files: ``encoding`` (batch tensorisation), ``gates`` (GATES encoders), ``baselines`` (MLP, GCN),
``heads``, ``losses``, ``train`` (pair/list sampling, the loop), ``network`` (encoder + head and the
per-space paper configs), ``predictor`` (``GATESPredictor``), ``scoring`` (streaming top-K scoring of
sampled or listed candidates, behind ``nasfast score``).
"""

from nasfast.predictors.predictor import GATESPredictor

__all__ = ["GATESPredictor"]

"""Evaluators answer a strategy's requests: by table lookup (``TabularEvaluator``), and later by
the user's own function or a pool of workers. Any callable ``Request -> Result`` is an evaluator."""

from nasfast.evaluators.base import Evaluator, Request, Result
from nasfast.evaluators.tabular import DATASET_COLUMNS, DATASETS, TabularEvaluator, build_evaluator

__all__ = ["DATASETS", "DATASET_COLUMNS", "Evaluator", "Request", "Result", "TabularEvaluator", "build_evaluator"]

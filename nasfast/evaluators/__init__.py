"""Evaluators answer a strategy's requests: by table lookup (``TabularEvaluator``), and later by
the user's own function or a pool of workers. Any callable ``Request -> Result`` is an evaluator."""

from nasfast.evaluators.base import Evaluator, Request, Result
from nasfast.evaluators.tabular import (
    BUNDLED_COLUMNS,
    DATASET_COLUMNS,
    DATASETS,
    NO_TEST_COLUMN,
    TabularEvaluator,
    build_evaluator,
)

__all__ = ["BUNDLED_COLUMNS", "DATASETS", "DATASET_COLUMNS", "NO_TEST_COLUMN", "Evaluator", "Request", "Result",
           "TabularEvaluator", "build_evaluator"]

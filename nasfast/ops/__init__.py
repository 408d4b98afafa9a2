"""Compiled operators. Importing this package loads the extension library ``nasfast._C``, which
registers every op under ``torch.ops.nasfast``; each op's Python face lives in its own module."""

import torch  # noqa: F401  (loads libtorch/libc10 before the extension that links them)

try:
    from nasfast import _C  # noqa: F401
except ImportError as exc:  # pragma: no cover - only when the package was not built
    raise ImportError(
        "nasfast's compiled library is missing: build it with "
        "`pip install --no-build-isolation -e .` (see README.md)"
    ) from exc

from nasfast.ops import (
    avg_pool3x3,
    gates_aggregate,
    gates_onnode_encode,
    gather_dropout,
    graph_hash,
    pairwise_ranking_loss,
)

__all__ = ["avg_pool3x3", "gather_dropout", "gates_aggregate", "gates_onnode_encode", "graph_hash", "pairwise_ranking_loss"]

# The kernels take float32 / float64. Under torch.autocast (float16 / bfloat16 activations) each of
# these ops casts its floating inputs to float32 and returns float32, as torch's own precision-
# sensitive ops do, instead of refusing the half-precision tensors.
AUTOCAST_FLOAT32_OPS = ("gates_aggregate", "gates_onnode_encode", "gather_dropout", "gather_dropout_dot",
                        "avg_pool3x3", "pairwise_ranking_loss", "all_pairs_ranking_loss")
for _name in AUTOCAST_FLOAT32_OPS:
    for _device in ("cpu", "cuda"):
        torch.library.register_autocast(f"nasfast::{_name}", _device, torch.float32)

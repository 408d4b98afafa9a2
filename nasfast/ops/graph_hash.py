"""Python face of the ``graph_hash`` op family (schemas in csrc/ops/graph_hash.cpp).

- ``nb101_fingerprint``: NAS-Bench-101's module hash, bit-identical to the benchmark's keys.
- ``graph_canonical_hash``: an exact isomorphism-canonical form of small vertex-labelled digraphs.

Both take ``adjacency`` (B, N, N) with 0/1 entries (row = source, column = destination) and
``labels`` (B, N) integer vertex labels, N <= 16, where label -3 marks a padding vertex that is
dropped first. They return md5 digests as (B, 16) uint8; an all-zero row marks a graph that pruning
left with no input->output path. Hashes are not differentiable, so there is no autograd.
"""

from __future__ import annotations

import numpy as np
import torch

MAX_NODES = 16
PAD_LABEL = -3


def _as_batch(adjacency, labels) -> tuple[torch.Tensor, torch.Tensor]:
    adjacency = torch.as_tensor(adjacency)
    labels = torch.as_tensor(labels)
    if adjacency.dim() == 2:
        adjacency, labels = adjacency.unsqueeze(0), labels.unsqueeze(0)
    # the kernels read uint8 0/1 entries and int64 labels: refuse values the casts would change
    # (256 -> 0 and 0.5 -> 0 would silently hash as "no edge")
    if adjacency.numel() and not ((adjacency == 0) | (adjacency == 1)).all():
        bad = adjacency[(adjacency != 0) & (adjacency != 1)][0].item()
        raise ValueError(f"adjacency entries must be 0 or 1, got {bad!r}")
    if labels.is_floating_point() or labels.is_complex():
        if labels.numel() and not (labels == labels.round()).all():
            raise ValueError(f"labels must be integers, got {labels.dtype} values such as "
                             f"{labels[labels != labels.round()][0].item()!r}")
    labels = labels.to(torch.int64)
    # the kernels hash labels as 32-bit values: 1 and 2**32 + 1 would hash alike
    if labels.numel() and (labels.min() < -2**31 or labels.max() >= 2**31):
        bad = labels[(labels < -2**31) | (labels >= 2**31)][0].item()
        raise ValueError(f"labels must fit in 32 bits (-2**31 <= label < 2**31), got {bad}")
    return adjacency.to(torch.uint8), labels


def nb101_fingerprint(adjacency, labels) -> torch.Tensor:
    """NAS-Bench-101 module hashes as (B, 16) uint8 md5 digests (see ``digests_to_hex``).

    The op drops padding vertices and prunes to the vertices on an input->output path, as the
    benchmark's ModelSpec does before hashing. It does not validate specs: use
    ``nasfast.spaces.nb101.fingerprint`` for checked input.
    """
    adjacency, labels = _as_batch(adjacency, labels)
    return torch.ops.nasfast.nb101_fingerprint(adjacency, labels)


def graph_canonical_hash(adjacency, labels, prune: bool = False) -> torch.Tensor:
    """Isomorphism-canonical hashes as (B, 16) uint8 digests: equal iff the labelled graphs are
    isomorphic (up to md5 collisions). With ``prune`` only vertices on a path from the first to the
    last vertex are kept (NB101's rule)."""
    adjacency, labels = _as_batch(adjacency, labels)
    return torch.ops.nasfast.graph_canonical_hash(adjacency, labels, bool(prune))


def digests_to_hex(digests: torch.Tensor) -> list[str]:
    """(B, 16) uint8 digests -> 32-hex strings (all-zero rows come back as 32 zeros)."""
    raw = np.ascontiguousarray(digests.detach().cpu().numpy(), dtype=np.uint8)
    return [row.tobytes().hex() for row in raw]


def _fake_hash(adjacency: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    torch._check(adjacency.dim() == 3 and labels.dim() == 2, lambda: "expected (B, N, N) and (B, N)")
    return adjacency.new_empty((adjacency.shape[0], 16), dtype=torch.uint8)


@torch.library.register_fake("nasfast::nb101_fingerprint")
def _(adjacency, labels):
    return _fake_hash(adjacency, labels)


@torch.library.register_fake("nasfast::graph_canonical_hash")
def _(adjacency, labels, prune):
    return _fake_hash(adjacency, labels)

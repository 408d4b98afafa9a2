"""Plain-Python references for the graph_hash op (tests and benchmarks only).

``nb101_module_hash`` restates NAS-Bench-101's module hash (iterated md5 of (out-degree, in-degree,
label) with sorted neighbour hashes, all ``num_vertices`` rounds); see shared/notes/nb101-fingerprint.md
for the two traps (Python ints in the tuple, padding removed first).
"""

from __future__ import annotations

import hashlib

import numpy as np

PAD = -3


def strip_padding(adjacency: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, list[int]]:
    keep = [i for i, lab in enumerate(labels) if int(lab) != PAD]
    return np.asarray(adjacency)[np.ix_(keep, keep)], [int(labels[i]) for i in keep]


def prune(adjacency: np.ndarray, labels: list[int]) -> tuple[np.ndarray, list[int]] | None:
    """NAS-Bench-101's pruning: keep vertices on an input->output path; None when there is no path."""
    n = len(labels)
    fwd = {0}
    for v in range(n):
        if v in fwd:
            fwd.update(int(w) for w in np.nonzero(adjacency[v])[0])
    bwd = {n - 1}
    for v in range(n - 1, -1, -1):
        if v in bwd:
            bwd.update(int(w) for w in np.nonzero(adjacency[:, v])[0])
    keep = sorted(fwd & bwd)
    if 0 not in keep or n - 1 not in keep:
        return None
    return adjacency[np.ix_(keep, keep)], [labels[i] for i in keep]


def nb101_module_hash(adjacency: np.ndarray, labels) -> str:
    adjacency, labels = strip_padding(adjacency, labels)
    pruned = prune(adjacency, labels)
    if pruned is None:
        raise ValueError("spec has no input->output path")
    return module_hash(*pruned)


def module_hash(matrix: np.ndarray, labels: list[int]) -> str:
    """The hash of an already pruned, unpadded graph (what the benchmark's ``hash_module`` takes)."""
    n = len(labels)
    in_deg = [int(x) for x in matrix.sum(axis=0)]
    out_deg = [int(x) for x in matrix.sum(axis=1)]
    matrix = matrix.tolist()  # Python ints: numpy scalar indexing is ~50x slower here
    hashes = [hashlib.md5(str((o, i, lab)).encode("utf-8")).hexdigest()
              for o, i, lab in zip(out_deg, in_deg, labels)]
    for _ in range(n):
        new = []
        for v in range(n):
            ins = sorted(hashes[w] for w in range(n) if matrix[w][v])
            outs = sorted(hashes[w] for w in range(n) if matrix[v][w])
            new.append(hashlib.md5(("".join(ins) + "|" + "".join(outs) + "|" + hashes[v]).encode("utf-8")).hexdigest())
        hashes = new
    return hashlib.md5(str(sorted(hashes)).encode("utf-8")).hexdigest()

"""The NAS-Bench-201 super-net of single-path one-shot (SPOS) training.

Built as the landmark-regularisation reference builds it (REFERENCES A4.3; ``kcyu2014/nas-landmarkreg@a00c361``,
``nasws/cnn/search_space/nasbench201/model_search.py`` and ``lib/models/cell_operations.py``):

- stem: conv 3x3 (3 -> C, no bias) + BN;
- 3 stages of ``cells`` cells (C, 2C, 4C channels) joined by two ResNet reduction blocks
  (ReLU-conv3x3/2-BN, ReLU-conv3x3-BN, plus a 2x2 avg-pool + 1x1 conv shortcut);
- each of a cell's 6 edges holds the weights of all 5 ops: ``none`` (zero, no weights), ``skip_connect``,
  ``nor_conv_1x1`` and ``nor_conv_3x3`` (ReLU-Conv-BN, conv without bias), ``avg_pool_3x3`` (no padded zeros in
  the mean; the compiled ``nasfast.ops.avg_pool3x3``). Every cell has its own edge weights;
- top: BN + ReLU, global average pool, linear.

Every BN is ``affine=True, track_running_stats=False`` (A4.3 "Common to all", the NB201 setting
``--wsbn_affine=True --wsbn_track_stat=False``): it always normalises with the statistics of the batch it sees,
in training and at evaluation alike (the reference also forces ``train()`` inside its ReLU-Conv-BN). So an
architecture's super-net accuracy depends on the evaluation batch size, as in the reference.

A forward activates one op per edge (SPOS): ``forward(x, arch)``. This differs from ``nasfast.models.nb201``
(the zero-cost-proxy reference network: cell convs with bias, cell BN without affine): with batch-statistics BN a
conv bias is cancelled by the mean subtraction, so with the cell BN at its initial affine (1, 0) the two compute
the same function from the same conv weights (``python_tests/test_supernet.py`` checks it).

``forward_many(x, archs)`` evaluates B architectures on the same images in one pass, for the landmark pair of the
regulariser (A4.1: both landmarks of a pair see the same batch). Activations are ``(B*N, C, H, W)``, rows
``b*N .. b*N+N-1`` belonging to arch b. Simply concatenating the archs' batches would be wrong twice over (the archs
pick different ops, and batch-statistics BN would pool the two archs' statistics), so: the stem runs once (its
output is the same for every arch); a conv every arch shares (the reductions, an edge where all archs pick the same
op) runs once over all B*N rows, which is exact because a conv treats rows independently; every BN normalises each
arch's N rows with that arch's own statistics; an edge where the archs differ runs each op on its own rows. So
every arch sees exactly what ``forward(x, arch)`` shows it (``python_tests/test_supernet.py`` checks logits and
gradients); what changes is the number of kernel calls and their sizes. On CPU it does not pay: most edges of a
random pair differ, and the row slicing, concatenation and per-block BN cost more than the shared stem, reductions
and top save (``benchmarks/bench_landmark.py``: 1.26x the time of two passes, C=8, N=2, batch 64, 1 thread), so
training uses two passes unless ``TrainConfig.batched_pair`` is set.

Activations and conv weights are channels-last by default: oneDNN runs 16-channel convolutions several times
faster in that layout on CPU (``benchmarks/RESULTS.md``, proxies section).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nasfast.ops.avg_pool3x3 import avg_pool3x3
from nasfast.spaces import nb201 as space

NONE = space.OP_INDEX["none"]
SKIP = space.OP_INDEX["skip_connect"]
CONV1 = space.OP_INDEX["nor_conv_1x1"]
CONV3 = space.OP_INDEX["nor_conv_3x3"]
POOL = space.OP_INDEX["avg_pool_3x3"]

ArchLike = space.NB201Arch | str | int | Sequence[int]


def as_op_indices(arch: ArchLike) -> tuple[int, ...]:
    """6 op indices (``nasfast.spaces.nb201.OPS`` order) from an arch, an arch string, a benchmark index or 6 op
    indices."""
    if isinstance(arch, (tuple, list, np.ndarray)):
        ops = tuple(int(o) for o in arch)
        if len(ops) != space.NUM_EDGES or not all(0 <= o < space.NUM_OPS for o in ops):
            raise ValueError(f"an NB201 arch needs 6 op indices in 0..4, got {tuple(arch)!r}")
        return ops
    return space.as_arch(arch).op_indices


def _block_batch_norm(y: torch.Tensor, bn: nn.BatchNorm2d, copies: int) -> torch.Tensor:
    """BN with batch statistics over each of ``copies`` equal row blocks of ``y`` separately."""
    # functional BN with no running buffers = the reference's track_running_stats=False, in any mode
    if copies == 1:
        return F.batch_norm(y, None, None, bn.weight, bn.bias, training=True, eps=bn.eps)
    return torch.cat([F.batch_norm(part, None, None, bn.weight, bn.bias, training=True, eps=bn.eps)
                      for part in y.chunk(copies, dim=0)], dim=0)


class ConvBN(nn.Module):
    """ReLU -> conv (no bias) -> BN (affine, batch statistics): the reference's ``ReLUConvBN``."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, *, relu: bool = True) -> None:
        super().__init__()
        self.relu = relu
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=True, track_running_stats=False)

    def forward(self, x: torch.Tensor, copies: int = 1) -> torch.Tensor:
        """``x``: ``(copies*N, C_in, H, W)``, ``copies`` row blocks normalised separately."""
        y = self.conv(F.relu(x) if self.relu else x)
        return _block_batch_norm(y, self.bn, copies)


class SuperCell(nn.Module):
    """One NB201 cell of the super-net: ``edges[e]`` holds the two parametrised ops of edge e."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.edges = nn.ModuleList(
            nn.ModuleDict({"conv1x1": ConvBN(channels, channels, 1), "conv3x3": ConvBN(channels, channels, 3)})
            for _ in range(space.NUM_EDGES))

    def _op(self, e: int, op: int, x: torch.Tensor, copies: int) -> torch.Tensor:
        if op == SKIP:
            return x
        if op == POOL:
            return avg_pool3x3(x)
        return self.edges[e]["conv1x1" if op == CONV1 else "conv3x3"](x, copies)

    def _edge(self, e: int, ops: tuple[int, ...], x: torch.Tensor) -> torch.Tensor | None:
        """Edge e with op ``ops[b]`` on row block b of ``x``; ``None`` when every op is ``none``."""
        if all(o == ops[0] for o in ops):
            return None if ops[0] == NONE else self._op(e, ops[0], x, len(ops))
        n, outs, b = x.shape[0] // len(ops), [], 0
        while b < len(ops):  # runs of equal ops share one call
            end = b + 1
            while end < len(ops) and ops[end] == ops[b]:
                end += 1
            xb = x[b * n:end * n]
            outs.append(torch.zeros_like(xb) if ops[b] == NONE else self._op(e, ops[b], xb, end - b))
            b = end
        return torch.cat(outs, dim=0)

    def forward(self, x: torch.Tensor, ops: Sequence[tuple[int, ...]]) -> torch.Tensor:
        """``ops[e]``: the op of edge e for each channel block; node i = sum of its incoming edges (A4.3)."""
        nodes: list[torch.Tensor] = [x]
        for dst in (1, 2, 3):
            acc = None
            for e, (d, src) in enumerate(space.EDGES):
                if d == dst:
                    y = self._edge(e, ops[e], nodes[src])
                    if y is not None:
                        acc = y if acc is None else acc + y
            # the reference sums zero tensors (``x.mul(0.)``) for 'none': a node without input is zero
            nodes.append(torch.zeros_like(x) if acc is None else acc)
        return nodes[3]


class ResidualReduction(nn.Module):
    """NB201's reduction: ResNet basic block with stride 2 and an avg-pool + 1x1 conv shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ConvBN(c_in, c_out, 3, 2)
        self.conv_b = ConvBN(c_out, c_out, 3, 1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x: torch.Tensor, copies: int = 1) -> torch.Tensor:
        return self.conv_b(self.conv_a(x, copies), copies) + self.shortcut(F.avg_pool2d(x, 2, 2))


class NB201SuperNet(nn.Module):
    """The NB201 super-net (A4.3: paper C = 16, N = 5 cells per stage); ``forward(x, arch)`` -> logits.

    Args:
        num_classes: outputs of the classifier.
        channels: C, the channels of the first stage (2C and 4C after the reductions).
        cells: N, cells per stage.
        channels_last: keep weights and activations channels-last (faster on CPU, same results).

    Example:
        >>> import torch
        >>> from nasfast.supernet import NB201SuperNet
        >>> net = NB201SuperNet(channels=4, cells=1)
        >>> net(torch.randn(2, 3, 32, 32), "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|nor_conv_1x1~0|avg_pool_3x3~1|none~2|").shape
        torch.Size([2, 10])
    """

    def __init__(self, num_classes: int = 10, *, channels: int = 16, cells: int = 5,
                 channels_last: bool = True) -> None:
        super().__init__()
        for name, v in (("num_classes", num_classes), ("channels", channels), ("cells", cells)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        self.num_classes, self.channels, self.cells = num_classes, channels, cells
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        c = channels
        self.stem = ConvBN(3, c, 3, relu=False)
        self.stages = nn.ModuleList(
            nn.ModuleList(SuperCell(c * m) for _ in range(cells)) for m in (1, 2, 4))
        self.reductions = nn.ModuleList([ResidualReduction(c, 2 * c), ResidualReduction(2 * c, 4 * c)])
        self.top_bn = nn.BatchNorm2d(4 * c, affine=True, track_running_stats=False)
        self.classifier = nn.Linear(4 * c, num_classes)
        self.to(memory_format=self.memory_format)

    def forward(self, x: torch.Tensor, arch: ArchLike) -> torch.Tensor:
        """Logits ``(N, num_classes)`` of ``arch`` on images ``x`` ``(N, 3, H, W)``."""
        return self.forward_many(x, [arch])[:, 0]

    def forward_many(self, x: torch.Tensor, archs: Sequence[ArchLike]) -> torch.Tensor:
        """Logits ``(N, B, num_classes)`` of B archs on the same images ``x`` ``(N, 3, H, W)``, in one pass."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"NB201SuperNet expects images (N, 3, H, W), got shape {tuple(x.shape)}")
        if len(archs) == 0:
            raise ValueError("forward_many needs at least one arch")
        ops = [as_op_indices(a) for a in archs]
        per_edge = [tuple(o[e] for o in ops) for e in range(space.NUM_EDGES)]
        copies, n = len(ops), x.shape[0]
        x = self.stem(x.contiguous(memory_format=self.memory_format))
        if copies > 1:
            # the stem sees the same images for every arch: run it once
            x = x.repeat(copies, 1, 1, 1).contiguous(memory_format=self.memory_format)
        for s, stage in enumerate(self.stages):
            if s > 0:
                x = self.reductions[s - 1](x, copies)
            for cell in stage:
                x = cell(x, per_edge)
        x = F.relu(_block_batch_norm(x, self.top_bn, copies)).mean(dim=(2, 3))
        return self.classifier(x).view(copies, n, -1).transpose(0, 1)

    def active_parameter_names(self, arch: ArchLike) -> set[str]:
        """Names of the parameters ``arch`` uses (all but the cell ops it does not pick)."""
        ops = as_op_indices(arch)
        unused = {CONV1: "conv3x3", CONV3: "conv1x1"}
        names = set()
        for name, _ in self.named_parameters():
            parts = name.split(".")
            if parts[0] == "stages":  # stages.s.i.edges.e.<conv1x1|conv3x3>.…
                op, kind = ops[int(parts[4])], parts[5]
                if op not in (CONV1, CONV3) or unused[op] == kind:
                    continue
            names.add(name)
        return names

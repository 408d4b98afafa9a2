"""The NAS-Bench-101 CIFAR-10 network (Ying et al. 2019) as a PyTorch module, for zero-cost proxies.

The network follows the benchmark's TensorFlow ``model_builder.py`` / ``base_ops.py``::

    image (B, 3, H, W)
    stem: conv3x3 -> BN -> ReLU                        (B, stem, H, W)
    stack 1: 3 cells                                   (B, stem, H, W)
    maxpool 2x2/2, stack 2: 3 cells (channels x 2)     (B, 2 stem, H/2, W/2)
    maxpool 2x2/2, stack 3: 3 cells (channels x 2)     (B, 4 stem, H/4, W/4)
    global average pool -> linear                      (B, num_classes)

Inside a cell, every interior vertex sums its inputs (a 1x1 conv-BN-ReLU projection of the cell
input, and the outputs of earlier vertices cut to its own width) and applies its op; the output
vertex concatenates the interior vertices that feed it and, when the input feeds it directly, adds
a projection of the cell input. Widths come from the benchmark's ``compute_vertex_channels``.

With the defaults, ``sum(p.numel() for p in net.parameters() if p.requires_grad)`` equals the
benchmark's ``trainable_parameters`` (BN gamma/beta are trainable in TF as well as here).
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from torch import nn

from nasfast.spaces.nb101 import CONV1X1, CONV3X3, MAXPOOL3X3, Spec

__all__ = ["NB101Cell", "NB101Network", "compute_vertex_channels", "nb101_network"]


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an int >= {minimum}, got {type(value).__name__} {value!r:.80}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def compute_vertex_channels(in_channels: int, out_channels: int, matrix: np.ndarray) -> list[int]:
    """Width of every vertex of a pruned (n, n) cell matrix: ``[in_channels, ..., out_channels]``.

    As the benchmark's ``compute_vertex_channels``: the output width is split evenly over the
    interior vertices that feed the output (the first ``out_channels % k`` get one extra channel), and
    every other interior vertex takes the widest of its interior successors, so widths never grow
    along an edge and a successor needs at most one channel cut off.
    """
    n = matrix.shape[0]
    widths = [0] * n
    widths[0], widths[n - 1] = in_channels, out_channels
    if n == 2:
        return widths
    fan_in = int(matrix[1:, n - 1].sum())  # interior vertices feeding the output; input excluded
    if out_channels < fan_in:
        raise ValueError(f"cell output of {out_channels} channels cannot be split over {fan_in} "
                         "concatenated vertices; use more stem channels")
    base, extra = divmod(out_channels, fan_in)
    for v in range(1, n - 1):
        if matrix[v, n - 1]:
            widths[v] = base + (1 if extra > 0 else 0)
            extra -= 1
    # reverse order so that successors are final; vertex n-2 of a pruned cell feeds only the output
    for v in range(n - 3, 0, -1):
        if not matrix[v, n - 1]:
            widths[v] = max(widths[d] for d in range(v + 1, n - 1) if matrix[v, d])
    return widths


class _ConvBnRelu(nn.Sequential):
    """``base_ops.conv_bn_relu``: bias-free 'same' convolution, BN (optional here), ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel: int, bn: dict | None) -> None:
        layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False)]
        if bn is not None:
            layers.append(nn.BatchNorm2d(c_out, **bn))
        layers.append(nn.ReLU())
        super().__init__(*layers)


class NB101Cell(nn.Module):
    """One NB101 module (``build_module``): (B, in_channels, H, W) -> (B, out_channels, H, W)."""

    def __init__(self, spec: Spec, in_channels: int, out_channels: int, bn: dict | None) -> None:
        super().__init__()
        matrix = np.asarray(spec.adjacency, dtype=bool)
        n = matrix.shape[0]
        self.num_vertices = n
        self.widths = compute_vertex_channels(in_channels, out_channels, matrix)
        self.ops = nn.ModuleList()
        for t in range(1, n - 1):
            op = spec.ops[t]
            if op == MAXPOOL3X3:
                # no width change: the vertex input already has widths[t] channels
                self.ops.append(nn.MaxPool2d(3, stride=1, padding=1))
            else:
                k = 3 if op == CONV3X3 else 1
                assert op in (CONV3X3, CONV1X1), op  # Spec validation guarantees it
                self.ops.append(_ConvBnRelu(self.widths[t], self.widths[t], k, bn))
        # the cell input is always projected (never truncated) to the width of each vertex it feeds
        self.proj = nn.ModuleDict({str(t): _ConvBnRelu(in_channels, self.widths[t], 1, bn)
                                   for t in range(1, n) if matrix[0, t]})
        self.preds = [[s for s in range(1, t) if matrix[s, t]] for t in range(n)]
        self.concat = [t for t in range(1, n - 1) if matrix[t, n - 1]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.num_vertices
        states = [x]
        for t in range(1, n - 1):
            # a wider predecessor keeps its first channels, as the benchmark's ``truncate``
            terms = [states[s][:, : self.widths[t]] for s in self.preds[t]]
            if str(t) in self.proj:
                terms.append(self.proj[str(t)](x))
            total = terms[0]
            for term in terms[1:]:
                total = total + term
            states.append(self.ops[t - 1](total))
        if not self.concat:  # input -> output only
            return self.proj[str(n - 1)](x)
        out = torch.cat([states[t] for t in self.concat], dim=1) if len(self.concat) > 1 else states[self.concat[0]]
        if str(n - 1) in self.proj:
            out = out + self.proj[str(n - 1)](x)
        return out


class NB101Network(nn.Module):
    """Stem, ``num_stacks`` stacks of ``cells_per_stack`` cells, average pool, linear classifier.

    Input (B, in_channels, H, W) -> logits (B, num_classes); the benchmark used H = W = 32.
    """

    def __init__(self, spec: Spec, num_classes: int, stem_channels: int, num_stacks: int,
                 cells_per_stack: int, bn: dict | None, in_channels: int = 3) -> None:
        super().__init__()
        self.spec = spec
        self.stem = _ConvBnRelu(in_channels, stem_channels, 3, bn)
        layers: list[nn.Module] = []
        c_in = c_out = stem_channels
        for stack in range(num_stacks):
            if stack > 0:
                # TF 'same' 2x2/2 pooling pads odd sizes at the end: ceil_mode gives the same windows
                layers.append(nn.MaxPool2d(2, stride=2, ceil_mode=True))
                c_out *= 2
            for _ in range(cells_per_stack):
                layers.append(NB101Cell(spec, c_in, c_out, bn))
                c_in = c_out
        self.cells = nn.Sequential(*layers)
        self.classifier = nn.Linear(c_out, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The benchmark's TF 1.x initialisers (not PyTorch's): convolutions use
        ``variance_scaling_initializer()`` (truncated normal, std sqrt(1/fan_in) before the 2-sigma
        truncation correction), the dense layer ``glorot_uniform`` with zero bias, BN gamma 1 beta 0."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                std = math.sqrt(1.0 / fan_in) / 0.87962566103423978  # TF's truncation correction
                nn.init.trunc_normal_(m.weight, std=std, a=-2 * std, b=2 * std)
            elif isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.stem[0].in_channels:
            raise ValueError(f"NB101Network expects input (B, {self.stem[0].in_channels}, H, W), "
                             f"got shape {tuple(x.shape)}")
        return self.classifier(self.cells(self.stem(x)).mean(dim=(2, 3)))


def nb101_network(spec: Spec, num_classes: int = 10, *, stem_channels: int = 128, num_stacks: int = 3,
                  cells_per_stack: int = 3, use_bn: bool = True, bn_momentum: float = 0.003,
                  bn_eps: float = 1e-5, in_channels: int = 3) -> NB101Network:
    """The NAS-Bench-101 network of ``spec``: (B, in_channels, H, W) images -> (B, num_classes) logits.

    ``spec`` is used in its pruned form (``spec.adjacency`` / ``spec.ops``), as the benchmark prunes
    before building. The defaults are the benchmark's: 128 stem channels, 3 stacks of 3 cells, BN with
    TF decay 0.997 (PyTorch ``momentum = 1 - 0.997``) and epsilon 1e-5. ``use_bn=False`` drops every
    BN layer (conv-ReLU), a variant some zero-cost proxies use; its parameter count is then lower.
    Every cell's output width must be splittable over the vertices it concatenates, so
    ``stem_channels`` must be at least the output's interior fan-in.

    Raises:
        ValueError: ``spec`` is no ``Spec``, or a size / BN setting is out of range (named).
    """
    if not isinstance(spec, Spec):
        raise ValueError(f"spec must be a nasfast.spaces.nb101.Spec, got {type(spec).__name__}: {spec!r:.80}")
    num_classes = _check_int("num_classes", num_classes, 1)
    stem_channels = _check_int("stem_channels", stem_channels, 1)
    num_stacks = _check_int("num_stacks", num_stacks, 1)
    cells_per_stack = _check_int("cells_per_stack", cells_per_stack, 1)
    in_channels = _check_int("in_channels", in_channels, 1)
    if not isinstance(use_bn, bool):
        raise ValueError(f"use_bn must be a bool, got {type(use_bn).__name__} {use_bn!r:.80}")
    for name, value in (("bn_momentum", bn_momentum), ("bn_eps", bn_eps)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite float, got {type(value).__name__} {value!r:.80}")
    if not 0.0 <= bn_momentum <= 1.0:
        raise ValueError(f"bn_momentum must be in [0, 1] (PyTorch convention, 1 - TF decay), got {bn_momentum}")
    if not bn_eps > 0:
        raise ValueError(f"bn_eps must be > 0, got {bn_eps}")
    n = spec.num_vertices
    fan_in = int(np.asarray(spec.adjacency)[1:, n - 1].sum())
    if stem_channels < fan_in:
        raise ValueError(f"stem_channels={stem_channels} is fewer than the {fan_in} vertices the cell "
                         "output concatenates; every vertex needs at least one channel")
    bn = {"momentum": float(bn_momentum), "eps": float(bn_eps)} if use_bn else None
    return NB101Network(spec, num_classes, stem_channels, num_stacks, cells_per_stack, bn, in_channels)

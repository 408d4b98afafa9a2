"""The DARTS evaluation network (``NetworkCIFAR``, Liu et al. 2019) as a PyTorch module.

Layout, following the DARTS code base (``cnn/model.py``, ``cnn/operations.py``)::

    image (B, 3, H, W)
    stem: conv3x3 -> BN                                 (B, 3C, H, W)
    layers cells; the ones at layers//3 and 2*layers//3 are reduction cells, which double the
    channels and halve H, W; a cell's output concatenates its 4 nodes (4 x its channels)
    global average pool -> linear                       (B, num_classes)

A cell reads the outputs of the two previous cells (the stem's output twice for the first cell),
preprocesses each to C channels (ReLU-conv1x1-BN, or a factorized reduction when the previous cell
reduced), and computes node k = op(a) + op(b) over its genotype's two edges. In a reduction cell, edges
reading a cell input have stride 2. The optional auxiliary head (CIFAR version, after cell
2*layers//3) is off by default and, as in DARTS, is not counted in the published parameter numbers.
"""

from __future__ import annotations

import numbers

import torch
from torch import nn

from nasfast.models.pooling import PaddedAvgPool2d
from nasfast.spaces.darts import CONCAT, Genotype

__all__ = ["DARTS_OPS", "DartsCell", "DartsNetwork", "darts_network", "make_op"]


class _Zero(nn.Module):
    """The ``none`` op: zeros shaped like the (strided) input."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class _FactorizedReduce(nn.Module):
    """ReLU, then two 1x1 stride-2 convs on inputs offset by one pixel, concatenated, then BN: halves
    H and W without discarding every other pixel (DARTS ``FactorizedReduce``; needs even H, W)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        if c_out % 2:
            raise ValueError(f"factorized reduction needs an even channel count, got {c_out}")
        self.relu = nn.ReLU()
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


def _relu_conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.ReLU(), nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out))


def _dil_conv(c: int, kernel: int, stride: int, dilation: int) -> list[nn.Module]:
    # depthwise (possibly dilated) conv, pointwise conv, BN: DARTS's DilConv; also half a SepConv
    pad = dilation * (kernel - 1) // 2
    return [nn.ReLU(), nn.Conv2d(c, c, kernel, stride=stride, padding=pad, dilation=dilation, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c)]


def make_op(name: str, channels: int, stride: int) -> nn.Module:
    """One DARTS op on (B, channels, H, W) -> (B, channels, H/stride, W/stride); stride is 1 or 2."""
    if name not in DARTS_OPS:
        raise ValueError(f"unknown DARTS op {name!r}; expected one of {list(DARTS_OPS)}")
    if stride not in (1, 2):
        raise ValueError(f"DARTS op stride must be 1 or 2, got {stride!r}")
    c = channels
    if name == "none":
        return _Zero(stride)
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else _FactorizedReduce(c, c)
    if name == "max_pool_3x3":
        return nn.MaxPool2d(3, stride=stride, padding=1)
    if name == "avg_pool_3x3":
        # DARTS averages over the real pixels only at the border
        return PaddedAvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
    kernel = int(name[-1])
    if name.startswith("dil_conv"):
        return nn.Sequential(*_dil_conv(c, kernel, stride, 2))
    # sep_conv: the depthwise-separable block applied twice, only the first one strided (DARTS SepConv)
    return nn.Sequential(*_dil_conv(c, kernel, stride, 1), *_dil_conv(c, kernel, 1, 1))


#: every op name ``make_op`` builds: the Genotype's ops plus ``none`` (which a derived genotype lacks)
DARTS_OPS: tuple[str, ...] = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
                              "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")


def _drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    # per-sample path dropping with rescaling, as DARTS's utils.drop_path
    keep = 1.0 - drop_prob
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x / keep * mask


class DartsCell(nn.Module):
    """(B, c_prev_prev, H', W'), (B, c_prev, H, W) -> (B, 4 * channels, H / s, W / s), s = 2 if
    ``reduction``; H' = 2H when the previous cell reduced."""

    def __init__(self, edges: tuple[tuple[str, int], ...], c_prev_prev: int, c_prev: int, channels: int,
                 reduction: bool, reduction_prev: bool) -> None:
        super().__init__()
        self.reduction = reduction
        self.pre0 = _FactorizedReduce(c_prev_prev, channels) if reduction_prev else _relu_conv_bn(c_prev_prev, channels)
        self.pre1 = _relu_conv_bn(c_prev, channels)
        self.inputs = [src for _, src in edges]
        self.ops = nn.ModuleList(make_op(op, channels, 2 if reduction and src < 2 else 1) for op, src in edges)
        self.concat = CONCAT
        self.multiplier = len(CONCAT)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for node in range(len(self.ops) // 2):
            terms = []
            for e in (2 * node, 2 * node + 1):
                op = self.ops[e]
                h = op(states[self.inputs[e]])
                if self.training and drop_prob > 0.0 and not isinstance(op, nn.Identity):
                    h = _drop_path(h, drop_prob)
                terms.append(h)
            states.append(terms[0] + terms[1])
        return torch.cat([states[i] for i in self.concat], dim=1)


class _AuxHeadCIFAR(nn.Module):
    """DARTS's CIFAR auxiliary classifier; expects an 8x8 map (32 px input): (B, C, 8, 8) -> (B, classes)."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(), nn.AvgPool2d(5, stride=3, count_include_pad=False),
            nn.Conv2d(channels, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(),
            nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU())
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


class DartsNetwork(nn.Module):
    """``NetworkCIFAR``: input (B, 3, H, W), H and W divisible by 4 -> logits (B, num_classes).

    With ``auxiliary=True`` a training-mode forward returns ``(logits, aux_logits)``, as DARTS does;
    otherwise (and always in eval mode) just the logits. ``drop_path_prob`` may be changed between
    epochs (DARTS ramps it); it only acts in training mode.
    """

    def __init__(self, genotype: Genotype, C: int, layers: int, num_classes: int, auxiliary: bool,
                 drop_path_prob: float, stem_multiplier: int) -> None:
        super().__init__()
        self.genotype = genotype
        self.drop_path_prob = drop_path_prob
        self._aux_after = 2 * layers // 3
        c_curr = stem_multiplier * C
        self.stem = nn.Sequential(nn.Conv2d(3, c_curr, 3, padding=1, bias=False), nn.BatchNorm2d(c_curr))
        c_prev_prev, c_prev, c_curr = c_curr, c_curr, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        c_aux = c_prev
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c_curr *= 2
            cell = DartsCell(genotype.reduce if reduction else genotype.normal, c_prev_prev, c_prev, c_curr,
                             reduction, reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, cell.multiplier * c_curr
            if i == self._aux_after:
                c_aux = c_prev
        self.auxiliary_head = _AuxHeadCIFAR(c_aux, num_classes) if auxiliary else None
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"DartsNetwork expects input (B, 3, H, W), got shape {tuple(x.shape)}")
        s0 = s1 = self.stem(x)
        aux = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == self._aux_after and self.auxiliary_head is not None and self.training:
                aux = self.auxiliary_head(s1)
        logits = self.classifier(s1.mean(dim=(2, 3)))
        return logits if aux is None else (logits, aux)


def darts_network(genotype: Genotype, C: int = 16, layers: int = 8, num_classes: int = 10, *,
                  auxiliary: bool = False, drop_path_prob: float = 0.0,
                  stem_multiplier: int = 3) -> DartsNetwork:
    """The DARTS CIFAR evaluation network of ``genotype``: (B, 3, H, W) -> (B, num_classes) logits.

    ``C`` is the first stage's cell width (DARTS trains C=36, layers=20: 3.3M parameters; NB-301
    trained C=32, layers=8). Reduction cells sit at ``layers // 3`` and
    ``2 * layers // 3``. Only the trainable parameters of the main path count as the model's size.

    Raises:
        ValueError: ``genotype`` is no ``Genotype``, or a size / option is out of range (named).
    """
    if not isinstance(genotype, Genotype):
        raise ValueError(f"genotype must be a nasfast.spaces.darts.Genotype, got {type(genotype).__name__}: "
                         f"{genotype!r:.80} (parse DARTS text with nasfast.spaces.darts.parse)")
    for name, value in (("C", C), ("layers", layers), ("num_classes", num_classes),
                        ("stem_multiplier", stem_multiplier)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(f"{name} must be a positive int, got {type(value).__name__} {value!r:.80}")
        if value < 1:
            raise ValueError(f"{name} must be a positive int, got {value}")
    if not isinstance(auxiliary, bool):
        raise ValueError(f"auxiliary must be a bool, got {type(auxiliary).__name__} {auxiliary!r:.80}")
    if (isinstance(drop_path_prob, bool) or not isinstance(drop_path_prob, numbers.Real)
            or not 0.0 <= drop_path_prob < 1.0):
        raise ValueError(f"drop_path_prob must be a float in [0, 1), got {drop_path_prob!r:.80}")
    if auxiliary and layers < 2:
        # with a single cell the head would sit after the only reduction, on a 16x16 map
        raise ValueError(f"the auxiliary head needs layers >= 2 (an 8x8 map after cell 2*layers//3), got {layers}")
    return DartsNetwork(genotype, int(C), int(layers), int(num_classes), auxiliary, float(drop_path_prob),
                        int(stem_multiplier))

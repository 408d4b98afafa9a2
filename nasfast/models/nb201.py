"""The NAS-Bench-201 network, one architecture per module.

Built as the zero-cost-proxy reference builds it (``foresight/models/nasbench2.py`` of
SamsungLabs/zero-cost-nas; REFERENCES A5.1), because the proxy numbers we reproduce come from it:

- stem: conv 3x3 (C channels, no bias) + BN;
- 3 stages of ``cells`` cells (C, 2C, 4C channels) joined by two ResNet reduction blocks
  (ReLU-conv3x3/2-BN, ReLU-conv3x3-BN, plus a 2x2 avg-pool + 1x1 conv shortcut);
- cell ops ReLU-Conv-BN with BN ``affine=False, track_running_stats=False`` and, as the reference,
  a conv **bias** (its ``bias=not affine``); avg-pool 3x3 without padded zeros in the mean;
- top: BN + ReLU, global average pool, linear.

``use_bn=False`` (synflow's copy) drops the BN of the stem, the cells and the top but, as in the
reference, **not** the BN inside the reduction blocks (they are built without the flag there).

An edge whose op is ``none`` is left out (the reference masks it: it adds nothing). A node with no
incoming op computes zeros; the reference crashes on such cells, we do not.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from nasfast.models.pooling import PaddedAvgPool2d
from nasfast.spaces import nb201 as space

#: op index (``nasfast.spaces.nb201.OPS``) -> kernel size of its conv, for the two conv ops
CONV_KERNEL = {space.OP_INDEX["nor_conv_1x1"]: 1, space.OP_INDEX["nor_conv_3x3"]: 3}
SKIP = space.OP_INDEX["skip_connect"]
POOL = space.OP_INDEX["avg_pool_3x3"]
NONE = space.OP_INDEX["none"]


def has_input_output_path(op_indices: tuple[int, ...] | list[int]) -> bool:
    """Whether a cell (6 op indices in edge order) has a path from node 0 to node 3 through non-``none`` edges."""
    reach = [True, False, False, False]
    for (dst, src), op in zip(space.EDGES, op_indices):
        if op != NONE and reach[src]:
            reach[dst] = True
    return reach[3]


class ReLUConvBN(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, *, affine: bool,
                 use_bn: bool) -> None:
        super().__init__()
        self.relu = nn.ReLU()
        # reference quirk: bias exactly when the BN is not affine (cells: bias; reductions: none)
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=not affine)
        self.bn = (nn.BatchNorm2d(c_out, affine=affine, track_running_stats=affine)
                   if use_bn else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(self.relu(x))
        return y if self.bn is None else self.bn(y)


class AvgPool3x3(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pool = PaddedAvgPool2d(3, stride=1, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x)


class Cell(nn.Module):
    """One NB201 cell: node i = sum over edges j -> i of op_ji(node j); output = node 3."""

    def __init__(self, op_indices: tuple[int, ...], channels: int, *, use_bn: bool) -> None:
        super().__init__()
        self.op_indices = tuple(int(o) for o in op_indices)
        ops: dict[str, nn.Module] = {}
        for e, op in enumerate(self.op_indices):
            if op in CONV_KERNEL:
                ops[str(e)] = ReLUConvBN(channels, channels, CONV_KERNEL[op], 1, affine=False,
                                         use_bn=use_bn)
            elif op == POOL:
                ops[str(e)] = AvgPool3x3()
            elif op == SKIP:
                ops[str(e)] = nn.Identity()
        self.ops = nn.ModuleDict(ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for dst in (1, 2, 3):
            acc = None
            for e, (d, src) in enumerate(space.EDGES):
                if d == dst and str(e) in self.ops:
                    y = self.ops[str(e)](nodes[src])
                    acc = y if acc is None else acc + y
            nodes.append(torch.zeros_like(x) if acc is None else acc)
        return nodes[3]


class Reduction(nn.Module):
    """ResNet basic block with stride 2 (NB201's reduction), BN always on (reference quirk)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, affine=True, use_bn=True)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, affine=True, use_bn=True)
        self.shortcut_pool = nn.AvgPool2d(2, stride=2)
        self.shortcut_conv = nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_b(self.conv_a(x)) + self.shortcut_conv(self.shortcut_pool(x))


class NB201Network(nn.Module):
    """The NB201 network of one cell; input ``(N, 3, H, W)``, output logits ``(N, num_classes)``."""

    def __init__(self, arch: space.NB201Arch | str | int, num_classes: int = 10, *, channels: int = 16,
                 cells: int = 5, use_bn: bool = True) -> None:
        super().__init__()
        self.check_sizes(num_classes, channels, cells)
        self.arch = space.as_arch(arch)
        self.num_classes, self.channels, self.cells, self.use_bn = num_classes, channels, cells, use_bn
        ops = self.arch.op_indices
        c = channels
        stem: list[nn.Module] = [nn.Conv2d(3, c, 3, padding=1, bias=False)]
        if use_bn:
            stem.append(nn.BatchNorm2d(c))
        self.stem = nn.Sequential(*stem)
        self.stage1 = nn.Sequential(*[Cell(ops, c, use_bn=use_bn) for _ in range(cells)])
        self.reduction1 = Reduction(c, 2 * c)
        self.stage2 = nn.Sequential(*[Cell(ops, 2 * c, use_bn=use_bn) for _ in range(cells)])
        self.reduction2 = Reduction(2 * c, 4 * c)
        self.stage3 = nn.Sequential(*[Cell(ops, 4 * c, use_bn=use_bn) for _ in range(cells)])
        self.top_bn = nn.BatchNorm2d(4 * c) if use_bn else None
        self.top_relu = nn.ReLU()
        self.classifier = nn.Linear(4 * c, num_classes)

    @staticmethod
    def check_sizes(num_classes: int, channels: int, cells: int) -> None:
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        if not isinstance(channels, int) or channels < 1:
            raise ValueError(f"channels must be a positive int, got {channels!r}")
        if not isinstance(cells, int) or cells < 1:
            raise ValueError(f"cells per stage must be a positive int, got {cells!r}")

    @property
    def has_path(self) -> bool:
        return has_input_output_path(self.arch.op_indices)

    def stages(self) -> Iterator[nn.Module]:
        yield from (self.stage1, self.reduction1, self.stage2, self.reduction2, self.stage3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"NB201Network expects input (N, 3, H, W), got shape {tuple(x.shape)}")
        x = self.stem(x)
        for stage in self.stages():
            x = stage(x)
        if self.top_bn is not None:
            x = self.top_bn(x)
        x = self.top_relu(x).mean(dim=(2, 3))
        return self.classifier(x)

    def copy_without_bn(self) -> NB201Network:
        """synflow's copy: same weights, BN removed where the reference removes it."""
        net = NB201Network(self.arch, self.num_classes, channels=self.channels, cells=self.cells,
                           use_bn=False).to(next(self.parameters()))
        net.load_state_dict(self.state_dict(), strict=False)
        return net


def nb201_network(arch: space.NB201Arch | str | int, num_classes: int = 10, *, channels: int = 16,
                  cells: int = 5, use_bn: bool = True, seed: int | None = None) -> NB201Network:
    """Build an NB201 network; with ``seed``, its PyTorch-default initial weights come from that seed
    alone (so one arch gets the same weights whatever else is built around it)."""
    if seed is None:
        return NB201Network(arch, num_classes, channels=channels, cells=cells, use_bn=use_bn)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return NB201Network(arch, num_classes, channels=channels, cells=cells, use_bn=use_bn)


@dataclass(frozen=True)
class NB201Weights:
    """The parameters of one NB201 network without its modules: what ``BatchedNB201`` stacks.

    ``params`` maps ``NB201Network``'s parameter names to tensors (BN buffers are left out: the
    proxies run BN in train mode). Make one with ``nb201_weights`` (fast, seeded) or from a module
    with ``NB201Weights.of``."""

    arch: space.NB201Arch
    num_classes: int
    channels: int
    cells: int
    params: dict[str, torch.Tensor]
    use_bn: bool = True

    @classmethod
    def of(cls, net: NB201Network) -> NB201Weights:
        return cls(net.arch, net.num_classes, net.channels, net.cells,
                   {k: p.detach() for k, p in net.named_parameters()}, net.use_bn)

    @property
    def has_path(self) -> bool:
        return has_input_output_path(self.arch.op_indices)


def nb201_weights(arch: space.NB201Arch | str | int, num_classes: int = 10, *, channels: int = 16,
                  cells: int = 5, seed: int = 0) -> NB201Weights:
    """The initial parameters ``nb201_network(arch, num_classes, channels=, cells=, seed=seed)``
    would have, bit for bit, without building the network (about 5x faster: the table path builds
    one per architecture, and on a GPU the module construction was the bound; RESULTS.md).

    Bit-identical because the draws are the modules' own: the same ``nn.init`` calls on tensors of
    the same shapes, in construction order, from a generator seeded as ``torch.manual_seed(seed)``
    seeds the global one. ``python_tests/test_proxies_nb201.py`` checks it."""
    net_arch = space.as_arch(arch)
    NB201Network.check_sizes(num_classes, channels, cells)
    gen = torch.Generator().manual_seed(int(seed))
    params: dict[str, torch.Tensor] = {}

    def conv(name: str, c_out: int, c_in: int, kernel: int, *, bias: bool) -> None:
        # nn.Conv2d / nn.Linear reset_parameters: kaiming_uniform_(a=sqrt(5)), then bias ~ U(+-1/sqrt(fan_in))
        w = torch.empty(c_out, c_in, kernel, kernel) if kernel else torch.empty(c_out, c_in)
        params[f"{name}.weight"] = nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=gen)
        if bias:
            bound = 1 / math.sqrt(w[0].numel())
            params[f"{name}.bias"] = nn.init.uniform_(torch.empty(c_out), -bound, bound, generator=gen)

    def bn(name: str, c: int) -> None:
        params[f"{name}.weight"], params[f"{name}.bias"] = torch.ones(c), torch.zeros(c)

    c = channels
    conv("stem.0", c, 3, 3, bias=False)
    bn("stem.1", c)
    for s, width in ((1, c), (2, 2 * c), (3, 4 * c)):
        for i in range(cells):
            for e, op in enumerate(net_arch.op_indices):
                if op in CONV_KERNEL:  # cell convs carry a bias (reference quirk), their BN no affine
                    conv(f"stage{s}.{i}.ops.{e}.conv", width, width, CONV_KERNEL[op], bias=True)
        if s < 3:
            r = f"reduction{s}"
            conv(f"{r}.conv_a.conv", 2 * width, width, 3, bias=False)
            bn(f"{r}.conv_a.bn", 2 * width)
            conv(f"{r}.conv_b.conv", 2 * width, 2 * width, 3, bias=False)
            bn(f"{r}.conv_b.bn", 2 * width)
            conv(f"{r}.shortcut_conv", 2 * width, width, 1, bias=False)
    bn("top_bn", 4 * c)
    conv("classifier", num_classes, 4 * c, 0, bias=True)
    return NB201Weights(net_arch, num_classes, channels, cells, params)

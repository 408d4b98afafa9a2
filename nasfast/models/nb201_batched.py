"""Many NB201 networks evaluated as one: B architectures, each with its own weights.

Activations are ``(N, B*C, H, W)``: channels ``b*C .. b*C+C-1`` belong to architecture ``b``.
Layers every architecture has (stem, reductions, top) become grouped convolutions with ``groups=B``.
A cell edge's conv op runs only for the architectures that hold that op on that edge: their channels
are gathered, convolved with ``groups=len(subset)`` and scattered back, so the batch costs the sum of
its members' FLOPs, never B times the largest. Pool and skip ops are masked per channel (they are
cheap; the pool is the compiled ``nasfast.ops.avg_pool3x3``). Every architecture's computation stays independent (BN statistics are per channel, the
loss is a sum of per-architecture losses), so gradients per architecture equal those of
``NB201Network`` one at a time; ``python_tests/test_proxies_nb201.py`` checks it in float64.

Activations and conv weights are channels-last by default: oneDNN's convolutions with 16-64
channels run several times faster in that layout on CPU than in NCHW (``benchmarks/RESULTS.md``).

Build it from ``NB201Network`` modules (``BatchedNB201(nets)``), whose weights are copied, so the
one-at-a-time and the batched evaluation start from the same initial weights; or from
``NB201Weights`` (``nb201_weights``: the same seeded weights without building modules, which is
what the table path does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from nasfast.models.nb201 import CONV_KERNEL, POOL, SKIP, NB201Network, NB201Weights
from nasfast.ops.avg_pool3x3 import avg_pool3x3
from nasfast.spaces import nb201 as space


@dataclass
class StackedWeight:
    """One conv or linear layer position, stacked over the architectures that own it.

    ``weight`` rows come in ``len(archs)`` equal blocks, block i belonging to batch position
    ``archs[i]``; ``fan_in`` is the number of weights feeding one output channel."""

    name: str
    weight: torch.Tensor
    archs: torch.Tensor
    fan_in: int


class Recorder:
    """Collects what a proxy needs from inside the forward pass (subclass and override)."""

    def relu_input(self, x: torch.Tensor, archs: torch.Tensor) -> None:  # noqa: B027
        """``x``: (N, len(archs)*C, H, W) or (N, len(archs), F), the input of a ReLU."""

    def layer_output(self, y: torch.Tensor, layer: StackedWeight) -> None:  # noqa: B027
        """``y``: the output of a conv/linear layer, before its BN."""


class BatchedNB201:
    """B NB201 networks with independent weights, evaluated in one pass.

    ``forward(x)`` takes ``(N, 3, H, W)`` (the same images for every architecture) or
    ``(N, B*3, H, W)`` (one copy per architecture, so that input gradients stay separate) and
    returns logits ``(N, B, num_classes)``.
    """

    def __init__(self, nets: Sequence[NB201Network | NB201Weights], *, use_bn: bool = True,
                 dtype: torch.dtype | None = None, absolute: bool = False, channels_last: bool = True,
                 device: torch.device | str | None = None) -> None:
        if not nets:
            raise ValueError("BatchedNB201 needs at least one network")
        for n in nets:
            if not isinstance(n, NB201Network | NB201Weights):
                raise TypeError(f"BatchedNB201 takes NB201Network or NB201Weights, got {type(n).__name__}")
        weights = [n if isinstance(n, NB201Weights) else NB201Weights.of(n) for n in nets]
        first = weights[0]
        for n in weights:
            if (n.num_classes, n.channels, n.cells) != (first.num_classes, first.channels, first.cells):
                raise ValueError("all networks of a batch need the same num_classes, channels and cells")
            if use_bn and not n.use_bn:
                raise ValueError("use_bn=True needs networks built with BN")
        self.B, self.C, self.cells, self.use_bn = len(nets), first.channels, first.cells, use_bn
        self.num_classes = first.num_classes
        self.ops = [n.arch.op_indices for n in weights]
        states = [n.params for n in weights]
        self.dtype = dtype or first.params["stem.0.weight"].dtype
        # stacked where the weights are, then moved once per layer (not once per arch and layer)
        self.device = torch.device(device) if device is not None else first.params["stem.0.weight"].device
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.weights: list[StackedWeight] = []  # conv/linear weights, in forward order
        self._by_id: dict[int, StackedWeight] = {}
        everyone = torch.arange(self.B, device=self.device)
        members = {id(everyone): list(range(self.B))}  # batch positions of each arch tensor, on the host

        def stack(name: str, archs: torch.Tensor, *, weight: bool = False) -> torch.Tensor:
            t = torch.cat([states[b][name] for b in members[id(archs)]], 0).detach()
            # copied as drawn, then converted where the network runs: synflow's float64 doubles the
            # bytes, and on a GPU the host is the bound (RESULTS.md)
            t = self._to_device(t).to(self.dtype)
            if absolute:
                t = t.abs()
            if channels_last and t.dim() == 4:
                t = t.contiguous(memory_format=torch.channels_last)
            t.requires_grad_(True)
            if weight:
                sw = StackedWeight(name, t, archs, t[0].numel())
                self.weights.append(sw)
                self._by_id[id(t)] = sw
            return t

        c = self.C
        self.stem_w = stack("stem.0.weight", everyone, weight=True)
        self.stem_bn = (stack("stem.1.weight", everyone), stack("stem.1.bias", everyone)) if use_bn else None
        # per edge: {kernel: (archs, channel index per width)} for conv ops; pool/skip masks
        self.edge_convs: list[dict[int, torch.Tensor]] = []
        self.edge_masks: list[dict[int, torch.Tensor | None]] = []
        for e in range(space.NUM_EDGES):
            convs: dict[int, torch.Tensor] = {}
            for op, _k in CONV_KERNEL.items():
                owners = [b for b in range(self.B) if self.ops[b][e] == op]
                if owners:
                    convs[op] = self._to_device(torch.tensor(owners, dtype=torch.long))
                    members[id(convs[op])] = owners
            self.edge_convs.append(convs)
            masks: dict[int, torch.Tensor | None] = {}
            for op in (POOL, SKIP):
                sel = [float(self.ops[b][e] == op) for b in range(self.B)]
                if any(sel):
                    masks[op] = None if all(sel) else self._to_device(torch.tensor(sel, dtype=self.dtype))
            self.edge_masks.append(masks)
        self.stages: list[tuple[str, object]] = []
        for s, width in ((1, c), (2, 2 * c), (3, 4 * c)):
            for i in range(self.cells):
                cell = {}
                for e, convs in enumerate(self.edge_convs):
                    for op, archs in convs.items():
                        prefix = f"stage{s}.{i}.ops.{e}.conv"
                        cell[(e, op)] = (stack(f"{prefix}.weight", archs, weight=True),
                                         stack(f"{prefix}.bias", archs))
                self.stages.append(("cell", (width, cell)))
            if s < 3:
                r = f"reduction{s}"
                red = {k: stack(f"{r}.{k}.conv.weight", everyone, weight=True) for k in ("conv_a", "conv_b")}
                red.update({f"{k}_bn": (stack(f"{r}.{k}.bn.weight", everyone), stack(f"{r}.{k}.bn.bias", everyone))
                            for k in ("conv_a", "conv_b")})
                red["shortcut"] = stack(f"{r}.shortcut_conv.weight", everyone, weight=True)
                self.stages.append(("reduction", red))
        self.top_bn = (stack("top_bn.weight", everyone), stack("top_bn.bias", everyone)) if use_bn else None
        w = stack("classifier.weight", everyone, weight=True)
        self.classifier_w = w.view(self.B, self.num_classes, 4 * c)
        self.classifier_b = stack("classifier.bias", everyone).view(self.B, self.num_classes)
        self._chan_cache: dict[tuple[int, int], torch.Tensor] = {}

    # ---- helpers ---------------------------------------------------------------------------------
    def _to_device(self, t: torch.Tensor) -> torch.Tensor:
        """``t`` (a tensor the caller just made, so never shared) on ``self.device``. CPU -> GPU goes
        through pinned memory without blocking: a pageable copy waits for the GPU, and construction
        makes ~200 of them (an H100 took 140 ms to build 64 archs, the GPU idle meanwhile; RESULTS.md)."""
        if t.device == self.device:
            return t
        if t.device.type == "cpu" and self.device.type == "cuda":
            return t.pin_memory().to(self.device, non_blocking=True)
        return t.to(self.device)

    def _channels(self, archs: torch.Tensor, width: int) -> torch.Tensor:
        key = (id(archs), width)
        if key not in self._chan_cache:
            self._chan_cache[key] = (archs[:, None] * width + torch.arange(width, device=archs.device)).reshape(-1)
        return self._chan_cache[key]

    def _mask(self, sel: torch.Tensor, width: int) -> torch.Tensor:
        return sel.repeat_interleave(width).view(1, -1, 1, 1)

    @staticmethod
    def _bn(x: torch.Tensor, affine: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        # train-mode BN: batch statistics, as every proxy in the reference runs the net in train mode
        w, b = affine if affine is not None else (None, None)
        return F.batch_norm(x, None, None, w, b, training=True, eps=1e-5)

    def _relu_conv(self, x, w, bias, stride, groups, archs, rec, layer) -> torch.Tensor:
        if rec is not None:
            rec.relu_input(x, archs)
        y = F.conv2d(F.relu(x), w, bias, stride=stride, padding=w.shape[-1] // 2, groups=groups)
        if rec is not None:
            rec.layer_output(y, layer)
        return y

    def _layer(self, w: torch.Tensor) -> StackedWeight:
        return self._by_id[id(w)]

    # ---- forward ---------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, rec: Recorder | None = None) -> torch.Tensor:
        B = self.B
        if x.dim() != 4 or x.shape[1] not in (3, 3 * B):
            raise ValueError(f"BatchedNB201 expects (N, 3, H, W) or (N, {3 * B}, H, W), got {tuple(x.shape)}")
        if x.shape[1] == 3:
            x = x.repeat(1, B, 1, 1)
        x = x.contiguous(memory_format=self.memory_format)
        everyone = self.weights[0].archs
        h = F.conv2d(x.to(self.dtype), self.stem_w, padding=1, groups=B)
        if rec is not None:
            rec.layer_output(h, self.weights[0])
        if self.use_bn:
            h = self._bn(h, self.stem_bn)
        for kind, spec in self.stages:
            if kind == "cell":
                width, cell = spec
                h = self._cell(h, width, cell, rec)
            else:
                red = spec
                a = self._relu_conv(h, red["conv_a"], None, 2, B, everyone, rec, self._layer(red["conv_a"]))
                a = self._bn(a, red["conv_a_bn"])
                a = self._relu_conv(a, red["conv_b"], None, 1, B, everyone, rec, self._layer(red["conv_b"]))
                a = self._bn(a, red["conv_b_bn"])
                s = F.conv2d(F.avg_pool2d(h, 2, 2), red["shortcut"], groups=B)
                if rec is not None:
                    rec.layer_output(s, self._layer(red["shortcut"]))
                h = a + s
        if self.use_bn:
            h = self._bn(h, self.top_bn)
        if rec is not None:
            rec.relu_input(h, everyone)
        f = F.relu(h).mean(dim=(2, 3)).view(-1, B, 4 * self.C)
        logits = torch.einsum("nbc,bkc->nbk", f, self.classifier_w) + self.classifier_b
        if rec is not None:
            rec.layer_output(logits, self.weights[-1])
        return logits

    def _cell(self, x: torch.Tensor, width: int, cell: dict, rec: Recorder | None) -> torch.Tensor:
        nodes = [x]
        for dst in (1, 2, 3):
            acc = None
            for e, (d, src) in enumerate(space.EDGES):
                if d != dst:
                    continue
                inp = nodes[src]
                for op, archs in self.edge_convs[e].items():
                    w, bias = cell[(e, op)]
                    full = len(archs) == self.B
                    chan = None if full else self._channels(archs, width)
                    xs = inp if full else inp.index_select(1, chan)
                    y = self._relu_conv(xs, w, bias, 1, len(archs), archs, rec, self._layer(w))
                    if self.use_bn:
                        y = self._bn(y, None)
                    if not full:
                        y = torch.zeros_like(inp).index_add(1, chan, y)
                    acc = y if acc is None else acc + y
                for op, sel in self.edge_masks[e].items():
                    y = avg_pool3x3(inp) if op == POOL else inp
                    y = y if sel is None else y * self._mask(sel, width)
                    acc = y if acc is None else acc + y
            nodes.append(torch.zeros_like(x) if acc is None else acc)
        return nodes[3]

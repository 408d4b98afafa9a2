"""All proxies of B NB201 architectures at once.

One forward pass feeds every data proxy: the loss gradient (one backward) gives snip, grad_norm,
plain and fisher; the input gradient of the summed logits (a second backward through the same
graph) gives jacob_cov; the ReLU codes seen on the way give naswot. grasp needs a Hessian-vector
product (its own pass) and synflow its own BN-free float64 network. The reference runs one
forward/backward per proxy per architecture (``proxies.single``); ``benchmarks/bench_proxies.py``
measures the difference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from nasfast.models.nb201 import CONV_KERNEL, NB201Network, NB201Weights
from nasfast.models.nb201_batched import BatchedNB201, Recorder
from nasfast.proxies import single
from nasfast.proxies.definitions import (
    GRADIENT_PROXIES,
    PROXIES,
    check_batch,
    check_proxy_names,
    ieee_float32,
    jacob_cov_scores,
    naswot_kernel,
    naswot_scores,
)

_LOSS_GRAD = ("snip", "grad_norm", "plain", "fisher")


class _Collect(Recorder):
    def __init__(self, B: int, N: int, naswot: bool, fisher: bool, device) -> None:
        self.kernel = torch.zeros(B, N, N, dtype=torch.float64, device=device) if naswot else None
        self.outputs: list = [] if fisher else None

    def relu_input(self, x, archs):
        if self.kernel is not None:
            x = x.detach()
            if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
                # NHWC memory: arch b's features are channel blocks inside each pixel; the kernel
                # does not care about feature order, so no NCHW copy is needed
                x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, len(archs), x.shape[1] // len(archs))
                codes = x.permute(2, 0, 1, 3).reshape(len(archs), x.shape[0], -1)
            else:
                codes = x.reshape(x.shape[0], len(archs), -1).transpose(0, 1)
            self.kernel.index_add_(0, archs, naswot_kernel(codes))

    def layer_output(self, y, layer):
        if self.outputs is not None:
            self.outputs.append((y, layer))


def _layer_weights(w: NB201Weights) -> list[torch.Tensor]:
    """The conv/linear weights (not biases, not BN) of one network: what l2_norm and mag sum over."""
    return [t for k, t in w.params.items() if k.endswith(".weight") and t.dim() in (2, 4)]


def nb201_flops(w: NB201Weights, height: int, width: int) -> float:
    """``single.flops`` without running the network: each conv/linear layer's output size times its
    fan-in, for one (3, height, width) image, in millions (tested equal to the hook count)."""
    out = lambda n, k, s, p: (n + 2 * p - k) // s + 1  # noqa: E731
    h, wd, c, total = height, width, w.channels, 0
    total += c * h * wd * 3 * 9  # stem
    for s, ch in ((1, c), (2, 2 * c), (3, 4 * c)):
        per_cell = sum(ch * h * wd * ch * CONV_KERNEL[op] ** 2 for op in w.arch.op_indices if op in CONV_KERNEL)
        total += w.cells * per_cell
        if s < 3:
            h2, w2 = out(h, 3, 2, 1), out(wd, 3, 2, 1)
            total += 2 * ch * h2 * w2 * ch * 9 + 2 * ch * h2 * w2 * 2 * ch * 9  # conv_a, conv_b
            total += 2 * ch * (h // 2) * (wd // 2) * ch  # the shortcut's 1x1 conv after a 2x2 pool
            h, wd = h2, w2
    total += w.num_classes * 4 * c  # classifier
    return total / 1e6


def _data_free(w: NB201Weights, name: str, x: torch.Tensor) -> float:
    if name == "params":
        return float(sum(t.numel() for t in w.params.values()))
    if name == "flops":
        return nb201_flops(w, x.shape[2], x.shape[3])
    reduce = (lambda t: t.norm()) if name == "l2_norm" else (lambda t: t.abs().sum())  # mag
    return float(sum(float(reduce(t.to(torch.float64))) for t in _layer_weights(w)))


def _batched_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Sum over architectures of each one's mean cross-entropy; logits (N, B, K)."""
    n, b, k = logits.shape
    return F.cross_entropy(logits.reshape(n * b, k), y.repeat_interleave(b)) * b


def _per_arch(net: BatchedNB201, per_block: list[tuple[torch.Tensor, object]]) -> np.ndarray:
    out = torch.zeros(net.B, dtype=torch.float64, device=net.device)
    for value, sw in per_block:
        out.index_add_(0, sw.archs, value.detach().to(torch.float64))
    return out.cpu().numpy()


def _main_pass(nets, names, x, y, dtype, meanwhile: Callable[[], np.ndarray] | None = None
               ) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """The gradient proxies of ``names`` from one forward and up to two backwards.

    ``meanwhile`` runs once both backwards are queued and before any value is read back (each read
    waits for the device). On a GPU the backwards are bound by the device and synflow's pass by the
    host (RESULTS.md, "On an H100, second loan"), so the host builds synflow's network and queues its
    passes while the device is still busy with these. Returns (values, ``meanwhile``'s result)."""
    net = BatchedNB201(nets, dtype=dtype, device=x.device)
    B, N = net.B, len(x)
    rec = _Collect(B, N, "naswot" in names, "fisher" in names, net.device)
    want_jac = "jacob_cov" in names
    xin = x.to(dtype).repeat(1, B, 1, 1).requires_grad_(True) if want_jac else x.to(dtype)
    logits = net.forward(xin, rec)
    grads = None
    if any(n in names for n in _LOSS_GRAD):
        acts = [o for o, _ in rec.outputs] if rec.outputs is not None else []
        weights = [sw.weight for sw in net.weights]
        grads = torch.autograd.grad(_batched_loss(logits, y), weights + acts, retain_graph=want_jac,
                                    allow_unused=True)
    jac = torch.autograd.grad(logits.sum(), xin)[0] if want_jac else None
    extra = meanwhile() if meanwhile is not None else None
    out: dict[str, np.ndarray] = {}
    if grads is not None:
        wg, ag = grads[:len(net.weights)], grads[len(net.weights):]
        pairs = [(sw, g) for sw, g in zip(net.weights, wg) if g is not None]
        blocks = lambda t, sw: t.reshape(len(sw.archs), -1)  # noqa: E731
        if "snip" in names:
            out["snip"] = _per_arch(net, [(blocks((sw.weight * g).abs(), sw).sum(1), sw) for sw, g in pairs])
        if "plain" in names:
            out["plain"] = _per_arch(net, [(blocks(sw.weight * g, sw).sum(1), sw) for sw, g in pairs])
        if "grad_norm" in names:
            out["grad_norm"] = _per_arch(net, [(blocks(g, sw).norm(dim=1), sw) for sw, g in pairs])
        if "fisher" in names:
            vals = []
            for (act, sw), g in zip(rec.outputs, ag):
                if g is None:
                    continue
                if act.dim() == 3:  # the classifier: (N, B, K) -> per-"channel" (B*K)
                    act, g = act.reshape(act.shape[0], -1), g.reshape(g.shape[0], -1)
                per_channel = single.fisher_channels(act.detach(), g)
                vals.append((per_channel.reshape(len(sw.archs), -1).sum(1) * sw.fan_in, sw))
            out["fisher"] = _per_arch(net, vals)
    if jac is not None:
        out["jacob_cov"] = jacob_cov_scores(jac.reshape(N, B, -1).transpose(0, 1))
    if rec.kernel is not None:
        out["naswot"] = naswot_scores(rec.kernel)
    return out, extra


def _grasp(nets, x, y, dtype) -> np.ndarray:
    net = BatchedNB201(nets, dtype=dtype, device=x.device)
    loss = _batched_loss(net.forward(x.to(dtype)), y)
    weights = [sw.weight for sw in net.weights]
    grads = torch.autograd.grad(loss, weights, create_graph=True, allow_unused=True)
    used = [(sw, g) for sw, g in zip(net.weights, grads) if g is not None]
    z = sum((g.detach() * g).sum() for _, g in used)
    hg = torch.autograd.grad(z, [sw.weight for sw, _ in used], allow_unused=True)
    return _per_arch(net, [((-sw.weight.detach() * h).reshape(len(sw.archs), -1).sum(1), sw)
                           for (sw, _), h in zip(used, hg) if h is not None])


def _synflow(nets, x) -> np.ndarray:
    net = BatchedNB201(nets, use_bn=False, dtype=torch.float64, absolute=True, device=x.device)
    ones = torch.ones((1, *x.shape[1:]), dtype=torch.float64, device=x.device)
    out = net.forward(ones)
    weights = [sw.weight for sw in net.weights]
    grads = torch.autograd.grad(out.sum(), weights, allow_unused=True)
    return _per_arch(net, [((sw.weight * g).abs().reshape(len(sw.archs), -1).sum(1), sw)
                           for sw, g in zip(net.weights, grads) if g is not None])


def nb201_proxies_batched(nets: Sequence[NB201Network | NB201Weights], names: Sequence[str], x: torch.Tensor,
                          y: torch.Tensor, *, dtype: torch.dtype = torch.float32) -> dict[str, np.ndarray]:
    """Proxies of B NB201 networks (each keeps its own weights), evaluated together on ``x.device``.

    ``nets``: modules or their weights (``nb201_weights``), on any device: the stacked weights are
    moved to ``x``'s. ``x``: (N, 3, H, W) images shared by all; ``y``: (N,) labels. Returns
    name -> (B,) float64. Networks with no input->output path get NaN for every proxy that looks at
    data or gradients (their output does not depend on the cell)."""
    names = check_proxy_names(names)
    for i, n in enumerate(nets):
        if not isinstance(n, NB201Network | NB201Weights):
            raise TypeError(f"nets[{i}] is a {type(n).__name__}; nb201_proxies_batched takes NB201Network "
                            "modules or nb201_weights(...) (use proxies.single.compute_proxies for other networks)")
    B = len(nets)
    weights = [n if isinstance(n, NB201Weights) else NB201Weights.of(n) for n in nets]
    check_batch(x, y, weights[0].num_classes if weights else None, names)
    out = {n: np.full(B, np.nan) for n in names}
    for n in names:  # data-free proxies come straight from the weights
        if not PROXIES[n].uses_data and n != "synflow":
            out[n] = np.array([_data_free(w, n, x) for w in weights], dtype=np.float64)
    alive = [i for i, w in enumerate(weights) if w.has_path]
    if not alive:
        return out
    live_nets = [weights[i] for i in alive]
    main = [n for n in names if n in GRADIENT_PROXIES]
    results: dict[str, np.ndarray] = {}
    synflow = (lambda: _synflow(live_nets, x)) if "synflow" in names else None
    with ieee_float32():
        if main:  # synflow runs inside the main pass, overlapping its backwards (see _main_pass)
            values, synflow_values = _main_pass(live_nets, main, x, y, dtype, meanwhile=synflow)
            results.update(values)
            if synflow is not None:
                results["synflow"] = synflow_values
        if "grasp" in names:
            results["grasp"] = _grasp(live_nets, x, y, dtype)
        if synflow is not None and "synflow" not in results:
            results["synflow"] = synflow()
    for n, v in results.items():
        out[n][alive] = v
    return out

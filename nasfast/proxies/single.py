"""Zero-cost proxies of one network at a time, the way the reference computes them.

Works on any ``nn.Module`` (NB201, NB101, DARTS networks or a user's own): each proxy gets its own
deep copy of the network, in train mode, and its own forward/backward passes, as
``foresight/pruners/measures`` does. This is the path for networks the batched evaluator does not
cover, and the yardstick the batched NB201 evaluator is tested and benchmarked against.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nasfast.proxies.definitions import (
    PROXIES,
    check_batch,
    check_proxy_names,
    ieee_float32,
    jacob_cov_scores,
    naswot_kernel,
    naswot_scores,
)


def _layers(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, nn.Conv2d | nn.Linear)]


def _copy(net: nn.Module) -> nn.Module:
    """A train-mode copy that is a deterministic function of its weights: a DARTS network's drop-path
    (random per call) is turned off and its auxiliary head removed (the proxies score the main
    logits; a train-mode forward would return a tuple)."""
    net = copy.deepcopy(net).train()
    for m in net.modules():
        if hasattr(m, "drop_path_prob"):
            m.drop_path_prob = 0.0
        if getattr(m, "auxiliary_head", None) is not None:
            m.auxiliary_head = None
    return net


def _logits(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = net(x)
    return out[0] if isinstance(out, tuple | list) else out  # (logits, aux, ...) of a user's network


def _without_bn(net: nn.Module) -> nn.Module:
    """``_copy(net)`` with every BatchNorm replaced by the identity (synflow's definition), unless the
    network says where its BN goes (``NB201Network.copy_without_bn`` keeps the reduction blocks' BN,
    as the reference does)."""
    if hasattr(net, "copy_without_bn"):
        return net.copy_without_bn().train()  # already a fresh module
    net = _copy(net)
    for parent in list(net.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(parent, name, nn.Identity())
    return net


def _weight_grads(net: nn.Module, x: torch.Tensor, y: torch.Tensor, **kw) -> tuple[list, list]:
    layers = _layers(net)
    weights = [m.weight for m in layers]
    loss = F.cross_entropy(_logits(net, x), y)
    grads = torch.autograd.grad(loss, weights, allow_unused=True, **kw)
    return weights, list(grads)


def _sum(values) -> float:
    return float(sum(float(v.detach().to(torch.float64).sum()) for v in values if v is not None))


def grad_norm(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    _, grads = _weight_grads(_copy(net), x, y)
    return _sum(g.norm() for g in grads if g is not None)


def snip(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    weights, grads = _weight_grads(_copy(net), x, y)
    return _sum((w * g).abs() for w, g in zip(weights, grads) if g is not None)


def plain(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    weights, grads = _weight_grads(_copy(net), x, y)
    return _sum(w * g for w, g in zip(weights, grads) if g is not None)


def grasp(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    net = _copy(net)
    weights, grads = _weight_grads(net, x, y, create_graph=True)
    used = [(w, g) for w, g in zip(weights, grads) if g is not None]
    z = sum((g.detach() * g).sum() for _, g in used)
    hg = torch.autograd.grad(z, [w for w, _ in used], allow_unused=True)
    return _sum(-w.detach() * h for (w, _), h in zip(used, hg) if h is not None)


def fisher(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    net = _copy(net)
    outputs: list[tuple[nn.Module, torch.Tensor]] = []
    hooks = [m.register_forward_hook(lambda m, i, o: outputs.append((m, o))) for m in _layers(net)]
    try:
        loss = F.cross_entropy(_logits(net, x), y)
    finally:
        for h in hooks:
            h.remove()
    grads = torch.autograd.grad(loss, [o for _, o in outputs], allow_unused=True)
    total = 0.0
    for (m, act), g in zip(outputs, grads):
        if g is None:
            continue
        total += float(fisher_channels(act.detach(), g).sum()) * m.weight[0].numel()
    return total


def fisher_channels(act: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """Per output channel: 0.5 * mean_n (sum_spatial a * dL/da)^2 for (N, C, ...) tensors."""
    g = (act * grad).to(torch.float64)
    g_nk = g.flatten(2).sum(2) if g.dim() > 2 else g
    return 0.5 * g_nk.pow(2).mean(0)


def jacob_cov(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    net = _copy(net)
    x = x.detach().clone().requires_grad_(True)
    out = _logits(net, x)
    (jac,) = torch.autograd.grad(out.sum(), x, allow_unused=True)
    if jac is None:  # the output does not depend on the input (a cell with no input->output path)
        return float("nan")
    return float(jacob_cov_scores(jac.flatten(1)[None])[0])


def naswot(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    net = _copy(net)
    kernel = torch.zeros(len(x), len(x), dtype=torch.float64, device=x.device)

    def hook(module, inputs, output):
        nonlocal kernel
        kernel = kernel + naswot_kernel(inputs[0].detach().flatten(1)[None])[0]

    hooks = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.ReLU)]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in hooks:
            h.remove()
    return float(naswot_scores(kernel[None])[0])


def synflow(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    net = _without_bn(net).double()
    with torch.no_grad():
        for t in net.state_dict().values():
            if t.is_floating_point():
                t.abs_()
    weights = [m.weight for m in _layers(net)]
    out = _logits(net, torch.ones((1, *x.shape[1:]), dtype=torch.float64, device=x.device))
    grads = torch.autograd.grad(out.sum(), weights, allow_unused=True)
    return _sum((w * g).abs() for w, g in zip(weights, grads) if g is not None)


def l2_norm(net: nn.Module, x: torch.Tensor | None = None, y: torch.Tensor | None = None) -> float:
    return _sum(m.weight.detach().to(torch.float64).norm() for m in _layers(net))


def mag(net: nn.Module, x: torch.Tensor | None = None, y: torch.Tensor | None = None) -> float:
    return _sum(m.weight.detach().to(torch.float64).abs() for m in _layers(net))


def params(net: nn.Module, x: torch.Tensor | None = None, y: torch.Tensor | None = None) -> float:
    return float(sum(p.numel() for p in net.parameters() if p.requires_grad))


def flops(net: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None) -> float:
    """Millions of multiply-accumulates of the conv/linear layers for one image shaped like ``x[0]``."""
    total = 0

    def hook(m, inputs, out):
        nonlocal total
        per_out = m.weight[0].numel()  # fan-in (grouped convs: in_channels / groups * k * k)
        total += out[0].numel() * per_out

    net = _copy(net)
    hooks = [m.register_forward_hook(hook) for m in _layers(net)]
    try:
        with torch.no_grad():
            net(x[:1])
    finally:
        for h in hooks:
            h.remove()
    return total / 1e6


SINGLE: dict[str, Callable[..., float]] = {
    "synflow": synflow, "snip": snip, "grad_norm": grad_norm, "grasp": grasp, "fisher": fisher,
    "jacob_cov": jacob_cov, "naswot": naswot, "plain": plain, "l2_norm": l2_norm, "mag": mag, "params": params,
    "flops": flops,
}


def compute_proxies(net: nn.Module, names: str | list[str], x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Every named proxy of one network, one proxy at a time (each on a fresh copy). A network whose
    output does not depend on its cell (an NB201 cell with no input->output path: ``has_path``
    False) gets NaN for every proxy that looks at data or gradients, as the batched evaluator."""
    names = check_proxy_names(names)  # also "snip,synflow" as one string
    num_classes = getattr(net, "num_classes", None)
    check_batch(x, y, num_classes, names)
    if num_classes is None and len(y) and any(PROXIES[n].uses_data for n in names if n in PROXIES):
        # a user's module that does not say its class count: read it off one forward, so that a label
        # beyond it is named here rather than as an IndexError inside cross_entropy
        param = next((p for p in net.parameters() if p.is_floating_point()), None)
        training = net.training
        net.eval()  # in eval mode the probe leaves batch-norm running statistics alone
        try:
            with torch.no_grad():
                logits = net(x[:2].to(param.dtype) if param is not None else x[:2])
        finally:
            net.train(training)
        if isinstance(logits, torch.Tensor) and logits.dim() == 2:
            check_batch(x, y, logits.shape[1], names)
    bad = [n for n in names if n not in SINGLE]
    if bad:
        raise ValueError(f"unknown proxy {bad[0]!r}; choose from {sorted(SINGLE)}")
    param = next((p for p in net.parameters() if p.is_floating_point()), None)
    if param is not None and x.dtype != param.dtype:  # as the batched evaluator: images in the net's dtype
        x = x.to(param.dtype)
    dead = not getattr(net, "has_path", True)
    with ieee_float32():
        out = {name: float("nan") if dead and (PROXIES[name].uses_data or name == "synflow")
               else SINGLE[name](net, x, y) for name in names}
    return {k: (float(v) if np.isfinite(v) else float("nan")) for k, v in out.items()}

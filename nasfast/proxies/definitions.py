"""What each zero-cost proxy is: its definition, sign, the weights it sums over, and its data.

Definitions follow the zero-cost-proxy reference (Abdelfattah et al., ICLR 2021,
``SamsungLabs/zero-cost-nas`` ``foresight/pruners/measures``; REFERENCES A5.2) and, for naswot,
NASLib's one-pass ``nwot`` (REFERENCES A5.2, last rows). "theta" is every ``Conv2d`` / ``Linear``
weight (never biases or BN), as the reference sums; L is the mean cross-entropy on the batch.
All networks run in train mode (BN uses batch statistics).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class ProxyInfo:
    name: str
    definition: str
    uses_data: bool
    bn: bool
    sign: str = "higher is better (as computed; no conversion needed)"


PROXIES: dict[str, ProxyInfo] = {p.name: p for p in (
    ProxyInfo("synflow", "sum |theta * dR/dtheta|, R = sum of the outputs for an all-ones input of batch 1, "
              "every parameter and BN buffer made positive, float64, BN removed (except inside NB201's "
              "reduction blocks, as the reference)", uses_data=False, bn=False),
    ProxyInfo("snip", "sum |theta * dL/dtheta|", uses_data=True, bn=True),
    ProxyInfo("grad_norm", "sum over layers of the Frobenius norm of dL/dtheta (not squared)",
              uses_data=True, bn=True),
    ProxyInfo("grasp", "sum -theta * (H g), g = dL/dtheta, H the Hessian of L (temperature 1); the reference "
              "flipped GraSP's sign", uses_data=True, bn=True),
    ProxyInfo("fisher", "sum over conv/linear output channels c of fan_in(c) * 0.5 * mean_n (sum_spatial a * dL/da)^2, "
              "a the layer's output before BN; the fan-in factor is the reference's broadcast of each channel's "
              "value to all its weights before summing", uses_data=True, bn=True),
    ProxyInfo("jacob_cov", "-sum_i [log(l_i + k) + 1/(l_i + k)], k = 1e-5, l the eigenvalues of the correlation "
              "matrix (over the batch) of the input gradients of the summed outputs (NASWOT v1); eigenvalues "
              "by a symmetric solver (the reference's general `eig` can go complex); NaN on failure",
              uses_data=True, bn=True),
    ProxyInfo("naswot", "log|det K|, K = sum over every ReLU of c c^T + (1-c)(1-c)^T, c the binary codes "
              "1[ReLU input > 0] per sample (NASWOT v2, NASLib's one-pass variant)", uses_data=True, bn=True),
    ProxyInfo("plain", "sum theta * dL/dtheta (signed)", uses_data=True, bn=True),
    ProxyInfo("l2_norm", "sum over layers of the Frobenius norm of theta, over the layers the arch uses "
              "(NASLib's l2_norm; under PyTorch's default init it does not grow with the kernel size)",
              uses_data=False, bn=True),
    ProxyInfo("mag", "sum of |theta| over the conv/linear weights the arch uses: the weight magnitude of "
              "magnitude pruning, our reading of RANK-NOSH's 'mag' prior (nasfast.search.nosh our choice 10)",
              uses_data=False, bn=True),
    ProxyInfo("params", "number of parameters (all trainable tensors, BN included) of the proxy network",
              uses_data=False, bn=True),
    ProxyInfo("flops", "multiply-accumulates of the conv and linear layers for one input image, in millions",
              uses_data=False, bn=True),
)}

#: the proxies one forward and two backward passes give together (the batched evaluator's main pass)
GRADIENT_PROXIES = ("snip", "grad_norm", "plain", "fisher", "jacob_cov", "naswot")
JACOB_COV_K = 1e-5


def check_proxy_names(names: str | list[str] | tuple[str, ...]) -> list[str]:
    if isinstance(names, str):  # "snip" or "snip,synflow": not a sequence of one-letter names
        names = names.split(",")
    names = [n.strip() for n in names if n.strip()]
    bad = [n for n in names if n not in PROXIES]
    if bad:
        raise ValueError(f"unknown proxy {bad[0]!r}; choose from {sorted(PROXIES)}")
    if not names:
        raise ValueError("no proxy named")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:  # a table would get two columns of one name, a dict one value
        raise ValueError(f"proxy {twice[0]!r} is named twice")
    return names


def check_batch(x: torch.Tensor, y: torch.Tensor, num_classes: int | None = None, names: Sequence[str] = ()) -> None:
    """``x`` (N, 3, H, W) floating images and ``y`` (N,) int64 labels in 0..num_classes-1, or a
    ``ValueError`` saying which part is wrong (torch's own errors surface deep inside a loss).
    With a data proxy among ``names`` N must be at least 2: over one image jacob_cov's correlation
    is the constant 1 and naswot counts ReLUs, the same for every architecture."""
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(f"images and labels must be tensors, got {type(x).__name__} and {type(y).__name__}")
    if x.dim() != 4 or x.shape[1] != 3 or not x.is_floating_point():
        raise ValueError(f"images must be a floating (N, 3, H, W) tensor, got {tuple(x.shape)} {x.dtype}")
    if y.shape != (len(x),) or y.dtype != torch.long:
        raise ValueError(f"labels must be (N,) int64 with N = {len(x)} images, got {tuple(y.shape)} {y.dtype}")
    if len(y) and (int(y.min()) < 0 or (num_classes is not None and int(y.max()) >= num_classes)):
        top = "" if num_classes is None else f"..{num_classes - 1}"
        raise ValueError(f"labels must lie in 0{top}, got {int(y.min())}..{int(y.max())}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("images contain NaN or inf")
    needed = 2 if any(PROXIES[n].uses_data for n in names if n in PROXIES) else 1
    if len(x) < needed:
        raise ValueError(f"the proxies need at least {needed} image(s) in the batch, got {len(x)}")


def jacob_cov_scores(jacobians: torch.Tensor) -> np.ndarray:
    """(B, N, D) input gradients -> (B,) jacob_cov scores (NaN where the correlation is undefined)."""
    j = jacobians.to(torch.float64)
    j = j - j.mean(dim=2, keepdim=True)
    norm = j.norm(dim=2, keepdim=True)
    corr = (j / norm) @ (j / norm).transpose(1, 2)
    out = np.full(len(j), np.nan)
    ok = torch.isfinite(corr).flatten(1).all(1) & (norm.squeeze(2) > 0).all(1)
    if ok.any():
        lam = torch.linalg.eigvalsh(corr[ok])
        score = -(torch.log(lam + JACOB_COV_K) + 1.0 / (lam + JACOB_COV_K)).sum(1)
        out[ok.cpu().numpy()] = score.cpu().numpy()
    return out


def naswot_scores(kernels: torch.Tensor) -> np.ndarray:
    """(B, N, N) NASWOT kernels -> (B,) log|det K| (slogdet)."""
    _, logabsdet = torch.linalg.slogdet(kernels.to(torch.float64))
    return logabsdet.cpu().numpy()


def naswot_kernel(codes_input: torch.Tensor) -> torch.Tensor:
    """(G, N, F) ReLU inputs of G archs -> (G, N, N) kernel term c c^T + (1-c)(1-c)^T.

    Uses (1-c)(1-c)^T = F - s_n - s_m + c c^T with s = c.sum(-1), so one matmul per ReLU. The
    matmul runs in float32, exact here: its entries are integer counts <= F < 2**24."""
    if codes_input.shape[-1] >= 2**24:
        raise ValueError(f"naswot: {codes_input.shape[-1]} features per ReLU exceed exact float32 counting")
    c = (codes_input > 0).to(torch.float32)
    s = c.sum(-1, dtype=torch.float64)
    cc = (c @ c.transpose(1, 2)).to(torch.float64)
    return 2 * cc - s[:, :, None] - s[:, None, :] + c.shape[-1]


@contextlib.contextmanager
def ieee_float32() -> Iterator[None]:
    """TF32 off for cuDNN convolutions and cuBLAS products while proxies run (restored after).

    PyTorch lets cuDNN convolve float32 in TF32 by default on Ampere and later GPUs. On an H100
    (32 NB201 archs, against the CPU) that moved snip by a median 1e-3 relative (3e-2 at most) and
    cut jacob_cov's rank agreement to Spearman .983: jacob_cov takes logs of near-zero eigenvalues of
    a near-singular correlation matrix. In IEEE float32 the same comparison gives median 3e-5 and
    Spearman >= .9996. A proxy table must not depend on the device, so proxies run in IEEE float32."""
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    saved = cudnn.allow_tf32, matmul.allow_tf32
    cudnn.allow_tf32 = matmul.allow_tf32 = False
    try:
        yield
    finally:
        cudnn.allow_tf32, matmul.allow_tf32 = saved

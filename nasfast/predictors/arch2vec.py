"""arch2vec (Yan et al., NeurIPS 2020): a GIN variational graph autoencoder pretrained without labels.

RANK-NOSH's ranker encodes architectures with "a GIN pretrained with arch2vec" (REFERENCES A2); this
module gives that encoder for NB101 and NB201 cells:

- ``graph_tensors(space, archs)``: the op-on-node graph arch2vec reads. NB101: the 7-vertex cell,
  ops one-hot over (input, conv1x1, conv3x3, maxpool, output), padding rows all zero. NB201: 8 nodes
  (input, the 6 edges as op nodes in ``nb201.EDGES`` order, output), ops one-hot over (input,
  conv1x1, conv3x3, avgpool, skip, none, output) as arch2vec orders them; an op node takes every op
  node that ends at its source node (the input node for source 0), the output takes those ending at 3.
- ``GINVAE``: 5 hops (4 GIN layers of 2-layer MLPs with batch norm), hidden 128, latent 16 per node;
  the decoder reconstructs ops (linear + sigmoid: arch2vec's decoder applies its adjacency
  activation to the ops too, whatever the config names) and the adjacency (sigmoid of Z Z^T),
  dropout 0.3 on Z. The encoder reads the adjacency made symmetric (arch2vec's ``prep`` method 4, its config for
  these spaces) and reconstructs that symmetric matrix; the loss is BCE(ops) + BCE(adjacency) + the
  KL term scaled as arch2vec scales it.
- ``pretrain`` (Adam 1e-3, batch 32, 10 epochs: arch2vec's settings) and ``embed``: an arch's vector
  is the mean of its real nodes' latent means, so the vector does not depend on the node order
  (isomorphic cells get one vector) or on padding.
- ``space_embedding(space, archs, seed)``: pretrain on the given archs (all candidates of a search;
  no accuracy is read) and embed them, cached in memory and on disk (``cache_dir()``).

Our choices: the graph vector is the mean over real nodes (as we read arch2vec's feature extraction,
it averages all 7 slots, padding included, which makes a vector depend on where the padding sits);
the full candidate set is the pretraining set (arch2vec holds out 10 % to report reconstruction,
which a search does not need).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

#: one-hot width of each space's op types
NUM_OP_TYPES = {"nb101": 5, "nb201": 7}
#: latent width per node (arch2vec's ``dim``)
LATENT = 16
#: arch2vec's pretraining settings (``models/configs.py``, ``pretraining_*.py``)
PRETRAIN = dict(epochs=10, batch_size=32, lr=1e-3)
# our NB101 labels (-1 input, 0 conv3x3, 1 conv1x1, 2 maxpool, -2 output, -3 padding) -> arch2vec's
_NB101_TYPE = {-1: 0, 1: 1, 0: 2, 2: 3, -2: 4}
# NB201 op index (none, skip, conv1x1, conv3x3, avgpool) -> arch2vec type (input 0 ... output 6)
_NB201_TYPE = np.array([5, 4, 1, 2, 3])


def _nb201_adjacency() -> np.ndarray:
    from nasfast.spaces import nb201

    n = nb201.NUM_EDGES + 2
    adj = np.zeros((n, n), dtype=np.float32)
    for e, (_dst, src) in enumerate(nb201.EDGES):
        if src == 0:
            adj[0, e + 1] = 1
        for f, (dst2, _src2) in enumerate(nb201.EDGES):
            if dst2 == src:
                adj[f + 1, e + 1] = 1
    for f, (dst2, _src2) in enumerate(nb201.EDGES):
        if dst2 == 3:
            adj[f + 1, n - 1] = 1
    return adj


def graph_tensors(space: str, archs: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(adjacency B x N x N, ops one-hot B x N x T) float32 for ``archs``.

    ``archs``: NB101 ``(adjacency, ops)`` arrays as the bundled table stores them (upper-triangular
    int adjacency B x 7 x 7, op labels B x 7); NB201 benchmark indices or op-index rows (B x 6)."""
    if space == "nb101":
        adj, ops = (np.asarray(a) for a in archs)
        if adj.ndim != 3 or adj.shape[1:] != (7, 7) or ops.shape != adj.shape[:2]:
            raise ValueError(f"nb101 graphs must be adjacency (B, 7, 7) and ops (B, 7), got {adj.shape} and {ops.shape}")
        if not np.all(np.isin(adj, (0, 1))) or np.any(np.tril(adj) != 0):
            raise ValueError("nb101 adjacency must be 0/1 and strictly upper-triangular (a DAG in topological order)")
        known = np.isin(ops, (*_NB101_TYPE, -3))
        if not known.all():
            raise ValueError(f"nb101 op label {ops[~known][0]} is not one of -3 (padding), -2, -1, 0, 1, 2")
        types = np.full(ops.shape, -1, dtype=np.int64)
        for label, t in _NB101_TYPE.items():
            types[ops == label] = t
        return torch.as_tensor(adj, dtype=torch.float32), _one_hot(types, NUM_OP_TYPES[space])
    if space == "nb201":
        from nasfast.spaces import nb201

        a = np.asarray(archs)
        if a.size and a.dtype.kind not in "iu":  # 1.7 would read as arch 1, True as arch 1
            raise TypeError(f"nb201 archs must be integer indices (B,) or op indices (B, 6), got dtype {a.dtype}")
        if a.ndim == 1:
            if a.size and (a.min() < 0 or a.max() >= nb201.NUM_ARCHS):
                raise ValueError(f"nb201 index out of range 0..{nb201.NUM_ARCHS - 1}")
            a = nb201.codes_to_op_indices(nb201.indices_to_codes(a.astype(np.int64)))
        if a.ndim != 2 or a.shape[1] != nb201.NUM_EDGES or (a.size and (a.min() < 0 or a.max() >= nb201.NUM_OPS)):
            raise ValueError(f"nb201 archs must be indices (B,) or op indices (B, 6) in 0..4, got shape {a.shape}")
        types = np.concatenate([np.zeros((len(a), 1), np.int64), _NB201_TYPE[a], np.full((len(a), 1), 6)], 1)
        adj = torch.as_tensor(_nb201_adjacency()).expand(len(a), -1, -1).contiguous()
        return adj, _one_hot(types, NUM_OP_TYPES[space])
    raise ValueError(f"arch2vec graphs exist for 'nb101' and 'nb201', not {space!r}")


def _one_hot(types: np.ndarray, width: int) -> torch.Tensor:
    t = torch.as_tensor(types)
    out = F.one_hot(t.clamp(min=0), width).float()
    return out * (t >= 0).unsqueeze(-1)  # padding (-1) rows stay all zero


class _GINMLP(nn.Module):
    def __init__(self, d_in: int, hidden: int) -> None:
        super().__init__()
        self.l1, self.bn, self.l2 = nn.Linear(d_in, hidden), nn.BatchNorm1d(hidden), nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.l2(F.relu(self.bn(self.l1(x))))


class GINVAE(nn.Module):
    """arch2vec's model: GIN encoder to per-node (mu, logvar), inner-product adjacency decoder."""

    def __init__(self, num_op_types: int, hops: int = 5, hidden: int = 128, latent: int = LATENT,
                 dropout: float = 0.3) -> None:
        super().__init__()
        self.eps = nn.Parameter(torch.zeros(hops - 1))
        self.mlps = nn.ModuleList([_GINMLP(num_op_types if k == 0 else hidden, hidden) for k in range(hops - 1)])
        self.norms = nn.ModuleList([nn.BatchNorm1d(hidden) for _ in range(hops - 1)])
        self.mu, self.logvar = nn.Linear(hidden, latent), nn.Linear(hidden, latent)
        self.ops_out = nn.Linear(latent, num_op_types)
        self.dropout = dropout

    @staticmethod
    def symmetric(adj: torch.Tensor) -> torch.Tensor:
        # arch2vec's prep 4 is adj + triu(adj, 1)^T; for a DAG (zero diagonal, no 2-cycles) that is
        # adj + adj^T, which also holds when the nodes are not in topological order
        return adj + adj.transpose(1, 2)

    def encode(self, adj: torch.Tensor, ops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, n, _ = ops.shape
        a, x = self.symmetric(adj), ops
        for k, (mlp, norm) in enumerate(zip(self.mlps, self.norms)):
            agg = (1 + self.eps[k]) * x + a @ x
            x = F.relu(norm(mlp(agg.reshape(b * n, -1)))).reshape(b, n, -1)
        return self.mu(x), self.logvar(x)

    def forward(self, adj: torch.Tensor, ops: torch.Tensor) -> tuple[torch.Tensor, ...]:
        mu, logvar = self.encode(adj, ops)
        z = mu + torch.randn_like(mu) * torch.exp(logvar) if self.training else mu
        z = F.dropout(z, self.dropout, self.training)
        return torch.sigmoid(self.ops_out(z)), torch.sigmoid(z @ z.transpose(1, 2)), mu, logvar

    def loss(self, adj: torch.Tensor, ops: torch.Tensor) -> torch.Tensor:
        ops_rec, adj_rec, mu, logvar = self(adj, ops)
        b, n, _ = ops.shape
        kl = -0.5 / (b * n) * torch.mean(torch.sum(1 + 2 * logvar - mu.pow(2) - logvar.exp().pow(2), 2))
        return F.binary_cross_entropy(ops_rec, ops) + F.binary_cross_entropy(adj_rec, self.symmetric(adj)) + kl

    @torch.no_grad()
    def embed(self, adj: torch.Tensor, ops: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
        """(B x latent): the mean of the real nodes' latent means (eval mode)."""
        was = self.training
        self.eval()
        out = []
        for s in range(0, len(adj), chunk):
            mu, _ = self.encode(adj[s:s + chunk], ops[s:s + chunk])
            real = (ops[s:s + chunk].sum(-1, keepdim=True) > 0).to(mu.dtype)
            out.append((mu * real).sum(1) / real.sum(1).clamp(min=1))
        self.train(was)
        return torch.cat(out)


def pretrain(adj: torch.Tensor, ops: torch.Tensor, *, epochs: int = PRETRAIN["epochs"],
             batch_size: int = PRETRAIN["batch_size"], lr: float = PRETRAIN["lr"], seed: int = 0,
             progress: Callable[[int, float], None] | None = None) -> GINVAE:
    """Train a ``GINVAE`` on the graphs (no labels); ``progress(epoch, mean loss)`` after each epoch."""
    if adj.dim() != 3 or ops.dim() != 3 or adj.shape[:2] != ops.shape[:2] or adj.shape[1] != adj.shape[2]:
        raise ValueError(f"pretrain needs adjacency (B, N, N) and ops (B, N, T), got {tuple(adj.shape)} and "
                         f"{tuple(ops.shape)}")
    if len(adj) < 2:
        raise ValueError(f"pretrain needs at least 2 graphs (batch norm), got {len(adj)}")
    if epochs < 1 or batch_size < 2:
        raise ValueError(f"pretrain needs epochs >= 1 and batch_size >= 2, got {epochs} and {batch_size}")
    torch.manual_seed(seed)
    model = GINVAE(ops.shape[-1])
    opt = torch.optim.Adam(model.parameters(), lr)
    gen = torch.Generator().manual_seed(seed)
    n = len(adj)
    size = min(batch_size, n)
    for epoch in range(epochs):
        order, total, steps = torch.randperm(n, generator=gen), 0.0, 0
        for s in range(0, n - size + 1, size):  # full batches only: batch norm needs > 1 graph
            idx = order[s:s + size]
            loss = model.loss(adj[idx], ops[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, steps = total + loss.item(), steps + 1
        if progress is not None:
            progress(epoch, total / steps)
    return model.eval()


_CACHE: dict[tuple[str, str, int], np.ndarray] = {}
#: bump when the model or the pretraining changes, so that vectors cached on disk are not reused
_CACHE_VERSION = 1


def cache_dir() -> Path | None:
    """Where pretrained vectors are kept between processes: ``$NASFAST_CACHE/arch2vec`` (default
    ``~/.cache/nasfast/arch2vec``); ``NASFAST_CACHE=off`` keeps them in memory only."""
    root = os.environ.get("NASFAST_CACHE", str(Path.home() / ".cache" / "nasfast"))
    return None if root.lower() in ("off", "0", "") else Path(root) / "arch2vec"


def space_embedding(space: str, archs: Any, seed: int = 0, **pretrain_args: Any) -> np.ndarray:
    """arch2vec vectors (B x 16, float32) of ``archs`` (as ``graph_tensors`` takes them), pretrained on
    exactly these graphs; kept per (space, graphs, seed, settings) in memory and in ``cache_dir()``
    (a file per key; an unwritable directory only costs a warning). A progress bar (on a terminal
    only) counts the pretraining epochs."""
    adj, ops = graph_tensors(space, archs)
    h = hashlib.sha256(adj.numpy().tobytes() + ops.numpy().tobytes()
                       + repr((_CACHE_VERSION, sorted(pretrain_args.items()))).encode())
    key = (space, h.hexdigest(), int(seed))
    folder = cache_dir()
    path = None if folder is None else folder / f"{space}-{key[1][:24]}-seed{int(seed)}.npy"
    if key not in _CACHE and path is not None and path.exists():
        cached = np.load(path)
        if cached.shape == (len(adj), LATENT):
            _CACHE[key] = cached
    if key not in _CACHE:
        from tqdm.auto import tqdm

        epochs = int(pretrain_args.get("epochs", PRETRAIN["epochs"]))
        with tqdm(total=epochs, desc=f"arch2vec pretraining ({len(adj):,} {space} graphs)", unit="epoch",
                  leave=False, disable=None) as bar:
            model = pretrain(adj, ops, seed=seed, progress=lambda _e, loss: (bar.update(1), bar.set_postfix(loss=f"{loss:.3f}")),
                             **pretrain_args)
        _CACHE[key] = model.embed(adj, ops).numpy()
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
                np.save(tmp, _CACHE[key])
                os.replace(tmp, path)  # whole files only, even with several processes
            except OSError as err:
                warnings.warn(f"arch2vec: could not cache the vectors in {path.parent} ({err}); set "
                              "NASFAST_CACHE to a writable folder, or to 'off'", stacklevel=2)
    return _CACHE[key]



def fit_comparator(emb: np.ndarray, key: np.ndarray, *, seed: int, epochs: int = 100, batch_size: int = 512,
                   lr: float = 1e-3, max_compare_ratio: float = 4.0, hidden: Sequence[int] = (32,),
                   dropout: float = 0.1) -> Any:
    """A ``PairwiseComparator`` on frozen vectors ``emb`` (n x D), trained as the GATES comparator is:
    shuffled minibatches, at most ``max_compare_ratio`` x n pairs each ordered by ``key`` (higher =
    better; NaN and ties give no pair), BCE on both orders, Adam."""
    from nasfast.predictors.heads import PairwiseComparator
    from nasfast.predictors.losses import comparator_loss
    from nasfast.predictors.train import sample_pairs

    emb_t = torch.as_tensor(np.asarray(emb, dtype=np.float32))
    key = np.asarray(key, dtype=np.float64)
    if emb_t.dim() != 2 or len(emb_t) != len(key):
        raise ValueError(f"fit_comparator needs emb (n, D) and key (n,), got {tuple(emb_t.shape)} and {key.shape}")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = PairwiseComparator(emb_t.shape[1], tuple(hidden), dropout)
    opt = torch.optim.Adam(model.parameters(), lr)
    model.train()
    for _ in range(epochs):
        order = rng.permutation(len(key))
        for s in range(0, len(key), batch_size):
            rows = order[s:s + batch_size]
            pairs, labels = sample_pairs(key[rows], rng, max_compare_ratio)
            if not len(pairs):
                continue
            a1, a2 = emb_t[rows[pairs[:, 0]]], emb_t[rows[pairs[:, 1]]]
            loss = comparator_loss(model(a1, a2), model(a2, a1), torch.as_tensor(labels, dtype=torch.float32))
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()

"""The predictor network: an encoder (GATES or a baseline) plus a head, and its configuration.

``DEFAULTS`` holds the per-space paper configs (REFERENCES A1.2 NB101 ``nbc_flow_gcn128x4.yaml``,
A1.3 NB201 ``train_nb201_gates_config.yaml``, A1.4 the NB301 example) and ``COMMON`` the training
settings shared by all (Adam 1e-3, batch 512, 200 epochs, hinge margin 0.1, at most 4n pairs).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from nasfast.predictors import encoding
from nasfast.predictors.baselines import GCNEncoder, MLPEncoder
from nasfast.predictors.encoding import Encoded
from nasfast.predictors.gates import NB101GATES, NB201GATES, DartsGATES
from nasfast.predictors.heads import PairwiseComparator, PointwiseHead
from nasfast.validation import check_seed

ENCODERS = ("gates", "mlp", "gcn", "gcn_global")
LOSSES = ("hinge", "bce", "comparator", "listmle", "regression")

DEFAULTS: dict[str, dict[str, Any]] = {
    "nb101": dict(op_dim=48, node_dim=48, hid_dim=96, layers=(128,) * 4, plus_I=False, residual_only=None,
                  readout="mean", mlp_hidden=(200,), dropout=0.1),
    "nb201": dict(op_dim=48, node_dim=48, hid_dim=96, layers=(128,) * 5, residual_only=1, readout="output",
                  mlp_hidden=(300,) * 5, dropout=0.1),
    "darts": dict(op_dim=48, node_dim=48, hid_dim=48, layers=(32,) * 5, mlp_hidden=(256,) * 3, dropout=0.1),
}
COMMON: dict[str, Any] = dict(
    epochs=200, batch_size=512, lr=1e-3, weight_decay=0.0, margin=0.1, max_compare_ratio=4.0,
    compare_threshold=0.0, pair_choice="random",
    # hinge / bce / ListMLE: "use" runs the head once per arch *occurrence* in the sampled pairs or
    # lists, so each gets its own dropout mask, as aw_nas (its update_compare scores the two sides of
    # the pairs in separate passes; update_argsort scores every list element); "arch" scores each
    # arch of a minibatch once and indexes (cheaper; one mask shared by all of an arch's pairs). The
    # encoders have no dropout, so the embedding is computed once either way. reproductions/gates-nb101.md
    score_per="use",
    pairing="diff",  # comparator: MLP([e1, e2 - e1]) ("diff") or MLP([e1, e2]) ("concat")
    num_references=64,  # comparator: fixed training archs every scored arch is compared with
    reference_choice="random",  # comparator: "random" training archs, or the "top" ones (sharper at the top)
    list_length=4,  # ListMLE list length: our choice, not read from an aw_nas config
    listmle_reduction="mean",  # aw_nas averages over list positions; "sum" is textbook ListMLE
    acc_scale="auto",  # regression: divide accuracies by this; "auto" = 100 if any exceeds 1
    mlp_encoder_hidden=(256, 256),  # MLP baseline encoder widths
    seed=0,
)


_CHOICES: dict[str, tuple[Any, ...]] = {
    "pair_choice": ("random", "diff"),  # which pairs a batch keeps beyond its ratio
    "score_per": ("use", "arch"),
    "reference_choice": ("random", "top"),
    "pairing": ("diff", "concat"),
    "listmle_reduction": ("mean", "sum"),
    "readout": ("mean", "output"),
}


def resolve_config(space: str, encoder: str, loss: str, config: dict[str, Any]) -> dict[str, Any]:
    if space not in DEFAULTS:
        raise ValueError(f"unknown space {space!r}; expected one of {tuple(DEFAULTS)}")
    if encoder not in ENCODERS:
        raise ValueError(f"unknown encoder {encoder!r}; expected one of {ENCODERS}")
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; expected one of {LOSSES}")
    out = {**COMMON, **DEFAULTS[space]}
    unknown = sorted(set(config) - set(out))
    if unknown:
        raise ValueError(f"unknown config key(s) {unknown} for space {space!r}; known: {sorted(out)}")
    out.update(config)
    for key in ("epochs", "batch_size", "list_length", "num_references", "op_dim", "node_dim", "hid_dim"):
        value = out[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{key} must be a positive integer, got {value!r}")
    out["seed"] = check_seed(out["seed"])  # a plain int: saved configs load with weights_only
    if not float(out["lr"]) > 0:
        raise ValueError(f"lr must be positive, got {out['lr']!r}")
    for key, low in (("margin", 0.0), ("compare_threshold", 0.0), ("weight_decay", 0.0)):
        if not (isinstance(out[key], (int, float)) and math.isfinite(out[key]) and out[key] >= low):
            raise ValueError(f"{key} must be a finite number >= {low:g}, got {out[key]!r}")
    if not (isinstance(out["max_compare_ratio"], (int, float)) and out["max_compare_ratio"] > 0):
        raise ValueError(f"max_compare_ratio must be positive (pairs per arch in a batch), got {out['max_compare_ratio']!r}")
    scale = out["acc_scale"]
    if scale != "auto" and not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"acc_scale must be 'auto' or a positive number, got {scale!r}")
    for key in ("layers", "mlp_hidden", "mlp_encoder_hidden"):
        if not isinstance(out[key], (list, tuple)):
            raise ValueError(f"{key} must be a list of layer widths, e.g. {key}=(128, 128), got {out[key]!r}")
    for key, choices in _CHOICES.items():  # a typo would otherwise be silent (or fail mid-training)
        if key in out and out[key] not in choices:
            raise ValueError(f"{key} must be one of {list(choices)}, got {out[key]!r}")
    if "plus_I" in out and not isinstance(out["plus_I"], bool):
        raise ValueError(f"plus_I must be True or False, got {out['plus_I']!r}")
    if "residual_only" in out:  # None (NB101 only): the self term on every node; k: on the first k
        value, allow_none = out["residual_only"], space == "nb101"
        if not ((value is None and allow_none)
                or (isinstance(value, int) and not isinstance(value, bool) and value >= 0)):
            what = "None or a non-negative integer" if allow_none else "a non-negative integer"
            raise ValueError(f"residual_only must be {what} (the nodes with an ungated self term), got {value!r}")
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in out.items()}  # plain types for saving


def encode(space: str, encoder: str, archs: Any) -> Encoded:
    """The input tensors ``encoder`` needs for ``archs`` of ``space``."""
    return encoding.encode(space, archs) if encoder == "gates" else encoding.node_graph(space, archs)


def build_encoder(space: str, encoder: str, cfg: dict[str, Any]) -> nn.Module:
    layers = tuple(cfg["layers"])
    if encoder == "gates":
        dims = dict(op_dim=cfg["op_dim"], node_dim=cfg["node_dim"], hid_dim=cfg["hid_dim"], layers=layers)
        if space == "nb101":
            return NB101GATES(**dims, plus_I=cfg["plus_I"], residual_only=cfg["residual_only"], readout=cfg["readout"])
        if space == "nb201":
            return NB201GATES(**dims, residual_only=cfg["residual_only"], readout=cfg["readout"])
        return DartsGATES(**dims)
    labels, nodes = encoding.NODE_GRAPH_LABELS[space], encoding.NODE_GRAPH_SIZE[space]
    if encoder == "mlp":
        return MLPEncoder(nodes, labels, tuple(cfg["mlp_encoder_hidden"]))
    return GCNEncoder(labels, layers, global_node=encoder == "gcn_global")


class PredictorNet(nn.Module):
    """Encoder + head. ``score(enc)`` gives raw scores (higher = better): the pointwise MLP's output,
    or for the comparator the expected win rate against the stored reference archs
    (``PairwiseComparator.win_rate``). Reference encodings are buffers ``ref_<key>`` so they are
    saved with the weights."""

    def __init__(self, space: str, encoder: str, loss: str, cfg: dict[str, Any]) -> None:
        super().__init__()
        self.space, self.encoder_kind, self.loss = space, encoder, loss
        self.encoder = build_encoder(space, encoder, cfg)
        emb = self.encoder.out_dim
        hidden, dropout = tuple(cfg["mlp_hidden"]), cfg["dropout"]
        if loss == "comparator":
            self.head: nn.Module = PairwiseComparator(emb, hidden, dropout, cfg["pairing"])
        else:
            self.head = PointwiseHead(emb, hidden, dropout)
        self._ref_keys: list[str] = []
        if loss == "comparator":
            # empty references, with the right dtypes, so that load_state_dict finds the buffers
            for k, v in encode(space, encoder, _empty_archs(space)).items():
                self.set_reference_buffer(k, v)

    def set_reference_buffer(self, key: str, value: torch.Tensor) -> None:
        if key not in self._ref_keys:
            self._ref_keys.append(key)
        self.register_buffer(f"ref_{key}", value)

    def set_references(self, enc: Encoded) -> None:
        device = next(self.parameters()).device
        for k, v in enc.items():
            self.set_reference_buffer(k, v.to(device))

    def references(self) -> Encoded:
        return {k: getattr(self, f"ref_{k}") for k in self._ref_keys}

    def embed(self, enc: Encoded) -> torch.Tensor:
        return self.encoder(enc)

    def score(self, enc: Encoded, ref_emb: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.embed(enc)
        if self.loss != "comparator":
            return self.head(emb)
        if ref_emb is None:
            ref_emb = self.embed(self.references())
        return self.head.win_rate(emb, ref_emb)

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        # the references' batch size is only known from the saved tensors
        for k in self._ref_keys:
            name = f"ref_{k}"
            if name in state_dict:
                self.register_buffer(name, torch.empty_like(state_dict[name], device=getattr(self, name).device))
        return super().load_state_dict(state_dict, strict=strict, assign=assign)


def _empty_archs(space: str) -> Any:
    import numpy as np

    if space == "nb101":
        return (np.zeros((0, 7, 7), np.int8), np.zeros((0, 7), np.int8))
    if space == "nb201":
        return np.zeros((0, 6), np.int64)
    return np.zeros((0, 2, 8, 2), np.int64)

"""Under ``torch.autocast`` the compiled ops run in float32 (``nasfast.ops.AUTOCAST_FLOAT32_OPS``):
half-precision inputs are cast up and the result equals the op on the cast-up inputs. Checked with
CPU autocast (bfloat16); CUDA autocast registers the same rule."""

from __future__ import annotations

import pytest
import torch
from test_gates_aggregate import random_inputs as aggregate_inputs
from test_gates_onnode_encode import random_inputs as encode_inputs

from nasfast.ops import AUTOCAST_FLOAT32_OPS
from nasfast.ops.avg_pool3x3 import avg_pool3x3
from nasfast.ops.gates_aggregate import gates_aggregate
from nasfast.ops.gates_onnode_encode import gates_onnode_encode
from nasfast.ops.gather_dropout import gather_dropout, gather_dropout_dot
from nasfast.ops.pairwise_ranking_loss import all_pairs_ranking_loss, pairwise_ranking_loss


def _cases():
    g = torch.Generator().manual_seed(0)
    S, G, E, R = aggregate_inputs(3, 5, 4, dtype=torch.float32, generator=g)
    x0, W, Gs, b, adj, op, valid = encode_inputs(4, 5, (6, 8, 3), dtype=torch.float32, generator=g)
    x, idx = torch.randn(6, 5, generator=g), torch.randint(0, 6, (9,), generator=g)
    w = torch.randn(5, generator=g)
    scores, targets = torch.randn(12, generator=g), torch.rand(12, generator=g)
    pairs = torch.randint(0, 12, (20, 2), generator=g)
    labels = torch.where(torch.rand(20, generator=g) < 0.5, 1.0, -1.0)
    img = torch.randn(2, 3, 5, 5, generator=g)
    half = torch.bfloat16
    # (name, function of the half-precision activations, those activations, the other inputs as they are)
    return {
        "gates_aggregate": (lambda s: gates_aggregate(s, G, E, R), S),
        "gates_onnode_encode": (lambda x: gates_onnode_encode(x, W, Gs, b, adj, op, valid), x0),
        "gather_dropout": (lambda t: gather_dropout(t, idx, 0.2, 7), x),
        "gather_dropout_dot": (lambda t: gather_dropout_dot(t, idx, w, 0.2, 7), x),
        "avg_pool3x3": (avg_pool3x3, img),
        "pairwise_ranking_loss": (lambda s: pairwise_ranking_loss(s, pairs, labels, "hinge"), scores),
        "all_pairs_ranking_loss": (lambda s: all_pairs_ranking_loss(s, targets, "logistic"), scores),
    }, half


@pytest.mark.parametrize("name", AUTOCAST_FLOAT32_OPS)
def test_half_precision_inputs_run_in_float32_under_autocast(name):
    cases, half = _cases()
    fn, value = cases[name]
    low = value.to(half).requires_grad_(True)
    with torch.autocast("cpu", dtype=half):
        out = fn(low)
    assert out.dtype == torch.float32
    up = low.detach().float().requires_grad_(True)
    want = fn(up)  # outside autocast: the op on the cast-up input
    assert torch.equal(out.detach(), want.detach())
    out.sum().backward()
    want.sum().backward()
    assert low.grad.dtype == half and torch.equal(low.grad, up.grad.to(half))


def test_every_floating_op_has_the_rule():
    assert set(AUTOCAST_FLOAT32_OPS) == set(_cases()[0])

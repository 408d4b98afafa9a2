"""Second derivatives through the ops whose backward is a compiled op without an autograd formula
raise a clear error: before, create_graph=True treated that backward's output as a constant and the
gradient penalty came out silently wrong (torch only warned once)."""

from __future__ import annotations

import pytest
import torch
from reference_gates_aggregate import gates_aggregate_dense
from reference_pairwise_ranking_loss import given_pairs_reference

from nasfast.ops.gates_aggregate import gates_aggregate
from nasfast.ops.gather_dropout import gather_dropout_dot
from nasfast.ops.pairwise_ranking_loss import all_pairs_ranking_loss, pairwise_ranking_loss


def _penalty(loss, x):
    (g,) = torch.autograd.grad(loss, x, create_graph=True)
    return loss + (g ** 2).sum()


def _gates(S, G):
    edge_op = torch.tensor([[[-1, -1, -1], [0, -1, -1], [1, 1, -1]]])
    return gates_aggregate(S, G, edge_op, torch.ones(3, dtype=torch.bool)).sum()


CASES = {
    "pairwise_ranking_loss": lambda s: pairwise_ranking_loss(s, torch.tensor([[0, 1], [1, 2]]),
                                                             torch.tensor([1.0, -1.0], dtype=torch.float64),
                                                             "logistic", 0.1),
    "all_pairs_ranking_loss": lambda s: all_pairs_ranking_loss(s, torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64),
                                                               "hinge", 0.1),
    "gather_dropout_dot": lambda x: gather_dropout_dot(x, torch.tensor([0, 2, 2]),
                                                       torch.ones(4, dtype=torch.float64), 0.3, 7).sum(),
}
INPUTS = {"pairwise_ranking_loss": (3,), "all_pairs_ranking_loss": (3,), "gather_dropout_dot": (3, 4)}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_second_derivative_raises_instead_of_coming_out_wrong(name):
    x = torch.randn(*INPUTS[name], dtype=torch.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match=f"nasfast::{name} has no second derivative"):
        _penalty(CASES[name](x), x).backward()
    (g,) = torch.autograd.grad(CASES[name](x), x)  # first derivatives are unaffected
    assert torch.isfinite(g).all()


def test_gates_aggregate_second_derivative_raises():
    S = torch.randn(1, 3, 2, dtype=torch.float64, requires_grad=True)
    G = torch.rand(2, 2, dtype=torch.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="nasfast::gates_aggregate has no second derivative"):
        _penalty(_gates(S, G), S).backward()


def test_the_reference_still_has_one():
    """The message's advice: plain PyTorch differentiates twice (what the op used to get wrong)."""
    pairs, labels = torch.tensor([[0, 1], [1, 2]]), torch.tensor([1.0, -1.0], dtype=torch.float64)
    s = torch.tensor([0.3, -0.2, 0.5], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda x: given_pairs_reference(x, pairs, labels, "logistic", 0.1), (s,))
    edge_op = torch.tensor([[[-1, -1, -1], [0, -1, -1], [1, 1, -1]]])
    G, residual = torch.rand(2, 2, dtype=torch.float64), torch.ones(3, dtype=torch.bool)
    S = torch.randn(1, 3, 2, dtype=torch.float64, requires_grad=True)
    # gates_aggregate is linear in S: its second derivative is zero, so check it through a square
    assert torch.autograd.gradgradcheck(lambda x: gates_aggregate_dense(x, G, edge_op, residual) ** 2, (S,))

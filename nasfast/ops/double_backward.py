"""A clear error for second derivatives through ops whose backward is itself a compiled op without
an autograd formula. Without one, ``create_graph=True`` (a gradient penalty, a Hessian-vector
product) would treat that backward's output as a constant, and torch only warns once: the second
derivative comes out silently wrong. Registering this makes it raise when it is asked for."""

from __future__ import annotations

import torch


def refuse_double_backward(backward_op: str, forward_op: str) -> None:
    """Give ``nasfast::<backward_op>`` an autograd formula that raises, naming ``forward_op``."""

    def setup_context(ctx, inputs, output):
        pass

    def backward(ctx, *grads):
        raise RuntimeError(f"nasfast::{forward_op} has no second derivative: differentiating through its "
                           "gradient (create_graph=True) is not implemented; compute that part with plain "
                           "PyTorch ops")

    torch.library.register_autograd(f"nasfast::{backward_op}", backward, setup_context=setup_context)

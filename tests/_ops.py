"""Custom ops shared by the tests of `tinygrad_nn.Function` (test_function) and of higher orders
(test_higher_order): softplus, ln(1 + eˣ), whose derivative is σ."""
from __future__ import annotations

import numpy as np

from tinygrad_nn import Function


def sigmoid(x):
    """σ(x) on numbers, without overflow for any x."""
    return 0.5 + 0.5 * np.tanh(0.5 * x)


class Softplus(Function):
    """Forward and a numpy backward only: first order."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.logaddexp(0.0, x)  # ln(1 + eˣ), no overflow

    @staticmethod
    def backward(ctx, grad_output):
        x, = ctx.saved_tensors
        return grad_output * sigmoid(x)  # softplus′ = σ


class DifferentiableSoftplus(Softplus):
    """Also its backward in Value ops (create_graph) and its tangent rule (forward mode)."""

    @staticmethod
    def backward_graph(ctx, grad_output, x):
        return grad_output * x.sigmoid()

    @staticmethod
    def jvp(ctx, t):
        x, = ctx.saved_tensors
        return t * sigmoid(x)

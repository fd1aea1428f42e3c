"""User-defined ops with their own derivative, in the style of `torch.autograd.Function`.

Subclass `Function` and write two static methods on numpy arrays and floats::

    class Softplus(Function):
        @staticmethod
        def forward(ctx, x):                 # ln(1 + eˣ), stable for any x
            ctx.save_for_backward(x)
            return np.logaddexp(0.0, x)

        @staticmethod
        def backward(ctx, grad_output):      # softplus′ = σ
            x, = ctx.saved_tensors
            return grad_output * (0.5 + 0.5 * np.tanh(0.5 * x))   # no overflow for any x

    y = Softplus.apply(v)                    # Values, numbers or arrays; Values are tracked

The node the op makes is named by the class (``y.op == "Softplus"``, also in drawings). `backward` returns
one gradient per input of `forward` (a tuple, or the bare gradient for a one-input op), None where no
gradient is needed (an input that does not require one); each is checked against its input's shape and
must be real (a complex result is refused, naming the op; a Value is taken as its data).

Higher orders and forward mode are opt-in, because a numpy backward cannot be differentiated again:

* ``backward_graph(ctx, grad_output, *inputs)`` — the same rule in Value ops (grad_output and inputs are
  Values), used by ``backward(create_graph=True)``; without it create_graph raises, naming the op (a numpy
  backward would silently drop the second derivative's dependence on the inputs);
* ``jvp(ctx, *tangents)`` — forward mode on numpy (a tangent is None for an input without one), used by
  `tinygrad_nn.functional.jvp`; without it forward mode raises, naming the op.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import engine
from .engine import Value, _accumulate, _lift, _node

__all__ = ["Function", "FunctionCtx"]


class FunctionCtx:
    """The `ctx` passed to a Function's forward, backward and jvp: keep what backward needs on it."""

    def __init__(self, needs_input_grad: tuple[bool, ...]) -> None:
        self.needs_input_grad = needs_input_grad  # one bool per input, as in PyTorch
        self.saved_tensors: tuple = ()

    def save_for_backward(self, *arrays: Any) -> None:
        """Keep arrays (or floats) for backward; read them back as ``ctx.saved_tensors``."""
        self.saved_tensors = arrays


class Function:
    """Base class of a custom op: define static ``forward(ctx, *inputs)`` and ``backward(ctx, grad_output)``;
    call it as ``MyOp.apply(*inputs)``. See the module docstring."""

    _rule: Any = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._rule = _make_rule(cls)  # one rule per class, so that `node.op` is the class's name

    @staticmethod
    def forward(ctx: FunctionCtx, *inputs: Any) -> Any:
        raise NotImplementedError("Function: define a static forward(ctx, *inputs)")

    @staticmethod
    def backward(ctx: FunctionCtx, grad_output: Any) -> Any:
        raise NotImplementedError("Function: define a static backward(ctx, grad_output)")

    @classmethod
    def apply(cls, *args: Any) -> Value:
        """Run the op on Values, numbers or arrays (raw ones are constants); returns the output Value."""
        name = cls.__name__
        if cls is Function:
            raise TypeError("Function.apply: subclass Function and call apply on the subclass")
        if not args:
            raise TypeError(f"{name}.apply: expected at least one input")
        inputs = tuple(_lift(a) for a in args)
        needing = [v for v in inputs if v.requires_grad]
        if engine.is_grad_enabled() and len(needing) > 3:
            raise ValueError(f"{name}.apply: at most 3 inputs may require a gradient, got {len(needing)}; "
                             f"pass the others as constants (arrays or Values with requires_grad=False)")
        ctx = FunctionCtx(tuple(v.requires_grad for v in inputs))
        data = cls.forward(ctx, *(v.data for v in inputs))
        try:
            data = engine._as_data(data)
        except TypeError as exc:
            raise TypeError(f"{name}.forward must return a float or an array of floats: {exc}") from None
        slots = list(inputs) if len(inputs) <= 3 else needing or [inputs[0]]  # the graph's edges (drawn)
        first, second, third = (slots + [None, None])[:3]
        return _node(data, cls._rule, first, second, third, ctx=(ctx, inputs))


def _make_rule(cls: type) -> Any:
    """The backward rule (with its graph and tangent twins) of one Function subclass. A closure over the
    class, never over a node: a node keeps its ctx and inputs in ``_ctx``, so there are no cycles."""
    name = cls.__name__

    def rule(out: Value, g: Any) -> None:
        ctx, inputs = out._ctx
        _accumulate_all(name, inputs, cls.backward(ctx, g), "backward")

    def graph(out: Value, g: Value) -> None:
        ctx, inputs = out._ctx
        if not hasattr(cls, "backward_graph"):
            raise RuntimeError(f"backward(create_graph=True): the custom op {name} has only a numpy backward, "
                               f"which cannot be differentiated again; define a static "
                               f"backward_graph(ctx, grad_output, *inputs) written in Value ops")
        grads = cls.backward_graph(ctx, g, *inputs)
        _accumulate_all(name, inputs, grads, "backward_graph", as_value=True)

    def tangent(out: Value, *input_tangents: Any) -> Any:
        ctx, inputs = out._ctx
        if not hasattr(cls, "jvp"):
            raise RuntimeError(f"forward mode: the custom op {name} has no tangent rule; define a static "
                               f"jvp(ctx, *tangents) on numpy arrays")
        by_node = dict(zip(out._prev, input_tangents))
        t = cls.jvp(ctx, *(by_node.get(v) for v in inputs))
        return _check_gradient(name, "jvp", "the output", out, t)

    rule.symbol, rule.graph, rule.tangent = name, graph, tangent
    return rule


def _accumulate_all(name: str, inputs: tuple, grads: Any, method: str, as_value: bool = False) -> None:
    """Check one gradient per input, then add each into its input's .grad."""
    if not isinstance(grads, (tuple, list)):
        grads = (grads,)
    if len(grads) != len(inputs):
        raise ValueError(f"{name}.{method} returned {len(grads)} gradient(s), expected {len(inputs)} "
                         f"(one per input of forward; None where none is needed)")
    for i, (v, g) in enumerate(zip(inputs, grads)):
        if g is None or not v.requires_grad:
            continue
        if as_value and not isinstance(g, Value):  # a constant would silently drop the second derivative
            raise TypeError(f"{name}.{method}: the gradient for input {i} must be a Value computed from "
                            f"grad_output and the inputs with Value ops, got {type(g).__name__}")
        _accumulate(v, _check_gradient(name, method, f"input {i}", v, g, as_value))


def _check_gradient(name: str, method: str, what: str, v: Value, g: Any, as_value: bool = False) -> Any:
    """A gradient must be real floats shaped like its Value (a float for a scalar). A Value stays one only for
    backward_graph (`as_value`); elsewhere its data is taken, exactly, so that .grad and tangents stay plain."""
    data = g.data if isinstance(g, Value) else g
    if isinstance(data, (bool, np.bool_, np.complexfloating)) or not (isinstance(data, (int, float, np.number)) or
                                                 isinstance(data, np.ndarray) and data.dtype.kind in "fiu"):
        raise TypeError(f"{name}.{method}: the gradient for {what} must be a float or an array of floats, got "
                        f"{type(data).__name__}{'' if not isinstance(data, np.ndarray) else ' of ' + str(data.dtype)}")
    if np.shape(data) != v.shape:
        raise ValueError(f"{name}.{method}: the gradient for {what} has shape {np.shape(data)}, expected "
                         f"{v.shape} (the shape of {what})")
    if as_value:
        return g
    return float(data) if type(v.data) is float else np.asarray(data, dtype=v.dtype)


"""Planted bugs (issue 19): each test plants a wrong rule with monkeypatch and asserts that a checker fails.

So the suite proves two things per op: its backward, create_graph and tangent rules pass the checkers
(float64 against central finite differences: `testing.check_op_gradient`, `testing.check_op_hessian_vector`,
`gradcheck`, `gradgradcheck`, and forward mode against differences of the output along a direction), and
the checkers can still fail — a rule scaled by 1.1, a create_graph rule that is a numpy rule in disguise
(right first order, no second order), a tangent that forgets an input. Every op feeds a square (o ⊙ o),
so the gradient reaching the planted rule depends on the inputs.
"""
from __future__ import annotations

import numpy as np
import pytest

from tinygrad_nn import Value, gradcheck, gradgradcheck, linear, testing
from tinygrad_nn import engine, nn
from tinygrad_nn.engine import _accumulate, forward_tangents

RNG = np.random.default_rng(1919)
A = RNG.uniform(0.5, 1.5, size=(2, 3))
B = RNG.uniform(0.5, 1.5, size=(2, 3))
SIGNED = A * np.array([[1, -1, 1], [-1, 1, -1]])
W = RNG.normal(size=(3, 3))
Y = B / B.sum(axis=1, keepdims=True)  # target rows summing to 1

# op: (its backward rule, f(*inputs) → Value that goes through the op, inputs)
CASES = {
    "add": (Value._add_rule, lambda a, b: a + b, (A, B)),
    "sub": (Value._sub_rule, lambda a, b: a - b, (A, B)),
    "mul": (Value._mul_rule, lambda a, b: a * b, (A, B)),
    "div": (Value._div_rule, lambda a, b: a / b, (A, B)),
    "neg": (Value._neg_rule, lambda a: -a, (A,)),
    "pow": (Value._pow_rule, lambda a, b: a ** b, (A, B)),
    "matmul": (Value._matmul_rule, lambda a, w: a @ w, (A, W)),
    "exp": (Value._exp_rule, Value.exp, (A,)),
    "log": (Value._log_rule, Value.log, (A,)),
    "tanh": (Value._tanh_rule, Value.tanh, (SIGNED,)),
    "sigmoid": (Value._sigmoid_rule, Value.sigmoid, (SIGNED,)),
    "relu": (Value._relu_rule, lambda a: a.relu() * a, (SIGNED,)),
    "sum": (Value._sum_rule, lambda a: a.sum(axis=0), (A,)),
    "max": (Value._max_rule, lambda a: a.max(axis=1) * a.sum(), (A,)),
    "reshape": (Value._reshape_rule, lambda a: a.reshape(3, 2), (A,)),
    "transpose": (Value._transpose_rule, Value.transpose, (A,)),
    "getitem": (Value._getitem_rule, lambda a: a[[0, 1, 1]], (A,)),
    "log_softmax": (Value._log_softmax_rule, Value.log_softmax, (SIGNED,)),
    "softmax": (Value._softmax_rule, Value.softmax, (SIGNED,)),
    "linear": (engine._linear_rule, lambda a, w, b: linear(a, w, b[0]), (A, W, B)),
    "quadratic cost": (nn._quadratic_rule, lambda a, y: nn.quadratic_cost(a.tanh(), y), (SIGNED, B)),
    "cross-entropy from z": (nn._output_delta_rule, lambda z, y: nn.cross_entropy_cost(z.sigmoid(), y), (SIGNED, B)),
    "cross-entropy from a": (nn._cross_entropy_rule, lambda z, y: nn.cross_entropy_cost(z.sigmoid() * 0.9 + 0.05, y),
                             (SIGNED, B)),
    "log-likelihood from z": (nn._output_delta_rule, lambda z, y: nn.log_likelihood_cost(z.softmax(), y),
                              (SIGNED, Y)),
    "log-likelihood from a": (nn._log_likelihood_rule,
                              lambda z, y: nn.log_likelihood_cost(z.softmax() * 0.9 + 0.025, y), (SIGNED, Y)),
}
CASES.update({f"{op} (scalar)": (rule, f, (0.7, 1.3)[:len(inputs)]) for op, (rule, f, inputs) in list(CASES.items())
              if op in ("mul", "div", "pow", "exp", "log", "tanh", "sigmoid")})  # the Python-float branches
CASES["relu (scalar)"] = (Value._relu_rule, lambda a: a.relu() * a, (0.7,))
# ops with a second input, for a tangent rule that forgets it
SECOND_INPUT = [name for name, (_, _, inputs) in CASES.items() if len(inputs) >= 2]


def _squared(f):
    def g(*xs):
        o = f(*xs)
        return o * o
    return g


def check_tangents(f, *inputs, eps: float = 1e-6, rtol: float = 1e-6, atol: float = 1e-7) -> None:
    """Forward mode (each op's tangent rule) against central differences of f along a random direction."""
    leaves = [Value(x) for x in inputs]
    directions = [RNG.normal(size=np.shape(x)) for x in inputs]
    tangent = forward_tangents(f(*leaves), dict(zip(leaves, directions)))
    up = f(*(Value(x + eps * d, requires_grad=False) for x, d in zip(inputs, directions))).data
    down = f(*(Value(x - eps * d, requires_grad=False) for x, d in zip(inputs, directions))).data
    np.testing.assert_allclose(tangent, (np.asarray(up) - np.asarray(down)) / (2 * eps), rtol=rtol, atol=atol)


@pytest.mark.parametrize("op", CASES)
def test_every_rule_passes_the_checkers(op):
    _, f, inputs = CASES[op]
    testing.check_op_gradient(_squared(f), *inputs)
    testing.check_op_hessian_vector(_squared(f), *inputs)
    assert gradcheck(_squared(f), *map(Value, inputs)) and gradgradcheck(_squared(f), *map(Value, inputs))
    check_tangents(_squared(f), *inputs)


# ---- the planted bugs -----------------------------------------------------------------------------------------
def _scaled_rule(rule):
    return lambda out, g: rule(out, g * 1.1)


def _constant_graph(rule):
    """A create_graph rule that runs the numpy rule and stores its gradients as constants."""
    def graph(out, g):
        saved = [(p, p.grad) for p in out._prev]
        for p, _ in saved:
            p.grad = None
        rule(out, g.data)
        for p, old in saved:
            new, p.grad = p.grad, old
            if new is not None:
                _accumulate(p, Value(new, requires_grad=False))
    return graph


@pytest.mark.parametrize("op", CASES)
def test_first_order_checkers_catch_a_wrong_backward(monkeypatch, op):
    rule, f, inputs = CASES[op]
    wrong = _scaled_rule(rule)
    wrong.symbol, wrong.graph, wrong.tangent = rule.symbol, rule.graph, rule.tangent
    name = rule.__name__  # ops find their rule by this name: on Value (a static method) or in their module
    if isinstance(Value.__dict__.get(name), staticmethod):
        monkeypatch.setattr(Value, name, staticmethod(wrong))
    else:
        monkeypatch.setattr(engine if hasattr(engine, name) else nn, name, wrong)
    with pytest.raises(AssertionError, match="check_op_gradient"):
        testing.check_op_gradient(_squared(f), *inputs)
    with pytest.raises(AssertionError, match="gradcheck"):
        gradcheck(_squared(f), *map(Value, inputs))


@pytest.mark.parametrize("kind", ["scaled", "constant"])
@pytest.mark.parametrize("op", CASES)
def test_second_order_checkers_catch_a_wrong_create_graph_rule(monkeypatch, op, kind):
    rule, f, inputs = CASES[op]
    monkeypatch.setattr(rule, "graph", _scaled_rule(rule.graph) if kind == "scaled" else _constant_graph(rule))
    with pytest.raises(AssertionError, match="check_op_hessian_vector"):
        testing.check_op_hessian_vector(_squared(f), *inputs)
    with pytest.raises(AssertionError, match="gradgradcheck"):
        gradgradcheck(_squared(f), *map(Value, inputs))


@pytest.mark.parametrize("op", CASES)
def test_the_forward_mode_check_catches_a_scaled_tangent(monkeypatch, op):
    rule, f, inputs = CASES[op]
    right = rule.tangent
    monkeypatch.setattr(rule, "tangent", lambda out, *t: 1.1 * right(out, *t))
    with pytest.raises(AssertionError):
        check_tangents(_squared(f), *inputs)


@pytest.mark.parametrize("op", SECOND_INPUT)
def test_the_forward_mode_check_catches_a_tangent_that_forgets_an_input(monkeypatch, op):
    rule, f, inputs = CASES[op]
    right = rule.tangent
    monkeypatch.setattr(rule, "tangent", lambda out, ta, *rest: right(out, ta, *(None for _ in rest)))
    with pytest.raises(AssertionError):
        check_tangents(_squared(f), *inputs)


@pytest.mark.parametrize("op", ["add", "sub", "neg", "sum", "max", "relu", "reshape", "transpose", "getitem"])
def test_second_order_checkers_check_the_first_order_of_create_graph(monkeypatch, op):
    """Alone, these ops are piecewise linear: H = 0, so H·v cannot see a scaled create_graph rule; the checkers
    also compare the gradients create_graph writes with the plain ones."""
    rule, f, inputs = CASES[op]
    f = {"max": lambda a: a.max(axis=1), "relu": Value.relu}.get(op, f)
    testing.check_op_hessian_vector(f, *inputs)
    monkeypatch.setattr(rule, "graph", _scaled_rule(rule.graph))
    with pytest.raises(AssertionError, match="by create_graph"):
        testing.check_op_hessian_vector(f, *inputs)
    with pytest.raises(AssertionError, match="by create_graph"):
        gradgradcheck(f, *map(Value, inputs))


# ---- the checkers' own checks ---------------------------------------------------------------------------------
def test_the_checkers_fail_on_a_nan_gradient(monkeypatch):
    """A NaN compares false with every tolerance: it must fail, not pass, in every checker."""
    right = Value._exp_rule
    nan_rule = lambda out, g: right(out, g * np.nan)  # noqa: E731
    nan_rule.symbol, nan_rule.graph, nan_rule.tangent = right.symbol, lambda out, g: right.graph(out, g * np.nan), right.tangent
    monkeypatch.setattr(Value, "_exp_rule", staticmethod(nan_rule))
    with pytest.raises(AssertionError, match="check_op_gradient"):
        testing.check_op_gradient(Value.exp, A)
    with pytest.raises(AssertionError, match="check_op_hessian_vector"):
        testing.check_op_hessian_vector(Value.exp, A)
    with pytest.raises(AssertionError, match="gradcheck"):
        gradcheck(Value.exp, Value(A))


def test_check_op_hessian_vector_requires_value_gradients_from_create_graph(monkeypatch):
    right = Value._exp_rule
    monkeypatch.setattr(right, "graph", lambda out, g: right(out, g.data))  # writes plain arrays
    with pytest.raises(AssertionError, match="must write a Value gradient"):
        testing.check_op_hessian_vector(Value.exp, A)


@pytest.mark.parametrize("x", [0.7, A])
def test_check_op_gradient_requires_the_inputs_type_and_dtype(monkeypatch, x):
    right = engine._accumulate

    def wrong(v, g):  # an engine that hands out 0-d arrays for floats and float32 for float64
        right(v, g)
        v.grad = np.asarray(v.grad, dtype=np.float32)

    monkeypatch.setattr(engine, "_accumulate", wrong)
    with pytest.raises(AssertionError, match="must get a float gradient" if isinstance(x, float) else "float64 array"):
        testing.check_op_gradient(Value.exp, x)

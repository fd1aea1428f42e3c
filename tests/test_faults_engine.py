"""Issue 19, classes 1–7: the engine's silent faults, each pinned by a test that failed before the fix.

1. functional.vjp/hvp/hessian leave every .grad but x's as it was; 2. `**` at base 0 has the exact derivative
0 where the formulas give 0·∞; 3. costs give a target Value that requires a gradient its gradient;
4. grad mode is per thread; 5. scalar relu propagates NaN; 6. float32 stays float32 under create_graph and
forward mode; 7. a Function's complex or Value results are refused or converted exactly.
References are finite differences (float64, central, eps 1e-6) or closed forms stated in each test.
"""
from __future__ import annotations

import gc
import math
import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_nn import Function, Value, functional, gradcheck, gradgradcheck, no_grad
from tinygrad_nn.engine import forward_tangents, is_grad_enabled
from tinygrad_nn.nn import cross_entropy_cost, log_likelihood_cost, quadratic_cost
from tinygrad_nn.optim import SGD

TIMEOUT = 60.0  # seconds a thread may wait for the other: generous on a loaded machine, never reached


# ---- 1. functional differentiates only with respect to x ------------------------------------------------
def _closure():
    """A scalar f(x) that closes over a parameter W and over an intermediate node h built from W."""
    W = Value(np.array([1.0, -2.0, 0.5]), name="W")
    h = (W * 2.0).tanh()
    return W, h, (lambda x: ((x * W).sum() ** 2.0 + (x * h).sum()))


CALLS = {
    "vjp": lambda f, x: functional.vjp(f, x),
    "hvp": lambda f, x: functional.hvp(f, x, np.ones_like(x)),
    "hessian": lambda f, x: functional.hessian(f, x),
    "jvp": lambda f, x: functional.jvp(f, x, np.ones_like(x)),
}


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("before", ["none", "array"])
def test_functional_leaves_the_grad_of_closed_over_nodes_as_it_was(call, before):
    W, h, f = _closure()
    if before == "array":
        (W * h).sum().backward()  # the user's gradients, waiting for an optimizer step
    w_grad, h_grad = W.grad, h.grad
    w_copy = None if w_grad is None else w_grad.copy()
    CALLS[call](f, np.array([0.3, 0.1, -0.7]))
    assert W.grad is w_grad and h.grad is h_grad
    if w_copy is not None:
        np.testing.assert_array_equal(W.grad, w_copy)


def test_functional_results_are_unchanged_by_the_fix():
    """H of f(x) = (x·W)² + x·h is 2 W Wᵀ; the gradient is 2 (x·W) W + h."""
    W, h, f = _closure()
    x = np.array([0.3, 0.1, -0.7])
    w = W.data
    np.testing.assert_allclose(functional.hessian(f, x), 2 * np.outer(w, w), rtol=1e-12)
    np.testing.assert_allclose(functional.vjp(f, x)[1], 2 * (x @ w) * w + h.data, rtol=1e-12)
    np.testing.assert_allclose(functional.hvp(f, x, np.ones(3))[1], 2 * w * w.sum(), rtol=1e-12)


def _train_step(hvp_between: bool) -> np.ndarray:
    W = Value(np.array([[0.5, -1.0], [2.0, 0.3]]), name="W")
    x = np.array([0.2, -0.4])
    loss = ((W @ x).sigmoid() - 1.0).sum() ** 2.0
    opt = SGD([W], lr=0.5)
    loss.backward()
    if hvp_between:  # a curvature diagnostic in the middle of a step
        functional.hvp(lambda v: ((W @ v).sigmoid() - 1.0).sum() ** 2.0, x, np.ones(2))
        functional.hessian(lambda v: ((W @ v).tanh()).sum() ** 2.0, x)
    opt.step()
    return W.data


def test_an_hvp_between_backward_and_step_does_not_change_the_step():
    np.testing.assert_array_equal(_train_step(hvp_between=True), _train_step(hvp_between=False))


def _live_values() -> int:
    gc.collect()
    return sum(type(o) is Value for o in gc.get_objects())


def test_repeated_hvp_grows_nothing():
    W, h, f = _closure()
    (W * h).sum().backward()
    grad = W.grad
    x, v = np.array([0.3, 0.1, -0.7]), np.ones(3)
    for _ in range(5):
        functional.hvp(f, x, v)
    live = _live_values()
    for _ in range(200):
        functional.hvp(f, x, v)
    assert _live_values() <= live  # before the fix W.grad was a create_graph gradient, 13 nodes longer per call
    assert W.grad is grad and type(W.grad) is np.ndarray


# ---- 2. ** at base 0 ---------------------------------------------------------------------------------
def _grad(f, x):
    v = Value(x)
    f(v).sum().backward()
    return v.grad


@pytest.mark.parametrize("shape", [(), (3,)])
def test_pow_at_base_zero_has_the_exact_zero_derivatives(shape):
    zeros = 0.0 if shape == () else np.zeros(shape)
    # d(x⁰)/dx = 0: x⁰ is the constant 1 — first order, forward mode, second order
    assert np.all(_grad(lambda x: x ** 0.0, zeros) == 0)
    assert np.all(functional.jvp(lambda x: x ** 0.0, zeros, zeros + 1.0)[1] == 0)
    assert np.all(functional.hessian(lambda x: (x ** 0.0).sum(), zeros) == 0)
    # Σx¹: gradient 1, Hessian 0 (its gradient is 1·x⁰)
    assert np.all(_grad(lambda x: x ** 1.0, zeros) == 1)
    assert np.all(functional.hessian(lambda x: (x ** 1.0).sum(), zeros) == 0)
    # d(0ᵖ)/dp = 0 for p > 0: 0ᵖ is the constant 0 there — first order, forward mode, second order
    p = 1.5 if shape == () else np.array([0.5, 1.0, 2.0])
    assert np.all(_grad(lambda q: zeros ** q, p) == 0)
    assert np.all(functional.jvp(lambda q: (0.0 ** q).sum(), p, p * 0 + 1.0)[1] == 0)
    assert np.all(functional.hessian(lambda q: (0.0 ** q).sum(), p) == 0)


def test_pow_elsewhere_is_unchanged():
    """As in mathematics and in torch: x^p for 0 < p < 1 has an infinite slope at 0, xᵖ for p ≥ 2 a zero slope;
    d(aᵖ)/dp needs a > 0 (NaN for a < 0, and at a = p = 0, where 0ᵖ jumps from 1 to 0: torch says 0 there)."""
    assert _grad(lambda x: x ** 0.5, 0.0) == math.inf
    assert _grad(lambda x: x ** 3.0, 0.0) == 0.0
    assert functional.hessian(lambda x: x ** 2.0, 0.0) == 2.0
    assert math.isnan(_grad(lambda q: Value(0.0, requires_grad=False) ** q, 0.0))
    assert math.isnan(_grad(lambda q: Value(-2.0, requires_grad=False) ** q, 2.0))
    assert _grad(lambda x: x ** 0.0, 2.0) == 0.0
    a, p = Value(np.array([0.5, 1.5, 2.0])), Value(np.array([0.0, 1.0, 2.5]))
    assert gradcheck(lambda a, p: a ** p, a, p) and gradgradcheck(lambda a, p: a ** p, a, p)


# ---- 3. costs with a target that requires a gradient ----------------------------------------------------
RNG = np.random.default_rng(19)
Z = RNG.normal(size=(3, 4))
Y = RNG.uniform(0.1, 0.9, size=(3, 4))
Y /= Y.sum(axis=1, keepdims=True)  # rows summing to 1 (log-likelihood's δᴸ = aᴸ − y assumes it)
COSTS = {
    "quadratic": lambda z, y: quadratic_cost(z.tanh(), y),
    "cross-entropy from z": lambda z, y: cross_entropy_cost(z.sigmoid(), y),
    "cross-entropy from a": lambda z, y: cross_entropy_cost(z.sigmoid() * 0.9 + 0.05, y),
    "log-likelihood from z": lambda z, y: log_likelihood_cost(z.softmax(), y),
    "log-likelihood from a": lambda z, y: log_likelihood_cost(z.softmax() * 0.9 + 0.025, y),
}


@pytest.mark.parametrize("cost", COSTS)
def test_a_target_that_requires_a_gradient_gets_it(cost):
    f = COSTS[cost]
    assert gradcheck(f, Value(Z), Value(Y))             # both, against finite differences
    assert gradgradcheck(f, Value(Z), Value(Y))         # create_graph, against differences of the gradient
    y = Value(Y)
    f(Value(Z, requires_grad=False), y).backward()      # the target alone
    assert gradcheck(lambda y: f(Value(Z, requires_grad=False), y), Value(Y))
    eps, t = 1e-6, RNG.normal(size=Y.shape)
    numeric = (f(Value(Z), Value(Y + eps * t)).data - f(Value(Z), Value(Y - eps * t)).data) / (2 * eps)
    np.testing.assert_allclose(functional.jvp(lambda y: f(Value(Z), y), Y, t)[1], numeric, rtol=1e-6)


def test_log_likelihood_from_z_is_exact_for_targets_that_do_not_sum_to_one():
    """δᴸ = aᴸ Σy − y: the shortcut aᴸ − y held only for targets summing to 1 (a learned y leaves that set)."""
    y = Y * np.array([[0.5], [1.0], [2.0]])
    assert gradcheck(lambda z: log_likelihood_cost(z.softmax(), y), Value(Z))
    assert gradcheck(COSTS["log-likelihood from z"], Value(Z), Value(y))
    assert gradgradcheck(COSTS["log-likelihood from z"], Value(Z), Value(y))


@pytest.mark.parametrize("cost", COSTS)
def test_a_constant_target_is_still_a_constant(cost):
    out = COSTS[cost](Value(Z), Value(Y, requires_grad=False))
    assert out._b is None and len(out._prev) == 1


# ---- 4. grad mode belongs to the thread ------------------------------------------------------------------
def test_no_grad_in_one_thread_leaves_another_threads_graphs_alone():
    inside, done = threading.Event(), threading.Event()
    seen = {}

    def other():
        with no_grad():
            seen["other inside"] = is_grad_enabled()
            inside.set()
            seen["released"] = done.wait(TIMEOUT)
            seen["other made a constant"] = not (Value(1.0) * 2.0).requires_grad

    thread = threading.Thread(target=other)
    thread.start()
    try:
        assert inside.wait(TIMEOUT)
        assert is_grad_enabled()  # this thread is not inside the other's no_grad()
        x = Value(3.0)
        y = x * x
        y.backward()
        assert y.requires_grad and x.grad == 6.0
    finally:
        done.set()
        thread.join(TIMEOUT)
    assert seen == {"other inside": False, "released": True, "other made a constant": True}


def test_a_new_thread_starts_with_grad_enabled():
    seen = []
    with no_grad():
        thread = threading.Thread(target=lambda: seen.append(is_grad_enabled()))
        thread.start()
        thread.join(TIMEOUT)
    assert seen == [True]


# ---- 5. scalar relu propagates NaN ------------------------------------------------------------------------
@pytest.mark.parametrize("x", [math.nan, -1.0, 0.0, 2.5, math.inf, -math.inf])
def test_scalar_relu_agrees_with_the_array_relu(x):
    scalar, array = Value(x).relu().data, Value(np.array([x])).relu().data[0]
    assert type(scalar) is float
    np.testing.assert_array_equal(scalar, array)  # NaN equals NaN here


# ---- 6. dtype: float32 stays float32 under create_graph and in forward mode -------------------------------
OPS = {
    "max": lambda x: x.max(), "max axis": lambda x: x.max(axis=0), "sum": lambda x: x.sum(axis=-1),
    "mean": lambda x: x.mean(), "sigmoid": Value.sigmoid, "tanh": Value.tanh, "exp": Value.exp,
    "log": lambda x: (x * x + 1.0).log(), "relu": Value.relu, "square": lambda x: x ** 2.0,
    "pow at 0": lambda x: (x * 0.0) ** 0.0 + x ** 1.0, "pow base": lambda x: 2.0 ** x, "div": lambda x: x / (x * x + 1.0),
    "softmax": Value.softmax, "log_softmax": Value.log_softmax, "matmul": lambda x: x @ x.T,
    "reshape": lambda x: x.reshape(-1), "transpose": lambda x: x.T, "index": lambda x: x[0],
    "neg sub": lambda x: 1.0 - (-x), "quadratic": lambda x: quadratic_cost(x.sigmoid(), np.zeros(x.shape)),
    "cross-entropy": lambda x: cross_entropy_cost(x.sigmoid(), np.zeros(x.shape)),
    "log-likelihood": lambda x: log_likelihood_cost(x.softmax(), np.eye(*x.shape)),
}


@given(op=st.sampled_from(sorted(OPS)), x=st.lists(st.floats(-2, 2, width=32), min_size=6, max_size=6))
def test_float32_gradients_stay_float32_in_every_mode(op, x):
    f = OPS[op]
    data = np.array(x, dtype=np.float32).reshape(2, 3)
    v = Value(data)
    f(v).sum().backward(create_graph=True)
    assert v.grad.dtype == np.float32, f"create_graph: {op}"
    w = Value(data)
    f(w).sum().backward()
    assert w.grad.dtype == np.float32, f"backward: {op}"
    out, tangent = functional.jvp(lambda u: f(u), data, np.ones_like(data))
    assert np.asarray(tangent).dtype == np.asarray(out).dtype, f"forward mode: {op}"  # float32 but for costs


# ---- 7. a Function's results --------------------------------------------------------------------------------
class Double(Function):
    """2x, with results of a kind chosen by the test (RESULT)."""
    result = staticmethod(lambda g: 2 * g)

    @staticmethod
    def forward(ctx, x):
        return 2 * x

    @staticmethod
    def backward(ctx, grad_output):
        return Double.result(grad_output)

    @staticmethod
    def jvp(ctx, t):
        return Double.result(t)


@pytest.fixture
def double_returns(monkeypatch):
    return lambda result: monkeypatch.setattr(Double, "result", staticmethod(result))


@pytest.mark.parametrize("x", [1.5, np.array([1.0, 2.0])])
def test_complex_results_are_refused_naming_the_op(double_returns, x):
    double_returns(lambda g: np.complex128(1 + 1j) * np.sum(g) if np.ndim(g) == 0 else (2 * g).astype(complex))
    with pytest.raises(TypeError, match=r"Double\.backward: .*complex"):
        Double.apply(Value(x)).sum().backward()
    with pytest.raises(TypeError, match=r"Double\.jvp: .*complex"):
        functional.jvp(lambda v: Double.apply(v), x, np.ones_like(x))


@pytest.mark.parametrize("x", [1.5, np.array([1.0, 2.0])])
def test_value_results_are_converted_exactly(double_returns, x):
    double_returns(lambda g: Value(2 * g))
    v = Value(x)
    Double.apply(v).sum().backward()
    assert type(v.grad) is type(v.data) and np.all(v.grad == 2.0)  # plain data in .grad, not a Value
    out, tangent = functional.jvp(lambda u: Double.apply(u), x, np.ones_like(x))
    assert not isinstance(tangent, Value) and np.all(tangent == 2.0)


@pytest.mark.parametrize("call", ["hvp", "hessian"])
def test_second_order_functional_forgets_the_gradients_it_made(call):
    """create_graph gradients refer back to their nodes (cycles): hvp and hessian clear them before returning."""
    kept = []

    def f(x):
        kept.append(x.tanh())
        return (kept[-1] ** 3.0).sum()

    CALLS[call](f, np.array([0.3, -0.2]))
    assert kept and all(node.grad is None for node in kept)


# ---- Function's checks: each refusal and conversion, so that a check taken out turns a test red ------------------
@pytest.mark.parametrize("bad", [True, np.bool_(False), np.array([True, False])])
def test_boolean_results_are_refused(double_returns, bad):
    double_returns(lambda g: bad)
    with pytest.raises(TypeError, match=r"Double\.backward: .*must be a float"):
        Double.apply(Value(np.ones(2) if np.ndim(bad) else 1.0)).sum().backward()


def test_results_are_converted_to_the_inputs_type_and_dtype(double_returns):
    double_returns(lambda g: np.float64(2.0) * np.sum(g) if np.ndim(g) == 0 else (2.0 * g).astype(np.float64))
    s = Value(1.5)
    Double.apply(s).backward()
    assert type(s.grad) is float and s.grad == 2.0
    x = Value(np.ones(2, dtype=np.float32))
    Double.apply(x).sum().backward()
    assert x.grad.dtype == np.float32


class Affine(Function):
    """a·x + b on three inputs, with a tangent rule: da x + a dx + db."""

    @staticmethod
    def forward(ctx, a, x, b):
        ctx.save_for_backward(a, x)
        return a * x + b

    @staticmethod
    def backward(ctx, g):
        a, x = ctx.saved_tensors
        return g * x, g * a, g

    @staticmethod
    def jvp(ctx, ta, tx, tb):
        a, x = ctx.saved_tensors
        return sum(t for t in (None if ta is None else ta * x, None if tx is None else a * tx, tb) if t is not None)


def test_a_custom_ops_tangents_reach_the_right_inputs():
    a, x, b = Value(2.0), Value(3.0), Value(5.0)
    out = Affine.apply(a, x, b)
    assert forward_tangents(out, {a: 1.0}) == 3.0 and forward_tangents(out, {x: 1.0}) == 2.0
    assert forward_tangents(out, {b: 1.0}) == 1.0 and forward_tangents(out, {a: 1.0, x: 10.0}) == 23.0


def test_a_constant_input_of_a_custom_op_gets_no_gradient():
    a, x, b = Value(2.0, requires_grad=False), Value(3.0), Value(5.0, requires_grad=False)
    Affine.apply(a, x, b).backward()
    assert (a.grad, x.grad, b.grad) == (None, 2.0, None)


def test_more_than_three_inputs_that_need_a_gradient_are_refused():
    class Sum4(Function):
        @staticmethod
        def forward(ctx, *xs):
            return sum(xs)

        @staticmethod
        def backward(ctx, g):
            return (g,) * 4

    with pytest.raises(ValueError, match="Sum4.apply: at most 3 inputs may require a gradient, got 4"):
        Sum4.apply(*(Value(float(i)) for i in range(4)))
    x = Value(1.0)
    Sum4.apply(x, 1.0, 2.0, Value(3.0, requires_grad=False)).backward()  # constants do not count
    assert x.grad == 1.0

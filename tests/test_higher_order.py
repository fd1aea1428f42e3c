"""backward(create_graph=True) and forward mode on random graphs of every op, against finite differences.

A graph is a random sequence of shape-preserving steps over a (3, 4) activation h, built from the leaves
A (3, 4), B (4,), W (4, 4) and a scalar c; every engine op, `linear`, the three costs (both of their
paths), softmax / log_softmax, max, indexing, pow with a Value exponent and a custom `Function` appear.
References are central finite differences (float64, eps = 1e-5) of the plain first-order gradient (for
Hessian-vector products, by `testing.check_op_hessian_vector`: |autodiff − numeric| ≤ 1e-6 + 1e-5·|numeric|)
and of the function itself (for Jacobian-vector products: ≤ 1e-6·(1 + max|numeric|) + 1e-5·|numeric|); the
finite-difference error is O(eps²·f‴) + O(1e-16/eps) ≈ 1e-9 for these smooth graphs.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from _ops import DifferentiableSoftplus
from hypothesis import example, given
from hypothesis import strategies as st

from tinygrad_nn import (
    Value,
    enable_grad,
    functional,
    linear,
    nn,
    no_grad,
    testing,
)
from tinygrad_nn.engine import forward_tangents

EPS = 1e-5


STEPS = {  # each maps (h, leaves) → a new (3, 4) activation (products squashed by tanh: values stay O(1))
    "add": lambda h, L: h + L["B"],
    "sub": lambda h, L: L["B"] - h,
    "mul": lambda h, L: h * L["A"],
    "div": lambda h, L: h / (1.5 + L["A"] * L["A"]),
    "neg": lambda h, L: -h,
    "pow": lambda h, L: (h.tanh() ** 2.0 + 0.5) ** 1.5,
    "pow_value": lambda h, L: (h.sigmoid() + 0.5) ** L["c"],
    "rpow": lambda h, L: 2.0 ** (h * 0.5),
    "matmul": lambda h, L: h @ L["W"],
    "matvec": lambda h, L: h * (h @ L["B"]).tanh().reshape(3, 1),
    "vecmat": lambda h, L: h + L["B"] @ L["W"],
    "rmatmul": lambda h, L: np.eye(3) @ h,
    "exp": lambda h, L: (h * 0.5).exp(),
    "log": lambda h, L: (h * h + 1.0).log(),
    "tanh": lambda h, L: h.tanh(),
    "sigmoid": lambda h, L: h.sigmoid(),
    "relu": lambda h, L: h.relu() + h * 0.1,
    "sum": lambda h, L: h + h.sum(axis=0) * 0.3,
    "sum_keep": lambda h, L: h * h.sum(axis=1, keepdims=True).tanh(),
    "sum_all": lambda h, L: h * h.sum().tanh(),
    "mean": lambda h, L: h * h.mean().tanh(),
    "max": lambda h, L: h + h.max(axis=1, keepdims=True),
    "max_all": lambda h, L: h * h.max().tanh(),
    "max_axis0": lambda h, L: h - h.max(axis=0),
    "reshape_T": lambda h, L: h.reshape(4, 3).T,
    "index": lambda h, L: h[[2, 0, 0]].tanh() * h,
    "slice": lambda h, L: h[:, ::-1].tanh() * h,
    "log_softmax": lambda h, L: h.log_softmax(axis=1),
    "softmax": lambda h, L: h.softmax(axis=0),
    "linear": lambda h, L: linear(h, L["W"], L["B"]),
    "linear_vec": lambda h, L: h + linear(L["B"], L["W"]),
    "custom": lambda h, L: DifferentiableSoftplus.apply(h) * L["A"],
    "scalar": lambda h, L: h * (L["c"] * L["c"]).tanh(),
}
TARGETS = np.array([1, 0, 3])
COSTS = {
    "squares": lambda h: (h * h).sum() * 0.5,
    "quadratic": lambda h: nn.quadratic_cost(h.sigmoid(), TARGETS),
    "cross_entropy_from_z": lambda h: nn.cross_entropy_cost(h.sigmoid(), TARGETS),
    "cross_entropy_from_a": lambda h: nn.cross_entropy_cost(h.sigmoid() * 0.5 + 0.25, TARGETS),
    "log_likelihood_from_z": lambda h: nn.log_likelihood_cost(h.softmax(), TARGETS),
    "log_likelihood_from_a": lambda h: nn.log_likelihood_cost(h.softmax() * 0.5 + 0.1, TARGETS),
}


def leaves(seed: int) -> dict[str, Value]:
    rng = np.random.default_rng(seed)
    return {"A": Value(rng.standard_normal((3, 4)) * 0.7, name="A"), "B": Value(rng.standard_normal(4) * 0.7, name="B"),
            "W": Value(rng.standard_normal((4, 4)) * 0.5, name="W"), "c": Value(float(rng.uniform(0.5, 1.5)), name="c")}


def build(L: dict[str, Value], steps: list[str], cost: str) -> Value:
    h = L["A"]
    for name in steps:
        h = STEPS[name](h, L)
    return COSTS[cost](h)


def plain_gradients(L: dict[str, Value], steps: list[str], cost: str) -> dict[str, np.ndarray]:
    for v in L.values():
        v.grad = None
    build(L, steps, cost).backward()
    return {k: np.asarray(v.grad, dtype=float) if v.grad is not None else np.zeros(v.shape) for k, v in L.items()}


def shifted(L: dict[str, Value], direction: dict[str, np.ndarray], t: float) -> dict[str, Value]:
    return {k: Value(v.data + t * direction[k], name=k) for k, v in L.items()}


def assert_close(autodiff: np.ndarray, numeric: np.ndarray, what: str) -> None:
    np.testing.assert_allclose(autodiff, numeric, rtol=1e-5, atol=1e-6 * (1 + np.max(np.abs(numeric))), err_msg=what)


graphs = st.tuples(st.integers(0, 2**32 - 1), st.lists(st.sampled_from(sorted(STEPS)), min_size=1, max_size=5),
                   st.sampled_from(sorted(COSTS)))


@given(graphs)
def test_hessian_vector_products_by_double_backward_match_finite_differences(graph):
    """testing.check_op_hessian_vector over the leaves the graph uses (it refuses an unused input)."""
    seed, steps, cost = graph
    L = leaves(seed)
    plain_gradients(L, steps, cost)
    used = [k for k, x in L.items() if x.grad is not None]

    def f(*xs: Value) -> Value:
        return build({**L, **dict(zip(used, xs))}, steps, cost)
    testing.check_op_hessian_vector(f, *(L[k].data for k in used), eps=EPS, seed=seed)


@given(graphs)
def test_create_graph_gradients_equal_the_plain_gradients(graph):
    seed, steps, cost = graph
    L = leaves(seed)
    plain = plain_gradients(L, steps, cost)
    for x in L.values():
        x.grad = None
    build(L, steps, cost).backward(create_graph=True)
    for k, x in L.items():
        got = np.zeros(x.shape) if x.grad is None else np.asarray(x.grad.data)
        np.testing.assert_allclose(got, plain[k], rtol=1e-10, atol=1e-12)


@given(graphs)
@example((4, ["add", "add", "add", "add", "exp"], "cross_entropy_from_z"))  # saturated σ: failed under no_grad
def test_forward_mode_tangents_match_finite_differences_and_reverse_mode(graph):
    seed, steps, cost = graph
    L = leaves(seed)
    rng = np.random.default_rng(seed + 2)
    v = {k: rng.standard_normal(x.shape) if x.shape else float(rng.standard_normal()) for k, x in L.items()}
    loss = build(L, steps, cost)
    jv = forward_tangents(loss, {x: v[k] for k, x in L.items()})
    # the differences are taken with graphs built, as the loss was: under no_grad a cost from σ(zᴸ) is computed
    # from aᴸ (its no-graph path), whose rounding near saturation (1 − a at 1e-16) is 1e-5 in C — not the
    # function whose tangent is checked
    numeric = (build(shifted(L, v, EPS), steps, cost).data - build(shifted(L, v, -EPS), steps, cost).data) / (2 * EPS)
    assert_close(jv, numeric, f"J·v ({steps}, {cost})")
    reverse = plain_gradients(L, steps, cost)
    assert math.isclose(jv, sum(float(np.vdot(reverse[k], v[k])) for k in L), rel_tol=1e-9, abs_tol=1e-12)


def test_third_derivative_of_tanh_to_any_order():
    """Differentiate a create_graph gradient with create_graph again: tanh‴ = −2(1 − t²)(1 − 3t²)."""
    x = Value(0.37)
    x.tanh().backward(create_graph=True)
    first = x.grad
    x.grad = None
    first.backward(create_graph=True)
    second = x.grad
    x.grad = None
    second.backward()
    t = math.tanh(0.37)
    assert math.isclose(first.data, 1 - t * t, rel_tol=1e-14)
    assert math.isclose(second.data, -2 * t * (1 - t * t), rel_tol=1e-14)
    assert math.isclose(x.grad, -2 * (1 - t * t) * (1 - 3 * t * t), rel_tol=1e-12)


def test_relu_and_max_have_zero_second_derivative():
    x = Value(np.array([-1.0, 0.5, 2.0]))
    (x.relu() * 3.0 + x.max()).backward(grad=np.ones(3), create_graph=True)
    g = x.grad
    np.testing.assert_array_equal(g.data, [0.0, 3.0, 6.0])
    assert not g.requires_grad  # a gradient that does not depend on x is a constant Value
    with pytest.raises(RuntimeError, match="does not depend on any input: its derivative is 0"):
        g.sum().backward()
    _, hv = functional.hvp(lambda v: v.relu().sum() * 3.0 + v.max(), x.data, np.ones(3))
    np.testing.assert_array_equal(hv, np.zeros(3))


def test_the_default_backward_still_writes_plain_floats_and_arrays():
    a, W = Value(0.5), Value(np.ones((2, 2)))
    ((W * a).sigmoid().sum() * a).backward()
    assert type(a.grad) is float and type(W.grad) is np.ndarray


def test_every_gradient_written_with_create_graph_is_a_value_including_intermediates():
    W = Value(np.array([[0.3, -0.2], [0.1, 0.4]]))
    z = W @ np.array([1.0, 2.0])
    loss = z.sigmoid().sum()
    loss.backward(create_graph=True)
    assert all(isinstance(v.grad, Value) for v in (W, z, loss))


def test_create_graph_inside_no_grad_is_a_clear_error():
    x = Value(2.0)
    y = x * x
    with no_grad(), pytest.raises(RuntimeError, match=r"create_graph=True\) inside no_grad"):
        y.backward(create_graph=True)
    with no_grad(), enable_grad():
        y.backward(create_graph=True)
    assert x.grad.data == 4.0


def test_create_graph_through_an_op_without_a_differentiable_rule_names_the_op():
    from tinygrad_nn.engine import _node

    def rule(out, g):
        out._a.grad = g

    rule.symbol = "mystery"
    x = Value(1.5)
    y = _node(x.data * 2.0, rule, x)
    with pytest.raises(RuntimeError, match="'mystery'.*no differentiable backward rule"):
        y.backward(create_graph=True)
    z = Value(np.ones(2))
    with pytest.raises(RuntimeError, match="forward mode: op 'mystery'"):
        forward_tangents(_node(z.data * 2.0, rule, z), {z: np.ones(2)})


def test_step_keeps_refusing_a_gradient_in_every_mode():
    x = Value(np.array([-1.0, 1.0]))
    with pytest.raises(RuntimeError, match="step"):
        (x.step() * x).sum().backward(create_graph=True)
    with pytest.raises(RuntimeError, match="step"):
        forward_tangents((x.step() * x).sum(), {x: np.ones(2)})


def test_batched_matmul_under_create_graph_says_it_is_not_supported():
    a = Value(np.ones((2, 2, 3)))
    with pytest.raises(NotImplementedError, match="'@'.*batched"):
        (a @ np.ones((3, 2))).sum().backward(create_graph=True)


def test_detect_anomaly_works_with_create_graph():
    from tinygrad_nn import detect_anomaly
    x = Value(np.array([0.0, 1.0]))
    with detect_anomaly(), pytest.raises(FloatingPointError, match="log"):
        x.log().sum().backward(create_graph=True)


def test_sgd_steps_with_gradients_written_by_create_graph():
    """A gradient penalty: C + ‖∂C/∂w‖², trained with create_graph; SGD uses the gradients' values."""
    from tinygrad_nn import optim
    w, s = Value(np.array([0.5, -0.3])), Value(0.2)
    opt = optim.SGD([w, s], lr=0.1)
    x = np.array([1.0, 2.0])
    loss = ((x @ w) * s).tanh()
    loss.backward(create_graph=True)
    penalty = (w.grad * w.grad).sum() + s.grad * s.grad
    grads = [w.grad.data.copy(), s.grad.data]
    opt.zero_grad()
    (loss + penalty).backward(create_graph=True)
    expected = w.data - 0.1 * w.grad.data, s.data - 0.1 * s.grad.data
    assert not np.allclose(w.grad.data, grads[0])  # the penalty's second derivatives are in there
    opt.step()
    np.testing.assert_allclose(w.data, expected[0], rtol=1e-15)
    assert s.data == expected[1]


def test_drawings_show_create_graph_gradients_and_the_gradients_own_graph():
    viz = pytest.importorskip("viz")
    x = Value(np.array([0.5, -1.0]), name="x")
    y = (x.sigmoid() * x).sum()
    y.backward(create_graph=True)
    assert "grad (2) · mean 0.4061" in viz.draw_graph(y).source  # ∂y/∂x = σ + xσ′, its mean
    source = viz.draw_graph(x.grad).source  # the gradient is a graph itself: σ, ×, − and + nodes
    assert all(op in source for op in ("σ", "×", "−", "+"))
    net = nn.MLP([4, 3, 2], seed=0)
    zs, acts = net.feedforward(np.random.default_rng(0).random((5, 4)))
    nn.quadratic_cost(acts[-1], np.array([0, 1, 1, 0, 1])).backward(create_graph=True)
    assert "δ" in viz.draw_network(net, show_delta=True, zs=zs).source

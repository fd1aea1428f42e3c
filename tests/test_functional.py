"""functional.vjp / jvp / hvp / hessian and gradgradcheck against finite differences (float64).

References: central differences with eps = 1e-5 of f (for vjp, jvp) and of the plain gradient (for hvp,
hessian); elements agree within 1e-6·(1 + max|numeric|) + 1e-5·|numeric|.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_nn import (
    Value,
    functional,
    gradcheck,
    gradgradcheck,
    linear,
    nn,
    no_grad,
    testing,
)
from tinygrad_nn.gradcheck import GradcheckError

EPS = 1e-5

FUNCTIONS = {  # f: Value of shape (4,) → scalar
    "mlp_quadratic": lambda x: nn.quadratic_cost(linear(x.reshape(2, 2), np.array([[0.5, -1.0], [2.0, 0.3]]),
                                                        np.array([0.1, -0.2])).sigmoid(), np.array([1, 0])),
    "softmax_max": lambda x: (x.softmax() * x).sum() + x.tanh().max(),
    "pow_log": lambda x: ((x * x + 1.0).log() ** 1.5).sum() / (x.exp().sum()),
    "outer": lambda x: (x.reshape(4, 1) @ x.reshape(1, 4)).sigmoid().mean(),
    "index_log_softmax": lambda x: x[[0, 3, 3]].log_softmax().sum() * x[1],
}
VECTOR_FUNCTIONS = {  # f: Value of shape (4,) → a vector, for vjp and jvp
    "sigmoid_matvec": lambda x: (np.arange(12.0).reshape(3, 4) / 10 @ x).sigmoid(),
    "elementwise": lambda x: x.tanh() * x.exp() - x[::-1],
}


def plain_gradient(f, x: np.ndarray) -> np.ndarray:
    v = Value(x)
    f(v).backward()
    return v.grad


def assert_close(autodiff, numeric, what: str) -> None:
    assert np.shape(autodiff) == np.shape(numeric), what  # NaN fails too: assert_allclose never passes it
    np.testing.assert_allclose(autodiff, numeric, rtol=1e-5, atol=1e-6 * (1 + np.max(np.abs(numeric))), err_msg=what)


points = st.tuples(st.integers(0, 2**32 - 1), st.sampled_from(sorted(FUNCTIONS)))


@given(points)
def test_hessian_and_hvp_match_finite_differences_of_the_gradient(case):
    seed, name = case
    f = FUNCTIONS[name]
    rng = np.random.default_rng(seed)
    x, v = rng.standard_normal(4) * 0.8, rng.standard_normal(4)
    H = functional.hessian(f, x)
    numeric = np.stack([(plain_gradient(f, x + EPS * e) - plain_gradient(f, x - EPS * e)) / (2 * EPS)
                        for e in np.eye(4)], axis=1)
    assert_close(H, numeric, f"hessian of {name}")
    np.testing.assert_allclose(H, H.T, rtol=1e-9, atol=1e-12)
    value, hv = functional.hvp(f, x, v)
    with no_grad():
        assert value == f(Value(x)).data
    assert_close(hv, numeric @ v, f"hvp of {name}")


@given(st.tuples(st.integers(0, 2**32 - 1), st.sampled_from(sorted(VECTOR_FUNCTIONS))))
def test_jvp_and_vjp_match_finite_differences(case):
    seed, name = case
    f = VECTOR_FUNCTIONS[name]
    rng = np.random.default_rng(seed)
    x, v, u = rng.standard_normal(4), rng.standard_normal(4), rng.standard_normal(3 if name == "sigmoid_matvec" else 4)
    with no_grad():
        jv_numeric = (f(Value(x + EPS * v)).data - f(Value(x - EPS * v)).data) / (2 * EPS)
    value, jv = functional.jvp(f, x, v)
    assert_close(jv, jv_numeric, f"jvp of {name}")
    value2, uj = functional.vjp(f, x, u)
    np.testing.assert_array_equal(value, value2)
    assert_close(uj, testing.finite_differences(lambda y: (f(Value(y, requires_grad=False)) * u).sum().data, x, EPS),
                 f"vjp of {name}")
    assert np.isclose(np.vdot(u, jv), np.vdot(uj, v), rtol=1e-10, atol=1e-12)  # uᵀ(Jv) = (uᵀJ)v


def test_scalar_inputs_and_outputs():
    f = lambda x: (x * x * x).tanh()
    x = 0.4
    t = np.tanh(x ** 3)
    assert np.isclose(functional.jvp(f, x, 2.0)[1], 2.0 * 3 * x * x * (1 - t * t), rtol=1e-12)
    assert np.isclose(functional.vjp(f, x)[1], 3 * x * x * (1 - t * t), rtol=1e-12)
    h = functional.hessian(f, x)
    assert h.shape == ()
    numeric = (plain_gradient(f, x + EPS) - plain_gradient(f, x - EPS)) / (2 * EPS)
    assert np.isclose(h, numeric, rtol=1e-6)
    assert np.isclose(functional.hvp(f, x, 3.0)[1], 3 * numeric, rtol=1e-6)


def test_functions_that_do_not_depend_on_x_have_zero_derivatives():
    assert functional.hvp(lambda x: x.sum() * 2.0, np.ones(3), np.ones(3))[1].tolist() == [0.0, 0.0, 0.0]
    assert functional.hessian(lambda x: Value(1.0) + 0.0 * x.sum(), np.ones(2)).tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert functional.jvp(lambda x: Value(np.ones(2)) * 1.0, np.ones(3), np.ones(3))[1].tolist() == [0.0, 0.0]
    assert functional.jvp(lambda x: Value(2.0, requires_grad=False), np.ones(3), np.ones(3))[1] == 0.0
    assert functional.vjp(lambda x: Value(2.0, requires_grad=False), np.ones(3))[1].tolist() == [0.0, 0.0, 0.0]
    np.testing.assert_array_equal(functional.jvp(lambda x: x, np.ones(3), np.arange(3.0))[1], [0.0, 1.0, 2.0])


def test_the_functional_api_works_inside_no_grad():
    with no_grad():
        _, hv = functional.hvp(lambda x: (x ** 3.0).sum(), np.array([1.0, 2.0]), np.array([1.0, 1.0]))
    np.testing.assert_allclose(hv, [6.0, 12.0])


def test_bad_input_gives_clear_errors():
    with pytest.raises(ValueError, match=r"hvp: f must return a scalar"):
        functional.hvp(lambda x: x * 2.0, np.ones(2), np.ones(2))
    with pytest.raises(ValueError, match=r"jvp: v has shape \(3,\), expected \(2,\)"):
        functional.jvp(lambda x: x * 2.0, np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match=r"vjp: v has shape \(\), expected \(2,\)"):
        functional.vjp(lambda x: x * 2.0, np.ones(2), 1.0)
    with pytest.raises(ValueError, match=r"vjp \(without v\): f must return a scalar"):
        functional.vjp(lambda x: x * 2.0, np.ones(2))
    with pytest.raises(TypeError, match="hessian: f must return a Value"):
        functional.hessian(lambda x: 3.0, np.ones(2))


# ---- gradgradcheck --------------------------------------------------------------------------------
def test_gradgradcheck_passes_on_the_network_costs():
    rng = np.random.default_rng(0)
    x, y = rng.random((3, 4)), np.array([0, 2, 1])
    W = Value(rng.standard_normal((3, 4)), name="W")
    b = Value(rng.standard_normal(3), name="b")
    for cost, act in [(nn.quadratic_cost, Value.sigmoid), (nn.cross_entropy_cost, Value.sigmoid),
                      (nn.log_likelihood_cost, Value.softmax)]:
        assert gradgradcheck(lambda W, b, cost=cost, act=act: cost(act(linear(x, W, b)), y), W, b)
    assert gradcheck(lambda W, b: nn.quadratic_cost(linear(x, W, b).sigmoid(), y), W, b)


def test_gradgradcheck_of_a_vector_output_and_a_constant_input():
    a = Value(np.array([0.3, -0.8, 1.1]))
    c = Value(np.array([2.0, 1.0, 0.5]), requires_grad=False)
    assert gradgradcheck(lambda a, c: (a * c).sigmoid() * a, a, c)


def test_gradgradcheck_catches_a_wrong_second_derivative_that_gradcheck_misses(monkeypatch):
    """Sabotage σ's create_graph rule so that σ′ is treated as a constant: first derivatives stay exact,
    second derivatives lose the σ″ term."""
    from tinygrad_nn import engine

    def constant_slope(out, g):
        s = out.data
        engine._accumulate(out._a, g * (s * (1.0 - s)))

    monkeypatch.setattr(engine.Value._sigmoid_rule, "graph", constant_slope)
    z = Value(np.array([0.5, -1.0, 2.0]), name="z")
    f = lambda z: (z.sigmoid() * 3.0).sum()
    assert gradcheck(f, z)
    with pytest.raises(GradcheckError, match=r"gradgradcheck: input 0 \(z\) of shape \(3,\)"):
        gradgradcheck(f, z)


def test_the_functional_api_leaves_no_reference_cycles():
    """create_graph makes cycles (a .grad graph refers back to its node); hvp and hessian break them."""
    import gc
    f = FUNCTIONS["mlp_quadratic"]
    x, v = np.linspace(-1, 1, 4), np.ones(4)
    functional.hvp(f, x, v)  # warm-up: imports and caches
    gc.collect()
    gc.disable()
    try:
        functional.hvp(f, x, v)
        functional.hessian(f, x)
        assert gc.collect() == 0
    finally:
        gc.enable()

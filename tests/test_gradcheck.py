"""Tests for tinygrad_nn.gradcheck: it passes correct ops and catches wrong backward rules."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given

from tinygrad_nn import Value, gradcheck, linear
from tinygrad_nn.engine import _accumulate, _node
from tinygrad_nn.gradcheck import GradcheckError
from tinygrad_nn.testing import arrays, floats, shapes


# ---- deliberately wrong ops built with the engine's own node helper ---------------------------------
def _bad_square_rule(out, g):
    x = out._a.data
    _accumulate(out._a, 3.0 * x * g)  # wrong: d(x²)/dx is 2x


def bad_square(x):
    return _node(x.data * x.data, _bad_square_rule, x)


def _good_square_rule(out, g):
    _accumulate(out._a, 2.0 * out._a.data * g)


def good_square(x):
    return _node(x.data * x.data, _good_square_rule, x)


def _one_bad_element_rule(out, g):
    """Correct 2·x·g everywhere except element (1, 2), which gets an extra +1·g."""
    grad = 2.0 * out._a.data * g
    grad[1, 2] += g[1, 2] if np.ndim(g) else g
    _accumulate(out._a, grad)


def one_bad_element_square(x):
    return _node(x.data * x.data, _one_bad_element_rule, x)


def _bad_mul_rule(out, g):
    a, b = out._a, out._b
    if a.requires_grad:
        _accumulate(a, g * b.data)
    if b.requires_grad:
        _accumulate(b, g * b.data)  # wrong: should be g * a.data


def bad_mul(a, b):
    return _node(a.data * b.data, _bad_mul_rule, a, b)


def _transposed_grad_rule(out, g):
    _accumulate(out._a, np.asarray(g)[::-1] * 1.0)  # wrong: only visible through a non-uniform VJP


def reverse_grad_identity(x):
    return _node(x.data.copy(), _transposed_grad_rule, x)


# ---- passes on correct ops --------------------------------------------------------------------------
CORRECT = {
    "add": (lambda a, b: (a + b).sum(), 2),
    "mul": (lambda a, b: (a * b).sum(), 2),
    "div": (lambda a, b: (a / (b * b + 1.0)).sum(), 2),
    "pow": (lambda a, b: ((a * a + 0.5) ** b).sum(), 2),
    "matmul": (lambda a, b: (a @ b.T).sum(), 2),
    "tanh_sigmoid": (lambda a, b: (a.tanh() * b.sigmoid()).sum(), 2),
    "exp_log": (lambda a, b: ((a * a + 1.0).log() + b.exp()).sum(), 2),
    "softmax": (lambda a, b: (a.softmax(axis=0) * b).sum(), 2),
    "log_softmax": (lambda a, b: (a.log_softmax() * b).sum(), 2),
    "max_mean": (lambda a, b: a.max(axis=1).mean() + b.mean(axis=0).sum(), 2),
    "getitem": (lambda a, b: (a[[0, 0, 1]] * b[1]).sum(), 2),
    "linear": (lambda a, b: linear(a, b, None).sum(), 2),
    "good_square": (lambda a, b: good_square(a).sum() + b.sum(), 2),
}


@pytest.mark.parametrize("name", list(CORRECT))
def test_gradcheck_passes_correct_ops(name):
    fn, _ = CORRECT[name]
    rng = np.random.default_rng(1)
    a = Value(rng.standard_normal((2, 3)) + np.arange(6).reshape(2, 3))  # distinct values for max
    b = Value(rng.standard_normal((2, 3)))
    assert gradcheck(fn, a, b) is True


@given(x=arrays(shapes(min_dims=1, max_dims=2), -2, 2), y=floats(-2, 2))
def test_gradcheck_passes_random_compositions(x, y):
    fn = lambda a, s: ((a * s).tanh() + (a - s).sigmoid() * a).sum() / (1.0 + s * s)
    assert gradcheck(fn, Value(x), Value(y)) is True


def test_gradcheck_non_scalar_output():
    x = Value(np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]]))
    w = Value(np.array([[1.0, 0.5], [-0.5, 2.0], [0.3, 0.1]]))
    assert gradcheck(lambda a, b: (a @ b).tanh(), x, w) is True
    assert gradcheck(lambda a: a.softmax(axis=1), x) is True
    assert gradcheck(lambda a: a.exp(), Value(np.array([0.1, 0.2, 0.3]))) is True


def test_gradcheck_python_float_inputs():
    assert gradcheck(lambda a, b: a * b + a.exp() / b, Value(0.3), Value(1.7)) is True
    with pytest.raises(GradcheckError, match="input 0"):
        gradcheck(lambda a: bad_square(a), Value(0.8))


def test_gradcheck_restores_inputs_and_leaves_analytic_grad():
    data = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
    x = Value(data)
    x.grad = np.full(data.shape, 123.0)  # stale gradient must not leak into the check
    assert gradcheck(lambda a: (a * a).sum(), x) is True
    np.testing.assert_array_equal(x.data, data)
    np.testing.assert_allclose(x.grad, 2 * data)
    # inputs are restored even when the check fails
    with pytest.raises(GradcheckError):
        gradcheck(lambda a: bad_square(a).sum(), x)
    np.testing.assert_array_equal(x.data, data)


def test_gradcheck_skips_inputs_that_need_no_gradient():
    x = Value(np.array([1.0, 2.0]))
    c = Value(np.array([3.0, 4.0]), requires_grad=False)
    assert gradcheck(lambda a, b: (a * b).sum(), x, c) is True
    # the wrong rule only affects b's gradient; b needs none, so nothing is checked for it
    assert gradcheck(lambda a, b: bad_mul(a, b).sum(), x, c) is True


# ---- catches wrong rules ----------------------------------------------------------------------------
def test_gradcheck_error_is_an_assertion_error():
    assert issubclass(GradcheckError, AssertionError)


def test_gradcheck_raises_on_wrong_square():
    x = Value(np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]]), name="w")
    with pytest.raises(GradcheckError) as exc:
        gradcheck(lambda a: bad_square(a).sum(), x)
    msg = str(exc.value)
    assert "input 0" in msg and "(w)" in msg and "worst element" in msg
    # the worst element is where |3x − 2x| = |x| is largest: x[0, 2] = 2.0
    assert "(0, 2)" in msg
    m = re.search(r"autodiff ([-\d.e+]+), numeric ([-\d.e+]+)", msg)
    assert m is not None
    assert float(m.group(1)) == pytest.approx(6.0) and float(m.group(2)) == pytest.approx(4.0, rel=1e-6)


def test_gradcheck_names_the_worst_element():
    x = Value(np.full((3, 4), 0.5))
    with pytest.raises(GradcheckError, match=r"worst element \(1, 2\)"):
        gradcheck(lambda a: one_bad_element_square(a).sum(), x)


def test_gradcheck_names_the_failing_input_index():
    a = Value(np.array([1.0, 2.0, 3.0]), name="a")
    b = Value(np.array([0.5, -1.5, 2.5]), name="bias")
    with pytest.raises(GradcheckError) as exc:
        gradcheck(lambda u, v: bad_mul(u, v).sum(), a, b)
    msg = str(exc.value)
    assert "input 1 (bias)" in msg and "input 0" not in msg and "(3,)" in msg


def test_gradcheck_unnamed_input_has_no_name_suffix():
    with pytest.raises(GradcheckError) as exc:
        gradcheck(lambda a: bad_square(a).sum(), Value(np.array([1.0, 2.0])))
    assert "input 0 of shape (2,)" in str(exc.value)


def test_gradcheck_non_scalar_output_catches_wrong_vjp():
    """The identity with a reversed gradient passes for the all-ones VJP, only a random VJP catches it."""
    x = Value(np.array([0.1, 0.2, 0.3, 0.4]))
    assert np.all(_sum_backward(reverse_grad_identity, x) == 1.0)  # Σ-reduction cannot see the bug
    with pytest.raises(GradcheckError, match="input 0"):
        gradcheck(reverse_grad_identity, x)


def _sum_backward(fn, x):
    x.grad = None
    fn(x).sum().backward()
    return x.grad


def test_gradcheck_tolerances_matter():
    x = Value(np.array([1.0, 2.0]))
    with pytest.raises(GradcheckError):
        gradcheck(lambda a: bad_square(a).sum(), x)
    assert gradcheck(lambda a: bad_square(a).sum(), x, atol=10.0) is True
    assert gradcheck(lambda a: bad_square(a).sum(), x, rtol=0.6) is True  # |6 − 4| ≤ 0.6·4


def test_gradcheck_rejects_non_finite_analytic_gradient():
    x = Value(np.array([0.0, 1.0]))
    with np.errstate(divide="ignore", invalid="ignore"), \
            pytest.raises(GradcheckError, match=r"worst element \(0,\)"):
        gradcheck(lambda a: (a ** 0.5).sum(), x)


# ---- input validation -------------------------------------------------------------------------------
def test_gradcheck_rejects_float32_inputs():
    x = Value(np.array([1.0, 2.0], dtype=np.float32))
    with pytest.raises(TypeError, match="float32"):
        gradcheck(lambda a: (a * a).sum(), x)
    with pytest.raises(TypeError, match="input 1"):
        gradcheck(lambda a, b: (a * b).sum(), Value(np.array([1.0, 2.0])), x)


def test_gradcheck_rejects_non_value_inputs_and_outputs():
    with pytest.raises(TypeError, match="must be a Value"):
        gradcheck(lambda a: a, np.array([1.0]))
    with pytest.raises(TypeError, match="must return a Value"):
        gradcheck(lambda a: float(np.sum(a.data)), Value(np.array([1.0])))

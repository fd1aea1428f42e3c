"""The second-order checkers: `gradgradcheck` (the same argument checks and messages as `gradcheck`, a NaN
never passing) and `testing.check_op_hessian_vector` (its tests with custom ops are in test_function.py).
References: finite differences of first-order gradients, float64."""
from __future__ import annotations

import numpy as np
import pytest

from tinygrad_nn import Value, gradcheck, gradgradcheck, linear, nn, testing
from tinygrad_nn.gradcheck import GradcheckError


@pytest.mark.parametrize("check", [gradcheck, gradgradcheck])
@pytest.mark.parametrize("call, error, message", [
    (lambda c: c(lambda x: x, np.ones(2)), TypeError, r"{}: input 0 must be a Value, got ndarray"),
    (lambda c: c(lambda x: x, Value(np.ones(2, dtype=np.float32))), TypeError, r"{}: input 0 has dtype float32"),
    (lambda c: c(lambda x: 3.0, Value(np.ones(2))), TypeError, r"{}: fn must return a Value, got float"),
    (lambda c: c(lambda x: x, Value(1.0), eps=0), ValueError, r"{}: eps must be a positive number, got 0"),
    (lambda c: c(lambda x: x, Value(1.0), atol=-1.0), ValueError, r"{}: atol must be a non-negative number"),
    (lambda c: c(lambda x: x, Value(1.0), rtol=np.inf), ValueError, r"{}: rtol must be a non-negative number"),
])
def test_gradcheck_and_gradgradcheck_refuse_bad_arguments_with_the_same_message(check, call, error, message):
    with pytest.raises(error, match=message.format(check.__name__)):
        call(check)


def test_gradgradcheck_fails_on_a_nan_finite_difference_naming_it():
    """x^1.5 at x = 1e-7 < eps: the shifted gradient 1.5·(x − eps)^0.5 is NaN; it once passed silently."""
    x = Value(np.array([1.0, 2.0, 1e-7]))
    with np.errstate(all="ignore"), pytest.raises(GradcheckError, match=r"gradgradcheck: input 0 of shape \(3,\): "
                                                                       r"worst element \(2,\) is not finite"):
        gradgradcheck(lambda a: (a ** 1.5).sum(), x)


def test_check_op_hessian_vector_computes_h_times_v_for_several_inputs():
    rng = np.random.default_rng(0)
    W, b, x = rng.standard_normal((2, 3)), rng.standard_normal(2), rng.random((4, 3))
    y = np.array([0, 1, 1, 0])
    _, (w_leaf, b_leaf) = testing.check_op_hessian_vector(
        lambda W, b: nn.cross_entropy_cost(linear(x, W, b).sigmoid(), y), W, b)
    assert w_leaf.grad.shape == (2, 3) and b_leaf.grad.shape == (2,)
    assert np.any(w_leaf.grad != 0) and np.any(b_leaf.grad != 0)
    _, (leaf,) = testing.check_op_hessian_vector(lambda v: v * 2.0 + 1.0, np.ones(3))  # linear: H = 0
    np.testing.assert_array_equal(leaf.grad, np.zeros(3))


def test_check_op_hessian_vector_refuses_bad_input_and_unused_inputs():
    with pytest.raises(TypeError, match="check_op_hessian_vector: input 0 has dtype float32"):
        testing.check_op_hessian_vector(lambda v: v * v, np.ones(2, dtype=np.float32))
    with pytest.raises(TypeError, match="check_op_hessian_vector: fn must return a Value"):
        testing.check_op_hessian_vector(lambda v: 1.0, np.ones(2))
    with pytest.raises(AssertionError, match=r"check_op_hessian_vector: input 1 of shape \(2,\) got no gradient"):
        testing.check_op_hessian_vector(lambda a, b: a * a, np.ones(2), np.ones(2))

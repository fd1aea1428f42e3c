"""Tests for tinygrad_nn.engine: every op against central finite differences, dtypes, graph semantics,
numpy interop, numerics at extreme inputs, and error messages.

The finite-difference reference (`tinygrad_nn.testing.check_op_gradient`, used by `check_vjp` below) is
deliberately independent of `tinygrad_nn.gradcheck`: it evaluates the forward pass on fresh constants,
perturbing one element of one input at a time, and compares against the vector–Jacobian product that
`backward(grad=r)` computes.
"""

from __future__ import annotations

import gc
import math
import operator
import time
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_nn import Value, detect_anomaly, gradcheck, linear, no_grad
from tinygrad_nn.engine import is_grad_enabled
from tinygrad_nn.testing import (
    AWAY_FROM_ZERO,
    FLOATS,
    NONZERO,
    POSITIVE,
    arrays,
    axes,
    broadcastable_operands,
    check_op_gradient,
    cotangent,
    distinct_arrays,
    operands,
    positive_floats,
    shapes,
)

# ---------------------------------------------------------------------------------------------------
# The reference: tinygrad_nn.testing's independent central differences, and the library's gradcheck too
# ---------------------------------------------------------------------------------------------------
POW_BASE = positive_floats(0.5)   # bases of pow with a Value exponent: |ln base| stays small


def check_vjp(fn, *inputs):
    """`check_op_gradient` (backward(grad=r) against central differences of Σ r ⊙ fn, eps 1e-6, rtol = atol =
    1e-5), then `gradcheck` on the same inputs. Returns (out, leaves)."""
    out, leaves = check_op_gradient(fn, *inputs)
    assert gradcheck(fn, *[Value(x) for x in inputs]) is True
    return out, leaves


# ---------------------------------------------------------------------------------------------------
# 1. Every op against finite differences
# ---------------------------------------------------------------------------------------------------
BINARY = {
    "add": (operator.add, FLOATS, FLOATS),
    "sub": (operator.sub, FLOATS, FLOATS),
    "mul": (operator.mul, FLOATS, FLOATS),
    "div": (operator.truediv, FLOATS, NONZERO),
    "pow": (operator.pow, POW_BASE, FLOATS),  # pow with a Value exponent: d/dbase and d/dexponent
}


@pytest.mark.parametrize("name", list(BINARY))
@given(data=st.data())
def test_binary_op_broadcasting_matches_finite_differences(name, data):
    op, left, right = BINARY[name]
    a, b = data.draw(broadcastable_operands(left, right, max_dims=3), label="a, b")
    out, (va, vb) = check_vjp(op, a, b)
    np.testing.assert_allclose(out.data, op(np.asarray(a), np.asarray(b)), rtol=1e-12, atol=1e-300)
    assert out.shape == np.broadcast_shapes(np.shape(a), np.shape(b))
    if isinstance(a, float) and isinstance(b, float):
        assert type(out.data) is float
        assert type(va.grad) is float and type(vb.grad) is float
    # the broadcast operand's gradient has its own shape, not the output's
    assert np.shape(va.grad) == np.shape(a) and np.shape(vb.grad) == np.shape(b)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow"])
@pytest.mark.parametrize("side", ["const_left", "const_right"])
@given(data=st.data())
def test_binary_op_with_raw_constant_matches_finite_differences(name, side, data):
    """A raw number or ndarray on either side (reflected forms included) is a constant operand."""
    op, left, right = BINARY[name]
    a, b = data.draw(broadcastable_operands(left, right, max_dims=2), label="a, b")
    if side == "const_left":
        out, (vb,) = check_vjp(lambda v: op(a, v), b)
        assert np.shape(vb.grad) == np.shape(b)
    else:
        out, (va,) = check_vjp(lambda v: op(v, b), a)
        assert np.shape(va.grad) == np.shape(a)
    assert isinstance(out, Value)
    np.testing.assert_allclose(out.data, op(np.asarray(a), np.asarray(b)), rtol=1e-12, atol=1e-300)


@given(x=operands(POW_BASE), p=st.floats(-3, 3))
def test_pow_number_exponent_matches_finite_differences(x, p):
    out, (vx,) = check_vjp(lambda v: v ** p, x)
    np.testing.assert_allclose(out.data, np.power(x, p), rtol=1e-12)
    np.testing.assert_allclose(vx.grad, np.ones_like(x) * cotangent(out.shape)
                               * p * np.power(x, p - 1), rtol=1e-10)


@given(x=operands(NONZERO), p=st.sampled_from([0.0, 1.0, 2.0, 3.0, -1.0, -2.0]))
def test_pow_integer_exponent_of_negative_bases(x, p):
    out, _ = check_vjp(lambda v: v ** p, x)
    np.testing.assert_allclose(out.data, np.power(x, p), rtol=1e-12)
    assert np.all(np.isfinite(out.data))


@given(c=st.floats(0.5, 3), x=operands(FLOATS))
def test_rpow_number_base_matches_finite_differences(c, x):
    out, (_vx,) = check_vjp(lambda v: c ** v, x)
    np.testing.assert_allclose(out.data, np.power(c, x), rtol=1e-12)


def test_pow_hand_derived_gradients():
    a, p = Value(2.0), Value(3.0)
    y = a ** p
    y.backward()
    assert y.data == 8.0
    assert a.grad == pytest.approx(12.0)  # p a^(p-1)
    assert p.grad == pytest.approx(8.0 * math.log(2.0))  # a^p ln a


UNARY = {
    # name: (function on Value, numpy reference, element strategy, min_dims for tensors)
    "neg": (lambda v: -v, np.negative, FLOATS, 0),
    "exp": (lambda v: v.exp(), np.exp, FLOATS, 0),
    "log": (lambda v: v.log(), np.log, POSITIVE, 0),
    "tanh": (lambda v: v.tanh(), np.tanh, FLOATS, 0),
    "sigmoid": (lambda v: v.sigmoid(), lambda x: 1 / (1 + np.exp(-x)), st.floats(-6, 6), 0),
    "relu": (lambda v: v.relu(), lambda x: np.maximum(x, 0), AWAY_FROM_ZERO, 0),
}


@pytest.mark.parametrize("name", list(UNARY))
@given(data=st.data())
def test_unary_op_matches_finite_differences(name, data):
    fn, ref, elements, min_dims = UNARY[name]
    x = data.draw(operands(elements, min_dims), label="x")
    out, (_vx,) = check_vjp(fn, x)
    np.testing.assert_allclose(out.data, ref(np.asarray(x)), rtol=1e-12, atol=1e-300)
    assert out.shape == np.shape(x)
    if isinstance(x, float):
        assert type(out.data) is float


def test_relu_gradient_at_and_near_the_kink():
    x = Value(np.array([-0.01, 0.0, 0.01, -2.0, 3.0]))
    y = x.relu()
    np.testing.assert_array_equal(y.data, [0.0, 0.0, 0.01, 0.0, 3.0])
    y.backward(grad=np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 3.0, 0.0, 5.0])  # relu'(0) = 0, as in PyTorch
    for z, dz in [(-0.01, 0.0), (0.0, 0.0), (0.01, 1.0)]:
        v = Value(z)
        out = v.relu()
        out.backward()
        assert out.data == max(z, 0.0) and v.grad == dz and type(v.grad) is float


@given(x=operands(FLOATS))
def test_step_forward_is_the_threshold(x):
    out = Value(x, requires_grad=False).step()
    np.testing.assert_array_equal(out.data, (np.asarray(x) > 0).astype(np.float64))
    if isinstance(x, float):
        assert type(out.data) is float and out.data in (0.0, 1.0)


MATMUL_PATTERNS = {
    "1d@1d": lambda n, k, m, b: ((k,), (k,)),
    "1d@2d": lambda n, k, m, b: ((k,), (k, m)),
    "2d@1d": lambda n, k, m, b: ((n, k), (k,)),
    "2d@2d": lambda n, k, m, b: ((n, k), (k, m)),
    "3d@2d": lambda n, k, m, b: ((b, n, k), (k, m)),
    "2d@3d": lambda n, k, m, b: ((n, k), (b, k, m)),
    "3d@3d": lambda n, k, m, b: ((b, n, k), (b, k, m)),
    "1d@3d": lambda n, k, m, b: ((k,), (b, k, m)),
    "3d@1d": lambda n, k, m, b: ((b, n, k), (k,)),
    "4d@3d-broadcast": lambda n, k, m, b: ((2, 1, n, k), (b, k, m)),
    "3d@3d-broadcast": lambda n, k, m, b: ((1, n, k), (b, k, m)),
}


@pytest.mark.parametrize("pattern", list(MATMUL_PATTERNS))
@given(data=st.data())
def test_matmul_matches_finite_differences(pattern, data):
    n, k, m, b = data.draw(st.tuples(*[st.integers(1, 3)] * 4), label="n, k, m, batch")
    shape_a, shape_b = MATMUL_PATTERNS[pattern](n, k, m, b)
    a = data.draw(arrays(shape_a), label="a")
    bb = data.draw(arrays(shape_b), label="b")
    out, (va, vb) = check_vjp(operator.matmul, a, bb)
    np.testing.assert_allclose(out.data, a @ bb, rtol=1e-12, atol=1e-12)
    assert va.grad.shape == shape_a and vb.grad.shape == shape_b


def test_matmul_2d_hand_derived_gradients():
    A = Value(np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))
    B = Value(np.array([[1.0, -1.0, 0.5, 2.0], [0.0, 2.0, -3.0, 1.0]]))
    G = np.arange(12.0).reshape(3, 4)
    (A @ B).backward(grad=G)
    np.testing.assert_allclose(A.grad, G @ B.data.T)
    np.testing.assert_allclose(B.grad, A.data.T @ G)


REDUCTIONS = {
    "sum": (lambda v, axis, keepdims: v.sum(axis=axis, keepdims=keepdims), np.sum),
    "mean": (lambda v, axis, keepdims: v.mean(axis=axis, keepdims=keepdims), np.mean),
}


@pytest.mark.parametrize("name", list(REDUCTIONS))
@given(data=st.data())
def test_sum_and_mean_match_finite_differences(name, data):
    fn, ref = REDUCTIONS[name]
    shape = data.draw(shapes(min_dims=0), label="shape")
    x = data.draw(arrays(shape), label="x")
    axis = data.draw(axes(len(shape)), label="axis")
    keepdims = data.draw(st.booleans(), label="keepdims")
    out, (_vx,) = check_vjp(lambda v: fn(v, axis, keepdims), x)
    expected = ref(x, axis=axis, keepdims=keepdims)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(REDUCTIONS))
@given(x=FLOATS)
def test_sum_and_mean_of_a_python_float(name, x):
    fn, _ = REDUCTIONS[name]
    out, (vx,) = check_vjp(lambda v: fn(v, None, False), x)
    assert type(out.data) is float and out.data == x
    assert vx.grad == pytest.approx(cotangent(out.shape))


@given(data=st.data())
def test_max_matches_finite_differences(data):
    shape = data.draw(shapes(min_dims=0), label="shape")
    x = data.draw(distinct_arrays(shape), label="x")
    axis = data.draw(axes(len(shape)), label="axis")
    keepdims = data.draw(st.booleans(), label="keepdims")
    out, (vx,) = check_vjp(lambda v: v.max(axis=axis, keepdims=keepdims), x)
    expected = np.max(x, axis=axis, keepdims=keepdims)
    assert out.shape == np.shape(expected)
    np.testing.assert_array_equal(out.data, expected)
    # the gradient lands only on the arg-max elements
    if axis is None:
        assert np.count_nonzero(vx.grad) <= 1


def test_max_of_a_python_float():
    out, (_vx,) = check_vjp(lambda v: v.max(), 1.5)
    assert out.data == 1.5 and type(out.data) is float


def test_max_shares_the_gradient_among_ties():
    x = Value(np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]))
    x.max(axis=1).backward(grad=np.array([1.0, 6.0]))
    np.testing.assert_allclose(x.grad, [[0.0, 0.5, 0.5], [2.0, 2.0, 2.0]])
    y = Value(np.array([5.0, 1.0, 5.0, 5.0]))
    y.max().backward()
    np.testing.assert_allclose(y.grad, [1 / 3, 0.0, 1 / 3, 1 / 3])


def _reshape_targets(shape):
    size = int(np.prod(shape))
    return [shape[::-1], (size,), (1, size), (size, 1), (-1,), (1, -1, 1), ()] if size == 1 else \
        [shape[::-1], (size,), (1, size), (size, 1), (-1,), (1, -1, 1)]


@given(data=st.data())
def test_reshape_matches_finite_differences(data):
    shape = data.draw(shapes(min_dims=0), label="shape")
    x = data.draw(arrays(shape), label="x")
    target = data.draw(st.sampled_from(_reshape_targets(shape)), label="target")
    as_varargs = data.draw(st.booleans(), label="varargs")
    fn = (lambda v: v.reshape(*target)) if as_varargs else (lambda v: v.reshape(target))
    out, (_vx,) = check_vjp(fn, x)
    np.testing.assert_array_equal(out.data, x.reshape(target))


def test_reshape_gradient_follows_element_order():
    x = Value(np.arange(6.0).reshape(2, 3))
    y = x.reshape(3, 2)
    np.testing.assert_array_equal(y.data, [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    y.backward(grad=np.array([[10.0, 11.0], [12.0, 13.0], [14.0, 15.0]]))
    np.testing.assert_array_equal(x.grad, [[10.0, 11.0, 12.0], [13.0, 14.0, 15.0]])
    z = Value(np.arange(24.0).reshape(2, 3, 4))
    z.reshape(4, 6).backward(grad=np.arange(24.0).reshape(4, 6) * 2)
    np.testing.assert_array_equal(z.grad, np.arange(24.0).reshape(2, 3, 4) * 2)


def test_reshape_of_a_python_float():
    out, (vx,) = check_vjp(lambda v: v.reshape(1, 1) * np.array([[3.0]]), 2.0)
    assert out.shape == (1, 1)
    assert type(vx.grad) is float


@pytest.mark.parametrize("via", ["method", "property"])
@given(x=operands(FLOATS))
def test_transpose_matches_finite_differences(via, x):
    fn = (lambda v: v.transpose()) if via == "method" else (lambda v: v.T)
    out, (_vx,) = check_vjp(fn, x)
    np.testing.assert_array_equal(out.data, np.transpose(x))


def _index_strategy(shape):
    n = shape[0]
    idx = st.integers(-n, n - 1)
    options = [
        idx,                                                                # integer
        st.slices(n),                                                       # slice
        st.lists(idx, min_size=1, max_size=6),                              # fancy, repeats allowed
        hnp.arrays(np.bool_, (n,)),                                         # boolean mask
        st.just(Ellipsis),
    ]
    if len(shape) >= 2:
        options.append(st.tuples(idx, st.slices(shape[1])))                 # (int, slice)
        options.append(st.tuples(st.just(Ellipsis), st.integers(-shape[-1], shape[-1] - 1)))
    return st.one_of(*options)


@given(data=st.data())
def test_getitem_matches_finite_differences(data):
    shape = data.draw(shapes(min_dims=1), label="shape")
    x = data.draw(arrays(shape), label="x")
    index = data.draw(_index_strategy(shape), label="index")
    out, (_vx,) = check_vjp(lambda v: v[index], x)
    np.testing.assert_array_equal(out.data, x[index])


def test_getitem_repeated_indices_add_up():
    x = Value(np.array([10.0, 20.0, 30.0, 40.0]))
    y = x[[0, 0, 2, 0, -1]]
    np.testing.assert_array_equal(y.data, [10.0, 10.0, 30.0, 10.0, 40.0])
    y.backward(grad=np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    np.testing.assert_array_equal(x.grad, [7.0, 0.0, 3.0, 5.0])


@pytest.mark.parametrize("name", ["log_softmax", "softmax"])
@given(data=st.data())
def test_softmax_family_matches_finite_differences(name, data):
    shape = data.draw(shapes(min_dims=1), label="shape")
    x = data.draw(arrays(shape, -5, 5), label="x")
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    out, (_vx,) = check_vjp(lambda v: getattr(v, name)(axis=axis), x)
    log_ref = x - np.log(np.sum(np.exp(x), axis=axis, keepdims=True))
    ref = log_ref if name == "log_softmax" else np.exp(log_ref)
    np.testing.assert_allclose(out.data, ref, rtol=1e-10, atol=1e-12)
    probs = np.exp(out.data) if name == "log_softmax" else out.data
    np.testing.assert_allclose(probs.sum(axis=axis), 1.0, rtol=1e-12)
    # shift invariance: a huge offset changes nothing (stability)
    shifted = getattr(Value(x + 1000.0, requires_grad=False), name)(axis=axis)
    np.testing.assert_allclose(shifted.data, out.data, rtol=1e-9, atol=1e-9)


def test_softmax_default_axis_is_last():
    x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    s = Value(x).softmax()
    np.testing.assert_allclose(s.data.sum(axis=1), [1.0, 1.0])
    np.testing.assert_allclose(s.data[1], [1 / 3] * 3)
    np.testing.assert_allclose(Value(x).log_softmax().data, np.log(s.data))


@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("with_bias", [True, False])
@given(data=st.data())
def test_linear_matches_finite_differences(batched, with_bias, data):
    m, n_in, n_out = data.draw(st.tuples(*[st.integers(1, 4)] * 3), label="m, n_in, n_out")
    x = data.draw(arrays((m, n_in) if batched else (n_in,)), label="x")
    w = data.draw(arrays((n_out, n_in)), label="w")
    if with_bias:
        b = data.draw(arrays((n_out,)), label="b")
        out, _ = check_vjp(lambda xv, wv, bv: linear(xv, wv, bv), x, w, b)
        expected = x @ w.T + b
    else:
        out, _ = check_vjp(lambda xv, wv: linear(xv, wv), x, w)
        expected = x @ w.T
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)
    assert out.shape == expected.shape


@given(data=st.data())
def test_composite_expression_matches_finite_differences(data):
    """A small network-like composition mixing many ops, scalars and broadcasting."""
    m, n = data.draw(st.tuples(st.integers(1, 3), st.integers(1, 4)), label="m, n")
    x = data.draw(arrays((m, n), elements=AWAY_FROM_ZERO), label="x")  # x.relu() below: keep off the kink
    w = data.draw(arrays((n,)), label="w")
    c = data.draw(FLOATS, label="c")

    def fn(xv, wv, cv):
        h = (xv * wv + cv).tanh()
        z = h.sigmoid() @ wv.exp() + (h ** 2.0).mean(axis=1) - (xv.relu() + 1.0).log().sum(axis=-1)
        return z.log_softmax(axis=0).sum() / (2.0 + cv * cv)

    check_vjp(fn, x, w, c)


# ---------------------------------------------------------------------------------------------------
# 2. Dtypes
# ---------------------------------------------------------------------------------------------------
_X32 = np.array([[0.5, 1.5, 2.0], [1.0, 0.75, 1.25]], dtype=np.float32)
_Y32 = np.array([0.25, 1.0, 1.75], dtype=np.float32)
_W32 = np.array([[0.5, -1.0, 0.25], [1.0, 2.0, -0.5], [0.1, 0.2, 0.3], [1.0, 1.0, 1.0]], dtype=np.float32)
_B32 = np.array([0.5, -0.5, 1.0, 0.0], dtype=np.float32)

FLOAT32_OPS = {
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y,
    "div": lambda x, y: x / y,
    "pow_value": lambda x, y: x ** y,
    "pow_number": lambda x, y: x ** 2.5 + y ** -1.0,
    "rpow": lambda x, y: 2.0 ** x + y,
    "python_scalar_mix": lambda x, y: 2.0 * x - 1.5 + y / 3.0,
    "neg": lambda x, y: -x + y,
    "matmul": lambda x, y: x @ y,
    "exp": lambda x, y: x.exp() + y,
    "log": lambda x, y: x.log() + y,
    "tanh": lambda x, y: x.tanh() + y,
    "sigmoid": lambda x, y: x.sigmoid() + y,
    "relu": lambda x, y: x.relu() + y,
    "sum": lambda x, y: x.sum(axis=0) + y,
    "sum_all": lambda x, y: x.sum() + y,
    "mean": lambda x, y: x.mean(axis=-1, keepdims=True) + y,
    "mean_all": lambda x, y: x.mean() + y,
    "max": lambda x, y: x.max(axis=0) + y,
    "max_all": lambda x, y: x.max() + y,
    "reshape": lambda x, y: x.reshape(3, 2).T + y,
    "getitem": lambda x, y: x[1] + y[[0, 0, 2]],
    "log_softmax": lambda x, y: x.log_softmax(axis=1) + y,
    "softmax": lambda x, y: x.softmax(axis=0) + y,
    "linear": lambda x, y: linear(x, Value(_W32[:, :3]), Value(_B32)) + y.sum(),
}


@pytest.mark.parametrize("name", list(FLOAT32_OPS))
def test_float32_stays_float32_through_ops_and_grads(name):
    x, y = Value(_X32), Value(_Y32)
    out = FLOAT32_OPS[name](x, y)
    assert out.dtype == np.float32, f"{name}: output dtype {out.dtype}"
    assert isinstance(out.data, np.ndarray) and out.data.dtype == np.float32
    out.backward(grad=np.ones(out.shape, dtype=np.float32))
    for leaf in (x, y):
        assert leaf.grad is not None
        assert isinstance(leaf.grad, np.ndarray) and leaf.grad.dtype == np.float32, f"{name}: {leaf.grad!r}"
        assert leaf.grad.shape == leaf.shape
        assert np.all(np.isfinite(leaf.grad))


def test_float32_grad_mixed_with_float64_is_cast_back():
    x = Value(_Y32)
    y = Value(np.array([1.0, 2.0, 3.0]))  # float64
    out = x * y
    assert out.dtype == np.float64  # numpy promotion
    out.sum().backward()
    assert x.grad.dtype == np.float32 and y.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad, [1.0, 2.0, 3.0])


def test_float32_leaf_grad_matches_float64_reference():
    x32, x64 = Value(_X32), Value(_X32.astype(np.float64))
    for v in (x32, x64):
        (v.tanh() * v.exp()).softmax(axis=1).max(axis=1).sum().backward()
    np.testing.assert_allclose(x32.grad, x64.grad, rtol=1e-4, atol=1e-6)


SCALAR_OPS = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b, "pow": lambda a, b: a ** b, "neg": lambda a, b: -a + b,
    "radd": lambda a, b: 1.0 + a * b, "rsub": lambda a, b: 2.0 - a * b, "rmul": lambda a, b: 3 * a + b,
    "rdiv": lambda a, b: 1.0 / a + b, "rpow": lambda a, b: 2 ** a + b, "pow_num": lambda a, b: a ** 3 + b,
    "exp": lambda a, b: a.exp() * b, "log": lambda a, b: a.log() * b, "tanh": lambda a, b: a.tanh() * b,
    "sigmoid": lambda a, b: a.sigmoid() * b, "relu": lambda a, b: a.relu() * b,
    "sum": lambda a, b: a.sum() * b, "mean": lambda a, b: a.mean() * b, "max": lambda a, b: a.max() * b,
    "T": lambda a, b: a.T * b,
}


@pytest.mark.parametrize("name", list(SCALAR_OPS))
def test_python_float_scalars_stay_python_floats(name):
    a, b = Value(1.5), Value(0.75)
    assert type(a.data) is float
    out = SCALAR_OPS[name](a, b)
    assert type(out.data) is float, f"{name}: {type(out.data)}"
    out.backward()
    assert type(a.grad) is float and type(b.grad) is float


@pytest.mark.parametrize("raw, expected_type", [
    (3, float), (True, float), (np.int64(4), float), (np.float64(2.5), float), (2.5, float),
])
def test_python_and_numpy_numbers_become_python_floats(raw, expected_type):
    v = Value(raw)
    assert type(v.data) is expected_type and v.data == float(raw)
    assert v.dtype == np.float64 and v.shape == ()


@pytest.mark.parametrize("raw", [np.array([1, 2, 3]), np.array([[1, 2]], dtype=np.int8), [1, 2],
                                 np.array([True, False]), np.array([1, 2], dtype=np.uint16)])
def test_integer_and_bool_arrays_become_float64(raw):
    v = Value(raw)
    assert isinstance(v.data, np.ndarray) and v.data.dtype == np.float64
    np.testing.assert_array_equal(v.data, np.asarray(raw, dtype=np.float64))
    (v * 2).sum().backward()
    assert v.grad.dtype == np.float64


def test_float_arrays_keep_their_dtype_and_leaves_own_a_copy():
    raw = np.array([1.0, 2.0], dtype=np.float32)
    v = Value(raw)
    assert v.dtype == np.float32
    raw[0] = 99.0
    assert v.data[0] == 1.0  # a leaf that requires a gradient owns its data


def test_sum_of_float64_array_is_a_python_float():
    out = Value(np.array([1.0, 2.0, 3.5])).sum()
    assert type(out.data) is float and out.data == 6.5
    out32 = Value(np.array([1.0, 2.0], dtype=np.float32)).sum()
    assert out32.dtype == np.float32


# ---------------------------------------------------------------------------------------------------
# 3. Graph semantics
# ---------------------------------------------------------------------------------------------------
def test_million_deep_scalar_chain_backward():
    n, c = 1_000_000, 1.000001
    x = Value(1.0)
    y = x
    t0 = time.process_time()  # this process's CPU time: another process's load does not count
    for _ in range(n):
        y = y * c
    y.backward()
    elapsed = time.process_time() - t0
    assert x.grad == pytest.approx(c ** n, rel=1e-8)  # ≈ e
    assert y.data == pytest.approx(c ** n, rel=1e-8)
    del y
    gc.collect()  # tearing down a million-deep chain must not overflow the C stack
    assert elapsed < 60


def test_reused_node_a_plus_a():
    a = Value(3.0)
    b = a + a
    b.backward()
    assert a.grad == 2.0


def test_reused_node_a_times_a():
    a = Value(-3.0)
    b = a * a
    b.backward()
    assert b.data == 9.0 and a.grad == -6.0


def test_reused_tensor_node_x_plus_x_and_broadcast_with_itself():
    x = Value(np.array([[1.0], [2.0], [3.0]]))
    (x + x).sum().backward()
    np.testing.assert_array_equal(x.grad, [[2.0], [2.0], [2.0]])
    x.zero_grad()
    (x * x.T).sum().backward()  # (3,1) * (1,3): ∂/∂x_i Σ_jk x_j x_k = 2 Σ x
    np.testing.assert_allclose(x.grad, np.full((3, 1), 2 * 6.0))


def test_micrograd_issue_2_example():
    a, b = Value(-2.0), Value(3.0)
    d = a * b
    e = a + b
    f = d * e
    f.backward()
    # ∂f/∂a = b e + d = 3·1 + (−6) ; ∂f/∂b = a e + d = −2·1 + (−6)
    assert a.grad == pytest.approx(-3.0)
    assert b.grad == pytest.approx(-8.0)
    assert d.grad == pytest.approx(1.0) and e.grad == pytest.approx(-6.0)


def test_node_feeding_three_ops():
    x = Value(0.7)
    h = x * x  # h feeds three ops below
    y = h * 3.0 + h.exp() + h.tanh()
    y.backward()
    hv = 0.49
    dh = 3.0 + math.exp(hv) + (1 - math.tanh(hv) ** 2)
    assert h.grad == pytest.approx(dh)
    assert x.grad == pytest.approx(dh * 2 * 0.7)


def test_backward_twice_accumulates_leaves_not_intermediates():
    x = Value(np.array([1.0, 2.0]))
    w = Value(3.0)
    z = x * w
    loss = (z * z).sum()
    loss.backward()
    x1, w1, z1 = x.grad.copy(), w.grad, z.grad.copy()
    np.testing.assert_allclose(z1, 2 * z.data)
    np.testing.assert_allclose(x1, 2 * z.data * 3.0)
    loss.backward()
    np.testing.assert_allclose(x.grad, 2 * x1)  # leaves accumulate
    assert w.grad == pytest.approx(2 * w1)
    np.testing.assert_allclose(z.grad, z1)  # intermediates are recomputed, not doubled
    assert loss.grad == 1.0
    x.zero_grad()
    assert x.grad is None


def test_intermediate_grads_are_kept():
    x = Value(np.array([1.0, -2.0, 0.5]))
    z = x * 2.0
    a = z.tanh()
    loss = a.sum()
    loss.backward()
    np.testing.assert_allclose(a.grad, np.ones(3))
    np.testing.assert_allclose(z.grad, 1 - np.tanh(z.data) ** 2)
    np.testing.assert_allclose(x.grad, 2 * z.grad)


def test_constants_get_no_grad():
    c = Value(np.array([1.0, 2.0]), requires_grad=False)
    raw = np.array([3.0, 4.0])
    x = Value(np.array([0.5, 0.25]))
    out = (x * c + raw * x - c / raw).sum()
    out.backward()
    assert c.grad is None
    assert not c.requires_grad and c.is_leaf
    np.testing.assert_allclose(x.grad, c.data + raw)
    # an op none of whose inputs needs a gradient is a constant too
    k = c * 2.0 + raw
    assert not k.requires_grad and k.grad is None
    with pytest.raises(RuntimeError, match="does not require a gradient"):
        k.sum().backward()


def test_no_grad_makes_constants_and_backward_raises():
    x = Value(np.array([1.0, 2.0]))
    assert is_grad_enabled()
    with no_grad():
        assert not is_grad_enabled()
        y = (x * 2.0).exp().sum()
    assert is_grad_enabled()
    assert not y.requires_grad
    with pytest.raises(RuntimeError, match="backward"):
        y.backward()
    assert x.grad is None
    # after the block the graph is built again
    z = (x * 2.0).sum()
    assert z.requires_grad
    z.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])


def test_no_grad_restores_state_after_an_exception_and_nests():
    with pytest.raises(ZeroDivisionError), no_grad():
        _ = 1 / 0
    assert is_grad_enabled()
    with no_grad():
        with no_grad():
            pass
        assert not is_grad_enabled()
    assert is_grad_enabled()


def test_detach_cuts_the_graph():
    x = Value(np.array([2.0, 3.0]))
    d = x.detach()
    assert not d.requires_grad and d.grad is None and d.is_leaf
    np.testing.assert_array_equal(d.data, x.data)
    (d * x).sum().backward()
    np.testing.assert_array_equal(x.grad, d.data)  # not 2x: d is a constant
    assert d.grad is None
    # detaching an intermediate
    x.zero_grad()
    y = x * x
    (y.detach() * x).sum().backward()
    np.testing.assert_array_equal(x.grad, y.data)


def test_non_scalar_backward_needs_grad():
    x = Value(np.array([1.0, 2.0]))
    y = x * 2.0
    with pytest.raises(ValueError, match=r"\(2,\)"):
        y.backward()
    for bad in (np.ones(3), np.ones((2, 1)), np.ones((1, 2)), 1.0):
        with pytest.raises(ValueError, match=r"grad has shape .* the output has shape \(2,\)"):
            y.backward(grad=bad)
    assert x.grad is None


def test_one_element_array_backward_without_grad():
    x = Value(np.array([[2.0]]))
    y = x * x
    y.backward()
    np.testing.assert_array_equal(x.grad, [[4.0]])


@given(data=st.data())
def test_backward_with_explicit_grad_is_the_vector_jacobian_product(data):
    n, m = data.draw(st.tuples(st.integers(1, 4), st.integers(1, 4)), label="n, m")
    W = data.draw(arrays((m, n)), label="W")
    x0 = data.draw(arrays((n,)), label="x")
    v = data.draw(arrays((m,)), label="v")
    x, Wv = Value(x0), Value(W)
    (Wv @ x).backward(grad=v)
    np.testing.assert_allclose(x.grad, W.T @ v, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(Wv.grad, np.outer(v, x0), rtol=1e-12, atol=1e-12)
    # non-linear: J of tanh is diagonal, so the VJP is v ⊙ (1 − tanh²)
    x2 = Value(np.resize(x0, m))
    x2.tanh().backward(grad=v)
    np.testing.assert_allclose(x2.grad, v * (1 - np.tanh(np.resize(x0, m)) ** 2), rtol=1e-12, atol=1e-12)


def test_backward_of_a_leaf_itself():
    x = Value(np.array([1.0, 2.0]))
    x.backward(grad=np.array([3.0, 4.0]))
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])


def test_op_symbols_and_prev():
    x, y = Value(2.0), Value(3.0)
    z = x * y + x
    assert z.op == "+" and not z.is_leaf
    assert len(z._prev) == 2 and z._prev[1] is x
    assert z._prev[0].op == "×" and z._prev[0]._prev == (x, y)
    assert x.op == "" and x.is_leaf and x._prev == ()
    c = Value(2.0, requires_grad=False) * 3.0  # a constant keeps no inputs
    assert c._prev == () and c.is_leaf


# ---------------------------------------------------------------------------------------------------
# 4. numpy interop
# ---------------------------------------------------------------------------------------------------
def test_ndarray_times_value_is_a_value():
    a = np.array([1.0, 2.0, 3.0])
    v = Value(np.array([0.5, -1.0, 2.0]))
    out = a * v
    assert isinstance(out, Value) and out.data.dtype == np.float64
    out.sum().backward()
    np.testing.assert_array_equal(v.grad, a)


def test_ndarray_plus_value_is_a_value():
    a = np.array([[1.0], [2.0]])
    v = Value(np.array([0.5, -1.0, 2.0]))
    out = a + v
    assert isinstance(out, Value) and out.shape == (2, 3)
    out.sum().backward()
    np.testing.assert_array_equal(v.grad, [2.0, 2.0, 2.0])


def test_ndarray_matmul_value_is_a_value():
    A = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    v = Value(np.array([0.5, -1.0]))
    out = A @ v
    assert isinstance(out, Value)
    np.testing.assert_allclose(out.data, A @ v.data)
    g = np.array([1.0, -1.0, 2.0])
    out.backward(grad=g)
    np.testing.assert_allclose(v.grad, A.T @ g)


def test_ndarray_minus_and_divide_and_pow_value():
    a = np.array([2.0, 4.0])
    v = Value(np.array([1.0, 2.0]))
    for out, grad in [(a - v, [-1.0, -1.0]), (a / v, -a / v.data ** 2), (a ** v, a ** v.data * np.log(a))]:
        assert isinstance(out, Value)
        v.zero_grad()
        out.sum().backward()
        np.testing.assert_allclose(v.grad, grad)


def test_number_minus_value_and_number_pow_value():
    v = Value(0.5)
    out = 2.0 - v
    assert isinstance(out, Value) and out.data == 1.5
    out.backward()
    assert v.grad == -1.0
    v.zero_grad()
    out = 2 ** v
    assert isinstance(out, Value) and out.data == pytest.approx(math.sqrt(2))
    out.backward()
    assert v.grad == pytest.approx(math.sqrt(2) * math.log(2))
    v.zero_grad()
    out = 3 * v + 1 - 4 / v
    assert isinstance(out, Value)
    out.backward()
    assert v.grad == pytest.approx(3 + 4 / 0.25)


def test_numpy_scalars_on_the_left():
    v = Value(np.array([1.0, 2.0]))
    out = np.float64(2.0) * v
    assert isinstance(out, Value)
    out.sum().backward()
    np.testing.assert_array_equal(v.grad, [2.0, 2.0])


# ---------------------------------------------------------------------------------------------------
# 5. Numerics at extreme inputs: exact values, finite gradients, no warnings
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("z, s", [(1000.0, 1.0), (-1000.0, 0.0), (0.0, 0.5), (745.0, 1.0), (-745.0, 0.0)])
def test_sigmoid_scalar_saturates_without_warnings(z, s):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = Value(z)
        y = x.sigmoid()
        y.backward()
    assert y.data == pytest.approx(s, abs=1e-300)
    assert math.isfinite(x.grad) and x.grad == pytest.approx(s * (1 - s), abs=1e-300)


def test_sigmoid_tensor_saturates_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for dtype in (np.float64, np.float32):
            x = Value(np.array([-1000.0, 0.0, 1000.0], dtype=dtype))
            y = x.sigmoid()
            y.sum().backward()
            np.testing.assert_array_equal(y.data, np.array([0.0, 0.5, 1.0], dtype=dtype))
            np.testing.assert_array_equal(x.grad, np.array([0.0, 0.25, 0.0], dtype=dtype))
            assert y.dtype == dtype


def test_tanh_saturates_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for z, t in [(1000.0, 1.0), (-1000.0, -1.0)]:
            x = Value(z)
            y = x.tanh()
            y.backward()
            assert y.data == t and x.grad == 0.0
        x = Value(np.array([-1000.0, 1000.0]))
        y = x.tanh()
        y.sum().backward()
        np.testing.assert_array_equal(y.data, [-1.0, 1.0])
        np.testing.assert_array_equal(x.grad, [0.0, 0.0])


def test_exp_overflow_gives_inf_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = Value(1000.0).exp()
        assert y.data == math.inf and type(y.data) is float
        t = Value(np.array([1000.0, 0.0])).exp()
        assert t.data[0] == np.inf and t.data[1] == 1.0
        assert Value(-1000.0).exp().data == 0.0


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family_finite_at_extremes(name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = Value(np.array([1000.0, 0.0, -1000.0]))
        y = getattr(x, name)()
        assert np.all(np.isfinite(y.data))
        y.backward(grad=np.array([1.0, -2.0, 0.5]))
        assert np.all(np.isfinite(x.grad))
    if name == "softmax":
        np.testing.assert_allclose(y.data, [1.0, 0.0, 0.0], atol=1e-300)
    else:
        np.testing.assert_allclose(y.data, [0.0, -1000.0, -2000.0])
    np.testing.assert_allclose((np.exp(y.data) if name == "log_softmax" else y.data).sum(), 1.0)


def test_log_softmax_stable_for_huge_equal_rows():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = Value(np.array([[1e300, 1e300], [-1e300, -1e300]])).log_softmax(axis=1)
    np.testing.assert_allclose(y.data, np.full((2, 2), -math.log(2)))


# ---------------------------------------------------------------------------------------------------
# 6. Errors
# ---------------------------------------------------------------------------------------------------
def test_matmul_error_names_both_shapes():
    with pytest.raises(ValueError) as exc:
        Value(np.ones((2, 3))) @ Value(np.ones((2, 3)))
    assert "matmul" in str(exc.value) and str(exc.value).count("(2, 3)") == 2


def test_matmul_of_scalars_is_rejected():
    with pytest.raises(ValueError, match="matmul"):
        Value(2.0) @ Value(np.ones(2))
    with pytest.raises(ValueError, match="matmul"):
        Value(np.ones(2)) @ 3.0


@pytest.mark.parametrize("op, name, symbol", [(operator.add, "add", "+"), (operator.sub, "sub", "-"),
                                              (operator.mul, "mul", "*"), (operator.truediv, "div", "/"),
                                              (operator.pow, "pow", "**")])
def test_broadcasting_error_names_op_and_shapes(op, name, symbol):
    with pytest.raises(ValueError) as exc:
        op(Value(np.ones((2, 3))), Value(np.ones(4)))
    msg = str(exc.value)
    assert name in msg and "(2, 3)" in msg and "(4,)" in msg and symbol in msg


@pytest.mark.parametrize("bad, fragment", [
    ("a", "str"), (None, "None"), (b"x", "bytes"),
    (np.array([1 + 2j]), "complex"), (1 + 2j, "complex"),
    (np.array([object()], dtype=object), "object"),
    (np.array(["x"]), "<U1"),
])
def test_non_real_data_raises_type_error_naming_it(bad, fragment):
    with pytest.raises(TypeError) as exc:
        Value(bad)
    assert fragment in str(exc.value)


def test_ragged_list_raises_type_error():
    with pytest.raises(TypeError, match="Value"):
        Value([[1.0, 2.0], [3.0]])


def test_reshape_to_wrong_size():
    with pytest.raises(ValueError) as exc:
        Value(np.ones((2, 3))).reshape(4, 2)
    assert "reshape" in str(exc.value) and "(2, 3)" in str(exc.value) and "(4, 2)" in str(exc.value)


@pytest.mark.parametrize("call", [
    lambda v: v.sum(axis=2), lambda v: v.sum(axis=-3), lambda v: v.mean(axis=5), lambda v: v.max(axis=2),
    lambda v: v.sum(axis=(0, 2)), lambda v: v.softmax(axis=2), lambda v: v.log_softmax(axis=-3),
    lambda v: v.mean(axis=(1, -4)),
])
def test_axis_out_of_range(call):
    with pytest.raises(ValueError, match="out of range"):
        call(Value(np.ones((2, 3))))


def test_index_errors():
    with pytest.raises(IndexError, match=r"\(2, 3\)"):
        Value(np.ones((2, 3)))[5]
    with pytest.raises(TypeError, match="scalar"):
        Value(2.0)[0]


def test_linear_shape_errors():
    with pytest.raises(ValueError, match="linear"):
        linear(Value(np.ones((2, 4))), Value(np.ones((3, 5))))
    with pytest.raises(ValueError, match="bias"):
        linear(Value(np.ones((2, 5))), Value(np.ones((3, 5))), Value(np.ones(4)))


def test_backward_through_step_raises():
    x = Value(np.array([-1.0, 2.0]))
    y = (x.step() * x).sum()
    np.testing.assert_array_equal(x.step().data, [0.0, 1.0])
    with pytest.raises(RuntimeError, match="step") as exc:
        y.backward()
    assert "sigmoid" in str(exc.value)  # the message says what to use instead
    with pytest.raises(RuntimeError, match="step"):
        Value(0.5).step().backward()


def test_step_of_a_constant_is_fine():
    x = Value(np.array([-1.0, 2.0]))
    c = Value(np.array([3.0, -4.0]), requires_grad=False)
    (c.step() * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 0.0])


def test_detect_anomaly_names_the_op():
    x = Value(np.array([0.0, 1.0]))
    with np.errstate(divide="ignore"):
        y = x.log().sum()
        with detect_anomaly(), pytest.raises(FloatingPointError) as exc:
            y.backward()
    assert "log" in str(exc.value)
    # without detect_anomaly the non-finite gradient simply propagates
    x.zero_grad()
    with np.errstate(divide="ignore"):
        y.backward()
    assert np.isinf(x.grad[0]) and x.grad[1] == 1.0


def test_detect_anomaly_names_a_mid_graph_op_and_is_restored():
    x = Value(np.array([1.0, 2.0]))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (x - 1.0) ** 0.5  # d/dx at x=1 is inf
        loss = (z * 2.0).sum()
        with detect_anomaly(), pytest.raises(FloatingPointError, match=r"\*\*"):
            loss.backward()
        loss.backward()  # outside the block: no error
    assert np.isinf(x.grad[0])


# ---- regressions: bugs found while writing these tests ---------------------------------------------
def test_sigmoid_of_a_0d_array_value():
    x = Value(np.array([0.5, -1.0]))
    y = x[0].sigmoid()
    assert float(y.data) == pytest.approx(1 / (1 + math.exp(-0.5)))
    assert Value(np.ones(3, np.float32)).sum().sigmoid().dtype == np.float32


def test_scalar_log_of_zero_backward_gives_inf_like_arrays():
    x = Value(0.0)
    y = x.log()
    y.backward()
    assert y.data == -math.inf and x.grad == math.inf
    with detect_anomaly(), pytest.raises(FloatingPointError, match="log"):
        Value(0.0).log().backward()


def test_scalar_division_by_zero_follows_ieee_like_arrays():
    assert (Value(1.0) / Value(0.0)).data == math.inf
    assert (Value(-1.0) / 0.0).data == -math.inf
    assert math.isnan((Value(0.0) / Value(0.0)).data)


def test_linear_accepts_a_raw_bias_as_a_constant():
    w = Value(np.ones((3, 2)))
    linear(np.ones(2), w, np.zeros(3)).sum().backward()
    np.testing.assert_array_equal(w.grad, np.ones((3, 2)))


def test_sum_and_max_of_a_python_float_check_the_axis():
    for op in (Value.sum, Value.max):
        with pytest.raises(ValueError, match="out of range"):
            op(Value(2.0), axis=5)

"""Fuzzing the public API with random, mostly invalid, inputs.

The contract checked everywhere: a bad input raises one of the documented exception types (ValueError,
TypeError, IndexError and their subclasses such as DataError; RuntimeError only for backward through `step`
or from a constant; FloatingPointError under detect_anomaly),
never a bare numpy internal error of another kind, and a shape error names a shape. A valid call on finite
inputs of moderate size returns finite results and, for the ops that promise it, emits no RuntimeWarning.
"""
from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_nn import Value, detect_anomaly, no_grad
from tinygrad_nn import backprop as bp
from tinygrad_nn.data import mini_batches, one_hot
from tinygrad_nn.nn import (
    ACTIVATIONS,
    MLP,
    cross_entropy_cost,
    log_likelihood_cost,
    quadratic_cost,
)
from tinygrad_nn.optim import SGD
from tinygrad_nn.testing import arrays, layer_sizes, shapes

ALLOWED = (ValueError, TypeError, IndexError)


def attempt(fn: Callable[[], Any], allowed: tuple[type[BaseException], ...] = ALLOWED) -> tuple[bool, Any]:
    """(True, result) or (False, exception) for an allowed exception; anything else propagates and fails."""
    try:
        return True, fn()
    except allowed as exc:
        return False, exc


class _Strict:
    def __enter__(self) -> None:
        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("error")

    def __exit__(self, *exc: object) -> None:
        self._w.__exit__(*exc)


def no_warnings() -> _Strict:
    return _Strict()


def finite(x: Any) -> bool:
    return bool(np.all(np.isfinite(np.asarray(x, dtype=np.float64))))


SHAPES = shapes(min_side=0)  # empty arrays included
SMALL_INTS = st.integers(-(2 ** 53), 2 ** 53)  # Python ints beyond float range: see the report (OverflowError)
SCALARS = st.one_of(st.none(), st.booleans(), SMALL_INTS, st.floats(), st.complex_numbers(max_magnitude=1e6),
                    st.text(max_size=3), st.binary(max_size=3))
NESTED = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3), max_leaves=8)
ARRAY_DTYPES = st.one_of(hnp.floating_dtypes(), hnp.integer_dtypes(), hnp.boolean_dtypes(),
                         hnp.complex_number_dtypes(), hnp.unicode_string_dtypes(max_len=2),
                         hnp.datetime64_dtypes())
RANDOM_ARRAYS = hnp.arrays(ARRAY_DTYPES, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3))
OBJECT_ARRAYS = st.lists(SCALARS, max_size=4).map(lambda items: np.array(items + [object()], dtype=object))
ANY_DATA = st.one_of(SCALARS, NESTED, RANDOM_ARRAYS, OBJECT_ARRAYS, st.just([]), st.just([[], []]),
                     st.just(np.empty((0, 3))), st.just([[1.0, 2.0], [3.0]]), st.just([1, [2, 3]]))


# ---- Value(...) ----------------------------------------------------------------------------------------
def _expected_array(obj: Any) -> np.ndarray | None:
    """What Value should hold for `obj` (None where Value must refuse it)."""
    if isinstance(obj, (str, bytes)) or obj is None:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = np.asarray(obj)
    except (ValueError, TypeError):
        return None
    return arr if arr.dtype.kind in "fiub" else None


@given(ANY_DATA, st.booleans())
def test_value_accepts_real_numbers_and_refuses_the_rest_with_type_error(obj: Any, requires_grad: bool) -> None:
    ok, v = attempt(lambda: Value(obj, requires_grad=requires_grad))
    expected = _expected_array(obj)
    if expected is None:
        assert not ok, f"Value({obj!r}) was accepted"
        assert isinstance(v, TypeError) and str(v).startswith("Value:")
        return
    assert ok, f"Value({obj!r}) refused: {v!r}"
    assert v.dtype.kind == "f"
    assert v.shape == expected.shape
    if isinstance(obj, (bool, int, float)):
        assert type(v.data) is float
    elif expected.dtype.kind == "f":
        assert v.dtype == expected.dtype
    else:
        assert v.dtype == np.float64
    with np.errstate(all="ignore"):
        assert np.array_equal(np.asarray(v.data), expected.astype(v.dtype), equal_nan=True)
    assert v.requires_grad is requires_grad


# ---- binary ops -----------------------------------------------------------------------------------------
BINARY = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
          "div": lambda a, b: a / b, "pow": lambda a, b: a ** b}


@st.composite
def operand(draw: st.DrawFn) -> Value:
    if draw(st.integers(0, 5)) == 0:
        return Value(draw(st.floats(0.5, 2.0)))  # a Python-float scalar Value
    shape = draw(SHAPES)
    return Value(draw(arrays(shape, 0.5, 2.0)))


@given(operand(), operand(), st.sampled_from(sorted(BINARY)), st.booleans())
def test_binary_ops_broadcast_or_name_the_shapes(a: Value, b: Value, name: str, raw_right: bool) -> None:
    op = BINARY[name]
    right: Any = b.data if raw_right else b  # a raw number/array on the right becomes a constant
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        shape = None
    with no_warnings():
        ok, out = attempt(lambda: op(a, right))
    if shape is None:
        assert not ok and isinstance(out, ValueError), out
        assert str(a.shape) in str(out) or str(b.shape) in str(out), str(out)
        return
    assert ok, out
    assert out.shape == shape
    expected = op(np.asarray(a.data), np.asarray(b.data))
    assert np.allclose(out.data, expected) and finite(out.data)
    with no_warnings():
        out.backward(np.ones(shape) if shape else 1.0)
    assert np.shape(a.grad) == a.shape and finite(a.grad)
    if not raw_right:
        assert np.shape(b.grad) == b.shape and finite(b.grad)


@given(SHAPES, ANY_DATA, st.sampled_from(sorted(BINARY) + ["matmul"]), st.booleans(), st.data())
def test_binary_ops_with_arbitrary_python_objects(shape: tuple, other: Any, name: str, reflected: bool,
                                                   data: st.DataObject) -> None:
    v = Value(data.draw(arrays(shape, 0.5, 2.0)))
    op = (lambda a, b: a @ b) if name == "matmul" else BINARY[name]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ok, out = attempt(lambda: op(other, v) if reflected else op(v, other),
                          allowed=ALLOWED)
    if ok:
        assert isinstance(out, Value) and out.dtype.kind == "f"
        assert _expected_array(other) is not None  # only real numbers combine with a Value
    elif _expected_array(other) is None:
        assert isinstance(out, TypeError) and str(out).startswith("Value:"), out


@given(SHAPES, SHAPES, st.data())
def test_matmul_shapes_and_gradients(sa: tuple, sb: tuple, data: st.DataObject) -> None:
    A = data.draw(arrays(sa))
    B = data.draw(arrays(sb))
    a, b = Value(A), Value(B)
    try:
        expected = np.matmul(A, B)
    except ValueError:
        expected = None
    with no_warnings():
        ok, out = attempt(lambda: a @ b)
    if expected is None:
        assert not ok and isinstance(out, ValueError), out
        assert str(sa) in str(out) and str(sb) in str(out), str(out)
        return
    assert ok, out
    assert out.shape == expected.shape and np.allclose(out.data, expected)
    R = data.draw(arrays(expected.shape))
    loss = (out * R).sum()
    loss.backward()
    # the loss is linear in each operand, so the gradient is the loss of each unit matrix
    grad_a = np.array([np.sum(R * np.matmul(np.eye(A.size)[i].reshape(sa), B)) for i in range(A.size)]).reshape(sa)
    grad_b = np.array([np.sum(R * np.matmul(A, np.eye(B.size)[i].reshape(sb))) for i in range(B.size)]).reshape(sb)
    assert np.allclose(a.grad, grad_a) and np.allclose(b.grad, grad_b)


# ---- reductions and reshape --------------------------------------------------------------------------
AXES = st.one_of(st.none(), st.integers(-4, 4), st.tuples(st.integers(-4, 4)),
                 st.lists(st.integers(-4, 4), max_size=3), st.floats(-3, 3), st.text(min_size=1, max_size=1), st.booleans())


def _numpy_reduce(op: str, x: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray | None:
    axis = tuple(axis) if isinstance(axis, list) else int(axis) if isinstance(axis, bool) else axis
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.asarray(getattr(np, op)(x, axis=axis, keepdims=keepdims))
    except (ValueError, TypeError, IndexError):
        return None


@given(SHAPES, AXES, st.booleans(), st.sampled_from(["sum", "mean", "max"]), st.data())
def test_reductions_with_random_axes(shape: tuple, axis: Any, keepdims: bool, op: str, data: st.DataObject) -> None:
    x = data.draw(arrays(shape))
    v = Value(x)
    with no_warnings():
        ok, out = attempt(lambda: getattr(v, op)(axis=axis, keepdims=keepdims))
    if isinstance(axis, (int, tuple, list)) and not isinstance(axis, bool):
        axes = (axis,) if isinstance(axis, int) else tuple(axis)
        if any(not -max(x.ndim, 1) <= a < x.ndim for a in axes) or (x.ndim == 0 and axes):
            assert not ok and isinstance(out, ValueError), out
            assert "axis" in str(out) or (op != "sum" and "empty" in str(out)), str(out)
    if not ok:
        return
    expected = _numpy_reduce(op, x, axis, keepdims)
    assert expected is not None, f"{op}(axis={axis!r}) of {shape} succeeded where numpy fails"
    assert out.shape == expected.shape
    assert np.allclose(out.data, expected) and finite(out.data)
    with no_warnings():
        out.backward(np.ones(out.shape) if out.shape else 1.0)
    assert v.grad.shape == x.shape and finite(v.grad)


@given(SHAPES, st.one_of(st.lists(st.integers(-2, 7), max_size=4).map(tuple),
                         st.lists(st.one_of(st.integers(-2, 7), st.floats(-2, 7), st.none(), st.text(min_size=1, max_size=1)),
                                  min_size=1, max_size=3).map(tuple)), st.booleans(), st.data())
def test_reshape_to_random_shapes(shape: tuple, target: tuple, as_tuple: bool, data: st.DataObject) -> None:
    x = data.draw(arrays(shape))
    v = Value(x)
    ok, out = attempt(lambda: v.reshape(target) if as_tuple else v.reshape(*target))
    try:
        expected = x.reshape(target)
    except (ValueError, TypeError):
        expected = None
    if expected is None:
        assert not ok, f"reshape {shape} -> {target} succeeded where numpy fails"
        if all(isinstance(t, int) for t in target):
            assert isinstance(out, ValueError) and str(shape) in str(out), out
        return
    assert ok, out
    assert out.shape == expected.shape and np.array_equal(out.data, expected)
    out.backward(np.ones(out.shape) if out.shape else 1.0)
    assert v.grad.shape == shape


# ---- elementwise functions: no overflow warnings, finite results ------------------------------------
UNARY = ["sigmoid", "tanh", "exp", "relu", "softmax", "log_softmax"]


@given(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), st.sampled_from([np.float64, np.float32]),
       st.sampled_from(UNARY), st.data())
def test_unary_ops_on_finite_inputs_are_finite_and_silent(shape: tuple, dtype: Any, name: str,
                                                          data: st.DataObject) -> None:
    bound = 80.0 if name == "exp" else 1e4  # exp(80) is finite in float32; the others must cope with anything
    x = data.draw(arrays(shape, -bound, bound, dtype=dtype))
    v = Value(x)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    with no_warnings():
        out = getattr(v, name)(axis=axis) if name in ("softmax", "log_softmax") else getattr(v, name)()
        assert out.shape == shape and out.dtype == np.dtype(dtype)
        assert finite(out.data)
        out.backward(np.ones(shape, dtype=dtype))
    assert finite(v.grad)
    y = np.asarray(out.data, dtype=np.float64)
    if name in ("sigmoid",):
        assert np.all((0 <= y) & (y <= 1))
    if name == "tanh":
        assert np.all(np.abs(y) <= 1)
    if name == "softmax":
        assert np.allclose(y.sum(axis=axis), 1.0, atol=1e-5)
    if name == "log_softmax":
        assert np.all(y <= 1e-6) and np.allclose(np.exp(y).sum(axis=axis), 1.0, atol=1e-5)


@given(st.floats(-1e4, 1e4), st.sampled_from(["sigmoid", "tanh", "exp", "relu"]))
def test_unary_ops_on_python_floats(x: float, name: str) -> None:
    assume(name != "exp" or abs(x) <= 700)
    v = Value(x)
    with no_warnings():
        out = getattr(v, name)()
        out.backward()
    assert type(out.data) is float and math.isfinite(out.data) and math.isfinite(v.grad)


@given(st.floats(-10, 10), st.floats(-10, 10))
def test_scalar_division_follows_ieee_like_numpy(a: float, b: float) -> None:
    out = Value(a) / Value(b)
    with np.errstate(all="ignore"):
        expected = float(np.float64(a) / np.float64(b))
    assert out.data == expected or (math.isnan(out.data) and math.isnan(expected))


@given(hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=4), st.sampled_from(["log", "recip", "sqrt"]),
       st.data())
def test_detect_anomaly_raises_floating_point_error_only(shape: tuple, name: str, data: st.DataObject) -> None:
    x = data.draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([-1.0, 0.0, 0.5, 2.0])))
    v = Value(x)
    fn = {"log": Value.log, "recip": lambda t: 1.0 / t, "sqrt": lambda t: t ** 0.5}[name]
    with np.errstate(all="ignore"), detect_anomaly():
        loss = fn(v).sum()
        ok, err = attempt(loss.backward, allowed=(FloatingPointError,))
    bad = np.any(x == 0) if name in ("log", "recip") else np.any(x <= 0)
    if ok:
        assert finite(v.grad)
        assert not bad or name == "log" and not np.any(x == 0)  # log of a negative: NaN forward, finite grad
    else:
        assert bad
        assert "detect_anomaly" in str(err) and {"log": "log", "recip": "÷", "sqrt": "**"}[name] in str(err)


@given(st.booleans(), st.booleans(), st.booleans(), hnp.array_shapes(min_dims=1, max_dims=2, max_side=3))
def test_backward_runtime_errors(use_step: bool, requires_grad: bool, under_no_grad: bool, shape: tuple) -> None:
    x = Value(np.full(shape, 0.5), requires_grad=requires_grad)
    if under_no_grad:
        with no_grad():
            loss = (x.step() if use_step else x.sigmoid()).sum()
    else:
        loss = (x.step() if use_step else x.sigmoid()).sum()
    ok, err = attempt(loss.backward, allowed=(RuntimeError,))
    if not requires_grad or under_no_grad:
        assert not ok and "does not require a gradient" in str(err)
    elif use_step:
        assert not ok and "step" in str(err)
    else:
        assert ok and x.grad.shape == shape


# ---- MLP ---------------------------------------------------------------------------------------------
SIZE_ITEMS = st.one_of(st.integers(-3, 6), st.floats(-3, 6), st.text(max_size=2), st.booleans(), st.none())
ACTIVATION_NAMES = st.one_of(st.sampled_from(list(ACTIVATIONS) + ["swish", "", "Sigmoid"]), st.text(max_size=4),
                             st.none(), st.integers(0, 2))
HIDDEN = [a for a in ACTIVATIONS if a != "softmax"]


@given(st.lists(SIZE_ITEMS, max_size=4), ACTIVATION_NAMES, ACTIVATION_NAMES)
def test_mlp_constructor(sizes: list, activation: Any, output_activation: Any) -> None:
    ok, net = attempt(lambda: MLP(sizes, activation=activation, output_activation=output_activation, seed=0))
    sizes_ok = len(sizes) >= 2 and all(type(s) is int and s > 0 for s in sizes)
    acts_ok = activation in HIDDEN and (output_activation or activation) in ACTIVATIONS
    assert ok == (sizes_ok and acts_ok), (sizes, activation, output_activation, net)
    if ok:
        assert net.sizes == sizes
        assert [layer.weight.shape for layer in net.layers] == list(zip(sizes[1:], sizes[:-1]))
    else:
        assert isinstance(net, ValueError)


MLP_INPUT_SHAPES = st.one_of(st.sampled_from([(0, 3), (3,), (2, 3), (), (4,), (2, 4), (1, 2, 3), (3, 0)]), SHAPES)


@given(MLP_INPUT_SHAPES, st.sampled_from(HIDDEN), st.sampled_from(list(ACTIVATIONS) + [None]),
       st.sampled_from([np.float64, np.float32, np.int64, np.bool_]), st.data())
def test_mlp_forward_on_random_shapes(shape: tuple, activation: str, output: str | None, dtype: Any,
                                      data: st.DataObject) -> None:
    net = MLP([3, 4, 2], activation=activation, output_activation=output, seed=1)
    if dtype in (np.float64, np.float32):
        x = data.draw(arrays(shape, -1e3, 1e3, dtype=dtype))
    else:
        x = data.draw(hnp.arrays(dtype, shape))
    valid = len(shape) in (1, 2) and shape[-1] == 3 and not (len(shape) == 2 and shape[0] == 0)
    with no_warnings():
        ok, out = attempt(lambda: net(x))
    if not valid:
        assert not ok and isinstance(out, ValueError), out
        assert str(shape) in str(out), str(out)
        return
    assert ok, out
    assert out.shape == shape[:-1] + (2,)
    y = np.asarray(out.data)
    if activation != "step" and (output or activation) not in ("identity", "relu"):
        assert finite(y)
    if (output or activation) in ("sigmoid", "softmax", "step"):
        assert np.all((0 <= y) & (y <= 1))
    if (output or activation) == "softmax":
        assert np.allclose(y.sum(axis=-1), 1.0)
    with no_warnings():
        predictions = net.predict(x)
    assert predictions.shape == (1 if len(shape) == 1 else shape[0],)
    assert np.all((0 <= predictions) & (predictions < 2))


# ---- costs -------------------------------------------------------------------------------------------
COSTS = {"quadratic": quadratic_cost, "cross-entropy": cross_entropy_cost, "log-likelihood": log_likelihood_cost}


@st.composite
def targets(draw: st.DrawFn, out_shape: tuple) -> np.ndarray:
    kind = draw(st.sampled_from(["labels", "onehot", "bool", "complex", "str", "random-shape-labels",
                                 "random-shape-float"]))
    k = out_shape[-1] if out_shape else 1
    if kind == "labels":
        return draw(hnp.arrays(np.int64, out_shape[:-1], elements=st.integers(-1, k)))
    if kind == "onehot":
        return draw(arrays(out_shape, 0.0, 1.0))
    if kind == "bool":
        return draw(hnp.arrays(np.bool_, out_shape))
    if kind == "complex":
        return draw(hnp.arrays(np.complex128, out_shape, elements=st.complex_numbers(max_magnitude=1)))
    if kind == "str":
        return np.full(out_shape, "a")
    if kind == "random-shape-labels":
        return draw(hnp.arrays(np.int64, SHAPES, elements=st.integers(0, max(k - 1, 0))))
    return draw(arrays(SHAPES, 0.0, 1.0))


@given(hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=4), st.sampled_from(sorted(COSTS)),
       st.sampled_from(["plain", "sigmoid", "softmax"]), st.data())
def test_costs_with_random_targets(shape: tuple, cost: str, path: str, data: st.DataObject) -> None:
    if path == "plain":
        leaf = Value(data.draw(arrays(shape, 0.05, 0.95)))
        a = leaf
    elif path == "sigmoid":
        leaf = Value(data.draw(arrays(shape, -50.0, 50.0)))
        a = leaf.sigmoid()
    else:  # softmax outputs strictly inside (0, 1): see the report on exactly saturated outputs
        assume(shape[-1] >= 2)
        leaf = Value(data.draw(arrays(shape, -10.0, 10.0)))
        a = leaf.softmax()
    y = data.draw(targets(shape))
    k = shape[-1]
    as_onehot = y.shape == shape and y.dtype.kind in "fiub"
    as_labels = y.dtype.kind in "iu" and y.shape == shape[:-1] and (y.size == 0 or (y.min() >= 0 and y.max() < k))
    as_values = (k == 1 and y.shape == shape[:-1] and y.dtype.kind in "fiub"  # one sigmoid output: target values
                 and cost != "log-likelihood")
    with no_warnings():
        ok, c = attempt(lambda: COSTS[cost](a, y))
    assert ok == (as_onehot or as_labels or as_values), (shape, y.shape, y.dtype, c)
    if not ok:
        assert isinstance(c, ValueError)
        wrong_shape = y.shape not in (shape, shape[:-1])
        if wrong_shape:
            assert str(shape) in str(c) and str(y.shape) in str(c), str(c)
        return
    assert type(c.data) is float and math.isfinite(c.data)
    if cost == "quadratic" or y.dtype.kind in "b" or (y.dtype.kind == "f" and cost != "quadratic") or as_labels:
        assert c.data >= -1e-12
    with no_warnings():
        c.backward()
    assert leaf.grad.shape == shape and finite(leaf.grad)


# ---- SGD ---------------------------------------------------------------------------------------------
HYPER = st.one_of(st.floats(), st.integers(-3, 3), st.booleans(), st.none(), st.text(max_size=2),
                  st.just(np.float64(0.25)), st.just([0.1]))


def _hyper_ok(value: Any, check: Callable[[float], bool]) -> bool:
    return (not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
            and check(value))


@given(HYPER, st.one_of(HYPER, st.floats(0, 0.99)), st.one_of(HYPER, st.floats(0, 1)))
def test_sgd_hyperparameters(lr: Any, momentum: Any, weight_decay: Any) -> None:
    net = MLP([3, 2], seed=0)
    ok, opt = attempt(lambda: SGD(net.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay))
    checks = {"lr": (lr, lambda v: v > 0), "momentum": (momentum, lambda v: 0 <= v < 1),
              "weight_decay": (weight_decay, lambda v: v >= 0)}
    bad = [name for name, (value, check) in checks.items() if not _hyper_ok(value, check)]
    assert ok == (not bad), (lr, momentum, weight_decay, opt)
    if not ok:
        assert isinstance(opt, ValueError) and bad[0] in str(opt), str(opt)
        return
    before = net.state_dict()
    for _ in range(2):
        opt.zero_grad()
        quadratic_cost(net(np.ones((2, 3))), np.array([0, 1])).backward()
        with np.errstate(all="ignore"):
            opt.step()
    after = net.state_dict()
    assert all(after[k].shape == before[k].shape for k in before)
    if lr >= 1e-3:
        assert any(not np.array_equal(after[k], before[k]) for k in before)
    if lr <= 100 and weight_decay <= 1:
        assert all(finite(a) for a in after.values())


@given(st.one_of(st.just(None), st.just(3), st.just("abc"), st.lists(st.one_of(st.floats(), st.none()), max_size=2),
                 st.just([Value(1.0, requires_grad=False)]), st.just([Value(1.0) * 2])))
def test_sgd_bad_parameter_lists(params: Any) -> None:
    ok, err = attempt(lambda: SGD(params, lr=0.1))
    assert not ok and isinstance(err, (TypeError, ValueError))


# ---- data helpers ------------------------------------------------------------------------------------
LABEL_ARRAYS = hnp.arrays(st.one_of(hnp.integer_dtypes(), hnp.floating_dtypes(), hnp.boolean_dtypes(),
                                    hnp.unicode_string_dtypes(max_len=1)),
                          hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=5))
N_CLASSES = st.one_of(st.integers(-2, 6), st.floats(-2, 6), st.booleans(), st.none(), st.text(max_size=1))


@given(LABEL_ARRAYS, N_CLASSES)
def test_one_hot_random_arguments(y: np.ndarray, n_classes: Any) -> None:
    with no_warnings():
        ok, out = attempt(lambda: one_hot(y, n_classes))
    valid = (y.ndim == 1 and type(n_classes) is int and n_classes >= 1 and y.dtype.kind in "iuf")
    if valid:
        with np.errstate(all="ignore"):
            valid = bool(np.all((y == np.round(y)) & (y >= 0) & (y < n_classes)))
    assert ok == valid, (y, n_classes, out)
    if not ok:
        assert isinstance(out, ValueError)
        return
    assert out.shape == (len(y), n_classes)
    assert np.all(out.sum(axis=1) == 1)
    assert np.array_equal(out.argmax(axis=1), y.astype(int))


BATCH_SIZES = st.one_of(st.integers(-2, 15), st.floats(-2, 15), st.booleans(), st.none(), st.text(max_size=1),
                        st.just(np.int64(3)))


@given(st.integers(0, 12), st.integers(0, 12), BATCH_SIZES, st.one_of(st.none(), st.integers(0, 2 ** 32)),
       st.booleans())
def test_mini_batches_random_arguments(n: int, n_labels: int, batch_size: Any, seed: Any, shuffle: bool) -> None:
    x = np.column_stack([np.arange(n), -np.arange(n)]).astype(float)
    y = np.arange(n_labels)
    ok, batches = attempt(lambda: mini_batches(x, y, batch_size, seed=seed, shuffle=shuffle))
    size_ok = (not isinstance(batch_size, bool) and isinstance(batch_size, (int, np.integer)) and batch_size >= 1)
    assert ok == (size_ok and n == n_labels), (n, n_labels, batch_size, batches)
    if not ok:
        assert isinstance(batches, ValueError)
        assert ("batch_size" in str(batches)) if not size_ok else (str(x.shape) in str(batches))
        return
    batches = list(batches)
    assert all(1 <= len(by) <= batch_size and len(bx) == len(by) for bx, by in batches)
    assert all(len(by) == batch_size for _, by in batches[:-1])
    order = np.concatenate([by for _, by in batches]) if batches else np.array([], dtype=int)
    assert sorted(order.tolist()) == list(range(n))
    assert all(np.array_equal(bx[:, 0], by) for bx, by in batches)  # rows stay with their labels
    if not shuffle:
        assert order.tolist() == list(range(n))


# ---- closed-form backprop ----------------------------------------------------------------------------
@st.composite
def backprop_case(draw: st.DrawFn) -> tuple[list, list, np.ndarray, np.ndarray, bool]:
    sizes = draw(layer_sizes(1, 3, max_width=5))
    rng = np.random.default_rng(draw(st.integers(0, 1000)))
    weights = [rng.standard_normal((o, i)) for i, o in itertools.pairwise(sizes)]
    biases = [rng.standard_normal(o) for o in sizes[1:]]
    m = draw(st.integers(0, 4))
    x = rng.random((m, sizes[0]))
    y: np.ndarray = rng.integers(0, sizes[-1], m)
    valid = m > 0
    broken = draw(st.sampled_from(["none", "none", "weight", "bias", "x-width", "x-3d", "y-shape", "y-range",
                                   "y-onehot", "y-float-labels", "drop-bias", "weight-1d"]))
    layer = draw(st.integers(0, len(weights) - 1))
    if broken == "weight":
        weights[layer] = rng.standard_normal((weights[layer].shape[0], weights[layer].shape[1] + 1))
        valid = False
    elif broken == "bias":
        biases[layer] = np.zeros(biases[layer].shape[0] + 1)
        valid = False
    elif broken == "x-width":
        x = rng.random((m, sizes[0] + 1))
        valid = False
    elif broken == "x-3d":
        x = rng.random((1, max(m, 1), sizes[0]))
        valid = False
    elif broken == "y-shape":
        y = rng.integers(0, sizes[-1], m + 1)
        valid = False
    elif broken == "y-range":
        y = np.full(m, sizes[-1])
        valid = valid and (m == 0 or sizes[-1] == 1)  # one output: 1 is the target value 1.0, not a label
    elif broken == "y-onehot":
        y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], m)] if m else np.zeros((0, sizes[-1]))
    elif broken == "y-float-labels":
        y = y.astype(float)
        valid = valid and sizes[-1] == 1  # one output neuron: y holds its target values
    elif broken == "drop-bias":
        biases = biases[:-1]
        valid = False
    elif broken == "weight-1d":
        weights[layer] = weights[layer].ravel()
        valid = False
    return weights, biases, x, y, valid


@given(backprop_case(), st.sampled_from(["quadratic", "cross-entropy", "hinge"]))
def test_backprop_random_shapes(case: tuple, cost: str) -> None:
    weights, biases, x, y, valid = case
    with no_warnings():
        ok, g = attempt(lambda: bp.backprop(weights, biases, x, y, cost))
    assert ok == (valid and cost != "hinge"), (ok, g, [w.shape for w in weights], [b.shape for b in biases],
                                               x.shape, y.shape)
    if not ok:
        assert isinstance(g, ValueError)
        return
    assert [w.shape for w in g.nabla_w] == [w.shape for w in weights]
    assert [b.shape for b in g.nabla_b] == [b.shape for b in biases]
    assert all(finite(a) for a in g.nabla_w + g.nabla_b) and math.isfinite(g.cost) and g.cost >= 0
    assert bp.cost_value(weights, biases, x, y, cost) == pytest.approx(g.cost)

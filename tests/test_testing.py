"""Tests of `tinygrad_nn.testing`: the strategies draw what they promise, and each checker passes right
gradients and catches deliberately wrong ones (an op with a wrong derivative, a network whose BP2 is wrong).

Wrong derivatives are built from public ops only: `u - u.detach()` is zero in value but not in gradient,
so adding it to an op changes its backward and leaves its forward (and hence finite differences) alone.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_nn import Value, nn, testing
from tinygrad_nn import backprop as closed_form
from tinygrad_nn.backprop import Gradients, cost_value
from tinygrad_nn.nn import MLP


# ---- strategies ----------------------------------------------------------------------------------------
@given(testing.broadcastable_shapes(num_shapes=3, max_dims=4))
def test_broadcastable_shapes_broadcast(shapes):
    assert len(shapes) == 3 and all(isinstance(s, tuple) and len(s) <= 4 for s in shapes)
    np.broadcast_shapes(*shapes)                      # raises if they do not


@given(testing.broadcastable_operands(testing.FLOATS, testing.POSITIVE, testing.NONZERO))
def test_broadcastable_operands_broadcast_and_keep_their_ranges(operands):
    a, b, c = operands
    np.broadcast_shapes(np.shape(a), np.shape(b), np.shape(c))
    for x, ok in ((a, lambda v: (-3 <= v) & (v <= 3)), (b, lambda v: (0.1 <= v) & (v <= 3)),
                  (c, lambda v: (0.5 <= np.abs(v)) & (np.abs(v) <= 3))):
        assert type(x) is float or (isinstance(x, np.ndarray) and x.dtype == np.float64)
        assert np.all(ok(np.asarray(x)))


def test_broadcastable_operands_sometimes_give_python_floats_and_broadcast_sides():
    """Over many draws both the scalar path and real broadcasting (a side of 1 against a longer one) occur."""
    seen = set()

    @given(testing.broadcastable_operands(testing.FLOATS, testing.FLOATS))
    def collect(ab):
        a, b = ab
        seen.add("float" if type(a) is float or type(b) is float else "array")
        if np.ndim(a) and np.ndim(b) and np.shape(a) != np.shape(b):
            seen.add("broadcast")

    collect()
    assert seen == {"float", "array", "broadcast"}


@given(testing.shapes(min_dims=1, max_dims=2, max_side=3), testing.shapes(min_side=0))
def test_shapes_respect_their_bounds(shape, maybe_empty):
    assert 1 <= len(shape) <= 2 and all(1 <= n <= 3 for n in shape)
    assert len(maybe_empty) <= 3 and all(0 <= n <= 4 for n in maybe_empty)


@given(testing.arrays((2, 3), 0.5, 2.0), testing.arrays((4,), -1.0, 1.0, dtype=np.float32),
       testing.arrays(testing.shapes(), elements=testing.POSITIVE))
def test_arrays_have_the_dtype_shape_and_range(a, b, c):
    assert a.shape == (2, 3) and a.dtype == np.float64 and np.all((0.5 <= a) & (a <= 2))
    assert b.shape == (4,) and b.dtype == np.float32 and np.all(np.abs(b) <= 1)
    assert c.dtype == np.float64 and np.all(c >= 0.1)


@given(testing.POSITIVE, testing.AWAY_FROM_ZERO, testing.operands(testing.POSITIVE))
def test_positive_and_nonzero_floats(p, nz, operand):
    assert 0.1 <= p <= 3 and 0.1 <= abs(nz) <= 3
    assert type(operand) is float or isinstance(operand, np.ndarray)
    assert np.all(np.asarray(operand) >= 0.1)


def test_positive_and_nonzero_floats_reject_a_zero_bound():
    with pytest.raises(ValueError, match="min_value"):
        testing.positive_floats(0.0)
    with pytest.raises(ValueError, match="min_abs"):
        testing.nonzero_floats(-1.0)
    with pytest.raises(ValueError, match="element strategy"):
        testing.broadcastable_operands()


@given(testing.shapes(max_dims=3).flatmap(testing.distinct_arrays))
def test_distinct_arrays_have_no_near_ties(x):
    values = np.sort(x.ravel())
    assert x.dtype == np.float64 and np.all(np.diff(values) >= 0.27)


@given(st.data())
def test_axes_are_valid_numpy_axes(data):
    shape = data.draw(testing.shapes())
    axis = data.draw(testing.axes(len(shape)))
    np.sum(np.zeros(shape), axis=axis)               # raises for an invalid axis


@given(testing.layer_sizes(min_layers=2, max_layers=4, min_width=3, max_width=5))
def test_layer_sizes(sizes):
    assert 3 <= len(sizes) <= 5 and all(3 <= n <= 5 for n in sizes)


@given(testing.networks(max_layers=2, max_width=4, activation=st.sampled_from(["tanh", "relu"]), init="scaled"),
       testing.networks(sizes=[10, 20, 5], weight_scale=(2.0, 2.5)))
def test_networks(net, scaled):
    assert isinstance(net, MLP) and 2 <= len(net.sizes) <= 3 and all(1 <= n <= 4 for n in net.sizes)
    assert net.activation in ("tanh", "relu") and all(p.dtype == np.float64 for p in net.parameters())
    assert scaled.sizes == [10, 20, 5]
    weights = np.concatenate([p.data.ravel() for p in scaled.parameters()])
    assert 1.5 < np.std(weights) < 3.2               # N(0, s²), s ∈ [2, 2.5]; 325 draws: ≥ 8σ inside


@given(st.data())
def test_mini_batches_fit_the_network(data):
    net = data.draw(testing.networks())
    x, y = data.draw(testing.mini_batches(net, max_size=5, x_scale=(0.5, 1.0), targets=testing.TARGETS))
    m, (n_in, k) = len(x), (net.sizes[0], net.sizes[-1])
    assert x.shape == (m, n_in) and 1 <= m <= 5 and np.all(np.abs(x) <= 1.0)
    if y.dtype.kind == "i":
        assert y.shape == (m,) and np.all((0 <= y) & (y < k))
    else:
        assert y.shape == (m, k) and np.all((0 <= y) & (y <= 1))
    net(x)                                            # the network accepts the batch


def test_mini_batches_targets_and_single_examples():
    forms, single = set(), set()

    @given(testing.mini_batches([4, 3], max_size=2, targets=("onehot", "labels"), single=True))
    def collect(batch):
        x, y = batch
        if y.dtype.kind == "f":
            assert np.all(y.sum(axis=-1) == 1)        # one-hot
        forms.add(y.dtype.kind)
        single.add(x.ndim)

    collect()
    assert forms == {"f", "i"} and single == {1, 2}
    with pytest.raises(ValueError, match="targets"):
        testing.mini_batches([4, 3], targets="hard").example()


# ---- finite differences ----------------------------------------------------------------------------------
def test_finite_differences_of_a_cube_and_its_sanity():
    x = np.array([[0.3, -1.2], [2.0, 0.7]])
    saved = x.copy()
    numeric = testing.finite_differences(lambda v: float(np.sum(v ** 3)), x)
    np.testing.assert_allclose(numeric, 3 * x ** 2, rtol=1e-8)
    assert not np.allclose(numeric, 2 * x ** 2, rtol=1e-5)            # it tells a wrong derivative apart
    np.testing.assert_array_equal(x, saved)                           # x is never changed
    picks = testing.finite_differences(lambda v: float(np.sum(v ** 3)), x, indices=[(1, 0), (0, 1)])
    np.testing.assert_allclose(picks, [12.0, 3 * 1.44], rtol=1e-8)
    assert testing.finite_differences(np.sin, 0.5) == pytest.approx(np.cos(0.5), rel=1e-9)


# ---- check_op_gradient -----------------------------------------------------------------------------------
def bad_square(v):
    """Forward v², backward v: the detached factor hides half the derivative."""
    return v * v.detach()


@given(testing.broadcastable_operands(testing.FLOATS, testing.NONZERO))
def test_check_op_gradient_passes_right_ops(ab):
    out, (va, vb) = testing.check_op_gradient(lambda a, b: ((a - 1.0) / b).tanh(), *ab)
    assert np.shape(va.grad) == np.shape(ab[0]) and np.shape(vb.grad) == np.shape(ab[1])
    np.testing.assert_allclose(out.data, np.tanh((np.asarray(ab[0]) - 1.0) / ab[1]), rtol=1e-12)


def test_a_0d_array_used_twice_gets_an_array_gradient():
    """An engine bug check_op_gradient found: 0-d array + 0-d array is a numpy scalar, not an array."""
    testing.check_op_gradient(lambda a, b: (a / b).tanh() * a, np.array(0.5), 1.5)


@given(testing.operands(testing.POSITIVE))
def test_check_op_gradient_catches_a_wrong_derivative(x):
    testing.check_op_gradient(lambda v: v ** 2, x)
    with pytest.raises(AssertionError, match="input 0.*disagree"):
        testing.check_op_gradient(bad_square, x)


def test_check_op_gradient_message_names_input_element_values_and_tolerance():
    x = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
    with pytest.raises(AssertionError) as exc:
        testing.check_op_gradient(lambda v: bad_square(v).sum(), x)
    msg = str(exc.value)
    assert "input 0 of shape (2, 3)" in msg and "element (0, 2)" in msg     # |2x − x| is largest at x = 2
    assert "atol=1e-05" in msg and "rtol=1e-05" in msg and "eps=1e-06" in msg
    values = re.search(r"autodiff ([-\d.e+]+), finite differences ([-\d.e+]+)", msg)
    r = testing.cotangent(())
    assert float(values.group(1)) == pytest.approx(2.0 * r) and float(values.group(2)) == pytest.approx(4.0 * r)


def test_check_op_gradient_names_the_wrong_input_and_element():
    a, b = np.array([1.0, 2.0, 3.0]), np.full((3, 4), 0.5)
    with pytest.raises(AssertionError, match=r"input 1 of shape \(3, 4\).*element \(1, 2\)"):
        testing.check_op_gradient(lambda u, v: u.sum() * v + (v[1, 2] - v[1, 2].detach()), a, b)
    with pytest.raises(AssertionError, match="input 1"):                  # a Python float input
        testing.check_op_gradient(lambda u, v: u * v + (v - v.detach()) * 0.5, 0.3, 1.7)


def test_check_op_gradient_uses_a_random_cotangent():
    """An op whose gradient is reversed passes an all-ones check; the random weighting r catches it."""
    def reversed_grad(v):
        return v + (v[::-1] - v[::-1].detach()) - (v - v.detach())
    x = np.array([0.1, 0.2, 0.3, 0.4])
    leaf = Value(x)
    reversed_grad(leaf).sum().backward()
    np.testing.assert_array_equal(leaf.grad, np.ones(4))                   # the sum cannot see the bug
    with pytest.raises(AssertionError, match="input 0"):
        testing.check_op_gradient(reversed_grad, x)


def test_check_op_gradient_tolerances_matter():
    x = np.array([1.0, 2.0])
    with pytest.raises(AssertionError):
        testing.check_op_gradient(lambda v: bad_square(v).sum(), x)
    testing.check_op_gradient(lambda v: bad_square(v).sum(), x, atol=10.0)


def test_check_op_gradient_needs_a_gradient_for_every_input():
    with pytest.raises(AssertionError, match="input 1 got no gradient"):
        testing.check_op_gradient(lambda a, b: a * 2.0, 1.0, 2.0)


def test_check_op_gradient_rejects_bad_arguments():
    with pytest.raises(TypeError, match="float32"):
        testing.check_op_gradient(lambda v: v * v, np.ones(2, dtype=np.float32))
    with pytest.raises(TypeError, match="input 1 must be a float"):
        testing.check_op_gradient(lambda a, b: a * b, 1.0, "2")
    with pytest.raises(TypeError, match="must return a Value"):
        testing.check_op_gradient(lambda v: 3.0, 1.0)


def test_check_op_gradient_float_inputs_get_float_gradients():
    out, (leaf,) = testing.check_op_gradient(lambda v: (v * 3.0).exp(), 2)   # an int becomes a float
    assert type(out.data) is float and type(leaf.grad) is float


# ---- check_backprop --------------------------------------------------------------------------------------
def wrong_backprop_no_sigma_prime_in_bp2(weights, biases, x, y, cost="quadratic"):
    """A deliberately WRONG closed form: BP2 without ⊙ σ′(zˡ) (δˡ = (wˡ⁺¹)ᵀ δˡ⁺¹)."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    m = x.shape[0]
    activations, zs = [x], []
    for w, b in zip(weights, biases):
        zs.append(activations[-1] @ w.T + b)
        activations.append(1.0 / (1.0 + np.exp(-zs[-1])))
    a = activations[-1]
    y = np.asarray(y)
    y = np.eye(a.shape[1])[y.reshape(-1)] if y.dtype.kind in "iu" and a.shape[1] > 1 else np.reshape(y, (-1, a.shape[1]))
    delta = (a - y) * a * (1 - a) if cost == "quadratic" else a - y              # BP1
    deltas = [delta]
    for l in range(len(weights) - 2, -1, -1):
        delta = delta @ weights[l + 1]            # BUG on purpose: the ⊙ σ′(zˡ) of BP2 is missing
        deltas.insert(0, delta)
    nabla_b = [d.mean(axis=0) for d in deltas]                                    # BP3
    nabla_w = [d.T @ act / m for d, act in zip(deltas, activations[:-1])]         # BP4
    return Gradients(deltas, nabla_b, nabla_w, zs, activations, cost_value(weights, biases, x, y, cost))


def flagged(error: AssertionError) -> set[tuple[int, str]]:
    """(layer, quantity) of every line of a check_backprop failure."""
    return {(int(l), q) for l, q in re.findall(r"check_backprop: layer (\d+) (.+?): ", str(error))}


@given(testing.networks(max_layers=3, max_width=6), st.data())
def test_check_backprop_passes_right_networks(net, data):
    x, y = data.draw(testing.mini_batches(net, max_size=6, targets=testing.TARGETS, single=True))
    cost = data.draw(st.sampled_from(["quadratic", "cross-entropy"]))
    report = testing.check_backprop(net, x, y, cost)
    assert report.ok and len(report.rows) == 5 * len(net.layers)


@pytest.mark.parametrize("cost", ["quadratic", "cross-entropy"])
@pytest.mark.parametrize("sizes,seed", [([3, 4, 2], 0), ([5, 3, 3, 2], 1), ([2, 8, 8, 8, 3], 2)])
def test_check_backprop_catches_a_bp2_without_sigma_prime(monkeypatch, cost, sizes, seed):
    rng = np.random.default_rng(seed)
    net = MLP(sizes, seed=seed)
    x, y = rng.random((6, sizes[0])), rng.integers(0, sizes[-1], 6)
    testing.check_backprop(net, x, y, cost)                              # the real BP2 agrees
    monkeypatch.setattr(closed_form, "backprop", wrong_backprop_no_sigma_prime_in_bp2)
    with pytest.raises(AssertionError) as exc:
        testing.check_backprop(net, x, y, cost)
    bad = flagged(exc.value)
    # every hidden layer's δ, ∂C/∂b, ∂C/∂w is flagged; nothing of the output layer (BP1 is untouched), and
    # no finite-difference row (the engine is right)
    hidden = {(l, q) for l in range(2, len(sizes)) for q in ("δ (BP1/BP2)", "∂C/∂b (BP3)", "∂C/∂w (BP4)")}
    assert bad == hidden, str(exc.value)
    assert "BP1–BP4" in str(exc.value) and "rtol=1e-09" in str(exc.value)


def test_check_backprop_catches_an_engine_sigmoid_without_sigma_prime(monkeypatch):
    """Sabotage the network's sigmoid instead: same values, but its backward passes g through (no ⊙ σ′).
    BP1–BP4 and finite differences both disagree with the engine now."""
    rng = np.random.default_rng(3)
    net = MLP([4, 5, 3], seed=3)
    x, y = rng.random((7, 4)), rng.integers(0, 3, 7)
    monkeypatch.setitem(nn.ACTIVATIONS, "sigmoid", lambda z: z.sigmoid().detach() + (z - z.detach()))
    with pytest.raises(AssertionError) as exc:
        testing.check_backprop(net, x, y, "quadratic")
    bad = flagged(exc.value)
    assert {(3, "δ (BP1/BP2)"), (2, "δ (BP1/BP2)"), (2, "∂C/∂w (BP4)"), (2, "finite diff ∂C/∂w")} <= bad, bad


def _scaled(factor_w0: float, factor_w1: float):
    real = closed_form.backprop

    def backprop(*args, **kwargs):
        g = real(*args, **kwargs)
        return dataclasses.replace(g, nabla_w=[g.nabla_w[0] * factor_w0, g.nabla_w[1] * factor_w1])
    return backprop


def test_check_backprop_flags_a_1e_8_relative_error_but_not_rounding(monkeypatch):
    """The tolerance is tight: 1e-8 relative in one weight gradient is reported, a few ulp (4e-16) is not."""
    rng = np.random.default_rng(4)
    net = MLP([3, 4, 2], seed=4)
    x, y = rng.random((5, 3)), rng.integers(0, 2, 5)
    monkeypatch.setattr(closed_form, "backprop", _scaled(1.0, 1 + 4e-16))
    testing.check_backprop(net, x, y)
    monkeypatch.setattr(closed_form, "backprop", _scaled(1 + 1e-8, 1 + 4e-16))
    with pytest.raises(AssertionError) as exc:
        testing.check_backprop(net, x, y)
    assert flagged(exc.value) == {(2, "∂C/∂w (BP4)")}


def test_check_backprop_takes_one_example_as_a_1d_x():
    net = MLP([3, 4, 2], seed=0)
    for y in (np.array([0.0, 1.0]), 1, np.array([0.2, 0.9])):
        report = testing.check_backprop(net, np.array([0.3, -0.2, 0.9]), y, "cross-entropy")
        assert report.batch == 1 and report.ok


# ---- hypothesis stays optional ---------------------------------------------------------------------------
def test_the_library_does_not_import_hypothesis_and_testing_says_how_to_get_it():
    code = ("import sys\n"
            "import tinygrad_nn, tinygrad_nn.compare, tinygrad_nn.train\n"
            "assert not any(m.split('.')[0] == 'hypothesis' for m in sys.modules), 'hypothesis imported'\n"
            "sys.modules['hypothesis'] = None  # as if it were not installed\n"
            "try:\n"
            "    import tinygrad_nn.testing\n"
            "except ImportError as e:\n"
            "    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert "tinygrad_nn.testing needs hypothesis" in out.stdout and "'tinygrad_nn[testing]'" in out.stdout
    assert "dev" in out.stdout


def test_every_exported_name_exists():
    assert len(testing.__all__) == len(set(testing.__all__))
    assert all(hasattr(testing, name) for name in testing.__all__)


# ---- the documented examples run ------------------------------------------------------------------------
def _run_tests_in(code: str, path: Path) -> int:
    """Import `code` as a module and call each of its test functions (hypothesis runs them)."""
    path.write_text(code, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tests = [fn for name, fn in vars(module).items() if name.startswith("test_")]
    for fn in tests:
        fn()
    return len(tests)


def test_the_module_docstring_example_runs(tmp_path):
    doc = testing.__doc__
    code = doc[doc.index("Testing your own op::") + len("Testing your own op::"):doc.index("hypothesis is needed")]
    assert _run_tests_in(textwrap.dedent(code), tmp_path / "docstring_example.py") == 2


def test_the_readme_example_runs(tmp_path):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Testing your own ops"):]
    start = section.index("```python\n") + len("```python\n")
    assert _run_tests_in(section[start:section.index("```\n", start)], tmp_path / "readme_example.py") == 2

"""Tests of the closed-form BP1–BP4 reference in `tinygrad_nn.backprop`.

The gradients are checked against central finite differences of an independent, naive float64
reimplementation of the mean cost (logaddexp-based cross-entropy, plain 1/(1+e^−z) sigmoid), so
a shared bug between the module and the checker is unlikely. Finite-difference step EPS = 1e-6;
an entry passes when |fd − analytic| ≤ ATOL·max(1, C) + RTOL·|analytic| (ATOL = 1e-7, RTOL = 1e-5),
which is ~100× the expected O(EPS²) truncation plus O(ulp·C/EPS) round-off of the differences.
"""
from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_nn.backprop import (
    COSTS,
    Gradients,
    backprop,
    cost_value,
    feedforward,
    sigmoid,
    sigmoid_prime,
)
from tinygrad_nn.testing import finite_differences, mini_batches, networks

EPS = 1e-6
RTOL = 1e-5
ATOL = 1e-7
N_SAMPLE = 20  # finite-difference entries checked per parameter array


# ---------------------------------------------------------------------------------------------
# Independent naive reference (float64, loops are fine here)
# ---------------------------------------------------------------------------------------------

def ref_sigmoid(z):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


def ref_example_costs(z_out, y, cost):
    """C_x for each row, from the output weighted input z_out (m, k) and one-hot y (m, k)."""
    if cost == "quadratic":
        return 0.5 * np.sum((ref_sigmoid(z_out) - y) ** 2, axis=-1)
    if cost == "log-likelihood":  # softmax output: −Σⱼ yⱼ ln aⱼ, ln aⱼ = zⱼ − ln Σₖ e^zₖ
        return -np.sum(y * (z_out - np.logaddexp.reduce(z_out, axis=-1, keepdims=True)), axis=-1)
    return np.sum(np.logaddexp(0.0, z_out) - y * z_out, axis=-1)  # −y ln σ − (1−y) ln(1−σ)


def ref_forward_from(weights, biases, a, start):
    """Output weighted input z^L, feeding activation `a` into layer `start`."""
    z = None
    for w, b in zip(weights[start:], biases[start:]):
        z = a @ w.T + b
        a = ref_sigmoid(z)
    return z


def ref_mean_cost(weights, biases, x, y, cost):
    return float(np.mean(ref_example_costs(ref_forward_from(weights, biases, x, 0), y, cost)))


def onehot(labels, k, cost=None):
    """The targets y: one-hot rows, or for one sigmoid output neuron the numbers themselves (its target values;
    a softmax's log-likelihood targets are always classes)."""
    return np.asarray(labels, dtype=float)[:, None] if k == 1 and cost != "log-likelihood" else np.eye(k)[labels]


def make_network(rng, sizes, scale):
    weights = [rng.normal(0.0, scale, size=(n_out, n_in)) for n_in, n_out in itertools.pairwise(sizes)]
    biases = [rng.normal(0.0, scale, size=n_out) for n_out in sizes[1:]]
    return weights, biases


def fd_max_violation(grad_fn, weights, biases, x, y, cost, rng):
    """max over sampled entries of |fd − g| / (ATOL·max(1, C) + RTOL·|g|); ≤ 1 means agreement.

    `grad_fn(weights, biases, x, y, cost)` returns (nabla_b, nabla_w).
    """
    nabla_b, nabla_w = grad_fn(weights, biases, x, y, cost)
    c0 = ref_mean_cost(weights, biases, x, y, cost)
    worst = 0.0
    for is_weight, params, grads in ((True, weights, nabla_w), (False, biases, nabla_b)):
        for l, (p, g) in enumerate(zip(params, grads)):
            assert g.shape == p.shape

            def mean_cost(q, l=l, is_weight=is_weight):  # C with parameter array l replaced by q
                ws = weights[:l] + [q] + weights[l + 1:] if is_weight else weights
                bs = biases if is_weight else biases[:l] + [q] + biases[l + 1:]
                return ref_mean_cost(ws, bs, x, y, cost)

            picks = [np.unravel_index(i, p.shape) for i in rng.choice(p.size, size=min(N_SAMPLE, p.size), replace=False)]
            fd = finite_differences(mean_cost, p, EPS, indices=picks)
            analytic = np.array([g[i] for i in picks])
            tol = ATOL * max(1.0, abs(c0)) + RTOL * np.abs(analytic)
            worst = max(worst, float(np.max(np.abs(fd - analytic) / tol)))
    return worst


def module_grads(weights, biases, x, y, cost):
    g = backprop(weights, biases, x, y, cost)
    return g.nabla_b, g.nabla_w


# ---------------------------------------------------------------------------------------------
# Hypothesis strategies
# ---------------------------------------------------------------------------------------------

@st.composite
def problems(draw):
    """1–4 weight layers of width ≤ 16 with N(0, s²) weights, s ∈ [0.1, 2]; up to 32 examples in [-2, 2]."""
    net = draw(networks(max_layers=4, max_width=16, weight_scale=(0.1, 2.0)))
    x, labels = draw(mini_batches(net, max_size=32, x_scale=2.0, targets="labels"))
    weights = [layer.weight.data for layer in net.layers]
    biases = [layer.bias.data for layer in net.layers]
    labels_form = draw(st.booleans())
    cost = draw(st.sampled_from(COSTS))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))  # picks the entries checked by differences
    return weights, biases, x, labels, labels_form, cost, rng


# ---------------------------------------------------------------------------------------------
# Gradients against finite differences
# ---------------------------------------------------------------------------------------------

@given(problems())
def test_nabla_b_and_nabla_w_match_finite_differences(problem):
    weights, biases, x, labels, labels_form, cost, rng = problem
    y_onehot = onehot(labels, biases[-1].size, cost)
    y_arg = labels if labels_form else y_onehot
    g = backprop(weights, biases, x, y_arg, cost)
    assert g.cost == pytest.approx(ref_mean_cost(weights, biases, x, y_onehot, cost), rel=1e-12, abs=1e-14)

    def grads(w, b, xx, _y, c):  # the module sees the labels/one-hot form drawn; FD uses one-hot
        gg = backprop(w, b, xx, y_arg, c)
        return gg.nabla_b, gg.nabla_w

    assert fd_max_violation(grads, weights, biases, x, y_onehot, cost, rng) <= 1.0


@given(problems())
def test_deltas_are_per_example_dCx_dz_and_consistent_with_bp3_bp4(problem):
    weights, biases, x, labels, _, cost, rng = problem
    y = onehot(labels, biases[-1].size, cost)
    g = backprop(weights, biases, x, labels, cost)
    m = x.shape[0]

    # Forward pass agrees with the naive one.
    a = x
    for l, (w, b) in enumerate(zip(weights, biases)):
        z = a @ w.T + b
        np.testing.assert_allclose(g.zs[l], z, rtol=1e-13, atol=1e-13)
        softmax = cost == "log-likelihood" and l == len(weights) - 1  # the softmax output layer
        a = np.exp(z - np.logaddexp.reduce(z, axis=-1, keepdims=True)) if softmax else ref_sigmoid(z)
        np.testing.assert_allclose(g.activations[l + 1], a, rtol=1e-13, atol=1e-15)
    assert g.activations[0] is x or np.array_equal(g.activations[0], x)

    for l, delta in enumerate(g.deltas):
        assert delta.shape == (m, biases[l].size)
        # BP3 / BP4 consistency, BP4 written as the batch mean of per-example outer products.
        np.testing.assert_allclose(g.nabla_b[l], delta.mean(axis=0), rtol=1e-12, atol=1e-16)
        outer = np.einsum("ij,ik->ijk", delta, g.activations[l]).mean(axis=0)
        np.testing.assert_allclose(g.nabla_w[l], outer, rtol=1e-12, atol=1e-16)

        # δˡ[i, j] = ∂C_x/∂zˡ_j of example i's own cost: perturb zˡ, re-run the forward from there.
        pairs = [(i, j) for i in range(m) for j in range(delta.shape[1])]
        for k in rng.choice(len(pairs), size=min(N_SAMPLE, len(pairs)), replace=False):
            i, j = pairs[k]

            def example_cost(z_row, l=l, i=i):  # C_x of example i with zˡ replaced by z_row
                z_out = z_row if l == len(weights) - 1 else ref_forward_from(weights, biases, ref_sigmoid(z_row), l + 1)
                return float(ref_example_costs(z_out, y[i], cost))

            fd = finite_differences(example_cost, g.zs[l][i], EPS, indices=[(j,)])[0]
            tol = ATOL * max(1.0, example_cost(g.zs[l][i])) + RTOL * abs(delta[i, j])
            assert abs(fd - delta[i, j]) <= tol, (l, i, j, fd, delta[i, j])


@given(problems())
def test_batch_gradient_is_mean_of_single_example_gradients(problem):
    weights, biases, x, labels, _, cost, _ = problem
    g = backprop(weights, biases, x, labels, cost)
    singles = [backprop(weights, biases, x[i], labels[i], cost) for i in range(x.shape[0])]
    for l in range(len(weights)):
        np.testing.assert_allclose(g.nabla_w[l], np.mean([s.nabla_w[l] for s in singles], axis=0),
                                   rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(g.nabla_b[l], np.mean([s.nabla_b[l] for s in singles], axis=0),
                                   rtol=1e-10, atol=1e-14)
        # BLAS may sum a batch's rows in another order than a single row's: rounding of ~1 ulp of the
        # largest term, so the absolute tolerance covers elements that cancel to near zero.
        np.testing.assert_allclose(g.deltas[l], np.concatenate([s.deltas[l] for s in singles]),
                                   rtol=1e-10, atol=1e-14)
    assert g.cost == pytest.approx(np.mean([s.cost for s in singles]), rel=1e-12, abs=1e-15)


def test_cost_value_matches_backprop_cost_and_reference():
    rng = np.random.default_rng(1)
    weights, biases = make_network(rng, [5, 7, 3], 1.0)
    x = rng.normal(size=(9, 5))
    labels = rng.integers(0, 3, size=9)
    for cost in COSTS:
        expected = ref_mean_cost(weights, biases, x, onehot(labels, 3), cost)
        assert cost_value(weights, biases, x, labels, cost) == pytest.approx(expected, rel=1e-13)
        assert backprop(weights, biases, x, labels, cost).cost == pytest.approx(expected, rel=1e-13)


# ---------------------------------------------------------------------------------------------
# The checker can fail: deliberately wrong backprops are detected
# ---------------------------------------------------------------------------------------------

def local_backprop(weights, biases, x, y, cost, bug=None):
    """A small independent row-layout backprop with optional injected bugs."""
    a, acts = x, [x]
    for w, b in zip(weights, biases):
        a = ref_sigmoid(a @ w.T + b)
        acts.append(a)
    m = x.shape[0]
    delta = acts[-1] - y
    if cost == "quadratic" and bug != "bp1_no_sigma_prime":
        delta = delta * acts[-1] * (1 - acts[-1])
    nabla_b, nabla_w = [None] * len(weights), [None] * len(weights)
    for l in range(len(weights) - 1, -1, -1):
        nabla_b[l] = delta.mean(axis=0)
        nabla_w[l] = delta.T @ acts[l] / (1 if bug == "bp4_sum_not_mean" else m)
        if l > 0:
            delta = delta @ weights[l]
            if bug != "bp2_no_sigma_prime":
                delta = delta * acts[l] * (1 - acts[l])
    return nabla_b, nabla_w


@pytest.mark.parametrize("bug,cost", [("bp2_no_sigma_prime", "cross-entropy"),
                                      ("bp2_no_sigma_prime", "quadratic"),
                                      ("bp1_no_sigma_prime", "quadratic"),
                                      ("bp4_sum_not_mean", "cross-entropy")])
def test_finite_difference_check_detects_wrong_backprop(bug, cost):
    rng = np.random.default_rng(7)
    weights, biases = make_network(rng, [4, 6, 5, 3], 1.0)
    x = rng.uniform(-2, 2, size=(8, 4))
    y = onehot(rng.integers(0, 3, size=8), 3)

    def correct(w, b, xx, yy, c):
        return local_backprop(w, b, xx, yy, c)

    def wrong(w, b, xx, yy, c):
        return local_backprop(w, b, xx, yy, c, bug=bug)

    # The same harness accepts the correct local implementation and the module …
    assert fd_max_violation(correct, weights, biases, x, y, cost, np.random.default_rng(0)) <= 1.0
    assert fd_max_violation(module_grads, weights, biases, x, y, cost, np.random.default_rng(0)) <= 1.0
    # … and rejects the buggy one by a wide margin.
    assert fd_max_violation(wrong, weights, biases, x, y, cost, np.random.default_rng(0)) > 100.0


# ---------------------------------------------------------------------------------------------
# sigmoid and sigmoid_prime
# ---------------------------------------------------------------------------------------------

def test_sigmoid_is_stable_and_exact_in_both_tails():
    z = np.array([-1000.0, -745.0, -700.0, -50.0, -30.0, 30.0, 50.0, 700.0, 1000.0])
    with np.errstate(all="raise"):
        s = sigmoid(z)
        sp = sigmoid_prime(z)
        s32 = sigmoid(np.array([-1000.0, -80.0, 80.0, 1000.0], dtype=np.float32))
    assert s[0] == 0.0 and s[-1] == 1.0 and s[-2] == 1.0
    with np.errstate(all="raise"):
        s720 = sigmoid(-720.0)
    assert s720 == pytest.approx(np.exp(-720.0), rel=1e-9)  # subnormal, not 0
    # Negative tail: σ(z) = e^z/(1+e^z) to full relative precision (naive 1 − σ(−z) would give 0).
    for zi, si in zip(z[2:5], s[2:5]):
        assert si == pytest.approx(np.exp(zi) / (1 + np.exp(zi)), rel=4e-16)
    # Positive tail: 1 − σ(z) rounds to the nearest double of 1 − e^(−z).
    assert 1.0 - s[5] == pytest.approx(np.exp(-30.0), rel=1e-2)  # limited by spacing of doubles near 1
    assert sp[0] == 0.0 and sp[-1] == 0.0
    assert sp[2] == pytest.approx(np.exp(-700.0), rel=4e-16)
    assert sp[6] == pytest.approx(np.exp(-50.0), rel=4e-16)
    assert s32.dtype == np.float32
    assert s32[0] == 0 and s32[-1] == 1
    assert s32[1] == pytest.approx(np.exp(-80.0), rel=1e-6)


def test_sigmoid_matches_naive_formula_in_the_middle_and_is_symmetric_and_monotone():
    z = np.linspace(-30.0, 30.0, 20001)
    s = sigmoid(z)
    np.testing.assert_allclose(s, 1.0 / (1.0 + np.exp(-z)), rtol=1e-15, atol=0)
    np.testing.assert_allclose(sigmoid(-z), 1.0 - s, rtol=0, atol=2.3e-16)
    assert np.all(np.diff(s) >= 0)
    assert np.all(np.diff(sigmoid(np.linspace(-800.0, 800.0, 20001))) >= 0)
    np.testing.assert_allclose(sigmoid_prime(z), s * (1.0 - s), rtol=0, atol=3e-16)
    mid = slice(9000, 11001)  # |z| ≤ 3, where 1 − σ(z) keeps ≥ 13 digits
    np.testing.assert_allclose(sigmoid_prime(z[mid]), s[mid] * (1 - s[mid]), rtol=1e-13)
    assert isinstance(sigmoid(0), np.floating) and sigmoid(0) == 0.5
    assert sigmoid_prime(0.0) == 0.25


@given(st.floats(allow_nan=False, allow_infinity=True, width=64))
def test_sigmoid_never_warns_and_stays_in_unit_interval(z):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            s = sigmoid(np.array([z, -z]))
            sp = sigmoid_prime(np.array([z]))
    assert 0.0 <= s[0] <= 1.0 and 0.0 <= s[1] <= 1.0
    assert abs(s[0] + s[1] - 1.0) <= 2.3e-16
    assert 0.0 <= sp[0] <= np.nextafter(0.25, 1.0)  # σ′ ≤ 1/4, up to the rounding of e/(1+e)²


# ---------------------------------------------------------------------------------------------
# Saturation, dtypes, label forms
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("zmag", [50.0, 1000.0])
def test_cross_entropy_is_finite_for_saturated_neurons(zmag):
    # One layer, identity-like weights: z = ±zmag with the targets on the wrong side.
    weights = [np.array([[zmag, 0.0], [0.0, -zmag]])]
    biases = [np.zeros(2)]
    x = np.array([[1.0, 1.0]])
    y = np.array([[0.0, 1.0]])  # a = (σ(zmag), σ(−zmag)) ≈ (1, 0): both wrong
    with np.errstate(all="raise"):
        g = backprop(weights, biases, x, y, "cross-entropy")
        gq = backprop(weights, biases, x, y, "quadratic")
    expected = 2 * (zmag + np.log1p(np.exp(-zmag)))
    assert np.isfinite(g.cost) and g.cost == pytest.approx(expected, rel=1e-15)
    np.testing.assert_array_equal(g.deltas[0], [[1.0, -1.0]])  # δᴸ = aᴸ − y does not vanish
    assert all(np.all(np.isfinite(a)) for a in g.nabla_w + g.nabla_b)
    assert gq.cost == pytest.approx(1.0) and np.all(np.isfinite(gq.nabla_w[0]))
    # And when right, the cost is tiny but positive (no cancellation to 0 or below).
    g_right = backprop(weights, biases, x, np.array([[1.0, 0.0]]), "cross-entropy")
    assert g_right.cost == pytest.approx(2 * np.log1p(np.exp(-zmag)), rel=1e-12, abs=0)  # e^−50 ≈ 2e-22


@pytest.mark.parametrize("cost", COSTS)
@pytest.mark.parametrize("labels_form", [True, False])
def test_float32_in_gives_float32_everywhere(cost, labels_form):
    rng = np.random.default_rng(3)
    weights, biases = make_network(rng, [6, 5, 4, 3], 1.0)
    x = rng.normal(size=(7, 6))
    labels = rng.integers(0, 3, size=7)
    y = labels if labels_form else onehot(labels, 3)  # one-hot stays float64: must not upcast
    w32 = [w.astype(np.float32) for w in weights]
    b32 = [b.astype(np.float32) for b in biases]
    g32 = backprop(w32, b32, x.astype(np.float32), y, cost)
    g64 = backprop(weights, biases, x, y, cost)
    for name in ("deltas", "nabla_b", "nabla_w", "zs", "activations"):
        for a32, a64 in zip(getattr(g32, name), getattr(g64, name)):
            assert a32.dtype == np.float32, name
            assert a64.dtype == np.float64, name
            np.testing.assert_allclose(a32, a64, rtol=2e-4, atol=1e-6)
    assert isinstance(g32.cost, float) and g32.cost == pytest.approx(g64.cost, rel=1e-5)
    zs, acts = feedforward(w32, b32, x.astype(np.float32))
    assert all(a.dtype == np.float32 for a in zs + acts)
    assert sigmoid(np.float32([1.0, -1.0])).dtype == np.float32
    # Integer pixels are computed in the weights' float dtype, not promoted to float64.
    zi, ai = feedforward(w32, b32, np.arange(12).reshape(2, 6))
    assert all(a.dtype == np.float32 for a in zi + ai[1:])
    assert sigmoid_prime(np.float32([1.0, -1.0])).dtype == np.float32


@pytest.mark.parametrize("cost", COSTS)
def test_integer_labels_equal_one_hot(cost):
    rng = np.random.default_rng(4)
    weights, biases = make_network(rng, [3, 8, 4], 1.0)
    x = rng.normal(size=(11, 3))
    labels = rng.integers(0, 4, size=11)
    a = backprop(weights, biases, x, labels, cost)
    b = backprop(weights, biases, x, onehot(labels, 4), cost)
    c = backprop(weights, biases, x, labels.astype(np.uint8), cost)
    assert a.cost == b.cost == c.cost
    for name in ("deltas", "nabla_b", "nabla_w"):
        for u, v, w in zip(getattr(a, name), getattr(b, name), getattr(c, name)):
            np.testing.assert_array_equal(u, v)
            np.testing.assert_array_equal(u, w)


def test_one_dimensional_x_is_one_example():
    rng = np.random.default_rng(5)
    weights, biases = make_network(rng, [3, 4, 2], 1.0)
    x = rng.normal(size=3)
    zs, acts = feedforward(weights, biases, x)
    assert acts[0].shape == (1, 3) and zs[0].shape == (1, 4) and acts[-1].shape == (1, 2)
    g1 = backprop(weights, biases, x, 1)
    g2 = backprop(weights, biases, x[None, :], np.array([1]))
    g3 = backprop(weights, biases, x, np.array([0.0, 1.0]))
    for u, v, w in zip(g1.nabla_w + g1.nabla_b, g2.nabla_w + g2.nabla_b, g3.nabla_w + g3.nabla_b):
        np.testing.assert_array_equal(u, v)
        np.testing.assert_array_equal(u, w)


def test_gradients_dataclass_fields():
    rng = np.random.default_rng(6)
    weights, biases = make_network(rng, [2, 3, 2], 1.0)
    g = backprop(weights, biases, rng.normal(size=(4, 2)), [0, 1, 1, 0])
    assert isinstance(g, Gradients)
    assert [d.shape for d in g.deltas] == [(4, 3), (4, 2)]
    assert [b.shape for b in g.nabla_b] == [(3,), (2,)]
    assert [w.shape for w in g.nabla_w] == [(3, 2), (2, 3)]
    assert len(g.zs) == 2 and len(g.activations) == 3 and isinstance(g.cost, float)


def test_backprop_does_not_mutate_its_inputs():
    rng = np.random.default_rng(8)
    weights, biases = make_network(rng, [3, 4, 2], 1.0)
    x, y = rng.normal(size=(5, 3)), onehot(rng.integers(0, 2, size=5), 2)
    copies = [a.copy() for a in weights + biases + [x, y]]
    for cost in COSTS:
        backprop(weights, biases, x, y, cost)
    for a, c in zip(weights + biases + [x, y], copies):
        np.testing.assert_array_equal(a, c)


# ---------------------------------------------------------------------------------------------
# Validation errors
# ---------------------------------------------------------------------------------------------

def _net():
    rng = np.random.default_rng(9)
    return make_network(rng, [3, 4, 2], 1.0)


def test_unknown_cost_names_it_and_the_valid_ones():
    weights, biases = _net()
    with pytest.raises(ValueError, match=r"'hinge'.*'quadratic'.*'cross-entropy'"):
        backprop(weights, biases, np.zeros((2, 3)), [0, 1], cost="hinge")
    with pytest.raises(ValueError, match="'hinge'"):
        cost_value(weights, biases, np.zeros((2, 3)), [0, 1], cost="hinge")


@pytest.mark.parametrize("case,pattern", [
    ("len", r"2 weight matrices but 1 bias"),
    ("empty", r"no layers"),
    ("n_in", r"layer 1: weights\[1\] has shape \(2, 5\).*n_out = 4.*\(4, 3\)"),
    ("bias", r"layer 0: biases\[0\] has shape \(4, 1\).*\(4, 3\).*\(4,\)"),
    ("w_ndim", r"layer 1: weights\[1\] has shape \(8,\)"),
    ("x_width", r"layer 0: x has shape \(2, 5\).*\(4, 3\)"),
    ("x_empty", r"x has shape \(0, 3\)"),
    ("y_shape", r"layer 1 \(output\): y has shape \(2, 3\).*\(2, 2\)"),
    ("y_rows", r"layer 1 \(output\): y has shape \(3, 2\).*\(2, 2\)"),
    ("labels_len", r"layer 1 \(output\): integer labels y have shape \(3,\).*\(2,\)"),
    ("labels_high", r"layer 1 \(output\): labels y must lie in \[0, 2\).*\[0, 2\]"),
    ("labels_neg", r"layer 1 \(output\): labels y must lie in \[0, 2\).*\[-1, 1\]"),
])
def test_shape_errors_name_layer_and_shapes(case, pattern):
    weights, biases = _net()
    x, y = np.zeros((2, 3)), np.array([0, 1])
    if case == "len":
        biases = biases[:1]
    elif case == "empty":
        weights, biases = [], []
    elif case == "n_in":
        weights = [weights[0], np.zeros((2, 5))]
    elif case == "bias":
        biases = [biases[0].reshape(4, 1), biases[1]]
    elif case == "w_ndim":
        weights = [weights[0], np.zeros(8)]
    elif case == "x_width":
        x = np.zeros((2, 5))
    elif case == "x_empty":
        x = np.zeros((0, 3))
    elif case == "y_shape":
        y = np.zeros((2, 3))
    elif case == "y_rows":
        y = np.zeros((3, 2))
    elif case == "labels_len":
        y = np.array([0, 1, 1])
    elif case == "labels_high":
        y = np.array([0, 2])
    elif case == "labels_neg":
        y = np.array([-1, 1])
    with pytest.raises(ValueError, match=pattern):
        backprop(weights, biases, x, y)
    if case not in {"y_shape", "y_rows", "labels_len", "labels_high", "labels_neg"}:
        with pytest.raises(ValueError, match=pattern):
            feedforward(weights, biases, x)

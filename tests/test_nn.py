"""Tests of `tinygrad_nn.nn`: the tensor MLP against the closed-form BP1–BP4, ScalarMLP against MLP,
the three costs against their formulas, the Module API and the errors.

Tolerances (all float64 unless a test says otherwise):

* autodiff vs BP1–BP4: elementwise ``rtol = 1e-9`` with ``atol = 1e-12``. Both compute the same forward
  pass (bit-identical zˡ for z ≥ 0, ≤ a few ulp apart for z < 0) and then sum the same products in a
  different order (per-example δ scaled by 1/m before or after the batch sum), so the expected error is a
  few ulp of Σ|terms| ≲ 1e-14 for the bounded weights drawn here; atol only covers entries that are
  ~0 by cancellation.
* ScalarMLP vs MLP: ``rtol = 1e-12`` (sequential scalar sums vs BLAS dots, same formulas), with an
  ``atol`` of 1e-12 × the largest entry of the array for the entries that are sums which cancel to ~0.
* costs vs numpy formulas: ``rtol = 1e-12``; against the naive cross-entropy formula (the library evaluates
  it from zᴸ as softplus(z) − y z) an extra ``atol`` of 10× the naive formula's own rounding error,
  Σ 4ε/(1 − a), because ln(1 − a) loses digits as a → 1.
"""
from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_nn import backprop as closed_form
from tinygrad_nn.engine import Value, no_grad
from tinygrad_nn.nn import (
    ACTIVATIONS,
    COSTS,
    INITS,
    MLP,
    Linear,
    ScalarMLP,
    cost_function,
    cross_entropy_cost,
    log_likelihood_cost,
    quadratic_cost,
)
from tinygrad_nn.testing import TARGETS, check_backprop, mini_batches, networks

RTOL, ATOL = 1e-9, 1e-12          # autodiff vs BP1–BP4 (see the module docstring)
SCALAR_RTOL = 1e-12               # ScalarMLP vs MLP


# ---------------------------------------------------------------------------------------------
# Random problems: architecture, N(0, s²) weights, inputs, targets — from tinygrad_nn.testing
# ---------------------------------------------------------------------------------------------

@st.composite
def problems(draw, costs=("quadratic", "cross-entropy"), max_layers=4, max_width=16, max_batch=32):
    """A sigmoid network with weights and biases N(0, s²), s ∈ [0.05, 3] (near-linear to saturated), a
    mini-batch for it (x uniform in ±[0, 3]; one-hot, label or soft targets; sometimes one 1-D example)
    and a cost."""
    net = draw(networks(max_layers=max_layers, max_width=max_width, weight_scale=(0.05, 3.0)))
    x, y = draw(mini_batches(net, max_size=max_batch, x_scale=(0.0, 3.0), targets=TARGETS, single=True))
    return net, x, y, draw(st.sampled_from(costs))


@given(problems())
def test_autodiff_deltas_and_gradients_equal_bp1_to_bp4(problem):
    net, x, y, cost = problem
    # δˡ, ∂C/∂bˡ, ∂C/∂wˡ of every layer, elementwise to rtol 1e-9, atol 1e-12 (module docstring), and
    # finite differences on sampled weights (tinygrad_nn.testing.check_backprop; its own tests show it fails)
    check_backprop(net, x, y, cost, rtol=RTOL, atol=ATOL)
    ref = closed_form.backprop([layer.weight.data for layer in net.layers], [layer.bias.data for layer in net.layers],
                               x, y, cost=cost)
    np.testing.assert_allclose(cost_function(cost)(net(x), y).data, ref.cost, rtol=RTOL, atol=ATOL)


@given(problems())
def test_net_forward_equals_closed_form_feedforward(problem):
    net, x, _, _ = problem
    zs, activations = net.feedforward(x)
    ref_zs, ref_acts = closed_form.feedforward([l.weight.data for l in net.layers],
                                               [l.bias.data for l in net.layers], x)
    for l, (z, rz) in enumerate(zip(zs, ref_zs)):
        # zˡ is a sum that may cancel to ~0, so bound the error by 1e-12 × Σ|terms| (|a| |w|ᵀ + |b|),
        # i.e. rtol 1e-12 relative to the size of what was summed (the inputs differ by ulps for z < 0)
        w, b = net.layers[l].weight.data, net.layers[l].bias.data
        bound = 1e-12 * (np.abs(ref_acts[l]) @ np.abs(w).T + np.abs(b))
        assert np.all(np.abs(np.atleast_2d(z.data) - rz) <= bound)
    for a, ra in zip(activations[1:], ref_acts[1:]):  # σ formulas differ by ≤ a few ulp for z < 0
        np.testing.assert_allclose(np.atleast_2d(a.data), ra, rtol=1e-12, atol=1e-300)


# ---------------------------------------------------------------------------------------------
# ScalarMLP equals the tensor MLP
# ---------------------------------------------------------------------------------------------

def _close(actual, desired, rtol=SCALAR_RTOL):
    actual, desired = np.asarray(actual, dtype=float), np.asarray(desired, dtype=float)
    scale = float(np.max(np.abs(desired))) if desired.size else 0.0
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=rtol * scale + 1e-300)


def _scalar_grads(snet: ScalarMLP):
    return ([np.array([[w.grad for w in n.weights] for n in layer.neurons]) for layer in snet.layers],
            [np.array([n.bias.grad for n in layer.neurons]) for layer in snet.layers])


@st.composite
def scalar_problems(draw):
    # ch. 3's scaled init and inputs in [−1, 1] keep |z| ≲ 4: the two engines evaluate σ/tanh with different
    # libraries (math vs numpy, each ≤ 1 ulp), and σ′ = s(1 − s), tanh′ = 1 − t² amplify that ulp by 1/σ′,
    # which for a saturated neuron (|z| ≳ 8) alone exceeds 1e-12 — a conditioning effect, not a bug.
    net = draw(networks(max_layers=3, max_width=5, activation=st.sampled_from(["sigmoid", "tanh", "relu"]),
                        output_activation=st.sampled_from([None, "sigmoid", "identity"]), init="scaled"))
    x, y = draw(mini_batches(net, max_size=4, x_scale=1.0, targets="soft"))
    return net, x, y


@given(scalar_problems())
def test_scalar_mlp_outputs_equal_tensor_mlp(problem):
    net, x, _ = problem
    snet = ScalarMLP.from_mlp(net)
    for row in x:
        out = snet(list(row))
        assert len(out) == net.sizes[-1] and all(isinstance(o, Value) and type(o.data) is float for o in out)
        _close([o.data for o in out], net(row).data)          # rtol 1e-12


@given(scalar_problems())
def test_scalar_mlp_gradients_equal_tensor_mlp_one_example(problem):
    net, x, y = problem
    snet = ScalarMLP.from_mlp(net)
    out = snet(list(x[0]))
    c = 0.5 * sum((o - t) ** 2 for o, t in zip(out, y[0]))   # C = ½‖a − y‖² built from scalar Values
    c.backward()
    tc = quadratic_cost(net(x[0]), y[0])
    tc.backward()
    np.testing.assert_allclose(c.data, tc.data, rtol=SCALAR_RTOL)
    gw, gb = _scalar_grads(snet)
    for layer, w, b in zip(net.layers, gw, gb):
        _close(w, layer.weight.grad)                   # rtol 1e-12 (see _close)
        _close(b, layer.bias.grad)


@given(scalar_problems())
def test_scalar_mlp_gradients_equal_tensor_mlp_summed_over_examples(problem):
    net, x, y = problem
    snet = ScalarMLP.from_mlp(net)
    total = 0.0
    for row, target in zip(x, y):                      # C = (1/n) Σₓ ½‖a(x) − y(x)‖², one scalar graph
        for o, t in zip(snet(list(row)), target):
            total = total + 0.5 * (o - t) * (o - t)
    c = total * (1.0 / len(x))
    c.backward()
    tc = quadratic_cost(net(x), y)                     # the tensor cost is the batch mean
    tc.backward()
    np.testing.assert_allclose(c.data, tc.data, rtol=SCALAR_RTOL)
    gw, gb = _scalar_grads(snet)
    for layer, w, b in zip(net.layers, gw, gb):
        _close(w, layer.weight.grad)
        _close(b, layer.bias.grad)


def test_scalar_mlp_round_trip_and_independence():
    net = MLP([3, 4, 2], activation="tanh", output_activation="sigmoid", init="scaled", seed=5)
    snet = ScalarMLP.from_mlp(net)
    back = snet.to_mlp()
    assert back.config() == net.config()
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[k], v)            # exact copy
    snet.layers[1].neurons[0].weights[2].data = 7.5                       # edit the scalar net …
    snet.layers[0].neurons[3].bias.data = -1.25
    again = snet.to_mlp()
    assert again.layers[1].weight.data[0, 2] == 7.5 and again.layers[0].bias.data[3] == -1.25
    assert net.layers[1].weight.data[0, 2] != 7.5                         # … the tensor net is untouched
    x = np.array([0.3, -0.2, 0.9])
    _close([o.data for o in snet(list(x))], again(x).data)


def test_scalar_mlp_seed_builds_the_same_weights_as_mlp():
    snet, net = ScalarMLP([2, 3, 2], seed=11), MLP([2, 3, 2], seed=11)
    for k, v in snet.to_mlp().state_dict().items():
        np.testing.assert_array_equal(v, net.state_dict()[k])
    names = [n for n, _ in snet.named_parameters()]
    assert names[:4] == ["layers.0.neurons.0.weights.0", "layers.0.neurons.0.weights.1",
                         "layers.0.neurons.0.bias", "layers.0.neurons.1.weights.0"]
    assert len(names) == 2 * 3 + 3 + 3 * 2 + 2
    assert all(p.name == n for n, p in snet.named_parameters())


def test_scalar_mlp_errors():
    with pytest.raises(ValueError, match="softmax"):
        ScalarMLP([2, 3], output_activation="softmax")
    with pytest.raises(ValueError, match="softmax"):
        ScalarMLP.from_mlp(MLP([2, 3], output_activation="softmax"))
    with pytest.raises(ValueError, match="got 3 inputs, expected 2"):
        ScalarMLP([2, 3], seed=0)([1.0, 2.0, 3.0])


# ---------------------------------------------------------------------------------------------
# Costs: values against their formulas, gradients, saturation
# ---------------------------------------------------------------------------------------------

def _numpy_forward(net: MLP, x):
    a = np.atleast_2d(x)
    acts = {"sigmoid": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh, "relu": lambda z: np.maximum(z, 0),
            "identity": lambda z: z, "step": lambda z: (z > 0).astype(float),
            "softmax": lambda z: np.exp(z - z.max(1, keepdims=True)) / np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True)}
    zs = []
    for l, layer in enumerate(net.layers):
        zs.append(a @ layer.weight.data.T + layer.bias.data)
        a = acts[net.output_activation if l == len(net.layers) - 1 else net.activation](zs[-1])
    return zs, a


@given(problems(max_layers=3, max_width=8, max_batch=16))
def test_quadratic_and_cross_entropy_values_equal_their_formulas(problem):
    net, x, y, _ = problem
    _, a = _numpy_forward(net, x)
    m = a.shape[0]
    yy = np.eye(a.shape[1])[np.atleast_1d(y)] if np.asarray(y).dtype.kind in "iu" else np.atleast_2d(y)
    if a.shape[1] == 1:  # one output neuron: y holds its target values (tests/test_one_output.py)
        yy = np.reshape(np.asarray(y, dtype=float), (-1, 1))
    quad = np.sum(np.sum((yy - a) ** 2, axis=1)) / (2 * m)
    np.testing.assert_allclose(quadratic_cost(net(x), y).data, quad, rtol=1e-12, atol=1e-300)
    with np.errstate(divide="ignore"):
        xent = -np.sum(yy * np.log(a) + (1 - yy) * np.log(1 - a)) / m
    if np.isfinite(xent):
        # the naive formula's own rounding: a and 1 − a carry a few ulp of 1 each, so ln(1 − a) is off by
        # ~4ε/(1 − a) and ln a by ~4ε; allow 10× that (plus rtol 1e-12 for the sums)
        eps = np.finfo(np.float64).eps
        atol = 10 * np.sum((1 - yy) * 4 * eps / (1 - a) + yy * 4 * eps) / m
        np.testing.assert_allclose(cross_entropy_cost(net(x), y).data, xent, rtol=1e-12, atol=atol)
    # the library's value is the exact Σ softplus(z) − y z, finite everywhere
    z = np.atleast_2d(net.feedforward(x)[0][-1].data)
    np.testing.assert_allclose(cross_entropy_cost(net(x), y).data, np.sum(np.logaddexp(0, z) - yy * z) / m,
                               rtol=1e-12, atol=1e-300)


@given(st.integers(1, 3), st.integers(2, 10), st.integers(1, 20), st.integers(0, 2 ** 32 - 1), st.booleans())
def test_log_likelihood_value_and_delta_with_softmax_output(n_hidden, k, m, seed, labels):
    rng = np.random.default_rng(seed)
    sizes = [int(s) for s in rng.integers(1, 9, n_hidden)]
    net = MLP([3, *sizes, k], output_activation="softmax", seed=seed)
    x, lab = rng.uniform(-2, 2, (m, 3)), rng.integers(0, k, m)
    y = lab if labels else np.eye(k)[lab]
    _, a_np = _numpy_forward(net, x)
    zs, activations = net.feedforward(x)
    np.testing.assert_allclose(activations[-1].data, a_np, rtol=1e-12)          # softmax rows
    np.testing.assert_allclose(activations[-1].data.sum(axis=1), 1.0, rtol=1e-14)
    c = log_likelihood_cost(activations[-1], y)
    np.testing.assert_allclose(c.data, -np.mean(np.log(a_np[np.arange(m), lab])), rtol=1e-12)  # eq. 80
    c.backward()
    # δᴸ = aᴸ − y (per example): (a − y)·(1/m)·m, a couple of roundings
    np.testing.assert_allclose(m * zs[-1].grad, activations[-1].data - np.eye(k)[lab], rtol=1e-12, atol=1e-16)


def test_log_likelihood_hidden_gradients_match_finite_differences():
    rng = np.random.default_rng(8)
    net = MLP([4, 5, 3], output_activation="softmax", seed=8)
    x, y = rng.random((6, 4)), rng.integers(0, 3, 6)
    log_likelihood_cost(net(x), y).backward()
    eps = 1e-6
    for p in net.parameters():
        for idx in [tuple(rng.integers(0, n) for n in p.shape) for _ in range(4)]:
            saved = p.data[idx]
            p.data[idx] = saved + eps
            up = log_likelihood_cost(net(x), y).data
            p.data[idx] = saved - eps
            down = log_likelihood_cost(net(x), y).data
            p.data[idx] = saved
            # central differences: O(eps²) truncation + O(ulp/eps) round-off ≪ 1e-7
            assert abs((up - down) / (2 * eps) - p.grad[idx]) <= 1e-7 + 1e-5 * abs(p.grad[idx])


def test_costs_on_plain_probabilities_use_the_naive_formulas_and_gradients():
    """When `a` is not σ(z) / softmax(z) (a leaf here), the costs take the p-path: check value and ∇ₐC."""
    a = Value(np.array([[0.2, 0.7, 0.4], [0.9, 0.1, 0.5]]))
    y = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 1.0]])
    c = cross_entropy_cost(a, y)
    np.testing.assert_allclose(c.data, -np.sum(y * np.log(a.data) + (1 - y) * np.log(1 - a.data)) / 2, rtol=1e-14)
    c.backward()
    np.testing.assert_allclose(a.grad, (a.data - y) / (a.data * (1 - a.data)) / 2, rtol=1e-14)
    a.zero_grad()
    c = log_likelihood_cost(a, np.array([1, 2]))
    np.testing.assert_allclose(c.data, -(np.log(0.7) + np.log(0.5)) / 2, rtol=1e-14)
    c.backward()
    np.testing.assert_allclose(a.grad, [[0, -1 / 0.7 / 2, 0], [0, 0, -1 / 0.5 / 2]], rtol=1e-14)
    a.zero_grad()
    c = quadratic_cost(a, y)
    np.testing.assert_allclose(c.data, np.sum((y - a.data) ** 2) / 4, rtol=1e-14)
    c.backward()
    np.testing.assert_allclose(a.grad, (a.data - y) / 2, rtol=1e-14)


def _saturated_net():
    net = MLP([1, 2], seed=0)
    net.load_state_dict({"layers.0.weight": np.array([[800.0], [-800.0]]), "layers.0.bias": np.zeros(2)})
    return net, np.array([[1.0], [1.0]]), np.array([[0.0, 1.0], [0.0, 1.0]])  # z = (800, −800): every neuron wrong


def test_cross_entropy_saturated_with_a_graph_is_exact_and_finite():
    net, x, y = _saturated_net()
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        zs, activations = net.feedforward(x)
        assert np.array_equal(activations[-1].data, [[1.0, 0.0], [1.0, 0.0]])   # σ(±800) rounds to 1 / 0
        c = cross_entropy_cost(activations[-1], y)
        # from zᴸ: per example softplus(800) + softplus(−800) − y·z = 800 + 0 + 800 → mean 1600 (exact)
        assert c.data == 1600.0
        c.backward()
    assert np.all(np.isfinite(zs[0].grad)) and np.array_equal(2 * zs[0].grad, activations[-1].data - y)
    assert np.all(np.isfinite(net.layers[0].weight.grad)) and np.all(np.isfinite(net.layers[0].bias.grad))


def test_cross_entropy_saturated_under_no_grad_is_finite_but_clipped():
    """Observed: under no_grad the cost node cannot see zᴸ (σ recorded no graph), so it falls back to the
    p-formula with ln(max(p, tiny)); the result is finite (no inf/NaN, no warning) but each saturated wrong
    neuron contributes −ln(tiny) ≈ 708.4 instead of 800."""
    net, x, y = _saturated_net()
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        with no_grad():
            c = cross_entropy_cost(net(x), y)
    assert np.isfinite(c.data) and not c.requires_grad
    # observed today: exactly −2 ln(tiny) ≈ 1416.8 (rtol 1e-14); an exact evaluation (1600) would also pass
    clipped = -2 * np.log(np.finfo(np.float64).tiny)
    assert clipped * (1 - 1e-14) <= c.data <= 1600.0


def test_cross_entropy_confident_and_right_is_zero_not_nan():
    z = Value(np.array([[800.0, -800.0]]))
    c = cross_entropy_cost(z.sigmoid(), np.array([[1.0, 0.0]]))
    assert c.data == 0.0
    c.backward()
    assert np.array_equal(z.grad, [[0.0, 0.0]])


# ---------------------------------------------------------------------------------------------
# Other activations: forward against numpy, gradients against a hand-written backprop
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("activation,output", [("tanh", None), ("relu", "sigmoid"), ("tanh", "identity"),
                                               ("relu", "relu"), ("identity", "tanh")])
def test_other_activations_forward_and_gradients(activation, output):
    rng = np.random.default_rng(12)
    net = MLP([4, 6, 5, 3], activation, output, seed=12)
    x, y = rng.uniform(-1, 1, (9, 4)), rng.random((9, 3))
    zs_np, a_np = _numpy_forward(net, x)
    zs, activations = net.feedforward(x)
    np.testing.assert_allclose(activations[-1].data, a_np, rtol=1e-12, atol=1e-300)
    quadratic_cost(activations[-1], y).backward()
    deriv = {"tanh": lambda z: 1 - np.tanh(z) ** 2, "relu": lambda z: (z > 0).astype(float),
             "identity": np.ones_like, "sigmoid": lambda z: np.exp(-z) / (1 + np.exp(-z)) ** 2}
    L = len(net.layers) - 1
    delta = (a_np - y) * deriv[net.output_activation](zs_np[L])
    for l in range(L, -1, -1):
        if l < L:
            delta = (delta @ net.layers[l + 1].weight.data) * deriv[net.activation](zs_np[l])
        a_prev = x if l == 0 else activations[l].data
        np.testing.assert_allclose(9 * zs[l].grad, delta, rtol=1e-9, atol=1e-12)          # same as BP1–BP4
        np.testing.assert_allclose(net.layers[l].bias.grad, delta.mean(axis=0), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(net.layers[l].weight.grad, delta.T @ a_prev / 9, rtol=1e-9, atol=1e-12)


def test_step_activation_forward_is_0_or_1_and_backward_raises():
    rng = np.random.default_rng(13)
    net = MLP([3, 5, 2], activation="step", seed=13)
    x = rng.standard_normal((20, 3))
    zs, activations = net.feedforward(x)
    for z, a in zip(zs, activations[1:]):
        assert set(np.unique(a.data)) <= {0.0, 1.0}
        np.testing.assert_array_equal(a.data, (z.data > 0).astype(float))
    assert len(np.unique(activations[1].data)) == 2           # both values actually occur
    c = quadratic_cost(activations[-1], rng.integers(0, 2, 20))
    with pytest.raises(RuntimeError, match=r"step function has derivative 0.*use sigmoid"):
        c.backward()
    # also with a sigmoid output over step hidden neurons: the error comes from the hidden layer
    net2 = MLP([3, 5, 2], activation="step", output_activation="sigmoid", seed=13)
    with pytest.raises(RuntimeError, match="step"):
        quadratic_cost(net2(x), rng.integers(0, 2, 20)).backward()


# ---------------------------------------------------------------------------------------------
# Module API
# ---------------------------------------------------------------------------------------------

def test_named_parameters_names_and_order():
    net = MLP([4, 3, 2, 1], seed=0)
    names = [n for n, _ in net.named_parameters()]
    assert names == ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias",
                     "layers.2.weight", "layers.2.bias"]
    for name, p in net.named_parameters():
        assert p.name == name
    params = net.parameters()
    assert params[0] is net.layers[0].weight and params[5] is net.layers[2].bias
    assert [p.shape for p in params] == [(3, 4), (3,), (2, 3), (2,), (1, 2), (1,)]
    assert all(p.is_leaf and p.requires_grad for p in params)
    lin = Linear(3, 2, rng=np.random.default_rng(0))
    assert [n for n, _ in lin.named_parameters()] == ["weight", "bias"]
    assert [n for n, _ in net.layers[1].named_parameters("pre.")] == ["pre.weight", "pre.bias"]


def test_zero_grad_clears_every_parameter():
    net = MLP([3, 4, 2], seed=0)
    quadratic_cost(net(np.ones((2, 3))), np.array([0, 1])).backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_leaf_gradients_accumulate_until_zero_grad():
    net = MLP([3, 4, 2], seed=0)
    x, y = np.ones((2, 3)), np.array([0, 1])
    quadratic_cost(net(x), y).backward()
    once = net.layers[0].weight.grad.copy()
    quadratic_cost(net(x), y).backward()
    np.testing.assert_allclose(net.layers[0].weight.grad, 2 * once, rtol=1e-15)


def test_state_dict_round_trip_copies():
    a, b = MLP([3, 4, 2], seed=1), MLP([3, 4, 2], seed=2)
    state = a.state_dict()
    assert list(state) == [n for n, _ in a.named_parameters()]
    state["layers.0.weight"][0, 0] += 100.0                           # a copy: the model is unchanged
    assert a.layers[0].weight.data[0, 0] != state["layers.0.weight"][0, 0]
    arrays = [p.data for p in b.parameters()]
    b.load_state_dict(a.state_dict())
    assert all(p.data is arr for p, arr in zip(b.parameters(), arrays))   # loaded in place
    x = np.random.default_rng(0).random((5, 3))
    np.testing.assert_array_equal(a(x).data, b(x).data)
    src = a.state_dict()
    b.load_state_dict({k: v.tolist() for k, v in src.items()})       # lists are accepted too
    for k, v in b.state_dict().items():
        np.testing.assert_array_equal(v, src[k])


def test_load_state_dict_errors_name_the_key_and_shapes():
    net = MLP([3, 4, 2], seed=0)
    state = net.state_dict()
    del state["layers.1.bias"]
    with pytest.raises(ValueError, match=r"missing parameters \['layers.1.bias'\]"):
        net.load_state_dict(state)
    state = net.state_dict()
    state["layers.9.weight"] = np.zeros(2)
    with pytest.raises(ValueError, match=r"unexpected \['layers.9.weight'\]"):
        net.load_state_dict(state)
    state = net.state_dict()
    state["layers.0.weight"] = np.zeros((3, 4))
    with pytest.raises(ValueError) as info:
        net.load_state_dict(state)
    assert "layers.0.weight" in str(info.value) and "(3, 4)" in str(info.value) and "(4, 3)" in str(info.value)
    state = net.state_dict()
    state["layers.0.bias"] = np.array(["a", "b", "c", "d"])
    with pytest.raises(TypeError, match="layers.0.bias"):
        net.load_state_dict(state)


# ---------------------------------------------------------------------------------------------
# MLP construction and input errors
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sizes", [[], [3], (5,)])
def test_mlp_needs_two_sizes(sizes):
    with pytest.raises(ValueError, match="at least two layer sizes"):
        MLP(sizes)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "4"])
def test_mlp_sizes_must_be_positive_integers(bad):
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        MLP([3, bad, 2])


@pytest.mark.parametrize("kwarg,given,valid", [
    ("activation", "swish", [a for a in ACTIVATIONS if a != "softmax"]),
    ("activation", "softmax", [a for a in ACTIVATIONS if a != "softmax"]),
    ("output_activation", "gelu", list(ACTIVATIONS)),
    ("init", "xavier", list(INITS)),
])
def test_unknown_choices_name_the_given_and_the_valid_ones(kwarg, given, valid):
    with pytest.raises(ValueError) as info:
        MLP([2, 3], **{kwarg: given})
    msg = str(info.value)
    assert kwarg in msg and repr(given) in msg
    assert all(v in msg for v in valid)


def test_unknown_cost_name():
    with pytest.raises(ValueError) as info:
        cost_function("hinge")
    assert "'hinge'" in str(info.value) and all(c in str(info.value) for c in COSTS)


def test_non_float_dtype_is_rejected():
    with pytest.raises(TypeError, match="floating"):
        MLP([2, 3], dtype=np.int32)


def test_input_width_and_empty_batch_errors():
    net = MLP([3, 4, 2], seed=0)
    with pytest.raises(ValueError) as info:
        net(np.ones((5, 7)))
    assert "(5, 7)" in str(info.value) and "(m, 3)" in str(info.value)
    with pytest.raises(ValueError, match=r"\(4,\).*\(3,\)"):
        net(np.ones(4))
    with pytest.raises(ValueError, match="3"):
        net(np.ones((2, 3, 1)))
    with pytest.raises(ValueError, match=r"empty.*\(0, 3\)"):
        net(np.ones((0, 3)))


@pytest.mark.parametrize("cost", [quadratic_cost, cross_entropy_cost, log_likelihood_cost])
def test_cost_target_shape_and_label_errors(cost):
    a = Value(np.full((4, 3), 0.3))
    with pytest.raises(ValueError) as info:
        cost(a, np.zeros((4, 2)))
    assert "(4, 2)" in str(info.value) and "(4, 3)" in str(info.value)
    with pytest.raises(ValueError) as info:
        cost(a, np.array([0, 1, 2]))                    # 3 labels for 4 examples
    assert "(3,)" in str(info.value) and "(4, 3)" in str(info.value)
    with pytest.raises(ValueError, match="label 3 is out of range for 3 output neurons"):
        cost(a, np.array([0, 1, 3, 2]))
    with pytest.raises(ValueError, match="label -1 is out of range"):
        cost(a, np.array([0, -1, 1, 2]))
    assert np.isfinite(cost(a, np.array([0, 1, 2, 2])).data)     # labels in range are fine


# ---------------------------------------------------------------------------------------------
# Initialisation, seeds, dtype
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("init,std", [("normal", 1.0), ("scaled", 1 / np.sqrt(400))])
def test_init_statistics(init, std):
    net = MLP([400, 500, 400], init=init, seed=21)
    w = net.layers[0].weight.data                       # 200 000 draws
    # standard error of the sample std is std/√(2N) ≈ 0.0016·std: allow 1 % (≈ 6 standard errors)
    assert abs(w.std() / std - 1) < 0.01
    assert abs(w.mean()) < 0.01 * std                   # s.e. of the mean ≈ 0.0022·std
    b = np.concatenate([l.bias.data for l in net.layers])   # biases ~ N(0, 1) for both inits, 900 draws
    assert abs(b.std() - 1) < 0.15 and abs(b.mean()) < 0.2   # ≈ 6 standard errors
    assert abs(net.layers[1].weight.data.std() * (np.sqrt(500) if init == "scaled" else 1) - 1) < 0.01


def test_seeds_are_reproducible():
    a, b, c = MLP([5, 4, 3], seed=7), MLP([5, 4, 3], seed=7), MLP([5, 4, 3], seed=8)
    for k in a.state_dict():
        np.testing.assert_array_equal(a.state_dict()[k], b.state_dict()[k])
        assert not np.array_equal(a.state_dict()[k], c.state_dict()[k])
    d, e = MLP([5, 4, 3]), MLP([5, 4, 3])              # no seed: fresh entropy each time
    assert not np.array_equal(d.layers[0].weight.data, e.layers[0].weight.data)


@pytest.mark.parametrize("cost", ["quadratic", "cross-entropy", "log-likelihood"])
def test_float32_mlp_stays_float32(cost):
    out = "softmax" if cost == "log-likelihood" else None
    net = MLP([6, 5, 4], output_activation=out, seed=3, dtype=np.float32)
    assert all(p.dtype == np.float32 for p in net.parameters())
    rng = np.random.default_rng(3)
    x, y = rng.random((7, 6)).astype(np.float32), rng.integers(0, 4, 7)
    zs, activations = net.feedforward(x)
    assert all(v.dtype == np.float32 for v in zs + activations)
    c = cost_function(cost)(activations[-1], y)
    c.backward()
    assert np.isfinite(c.data)
    assert all(z.grad.dtype == np.float32 for z in zs)
    assert all(p.grad.dtype == np.float32 for p in net.parameters())
    # and the float32 gradients are the float64 ones to float32 accuracy (rtol 1e-4 ≫ ε₃₂ ≈ 1.2e-7)
    net64 = MLP([6, 5, 4], output_activation=out, seed=0)
    net64.load_state_dict({k: v.astype(np.float64) for k, v in net.state_dict().items()})
    cost_function(cost)(net64(x.astype(np.float64)), y).backward()
    for p32, p64 in zip(net.parameters(), net64.parameters()):
        np.testing.assert_allclose(p32.grad, p64.grad, rtol=1e-4, atol=1e-6)


def test_float32_parameters_keep_float32_gradients_with_float64_input():
    """A float64 input promotes the forward pass (numpy rules); the parameters' gradients stay float32."""
    net = MLP([3, 4, 2], seed=0, dtype=np.float32)
    quadratic_cost(net(np.ones((2, 3))), np.array([0, 1])).backward()
    assert all(p.grad.dtype == np.float32 and p.data.dtype == np.float32 for p in net.parameters())


def test_predict_and_accuracy():
    net = MLP([3, 4, 5], seed=0)
    x = np.random.default_rng(0).random((10, 3))
    pred = net.predict(x)
    np.testing.assert_array_equal(pred, np.argmax(net(x).data, axis=1))
    assert net.accuracy(x, pred) == 1.0
    assert net.accuracy(x, (pred + 1) % 5) == 0.0

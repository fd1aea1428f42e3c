"""Tests of `tinygrad_nn.optim.SGD`: one step is Nielsen's eq. 20–21 computed by hand from per-example
gradients (the closed-form backprop on each example separately), momentum and L2 weight decay as in ch. 3.

Tolerance: the engine's batch-mean gradient and the hand sum of per-example gradients add the same O(1)
terms in a different order, so after w − η·g the results differ by a few ulp of |w| + η·|g|·m:
``rtol = 1e-12`` with ``atol = 1e-13`` (for entries that cancel to ~0).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_nn.backprop import backprop
from tinygrad_nn.engine import Value
from tinygrad_nn.nn import MLP, ScalarMLP, cost_function
from tinygrad_nn.optim import SGD
from tinygrad_nn.testing import mini_batches, networks

RTOL, ATOL = 1e-12, 1e-13


def per_example_mean_gradient(net: MLP, x, y, cost):
    """(1/m) Σⱼ ∂C_Xⱼ/∂w for every parameter, from backprop on each example separately (a loop)."""
    ws = [l.weight.data.copy() for l in net.layers]
    bs = [l.bias.data.copy() for l in net.layers]
    sum_w = [np.zeros_like(w) for w in ws]
    sum_b = [np.zeros_like(b) for b in bs]
    for j in range(len(x)):
        g = backprop(ws, bs, x[j:j + 1], y[j:j + 1], cost=cost)   # ∂C_Xⱼ/∂w: the cost of one example
        for l in range(len(ws)):
            sum_w[l] += g.nabla_w[l]
            sum_b[l] += g.nabla_b[l]
    m = len(x)
    return ws, bs, [s / m for s in sum_w], [s / m for s in sum_b]


def engine_backward(net: MLP, x, y, cost):
    net.zero_grad()
    cost_function(cost)(net(x), y).backward()


@st.composite
def training_problems(draw):
    net = draw(networks(max_layers=3, max_width=8, init=st.sampled_from(["normal", "scaled"])))
    x, y = draw(mini_batches(net, max_size=16, x_scale=2.0, targets=("labels", "onehot")))
    return net, x, y, draw(st.sampled_from(["quadratic", "cross-entropy"]))


@given(training_problems(), st.floats(1e-3, 10.0))
def test_one_step_is_eq_20_21(problem, lr):
    net, x, y, cost = problem
    ws, bs, gw, gb = per_example_mean_gradient(net, x, y, cost)
    arrays = [p.data for p in net.parameters()]
    opt = SGD(net.parameters(), lr=lr)
    engine_backward(net, x, y, cost)
    opt.step()
    assert all(p.data is a for p, a in zip(net.parameters(), arrays))       # updated in place
    for l, layer in enumerate(net.layers):
        # w → w − (η/m) Σⱼ ∂C_Xⱼ/∂w,   b → b − (η/m) Σⱼ ∂C_Xⱼ/∂b
        np.testing.assert_allclose(layer.weight.data, ws[l] - lr * gw[l], rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(layer.bias.data, bs[l] - lr * gb[l], rtol=RTOL, atol=ATOL)


@given(training_problems(), st.floats(1e-3, 5.0), st.floats(0.0, 0.99))
def test_momentum_two_steps(problem, lr, mu):
    net, x, y, cost = problem
    opt = SGD(net.parameters(), lr=lr, momentum=mu)
    w0, b0, gw0, gb0 = per_example_mean_gradient(net, x, y, cost)
    engine_backward(net, x, y, cost)
    opt.step()
    vw = [-lr * g for g in gw0]                                  # v₁ = μ·0 − η∇C(w₀)
    vb = [-lr * g for g in gb0]
    for l, layer in enumerate(net.layers):                        # w₁ = w₀ + v₁
        np.testing.assert_allclose(layer.weight.data, w0[l] + vw[l], rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(layer.bias.data, b0[l] + vb[l], rtol=RTOL, atol=ATOL)
    w1, b1, gw1, gb1 = per_example_mean_gradient(net, x, y, cost)    # the gradient at the new point
    engine_backward(net, x, y, cost)                                   # (zero_grad, then backward)
    opt.step()
    for l, layer in enumerate(net.layers):                        # v₂ = μv₁ − η∇C(w₁), w₂ = w₁ + v₂
        np.testing.assert_allclose(layer.weight.data, w1[l] + (mu * vw[l] - lr * gw1[l]), rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(layer.bias.data, b1[l] + (mu * vb[l] - lr * gb1[l]), rtol=RTOL, atol=ATOL)


@given(training_problems(), st.floats(1e-3, 5.0), st.floats(0.0, 10.0), st.integers(1, 60000))
def test_weight_decay_is_eq_93_and_biases_are_not_decayed(problem, lr, lam, n):
    net, x, y, cost = problem
    w0, b0, gw, gb = per_example_mean_gradient(net, x, y, cost)
    opt = SGD(net.parameters(), lr=lr, weight_decay=lam / n)        # weight_decay is λ/n
    engine_backward(net, x, y, cost)
    opt.step()
    for l, layer in enumerate(net.layers):
        # w → (1 − ηλ/n) w − η ∂C₀/∂w  (eq. 93);  b → b − η ∂C₀/∂b (no decay)
        np.testing.assert_allclose(layer.weight.data, (1 - lr * lam / n) * w0[l] - lr * gw[l], rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(layer.bias.data, b0[l] - lr * gb[l], rtol=RTOL, atol=ATOL)


def test_weight_decay_with_momentum_decays_inside_the_velocity():
    net = MLP([3, 4, 2], seed=1)
    rng = np.random.default_rng(1)
    x, y = rng.random((5, 3)), rng.integers(0, 2, 5)
    lr, mu, wd = 0.5, 0.9, 0.01
    opt = SGD(net.parameters(), lr=lr, momentum=mu, weight_decay=wd)
    w0, _b0, gw0, gb0 = per_example_mean_gradient(net, x, y, "quadratic")
    engine_backward(net, x, y, "quadratic")
    opt.step()
    vw = [-lr * (g + wd * w) for g, w in zip(gw0, w0)]
    w1, b1, gw1, gb1 = per_example_mean_gradient(net, x, y, "quadratic")
    engine_backward(net, x, y, "quadratic")
    opt.step()
    for l, layer in enumerate(net.layers):
        expected = w1[l] + mu * vw[l] - lr * (gw1[l] + wd * w1[l])
        np.testing.assert_allclose(layer.weight.data, expected, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(layer.bias.data, b1[l] + mu * (-lr * gb0[l]) - lr * gb1[l], rtol=RTOL, atol=ATOL)


def test_decay_skips_parameters_named_bias_only():
    keep = Value(np.array([2.0, -4.0]), name="my.bias")
    decay = Value(np.array([2.0, -4.0]), name="my.weight")
    anon = Value(np.array([2.0, -4.0]))
    for p in (keep, decay, anon):
        p.grad = np.zeros(2)
    SGD([keep, decay, anon], lr=0.5, weight_decay=0.1).step()
    np.testing.assert_array_equal(keep.data, [2.0, -4.0])
    np.testing.assert_allclose(decay.data, [2.0 * 0.95, -4.0 * 0.95], rtol=1e-15)   # (1 − ηλ/n) w
    np.testing.assert_allclose(anon.data, [2.0 * 0.95, -4.0 * 0.95], rtol=1e-15)


def test_scalar_parameters_stay_python_floats():
    p, q = Value(2.0), Value(-1.0)
    c = p * p + 3.0 * q                       # ∂c/∂p = 2p = 4, ∂c/∂q = 3
    c.backward()
    opt = SGD([p, q], lr=0.25, momentum=0.5)
    opt.step()
    assert type(p.data) is float and type(q.data) is float
    assert p.data == 2.0 - 0.25 * 4.0 and q.data == -1.0 - 0.25 * 3.0
    opt.step()                                 # same grads again: v = 0.5·v − η g
    assert p.data == 1.0 + (0.5 * -1.0 - 1.0) and q.data == -1.75 + (0.5 * -0.75 - 0.75)


def test_scalar_mlp_trains_like_the_tensor_mlp():
    net = MLP([2, 3, 2], seed=4)
    snet = ScalarMLP.from_mlp(net)
    x, y = np.array([0.5, -1.0]), np.array([1.0, 0.0])
    cost_function("quadratic")(net(x), y).backward()
    c = 0.5 * sum((o - t) * (o - t) for o, t in zip(snet(list(x)), y))
    c.backward()
    SGD(net.parameters(), lr=0.7, weight_decay=0.05).step()
    SGD(snet.parameters(), lr=0.7, weight_decay=0.05).step()   # ScalarMLP biases are named "…bias" too
    for k, v in snet.to_mlp().state_dict().items():
        np.testing.assert_allclose(v, net.state_dict()[k], rtol=1e-12, atol=1e-14)   # see test_nn: rtol 1e-12


def test_parameters_without_a_gradient_are_left_alone():
    net = MLP([3, 4, 2], seed=0)
    before = net.state_dict()
    opt = SGD(net.parameters(), lr=1.0)
    opt.step()                                 # no backward yet: nothing changes
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    net.layers[1].weight.grad = np.ones((2, 4))
    opt.step()
    np.testing.assert_array_equal(net.layers[1].weight.data, before["layers.1.weight"] - 1.0)
    np.testing.assert_array_equal(net.layers[0].weight.data, before["layers.0.weight"])


def test_zero_grad_forgets_gradients():
    net = MLP([3, 4, 2], seed=0)
    opt = SGD(net.parameters(), lr=1.0)
    engine_backward(net, np.ones((2, 3)), np.array([0, 1]), "quadratic")
    assert all(p.grad is not None for p in net.parameters())
    opt.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    before = net.state_dict()
    opt.step()
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_float32_parameters_stay_float32_in_place():
    net = MLP([3, 4, 2], seed=0, dtype=np.float32)
    arrays = [p.data for p in net.parameters()]
    opt = SGD(net.parameters(), lr=0.5, momentum=0.5, weight_decay=0.01)
    for _ in range(2):
        engine_backward(net, np.ones((2, 3), dtype=np.float32), np.array([0, 1]), "cross-entropy")
        opt.step()
    assert all(p.data is a and p.data.dtype == np.float32 for p, a in zip(net.parameters(), arrays))


def test_accepts_any_iterable_and_int_hyperparameters():
    net = MLP([2, 2], seed=0)
    opt = SGD(iter(net.parameters()), lr=1, momentum=0, weight_decay=0)
    assert opt.lr == 1.0 and isinstance(opt.lr, float) and len(opt.params) == 2


# ---- errors ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,name", [
    ({"lr": 0.0}, "lr"), ({"lr": -0.1}, "lr"), ({"lr": float("nan")}, "lr"), ({"lr": float("inf")}, "lr"),
    ({"lr": True}, "lr"), ({"lr": "0.1"}, "lr"),
    ({"lr": 0.1, "momentum": -0.1}, "momentum"), ({"lr": 0.1, "momentum": 1.0}, "momentum"),
    ({"lr": 0.1, "momentum": 1.5}, "momentum"), ({"lr": 0.1, "momentum": float("nan")}, "momentum"),
    ({"lr": 0.1, "weight_decay": -1e-9}, "weight_decay"), ({"lr": 0.1, "weight_decay": float("nan")}, "weight_decay"),
])
def test_bad_hyperparameters_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=rf"SGD: {name} must be"):
        SGD([Value(np.zeros(2))], **kwargs)


def test_empty_parameter_list():
    with pytest.raises(ValueError, match="empty parameter list"):
        SGD([], lr=0.1)


@pytest.mark.parametrize("bad", [
    lambda: Value(np.ones(2)) * 2.0,                       # an intermediate node (not a leaf)
    lambda: Value(np.ones(2), requires_grad=False),       # a constant
    lambda: np.ones(2),                                    # not a Value at all
])
def test_non_leaf_parameters_are_rejected(bad):
    with pytest.raises(TypeError, match="parameter 1 is not a leaf Value"):
        SGD([Value(1.0), bad()], lr=0.1)

"""Behaviour pins: each test fails when one specific bug is planted in the code (issue 13, item 5).

Bugs planted one at a time once went unnoticed by the suite; these tests name the behaviour each one breaks.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

import tinygrad_nn.train as train_module
from tinygrad_nn import Value, compare_gradients, gradcheck, linear, nn
from tinygrad_nn.data import DataError, Dataset, Splits
from tinygrad_nn.optim import SGD
from tinygrad_nn.train import (
    DivergenceError,
    load_model,
    model_metadata,
    save_model,
    train,
    write_history,
)


def test_computed_weight_and_bias_given_to_linear_receive_their_gradients():
    """z = linear(x, 2·w₀, b₀ + 1): the gradient flows through the non-leaf weight and bias to w₀ and b₀."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3))
    w0, b0 = Value(rng.standard_normal((2, 3))), Value(rng.standard_normal(2))

    def cost(w0: Value, b0: Value) -> Value:
        return (linear(x, w0 * 2.0, b0 + 1.0) ** 2).sum()

    assert gradcheck(cost, w0, b0)  # against central finite differences, float64
    w0.grad = b0.grad = None
    cost(w0, b0).backward()
    z = x @ (2 * w0.data).T + b0.data + 1
    np.testing.assert_allclose(w0.grad, 2 * (2 * z).T @ x, rtol=1e-12)  # ∂C/∂w₀ = 2 · δᵀx with δ = 2z
    np.testing.assert_allclose(b0.grad, (2 * z).sum(axis=0), rtol=1e-12)


def test_an_epochs_training_cost_is_the_size_weighted_mean_of_its_mini_batch_costs(digits, monkeypatch):
    costs: list[tuple[float, int]] = []
    real = train_module.cost_function

    def recording(name: str):
        fn = real(name)

        def cost(a, y):
            c = fn(a, y)
            costs.append((float(c.data), len(y)))
            return c
        return cost

    monkeypatch.setattr(train_module, "cost_function", recording)
    small = Splits(Dataset(digits.training.x[:205], digits.training.y[:205]), digits.validation, digits.test,
                   "digits", 10, (8, 8))
    history = train(nn.MLP([64, 10, 10], seed=0), small, epochs=2, batch_size=50, lr=3.0)  # 4 × 50 + 5
    epoch1 = costs[:5]
    assert [m for _, m in epoch1] == [50, 50, 50, 50, 5]
    weighted = sum(c * m for c, m in epoch1) / 205
    assert history[0].training_cost == pytest.approx(weighted, rel=1e-12)
    assert abs(weighted - np.mean([c for c, _ in epoch1])) > 1e-6  # the plain mean would be another number


@pytest.mark.parametrize("dtype", [np.float64, np.int64, np.float16, np.uint8, bool])
def test_a_float32_network_computes_in_float32_whatever_the_inputs_dtype(dtype):
    net = nn.MLP([3, 4, 2], seed=0, dtype=np.float32)
    x = np.array([[1, 0, 1], [0, 1, 1]], dtype=dtype)
    zs, activations = net.feedforward(x)
    assert all(v.data.dtype == np.float32 for v in zs + activations)
    nn.quadratic_cost(activations[-1], np.array([0, 1])).backward()
    assert all(p.grad.dtype == np.float32 for p in net.parameters())
    assert net([[1, 0, 1]]).data.dtype == np.float32  # a plain list too


@pytest.mark.parametrize("cost", ["quadratic", "cross-entropy"])
def test_compare_gradients_agrees_on_a_saturated_network(cost):
    net = nn.MLP([6, 5, 4], seed=1)
    for layer in net.layers:  # |z| of tens: σ′(z) down to 1e-20
        layer.weight.data *= 25
        layer.bias.data *= 25
    rng = np.random.default_rng(1)
    x, y = rng.random((5, 6)), rng.integers(0, 4, 5)
    zs, _ = net.feedforward(x)
    assert max(float(np.max(np.abs(z.data))) for z in zs) > 30
    report = compare_gradients(net, x, y, cost=cost)
    assert report.ok, report


def test_divergence_on_an_epochs_last_mini_batch_is_caught_and_nothing_non_finite_is_saved(digits, tmp_path,
                                                                                         monkeypatch):
    """The cost is checked before each step; the step of the epoch's last mini-batch is checked after it."""
    steps_per_epoch = -(-len(digits.training) // 100)
    real, calls = SGD.step, []

    def step(self):
        real(self)
        calls.append(1)
        if len(calls) == 2 * steps_per_epoch:  # the last step of epoch 2
            self.params[0].data[0, 0] = np.inf

    monkeypatch.setattr(SGD, "step", step)
    with pytest.raises(DivergenceError, match="epoch 2"):
        train(nn.MLP([64, 10, 10], seed=0), digits, epochs=3, batch_size=100, save_path=tmp_path / "m.npz")
    assert model_metadata(tmp_path / "m.npz")["epoch"] == 1
    assert all(np.all(np.isfinite(a)) for a in load_model(tmp_path / "m.npz").state_dict().values())


@pytest.mark.parametrize("name", ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias",
                                  "layers.2.weight", "layers.2.bias"])
def test_a_model_file_with_an_integer_array_in_any_layer_is_refused(tmp_path, name):
    path = tmp_path / "m.npz"
    save_model(nn.MLP([4, 3, 3, 2], seed=0), path)
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays[name] = np.round(arrays[name]).astype(np.int64)
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=name.replace(".", r"\.")):
        load_model(path)


@pytest.mark.parametrize("umask", [0o077, 0o002, 0o022])
def test_saved_files_follow_the_umask(tmp_path, umask):
    from viz import render
    from viz.graph import draw_graph

    old = os.umask(umask)
    try:
        save_model(nn.MLP([2, 2], seed=0), tmp_path / "m.npz")
        write_history([], tmp_path / "h.json")
        render(draw_graph(Value(1.0) * 2), tmp_path / "g.dot")
    finally:
        os.umask(old)
    for name in ("m.npz", "h.json", "g.dot"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask, name
    assert sorted(p.name for p in Path(tmp_path).iterdir()) == ["g.dot", "h.json", "m.npz"]

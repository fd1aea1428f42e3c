"""Learning speed per layer in the book's measure (Nielsen ch. 5): ‖∂C/∂bˡ‖ of the mean cost over a whole set
(`learning_speeds`), in the epoch records (epoch 0 included) and the --history files; and the chapter's chain
product (`chain_gradient`). Checked against an independent per-example numpy BP1–BP4, as network.py writes it."""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_nn import chain_gradient, learning_speeds, vanishing
from tinygrad_nn.cli import main
from tinygrad_nn.data import DataError, Splits, mini_batches
from tinygrad_nn.nn import MLP, quadratic_cost
from tinygrad_nn.optim import SGD
from tinygrad_nn.train import EpochRecord, read_history, train, write_history


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # σ without overflow


def numpy_speeds(weights: list[np.ndarray], biases: list[np.ndarray], x: np.ndarray, y: np.ndarray,
                 cost: str) -> dict[int, float]:
    """{l: ‖∂C/∂bˡ‖} by BP1–BP4 one example at a time (network.py's loop), C the mean cost over (x, y)."""
    nabla_b = [np.zeros(len(b)) for b in biases]
    for xk, yk in zip(x, y):
        target = np.eye(len(biases[-1]))[yk] if np.ndim(yk) == 0 and len(biases[-1]) > 1 else np.atleast_1d(yk)
        a, zs, acts = xk, [], [xk]
        for l, (w, b) in enumerate(zip(weights, biases)):
            z = w @ a + b
            if cost == "log-likelihood" and l == len(weights) - 1:
                e = np.exp(z - z.max())
                a = e / e.sum()
            else:
                a = _sigmoid(z)
            zs.append(z)
            acts.append(a)
        delta = acts[-1] - target                                    # BP1 (cross-entropy, log-likelihood)
        if cost == "quadratic":
            delta = delta * acts[-1] * (1 - acts[-1])                # BP1: (a − y) ⊙ σ′(zᴸ)
        nabla_b[-1] += delta                                         # BP3
        for l in range(len(weights) - 2, -1, -1):
            delta = (weights[l + 1].T @ delta) * acts[l + 1] * (1 - acts[l + 1])   # BP2
            nabla_b[l] += delta                                      # BP3
    return {l: float(np.linalg.norm(g / len(x))) for l, g in enumerate(nabla_b, start=2)}


def assert_speeds_match(speeds: dict[int, float], net: MLP, x: np.ndarray, y: np.ndarray, cost: str) -> None:
    want = numpy_speeds(net.weights, net.biases, x, y, cost)
    assert list(speeds) == list(want)                  # the book's numbering: layer 1 is the input
    np.testing.assert_allclose(list(speeds.values()), list(want.values()), rtol=1e-9, atol=0)


@pytest.mark.parametrize("cost", ["quadratic", "cross-entropy", "log-likelihood"])
def test_learning_speeds_equal_numpy_bp1_bp4(digits: Splits, cost: str) -> None:
    net = MLP([64, 30, 30, 10], output_activation="softmax" if cost == "log-likelihood" else None,
              init="scaled", seed=4)
    x, y = digits.training.x[:300], digits.training.y[:300]
    assert_speeds_match(learning_speeds(net, x, y, cost), net, x, y, cost)


@given(st.integers(1, 40), st.integers(0, 2**31), st.sampled_from(["quadratic", "cross-entropy"]))
def test_learning_speeds_in_chunks_equal_the_whole_set(m: int, seed: int, cost: str) -> None:
    rng = np.random.default_rng(seed)
    net = MLP([5, 4, 3, 2], seed=seed % 1000)
    x, y = rng.random((m, 5)), rng.integers(0, 2, m)
    whole = learning_speeds(net, x, y, cost)
    assert_speeds_match(whole, net, x, y, cost)
    saved, vanishing._CHUNK = vanishing._CHUNK, 3   # a short last chunk must weigh less
    try:
        np.testing.assert_allclose(list(learning_speeds(net, x, y, cost).values()), list(whole.values()), rtol=1e-12)
    finally:
        vanishing._CHUNK = saved


def test_a_wrong_speed_is_caught(digits: Splits) -> None:
    """Planted bugs: the old measure (mean over mini-batches of ‖∂C/∂bˡ‖), chunks weighed equally, and the
    last layer's ∂C/∂a without σ′ — each must fail the comparison that learning_speeds passes."""
    net = MLP([64, 20, 20, 10], seed=2)
    x, y = digits.training.x[:105], digits.training.y[:105]
    batches = [learning_speeds(net, x[k:k + 10], y[k:k + 10]) for k in range(0, 105, 10)]
    mean_of_batches = {l: float(np.mean([b[l] for b in batches])) for l in batches[0]}
    chunks = [(x[:100], y[:100]), (x[100:], y[100:])]
    equal_chunks = {l: float(np.linalg.norm(sum(_bias_grads(net, cx, cy)[l - 2] for cx, cy in chunks) / 2))
                    for l in (2, 3, 4)}
    wrong_bp1 = numpy_speeds(net.weights, net.biases, x, y, "cross-entropy")  # δᴸ = a − y for a quadratic cost
    for wrong in (mean_of_batches, equal_chunks, wrong_bp1):
        with pytest.raises(AssertionError):
            assert_speeds_match(wrong, net, x, y, "quadratic")
    assert_speeds_match(learning_speeds(net, x, y), net, x, y, "quadratic")


def _bias_grads(net: MLP, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    net.zero_grad()
    quadratic_cost(net(x), y).backward()
    return [layer.bias.grad.copy() for layer in net.layers]


def test_learning_speeds_leave_the_gradients_and_take_one_example(digits: Splits) -> None:
    net = MLP([64, 10, 10], seed=0)
    before = _bias_grads(net, digits.training.x[:5], digits.training.y[:5])
    one = learning_speeds(net, digits.training.x[0], digits.training.y[0])
    assert_speeds_match(one, net, digits.training.x[:1], digits.training.y[:1], "quadratic")
    for layer, g in zip(net.layers, before):
        np.testing.assert_array_equal(layer.bias.grad, g)
    with pytest.raises(ValueError, match=r"3 examples but y has shape \(2,\)"):
        learning_speeds(net, digits.training.x[:3], digits.training.y[:2])
    with pytest.raises(ValueError, match="the set is empty"):
        learning_speeds(net, digits.training.x[:0], digits.training.y[:0])
    with pytest.raises(TypeError, match="expected an MLP"):
        learning_speeds([1, 2], digits.training.x[:3], digits.training.y[:3])


def test_train_records_epoch_zero_and_each_epoch_s_speed_in_the_book_s_measure(digits: Splits) -> None:
    """Row 0 is the untrained network, row e the network after e epochs (before epoch e + 1, as the book's
    generate_gradient.py measures), each on the first 1,000 training images; replayed with numpy SGD."""
    sizes = [64, 30, 30, 10]
    history = train(MLP(sizes, seed=1), digits, epochs=2, lr=3.0, seed=1, record_initial=True)
    assert [r.epoch for r in history] == [0, 1, 2]
    replay = MLP(sizes, seed=1)
    x, y = digits.training.x[:1000], digits.training.y[:1000]
    assert_speeds_match(history[0].learning_speed, replay, x, y, "quadratic")
    assert history[0].training_cost == pytest.approx(
        float(np.mean(0.5 * np.sum((replay(digits.training.x).data - np.eye(10)[digits.training.y]) ** 2, axis=1))),
        rel=1e-12)
    assert history[0].test_accuracy == replay.accuracy(digits.test.x, digits.test.y)
    rows, rng, sgd = [], np.random.default_rng(1), SGD(replay.parameters(), lr=3.0)  # train()'s SGD, replayed
    for _ in range(2):
        for xb, yb in mini_batches(digits.training.x, digits.training.y, 10, seed=rng):
            sgd.zero_grad()
            quadratic_cost(replay(xb), yb).backward()
            sgd.step()
        rows.append(numpy_speeds(replay.weights, replay.biases, x, y, "quadratic"))
    for record, want in zip(history[1:], rows):
        np.testing.assert_allclose(list(record.learning_speed.values()), list(want.values()), rtol=1e-9)


def test_without_record_initial_the_history_starts_at_epoch_one(digits: Splits) -> None:
    net = MLP([64, 10, 10], seed=0)
    history = train(net, digits, epochs=2, speed_examples=50)
    assert [r.epoch for r in history] == [1, 2]
    assert history[-1].learning_speed == learning_speeds(net, digits.training.x[:50], digits.training.y[:50])
    assert train(MLP([64, 10, 10], seed=0), digits, epochs=1, speed_examples=0)[0].learning_speed == {}  # skipped
    with pytest.raises(ValueError, match="speed_examples"):
        train(MLP([64, 10, 10], seed=0), digits, epochs=1, speed_examples=-1)


def test_the_book_s_setting_learns_slower_in_earlier_layers(digits: Splits) -> None:
    # Nielsen ch. 5 (network2's defaults: N(0, 1/n_in) weights, cross-entropy): hidden layer 1 is the slowest
    history = train(MLP([64, 30, 30, 30, 10], init="scaled", seed=0), digits, epochs=1, cost="cross-entropy",
                    lr=0.1, record_initial=True)
    for record in history:
        speed = record.learning_speed
        assert list(speed) == [2, 3, 4, 5]
        assert speed[2] < speed[3] < speed[4], speed


def test_history_csv_has_an_epoch_zero_row_and_speed_columns(digits: Splits, tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    status = main(["train", "--sizes", "64,30,30,30,10", "--epochs", "2", "--history", str(path), "--quiet"])
    assert status == 0
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames[-4:] == ["speed_layer2", "speed_layer3", "speed_layer4", "speed_layer5"]
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert rows[0]["lr"] == "3.0" and all(float(rows[0][f"speed_layer{l}"]) > 0 for l in (2, 3, 4, 5))
    speeds = learning_speeds(MLP([64, 30, 30, 30, 10], seed=0), digits.training.x[:1000], digits.training.y[:1000])
    np.testing.assert_allclose([float(rows[0][f"speed_layer{l}"]) for l in speeds], list(speeds.values()), rtol=1e-12)
    back = read_history(path)
    assert [r.epoch for r in back] == [0, 1, 2]
    assert back[0].learning_speed[5] == float(rows[0]["speed_layer5"])


# ---- chapter 5's chain: ∂C/∂bˡ = σ′(zˡ) wˡ⁺¹ σ′(zˡ⁺¹) … wᴸ σ′(zᴸ) ∂C/∂aᴸ ------------------------------------

@given(st.integers(2, 6), st.integers(1, 3), st.integers(0, 2**31), st.floats(0, 1),
       st.sampled_from(["quadratic", "cross-entropy"]))
def test_the_chain_product_equals_the_engine_and_bp1_bp4(depth: int, n_in: int, seed: int, y: float,
                                                         cost: str) -> None:
    net = MLP([n_in] + [1] * depth, seed=seed % 10_000)
    x = np.random.default_rng(seed).random(n_in)
    chain = chain_gradient(net, x, y, cost)
    want = numpy_speeds(net.weights, net.biases, x[None], np.array([y]), cost)
    assert sorted(chain.product) == list(range(2, depth + 2))
    for l, g in chain.product.items():
        assert abs(g) == pytest.approx(want[l], rel=1e-9, abs=1e-300)
        assert g == pytest.approx(chain.engine[l], rel=1e-12, abs=1e-300)
    assert all(0 < s <= 0.25 for s in chain.sigma_prime.values())   # σ′ ≤ ¼: why the product vanishes


def test_a_wrong_chain_factor_is_caught() -> None:
    """Planted bug: the product without one σ′ (or one weight) no longer equals the engine's gradient."""
    net = MLP([1, 1, 1, 1, 1], seed=0)
    chain = chain_gradient(net, [0.5], 1.0)
    first = chain.product[2]
    assert first == pytest.approx(chain.engine[2], rel=1e-12)
    assert first / chain.sigma_prime[3] != pytest.approx(chain.engine[2], rel=1e-3)
    assert first / chain.weights[4] != pytest.approx(chain.engine[2], rel=1e-3)
    text = str(chain)
    assert "∂C/∂b² = σ′(z²) w³ σ′(z³) w⁴ σ′(z⁴) w⁵ σ′(z⁵) ∂C/∂a⁵" in text
    assert f"{chain.product[2]:.6e}   engine: {chain.engine[2]:.6e}" in text


@pytest.mark.parametrize(("sizes", "x", "y", "message"), [
    ([2, 3, 1], [0.1, 0.2], 1.0, "one neuron per layer"),
    ([2, 1, 1], [0.1], 1.0, "one example of 2 inputs"),
    ([2, 1, 1], [0.1, 0.2], "1", "one finite number"),
    ([2, 1, 1], [0.1, 0.2], math.nan, "one finite number"),
])
def test_chain_gradient_refuses_what_is_not_a_chain(sizes, x, y, message) -> None:
    with pytest.raises(ValueError, match=message):
        chain_gradient(MLP(sizes, seed=0), x, y)


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_history_round_trip(tmp_path: Path, suffix: str) -> None:
    history = [EpochRecord(0, 0.75, 0.1, 0.1, 0.01, 3.0, {2: 0.02, 3: 0.03}),
               EpochRecord(1, 0.5, 0.25, 0.3, 0.01, 3.0, {2: 0.01, 3: 0.02}),
               EpochRecord(2, 0.25, None, 0.75, 1.5, 1.5, {2: 0.015, 3: 0.025})]
    path = tmp_path / f"h{suffix}"
    write_history(history, path)
    assert read_history(path) == history


@pytest.mark.parametrize(("name", "text", "message"), [
    ("missing.csv", None, "does not exist"),
    ("h.txt", "epoch\n1\n", "extension"),
    ("h.csv", "", "no epochs"),
    ("h.csv", "epoch,training_cost,validation_accuracy,test_accuracy,seconds,lr\n1,abc,,0.5,0.1,3\n",
     "training_cost must be a number"),
    ("h.csv", "epoch,training_cost,validation_accuracy,test_accuracy,seconds,lr,speed_layer2\n1,1,,0.5,0.1,3,x\n",
     "speed_layer2 must be a number"),
    ("h.json", "{not json", "not a valid json"),
])
def test_read_history_rejects_bad_files(tmp_path: Path, name: str, text: str | None, message: str) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(DataError, match=message):
        read_history(path)

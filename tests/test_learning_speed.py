"""Learning speed per layer (Nielsen ch. 5): ‖∂C/∂bˡ‖ averaged over an epoch's mini-batches, in the epoch
records and the --history files; checked against an independent epoch run with closed-form BP1–BP4."""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from tinygrad_nn.backprop import backprop
from tinygrad_nn.cli import main
from tinygrad_nn.data import DataError, Splits, mini_batches
from tinygrad_nn.nn import MLP
from tinygrad_nn.train import EpochRecord, read_history, train, write_history


def _speeds_by_bp1_bp4(sizes: list[int], splits: Splits, epochs: int, lr: float, seed: int) -> list[list[float]]:
    """The same SGD epochs written out with the closed-form equations: per epoch, mean ‖∂C/∂bˡ‖ per layer."""
    net = MLP(sizes, seed=seed)
    weights, biases = [w.copy() for w in net.weights], [b.copy() for b in net.biases]
    rng = np.random.default_rng(seed)  # as train(): every epoch's shuffle comes from one generator
    out = []
    for _ in range(epochs):
        norms = []
        for x, y in mini_batches(splits.training.x, splits.training.y, 10, seed=rng):
            g = backprop(weights, biases, x, y, "quadratic")
            norms.append([float(np.linalg.norm(nb)) for nb in g.nabla_b])
            for l in range(len(weights)):
                weights[l] -= lr * g.nabla_w[l]   # eq. 20
                biases[l] -= lr * g.nabla_b[l]    # eq. 21
        out.append(list(np.mean(norms, axis=0)))
    return out


def test_learning_speed_matches_closed_form_bp(digits: Splits) -> None:
    sizes = [64, 30, 30, 10]
    history = train(MLP(sizes, seed=1), digits, epochs=2, lr=3.0, seed=1)
    expected = _speeds_by_bp1_bp4(sizes, digits, epochs=2, lr=3.0, seed=1)
    for record, want in zip(history, expected):
        assert list(record.learning_speed) == [2, 3, 4]   # the book's numbering: layer 1 is the input
        got = list(record.learning_speed.values())
        np.testing.assert_allclose(got, want, rtol=1e-9)   # float64, same arithmetic up to rounding order


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_first_hidden_layer_learns_slower_than_the_last_in_epoch_one(digits: Splits, seed: int) -> None:
    # Nielsen ch. 5: in a deep sigmoid network the early hidden layers learn much more slowly
    record = train(MLP([64, 30, 30, 30, 10], seed=seed), digits, epochs=1, seed=seed)[0]
    speed = record.learning_speed
    assert list(speed) == [2, 3, 4, 5]
    assert all(math.isfinite(s) and s > 0 for s in speed.values())
    assert speed[2] < speed[4]


def test_history_csv_has_speed_columns_and_reads_back(digits: Splits, tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    status = main(["train", "--sizes", "64,30,30,30,10", "--epochs", "2", "--history", str(path), "--quiet"])
    assert status == 0
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames[-4:] == ["speed_layer2", "speed_layer3", "speed_layer4", "speed_layer5"]
    assert float(rows[0]["speed_layer2"]) < float(rows[0]["speed_layer4"])
    back = read_history(path)
    assert [r.epoch for r in back] == [1, 2]
    assert back[0].learning_speed[5] == float(rows[0]["speed_layer5"])


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_history_round_trip(tmp_path: Path, suffix: str) -> None:
    history = [EpochRecord(1, 0.5, 0.25, 0.3, 0.01, 3.0, {2: 0.01, 3: 0.02}),
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

"""At chance accuracy `train` says why, read from the run's history (epoch 0 and the learning speeds), and
advises what fits: a smaller η only when the steps were too large, a larger one on a plateau or when η is tiny."""
from __future__ import annotations

import pytest

from tinygrad_nn.cli import main
from tinygrad_nn.train import EpochRecord, chance_advice


def advice(capsys: pytest.CaptureFixture, *args: str) -> str:
    assert main(["train", "--quiet", *args]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "chance level" in line]
    assert len(lines) == 1, err
    return lines[0]


def test_steps_too_large_saturate_the_neurons_and_a_smaller_lr_is_advised(capsys) -> None:
    line = advice(capsys, "--lr", "100", "--epochs", "2")   # the book's η = 100: 9.8%
    assert "saturated" in line and "smaller --lr than 100" in line and "larger" not in line


def test_a_tiny_lr_gets_a_larger_lr(capsys) -> None:
    line = advice(capsys, "--lr", "1e-9", "--epochs", "2")
    assert "too small to move the weights" in line and "larger --lr" in line and "smaller" not in line


def test_a_plateau_with_vanishing_speeds_is_not_told_to_shrink_lr(capsys) -> None:
    line = advice(capsys, "--sizes", "64,30,30,30,30,10", "--lr", "0.1", "--epochs", "3")
    assert "plateau" in line and "larger --lr than 0.1" in line and "smaller --lr" not in line
    assert "learning speeds are small" in line


def test_a_small_lr_that_moves_the_cost_too_slowly_gets_a_larger_lr(capsys) -> None:
    line = advice(capsys, "--lr", "0.001", "--epochs", "3")   # the book's η = 0.001: 21.4% after 30 epochs
    assert "too small to learn in 3 epochs" in line and "larger --lr than 0.001" in line


def record(epoch: int, cost: float, speeds: dict[int, float], lr: float = 3.0) -> EpochRecord:
    return EpochRecord(epoch, cost, 0.1, 0.1, 0.0, lr, speeds)


@pytest.mark.parametrize(("history", "expected", "absent"), [
    ([record(0, 1.8, {2: 0.1, 3: 0.2}, 100), record(2, 0.5, {2: 1e-7, 3: 2e-6}, 100)], "smaller --lr", "larger"),
    ([record(0, 1.8, {2: 0.1, 3: 0.2}, 1e-9), record(2, 1.8, {2: 0.1, 3: 0.2}, 1e-9)], "larger --lr", "smaller"),
    ([record(0, 2.4, {2: 1e-4, 3: 1e-4, 4: 1e-3}, 0.1), record(5, 1.3, {2: 1e-4, 3: 2e-4, 4: 1e-3}, 0.1)],
     "plateau", "smaller --lr"),
    ([record(0, 2.4, {2: 1e-5, 3: 1e-5}), record(5, 2.4, {2: 1e-5, 3: 1e-5})], "--init scaled", "smaller --lr"),
])
def test_each_diagnosis_from_a_history(history, expected, absent) -> None:
    text = chance_advice(history)
    assert expected in text and absent not in text


def test_the_vanishing_gradient_is_named_on_a_plateau() -> None:
    text = chance_advice([record(0, 2.4, {2: 1e-4, 3: 1e-4, 4: 1e-3}, 0.1),
                          record(5, 1.3, {2: 1e-4, 3: 2e-4, 4: 1e-3}, 0.1)])
    assert "learns 10× slower than the output layer" in text


def test_a_diverging_weight_decay_comes_first() -> None:
    text = chance_advice([record(0, 1.8, {2: 0.1}, 0.5), record(1, 0.5, {2: 0.1}, 0.5)], weight_decay=10)
    assert "weight decay 10 is too large" in text

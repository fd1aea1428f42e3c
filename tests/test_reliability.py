"""Bad input meets a clear error that names the problem — the cases an audit of every entry point found.

Each test feeds one kind of bad input (non-finite values, wrong types, bad tolerances, bad paths, a
corrupt model file) and asserts the exception type and that its message names the argument or value.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinygrad_nn import Value, backprop, compare_gradients, data, gradcheck, nn
from tinygrad_nn.cli import main
from tinygrad_nn.train import load_model


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_mlp_rejects_non_finite_input(bad: float) -> None:
    x = np.zeros((2, 3))
    x[1, 2] = bad
    with pytest.raises(ValueError, match=r"NaN or inf \(first at index \(1, 2\)\)"):
        nn.MLP([3, 2], seed=0)(x)


def test_costs_reject_non_finite_targets_and_non_value_outputs() -> None:
    a = Value(np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match="quadratic_cost: targets contain NaN"):
        nn.quadratic_cost(a, np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(TypeError, match="must be a Value.*got ndarray"):
        nn.quadratic_cost(np.ones((2, 2)), np.ones((2, 2)))
    with pytest.raises(TypeError, match="got list"):
        nn.cross_entropy_cost([Value(0.5)], [1.0])


def test_log_likelihood_respects_the_softmax_axis() -> None:
    z = Value(np.array([[1.0, 2.0], [3.0, 0.5]]))
    y = np.array([[1.0, 1.0], [0.0, 0.0]])
    a = z.softmax(axis=0)  # a softmax over examples, not over output neurons: no shortcut through z
    expected = -np.sum(y * np.log(a.data)) / 2
    assert nn.log_likelihood_cost(a, y).data == pytest.approx(expected, rel=1e-12)


def test_backprop_and_datasets_reject_non_finite_input() -> None:
    weights, biases = [np.ones((2, 3))], [np.zeros(2)]
    with pytest.raises(ValueError, match="x contains NaN or inf"):
        backprop.backprop(weights, biases, np.array([[0.0, np.inf, 0.0]]), np.array([0]))
    with pytest.raises(data.DataError, match=r"NaN or inf \(first at index \(0, 1\)\)"):
        data.Dataset(np.array([[0.0, np.nan]]), np.array([0]))
    with pytest.raises(TypeError, match="weights\\[0\\] has dtype object"):
        backprop.backprop([np.array([[None]])], [np.zeros(1)], np.ones((1, 1)), np.array([0]))


@pytest.mark.parametrize("kwargs, name", [({"eps": 0}, "eps"), ({"atol": -1}, "atol"), ({"rtol": np.nan}, "rtol")])
def test_gradcheck_rejects_bad_tolerances(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=f"gradcheck: {name} must be"):
        gradcheck(lambda v: v * v, Value(np.ones(2)), **kwargs)


def test_compare_gradients_rejects_bad_tolerance() -> None:
    net = nn.MLP([3, 2], seed=0)
    with pytest.raises(ValueError, match="tolerance must be a positive number, got -1"):
        compare_gradients(net, np.ones((1, 3)), np.array([0]), tolerance=-1)


@pytest.mark.parametrize("seed", ["a", -1, True, 1.5])
def test_seeds_are_checked(seed: object) -> None:
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        data.load_digits(seed=seed)
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        nn.MLP([2, 2], seed=seed)


def test_corrupt_model_files_get_clear_messages(tmp_path: Path) -> None:
    garbage = tmp_path / "bad.npz"
    garbage.write_bytes(b"garbage, not a zip archive")
    with pytest.raises(data.DataError, match="not a .npz \\(zip\\) file") as info:
        load_model(garbage)
    assert "pickle" not in str(info.value)  # never suggest unpickling a stranger's file
    with pytest.raises(data.DataError, match="is a directory"):
        load_model(tmp_path)


def test_cli_checks_output_paths_before_training(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    missing = tmp_path / "no" / "such" / "dir"
    for option in ("--save", "--history"):
        name = "m.npz" if option == "--save" else "h.json"
        assert main(["train", option, str(missing / name)]) == 2
        err = capsys.readouterr()
        assert f"{option} " in err.err and "does not exist" in err.err and "epoch" not in err.out


def test_cli_accepts_debug_after_the_subcommand(capsys: pytest.CaptureFixture) -> None:
    assert main(["train", "--epochs", "1", "--quiet", "--debug"]) == 0
    assert "test accuracy" in capsys.readouterr().out


def test_cli_divergence_exits_1_without_a_traceback(tmp_path: Path) -> None:
    model = tmp_path / "m.npz"
    result = subprocess.run([sys.executable, "-m", "tinygrad_nn", "train", "--activation", "relu", "--cost",
                             "quadratic", "--lr", "1e300", "--epochs", "2", "--save", str(model)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1
    assert "diverged" in result.stderr and "Traceback" not in result.stderr
    assert "RuntimeWarning" not in result.stderr

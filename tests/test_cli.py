"""Tests for the command line (tinygrad_nn.cli): in-process through main(), and a few real processes."""
from __future__ import annotations

import csv
import gzip
import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygrad_nn.train as train_module
from tinygrad_nn import cli
from tinygrad_nn.cli import EXIT_BUG, EXIT_DATA, EXIT_USAGE, main
from tinygrad_nn.data import DataError
from tinygrad_nn.train import DivergenceError, EpochRecord, load_model, model_metadata

REPO = Path(__file__).resolve().parents[1]
ACCURACY = re.compile(r"^test accuracy: (\d+\.\d)%", re.MULTILINE)


def run(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()  # drop anything printed before
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def parse_accuracy(out: str) -> float:
    """The NN.N of the single `test accuracy: NN.N%` line in `out`."""
    matches = ACCURACY.findall(out)
    assert len(matches) == 1, out
    return float(matches[0])


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("tinygrad-nn: error:"), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # relative paths (models, histories) land in the test's directory


# ---- train / evaluate --------------------------------------------------------------------------------
def test_train_prints_epochs_and_a_good_test_accuracy(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    code, out, err = run(capsys, "train", "--epochs", "3", "--save", "m.npz", "--history", "h.json")
    assert code == 0, err
    assert "training [64, 30, 10] on digits" in out
    for epoch in (1, 2, 3):
        assert re.search(rf"^epoch +{epoch}/3  cost \d+\.\d+  validation +\d+\.\d+%  test +\d+\.\d+%", out, re.MULTILINE)
    accuracy = parse_accuracy(out)
    assert accuracy > 80.0
    assert "chance" not in err
    assert "saved the model to m.npz" in out

    # the model evaluates to the same test accuracy
    code, out2, err2 = run(capsys, "evaluate", "--model", "m.npz")
    assert code == 0, err2
    assert parse_accuracy(out2) == accuracy
    assert re.search(r"^validation accuracy: \d+\.\d%", out2, re.MULTILINE)
    assert model_metadata(tmp_path / "m.npz")["epoch"] == 3

    # the history agrees with the printed final accuracy
    history = json.loads((tmp_path / "h.json").read_text())
    assert [h["epoch"] for h in history] == [0, 1, 2, 3]   # epoch 0: the untrained network
    assert round(100 * history[-1]["test_accuracy"], 1) == accuracy


def test_train_history_csv_and_quiet(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    code, out, err = run(capsys, "train", "--epochs", "2", "--quiet", "--history", "h.csv", "--sizes", "64,10,10",
                         "--cost", "cross-entropy", "--lr", "0.5", "--seed", "3")
    assert code == 0, err
    assert out.strip().splitlines()[0].startswith("test accuracy:")  # --quiet: only the final line
    assert len(out.strip().splitlines()) == 1
    with open(tmp_path / "h.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert all(0 <= float(r["test_accuracy"]) <= 1 for r in rows)


def test_train_float32_and_options(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    code, _, err = run(capsys, "train", "--epochs", "1", "--quiet", "--dtype", "float32", "--save", "m32.npz",
                         "--activation", "tanh", "--init", "scaled", "--momentum", "0.5", "--weight-decay", "0.001",
                         "--batch-size", "20", "--lr", "0.1", "--validation-size", "100")
    assert code == 0, err
    net = load_model(tmp_path / "m32.npz")
    assert net.activation == "tanh" and net.init == "scaled"
    assert all(p.dtype == np.float32 for p in net.parameters())


def test_train_is_reproducible(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    outputs = []
    for name in ("a.npz", "b.npz"):
        code, _, err = run(capsys, "train", "--epochs", "1", "--quiet", "--seed", "5", "--save", name)
        assert code == 0, err
        outputs.append(load_model(tmp_path / name).state_dict())
    assert all(np.array_equal(outputs[0][k], outputs[1][k]) for k in outputs[0])


# ---- usage errors: exit 2, one line naming the bad value ----------------------------------------------
USAGE_ERRORS = [
    (["train", "--sizes", "64,x"], "64,x"),
    (["train", "--sizes", "64"], "64"),
    (["train", "--sizes", "64,0,10"], "64,0,10"),
    (["train", "--sizes", "64,-30,10"], "64,-30,10"),
    (["train", "--sizes", "60,30,10"], "60,30,10"),
    (["train", "--sizes", "64,30,7"], "64,30,7"),
    (["train", "--epochs", "0"], "0"),
    (["train", "--epochs", "2.5"], "2.5"),
    (["train", "--epochs", "x"], "x"),
    (["train", "--lr", "-1"], "-1"),
    (["train", "--lr", "0"], "0"),
    (["train", "--lr", "nan"], "nan"),
    (["train", "--lr", "inf"], "inf"),
    (["train", "--batch-size", "0"], "0"),
    (["train", "--momentum", "-0.5"], "-0.5"),
    (["train", "--weight-decay", "nan"], "nan"),
    (["train", "--cost", "foo"], "foo"),
    (["train", "--activation", "softmax"], "softmax"),
    (["train", "--dtype", "int8"], "int8"),
    (["train", "--history", "h.txt"], "h.txt"),
    (["train", "--bogus-flag"], "--bogus-flag"),
    (["frobnicate"], "frobnicate"),
    (["evaluate"], "--model"),
    (["check", "--batch", "0"], "0"),
    (["check", "--tolerance", "-1"], "-1"),
]


@pytest.mark.parametrize("argv, bad", USAGE_ERRORS, ids=[" ".join(a) or "<none>" for a, _ in USAGE_ERRORS])
def test_usage_errors_exit_2_with_one_line(capsys: pytest.CaptureFixture, tmp_path: Path, argv: list[str],
                                           bad: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == EXIT_USAGE == 2
    assert bad in one_line_error(err)
    assert "test accuracy" not in out
    assert list(tmp_path.iterdir()) == []  # nothing was trained or saved


def test_width_errors_name_the_expected_width(capsys: pytest.CaptureFixture) -> None:
    _, _, err = run(capsys, "train", "--sizes", "60,30,10")
    assert "64" in err
    _, _, err = run(capsys, "train", "--sizes", "64,30,7")
    assert "10" in err


# ---- data errors: exit 1, naming the path -------------------------------------------------------------
def _write_idx(path: Path, array: np.ndarray, magic: bytes = b"\x00\x00\x08") -> None:
    header = magic + bytes([array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _idx_dir(root: Path, *, corrupt: str | None = None) -> Path:
    directory = root / "idx"
    directory.mkdir()
    rng = np.random.default_rng(0)
    train_x, test_x = rng.integers(0, 256, (40, 4, 4)), rng.integers(0, 256, (10, 4, 4))
    train_y, test_y = rng.integers(0, 10, 40), rng.integers(0, 10, 10)
    _write_idx(directory / "train-images-idx3-ubyte", train_x, magic=b"\x01\x02\x08" if corrupt == "magic" else
               b"\x00\x00\x08")
    _write_idx(directory / "train-labels-idx1-ubyte", train_y)
    _write_idx(directory / "t10k-images-idx3-ubyte", test_x)
    _write_idx(directory / "t10k-labels-idx1-ubyte", test_y[:7] if corrupt == "count" else test_y)
    if corrupt == "truncated":
        path = directory / "t10k-images-idx3-ubyte"
        path.write_bytes(path.read_bytes()[:-5])
    if corrupt == "gzip":
        (directory / "train-labels-idx1-ubyte").unlink()
        (directory / "train-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b not really gzip")
    return directory


def test_a_small_idx_directory_trains(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    directory = _idx_dir(tmp_path)
    code, out, err = run(capsys, "train", "--data", str(directory), "--validation-size", "10", "--epochs", "1",
                         "--sizes", "16,5,10")
    assert code == 0, err
    assert "30 training, 10 validation, 10 test images" in out


@pytest.mark.parametrize("corrupt, culprit", [("magic", "train-images-idx3-ubyte"),
                                              ("truncated", "t10k-images-idx3-ubyte"),
                                              ("count", "t10k"),
                                              ("gzip", "train-labels-idx1-ubyte.gz")])
def test_corrupt_idx_directory_exits_1(capsys: pytest.CaptureFixture, tmp_path: Path, corrupt: str,
                                       culprit: str) -> None:
    directory = _idx_dir(tmp_path, corrupt=corrupt)
    code, _, err = run(capsys, "train", "--data", str(directory), "--validation-size", "10", "--epochs", "1")
    assert code == EXIT_DATA == 1
    line = one_line_error(err)
    assert str(directory) in line and culprit in line


def test_missing_data_and_directory_without_idx_files(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent"
    code, _, err = run(capsys, "train", "--data", str(missing))
    assert code == 1 and str(missing) in one_line_error(err)

    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(capsys, "train", "--data", str(empty))
    assert code == 1
    line = one_line_error(err)
    assert str(empty) in line and "train-images-idx3-ubyte" in line


def _write_mnist_pickle(path: Path, n_inputs: int = 784) -> None:
    rng = np.random.default_rng(0)

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        return rng.random((n, n_inputs), dtype=np.float32), rng.integers(0, 10, n)

    with gzip.open(path, "wb") as f:
        pickle.dump((split(120), split(50), split(60)), f)


def test_pickle_needs_allow_pickle(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    path = tmp_path / "mnist.pkl.gz"
    _write_mnist_pickle(path)
    code, out, err = run(capsys, "train", "--data", str(path), "--sizes", "784,10,10", "--epochs", "1")
    assert code == 1
    line = one_line_error(err)
    assert str(path) in line and "--allow-pickle" in line

    code, out, err = run(capsys, "train", "--data", str(path), "--allow-pickle", "--sizes", "784,10,10",
                         "--epochs", "1")
    assert code == 0, err
    assert "120 training, 50 validation, 60 test images" in out
    assert 0.0 <= parse_accuracy(out) <= 100.0


def test_evaluate_data_errors(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    code, _, err = run(capsys, "evaluate", "--model", "missing.npz")
    assert code == 1 and "missing.npz" in one_line_error(err)

    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(np.random.default_rng(1).bytes(300))
    code, _, err = run(capsys, "evaluate", "--model", str(corrupt))
    assert code == 1 and str(corrupt) in one_line_error(err)

    no_meta = tmp_path / "nometa.npz"
    np.savez(no_meta, w=np.zeros(3))
    code, _, err = run(capsys, "evaluate", "--model", str(no_meta))
    assert code == 1 and str(no_meta) in one_line_error(err)


def test_evaluate_a_model_on_data_of_another_width(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    code, _, err = run(capsys, "train", "--epochs", "1", "--quiet", "--save", "m.npz")
    assert code == 0, err
    data = tmp_path / "mnist.pkl.gz"
    _write_mnist_pickle(data)
    code, _, err = run(capsys, "evaluate", "--model", "m.npz", "--data", str(data), "--allow-pickle")
    assert code == 1
    line = one_line_error(err)
    assert "m.npz" in line and "64" in line and "784" in line


def test_save_to_a_missing_directory_exits_2_before_training(capsys: pytest.CaptureFixture,
                                                            tmp_path: Path) -> None:
    code, out, err = run(capsys, "train", "--epochs", "1", "--quiet", "--save", "nope/m.npz")
    assert code == 2 and "test accuracy" not in out
    assert "nope" in one_line_error(err)


# ---- divergence and internal errors -------------------------------------------------------------------
def test_divergence_exits_1_and_says_which_epoch_was_kept(capsys: pytest.CaptureFixture, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def diverging_train(net, splits, *, on_epoch, save_path, **kwargs):
        on_epoch(EpochRecord(1, 0.3, 0.5, 0.5, 0.01, 3.0))
        raise DivergenceError("the cost became nan in epoch 2: training diverged")

    monkeypatch.setattr(train_module, "train", diverging_train)
    code, _, err = run(capsys, "train", "--epochs", "3", "--save", "m.npz", "--history", "h.json")
    assert code == 1
    assert "diverged" in err and "epoch 1" in err and "m.npz" in err
    assert "Traceback" not in err
    assert [h["epoch"] for h in json.loads((tmp_path / "h.json").read_text())] == [1]  # written even so


def test_internal_error_exits_3_and_mentions_debug(capsys: pytest.CaptureFixture,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_train(*args, **kwargs):
        raise RuntimeError("boom: an internal bug")

    monkeypatch.setattr(train_module, "train", broken_train)
    code, _, err = run(capsys, "train", "--epochs", "1")
    assert code == EXIT_BUG == 3
    assert "RuntimeError" in err and "boom: an internal bug" in err and "--debug" in err
    assert "Traceback" not in err

    with pytest.raises(RuntimeError, match="boom"):
        main(["--debug", "train", "--epochs", "1"])


def test_data_error_is_not_an_internal_error(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_load(*args, **kwargs):
        raise DataError("somewhere.idx: broken")

    monkeypatch.setattr(cli.datasets, "load", failing_load)
    code, _, err = run(capsys, "--debug", "train")
    assert code == 1 and "somewhere.idx: broken" in one_line_error(err)


def test_check_exits_0(capsys: pytest.CaptureFixture) -> None:
    code, out, err = run(capsys, "check", "--sizes", "6,4,3", "--batch", "5", "--cost", "cross-entropy")
    assert code == 0, err
    assert "within tolerance" in out


# ---- real processes: exit statuses and no tracebacks -------------------------------------------------
def _subprocess(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "tinygrad_nn", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_subprocess_train_save_evaluate(tmp_path: Path) -> None:
    trained = _subprocess("train", "--epochs", "3", "--save", "m.npz", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert "Traceback" not in trained.stderr
    accuracy = parse_accuracy(trained.stdout)
    assert accuracy > 80.0

    evaluated = _subprocess("evaluate", "--model", "m.npz", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    assert parse_accuracy(evaluated.stdout) == accuracy


def test_subprocess_error_exit_statuses(tmp_path: Path) -> None:
    usage = _subprocess("train", "--sizes", "64,x", cwd=tmp_path)
    assert usage.returncode == 2
    assert "64,x" in one_line_error(usage.stderr) and usage.stdout == ""

    data = _subprocess("evaluate", "--model", "missing.npz", cwd=tmp_path)
    assert data.returncode == 1
    assert "missing.npz" in one_line_error(data.stderr)

    check = _subprocess("check", "--sizes", "5,3", "--batch", "4", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert "Traceback" not in check.stderr


def test_graph_help_names_the_command_it_was_run_as(capsys):
    code, out, _ = run(capsys, "graph", "--help")
    assert code == 0 and out.startswith("usage: tinygrad-nn graph ")
    r = subprocess.run([sys.executable, "-m", "viz", "graph", "--help"], capture_output=True, text=True, timeout=120,
                       check=False)
    assert r.returncode == 0 and r.stdout.startswith("usage: python -m viz graph "), r.stdout + r.stderr

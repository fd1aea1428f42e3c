"""Tests for tinygrad_nn.train: the SGD loop, its history, divergence, and safe model files."""
from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import pickle
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tinygrad_nn.data import DataError, Dataset, Splits
from tinygrad_nn.nn import MLP
from tinygrad_nn.train import (
    MODEL_FORMAT,
    DivergenceError,
    EpochRecord,
    load_model,
    model_metadata,
    save_model,
    train,
    write_history,
)


@pytest.fixture(scope="module")
def small_splits() -> Splits:
    """A tiny random 4-input, 3-class problem: fast enough for argument checks."""
    rng = np.random.default_rng(0)

    def part(n: int) -> Dataset:
        return Dataset(rng.random((n, 4)), rng.integers(0, 3, n))

    return Splits(part(30), part(6), part(6), name="tiny", n_classes=3, image_shape=(4,))


def _state_equal(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in a)


def _without_seconds(history: list[EpochRecord]) -> list[dict]:
    return [{k: v for k, v in dataclasses.asdict(r).items() if k != "seconds"} for r in history]


# ---- training ----------------------------------------------------------------------------------------
def test_train_digits_learns_far_above_chance(digits: Splits) -> None:
    net = MLP([64, 30, 10], seed=0)
    seen: list[EpochRecord] = []
    history = train(net, digits, epochs=5, batch_size=10, lr=3.0, seed=0, on_epoch=seen.append)

    assert len(history) == 5
    assert seen == history  # on_epoch got every record, in order
    assert [r.epoch for r in history] == [1, 2, 3, 4, 5]
    for r in history:
        assert isinstance(r, EpochRecord)
        assert math.isfinite(r.training_cost) and r.training_cost >= 0
        assert 0.0 <= r.validation_accuracy <= 1.0
        assert 0.0 <= r.test_accuracy <= 1.0
        assert r.seconds >= 0.0
    assert history[-1].training_cost < history[0].training_cost
    assert history[-1].test_accuracy > 0.8  # chance is 0.1
    # the record is the net's real accuracy, measured after the epoch
    assert history[-1].test_accuracy == net.accuracy(digits.test.x, digits.test.y)
    assert history[-1].validation_accuracy == net.accuracy(digits.validation.x, digits.validation.y)


def test_train_cross_entropy_scaled_init_learns(digits: Splits) -> None:
    net = MLP([64, 30, 10], init="scaled", seed=1)
    history = train(net, digits, epochs=3, lr=0.5, cost="cross-entropy", momentum=0.5, weight_decay=1e-4)
    assert history[-1].test_accuracy > 0.8


def test_train_is_reproducible_with_the_same_seed(digits: Splits) -> None:
    runs = []
    for _ in range(2):
        net = MLP([64, 20, 10], seed=3)
        history = train(net, digits, epochs=2, lr=3.0, seed=7)
        runs.append((_without_seconds(history), net.state_dict()))
    assert runs[0][0] == runs[1][0]
    assert _state_equal(runs[0][1], runs[1][1])

    other = MLP([64, 20, 10], seed=3)
    train(other, digits, epochs=2, lr=3.0, seed=8)  # another shuffling order gives other weights
    assert not _state_equal(runs[0][1], other.state_dict())


def test_train_keeps_float32(digits: Splits) -> None:
    net = MLP([64, 30, 10], seed=0, dtype=np.float32)
    history = train(net, digits, epochs=3, lr=3.0)
    assert all(p.dtype == np.float32 for p in net.parameters())
    assert history[-1].test_accuracy > 0.8


def test_train_with_empty_validation_records_none(digits: Splits) -> None:
    splits = dataclasses.replace(digits, validation=Dataset(np.zeros((0, 64)), np.zeros(0, dtype=np.int64)))
    history = train(MLP([64, 10, 10], seed=0), splits, epochs=1)
    assert history[0].validation_accuracy is None
    assert history[0].test_accuracy is not None


@pytest.mark.parametrize("name", ["epochs", "batch_size"])
@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3", None])
def test_bad_epochs_and_batch_size_name_the_argument(small_splits: Splits, name: str, bad: object) -> None:
    net = MLP([4, 3, 3], seed=0)
    before = net.state_dict()
    with pytest.raises(ValueError, match=name):
        train(net, small_splits, **{name: bad})
    assert _state_equal(before, net.state_dict())  # nothing was trained


def test_numpy_integer_epochs_are_accepted(small_splits: Splits) -> None:
    history = train(MLP([4, 3, 3], seed=0), small_splits, epochs=np.int64(2), batch_size=np.int32(5))
    assert len(history) == 2


def test_input_width_mismatch_names_both_widths(digits: Splits) -> None:
    with pytest.raises(ValueError) as info:
        train(MLP([10, 5, 10], seed=0), digits, epochs=1)
    assert "10" in str(info.value) and "64" in str(info.value)


def test_too_few_outputs_names_both_counts(digits: Splits) -> None:
    with pytest.raises(ValueError) as info:
        train(MLP([64, 5, 3], seed=0), digits, epochs=1)
    assert "3" in str(info.value) and "10" in str(info.value)


@pytest.mark.parametrize("kwargs, word", [({"cost": "hinge"}, "hinge"), ({"lr": 0}, "lr"), ({"lr": -1.0}, "lr"),
                                          ({"lr": float("nan")}, "lr"), ({"momentum": 1.0}, "momentum"),
                                          ({"weight_decay": -0.1}, "weight_decay")])
def test_bad_hyperparameters_raise_value_error(small_splits: Splits, kwargs: dict, word: str) -> None:
    with pytest.raises(ValueError, match=word):
        train(MLP([4, 3, 3], seed=0), small_splits, epochs=1, **kwargs)


# ---- divergence --------------------------------------------------------------------------------------
def test_divergence_raises_and_the_file_keeps_the_last_good_epoch(digits: Splits, tmp_path: Path) -> None:
    # relu hidden layer with a linear output: lr = 10 survives epoch 1 (cost ~1e263) and blows up in epoch 2
    net = MLP([64, 30, 10], activation="relu", output_activation="identity", seed=0)
    path = tmp_path / "model.npz"
    states: list[dict[str, np.ndarray]] = []
    records: list[EpochRecord] = []

    def capture(record: EpochRecord) -> None:
        records.append(record)
        states.append(net.state_dict())

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning may escape from a diverging run
        with pytest.raises(DivergenceError) as info:
            train(net, digits, epochs=5, lr=10.0, save_path=path, on_epoch=capture)
    assert isinstance(info.value, ArithmeticError)
    message = str(info.value)
    assert "10.0" in message and "epoch 2" in message

    assert len(records) == 1 and math.isfinite(records[0].training_cost)
    saved = load_model(path)
    assert _state_equal(saved.state_dict(), states[-1])  # the last good epoch, not the diverged weights
    assert all(np.isfinite(a).all() for a in saved.state_dict().values())
    assert model_metadata(path)["epoch"] == 1
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]


def test_divergence_in_the_first_epoch_leaves_an_existing_file_alone(digits: Splits, tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    save_model(MLP([64, 30, 10], seed=5), path)
    before = path.read_bytes()
    net = MLP([64, 30, 10], activation="relu", output_activation="identity", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DivergenceError):
            train(net, digits, epochs=2, lr=1e6, save_path=path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]


# ---- save / load -------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_save_load_round_trip(digits: Splits, tmp_path: Path, dtype: type) -> None:
    net = MLP([64, 12, 10], activation="tanh", output_activation="sigmoid", init="scaled", seed=2, dtype=dtype)
    train(net, digits, epochs=1, lr=0.5)
    path = tmp_path / "net.npz"
    save_model(net, path, {"epoch": 1, "note": "hello"})
    loaded = load_model(path)

    assert loaded.config() == net.config()
    assert _state_equal(loaded.state_dict(), net.state_dict())
    assert all(p.dtype == np.dtype(dtype) for p in loaded.parameters())
    x = digits.test.x.astype(dtype)
    assert np.array_equal(loaded.predict(x), net.predict(x))
    assert np.array_equal(loaded(x).data, net(x).data)
    meta = model_metadata(path)
    assert meta["format"] == MODEL_FORMAT and meta["note"] == "hello" and meta["sizes"] == [64, 12, 10]


def test_save_uses_the_exact_path_and_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "model"  # no .npz appended
    save_model(MLP([3, 2], seed=0), path)
    second = MLP([3, 2], seed=1)
    save_model(second, path)
    assert sorted(os.listdir(tmp_path)) == ["model"]
    assert _state_equal(load_model(path).state_dict(), second.state_dict())


def test_train_save_path_holds_the_final_epoch(digits: Splits, tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    net = MLP([64, 10, 10], seed=0)
    train(net, digits, epochs=2, save_path=str(path), cost="cross-entropy", lr=0.5)
    assert _state_equal(load_model(path).state_dict(), net.state_dict())
    meta = model_metadata(path)
    assert meta["epoch"] == 2 and meta["data"] == "digits" and meta["cost"] == "cross-entropy"


def test_save_to_a_missing_directory_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "m.npz"
    with pytest.raises(DataError, match="nope"):
        save_model(MLP([3, 2], seed=0), path)


def _failing_savez(f, **arrays):  # writes half a file, then fails like a full disk
    f.write(b"PK\x03\x04 partial")
    raise OSError(28, "No space left on device")


@pytest.mark.parametrize("where", ["savez", "replace", "interrupt"])
def test_save_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    path = tmp_path / "model.npz"
    old = MLP([5, 4, 3], seed=0)
    save_model(old, path)
    before = path.read_bytes()

    if where == "savez":
        monkeypatch.setattr(np, "savez", _failing_savez)
        expected: type[BaseException] = OSError
    elif where == "replace":
        def failing_replace(src, dst):
            raise PermissionError(13, "Permission denied")
        monkeypatch.setattr(os, "replace", failing_replace)
        expected = PermissionError
    else:
        def interrupted_savez(f, **arrays):
            f.write(b"half")
            raise KeyboardInterrupt
        monkeypatch.setattr(np, "savez", interrupted_savez)
        expected = KeyboardInterrupt

    with pytest.raises(expected):
        save_model(MLP([5, 4, 3], seed=1), path)
    monkeypatch.undo()

    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]  # no temporary file left behind
    assert _state_equal(load_model(path).state_dict(), old.state_dict())


# ---- load_model errors: always DataError naming the file ---------------------------------------------
def _good_arrays(tmp_path: Path) -> dict[str, np.ndarray]:
    path = tmp_path / "good.npz"
    save_model(MLP([4, 3, 2], seed=0), path)
    with np.load(path) as npz:
        return {k: npz[k] for k in npz.files}


def _with_meta(arrays: dict[str, np.ndarray], **changes: object) -> dict[str, np.ndarray]:
    meta = json.loads(str(arrays["__meta__"]))
    meta.update(changes)
    return {**arrays, "__meta__": np.array(json.dumps(meta))}


def _write_bad_model(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.npz"
    if kind == "missing":
        return path
    if kind == "random-bytes":
        path.write_bytes(np.random.default_rng(0).bytes(500))
        return path
    if kind == "empty-file":
        path.write_bytes(b"")
        return path
    if kind == "truncated":
        save_model(MLP([4, 3, 2], seed=0), path)
        path.write_bytes(path.read_bytes()[:200])
        return path
    if kind == "zip-of-garbage":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("__meta__.npy", b"not an npy file")
        return path
    good = _good_arrays(tmp_path)
    if kind == "no-meta":
        arrays = {k: v for k, v in good.items() if k != "__meta__"}
    elif kind == "wrong-format":
        arrays = _with_meta(good, format="someone-else/2")
    elif kind == "meta-not-json":
        arrays = {**good, "__meta__": np.array("{not json")}
    elif kind == "meta-not-a-dict":
        arrays = {**good, "__meta__": np.array("[1, 2, 3]")}
    elif kind == "meta-bad-sizes":
        arrays = _with_meta(good, sizes=[4, -3, 2])
    elif kind == "meta-bad-activation":
        arrays = _with_meta(good, activation="swish")
    elif kind == "meta-no-sizes":
        meta = json.loads(str(good["__meta__"]))
        del meta["sizes"]
        arrays = {**good, "__meta__": np.array(json.dumps(meta))}
    elif kind == "meta-sizes-disagree":
        arrays = _with_meta(good, sizes=[4, 5, 2])
    elif kind == "tampered-shape":
        arrays = {**good, "layers.0.weight": np.zeros((3, 5))}
    elif kind == "missing-array":
        arrays = {k: v for k, v in good.items() if k != "layers.1.bias"}
    elif kind == "extra-array":
        arrays = {**good, "layers.2.weight": np.zeros((2, 2))}
    elif kind == "complex-weights":
        arrays = {**good, "layers.0.weight": good["layers.0.weight"].astype(np.complex128)}
    elif kind == "string-weights":
        arrays = {**good, "layers.1.bias": np.array(["a", "b"])}
    else:
        raise AssertionError(kind)
    np.savez(path, **arrays)
    return path


BAD_MODELS = ["missing", "random-bytes", "empty-file", "truncated", "zip-of-garbage", "no-meta", "wrong-format",
              "meta-not-json", "meta-not-a-dict", "meta-bad-sizes", "meta-bad-activation", "meta-no-sizes",
              "meta-sizes-disagree", "tampered-shape", "missing-array", "extra-array", "complex-weights",
              "string-weights"]


@pytest.mark.parametrize("kind", BAD_MODELS)
def test_load_model_errors_are_data_errors_naming_the_path(tmp_path: Path, kind: str) -> None:
    path = _write_bad_model(tmp_path, kind)
    with pytest.raises(DataError) as info:
        load_model(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value).strip()


def test_load_model_on_a_directory_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=str(tmp_path)):
        load_model(tmp_path)


def test_load_model_wrong_format_names_the_format(tmp_path: Path) -> None:
    path = _write_bad_model(tmp_path, "wrong-format")
    with pytest.raises(DataError, match="someone-else/2"):
        load_model(path)


def test_load_model_tampered_shape_names_the_array(tmp_path: Path) -> None:
    path = _write_bad_model(tmp_path, "tampered-shape")
    with pytest.raises(DataError, match=r"layers\.0\.weight"):
        load_model(path)


class _Tripwire:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_load_model_never_unpickles_object_arrays(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    good = _good_arrays(tmp_path)
    evil = np.empty(1, dtype=object)
    evil[0] = _Tripwire(marker)
    for name in ("layers.0.bias", "__meta__"):
        path = tmp_path / f"evil-{name}.npz"
        np.savez(path, **{**good, name: evil})
        assert not marker.exists()
        with pytest.raises(DataError) as info:
            load_model(path)
        assert str(path) in str(info.value)
        assert not marker.exists()  # the pickle was never executed


def test_load_model_refuses_a_raw_pickle(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "model.npz"
    path.write_bytes(pickle.dumps(_Tripwire(marker)))
    with pytest.raises(DataError, match=str(path)):
        load_model(path)
    assert not marker.exists()


# ---- history files -----------------------------------------------------------------------------------
HISTORY = [EpochRecord(1, 0.5, 0.25, 0.3, 0.01, 3.0), EpochRecord(2, 0.25, None, 0.75, 1.5, 1.5)]


@pytest.mark.parametrize("name", ["h.json", "H.JSON"])
def test_write_history_json(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    write_history(HISTORY, path)
    assert json.loads(path.read_text()) == [dataclasses.asdict(r) for r in HISTORY]


@pytest.mark.parametrize("name", ["h.csv", "h.CSV"])
def test_write_history_csv(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    write_history(HISTORY, path)
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames == ["epoch", "training_cost", "validation_accuracy", "test_accuracy", "seconds", "lr"]
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert [float(r["training_cost"]) for r in rows] == [0.5, 0.25]
    assert [r["validation_accuracy"] for r in rows] == ["0.25", ""]  # None is an empty cell
    assert [float(r["test_accuracy"]) for r in rows] == [0.3, 0.75]
    assert [float(r["seconds"]) for r in rows] == [0.01, 1.5]
    assert [float(r["lr"]) for r in rows] == [3.0, 1.5]


def test_patience_halves_eta_each_time_validation_stalls(digits: Splits) -> None:
    # η so small that nothing changes: validation accuracy never improves after epoch 1, so with
    # patience 2 η halves after epochs 3 and 5 (2 and 4 epochs since the best).
    history = train(MLP([64, 10, 10], seed=0), digits, epochs=6, lr=1e-12, patience=2)
    assert len({r.validation_accuracy for r in history}) == 1
    assert [r.lr for r in history] == [1e-12, 1e-12, 1e-12, 5e-13, 5e-13, 2.5e-13]


def test_patience_keeps_eta_while_validation_improves(digits: Splits) -> None:
    history = train(MLP([64, 30, 10], seed=0), digits, epochs=3, lr=3.0, patience=1)
    accuracies = [r.validation_accuracy for r in history]
    assert accuracies == sorted(set(accuracies))  # strictly improving in these first epochs
    assert [r.lr for r in history] == [3.0, 3.0, 3.0]
    with pytest.raises(ValueError, match="patience"):
        train(MLP([64, 10, 10], seed=0), digits, epochs=1, patience=0)


def test_write_history_of_a_real_run(digits: Splits, tmp_path: Path) -> None:
    history = train(MLP([64, 10, 10], seed=0), digits, epochs=2)
    write_history(history, tmp_path / "h.json")
    data = json.loads((tmp_path / "h.json").read_text())
    assert [d["epoch"] for d in data] == [1, 2]
    assert data[1]["test_accuracy"] == history[1].test_accuracy


@pytest.mark.parametrize("name", ["h.txt", "h", "h.json.bak"])
def test_write_history_rejects_unknown_extensions(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="json"):
        write_history(HISTORY, tmp_path / name)
    assert not (tmp_path / name).exists()

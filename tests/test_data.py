"""Tests for tinygrad_nn.data: digits, IDX files, Nielsen's pickle, load() dispatch, one_hot, mini_batches."""

from __future__ import annotations

import dataclasses
import gzip
import io
import math
import pickle
import struct
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_nn import data
from tinygrad_nn.data import (
    FASHION_MNIST_DIR,
    DataError,
    Dataset,
    load,
    load_digits,
    load_fashion_mnist,
    load_idx_dir,
    load_mnist_pickle,
    mini_batches,
    one_hot,
    read_idx,
)

# ---------------------------------------------------------------------------- helpers


def write_idx(path: Path, array: np.ndarray, type_code: int = 0x08, magic: bytes = b"\x00\x00", cut: int = 0) -> Path:
    """Write ``array`` as an IDX file (gzipped if ``path`` ends in .gz), optionally dropping ``cut`` last bytes."""
    array = np.asarray(array, dtype=np.uint8)
    raw = magic + bytes([type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    raw = raw[: len(raw) - cut]
    path.write_bytes(gzip.compress(raw) if path.name.endswith(".gz") else raw)
    return path


def make_idx_dir(
    directory: Path,
    n_train: int = 12,
    n_test: int = 5,
    shape: tuple[int, int] = (3, 2),
    suffix: str = ".gz",
    dotted: bool = False,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Write the four MNIST-style IDX files into ``directory``; return the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, *shape), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, *shape), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    directory.mkdir(parents=True, exist_ok=True)
    for stem, array in arrays.items():
        name = stem.replace("-idx", ".idx") if dotted else stem
        write_idx(directory / (name + suffix), array)
    return arrays


def nielsen_splits(n_in: int = 16, sizes: tuple[int, int, int] = (7, 3, 4), seed: int = 0) -> tuple:
    """A tiny (training, validation, test) tuple in the layout of Nielsen's mnist.pkl.gz."""
    rng = np.random.default_rng(seed)
    return tuple(
        (rng.random((n, n_in), dtype=np.float32), rng.integers(0, 10, n).astype(np.int64)) for n in sizes
    )


def write_pickle(path: Path, obj: object) -> Path:
    """Pickle ``obj`` to ``path`` (gzipped if it ends in .gz), protocol 2 like the Python 2 original."""
    payload = pickle.dumps(obj, protocol=2)
    path.write_bytes(gzip.compress(payload) if path.name.endswith(".gz") else payload)
    return path


def raw_digits_table() -> np.ndarray:
    resource = files("tinygrad_nn") / "datasets" / "digits.csv.gz"
    return np.loadtxt(io.BytesIO(gzip.decompress(resource.read_bytes())), delimiter=",", dtype=np.int64)


# ---------------------------------------------------------------------------- Dataset / Splits


def test_dataset_coerces_dtypes_and_reports_size():
    ds = Dataset(np.ones((4, 3), dtype=np.float32), np.arange(4, dtype=np.uint8))
    assert ds.x.dtype == np.float64 and ds.y.dtype == np.int64
    assert len(ds) == 4 and ds.n_inputs == 3


@pytest.mark.parametrize(
    "x_shape, y_shape",
    [((4,), (4,)), ((4, 3), (4, 1)), ((4, 3), (5,)), ((2, 2, 2), (2,))],
)
def test_dataset_rejects_bad_shapes_naming_them(x_shape, y_shape):
    with pytest.raises(DataError) as err:
        Dataset(np.zeros(x_shape), np.zeros(y_shape, dtype=np.int64))
    assert str(x_shape) in str(err.value) and str(y_shape) in str(err.value)


def test_dataset_rejects_float_labels_and_is_frozen():
    with pytest.raises(DataError, match="float64"):
        Dataset(np.zeros((2, 2)), np.zeros(2))
    ds = Dataset(np.zeros((2, 2)), np.zeros(2, dtype=int))
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.x = np.ones((2, 2))  # type: ignore[misc]


# ---------------------------------------------------------------------------- digits


def test_digits_shapes_types_and_ranges(digits):
    assert (len(digits.training), len(digits.validation), len(digits.test)) == (1257, 180, 360)
    assert (digits.name, digits.n_classes, digits.image_shape) == ("digits", 10, (8, 8))
    for ds in (digits.training, digits.validation, digits.test):
        assert ds.x.shape == (len(ds), 64) and ds.n_inputs == 64
        assert ds.x.dtype == np.float64 and ds.y.dtype == np.int64
        assert ds.x.min() >= 0.0 and ds.x.max() <= 1.0
        assert set(np.unique(ds.y)) <= set(range(10))
    assert digits.training.x.max() == 1.0  # pixel 16 maps to exactly 1


def test_digits_splits_partition_the_embedded_table(digits):
    table = raw_digits_table()
    assert table.shape == (1797, 65)
    rebuilt = np.concatenate(
        [np.column_stack([ds.x * 16, ds.y]) for ds in (digits.training, digits.validation, digits.test)]
    )
    assert np.array_equal(np.unique(rebuilt, axis=0, return_counts=True)[1],
                          np.unique(table, axis=0, return_counts=True)[1])
    assert np.array_equal(np.unique(rebuilt, axis=0), np.unique(table, axis=0))


def test_digits_split_is_stratified(digits):
    total = np.bincount(raw_digits_table()[:, 64], minlength=10)
    for ds in (digits.training, digits.validation, digits.test):
        counts = np.bincount(ds.y, minlength=10)
        assert (counts > 0).all()
        expected = total * len(ds) / total.sum()
        assert np.abs(counts - expected).max() <= 1.5


def test_digits_is_deterministic_per_seed(digits):
    again = load_digits()
    other = load_digits(seed=1)
    for a, b in ((digits.training, again.training), (digits.test, again.test), (digits.validation, again.validation)):
        assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    assert not np.array_equal(digits.test.x, other.test.x)


def test_digits_custom_sizes_and_errors():
    splits = load_digits(validation_size=0, test_size=100)
    assert (len(splits.training), len(splits.validation), len(splits.test)) == (1697, 0, 100)
    assert splits.validation.x.shape == (0, 64)
    with pytest.raises(ValueError, match="1797"):
        load_digits(validation_size=1000, test_size=797)
    with pytest.raises(ValueError, match="test_size"):
        load_digits(test_size=-1)


# ---------------------------------------------------------------------------- read_idx


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    array=hnp.arrays(np.uint8, hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5)),
    suffix=st.sampled_from(["", ".gz"]),
)
def test_read_idx_round_trip(tmp_path, array, suffix):
    path = write_idx(tmp_path / f"a-idx-ubyte{suffix}", array)
    back = read_idx(path)
    assert back.dtype == np.uint8 and back.shape == array.shape
    assert np.array_equal(back, array)
    back[...] = 0  # the result is an ordinary writable array


def test_read_idx_reads_gzip_only_by_name(tmp_path):
    array = np.arange(6, dtype=np.uint8).reshape(2, 3)
    assert np.array_equal(read_idx(write_idx(tmp_path / "x.gz", array)), array)
    assert np.array_equal(read_idx(str(write_idx(tmp_path / "x", array))), array)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(DataError, match="nope-idx1-ubyte.*not found"):
        read_idx(tmp_path / "nope-idx1-ubyte")


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_wrong_magic(tmp_path, suffix):
    path = write_idx(tmp_path / f"bad{suffix}", np.zeros(3), magic=b"\x12\x34")
    with pytest.raises(DataError, match=rf"bad{suffix}.*two zero bytes"):
        read_idx(path)


def test_read_idx_wrong_type_code(tmp_path):
    path = write_idx(tmp_path / "floats-idx1-ubyte", np.zeros(3), type_code=0x0D)
    with pytest.raises(DataError, match=r"floats-idx1-ubyte.*0x0d.*expected 0x08"):
        read_idx(path)


@pytest.mark.parametrize("ndim", [0, 5])
def test_read_idx_bad_dimension_count(tmp_path, ndim):
    path = tmp_path / "dims-idx"
    path.write_bytes(bytes([0, 0, 8, ndim]) + struct.pack(f">{ndim}I", *[1] * ndim) + b"\x00")
    with pytest.raises(DataError, match=rf"dims-idx.*{ndim} dimensions; expected 1 to 4"):
        read_idx(path)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_truncated_payload(tmp_path, suffix):
    path = write_idx(tmp_path / f"short-idx3-ubyte{suffix}", np.zeros((2, 3, 4)), cut=5)
    with pytest.raises(DataError) as err:
        read_idx(path)
    message = str(err.value)
    assert f"short-idx3-ubyte{suffix}" in message and "19 bytes" in message and "expected 24" in message


def test_read_idx_truncated_header_and_trailing_data(tmp_path):
    short = write_idx(tmp_path / "header-idx", np.zeros((2, 3)), cut=2 * 3 + 2)
    with pytest.raises(DataError, match="header-idx.*truncated IDX header"):
        read_idx(short)
    long = tmp_path / "long-idx"
    long.write_bytes(write_idx(tmp_path / "ok-idx", np.zeros(4)).read_bytes() + b"\x01")
    with pytest.raises(DataError, match="long-idx.*5 bytes, expected 4"):
        read_idx(long)


def test_read_idx_truncated_or_corrupt_gzip(tmp_path):
    whole = write_idx(tmp_path / "whole.gz", np.arange(200, dtype=np.uint8)).read_bytes()
    truncated = tmp_path / "truncated-idx1-ubyte.gz"
    truncated.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match="truncated-idx1-ubyte.gz.*gzip"):
        read_idx(truncated)
    not_gzip = tmp_path / "plain-idx1-ubyte.gz"
    not_gzip.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x00")
    with pytest.raises(DataError, match="plain-idx1-ubyte.gz.*gzip"):
        read_idx(not_gzip)


# ---------------------------------------------------------------------------- load_idx_dir


def test_load_idx_dir_splits_like_nielsen(tmp_path):
    arrays = make_idx_dir(tmp_path / "mini", n_train=12, n_test=5, shape=(3, 2))
    splits = load_idx_dir(tmp_path / "mini", validation_size=4)
    images, labels = arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"]
    assert (len(splits.training), len(splits.validation), len(splits.test)) == (8, 4, 5)
    assert (splits.name, splits.n_classes, splits.image_shape) == ("mini", 10, (3, 2))
    assert np.array_equal(splits.training.x, images[:8].reshape(8, 6) / 255.0)
    assert np.array_equal(splits.validation.x, images[8:].reshape(4, 6) / 255.0)  # carved from the end
    assert np.array_equal(splits.training.y, labels[:8]) and np.array_equal(splits.validation.y, labels[8:])
    assert np.array_equal(splits.test.y, arrays["t10k-labels-idx1-ubyte"])
    assert splits.test.x.dtype == np.float64 and splits.test.x.max() <= 1.0


@pytest.mark.parametrize("suffix, dotted", [("", False), ("", True), (".gz", True)])
def test_load_idx_dir_accepts_raw_and_dotted_names(tmp_path, suffix, dotted):
    arrays = make_idx_dir(tmp_path, suffix=suffix, dotted=dotted)
    splits = load_idx_dir(tmp_path, validation_size=2, name="custom")
    assert splits.name == "custom"
    assert np.array_equal(splits.test.y, arrays["t10k-labels-idx1-ubyte"])


def test_load_idx_dir_validation_size_bounds(tmp_path):
    make_idx_dir(tmp_path, n_train=12)
    empty = load_idx_dir(tmp_path, validation_size=0)
    assert len(empty.training) == 12 and empty.validation.x.shape == (0, 6) and empty.validation.y.shape == (0,)
    assert len(load_idx_dir(tmp_path, validation_size=11).training) == 1
    for bad in (12, 13, -1):
        with pytest.raises(DataError, match=rf"validation_size {bad} must be in 0..11"):
            load_idx_dir(tmp_path, validation_size=bad)


def test_load_idx_dir_missing_directory_and_files(tmp_path):
    with pytest.raises(DataError, match="absent.*not found"):
        load_idx_dir(tmp_path / "absent")
    make_idx_dir(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    (tmp_path / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataError) as err:
        load_idx_dir(tmp_path)
    message = str(err.value)
    assert str(tmp_path) in message
    assert "train-labels-idx1-ubyte" in message and "t10k-images-idx3-ubyte" in message
    assert "train-images-idx3-ubyte" not in message


@pytest.mark.parametrize(
    "stem, array, match",
    [
        ("train-labels-idx1-ubyte", np.zeros(11), r"train-images-idx3-ubyte.gz holds 12 images.*11 labels"),
        ("t10k-images-idx3-ubyte", np.zeros((5, 6)), r"t10k-images-idx3-ubyte.gz: expected 3-D images"),
        ("train-labels-idx1-ubyte", np.zeros((12, 1)), r"train-labels-idx1-ubyte.gz: expected 1-D labels"),
        ("t10k-labels-idx1-ubyte", np.full(5, 10), r"t10k-labels-idx1-ubyte.gz: label 10 out of range"),
        ("t10k-images-idx3-ubyte", np.zeros((5, 2, 3)), r"t10k-images-idx3-ubyte.gz: images are 2x3"),
    ],
)
def test_load_idx_dir_rejects_inconsistent_files(tmp_path, stem, array, match):
    make_idx_dir(tmp_path, n_train=12, n_test=5, shape=(3, 2))
    write_idx(tmp_path / f"{stem}.gz", array)
    with pytest.raises(DataError, match=match):
        load_idx_dir(tmp_path, validation_size=2)


# ---------------------------------------------------------------------------- Fashion-MNIST


def test_fashion_mnist_missing_directory_says_how_to_install(tmp_path):
    with pytest.raises(DataError) as err:
        load_fashion_mnist(tmp_path / "no-fashion-here")
    message = str(err.value)
    assert "no-fashion-here" in message and "not installed" in message
    assert "apt-get install dataset-fashion-mnist" in message and "directory of IDX files" in message


def test_fashion_mnist_from_a_directory(tmp_path):
    make_idx_dir(tmp_path, n_train=20, shape=(28, 28))
    splits = load_fashion_mnist(tmp_path, validation_size=5)
    assert (splits.name, splits.image_shape, splits.n_classes) == ("fashion-mnist", (28, 28), 10)
    assert (len(splits.training), len(splits.validation), splits.training.n_inputs) == (15, 5, 784)


def test_fashion_mnist_default_location():
    """Loads the installed copy when there is one; otherwise the default path gives the install hint."""
    if Path(FASHION_MNIST_DIR).is_dir():
        splits = load("fashion-mnist", validation_size=10000)
        assert (len(splits.training), len(splits.validation), len(splits.test)) == (50000, 10000, 10000)
        assert splits.training.x.shape == (50000, 784) and splits.image_shape == (28, 28)
        assert set(np.unique(splits.test.y)) == set(range(10))
    else:
        for loader in (load_fashion_mnist, lambda: load("fashion-mnist")):
            with pytest.raises(DataError, match=f"{FASHION_MNIST_DIR}.*apt-get install dataset-fashion-mnist"):
                loader()


# ---------------------------------------------------------------------------- Nielsen's pickle


@pytest.mark.parametrize("name", ["mnist.pkl.gz", "mnist.pkl"])
def test_mnist_pickle_loads_when_allowed(tmp_path, name):
    splits_in = nielsen_splits(n_in=16)
    splits = load_mnist_pickle(write_pickle(tmp_path / name, splits_in), allow_pickle=True)
    assert (splits.name, splits.n_classes, splits.image_shape) == ("mnist", 10, (4, 4))
    for ds, (x, y) in zip((splits.training, splits.validation, splits.test), splits_in):
        assert ds.x.dtype == np.float64 and ds.y.dtype == np.int64
        assert np.array_equal(ds.x, x) and np.array_equal(ds.y, y)


def test_mnist_pickle_non_square_inputs_keep_flat_shape(tmp_path):
    path = write_pickle(tmp_path / "odd.pkl.gz", nielsen_splits(n_in=10))
    assert load_mnist_pickle(path, allow_pickle=True).image_shape == (10,)


def test_mnist_pickle_refused_without_opening_the_file(tmp_path, monkeypatch):
    path = write_pickle(tmp_path / "mnist.pkl.gz", nielsen_splits())
    calls = []
    monkeypatch.setattr(data.gzip, "open", lambda *a, **k: calls.append(("gzip.open", a)))
    monkeypatch.setattr(data.pickle, "load", lambda *a, **k: calls.append(("pickle.load", a)))
    for source in (path, tmp_path / "does-not-exist.pkl.gz"):
        with pytest.raises(DataError) as err:
            load_mnist_pickle(source)
        message = str(err.value)
        assert str(source) in message and "arbitrary code" in message
        assert "allow_pickle=True" in message and "--allow-pickle" in message
    with pytest.raises(DataError, match="arbitrary code"):
        load(str(path))
    assert calls == []


@pytest.mark.parametrize(
    "obj, match",
    [
        ("not a tuple", r"expected a \(training, validation, test\) tuple, got str"),
        (nielsen_splits()[:2], r"tuple, got tuple of length 2"),
        ((*nielsen_splits()[:2], (np.zeros((2, 4)),)), r"test split must be an \(x, y\) pair"),
        ((*nielsen_splits()[:2], (np.zeros(4), np.zeros(4, dtype=int))), r"test split needs x.*\(4,\)"),
        ((*nielsen_splits()[:2], (np.zeros((3, 16)), np.zeros(2, dtype=int))), r"x \(3, 16\) and y \(2,\)"),
        ((nielsen_splits()[0], (np.zeros((2, 16)), np.zeros(2)), nielsen_splits()[2]), r"validation.*y dtype float64"),
        ((nielsen_splits()[0], (np.full((2, 16), 255.0), np.zeros(2, dtype=int)), nielsen_splits()[2]), r"\[0, 1\]"),
        ((*nielsen_splits()[:2], (np.zeros((2, 16)), np.array([0, 10]))), r"test labels span 0..10"),
        ((*nielsen_splits()[:2], (np.zeros((2, 9)), np.zeros(2, dtype=int))), r"16, 16 and 9 inputs"),
    ],
)
def test_mnist_pickle_malformed_structure(tmp_path, obj, match):
    path = write_pickle(tmp_path / "bad.pkl.gz", obj)
    with pytest.raises(DataError, match=match) as err:
        load_mnist_pickle(path, allow_pickle=True)
    assert "bad.pkl.gz" in str(err.value)


def test_mnist_pickle_unreadable_files(tmp_path):
    with pytest.raises(DataError, match="missing.pkl.gz.*not found"):
        load_mnist_pickle(tmp_path / "missing.pkl.gz", allow_pickle=True)
    garbage = tmp_path / "garbage.pkl.gz"
    garbage.write_bytes(gzip.compress(b"this is not a pickle"))
    with pytest.raises(DataError, match="garbage.pkl.gz.*cannot unpickle"):
        load_mnist_pickle(garbage, allow_pickle=True)
    truncated = tmp_path / "truncated.pkl.gz"
    truncated.write_bytes(write_pickle(tmp_path / "ok.pkl.gz", nielsen_splits()).read_bytes()[:100])
    with pytest.raises(DataError, match="truncated.pkl.gz.*cannot unpickle"):
        load_mnist_pickle(truncated, allow_pickle=True)


# ---------------------------------------------------------------------------- load() dispatch


def test_load_dispatches_to_each_loader(tmp_path):
    digits = load()
    assert digits.name == "digits" and len(digits.validation) == 180
    assert len(load("digits", validation_size=90).validation) == 90
    make_idx_dir(tmp_path / "idx", n_train=12)
    from_dir = load(str(tmp_path / "idx"), validation_size=3)
    assert (from_dir.name, len(from_dir.training), len(from_dir.validation)) == ("idx", 9, 3)
    pkl = write_pickle(tmp_path / "mnist.pkl.gz", nielsen_splits(sizes=(5, 2, 3)))
    from_pickle = load(str(pkl), allow_pickle=True)
    assert (len(from_pickle.training), len(from_pickle.validation), len(from_pickle.test)) == (5, 2, 3)


def test_load_errors_name_the_source_and_choices(tmp_path):
    for source in ("mnist", str(tmp_path / "nowhere")):
        with pytest.raises(DataError) as err:
            load(source)
        message = str(err.value)
        assert source in message and "digits" in message and "fashion-mnist" in message and ".pkl" in message
    text_file = tmp_path / "notes.txt"
    text_file.write_text("hello")
    with pytest.raises(DataError, match=r"notes.txt.*not a recognised data source.*digits"):
        load(str(text_file))
    pkl = write_pickle(tmp_path / "mnist.pkl", nielsen_splits())
    with pytest.raises(DataError, match="fixed splits"):
        load(str(pkl), allow_pickle=True, validation_size=10)


# ---------------------------------------------------------------------------- one_hot


def test_one_hot_basic():
    out = one_hot(np.array([2, 0, 1]), 3)
    assert out.dtype == np.float64
    assert np.array_equal(out, [[0, 0, 1], [1, 0, 0], [0, 1, 0]])
    assert one_hot(np.array([1.0, 0.0]), 2, dtype=np.float32).dtype == np.float32
    assert one_hot(np.array([], dtype=int), 4).shape == (0, 4)


@given(st.integers(1, 12).flatmap(lambda k: st.tuples(st.just(k), st.lists(st.integers(0, k - 1), max_size=30))))
def test_one_hot_argmax_round_trip(case):
    n_classes, labels = case
    out = one_hot(np.array(labels, dtype=np.int64), n_classes)
    assert out.shape == (len(labels), n_classes)
    assert np.array_equal(out.sum(axis=1), np.ones(len(labels)))
    assert np.array_equal(out.argmax(axis=1), labels)


@pytest.mark.parametrize("labels, shown", [([0, 1.5], "1.5"), ([0, -1], "-1"), ([3, 10], "10"), ([np.nan], "nan")])
def test_one_hot_rejects_bad_labels_naming_them(labels, shown):
    with pytest.raises(ValueError, match=rf"label {shown}"):
        one_hot(np.array(labels), 10)


def test_one_hot_rejects_bad_arguments():
    with pytest.raises(ValueError, match="1-D"):
        one_hot(np.zeros((2, 2), dtype=int), 3)
    with pytest.raises(ValueError, match="n_classes"):
        one_hot(np.zeros(2, dtype=int), 0)


# ---------------------------------------------------------------------------- mini_batches



@given(n=st.integers(0, 50), batch_size=st.integers(1, 60), shuffle=st.booleans(), seed=st.integers(0, 2**32))
def test_mini_batches_cover_every_example_once(n, batch_size, shuffle, seed):
    x = np.arange(n, dtype=np.float64)[:, None] * np.array([1.0, -1.0])
    y = np.arange(n)
    batches = list(mini_batches(x, y, batch_size, shuffle=shuffle, seed=seed))
    assert len(batches) == math.ceil(n / batch_size)
    assert all(len(bx) == len(by) == batch_size for bx, by in batches[:-1])
    assert all(0 < len(by) <= batch_size for _, by in batches)
    order = np.concatenate([by for _, by in batches]) if batches else np.array([], dtype=int)
    assert np.array_equal(np.sort(order), y)
    for bx, by in batches:  # rows stay paired with their labels
        assert np.array_equal(bx[:, 0], by) and bx.shape[1] == 2
    if not shuffle:
        assert np.array_equal(order, y)


def test_mini_batches_reproducible_with_seed():
    x, y = np.random.default_rng(0).random((100, 3)), np.arange(100)

    def order(seed):
        return np.concatenate([by for _, by in mini_batches(x, y, 7, seed=seed)])

    assert np.array_equal(order(3), order(3))
    assert not np.array_equal(order(3), order(4))
    assert not np.array_equal(order(3), y)
    gen_a, gen_b = np.random.default_rng(5), np.random.default_rng(5)
    assert np.array_equal(order(gen_a), order(gen_b))
    assert not np.array_equal(order(gen_a), order(np.random.default_rng(5)))  # the generator advanced


@pytest.mark.parametrize("batch_size", [0, -3, 2.5, True, "4"])
def test_mini_batches_rejects_bad_batch_size_eagerly(batch_size):
    with pytest.raises(ValueError, match=rf"batch_size must be a positive int, got {batch_size!r}"):
        mini_batches(np.zeros((4, 2)), np.zeros(4), batch_size)  # raised at call time, before iterating


def test_mini_batches_rejects_length_mismatch():
    with pytest.raises(ValueError, match=r"x \(5, 2\) and y \(4,\)"):
        mini_batches(np.zeros((5, 2)), np.zeros(4), 2)

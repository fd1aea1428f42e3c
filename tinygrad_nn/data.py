"""Data sets for tinygrad_nn: the embedded 8x8 digits, IDX files (MNIST, Fashion-MNIST),
Nielsen's ``mnist.pkl.gz``, plus ``one_hot`` and ``mini_batches`` helpers.

Every loader returns a :class:`Splits` of three :class:`Dataset` objects whose ``x`` is
float64 in [0, 1] with one row per example and whose ``y`` holds int64 class labels.
Anything wrong with a data source raises :class:`DataError`, naming the file and the problem.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import pickle
import stat
import struct
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

try:
    import resource as _resource
except ImportError:  # not on Windows
    _resource = None  # type: ignore[assignment]

__all__ = [
    "FASHION_MNIST_DIR",
    "DataError",
    "Dataset",
    "Splits",
    "load",
    "load_digits",
    "load_fashion_mnist",
    "load_idx_dir",
    "load_mnist_pickle",
    "mini_batches",
    "one_hot",
    "read_idx",
]

PathLike = str | os.PathLike

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
SOURCES = ("digits", "fashion-mnist", "<directory of IDX files>", "<file.pkl or file.pkl.gz>")

# The four IDX files of an MNIST-style directory: (split, part) -> standard file stem.
_IDX_FILES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}
_IDX_UBYTE = 0x08
_MNIST_CLASSES = 10


class DataError(ValueError):
    """A data source is missing, malformed or refused; the message names the file and the problem."""


# ---------------------------------------------------------------------------- containers


@dataclass(frozen=True, eq=False)  # eq=False: element-wise array equality has no single truth value
class Dataset:
    """One split: ``x`` of shape (n, n_inputs), float64 in [0, 1], and ``y`` of shape (n,), int64 labels."""

    x: np.ndarray
    y: np.ndarray

    def __post_init__(self) -> None:
        x, y = np.asarray(self.x), np.asarray(self.y)
        if x.ndim != 2 or y.ndim != 1 or len(x) != len(y):
            raise DataError(
                f"Dataset needs x of shape (n, n_inputs) and y of shape (n,) with the same n; "
                f"got x {x.shape} and y {y.shape}"
            )
        if y.dtype.kind not in "iu":
            raise DataError(f"Dataset labels y must be integers; got dtype {y.dtype}")
        if x.dtype.kind not in "fiub":
            raise DataError(f"Dataset images x must be real numbers; got dtype {x.dtype}")
        if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
            bad = tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])
            raise DataError(f"Dataset images x contain NaN or inf (first at index {bad})")
        object.__setattr__(self, "x", x.astype(np.float64, copy=False))
        object.__setattr__(self, "y", y.astype(np.int64, copy=False))

    def __len__(self) -> int:
        return len(self.y)

    @property
    def n_inputs(self) -> int:
        """Number of input features per example (columns of ``x``)."""
        return self.x.shape[1]


@dataclass(frozen=True)
class Splits:
    """Training, validation and test sets of one data set, with its name, class count and image shape."""

    training: Dataset
    validation: Dataset
    test: Dataset
    name: str
    n_classes: int
    image_shape: tuple[int, ...]


# ---------------------------------------------------------------------------- digits


@cache
def _digits_table() -> np.ndarray:
    """The embedded digits table, (1797, 65) int64: 64 pixels 0..16 then the label (read once)."""
    resource = files("tinygrad_nn") / "datasets" / "digits.csv.gz"
    try:
        table = np.loadtxt(io.BytesIO(gzip.decompress(resource.read_bytes())), delimiter=",", dtype=np.int64)
    except (OSError, EOFError, zlib.error, ValueError) as exc:
        raise DataError(f"{resource}: cannot read the embedded digits data ({exc})") from exc
    if table.ndim != 2 or table.shape[1] != 65:
        raise DataError(f"{resource}: expected rows of 64 pixels and a label, got table shape {table.shape}")
    table.flags.writeable = False
    return table


def _stratified_order(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random order of all indices in which every prefix holds each class in proportion to its size."""
    order = rng.permutation(len(y))
    position = np.empty(len(y))  # where each shuffled example sits within its class, in (0, 1)
    for label in np.unique(y):
        members = np.flatnonzero(y[order] == label)
        position[members] = (np.arange(len(members)) + 0.5) / len(members)
    return order[np.argsort(position, kind="stable")]


def load_digits(validation_size: int = 180, test_size: int = 360, seed: int = 0) -> Splits:
    """Load the embedded 8x8 digits (1797 images) with pixels scaled to [0, 1].

    The split is stratified: each class is shuffled with ``seed`` and dealt out in proportion,
    so every class appears in every split; the same seed always gives the same split.
    """
    table = _digits_table()
    n = len(table)
    for label, size in (("validation_size", validation_size), ("test_size", test_size)):
        if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 0:
            raise ValueError(f"{label} must be a non-negative int, got {size!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if validation_size + test_size >= n:
        raise ValueError(
            f"validation_size + test_size must leave training examples: "
            f"{validation_size} + {test_size} >= {n} digits"
        )
    x, y = table[:, :64] / 16.0, table[:, 64]
    order = _stratified_order(y, np.random.default_rng(seed))
    test_idx = np.sort(order[:test_size])
    val_idx = np.sort(order[test_size : test_size + validation_size])
    train_idx = np.sort(order[test_size + validation_size :])
    return Splits(
        training=Dataset(x[train_idx], y[train_idx]),
        validation=Dataset(x[val_idx], y[val_idx]),
        test=Dataset(x[test_idx], y[test_idx]),
        name="digits",
        n_classes=int(y.max()) + 1,
        image_shape=(8, 8),
    )


# ---------------------------------------------------------------------------- IDX files


def read_idx(path: PathLike) -> np.ndarray:
    """Read one IDX file (gzipped when the name ends in ``.gz``) and return its uint8 array.

    Only the unsigned-byte type (0x08) with 1 to 4 dimensions is supported, as used by MNIST. No more is
    read than the header promises, so a small file that inflates to gigabytes fails fast.
    """
    path = Path(path)
    try:
        with open_regular(path, "IDX file") as file:
            size = os.fstat(file.fileno()).st_size
            if not path.name.endswith(".gz"):
                return _read_idx_stream(path, file, size - _idx_header_size(file, size), exact=True)
            with gzip.GzipFile(fileobj=file, mode="rb") as stream:
                return _read_idx_stream(path, stream, _DEFLATE_MAX_RATIO * size)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: corrupt or truncated gzip stream ({exc})") from None


_DEFLATE_MAX_RATIO = 1032  # deflate never inflates one byte into more than 1032
_CHUNK = 1 << 20


def _idx_header_size(file: BinaryIO, size: int) -> int:
    """The header size of a raw IDX file (4 + 4 × dimensions), peeked without moving the file position."""
    head = file.read(4)
    file.seek(0)
    return 4 + 4 * head[3] if len(head) == 4 else size


def _read_idx_stream(path: Path, stream: BinaryIO, most: int, exact: bool = False) -> np.ndarray:
    """The IDX array from `stream`, which can hold at most `most` payload bytes (`exact`: holds just that many)."""
    head = stream.read(4)
    if len(head) < 4:
        raise DataError(f"{path}: too short for an IDX header: {len(head)} bytes, expected at least 4")
    zero1, zero2, type_code, ndim = head
    if zero1 != 0 or zero2 != 0:
        raise DataError(f"{path}: bad IDX magic {head.hex()}; expected it to start with two zero bytes")
    if type_code != _IDX_UBYTE:
        raise DataError(
            f"{path}: unsupported IDX type code 0x{type_code:02x}; expected 0x08 (unsigned byte)"
        )
    if not 1 <= ndim <= 4:
        raise DataError(f"{path}: IDX header says {ndim} dimensions; expected 1 to 4")
    raw_dims = stream.read(4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise DataError(f"{path}: truncated IDX header: {4 + len(raw_dims)} bytes, expected {4 + 4 * ndim}")
    dims = struct.unpack(f">{ndim}I", raw_dims)
    expected = math.prod(dims)
    if exact and expected != most:
        raise DataError(
            f"{path}: IDX payload is {most} bytes, expected {expected} for dimensions {dims}"
            + (" (file truncated)" if most < expected else " (trailing data)")
        )
    if expected > max(most, 0):
        raise DataError(f"{path}: the IDX header promises {expected} bytes for dimensions {dims}, more than the "
                        f"file can hold (at most {max(most, 0)}): file truncated or header corrupt")
    check_memory(path, expected, f"dimensions {dims}")
    payload = np.empty(expected, dtype=np.uint8)
    view, done = memoryview(payload), 0
    while done < expected:  # in chunks: a reader's read(n) may allocate all n bytes at once
        got = stream.readinto(view[done : done + _CHUNK])
        if not got:
            raise DataError(f"{path}: IDX payload is {done} bytes, expected {expected} for dimensions {dims} "
                            f"(file truncated)")
        done += got
    if stream.read(1):
        raise DataError(f"{path}: IDX payload is longer than the {expected} bytes of dimensions {dims} "
                        f"(trailing data)")
    return payload.reshape(dims)


def open_regular(path: PathLike, what: str) -> BinaryIO:
    """Open an existing regular file for reading, or raise DataError naming the real reason it cannot be.

    A FIFO or device is refused without blocking on it; "not found" is said only of a missing file.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise DataError(f"{path}: {what} not found") from None
    except PermissionError:
        raise DataError(f"{path}: cannot read the {what}: permission denied") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot open the {what}: {exc.strerror or exc}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        from .files import file_kind

        raise DataError(f"{path}: the {what} is {file_kind(path) or 'not a regular file'}, not a regular file")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def memory_budget() -> int:
    """Bytes this process may still allocate: the free memory, and the room left under an address-space limit."""
    budget = sys.maxsize
    try:
        with open("/proc/meminfo") as f:
            budget = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
        soft = _resource.getrlimit(_resource.RLIMIT_AS)[0] if _resource else -1
        if soft not in (-1, getattr(_resource, "RLIM_INFINITY", -1)):
            with open("/proc/self/status") as f:
                used = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
            budget = min(budget, soft - used)
    except (OSError, StopIteration, ValueError):  # no /proc (not Linux): no limit known
        pass
    return max(budget, 0)


def check_memory(path: PathLike, n_bytes: int, what: str) -> None:
    """DataError, naming the file, when `n_bytes` would not fit in the memory left (never a MemoryError later)."""
    budget = memory_budget()
    if n_bytes > budget:
        raise DataError(f"{path}: {what} need {n_bytes / 1e6:,.0f} MB, more than the {budget / 1e6:,.0f} MB of "
                        f"memory available: a corrupt or hostile file (a decompression bomb?)")


def _find_idx_file(directory: Path, stem: str) -> Path | None:
    """The existing file for ``stem`` in ``directory``: raw or .gz, dashed or dotted (``train-images.idx3-ubyte``)."""
    dotted = stem.replace("-idx", ".idx")
    for name in (stem + ".gz", stem, dotted + ".gz", dotted):
        if (directory / name).exists():  # a FIFO or a directory here is reported by read_idx, not as missing
            return directory / name
    return None


def _idx_split(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Read and check an images/labels IDX pair; return flattened x in [0, 1], int64 y and (rows, cols)."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3:
        raise DataError(f"{images_path}: expected 3-D images (count, rows, cols), got shape {images.shape}")
    if labels.ndim != 1:
        raise DataError(f"{labels_path}: expected 1-D labels, got shape {labels.shape}")
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels; "
            f"expected equal counts"
        )
    if not len(images) or not images[0].size:
        raise DataError(f"{images_path}: holds no {'images' if not len(images) else 'pixels'} "
                        f"(shape {images.shape}); expected at least one image of at least one pixel")
    if len(labels) and labels.max() >= _MNIST_CLASSES:
        raise DataError(f"{labels_path}: label {int(labels.max())} out of range; expected 0..9")
    check_memory(images_path, images.size * 8, f"{len(images)} images as float64 pixels")
    x = images.reshape(len(images), -1).astype(np.float64)
    x /= 255.0
    return x, labels.astype(np.int64), images.shape[1:]


def load_idx_dir(directory: PathLike, validation_size: int = 10000, name: str | None = None) -> Splits:
    """Load an MNIST-style directory of the four IDX files (raw or gzipped), pixels scaled to [0, 1].

    As in Nielsen's book, the last ``validation_size`` training images become the validation set.
    """
    directory = Path(directory)
    if not isinstance(validation_size, (int, np.integer)) or isinstance(validation_size, bool):
        raise DataError(f"validation_size must be an int, got {validation_size!r}")
    if not directory.is_dir():
        raise DataError(f"{directory}: directory of IDX files not found")
    found = {key: _find_idx_file(directory, stem) for key, stem in _IDX_FILES.items()}
    missing = [f"{stem}[.gz]" for key, stem in _IDX_FILES.items() if found[key] is None]
    if missing:
        raise DataError(f"{directory}: missing IDX file(s): {', '.join(missing)}")

    x_train, y_train, image_shape = _idx_split(found["train", "images"], found["train", "labels"])
    x_test, y_test, test_shape = _idx_split(found["test", "images"], found["test", "labels"])
    if test_shape != image_shape:
        raise DataError(
            f"{found['test', 'images']}: images are {test_shape[0]}x{test_shape[1]} but training images "
            f"are {image_shape[0]}x{image_shape[1]}; expected the same size"
        )
    n = len(x_train)
    if not 0 <= validation_size < n:
        raise DataError(
            f"{directory}: validation_size {validation_size} must be in 0..{n - 1} "
            f"(there are {n} training images)"
        )
    cut = n - validation_size  # never x[-0:], which would be everything
    return Splits(
        training=Dataset(x_train[:cut], y_train[:cut]),
        validation=Dataset(x_train[cut:], y_train[cut:]),
        test=Dataset(x_test, y_test),
        name=name if name is not None else directory.name,
        n_classes=_MNIST_CLASSES,
        image_shape=image_shape,
    )


def load_fashion_mnist(directory: PathLike = FASHION_MNIST_DIR, validation_size: int = 10000) -> Splits:
    """Load Fashion-MNIST (60000 training and 10000 test 28x28 images) from a directory of IDX files.

    The default directory is where Debian's ``dataset-fashion-mnist`` package installs it.
    """
    if not Path(directory).is_dir():
        raise DataError(
            f"{directory}: Fashion-MNIST is not installed; install it with "
            f"`apt-get install dataset-fashion-mnist` (Debian) or pass a directory of IDX files"
        )
    return load_idx_dir(directory, validation_size=validation_size, name="fashion-mnist")


# ---------------------------------------------------------------------------- Nielsen's pickle


def _pickle_split(path: Path, split_name: str, split: object) -> Dataset:
    """Check one (x, y) pair from Nielsen's pickle and turn it into a Dataset."""
    if not isinstance(split, (tuple, list)) or len(split) != 2:
        raise DataError(f"{path}: {split_name} split must be an (x, y) pair, got {type(split).__name__}")
    x, y = (np.asarray(a) for a in split)
    if x.ndim != 2 or y.ndim != 1 or len(x) != len(y):
        raise DataError(
            f"{path}: {split_name} split needs x of shape (n, n_inputs) and y of shape (n,); "
            f"got x {x.shape} and y {y.shape}"
        )
    if x.dtype.kind not in "fiu" or y.dtype.kind not in "iu":
        raise DataError(f"{path}: {split_name} split has x dtype {x.dtype} and y dtype {y.dtype}; "
                        f"expected float pixels and integer labels")
    if x.size and (x.min() < 0 or x.max() > 1):
        raise DataError(f"{path}: {split_name} pixels span [{x.min()}, {x.max()}]; expected [0, 1]")
    if y.size and (y.min() < 0 or y.max() >= _MNIST_CLASSES):
        raise DataError(f"{path}: {split_name} labels span {y.min()}..{y.max()}; expected 0..9")
    return Dataset(x, y)


class _Bounded:
    """A reader that raises DataError, naming the file, once more than `limit` bytes were read through it."""

    def __init__(self, stream: BinaryIO, path: Path, limit: int) -> None:
        self.stream, self.path, self.limit, self.count = stream, path, limit, 0

    def _counted(self, data: bytes, promised: int = 0) -> bytes:
        self.count += len(data)
        if self.count + promised > self.limit:
            raise DataError(f"{self.path}: inflates to more than the {self.limit / 1e6:,.0f} MB of memory "
                            f"available: a corrupt or hostile file (a decompression bomb?)")
        return data

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.limit - self.count + 1  # one byte more than allowed is enough to know
        if self.count + n > self.limit:  # a length field that promises more than memory holds
            self._counted(bytes(0), promised=n)
        return self._counted(self.stream.read(n))

    def readline(self) -> bytes:
        return self._counted(self.stream.readline(_CHUNK))


def load_mnist_pickle(path: PathLike, allow_pickle: bool = False) -> Splits:
    """Load Nielsen's ``mnist.pkl.gz``: a (gzipped) pickle of (training, validation, test) (x, y) pairs.

    Unpickling can run arbitrary code, so this refuses unless ``allow_pickle=True``.
    """
    path = Path(path)
    if not allow_pickle:
        raise DataError(
            f"{path}: refusing to unpickle; loading a pickle can run arbitrary code. Pass "
            f"allow_pickle=True (CLI: --allow-pickle) only for a file you trust"
        )
    try:
        with open_regular(path, "pickle file") as file:
            stream = gzip.GzipFile(fileobj=file, mode="rb") if path.name.endswith(".gz") else file
            data = pickle.load(_Bounded(stream, path, memory_budget() // 2), encoding="latin1")  # ½: bytes, then arrays
    except DataError:
        raise
    except MemoryError:  # a length field promising more than memory holds; the unpickler allocates first
        raise DataError(f"{path}: the pickle asks for more than the {memory_budget() / 1e6:,.0f} MB of memory "
                        f"available: a corrupt or hostile file (a decompression bomb?)") from None
    except Exception as exc:  # unpickling can fail in many ways; all mean a bad file
        raise DataError(f"{path}: cannot unpickle ({type(exc).__name__}: {exc})") from exc
    if not isinstance(data, (tuple, list)) or len(data) != 3:
        raise DataError(
            f"{path}: expected a (training, validation, test) tuple, got "
            f"{type(data).__name__}" + (f" of length {len(data)}" if isinstance(data, (tuple, list)) else "")
        )
    training, validation, test = (
        _pickle_split(path, split_name, split)
        for split_name, split in zip(("training", "validation", "test"), data)
    )
    n_in = training.n_inputs
    if not len(training) or not len(test) or not n_in:
        raise DataError(f"{path}: {len(training)} training and {len(test)} test images of {n_in} pixels; "
                        f"expected at least one image of at least one pixel in each")
    if validation.n_inputs != n_in or test.n_inputs != n_in:
        raise DataError(
            f"{path}: splits have {n_in}, {validation.n_inputs} and {test.n_inputs} inputs; expected equal"
        )
    side = math.isqrt(n_in)
    name = path.name.removesuffix(".gz").removesuffix(".pkl")
    return Splits(training, validation, test, name=name, n_classes=_MNIST_CLASSES,
                  image_shape=(side, side) if side * side == n_in else (n_in,))


# ---------------------------------------------------------------------------- dispatch


def load(source: str = "digits", *, allow_pickle: bool = False, validation_size: int | None = None) -> Splits:
    """Load a data set by name ("digits", "fashion-mnist"), IDX directory, or ``.pkl``/``.pkl.gz`` path.

    ``validation_size`` overrides the loader's default; Nielsen's pickle has fixed splits and refuses it.
    """
    sizes = {} if validation_size is None else {"validation_size": validation_size}
    if source == "digits":
        return load_digits(**sizes)
    if source == "fashion-mnist":
        return load_fashion_mnist(**sizes)
    path = Path(source)
    if path.name.endswith((".pkl", ".pkl.gz")):
        if validation_size is not None:
            raise DataError(f"{source}: a pickle has fixed splits; validation_size cannot be set")
        return load_mnist_pickle(path, allow_pickle=allow_pickle)
    if path.is_dir():
        return load_idx_dir(path, **sizes)
    choices = ", ".join(SOURCES)
    if not path.exists():
        raise DataError(f"{source!r}: no such data set, file or directory; valid sources: {choices}")
    from .files import file_kind

    if file_kind(path):
        raise DataError(f"{source!r} is {file_kind(path)}, not a data source; valid sources: {choices}")
    raise DataError(f"{source!r}: not a recognised data source; valid sources: {choices}")


# ---------------------------------------------------------------------------- helpers


def one_hot(y: np.ndarray, n_classes: int, dtype: npt.DTypeLike = np.float64) -> np.ndarray:
    """Turn (n,) integer labels into an (n, n_classes) one-hot matrix.

    Raises ValueError naming the first label that is not an integer in 0..n_classes-1.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"one_hot needs 1-D labels, got shape {y.shape}")
    if not isinstance(n_classes, (int, np.integer)) or isinstance(n_classes, bool) or n_classes < 1:
        raise ValueError(f"n_classes must be a positive int, got {n_classes!r}")
    if y.dtype.kind not in "iuf":
        raise ValueError(f"one_hot needs numeric labels, got dtype {y.dtype}")
    bad = (y != np.round(y)) | (y < 0) | (y >= n_classes)  # NaN compares unequal, so it is caught too
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        raise ValueError(f"label {y[index].item()} at index {index} is not an integer in 0..{n_classes - 1}")
    out = np.zeros((len(y), n_classes), dtype=dtype)
    out[np.arange(len(y)), y.astype(np.intp)] = 1
    return out


def mini_batches(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool = True,
    seed: int | np.random.Generator | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (x_batch, y_batch) pairs covering every example exactly once; the last batch may be smaller.

    With ``shuffle`` the order is a random permutation, reproducible for a given int ``seed``.
    Arguments are checked when called, before the first batch.
    """
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 0 or y.ndim == 0 or len(x) != len(y):
        raise ValueError(f"x and y must be arrays with one row per example, of the same length; "
                         f"got x {x.shape} and y {y.shape}")
    if isinstance(seed, (int, np.integer)) and seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed}")
    order = np.random.default_rng(seed).permutation(len(y)) if shuffle else np.arange(len(y))
    return _batches(x, y, order, int(batch_size))


def _batches(
    x: np.ndarray, y: np.ndarray, order: np.ndarray, batch_size: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The generator behind :func:`mini_batches`: fancy-index one slice of ``order`` per batch."""
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        yield x[idx], y[idx]

"""Training: Nielsen's mini-batch SGD loop (`train`), evaluation, and safe model files (`save_model`/`load_model`)."""
from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
import sys
import time
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .data import DataError, Splits, check_memory, mini_batches, open_regular
from .files import atomic_write, check_output_path
from .nn import MLP, cost_function
from .optim import SGD
from .process import check_pending, defers_signals
from .trace import trace as _trace

__all__ = ["DivergenceError", "EpochRecord", "load_model", "model_metadata", "read_history", "save_model", "train",
           "write_history"]

MODEL_FORMAT = "tinygrad_nn.mlp/1"


class DivergenceError(ArithmeticError):
    """The cost became NaN or infinite: the learning rate is too large for this network."""


@dataclass
class EpochRecord:
    """What one epoch did: the mean mini-batch cost, the accuracies after it, and how fast each layer learned.

    `learning_speed[l]` is the mean over the epoch's mini-batches of ‖∂C/∂bˡ‖ for the book's layers
    l = 2 … L (Nielsen ch. 5: the speed at which layer l learns); the CSV history calls it ``speed_layer{l}``.
    """
    epoch: int
    training_cost: float
    validation_accuracy: float | None
    test_accuracy: float | None
    seconds: float
    lr: float  # η during this epoch
    learning_speed: dict[int, float] = field(default_factory=dict)


@defers_signals  # a stop signal is held back until `check_pending()` in the loop
def train(net: MLP, splits: Splits, *, epochs: int = 30, batch_size: int = 10, lr: float = 3.0,
          cost: str = "quadratic", momentum: float = 0.0, weight_decay: float = 0.0, seed: int | None = 0,
          patience: int | None = None, save_path: str | os.PathLike | None = None, progress: bool = False,
          on_epoch: Callable[[EpochRecord], None] | None = None, trace: bool = False) -> list[EpochRecord]:
    """Train `net` by mini-batch SGD on `splits.training` and return the per-epoch history.

    Each step is: cost of the mini-batch (a mean, so SGD does eq. 20–21), backward, update. After each
    epoch the accuracies are measured and, with `save_path`, the model is saved atomically, so the file
    always holds the last good epoch. A NaN/inf cost stops training with DivergenceError.
    With `patience`, η is halved whenever validation accuracy has not improved for that many epochs
    (the learning-rate schedule of Nielsen's chapter 3).
    With `trace`, each step's forward and backward replay a program traced once (`tinygrad_nn.trace`, once
    per mini-batch shape): the same numbers bitwise, faster.
    """
    _check_positive_int("epochs", epochs)
    _check_positive_int("batch_size", batch_size)
    if patience is not None:
        _check_positive_int("patience", patience)
    if seed is not None and (not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ValueError(f"seed must be a non-negative int or None, got {seed!r}")
    cost_fn = cost_function(cost)
    data = splits.training
    if not len(data):
        raise ValueError(f"the training set of {splits.name} is empty")
    if patience is not None and not len(splits.validation):
        raise ValueError(f"patience needs a validation set, and {splits.name} has none (validation size 0)")
    if data.x.shape[1] != net.sizes[0]:
        raise ValueError(f"the network has {net.sizes[0]} inputs but {splits.name} images have {data.x.shape[1]} "
                         f"pixels; use --sizes {data.x.shape[1]},...")
    if net.sizes[-1] != splits.n_classes:
        raise ValueError(f"the network has {net.sizes[-1]} outputs but {splits.name} has {splits.n_classes} "
                         f"classes; use --sizes ...,{splits.n_classes}")
    optimizer = SGD(net.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    if save_path is not None:
        check_output_path(save_path, "the model")  # now, not after the first epoch
    dtype = net.layers[0].weight.dtype
    rng = np.random.default_rng(seed)
    history: list[EpochRecord] = []
    biases = [layer.bias for layer in net.layers]
    program = None
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        total, count = 0.0, 0
        speed = [0.0] * len(biases)  # Σ over mini-batches of ‖∂C/∂bˡ‖, layer by layer (ch. 5)
        batches = mini_batches(data.x.astype(dtype, copy=False), data.y, batch_size, seed=rng)
        for x, y in _progress(batches, math.ceil(len(data) / batch_size), f"epoch {epoch}", progress):
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # divergence is reported below
                if trace:  # zero_grad, then forward and backward replayed (the cost's value is checked below)
                    optimizer.zero_grad()
                    program = program or _trace(lambda x, y: cost_fn(net(x), y), x, y)
                    value = program(x, y)
                else:
                    c = cost_fn(net(x), y)
                    value = c.data
                if not math.isfinite(value):
                    raise DivergenceError(f"the cost became {value} in epoch {epoch}: training diverged; "
                                          f"{_divergence_hint(optimizer, lr)}")
                if not trace:
                    optimizer.zero_grad()
                    c.backward()
                for k, b in enumerate(biases):
                    g = b.grad
                    speed[k] += math.sqrt(g.dot(g))  # ‖∂C/∂bˡ‖ = ‖δˡ‖ of the mini-batch (BP3)
                optimizer.step()
            total += value * len(y)
            count += len(y)
            check_pending()  # SIGINT/SIGTERM/SIGHUP stop here, after a whole mini-batch
        if not all(np.all(np.isfinite(p.data)) for p in optimizer.params):
            raise DivergenceError(f"the weights became infinite or NaN in epoch {epoch}: training diverged; "
                                  f"{_divergence_hint(optimizer, lr)}")
        batches_run = math.ceil(count / batch_size)
        record = EpochRecord(epoch, total / count, _accuracy(net, splits.validation), _accuracy(net, splits.test),
                             time.perf_counter() - start, optimizer.lr,
                             {l: s / batches_run for l, s in enumerate(speed, start=2)})
        history.append(record)
        if patience is not None and record.validation_accuracy is not None:
            best = max(r.validation_accuracy for r in history)
            since_best = epoch - next(r.epoch for r in history if r.validation_accuracy == best)
            if since_best and since_best % patience == 0:
                optimizer.lr /= 2
        if save_path is not None:
            save_model(net, save_path, {"epoch": epoch, "data": splits.name, "cost": cost})
        if on_epoch is not None:
            on_epoch(record)
        check_pending()
    return history


def _divergence_hint(optimizer: SGD, lr: float) -> str:
    """What to change: the weight decay when it alone makes the weights grow, else the learning rate."""
    if decay_diverges(lr, optimizer.weight_decay, optimizer.momentum):
        return decay_hint(lr, optimizer.weight_decay, optimizer.momentum)
    return f"try a smaller learning rate than {lr}"


def decay_diverges(lr: float, weight_decay: float, momentum: float = 0.0) -> bool:
    """Whether the L2 decay alone makes the weights grow without bound.

    With decay λ' (= λ/n) each step multiplies w by (1 − ηλ'); with momentum μ that recursion is stable only
    while ηλ' < 2(1 + μ). Beyond it the decay, not the gradient, drives the weights to infinity.
    """
    return lr * weight_decay >= 2 * (1 + momentum)


def decay_hint(lr: float, weight_decay: float, momentum: float = 0.0) -> str:
    """The message for a diverging decay: its factor (1 − ηλ/n) and the largest stable decay."""
    return (f"the weight decay {weight_decay:g} is too large for η = {lr:g}: each step multiplies the weights by "
            f"1 − ηλ/n = {1 - lr * weight_decay:g}; use a weight decay below {2 * (1 + momentum) / lr:g}")


def _accuracy(net: MLP, dataset: Any) -> float | None:
    if not len(dataset):
        return None
    with np.errstate(over="ignore"):  # huge but finite weights saturate σ: e^(−z) may overflow harmlessly
        return net.accuracy(dataset.x, dataset.y)


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _progress(batches: Any, total: int, desc: str, enabled: bool) -> Any:
    """A tqdm progress bar when asked for, tqdm is installed and stderr is a terminal; else the batches."""
    if not enabled or not sys.stderr.isatty():
        return batches
    try:
        from tqdm import tqdm
    except ImportError:
        return batches
    return tqdm(batches, total=total, desc=desc, leave=False, unit="batch")


# ---- model files: npz arrays (no pickle) + JSON metadata, written atomically --------------------------
def save_model(net: MLP, path: str | os.PathLike, extra: dict[str, Any] | None = None) -> None:
    """Write the weights and the architecture to `path` (.npz); a crash mid-write never harms an old file."""
    meta = {"format": MODEL_FORMAT, **net.config(), **(extra or {})}
    arrays = {name: np.asarray(value) for name, value in net.state_dict().items()}
    arrays["__meta__"] = np.array(json.dumps(meta))
    atomic_write(path, lambda f: np.savez(f, **arrays), "the model")


def load_model(path: str | os.PathLike) -> MLP:
    """Read a model written by `save_model`, checking its metadata, every array's shape and dtype, and that
    every weight is finite. Each array's header is checked before its data is read, so a file that lies
    (a tampered size, a decompression bomb) allocates nothing."""
    path = Path(path)
    arrays, meta = _read_model_file(path, with_arrays=True)
    dtypes = {a.dtype for a in arrays.values()}
    if len(dtypes) > 1:
        raise DataError(f"model file {path}: the arrays mix dtypes {sorted(map(str, dtypes))}; expected one")
    for name, array in arrays.items():
        if not np.all(np.isfinite(array)):
            where = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
            raise DataError(f"model file {path}: {name} holds {array[where]} at {where}: the weights are not finite "
                            f"(a diverged run?); refusing to use it")
    try:
        net = MLP(meta["sizes"], meta.get("activation"), meta.get("output_activation"), meta.get("init"),
                  dtype=dtypes.pop())
        net.load_state_dict(arrays)
    except (ValueError, TypeError) as exc:
        raise DataError(f"model file {path} does not match its metadata: {exc}") from None
    return net


def _expected_shapes(path: Path, meta: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    sizes = meta.get("sizes")
    if not (isinstance(sizes, list) and len(sizes) >= 2 and all(type(n) is int and n > 0 for n in sizes)):
        raise DataError(f"model file {path}: metadata 'sizes' must be a list of positive layer widths, got {sizes!r}")
    expected = {}
    for l, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        expected[f"layers.{l}.weight"], expected[f"layers.{l}.bias"] = (n_out, n_in), (n_out,)
    return expected


def _read_model_file(path: Path, with_arrays: bool) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays (when asked for) and the metadata of a model file, never unpickling anything."""
    try:
        with open_regular(path, "model file") as f:
            if f.read(4) != b"PK\x03\x04":  # every .npz is a zip archive
                raise DataError(f"model file {path} is not a tinygrad_nn model: not a .npz (zip) file")
            f.seek(0)
            with zipfile.ZipFile(f) as archive:
                members = {}
                for info in archive.infolist():
                    if not info.filename.endswith(".npy"):
                        raise DataError(f"model file {path}: member {info.filename!r} is not a .npy array")
                    if info.filename.removesuffix(".npy") in members:
                        raise DataError(f"model file {path}: member {info.filename!r} appears twice")
                    members[info.filename.removesuffix(".npy")] = info
                if "__meta__" not in members:
                    raise DataError(f"model file {path} has no __meta__ entry: it was not written by tinygrad_nn")
                meta = _parse_meta(path, _read_member(path, archive, members.pop("__meta__"), None))
                if not with_arrays:
                    return {}, meta
                expected = _expected_shapes(path, meta)
                if set(members) != set(expected):
                    raise DataError(f"model file {path}: arrays {sorted(members)} do not match the metadata's "
                                    f"sizes {meta['sizes']}")
                check_memory(path, 8 * sum(math.prod(shape) for shape in expected.values()),
                             f"the layers of sizes {meta['sizes']}")
                return {name: _read_member(path, archive, info, expected[name]) for name, info in members.items()}, meta
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError) as exc:
        raise DataError(f"model file {path} is not a valid .npz model file ({exc})") from None


_META_MAX_BYTES = 1 << 20


def _read_member(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo,
                 shape: tuple[int, ...] | None) -> np.ndarray:
    """One .npy member, its header checked first: float weights of `shape`, or (None) the metadata string."""
    name = info.filename.removesuffix(".npy")
    where = f"model file {path}: {name}"
    with archive.open(info) as member:
        try:
            version = np.lib.format.read_magic(member)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read_header is None:
                raise ValueError(f".npy format version {version} is not supported")
            found_shape, fortran, dtype = read_header(member)
        except Exception as exc:  # noqa: BLE001  (numpy's header parser: ValueError, TokenError …)
            raise DataError(f"{where} has a bad .npy header ({exc})") from None
        if dtype.hasobject:
            raise DataError(f"{where} holds Python objects, which only unpickling could read; refusing")
        if shape is None:
            if found_shape != () or dtype.kind != "U" or dtype.itemsize > _META_MAX_BYTES:
                raise DataError(f"{where} must be one string, got shape {found_shape} and dtype {dtype}")
        elif found_shape != shape or dtype.kind != "f":
            raise DataError(f"{where} has shape {found_shape} and dtype {dtype}, the metadata's sizes need {shape} "
                            f"floats")
        n_bytes = math.prod(found_shape) * dtype.itemsize
        if info.file_size != member.tell() + n_bytes:  # the zip directory and the .npy header must agree
            raise DataError(f"{where} is {info.file_size} bytes long, but its header promises "
                            f"{member.tell() + n_bytes}: corrupt file")
        data = member.read(n_bytes)
    array = np.frombuffer(data, dtype=dtype).reshape(found_shape, order="F" if fortran else "C")
    return array.copy()


def _parse_meta(path: Path, meta_array: np.ndarray) -> dict[str, Any]:
    try:
        meta = json.loads(str(meta_array))
    except json.JSONDecodeError as exc:
        raise DataError(f"model file {path}: metadata is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else meta
        raise DataError(f"model file {path}: unknown format {found!r}, expected {MODEL_FORMAT!r}")
    return meta


def model_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON metadata saved with a model (data set, cost, epoch, architecture)."""
    return _read_model_file(Path(path), with_arrays=False)[1]


def write_history(history: Sequence[EpochRecord], path: str | os.PathLike) -> None:
    """Write the per-epoch history as JSON (a list of records) or CSV, by the file's extension.

    In CSV the learning speeds become the columns ``speed_layer2`` … ``speed_layerL``.
    """
    suffix = Path(path).suffix  # `path` itself goes on to atomic_write, which refuses "h.csv/"
    rows = [asdict(r) for r in history]
    if suffix.lower() == ".csv":
        for row in rows:
            row.update({f"speed_layer{l}": s for l, s in row.pop("learning_speed").items()})
        fields = [f for f in EpochRecord.__dataclass_fields__ if f != "learning_speed"]
        fields += [f"speed_layer{l}" for l in (history[0].learning_speed if history else ())]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
        text = buffer.getvalue()
    elif suffix.lower() == ".json":
        text = json.dumps(rows, indent=2) + "\n"
    else:
        raise ValueError(f"--history {path}: unknown extension {suffix!r}; use .json or .csv")
    atomic_write(path, lambda f: f.write(text.encode()), "the history")


def read_history(path: str | os.PathLike) -> list[EpochRecord]:
    """Read a history written by `write_history` (.csv or .json) back into epoch records."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"history file {path} does not exist" if not path.exists() else f"history file {path} "
                        f"is not a file")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise DataError(f"history file {path}: unknown extension {path.suffix!r}; expected .csv or .json")
    try:
        text = path.read_text(encoding="utf-8")
        rows = json.loads(text) if suffix == ".json" else list(csv.DictReader(io.StringIO(text)))
    except (UnicodeDecodeError, json.JSONDecodeError, csv.Error) as exc:
        raise DataError(f"history file {path} is not a valid {suffix[1:]} history: {exc}") from None
    if not isinstance(rows, list) or not rows:
        raise DataError(f"history file {path} holds no epochs")
    return [_record(row, path, i) for i, row in enumerate(rows, start=1)]


def _record(row: Any, path: Path, line: int) -> EpochRecord:
    """One epoch record from a CSV row or a JSON object, every number checked."""
    if not isinstance(row, dict):
        raise DataError(f"history file {path}, record {line}: expected an object, got {type(row).__name__}")

    def number(key: str, value: Any, optional: bool = False) -> float | None:
        if optional and value in (None, ""):
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            raise DataError(f"history file {path}, record {line}: {key} must be a number, got {value!r}") from None

    speeds = row.get("learning_speed") or {k[len("speed_layer"):]: v for k, v in row.items()
                                             if k and k.startswith("speed_layer") and v not in (None, "")}
    if not isinstance(speeds, dict) or not all(str(l).isdigit() for l in speeds):
        raise DataError(f"history file {path}, record {line}: learning speeds must be keyed by layer number")
    speed = {int(l): number(f"speed_layer{l}", v) for l, v in sorted(speeds.items(), key=lambda kv: int(kv[0]))}
    get = row.get
    return EpochRecord(int(number("epoch", get("epoch"))), number("training_cost", get("training_cost")),
                       number("validation_accuracy", get("validation_accuracy"), True),
                       number("test_accuracy", get("test_accuracy"), True), number("seconds", get("seconds")),
                       number("lr", get("lr")), speed)

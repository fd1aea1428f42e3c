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
from .engine import no_grad
from .nn import MLP, cost_function
from .optim import SGD
from .process import check_pending, defers_signals
from .trace import trace as _trace
from .vanishing import learning_speeds

__all__ = ["DivergenceError", "EpochRecord", "chance_advice", "load_model", "model_metadata", "read_history", "save_model", "train",
           "write_history"]

MODEL_FORMAT = "tinygrad_nn.mlp/1"


class DivergenceError(ArithmeticError):
    """The cost became NaN or infinite: the learning rate is too large for this network."""


@dataclass
class EpochRecord:
    """What one epoch did: the mean mini-batch cost, the accuracies after it, and how fast each layer learns.

    `learning_speed[l]` is ‖∂C/∂bˡ‖ for the book's layers l = 2 … L, the gradient of the mean cost over the
    first 1,000 training examples taken after the epoch, i.e. before the next one (Nielsen ch. 5, its
    generate_gradient.py); the CSV history calls it ``speed_layer{l}``. Epoch 0 (``train(record_initial=True)``)
    is the network before any step: its cost is over the training set, the rest as above.
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
          on_epoch: Callable[[EpochRecord], None] | None = None, record_initial: bool = False,
          speed_examples: int | None = 1000, trace: bool = False) -> list[EpochRecord]:
    """Train `net` by mini-batch SGD on `splits.training` and return the per-epoch history.

    Each step is: cost of the mini-batch (a mean, so SGD does eq. 20–21), backward, update. After each
    epoch the accuracies are measured and, with `save_path`, the model is saved atomically, so the file
    always holds the last good epoch. A NaN/inf cost stops training with DivergenceError.
    With `patience`, η is halved whenever validation accuracy has not improved for that many epochs
    (the learning-rate schedule of Nielsen's chapter 3). With `record_initial` the history starts with
    epoch 0, the untrained network. Each layer's learning speed is measured on the first `speed_examples`
    training examples (None: all of them; 0: not measured), as the book's chapter 5 measures it.
    With `trace`, each step's forward and backward replay a program traced once (`tinygrad_nn.trace`, once
    per mini-batch shape): the same numbers bitwise, faster.
    """
    _check_positive_int("epochs", epochs)
    _check_positive_int("batch_size", batch_size)
    if speed_examples is not None and speed_examples != 0:
        _check_positive_int("speed_examples", speed_examples)
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
    program = None
    n_speed = len(data) if speed_examples is None else speed_examples  # the book's training_data[:1000]
    sample_x, sample_y = data.x[:n_speed].astype(dtype, copy=False), data.y[:n_speed]

    def speeds() -> dict[int, float]:
        if not n_speed:
            return {}
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return learning_speeds(net, sample_x, sample_y, cost)

    if record_initial:
        start = time.perf_counter()
        initial = EpochRecord(0, _cost_of(net, cost_fn, data, dtype), _accuracy(net, splits.validation),
                              _accuracy(net, splits.test), 0.0, lr, speeds())
        initial.seconds = time.perf_counter() - start
        history.append(initial)
        if on_epoch is not None:
            on_epoch(initial)
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        total, count = 0.0, 0
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
                optimizer.step()
            total += value * len(y)
            count += len(y)
            check_pending()  # SIGINT/SIGTERM/SIGHUP stop here, after a whole mini-batch
        if not all(np.all(np.isfinite(p.data)) for p in optimizer.params):
            raise DivergenceError(f"the weights became infinite or NaN in epoch {epoch}: training diverged; "
                                  f"{_divergence_hint(optimizer, lr)}")
        record = EpochRecord(epoch, total / count, _accuracy(net, splits.validation), _accuracy(net, splits.test),
                             0.0, optimizer.lr, speeds())
        record.seconds = time.perf_counter() - start
        history.append(record)
        if patience is not None and record.validation_accuracy is not None:
            trained = [r for r in history if r.epoch >= 1]
            best = max(r.validation_accuracy for r in trained)
            since_best = epoch - next(r.epoch for r in trained if r.validation_accuracy == best)
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


def chance_advice(history: Sequence[EpochRecord], weight_decay: float = 0.0, momentum: float = 0.0) -> str:
    """Why a run ended at chance accuracy, and what to change, read from its history (best with epoch 0).

    The first step's size η‖∂C/∂bˡ‖ (largest over the layers) and the learning speeds tell the cases apart:
    a diverging weight decay; steps so large that the neurons saturated (a smaller η); a cost that η
    barely moved (a larger η); gradients that vanish from the start (scaled weights, cross-entropy); and a
    plateau, where a smaller η only makes it slower (a larger η, more epochs, the chapter-3 remedies).
    """
    first, last = history[0], history[-1]
    lr = first.lr
    if decay_diverges(lr, weight_decay, momentum):
        return decay_hint(lr, weight_decay, momentum)
    start = max(first.learning_speed.values(), default=0.0)
    end = max(last.learning_speed.values(), default=0.0)
    speeds = ", ".join(f"{s:.2g}" for s in last.learning_speed.values())
    if lr * start >= 1:
        return (f"the neurons have saturated: the first steps were large (η‖∂C/∂b‖ = {lr * start:.3g}) and the "
                f"largest learning speed fell from {start:.2g} to {end:.2g}; try a smaller --lr than {lr:g} "
                f"(Nielsen ch. 1: η = 100 gives 9.8%)")
    if abs(last.training_cost - first.training_cost) <= 1e-3 * abs(first.training_cost):
        if start < 1e-3:
            return (f"the gradients vanish from the start (learning speeds {speeds}): the neurons are saturated "
                    f"before any step; try --init scaled and --cost cross-entropy (Nielsen ch. 3)")
        return (f"η = {lr:g} is too small to move the weights: the cost went from {first.training_cost:.6g} to "
                f"{last.training_cost:.6g} in {last.epoch - first.epoch} epochs; try a larger --lr (the book "
                f"uses 3.0)")
    if min(last.learning_speed.values(), default=0.0) >= 1e-2:
        return (f"η = {lr:g} is too small to learn in {last.epoch - first.epoch} epochs: the cost fell only from "
                f"{first.training_cost:.4g} to {last.training_cost:.4g} although the gradients are not small "
                f"(learning speeds {speeds}); try a larger --lr than {lr:g} (Nielsen ch. 1: η = 0.001 gives 21.4%)")
    layers = sorted(last.learning_speed)
    vanishing = ""
    if len(layers) > 2 and last.learning_speed[layers[0]] * 3 < last.learning_speed[layers[-1]]:
        vanishing = (f"; the first hidden layer learns {last.learning_speed[layers[-1]] / last.learning_speed[layers[0]]:.2g}× "
                     f"slower than the output layer (ch. 5's vanishing gradient)")
    return (f"the run is on a plateau: the cost falls slowly and the learning speeds are small ({speeds}){vanishing}; "
            f"a smaller η would be slower still: try a larger --lr than {lr:g}, more --epochs, or --init scaled "
            f"--cost cross-entropy (Nielsen ch. 3)")


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


def _cost_of(net: MLP, cost_fn: Callable[..., Any], dataset: Any, dtype: Any) -> float:
    """The mean cost over a whole data set, a few thousand examples at a time, without building a graph."""
    total = 0.0
    with no_grad(), np.errstate(over="ignore"):
        for start in range(0, len(dataset), 4096):
            x, y = dataset.x[start:start + 4096], dataset.y[start:start + 4096]
            total += cost_fn(net(x.astype(dtype, copy=False)), y).data * len(y)
    return total / len(dataset)


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
    except (UnicodeDecodeError, ValueError, csv.Error) as exc:  # ValueError: bad JSON, a 5,000-digit number
        raise DataError(f"history file {path} is not a valid {suffix[1:]} history: {exc}") from None
    except RecursionError:  # [[[[…]]]] 100,000 deep: no history is nested at all
        raise DataError(f"history file {path} is not a valid json history: nested too deeply") from None
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
            number = None if isinstance(value, bool) else float(value)
        except (TypeError, ValueError, OverflowError):  # OverflowError: a JSON integer of 400 digits
            number = None
        if number is None or not math.isfinite(number):
            raise DataError(f"history file {path}, record {line}: {key} must be a "
                            f"{'finite ' if number is not None else ''}number, got {_shown(value)}")
        return number

    epoch = number("epoch", row.get("epoch"))
    if epoch < 0 or epoch != int(epoch):
        raise DataError(f"history file {path}, record {line}: epoch must be a whole number ≥ 0, got {_shown(epoch)}")
    speeds = row.get("learning_speed") or {k[len("speed_layer"):]: v for k, v in row.items()
                                             if k and k.startswith("speed_layer") and v not in (None, "")}
    if not isinstance(speeds, dict) or not all(str(l).isdecimal() for l in speeds):
        raise DataError(f"history file {path}, record {line}: learning speeds must be keyed by layer number")
    speed = {int(l): number(f"speed_layer{l}", v) for l, v in sorted(speeds.items(), key=lambda kv: int(kv[0]))}
    get = row.get
    return EpochRecord(int(epoch), number("training_cost", get("training_cost")),
                       number("validation_accuracy", get("validation_accuracy"), True),
                       number("test_accuracy", get("test_accuracy"), True), number("seconds", get("seconds")),
                       number("lr", get("lr")), speed)


def _shown(value: Any) -> str:
    """A value from a history file as a message shows it: its repr, cut short (a JSON number may be huge)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."

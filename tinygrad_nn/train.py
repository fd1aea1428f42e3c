"""Training: Nielsen's mini-batch SGD loop (`train`), evaluation, and safe model files (`save_model`/`load_model`)."""
from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .data import DataError, Splits, mini_batches
from .nn import MLP, cost_function
from .optim import SGD

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


def train(net: MLP, splits: Splits, *, epochs: int = 30, batch_size: int = 10, lr: float = 3.0,
          cost: str = "quadratic", momentum: float = 0.0, weight_decay: float = 0.0, seed: int | None = 0,
          patience: int | None = None, save_path: str | os.PathLike | None = None, progress: bool = False,
          on_epoch: Callable[[EpochRecord], None] | None = None) -> list[EpochRecord]:
    """Train `net` by mini-batch SGD on `splits.training` and return the per-epoch history.

    Each step is: cost of the mini-batch (a mean, so SGD does eq. 20–21), backward, update. After each
    epoch the accuracies are measured and, with `save_path`, the model is saved atomically, so the file
    always holds the last good epoch. A NaN/inf cost stops training with DivergenceError.
    With `patience`, η is halved whenever validation accuracy has not improved for that many epochs
    (the learning-rate schedule of Nielsen's chapter 3).
    """
    _check_positive_int("epochs", epochs)
    _check_positive_int("batch_size", batch_size)
    if patience is not None:
        _check_positive_int("patience", patience)
    if seed is not None and (not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ValueError(f"seed must be a non-negative int or None, got {seed!r}")
    cost_fn = cost_function(cost)
    data = splits.training
    if data.x.shape[1] != net.sizes[0]:
        raise ValueError(f"the network has {net.sizes[0]} inputs but {splits.name} images have {data.x.shape[1]} "
                         f"pixels; use --sizes {data.x.shape[1]},...")
    if net.sizes[-1] != splits.n_classes:
        raise ValueError(f"the network has {net.sizes[-1]} outputs but {splits.name} has {splits.n_classes} "
                         f"classes; use --sizes ...,{splits.n_classes}")
    optimizer = SGD(net.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    dtype = net.layers[0].weight.dtype
    rng = np.random.default_rng(seed)
    history: list[EpochRecord] = []
    biases = [layer.bias for layer in net.layers]
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        total, count = 0.0, 0
        speed = [0.0] * len(biases)  # Σ over mini-batches of ‖∂C/∂bˡ‖, layer by layer (ch. 5)
        batches = mini_batches(data.x.astype(dtype, copy=False), data.y, batch_size, seed=rng)
        for x, y in _progress(batches, math.ceil(len(data) / batch_size), f"epoch {epoch}", progress):
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # divergence is reported below
                c = cost_fn(net(x), y)
                if not math.isfinite(c.data):
                    raise DivergenceError(f"the cost became {c.data} in epoch {epoch}: training diverged; "
                                          f"try a smaller learning rate than {lr}")
                optimizer.zero_grad()
                c.backward()
                for k, b in enumerate(biases):
                    g = b.grad
                    speed[k] += math.sqrt(g.dot(g))  # ‖∂C/∂bˡ‖ = ‖δˡ‖ of the mini-batch (BP3)
                optimizer.step()
            total += c.data * len(y)
            count += len(y)
        if not all(np.all(np.isfinite(p.data)) for p in optimizer.params):
            raise DivergenceError(f"the weights became infinite or NaN in epoch {epoch}: training diverged; "
                                  f"try a smaller learning rate than {lr}")
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
    return history


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
    path = Path(path)
    meta = {"format": MODEL_FORMAT, **net.config(), **(extra or {})}
    arrays = {name: np.asarray(value) for name, value in net.state_dict().items()}
    arrays["__meta__"] = np.array(json.dumps(meta))
    directory = path.parent
    if not directory.is_dir():
        raise DataError(f"cannot save the model to {path}: directory {directory} does not exist")
    if path.is_dir():
        raise DataError(f"cannot save the model to {path}: it is a directory")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private; a model is an ordinary file
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def load_model(path: str | os.PathLike) -> MLP:
    """Read a model written by `save_model`, checking its metadata and every array's shape."""
    path = Path(path)
    arrays, meta = _read_model_file(path)
    sizes = meta.get("sizes")
    if not (isinstance(sizes, list) and len(sizes) >= 2 and all(type(n) is int and n > 0 for n in sizes)):
        raise DataError(f"model file {path}: metadata 'sizes' must be a list of positive layer widths, got {sizes!r}")
    expected = {}
    for l, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        expected[f"layers.{l}.weight"], expected[f"layers.{l}.bias"] = (n_out, n_in), (n_out,)
    if set(arrays) != set(expected):
        raise DataError(f"model file {path}: arrays {sorted(arrays)} do not match the metadata's sizes {sizes}")
    for name, shape in expected.items():  # before building anything, so a tampered size allocates nothing
        if arrays[name].shape != shape or arrays[name].dtype.kind != "f":
            raise DataError(f"model file {path}: {name} has shape {arrays[name].shape} and dtype "
                            f"{arrays[name].dtype}, the metadata's sizes {sizes} need {shape} floats")
    try:
        net = MLP(sizes, meta.get("activation"), meta.get("output_activation"), meta.get("init"),
                  dtype=arrays["layers.0.weight"].dtype)
        net.load_state_dict(arrays)
    except (ValueError, TypeError) as exc:
        raise DataError(f"model file {path} does not match its metadata: {exc}") from None
    return net


def _read_model_file(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and the metadata of a model file, never unpickling anything."""
    if path.is_dir():
        raise DataError(f"model file {path} is a directory")
    if not path.is_file():
        raise DataError(f"model file {path} does not exist")
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":  # every .npz is a zip archive
            raise DataError(f"model file {path} is not a tinygrad_nn model: not a .npz (zip) file")
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise DataError(f"model file {path} holds a single array (.npy), not a tinygrad_nn model (.npz)")
        with npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"model file {path} is not a valid .npz model file ({exc})") from None
    meta_array = arrays.pop("__meta__", None)
    if meta_array is None:
        raise DataError(f"model file {path} has no __meta__ entry: it was not written by tinygrad_nn")
    try:
        meta = json.loads(str(meta_array))
    except json.JSONDecodeError as exc:
        raise DataError(f"model file {path}: metadata is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else meta
        raise DataError(f"model file {path}: unknown format {found!r}, expected {MODEL_FORMAT!r}")
    return arrays, meta


def model_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON metadata saved with a model (data set, cost, epoch, architecture)."""
    return _read_model_file(Path(path))[1]


def write_history(history: Sequence[EpochRecord], path: str | os.PathLike) -> None:
    """Write the per-epoch history as JSON (a list of records) or CSV, by the file's extension.

    In CSV the learning speeds become the columns ``speed_layer2`` … ``speed_layerL``.
    """
    path = Path(path)
    rows = [asdict(r) for r in history]
    if path.suffix.lower() == ".csv":
        for row in rows:
            row.update({f"speed_layer{l}": s for l, s in row.pop("learning_speed").items()})
        fields = [f for f in EpochRecord.__dataclass_fields__ if f != "learning_speed"]
        fields += [f"speed_layer{l}" for l in (history[0].learning_speed if history else ())]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
        text = buffer.getvalue()
    elif path.suffix.lower() == ".json":
        text = json.dumps(rows, indent=2) + "\n"
    else:
        raise ValueError(f"--history {path}: unknown extension {path.suffix!r}; use .json or .csv")
    path.write_text(text)


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

"""Training: Nielsen's mini-batch SGD loop (`train`), evaluation, and safe model files (`save_model`/`load_model`)."""
from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .data import DataError, Splits, mini_batches
from .nn import MLP, cost_function
from .optim import SGD

__all__ = ["EpochRecord", "DivergenceError", "train", "save_model", "load_model", "model_metadata", "write_history"]

MODEL_FORMAT = "tinygrad_nn.mlp/1"


class DivergenceError(ArithmeticError):
    """The cost became NaN or infinite: the learning rate is too large for this network."""


@dataclass
class EpochRecord:
    """What one epoch did: the mean mini-batch cost and the accuracies after it."""
    epoch: int
    training_cost: float
    validation_accuracy: float | None
    test_accuracy: float | None
    seconds: float


def train(net: MLP, splits: Splits, *, epochs: int = 30, batch_size: int = 10, lr: float = 3.0,
          cost: str = "quadratic", momentum: float = 0.0, weight_decay: float = 0.0, seed: int | None = 0,
          save_path: str | os.PathLike | None = None, progress: bool = False,
          on_epoch: Callable[[EpochRecord], None] | None = None) -> list[EpochRecord]:
    """Train `net` by mini-batch SGD on `splits.training` and return the per-epoch history.

    Each step is: cost of the mini-batch (a mean, so SGD does eq. 20–21), backward, update. After each
    epoch the accuracies are measured and, with `save_path`, the model is saved atomically, so the file
    always holds the last good epoch. A NaN/inf cost stops training with DivergenceError.
    """
    _check_positive_int("epochs", epochs)
    _check_positive_int("batch_size", batch_size)
    cost_fn = cost_function(cost)
    data = splits.training
    if data.x.shape[1] != net.sizes[0]:
        raise ValueError(f"the network has {net.sizes[0]} inputs but {splits.name} images have {data.x.shape[1]} "
                         f"pixels; use --sizes {data.x.shape[1]},...")
    if net.sizes[-1] < splits.n_classes:
        raise ValueError(f"the network has {net.sizes[-1]} outputs but {splits.name} has {splits.n_classes} "
                         f"classes; use --sizes ...,{splits.n_classes}")
    optimizer = SGD(net.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    dtype = net.layers[0].weight.dtype
    rng = np.random.default_rng(seed)
    history: list[EpochRecord] = []
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        total, count = 0.0, 0
        batches = mini_batches(data.x.astype(dtype, copy=False), data.y, batch_size, seed=rng)
        for x, y in _progress(batches, math.ceil(len(data) / batch_size), f"epoch {epoch}", progress):
            with np.errstate(over="ignore", invalid="ignore"):  # a diverging run is reported below, once
                c = cost_fn(net(x), y)
                if not math.isfinite(c.data):
                    raise DivergenceError(f"the cost became {c.data} in epoch {epoch}: training diverged; "
                                          f"try a smaller learning rate than {lr}")
                optimizer.zero_grad()
                c.backward()
                optimizer.step()
            total += c.data * len(y)
            count += len(y)
        record = EpochRecord(epoch, total / count, _accuracy(net, splits.validation), _accuracy(net, splits.test),
                             time.perf_counter() - start)
        history.append(record)
        if save_path is not None:
            save_model(net, save_path, {"epoch": epoch, "data": splits.name, "cost": cost})
        if on_epoch is not None:
            on_epoch(record)
    return history


def _accuracy(net: MLP, dataset: Any) -> float | None:
    return net.accuracy(dataset.x, dataset.y) if len(dataset) else None


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
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise DataError(f"cannot save the model to {path}: directory {directory} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_model(path: str | os.PathLike) -> MLP:
    """Read a model written by `save_model`, checking its metadata and every array's shape."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"model file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"model file {path} is not a readable .npz file: {exc}") from None
    if "__meta__" not in arrays:
        raise DataError(f"model file {path} has no __meta__ entry: it was not written by tinygrad_nn")
    try:
        meta = json.loads(str(arrays.pop("__meta__")))
    except json.JSONDecodeError as exc:
        raise DataError(f"model file {path}: metadata is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT:
        raise DataError(f"model file {path}: unknown format {meta.get('format') if isinstance(meta, dict) else meta!r}"
                        f", expected {MODEL_FORMAT!r}")
    try:
        net = MLP(meta["sizes"], meta["activation"], meta["output_activation"], meta["init"],
                  dtype=arrays["layers.0.weight"].dtype if "layers.0.weight" in arrays else np.float64)
        net.load_state_dict(arrays)
    except (KeyError, ValueError, TypeError) as exc:
        raise DataError(f"model file {path} does not match its metadata: {exc}") from None
    return net


def model_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON metadata saved with a model (data set, cost, epoch, architecture)."""
    with np.load(path, allow_pickle=False) as npz:
        return json.loads(str(npz["__meta__"]))


def write_history(history: Sequence[EpochRecord], path: str | os.PathLike) -> None:
    """Write the per-epoch history as JSON (a list of records) or CSV, by the file's extension."""
    path = Path(path)
    rows = [asdict(r) for r in history]
    if path.suffix.lower() == ".csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(EpochRecord.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(rows)
        text = buffer.getvalue()
    elif path.suffix.lower() == ".json":
        text = json.dumps(rows, indent=2) + "\n"
    else:
        raise ValueError(f"--history {path}: unknown extension {path.suffix!r}; use .json or .csv")
    path.write_text(text)


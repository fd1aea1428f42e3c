"""The explorer's data: Playground's four 2-D sets (circle, xor, gauss, spiral), a CSV of ``x1,x2,label`` rows,
or the project's 8×8 digits. Points lie in [−1, 1]², labels are integers from 0.

Every generator is a function of (n, noise, rng), so a seed reproduces a lesson.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from tinygrad_nn.data import DataError, load_digits

__all__ = ["GENERATORS", "MAX_POINTS", "load_csv", "make_2d"]

MAX_POINTS = 10_000


def _circle(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Class 1 inside a disc of radius 0.5, class 0 in a ring from 0.7 to 1."""
    y = rng.integers(0, 2, n)
    radius = np.where(y == 1, rng.uniform(0, 0.5, n), rng.uniform(0.7, 1.0, n))
    angle = rng.uniform(0, 2 * math.pi, n)
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    return x + rng.normal(0, noise * 0.5, x.shape), y


def _xor(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Class 1 where x1·x2 > 0 (two opposite quadrants), kept a little away from the axes."""
    x = rng.uniform(-1, 1, (n, 2))
    x += np.sign(x) * 0.05
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
    return x + rng.normal(0, noise * 0.5, x.shape), y


def _gauss(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian blobs around (0.5, 0.5) and (−0.5, −0.5); the noise widens them."""
    y = rng.integers(0, 2, n)
    centres = np.where(y[:, None] == 1, 0.5, -0.5)
    return centres + rng.normal(0, 0.15 + noise * 0.6, (n, 2)), y


def _spiral(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spirals, one per class."""
    y = rng.integers(0, 2, n)
    t = rng.uniform(0, 1, n)
    radius, angle = 0.95 * t, 1.75 * 2 * math.pi * t + math.pi * y
    x = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)
    return x + rng.normal(0, noise * 0.3, x.shape), y


GENERATORS = {"circle": _circle, "xor": _xor, "gauss": _gauss, "spiral": _spiral}


def make_2d(name: str, n: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` points of the 2-D set `name` with `noise` in [0, 1], clipped to [−1, 1]²."""
    if name not in GENERATORS:
        raise ValueError(f"unknown data set {name!r}; valid: {', '.join(GENERATORS)}, digits or a .csv file")
    if not 2 <= n <= MAX_POINTS:
        raise ValueError(f"points must be between 2 and {MAX_POINTS:,}, got {n}")
    if not (math.isfinite(noise) and 0 <= noise <= 1):
        raise ValueError(f"noise must be between 0 and 1, got {noise}")
    x, y = GENERATORS[name](n, noise, np.random.default_rng(seed))
    return np.clip(x, -1, 1), y.astype(np.int64)


def load_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``x1,x2,label`` (an optional header line first); a bad row is a DataError naming file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the CSV file ({exc})") from None
    xs, ys = [], []
    for line_no, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or not "".join(row).strip():
            continue
        if len(row) != 3:
            raise DataError(f"{path}, line {line_no}: expected 3 fields x1,x2,label, got {len(row)}")
        try:
            x1, x2, label = float(row[0]), float(row[1]), float(row[2])
        except ValueError:
            if line_no == 1 and not xs:  # a header
                continue
            raise DataError(f"{path}, line {line_no}: not numbers: {','.join(row)[:80]!r}") from None
        if not (math.isfinite(x1) and math.isfinite(x2)):
            raise DataError(f"{path}, line {line_no}: x1 and x2 must be finite numbers")
        if not (label.is_integer() and 0 <= label < 10):
            raise DataError(f"{path}, line {line_no}: the label must be an integer from 0 to 9, got {row[2]!r}")
        xs.append((x1, x2))
        ys.append(int(label))
        if len(xs) > MAX_POINTS:
            raise DataError(f"{path}: more than {MAX_POINTS:,} points")
    if len(xs) < 2:
        raise DataError(f"{path}: needs at least 2 rows of x1,x2,label")
    x, y = np.array(xs, dtype=np.float64), np.array(ys, dtype=np.int64)
    scale = np.abs(x).max()  # into [−1, 1]² like the generated sets, keeping the aspect ratio
    return (x / scale if scale > 1 else x), y


def digits(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The 8×8 digits: training and test inputs (64 pixels in [0, 1]) and labels."""
    splits = load_digits(seed=seed)
    return splits.training.x, splits.training.y, splits.test.x, splits.test.y

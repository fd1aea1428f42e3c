"""One explorer session: a network, its data and its optimizer, trained by the project's own `Value` engine.

Training is `tinygrad_nn.nn.MLP` + `tinygrad_nn.optim.SGD` on the cost of `tinygrad_nn.nn.cost_function`
(eq. 20–21); the inspector's numbers are the engine's autodiff gradients of the SELECTED example's cost
(one example: δ is not divided by m), checked against the closed form `tinygrad_nn.backprop.backprop`.
Every change arrives as a plain dict (from JSON) and is checked here, so a bad request is a ValueError
with a message for the page, never a broken session.
"""
from __future__ import annotations

import base64
import collections
import math
import numbers
from pathlib import Path
from typing import Any

import numpy as np

from tinygrad_nn import backprop, nn, optim
from tinygrad_nn.engine import no_grad

from . import datasets

__all__ = ["COSTS", "LIMITS", "Session"]

COSTS = ("quadratic", "cross-entropy")  # σ output neurons: the BP1 of chapter 2 and of chapter 3
LIMITS = {"layers": 8, "neurons": 32, "points": datasets.MAX_POINTS, "steps": 500, "batch_size": 10_000}
GRID = 32          # each heatmap: the input plane [−1, 1]² sampled GRID × GRID
HISTORY = 200      # chart points kept (halved, every other one, when full): a frame stays small


def _number(params: dict, key: str, default: Any, kind: type, lo: float, hi: float) -> Any:
    """params[key] as a finite `kind` in [lo, hi], or `default` when absent; a ValueError names the key."""
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or (kind is int and not float(value).is_integer()):
        raise ValueError(f"{key} must be a{'n integer' if kind is int else ' number'}, got {value!r}")
    value = kind(value)
    if not (math.isfinite(value) and lo <= value <= hi):
        raise ValueError(f"{key} must be between {lo:g} and {hi:g}, got {value!r}")
    return value


def _finite(value: float) -> float | None:
    """JSON has no NaN or inf: a cost that is not a number (no test points, a diverged network) is null."""
    return value if math.isfinite(value) else None


def _b64(values: np.ndarray) -> str:
    """Numbers in [0, 1] as base64 bytes 0…255: a heatmap costs one byte a cell on the wire."""
    return base64.b64encode(np.clip(values * 255 + 0.5, 0, 255).astype(np.uint8).tobytes()).decode()


class Session:
    """The state behind the page; `frame()` is everything the page draws, `state()` the API's summary."""

    def __init__(self, data: str = "circle", sizes: list[int] | None = None, cost: str = "quadratic",
                 eta: float = 3.0, batch_size: int = 10, noise: float = 0.1, seed: int = 0, points: int = 500) -> None:
        self.csv: tuple[str, np.ndarray, np.ndarray] | None = None
        self.timings: collections.deque[float] = collections.deque(maxlen=10_000)  # server CPU ms per request
        if data.lower().endswith(".csv"):
            x, y = datasets.load_csv(data)
            self.csv = (Path(data).name, x, y)
            data = "csv"
        self.config: dict[str, Any] = {"data": data, "sizes": sizes, "cost": cost, "eta": eta,
                                       "batch_size": batch_size, "noise": noise, "seed": seed, "points": points}
        self.update(self.config)

    # ------------------------------------------------------------------ changes from the page
    def update(self, params: dict[str, Any]) -> None:
        """Apply a configuration change. η, batch size and cost keep the network; the rest rebuild it."""
        if not isinstance(params, dict):
            raise ValueError("expected a JSON object of settings")
        known = {"data", "sizes", "cost", "eta", "batch_size", "noise", "seed", "points"}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"unknown setting {unknown[0]!r}; valid: {', '.join(sorted(known))}")
        new = dict(self.config)
        new["eta"] = _number(params, "eta", new["eta"], float, 1e-6, 100)
        new["batch_size"] = _number(params, "batch_size", new["batch_size"], int, 1, LIMITS["batch_size"])
        new["noise"] = _number(params, "noise", new["noise"], float, 0, 1)
        new["seed"] = _number(params, "seed", new["seed"], int, 0, 2**32 - 1)
        new["points"] = _number(params, "points", new["points"], int, 2, LIMITS["points"])
        new["cost"] = params.get("cost", new["cost"])
        if new["cost"] not in COSTS:
            raise ValueError(f"unknown cost {new['cost']!r}; valid: {', '.join(COSTS)}")
        new["data"] = params.get("data", new["data"])
        if new["data"] == "csv" and self.csv is None:
            raise ValueError("no CSV file was given on the command line (--data FILE.csv)")
        if new["data"] not in (*datasets.GENERATORS, "digits", "csv"):
            raise ValueError(f"unknown data set {new['data']!r}; valid: {', '.join(datasets.GENERATORS)}, digits"
                             + (", csv" if self.csv else ""))
        first = not hasattr(self, "net")
        rebuild = first or any(new[k] != self.config[k] for k in ("data", "noise", "seed", "points"))
        if "sizes" in params:
            sizes = params["sizes"]
        elif first:
            sizes = new["sizes"]
        else:   # another data set may need other input and output layers: its default network then
            sizes = None if new["data"] != self.config["data"] else new["sizes"]
        new["sizes"] = self._check_sizes(sizes, new)
        if rebuild:
            self._load_data(new)
        rebuild = rebuild or new["sizes"] != self.net.sizes
        self.config = new
        if rebuild:
            self.reset()
        else:
            self.optimizer.lr = new["eta"]

    def _check_sizes(self, sizes: Any, new: dict[str, Any]) -> list[int]:
        n_in, n_out = (64, 10) if new["data"] == "digits" else (2, max(2, int(self._labels(new).max()) + 1))
        if sizes is None:
            sizes = [n_in, 16, n_out] if n_in == 64 else [n_in, 4, 4, n_out]
        if not isinstance(sizes, list) or not all(isinstance(s, int) and not isinstance(s, bool) for s in sizes):
            raise ValueError(f"sizes must be a list of integers like [2, 4, 4, 2], got {sizes!r}")
        if not 2 <= len(sizes) <= LIMITS["layers"]:
            raise ValueError(f"a network has 2 to {LIMITS['layers']} layers, got {len(sizes)}")
        if sizes[0] != n_in:
            raise ValueError(f"the data have {n_in} inputs, so the first layer must have {n_in} neurons, not {sizes[0]}")
        if sizes[-1] < n_out:
            raise ValueError(f"the data have {n_out} classes, so the output layer needs at least {n_out} neurons, "
                             f"not {sizes[-1]}")
        bad = [s for s in sizes[1:] if not 1 <= s <= LIMITS["neurons"]]
        if bad:
            raise ValueError(f"a layer has 1 to {LIMITS['neurons']} neurons, got {bad[0]}")
        return list(sizes)

    def _labels(self, config: dict[str, Any]) -> np.ndarray:
        return self.csv[2] if config["data"] == "csv" and self.csv else np.array([0, 1])

    def _load_data(self, config: dict[str, Any]) -> None:
        """Training and test sets: 2-D sets and CSV rows are split 70/30 (the test points are drawn hollow)."""
        name, seed = config["data"], config["seed"]
        if name == "digits":
            self.x, self.y, self.test_x, self.test_y = datasets.digits(seed)
            return
        if name == "csv":
            x, y = self.csv[1], self.csv[2]
        else:
            x, y = datasets.make_2d(name, config["points"], config["noise"], seed)
        order = np.random.default_rng(seed + 1).permutation(len(y))
        n_train = max(1, round(len(y) * 0.7))
        self.x, self.y = x[order[:n_train]].copy(), y[order[:n_train]].copy()
        self.test_x, self.test_y = x[order[n_train:]].copy(), y[order[n_train:]].copy()

    def reset(self) -> None:
        """A fresh network from the seed (the page's #reset); the data stay."""
        c = self.config
        self.net = nn.MLP(c["sizes"], seed=c["seed"])
        self.optimizer = optim.SGD(self.net.parameters(), lr=c["eta"])
        self.rng = np.random.default_rng(c["seed"])
        self.order, self.cursor, self.steps, self.selected = np.arange(0), 0, 0, 0
        self.history: list[dict[str, Any]] = []
        self.speed = [0.0] * (len(c["sizes"]) - 1)
        self._record()

    def add_point(self, params: dict[str, Any]) -> None:
        """A new training point at (x1, x2) with `label` (2-D data only); it becomes the selected example."""
        if self.config["data"] == "digits":
            raise ValueError("points can be added to the 2-D data sets only")
        x1 = _number(params, "x1", None, float, -1, 1)
        x2 = _number(params, "x2", None, float, -1, 1)
        label = _number(params, "label", None, int, 0, self.net.sizes[-1] - 1)
        if len(self.y) + len(self.test_y) >= LIMITS["points"]:
            raise ValueError(f"at most {LIMITS['points']:,} points")
        self.x = np.vstack([self.x, [[x1, x2]]])
        self.y = np.append(self.y, label)
        self.selected = len(self.y) - 1
        self._record()

    def select(self, params: dict[str, Any]) -> None:
        self.selected = _number(params, "index", None, int, 0, len(self.y) - 1)

    def set_parameter(self, params: dict[str, Any]) -> None:
        """Set weight wˡⱼₖ (`kind` "w", with l, j, k) or bias bˡⱼ (`kind` "b") in the book's numbering."""
        kind = params.get("kind")
        if kind not in ("w", "b"):
            raise ValueError(f"kind must be 'w' or 'b', got {kind!r}")
        sizes = self.net.sizes
        l = _number(params, "l", None, int, 2, len(sizes))
        j = _number(params, "j", None, int, 1, sizes[l - 1])
        value = _number(params, "value", None, float, -1e3, 1e3)
        layer = self.net.layers[l - 2]
        if kind == "w":
            k = _number(params, "k", None, int, 1, sizes[l - 2])
            layer.weight.data[j - 1, k - 1] = value
        else:
            layer.bias.data[j - 1] = value
        self._record()

    # ------------------------------------------------------------------ training
    def step(self, n: int = 1) -> None:
        """`n` mini-batches of SGD (eq. 20–21) on the engine: zero_grad, cost, backward, step."""
        cost = nn.cost_function(self.config["cost"])
        m = min(self.config["batch_size"], len(self.y))
        for _ in range(n):
            if self.cursor + m > len(self.order):    # a new epoch: a new shuffle
                self.order, self.cursor = self.rng.permutation(len(self.y)), 0
            batch = self.order[self.cursor:self.cursor + m]
            self.cursor += m
            self.optimizer.zero_grad()
            c = cost(self.net(self.x[batch]), self.y[batch])
            c.backward()
            self.optimizer.step()
            self.steps += 1
            self.speed = [0.9 * s + 0.1 * float(np.linalg.norm(layer.bias.grad)) if self.steps > 1 else  # ch. 5
                          float(np.linalg.norm(layer.bias.grad)) for s, layer in zip(self.speed, self.net.layers)]
        if n:   # ‖∂C/∂bˡ‖ above is smoothed over the last ten mini-batches or so: one is too noisy to read
            self._record()

    def _evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        if len(y) == 0:
            return float("nan"), float("nan")
        with no_grad():
            a = self.net(x)
            c = nn.cost_function(self.config["cost"])(a, y)
        return float(c.data), float(np.mean(np.argmax(a.data, axis=1) == y))

    def _record(self) -> None:
        """One chart point: training and test cost and accuracy, and the learning speed of each layer."""
        train_cost, train_acc = self._evaluate(self.x, self.y)
        test_cost, test_acc = self._evaluate(self.test_x, self.test_y)
        if self.history and self.history[-1]["step"] == self.steps:
            self.history.pop()
        self.history.append({"step": self.steps, "training_cost": _finite(train_cost), "test_cost": _finite(test_cost),
                             "training_accuracy": _finite(train_acc), "test_accuracy": _finite(test_acc),
                             "speed": [_finite(v) for v in self.speed]})
        if len(self.history) > HISTORY:
            self.history = self.history[::2] + ([self.history[-1]] if len(self.history) % 2 == 0 else [])

    # ------------------------------------------------------------------ what the page sees
    def state(self) -> dict[str, Any]:
        """The API's summary: sizes, weights (per layer l = 2…L, [n_l][n_{l−1}]), biases, data, settings."""
        last = self.history[-1]
        return {"sizes": self.net.sizes, "weights": [w.tolist() for w in self.net.weights],
                "biases": [b.tolist() for b in self.net.biases], "x": self.x.tolist(), "y": self.y.tolist(),
                "test_x": self.test_x.tolist(), "test_y": self.test_y.tolist(), "selected": self.selected,
                "cost": self.config["cost"], "eta": self.config["eta"], "batch_size": self.config["batch_size"],
                "step": self.steps, "epoch": round(self.steps * min(self.config["batch_size"], len(self.y))
                                                   / len(self.y), 3),
                "training_cost": last["training_cost"], "test_cost": last["test_cost"],
                "training_accuracy": last["training_accuracy"], "test_accuracy": last["test_accuracy"],
                "data": self.config["data"], "csv_name": self.csv[0] if self.csv else None,
                "noise": self.config["noise"], "seed": self.config["seed"], "points": self.config["points"],
                "n_classes": int(max(self.y.max(), self.test_y.max() if len(self.test_y) else 0)) + 1,
                "limits": LIMITS}

    def frame(self, with_data: bool = True) -> dict[str, Any]:
        """Everything one redraw needs: the state, the heatmaps, the inspector's numbers and the charts."""
        out = self.state() if with_data else {k: v for k, v in self.state().items() if k not in ("x", "test_x")}
        out["heatmaps"] = self.heatmaps() if self.net.sizes[0] == 2 else None
        out["inspector"] = self.inspect()
        out["history"] = self.history
        out["server_ms"] = self.timings[-1] if self.timings else None   # the previous request's CPU time
        return out

    def heatmaps(self) -> dict[str, Any]:
        """Every neuron's activation over the input plane: one batched forward pass of the GRID² points."""
        t = np.linspace(-1, 1, GRID)
        grid = np.stack(np.meshgrid(t, -t), axis=-1).reshape(-1, 2)   # row-major, top row is x2 = +1
        with no_grad():
            _, activations = self.net.feedforward(grid)
        maps = [[_b64((grid[:, k] + 1) / 2) for k in range(2)]]    # the inputs, scaled to [0, 1]
        maps += [[_b64(a.data[:, j]) for j in range(a.data.shape[1])] for a in activations[1:]]
        return {"size": GRID, "neurons": maps}

    def inspect(self) -> dict[str, Any]:
        """The selected example's forward and backward pass: z, a, δ by autodiff (Value.backward of its own
        cost, m = 1) and by the closed form BP1–BP4, with ∂C/∂w and ∂C/∂b of both."""
        i = min(self.selected, len(self.y) - 1)
        x, label = self.x[i], int(self.y[i])
        y = np.zeros(self.net.sizes[-1])
        y[label] = 1.0
        zs, activations = self.net.feedforward(x[None, :])
        c = nn.cost_function(self.config["cost"])(activations[-1], y[None, :])
        for p in self.net.parameters():   # the training step zeroes again before its own backward
            p.grad = None
        c.backward()
        closed = backprop.backprop(self.net.weights, self.net.biases, x[None, :], y[None, :], self.config["cost"])
        return {"index": i, "label": label, "x": x.tolist(), "y": y.tolist(), "C": _finite(float(c.data)),
                "z": [z.data[0].tolist() for z in zs], "a": [a.data[0].tolist() for a in activations],
                "delta": [z.grad[0].tolist() for z in zs],
                "nabla_w": [layer.weight.grad.tolist() for layer in self.net.layers],
                "nabla_b": [layer.bias.grad.tolist() for layer in self.net.layers],
                "closed_delta": [d[0].tolist() for d in closed.deltas],
                "closed_nabla_w": [w.tolist() for w in closed.nabla_w],
                "closed_nabla_b": [b.tolist() for b in closed.nabla_b]}

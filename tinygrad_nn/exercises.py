"""The exercises and problems of chapters 1–2 of Nielsen's book that a computation can check, with a grader.

    from tinygrad_nn import exercises
    for ex in exercises.catalog(): print(ex.name, "—", ex.title)
    print(exercises.catalog()["bp2"].statement)        # what to write: the signature, the shapes, the section
    def bp2(w_next, delta_next, z): ...
    exercises.check("bp2", bp2)                         # truthy when right; .message names the first wrong number

`check` runs the solution on several seeded random networks and examples (sizes, weights, inputs drawn
afresh per case, so no hard-coded answer passes) and compares every number with BOTH references: the
engine's autodiff (`Value.backward` on the same network) and the closed form (`tinygrad_nn.backprop`, or the
answer key where the book's variant is not in it), which must agree with each other first. A solution that
raises, or returns the wrong type or shape, gets a failed result saying so — never a traceback.
`answer(name)` returns the reference solution (kept in `tinygrad_nn._answers`, apart from the statements).

Conventions (the book's): one example is a 1-D numpy array (the book's column vector), wˡ has shape
(n_l, n_{l−1}) so wˡⱼₖ is ``w[j-1, k-1]``, bˡ has shape (n_l,); ``weights[0]`` is w² (the input layer is
layer 1). The cost is the quadratic C = ½‖y − aᴸ‖² unless a statement says otherwise.
"""
from __future__ import annotations

import copy
import html
import linecache
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _answers
from . import backprop as closed
from .engine import Value, linear
from .nn import quadratic_cost
from .optim import SGD

__all__ = ["ATOL", "RTOL", "Catalog", "CheckResult", "Exercise", "answer", "catalog", "check"]

RTOL, ATOL = 1e-6, 1e-9   # a number passes when |got − expected| ≤ ATOL + RTOL·|expected|
_AGREE = 1e-9             # the two references must agree to this (relative) before anything is graded
CASES = 5                 # random networks per check

Arrays = list[np.ndarray]


@dataclass(frozen=True)
class Exercise:
    """One exercise: its `name` (for `check`), `chapter`, the book's `section`, a `title` and the `statement`."""

    name: str
    chapter: int
    section: str
    title: str
    statement: str

    def __str__(self) -> str:
        return f"{self.name} (chapter {self.chapter}, {self.section}): {self.title}\n\n{self.statement}"

    def _repr_html_(self) -> str:
        return (f"<div><b>{html.escape(self.name)}</b> — {html.escape(self.title)} "
                f"<i>(chapter {self.chapter}, {html.escape(self.section)})</i>"
                f"<pre style='white-space:pre-wrap'>{html.escape(self.statement)}</pre></div>")


class Catalog(list):
    """The exercises in the book's order; also indexable by name: ``catalog()["bp1"]``."""

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return _exercise(key)
        return super().__getitem__(key)

    def __repr__(self) -> str:
        return "\n".join(f"{e.name:<20} ch. {e.chapter}  {e.title}" for e in self)

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td><code>{html.escape(e.name)}</code></td><td>{e.chapter}</td>"
                       f"<td>{html.escape(e.title)}</td></tr>" for e in self)
        return f"<table><tr><th>name</th><th>ch.</th><th>exercise</th></tr>{rows}</table>"


@dataclass(frozen=True)
class CheckResult:
    """What `check` found: truthy when the solution is right; `message` says why not (or what was checked)."""

    name: str
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return f"{'✓ right' if self.passed else '✗ wrong'} — {self.name}: {self.message}"

    __repr__ = __str__

    def _repr_html_(self) -> str:
        colour, mark = ("#2b8a3e", "✓ right") if self.passed else ("#c92a2a", "✗ wrong")
        return (f"<div style='border-left:4px solid {colour};padding:4px 10px;margin:4px 0'>"
                f"<b style='color:{colour}'>{mark}</b> — <code>{html.escape(self.name)}</code>: "
                f"<span style='white-space:pre-wrap'>{html.escape(self.message)}</span></div>")


class _Wrong(Exception):
    """The solution's output cannot be graded (type or shape); the message says what was expected."""


@dataclass
class _Quantity:
    label: str            # e.g. "δ³ (BP2)"
    engine: np.ndarray    # autodiff's value
    closed: np.ndarray    # the closed form's value
    matrix: bool = False  # index as [j, k] rather than [j]


@dataclass
class _Case:
    args: tuple
    quantities: list[_Quantity]
    read: Callable[[Any], Arrays]  # the solution's output → one array per quantity (raises _Wrong)
    about: str                     # the network and example, for messages
    closed_name: str = "tinygrad_nn.backprop"


# ---- drawing networks and examples --------------------------------------------------------------

def _network(rng: np.random.Generator, min_layers: int = 3, integer: bool = False) -> tuple[Arrays, Arrays]:
    """Random book network: 3 or 4 layers (at least `min_layers`), widths 2–5, N(0, 1) weights (or small integers)."""
    sizes = [int(s) for s in rng.integers(2, 6, size=int(rng.integers(min_layers, 5)))]
    if integer:
        return ([rng.integers(-2, 3, (n, k)).astype(float) for k, n in zip(sizes, sizes[1:])],
                [rng.integers(-1, 2, n).astype(float) for n in sizes[1:]])
    return ([rng.standard_normal((n, k)) for k, n in zip(sizes, sizes[1:])],
            [rng.standard_normal(n) for n in sizes[1:]])


def _sizes(weights: Sequence[np.ndarray]) -> list[int]:
    return [weights[0].shape[1]] + [w.shape[0] for w in weights]


def _engine(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], x_rows: np.ndarray, y_rows: np.ndarray | None,
            act: Callable[[int, Value], Value] = lambda l, z: z.sigmoid()) -> tuple[list[Value], list[Value], list, list]:
    """The network on the engine (one row per example); with targets, the mean quadratic cost's backward() is run."""
    ws = [Value(np.array(w, dtype=float)) for w in weights]
    bs = [Value(np.array(b, dtype=float)) for b in biases]
    a, zs, activations = x_rows, [], []
    for l, (w, b) in enumerate(zip(ws, bs)):
        z = linear(a, w, b)
        a = act(l, z)
        zs.append(z)
        activations.append(a)
    if y_rows is not None:
        quadratic_cost(activations[-1], y_rows).backward()
    return ws, bs, zs, activations


def _one(x: np.ndarray) -> np.ndarray:
    return x[None, :]


# ---- reading a solution's output ----------------------------------------------------------------

def _array(out: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    if isinstance(out, Value):
        out = out.data
    try:
        arr = np.asarray(out, dtype=float)
    except (TypeError, ValueError):
        raise _Wrong(f"{what}: expected a numpy array of shape {shape}, got {type(out).__name__} "
                     f"{_short(out)}") from None
    if arr.shape != shape:
        hint = ""
        if arr.size == int(np.prod(shape)) and arr.ndim != len(shape):
            hint = " — same numbers, other shape: " + ("return a 1-D array (e.g. .ravel())" if len(shape) == 1
                                                        else f"reshape it to {shape}")
        elif arr.shape == shape[::-1] and len(shape) == 2:
            hint = " — transposed? wˡ has shape (n_l, n_{l−1}): row j is neuron j of layer l"
        raise _Wrong(f"{what}: expected shape {shape}, got shape {arr.shape}{hint}")
    return arr


def _short(out: Any) -> str:
    text = repr(out)
    return text if len(text) <= 60 else text[:57] + "..."


def _read_one(shape: tuple[int, ...], what: str) -> Callable[[Any], Arrays]:
    return lambda out: [_array(out, shape, what)]


def _read_scalar(what: str) -> Callable[[Any], Arrays]:
    def read(out: Any) -> Arrays:
        arr = np.asarray(out.data if isinstance(out, Value) else out) if not isinstance(out, (str, bytes)) else None
        if arr is None or arr.dtype.kind not in "fiu" or arr.size != 1:
            raise _Wrong(f"{what}: expected one number, got {type(out).__name__} {_short(out)}")
        return [arr.reshape(()).astype(float)]
    return read


def _read_lists(shapes: Sequence[Sequence[tuple[int, ...]]], names: Sequence[str]) -> Callable[[Any], Arrays]:
    """A pair (or tuple) of lists of arrays, e.g. (nabla_b, nabla_w), each array of its layer's shape."""
    def read(out: Any) -> Arrays:
        if not isinstance(out, (tuple, list)) or len(out) != len(shapes):
            raise _Wrong(f"expected a tuple ({', '.join(names)}) of {len(shapes)} lists, got "
                         f"{type(out).__name__}{f' of length {len(out)}' if isinstance(out, (tuple, list)) else ''}")
        arrays = []
        for part, part_shapes, name in zip(out, shapes, names):
            if not isinstance(part, (list, tuple)) or len(part) != len(part_shapes):
                raise _Wrong(f"{name}: expected a list of {len(part_shapes)} arrays (one per layer 2…"
                             f"{len(part_shapes) + 1}), got {type(part).__name__}"
                             f"{f' of length {len(part)}' if isinstance(part, (list, tuple)) else ''}")
            arrays += [_array(p, s, f"{name}[{i}] (layer {i + 2})") for i, (p, s) in enumerate(zip(part, part_shapes))]
        return arrays
    return read


def _per_layer(symbol: str, arrays: Sequence[np.ndarray], equation: str) -> list[str]:
    return [f"{symbol}{_sup(l + 2)} ({equation}, layer {l + 2})" for l in range(len(arrays))]


def _sup(n: int) -> str:
    return str(n).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))


def _gradients(names: tuple[str, str], engine: tuple[Arrays, Arrays], reference: tuple[Arrays, Arrays],
               equations: tuple[str, str] = ("BP3", "BP4")) -> list[_Quantity]:
    """(∂C/∂b per layer, then ∂C/∂w per layer) as quantities."""
    out = []
    for symbol, eq, eng, ref, matrix in zip(names, equations, engine, reference, (False, True)):
        out += [_Quantity(label, e, r, matrix) for label, e, r in zip(_per_layer(symbol, ref, eq), eng, ref)]
    return out


def _read_gradients(weights: Sequence[np.ndarray], names: tuple[str, str] = ("nabla_b", "nabla_w")
                    ) -> Callable[[Any], Arrays]:
    return _read_lists([[(w.shape[0],) for w in weights], [w.shape for w in weights]], names)


def _about(weights: Sequence[np.ndarray], extra: str = "") -> str:
    return f"network {_sizes(weights)}" + (f", {extra}" if extra else "")


# ---- the cases of each exercise ------------------------------------------------------------------

def _one_example(rng: np.random.Generator, min_layers: int = 3):
    weights, biases = _network(rng, min_layers)
    x, y = rng.random(weights[0].shape[1]), rng.random(weights[-1].shape[0])
    ws, bs, zs, activations = _engine(weights, biases, _one(x), _one(y))
    return weights, biases, x, y, (ws, bs, zs, activations), closed.backprop(weights, biases, x, y)


def _cases_bp1(rng):
    for _ in range(CASES):
        weights, biases, x, y, (_, _, zs, acts), ref = _one_example(rng)
        z, nabla_a = ref.zs[-1][0], acts[-1].grad[0]        # ∇ₐC = aᴸ − y, from the engine
        yield _Case((nabla_a, z), [_Quantity("δᴸ (BP1)", zs[-1].grad[0], ref.deltas[-1][0])],
                    _read_one(z.shape, "δᴸ"), _about(weights, "quadratic cost"))


def _cases_bp1_matrix(rng):
    for _ in range(CASES):
        weights, biases, x, y, (_, _, zs, acts), ref = _one_example(rng)
        z, nabla_a = ref.zs[-1][0], acts[-1].grad[0]
        n = z.shape[0]

        def read(out: Any, nabla_a=nabla_a, n=n) -> Arrays:
            sigma = _array(out, (n, n), "Σ′(zᴸ)")
            return [sigma - np.diag(np.diag(sigma)), sigma @ nabla_a]
        yield _Case((z,), [_Quantity("Σ′(zᴸ) off its diagonal", np.zeros((n, n)), np.zeros((n, n)), True),
                           _Quantity("Σ′(zᴸ) ∇ₐC = δᴸ (BP1)", zs[-1].grad[0], ref.deltas[-1][0])],
                    read, _about(weights, "quadratic cost"))


def _cases_bp2(rng):
    for _ in range(CASES):
        weights, biases, x, y, (_, _, zs, _), ref = _one_example(rng)
        l = int(rng.integers(0, len(weights) - 1))             # a layer below the output
        args = (weights[l + 1].copy(), ref.deltas[l + 1][0], ref.zs[l][0])
        yield _Case(args, [_Quantity(f"δ{_sup(l + 2)} (BP2)", zs[l].grad[0], ref.deltas[l][0])],
                    _read_one(args[2].shape, f"δ{_sup(l + 2)}"), _about(weights, f"layer l = {l + 2}"))


def _cases_bp3(rng):
    for _ in range(CASES):
        weights, biases, x, y, (_, bs, _, _), ref = _one_example(rng)
        l = int(rng.integers(0, len(weights)))
        yield _Case((ref.deltas[l][0],), [_Quantity(f"∂C/∂b{_sup(l + 2)} (BP3)", bs[l].grad, ref.nabla_b[l])],
                    _read_one(biases[l].shape, f"∂C/∂b{_sup(l + 2)}"), _about(weights, f"layer l = {l + 2}"))


def _cases_bp4(rng):
    for _ in range(CASES):
        weights, biases, x, y, (ws, _, _, _), ref = _one_example(rng)
        l = int(rng.integers(0, len(weights)))
        yield _Case((ref.deltas[l][0], ref.activations[l][0]),
                    [_Quantity(f"∂C/∂w{_sup(l + 2)} (BP4)", ws[l].grad, ref.nabla_w[l], True)],
                    _read_one(weights[l].shape, f"∂C/∂w{_sup(l + 2)}"), _about(weights, f"layer l = {l + 2}"))


def _cases_backprop(rng):
    for _ in range(CASES):
        weights, biases, x, y, (ws, bs, _, _), ref = _one_example(rng)
        yield _Case((weights, biases, x, y),
                    _gradients(("∂C/∂b", "∂C/∂w"), ([b.grad for b in bs], [w.grad for w in ws]), (ref.nabla_b, ref.nabla_w)),
                    _read_gradients(weights), _about(weights, "one example, quadratic cost"))


def _cases_backprop_matrix(rng):
    for _ in range(CASES):
        weights, biases = _network(rng)
        m = int(rng.integers(2, 6))
        X, Y = rng.random((weights[0].shape[1], m)), rng.random((weights[-1].shape[0], m))
        ws, bs, _, _ = _engine(weights, biases, X.T, Y.T)
        ref = closed.backprop(weights, biases, X.T, Y.T)
        yield _Case((weights, biases, X, Y),
                    _gradients(("∂C/∂b", "∂C/∂w"), ([b.grad for b in bs], [w.grad for w in ws]), (ref.nabla_b, ref.nabla_w)),
                    _read_gradients(weights), _about(weights, f"a mini-batch of m = {m} (columns of X)"))


# f, f′ and f on Values, for the modified neuron
_FS = [("tanh", np.tanh, lambda z: 1.0 - np.tanh(z) ** 2, Value.tanh),
       ("softplus", lambda z: np.logaddexp(0.0, z), closed.sigmoid, lambda z: (z.exp() + 1.0).log()),
       ("z³/3", lambda z: z ** 3 / 3.0, lambda z: z ** 2, lambda z: z ** 3.0 / 3.0)]


def _cases_modified_neuron(rng):
    for i in range(CASES):
        weights, biases = _network(rng, min_layers=3)
        x, y = rng.random(weights[0].shape[1]), rng.random(weights[-1].shape[0])
        l0 = int(rng.integers(0, len(weights)))                 # 0-based; the book's layer l = l0 + 2
        j = int(rng.integers(1, weights[l0].shape[0] + 1))
        fname, f, f_prime, f_value = _FS[i % len(_FS)]
        mask = np.zeros(weights[l0].shape[0])
        mask[j - 1] = 1.0

        def act(l: int, z: Value, l0=l0, mask=mask, f_value=f_value) -> Value:
            return z.sigmoid() if l != l0 else z.sigmoid() * (1.0 - mask) + f_value(z) * mask
        ws, bs, _, _ = _engine(weights, biases, _one(x), _one(y), act)
        ref = _answers.modified_neuron(weights, biases, x, y, l0 + 2, j, f, f_prime)
        yield _Case((weights, biases, x, y, l0 + 2, j, f, f_prime),
                    _gradients(("∂C/∂b", "∂C/∂w"), ([b.grad for b in bs], [w.grad for w in ws]), ref),
                    _read_gradients(weights), _about(weights, f"neuron j = {j} of layer l = {l0 + 2} computes "
                                                              f"f(z) = {fname}"), "the answer key")


def _cases_linear_neurons(rng):
    for _ in range(CASES):
        weights, biases = _network(rng)
        x, y = rng.random(weights[0].shape[1]), rng.random(weights[-1].shape[0])
        ws, bs, _, _ = _engine(weights, biases, _one(x), _one(y), lambda l, z: z)
        yield _Case((weights, biases, x, y),
                    _gradients(("∂C/∂b", "∂C/∂w"), ([b.grad for b in bs], [w.grad for w in ws]),
                               _answers.linear_neurons(weights, biases, x, y)),
                    _read_gradients(weights), _about(weights, "σ(z) = z everywhere"), "the answer key")


def _one_example_backprop(weights, biases, x, y):
    """The per-example gradient handed to sgd_step: (∂C_x/∂b, ∂C_x/∂w) per layer, by tinygrad_nn.backprop."""
    g = closed.backprop(weights, biases, x, y)
    return [b.copy() for b in g.nabla_b], [w.copy() for w in g.nabla_w]


def _cases_sgd_step(rng):
    for _ in range(CASES):
        weights, biases = _network(rng)
        m, eta = int(rng.integers(2, 6)), float(rng.uniform(0.5, 3.0))
        X, Y = rng.random((m, weights[0].shape[1])), rng.random((m, weights[-1].shape[0]))
        ws, bs, _, _ = _engine(weights, biases, X, Y)           # the engine's mean cost, then optim.SGD's step
        SGD(ws + bs, lr=eta).step()
        ref = closed.backprop(weights, biases, X, Y)
        new_w = [w - eta * nw for w, nw in zip(weights, ref.nabla_w)]
        new_b = [b - eta * nb for b, nb in zip(biases, ref.nabla_b)]
        quantities = ([_Quantity(f"new w{_sup(l + 2)} (eq. 20)", w.data, r, True) for l, (w, r) in enumerate(zip(ws, new_w))]
                      + [_Quantity(f"new b{_sup(l + 2)} (eq. 21)", b.data, r) for l, (b, r) in enumerate(zip(bs, new_b))])
        read_pair = _read_lists([[w.shape for w in weights], [(w.shape[0],) for w in weights]], ("weights", "biases"))
        yield _Case((weights, biases, list(zip(X, Y)), eta, _one_example_backprop), quantities, read_pair,
                    _about(weights, f"a mini-batch of m = {m}, η = {eta:.3f}"))


def _cases_perceptron_network(rng):
    for i in range(CASES):
        weights, biases = _network(rng, integer=True)          # small integers: w·x + b = 0 happens, exactly
        x = rng.integers(0, 2, weights[0].shape[1]).astype(float)
        c = (1.0, 0.25, 8.0, 1024.0, 0.5)[i]                   # powers of two: c·w·x + c·b is exact
        _, _, _, acts = _engine(weights, biases, _one(x), None, lambda l, z: z.step())
        yield _Case(([c * w for w in weights], [c * b for b in biases], x),
                    [_Quantity("output", acts[-1].data[0], _answers.perceptron_network(weights, biases, x))],
                    _read_one((weights[-1].shape[0],), "output"),
                    _about(weights, f"weights and biases multiplied by c = {c:g}, binary input"), "the answer key")


def _cases_sigmoid_limit(rng):
    for _ in range(CASES):
        weights, biases = _network(rng, integer=True)
        x = rng.integers(0, 2, weights[0].shape[1]).astype(float)
        c = 1e4                                                 # σ(c z) at c = 10⁴ is 0, ½ or 1 to the last bit here
        _, _, _, acts = _engine([c * w for w in weights], [c * b for b in biases], _one(x), None)
        yield _Case((weights, biases, x),
                    [_Quantity("limit of the output", acts[-1].data[0], _answers.sigmoid_limit(weights, biases, x))],
                    _read_one((weights[-1].shape[0],), "output"), _about(weights, "integer weights, binary input"),
                    "the answer key")


def _cases_sum_over_paths(rng):
    for _ in range(CASES):
        weights, biases, x, y, (ws, _, _, _), ref = _one_example(rng)
        l0 = int(rng.integers(0, len(weights)))
        j, k = int(rng.integers(1, weights[l0].shape[0] + 1)), int(rng.integers(1, weights[l0].shape[1] + 1))
        yield _Case((weights, biases, x, y, l0 + 2, j, k),
                    [_Quantity(f"∂C/∂w{_sup(l0 + 2)}{_sub(j)}{_sub(k)}", ws[l0].grad[j - 1, k - 1],
                               ref.nabla_w[l0][j - 1, k - 1])],
                    _read_scalar("∂C/∂wˡⱼₖ"), _about(weights, f"l = {l0 + 2}, j = {j}, k = {k}"))


def _sub(n: int) -> str:
    return str(n).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))


# ---- the statements ------------------------------------------------------------------------------

_ONE = ("One example: x of shape (n₁,), y of shape (n_L,) (1-D arrays, the book's column vectors); weights[i] has "
        "shape (n_{i+2}, n_{i+1}) and biases[i] shape (n_{i+2},) — weights[0] is w², the input layer being layer 1. "
        "Quadratic cost C = ½‖y − aᴸ‖².")
_GRADS = ("Return (nabla_b, nabla_w): two lists with one array per layer 2…L, nabla_b[i] of shape biases[i].shape "
          "and nabla_w[i] of shape weights[i].shape.")

_EXERCISES = [
    Exercise("perceptron_network", 1, "Sigmoid neurons: 'Sigmoid neurons simulating perceptrons, part I'",
             "a network of perceptrons, unchanged when every weight and bias is multiplied by c > 0",
             "Write perceptron_network(weights, biases, x) -> output, the output layer of a network of perceptrons: "
             "each neuron outputs 1 if w·a + b > 0, else 0 (eq. 2), layer by layer. x is a 1-D array of 0/1 inputs; "
             "weights[i] has shape (n_{i+2}, n_{i+1}), biases[i] shape (n_{i+2},). Return a 1-D array of shape (n_L,) "
             "of 0.0/1.0. The checker calls it with every weight and bias multiplied by c ∈ {¼, ½, 1, 8, 1024}: "
             "the book's part I asks you to show that the output does not change (c > 0 does not move the sign of "
             "w·a + b). Weights are small integers, so w·a + b = 0 occurs: there the perceptron outputs 0."),
    Exercise("sigmoid_limit", 1, "Sigmoid neurons: 'Sigmoid neurons simulating perceptrons, part II'",
             "the limit c → ∞ of a sigmoid network whose weights and biases are multiplied by c",
             "Write sigmoid_limit(weights, biases, x) -> output: the limit as c → ∞ of the output of the network of "
             "SIGMOID neurons with weights c·wˡ and biases c·bˡ (shapes as in perceptron_network; x 1-D). Where no "
             "neuron has w·a + b = 0 this is the perceptron network's output; the book asks what happens when some "
             "neuron has w·a + b = 0 — your function must give the limit then too (think of σ(c·0)). Return a 1-D "
             "array of shape (n_L,). The weights here are small integers and x is 0/1."),
    Exercise("sgd_step", 1, "Learning with gradient descent, eq. 20–21",
             "one step of mini-batch stochastic gradient descent",
             "Write sgd_step(weights, biases, mini_batch, eta, backprop) -> (new_weights, new_biases): one step of "
             "eq. 20–21, w → w − (η/m) Σⱼ ∂C_Xⱼ/∂w and b → b − (η/m) Σⱼ ∂C_Xⱼ/∂b, over the m examples of mini_batch, "
             "a list of (x, y) pairs (1-D arrays). backprop(weights, biases, x, y) is given: it returns "
             "(nabla_b, nabla_w), the gradient of one example's cost C_x, one array per layer (as the book's "
             "Network.backprop). Return two new lists with the shapes of weights and biases (do not rely on "
             "changing the arrays in place)."),
    Exercise("bp1", 2, "The four fundamental equations: 'An equation for the error in the output layer' (BP1)",
             "BP1: the error δᴸ of the output layer",
             "Write bp1(nabla_a, z) -> delta: δᴸ = ∇ₐC ⊙ σ′(zᴸ) (BP1). nabla_a is ∇ₐC, the vector of ∂C/∂aᴸⱼ, and "
             "z is zᴸ, both 1-D of shape (n_L,); return δᴸ of shape (n_L,). σ′(z) = σ(z)(1 − σ(z)); "
             "tinygrad_nn.backprop.sigmoid is σ."),
    Exercise("bp1_matrix", 2, "The four fundamental equations: exercise 'Alternate presentation of the equations "
             "of backpropagation'", "BP1 in matrix form: the matrix Σ′(zᴸ)",
             "Write bp1_matrix(z) -> Sigma_prime: the square matrix Σ′(zᴸ) of shape (n_L, n_L) with σ′(zᴸⱼ) on its "
             "diagonal and 0 elsewhere, so that BP1 reads δᴸ = Σ′(zᴸ) ∇ₐC. z is 1-D of shape (n_L,). The checker "
             "multiplies your matrix by ∇ₐC and compares the product with δᴸ."),
    Exercise("bp2", 2, "The four fundamental equations: 'An equation for the error δˡ in terms of the error in the "
             "next layer' (BP2)", "BP2: the error δˡ from δˡ⁺¹",
             "Write bp2(w_next, delta_next, z) -> delta: δˡ = ((wˡ⁺¹)ᵀ δˡ⁺¹) ⊙ σ′(zˡ) (BP2). w_next is wˡ⁺¹ of shape "
             "(n_{l+1}, n_l), delta_next is δˡ⁺¹ of shape (n_{l+1},), z is zˡ of shape (n_l,); return δˡ of shape "
             "(n_l,)."),
    Exercise("bp3", 2, "The four fundamental equations: 'An equation for the rate of change of the cost with "
             "respect to any bias' (BP3)", "BP3: ∂C/∂bˡ from δˡ",
             "Write bp3(delta) -> nabla_b: ∂C/∂bˡⱼ for every j, given δˡ of shape (n_l,); return shape (n_l,). "
             "(Proving BP3 is one of the chapter's problems: zˡⱼ = Σₖ wˡⱼₖ aˡ⁻¹ₖ + bˡⱼ, so ∂zˡⱼ/∂bˡⱼ = 1.)"),
    Exercise("bp4", 2, "The four fundamental equations: 'An equation for the rate of change of the cost with "
             "respect to any weight' (BP4)", "BP4: ∂C/∂wˡ from δˡ and aˡ⁻¹",
             "Write bp4(delta, a_prev) -> nabla_w: ∂C/∂wˡⱼₖ = aˡ⁻¹ₖ δˡⱼ (BP4). delta is δˡ of shape (n_l,), a_prev is "
             "aˡ⁻¹ of shape (n_{l−1},); return the matrix of shape (n_l, n_{l−1}) — the shape of wˡ, entry [j-1, k-1] "
             "is ∂C/∂wˡⱼₖ."),
    Exercise("backprop", 2, "The backpropagation algorithm", "the five-step algorithm for one example",
             "Write backprop(weights, biases, x, y) -> (nabla_b, nabla_w): the book's algorithm — input x; "
             "feedforward zˡ = wˡaˡ⁻¹ + bˡ, aˡ = σ(zˡ); output error δᴸ (BP1); backpropagate δˡ (BP2); output "
             "∂C/∂bˡ (BP3) and ∂C/∂wˡ (BP4). " + _ONE + " " + _GRADS),
    Exercise("backprop_matrix", 2, "The backpropagation algorithm: problem 'Fully matrix-based approach to "
             "backpropagation over a mini-batch'", "backpropagation over a whole mini-batch at once",
             "Write backprop_matrix(weights, biases, X, Y) -> (nabla_b, nabla_w) with no loop over examples: X has "
             "shape (n₁, m), one example per COLUMN (the book's X = [x₁ x₂ … x_m]), Y has shape (n_L, m). Return "
             "the gradient of the mini-batch's MEAN quadratic cost C = (1/m) Σₓ ½‖y_x − aᴸ_x‖², i.e. the mean over "
             "the examples of each one's ∂C_x/∂b and ∂C_x/∂w. " + _GRADS),
    Exercise("modified_neuron", 2, "The backpropagation algorithm: problem 'Backpropagation with a single "
             "modified neuron'", "backpropagation when one neuron computes f instead of σ",
             "Write modified_neuron(weights, biases, x, y, l, j, f, f_prime) -> (nabla_b, nabla_w): the gradient when "
             "neuron j of layer l (the book's numbering: layers from 2 = weights[0], neurons from 1) outputs "
             "f(Σₖ wⱼₖ aₖ + bⱼ) instead of σ(…); every other neuron is a sigmoid. f and f_prime are numpy functions "
             "(f′ is f_prime). " + _ONE + " " + _GRADS),
    Exercise("linear_neurons", 2, "The backpropagation algorithm: problem 'Backpropagation with linear neurons'",
             "backpropagation when every σ is replaced by σ(z) = z",
             "Write linear_neurons(weights, biases, x, y) -> (nabla_b, nabla_w): backpropagation for the network "
             "whose every neuron is linear, aˡ = zˡ (the output layer too). " + _ONE + " " + _GRADS),
    Exercise("sum_over_paths", 2, "Backpropagation: the big picture (eq. 46–47)", "∂C/∂wˡⱼₖ as a sum over paths",
             "Write sum_over_paths(weights, biases, x, y, l, j, k) -> a number: ∂C/∂wˡⱼₖ as the book's sum over every "
             "path from wˡⱼₖ to C — the product of the rates along the path (∂aˡⱼ/∂wˡⱼₖ, then ∂aᵖ/∂aᵠ = w σ′(z) "
             "for each edge to the next layer, then ∂C/∂aᴸₘ), summed over all paths (eq. 47). l is the book's layer "
             "(2…L, weights[l-2] is wˡ), j and k count from 1 as in the book. " + _ONE),
]

_CASES: dict[str, Callable[[np.random.Generator], Iterator[_Case]]] = {
    "perceptron_network": _cases_perceptron_network, "sigmoid_limit": _cases_sigmoid_limit,
    "sgd_step": _cases_sgd_step, "bp1": _cases_bp1, "bp1_matrix": _cases_bp1_matrix, "bp2": _cases_bp2,
    "bp3": _cases_bp3, "bp4": _cases_bp4, "backprop": _cases_backprop, "backprop_matrix": _cases_backprop_matrix,
    "modified_neuron": _cases_modified_neuron, "linear_neurons": _cases_linear_neurons,
    "sum_over_paths": _cases_sum_over_paths}


# ---- the API -------------------------------------------------------------------------------------

def catalog() -> Catalog:
    """Every exercise, chapter 1 then chapter 2 in the book's order; ``catalog()["bp1"]`` picks one by name."""
    return Catalog(_EXERCISES)


def _exercise(name: str) -> Exercise:
    for ex in _EXERCISES:
        if ex.name == name:
            return ex
    raise KeyError(f"no exercise {name!r}; the exercises are: {', '.join(e.name for e in _EXERCISES)}")


def answer(name: str) -> Callable:
    """The reference solution of exercise `name` (from the answer key, tinygrad_nn._answers)."""
    _exercise(name)
    return _answers.ANSWERS[name]


def check(name: str, solution: Callable, seed: int = 0) -> CheckResult:
    """Grade `solution` for exercise `name` on several seeded random networks (see the module docstring).

    Returns a `CheckResult`: truthy when every number of every case matches both references within
    |got − expected| ≤ ATOL + RTOL·|expected|; otherwise `.message` names the first wrong quantity (layer,
    index, expected and got, the tolerance). Exceptions raised by `solution` are reported, not raised.
    """
    ex = _exercise(name)
    if not callable(solution):
        return CheckResult(name, False, f"the solution must be a function, got {type(solution).__name__} {_short(solution)}")
    cases = list(_CASES[name](np.random.default_rng([seed, _EXERCISES.index(ex)])))
    for i, case in enumerate(cases, start=1):
        where = f"case {i} of {len(cases)} ({case.about})"
        try:
            out = solution(*copy.deepcopy(case.args))
        except Exception as exc:  # noqa: BLE001 - a learner's error becomes the result's message
            return CheckResult(name, False, f"your solution raised {type(exc).__name__}: {str(exc).strip()}"
                                            f"{_user_line(exc, solution)} — in {where}")
        try:
            got = case.read(out)
        except _Wrong as exc:
            return CheckResult(name, False, f"{exc} — in {where}")
        for q, g in zip(case.quantities, got):
            _references_agree(name, q)
            wrong = _first_wrong(q, g)
            if wrong:
                return CheckResult(name, False, f"{wrong} — in {where}")
    return CheckResult(name, True, f"right on all {len(cases)} random cases: every number within "
                                   f"{ATOL:g} + {RTOL:g}·|expected| of both the engine (Value, backward) and the "
                                   f"closed form ({cases[0].closed_name})")


def _references_agree(name: str, q: _Quantity) -> None:
    engine, reference = np.asarray(q.engine, float), np.asarray(q.closed, float)
    if engine.shape != reference.shape or not np.allclose(engine, reference, rtol=_AGREE, atol=1e-12):
        raise AssertionError(f"exercises: the references of {name} disagree on {q.label} — a bug in tinygrad_nn")


def _first_wrong(q: _Quantity, got: np.ndarray) -> str:
    expected = np.asarray(q.closed, float)
    bad = ~(np.abs(got - expected) <= ATOL + RTOL * np.abs(expected))   # NaN counts as wrong
    if not bad.any():
        return ""
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    if not index:
        spot = ""
    elif len(index) == 2 and q.matrix:
        spot = f" at [{index[0]}, {index[1]}] (j = {index[0] + 1}, k = {index[1] + 1})"
    else:
        spot = f" at [{', '.join(map(str, index))}] (j = {index[0] + 1})"
    tolerance = f"tolerance {ATOL:g} + {RTOL:g}·|expected|"
    return (f"{q.label}{spot}: expected {expected[index]:.9g}, got {got[index]:.9g} ({tolerance}; "
            f"{int(bad.sum())} of {bad.size} numbers wrong)")


def _user_line(exc: BaseException, solution: Callable) -> str:
    """', at line N of <file>: <code>' for the deepest frame of the traceback in the solution's own file."""
    frames = traceback.extract_tb(exc.__traceback__)
    filename = getattr(getattr(solution, "__code__", None), "co_filename", None)
    mine = [f for f in frames if f.filename == filename] or frames[1:]
    if not mine:
        return ""
    frame = mine[-1]
    text = (frame.line or linecache.getline(frame.filename, frame.lineno)).strip()
    return f", at line {frame.lineno} of {frame.name}" + (f": {text}" if text else "")

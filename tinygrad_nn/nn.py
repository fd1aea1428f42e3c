"""Nielsen's networks on `Value`: the tensor `MLP` (one node per layer), the scalar `ScalarMLP`
(one node per weight, for drawing neuron by neuron) and the costs of chapters 1–3.

Layout is the book's: a layer's ``weight`` is wˡ with shape (n_out, n_in), its ``bias`` bˡ has shape
(n_out,), and an input batch has one row per example, so zˡ = aˡ⁻¹ wˡᵀ + bˡ and aˡ = σ(zˡ).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from .engine import Value, _accumulate, _graph, _lift, _node, _tangent, linear, no_grad

__all__ = [
    "ACTIVATIONS",
    "COSTS",
    "INITS",
    "MLP",
    "Layer",
    "Linear",
    "Module",
    "Neuron",
    "ScalarMLP",
    "cross_entropy_cost",
    "log_likelihood_cost",
    "quadratic_cost",
]

ACTIVATIONS: dict[str, Callable[[Value], Value]] = {
    "sigmoid": Value.sigmoid,  # the book's neuron
    "tanh": Value.tanh,
    "relu": Value.relu,
    "step": Value.step,        # the perceptron: forward only
    "identity": lambda v: v,
    "softmax": Value.softmax,  # output layer only, with log_likelihood_cost
}
INITS = ("normal", "scaled")  # ch. 1: w ~ N(0, 1); ch. 3: w ~ N(0, 1/n_in). Biases ~ N(0, 1) in both.


class Module:
    """Base class: finds the parameters (leaf Values) among its attributes, lists and sub-modules."""

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Value]]:
        """(name, parameter) pairs, names like ``layers.0.weight`` from the attribute path."""
        for key, item in vars(self).items():
            yield from _named(item, prefix + key)

    def parameters(self) -> list[Value]:
        """Every parameter (a leaf Value that requires a gradient), in a stable order."""
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (leaf gradients accumulate until this)."""
        for p in self.parameters():
            p.grad = None

    def state_dict(self) -> dict[str, np.ndarray]:
        """A plain dict name → copy of the parameter's array."""
        return {name: np.array(p.data, copy=True) for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Copy arrays into the parameters in place; names and shapes must match exactly."""
        params = dict(self.named_parameters())
        missing, unexpected = sorted(set(params) - set(state)), sorted(set(state) - set(params))
        if missing or unexpected:
            raise ValueError(f"load_state_dict: missing parameters {missing}, unexpected {unexpected}")
        arrays = {name: np.asarray(state[name]) for name in params}
        for name, arr in arrays.items():  # check everything before changing anything
            if arr.shape != params[name].shape:
                raise ValueError(f"load_state_dict: {name} has shape {arr.shape}, the model expects "
                                 f"{params[name].shape}")
            if arr.dtype.kind not in "fiu":
                raise TypeError(f"load_state_dict: {name} has dtype {arr.dtype}, expected real numbers")
        for name, p in params.items():
            arr = arrays[name]
            if type(p.data) is float:
                p.data = float(arr)
            else:
                p.data[...] = arr

    def _name_parameters(self) -> None:
        """Give every parameter its place in the model as its name (shown by viz)."""
        for name, p in self.named_parameters():
            p.name = name


def _named(item: Any, name: str) -> Iterator[tuple[str, Value]]:
    if isinstance(item, Value):
        if item.requires_grad and item.is_leaf:
            yield name, item
    elif isinstance(item, Module):
        yield from item.named_parameters(name + ".")
    elif isinstance(item, (list, tuple)):
        for i, sub in enumerate(item):
            yield from _named(sub, f"{name}.{i}")


def _check_choice(kind: str, given: Any, valid: Sequence[str]) -> None:
    if given not in valid:
        raise ValueError(f"unknown {kind} {given!r}; valid: {', '.join(valid)}")


def _init_weights(rng: np.random.Generator, init: str, n_out: int, n_in: int, dtype: Any) -> np.ndarray:
    scale = 1.0 if init == "normal" else 1.0 / np.sqrt(n_in)
    return (rng.standard_normal((n_out, n_in)) * scale).astype(dtype)


def _check_sizes(sizes: Sequence[int]) -> list[int]:
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
        raise TypeError(f"sizes: expected a list of layer widths like [784, 30, 10], got {sizes!r}")
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"sizes: need at least two layer sizes (inputs and outputs), got {sizes}")
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s <= 0:
            raise ValueError(f"sizes: every layer size must be a positive integer, got {s!r} in {sizes}")
    return [int(s) for s in sizes]


class Linear(Module):
    """One layer of weighted inputs zˡ = aˡ⁻¹ wˡᵀ + bˡ; `weight` is (n_out, n_in), `bias` is (n_out,)."""

    def __init__(self, n_in: int, n_out: int, init: str = "normal", rng: np.random.Generator | None = None,
                 dtype: Any = np.float64) -> None:
        _check_choice("init", init, INITS)
        rng = rng if rng is not None else np.random.default_rng()
        self.weight = Value(_init_weights(rng, init, n_out, n_in, dtype))
        self.bias = Value(rng.standard_normal(n_out).astype(dtype))

    def __call__(self, x: Value) -> Value:
        return linear(x, self.weight, self.bias)


class MLP(Module):
    """Nielsen's feedforward network as one graph node per layer: ``MLP([784, 30, 10])``.

    `net(x)` takes x of shape (m, n_in) — one row per example — or (n_in,) and returns the output
    activations as a Value. `net.feedforward(x)` also returns every zˡ, whose ``.grad`` is δˡ after backward.
    """

    def __init__(self, sizes: Sequence[int], activation: str = "sigmoid", output_activation: str | None = None,
                 init: str = "normal", seed: int | None = None, dtype: Any = np.float64) -> None:
        self.sizes = _check_sizes(sizes)
        _check_choice("activation", activation, [k for k in ACTIVATIONS if k != "softmax"])
        _check_choice("output_activation", output_activation or activation, list(ACTIVATIONS))
        _check_choice("init", init, INITS)
        if np.dtype(dtype).kind != "f":
            raise TypeError(f"dtype must be a floating type, got {np.dtype(dtype)}")
        self.activation, self.output_activation, self.init = activation, output_activation or activation, init
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"seed must be a non-negative int or None, got {seed!r}")
        rng = np.random.default_rng(seed)
        self.layers = [Linear(n_in, n_out, init, rng, dtype) for n_in, n_out in zip(self.sizes, self.sizes[1:])]
        self._name_parameters()

    @property
    def weights(self) -> list[np.ndarray]:
        """The book's list of weight matrices wˡ (the arrays themselves), e.g. for `backprop.backprop`."""
        return [layer.weight.data for layer in self.layers]

    @property
    def biases(self) -> list[np.ndarray]:
        """The book's list of bias vectors bˡ (the arrays themselves)."""
        return [layer.bias.data for layer in self.layers]

    def config(self) -> dict[str, Any]:
        """The architecture as plain JSON-able data (saved beside the weights)."""
        return {"sizes": self.sizes, "activation": self.activation,
                "output_activation": self.output_activation, "init": self.init}

    def feedforward(self, x: Any) -> tuple[list[Value], list[Value]]:
        """Run the network, returning (zs, activations) with activations[0] the input (eq. 25).

        The nodes are named as in the book, whose input layer is layer 1: z2, a2, …, zL, aL.
        """
        a = self._input(x)
        zs, activations = [], [a]
        last = len(self.layers) - 1
        for l, layer in enumerate(self.layers):
            z = layer(a)
            if l == 0 and not np.isfinite(z.data[..., 0]).all():  # see _input
                self._check_finite(x)
            a = ACTIVATIONS[self.output_activation if l == last else self.activation](z)
            z.name, a.name = f"z{l + 2}", f"a{l + 2}"  # the book numbers the input layer 1
            zs.append(z)
            activations.append(a)
        return zs, activations

    def __call__(self, x: Any) -> Value:
        return self.feedforward(x)[1][-1]

    def predict(self, x: Any) -> np.ndarray:
        """The index of the most active output neuron for each example (the network's digit)."""
        with no_grad():
            return np.argmax(np.atleast_2d(self(x).data), axis=1)

    def accuracy(self, x: Any, labels: Any) -> float:
        """Fraction of examples whose prediction equals the label."""
        predictions, labels = self.predict(x), np.asarray(labels)
        if labels.shape != predictions.shape:
            raise ValueError(f"accuracy: labels have shape {labels.shape}, expected {predictions.shape} "
                             f"(one integer label per example)")
        return float(np.mean(predictions == labels))

    def _input(self, x: Any) -> Value:
        """The input as a constant Value in the network's dtype, its shape checked. Its values are checked
        for NaN/inf after the first layer, through one neuron's z = Σₖ xₖ wₖ + b per example: a NaN or inf
        xₖ makes that sum NaN or inf whatever wₖ is (inf·0 is NaN), so m numbers stand for the m × n_in of x;
        only when one is not finite is x searched (isfinite neither overflows nor warns on a large z)."""
        if not isinstance(x, Value):
            dtype = self.layers[0].weight.data.dtype
            if type(x) is np.ndarray and x.dtype == dtype:  # the common case: wrap without copying or checks
                x = _lift(x)
                x.name = "x"
            else:
                x = Value(x, requires_grad=False, name="x")
                if type(x.data) is not np.ndarray or x.data.dtype != dtype:  # a float32 network computes in float32
                    x.data = np.asarray(x.data, dtype=dtype)
        shape = x.shape
        if len(shape) not in (1, 2) or shape[-1] != self.sizes[0]:
            raise ValueError(f"MLP: input has shape {shape}, expected (m, {self.sizes[0]}) or ({self.sizes[0]},)")
        if len(shape) == 2 and shape[0] == 0:
            raise ValueError(f"MLP: input batch is empty (shape {shape})")
        return x

    @staticmethod
    def _check_finite(x: Value) -> None:
        if not np.all(np.isfinite(x.data)):
            raise ValueError(f"MLP: input contains NaN or inf (first at index "
                             f"{tuple(int(i) for i in np.argwhere(~np.isfinite(x.data))[0])})")


# ---- the scalar network: micrograd-style, one Value per weight ------------------------------------
class Neuron(Module):
    """One neuron: act(Σₖ wₖ xₖ + b) built from scalar Values, so its graph can be drawn weight by weight."""

    def __init__(self, weights: Sequence[float], bias: float, activation: str = "sigmoid") -> None:
        _check_choice("activation", activation, [k for k in ACTIVATIONS if k != "softmax"])
        self.weights = [Value(float(w)) for w in weights]
        self.bias = Value(float(bias))
        self.activation = activation

    def weighted_input(self, x: Sequence[Any]) -> Value:
        """z = Σₖ wₖ xₖ + b, before the activation."""
        if len(x) != len(self.weights):
            raise ValueError(f"Neuron: got {len(x)} inputs, expected {len(self.weights)}")
        z = self.bias
        for w, xk in zip(self.weights, x):
            z = z + w * xk
        return z

    def __call__(self, x: Sequence[Any]) -> Value:
        return ACTIVATIONS[self.activation](self.weighted_input(x))


class Layer(Module):
    """A list of neurons sharing the same inputs."""

    def __init__(self, neurons: Sequence[Neuron]) -> None:
        self.neurons = list(neurons)

    def __call__(self, x: Sequence[Any]) -> list[Value]:
        return [n(x) for n in self.neurons]


class ScalarMLP(Module):
    """The same network as `MLP`, one scalar Value per weight: slow, but every neuron shows in the graph.

    Given equal weights it computes the same outputs and gradients as `MLP` (see `from_mlp` / `to_mlp`).
    `net(x)` takes one example (a sequence of n_in numbers) and returns the list of output Values; each
    neuron's weighted input and activation are named as in the book (``z2_1``, ``a2_1`` for z²₁, a²₁).
    """

    def __init__(self, sizes: Sequence[int], activation: str = "sigmoid", output_activation: str | None = None,
                 init: str = "normal", seed: int | None = None) -> None:
        self._copy_weights_of(MLP(sizes, activation, output_activation, init, seed))

    @classmethod
    def from_mlp(cls, mlp: MLP) -> ScalarMLP:
        """A scalar copy of a tensor MLP, with the same weights."""
        net = cls.__new__(cls)
        net._copy_weights_of(mlp)
        return net

    def _copy_weights_of(self, mlp: MLP) -> None:
        if mlp.output_activation == "softmax":
            raise ValueError("ScalarMLP: a softmax output is available in the tensor MLP only")
        self.sizes, self.init = mlp.sizes, mlp.init
        self.activation, self.output_activation = mlp.activation, mlp.output_activation
        last = len(mlp.layers) - 1
        self.layers = [Layer([Neuron(layer.weight.data[j], layer.bias.data[j],
                                     self.output_activation if l == last else self.activation)
                              for j in range(layer.weight.shape[0])])
                       for l, layer in enumerate(mlp.layers)]
        self._name_parameters()

    def to_mlp(self) -> MLP:
        """A tensor MLP with this network's current weights."""
        mlp = MLP(self.sizes, self.activation, self.output_activation, self.init)
        for layer, tensor_layer in zip(self.layers, mlp.layers):
            tensor_layer.weight.data[...] = [[w.data for w in n.weights] for n in layer.neurons]
            tensor_layer.bias.data[...] = [n.bias.data for n in layer.neurons]
        return mlp

    def __call__(self, x: Sequence[Any]) -> list[Value]:
        if len(x) != self.sizes[0]:
            raise ValueError(f"ScalarMLP: got {len(x)} inputs, expected {self.sizes[0]}")
        a = list(x)
        for l, layer in enumerate(self.layers):
            outputs = []
            for j, neuron in enumerate(layer.neurons):  # named as in the book: z²₁ is 'z2_1', a²₁ is 'a2_1'
                z = neuron.weighted_input(a)
                out = ACTIVATIONS[neuron.activation](z)
                z.name, out.name = f"z{l + 2}_{j + 1}", f"a{l + 2}_{j + 1}"
                outputs.append(out)
            a = outputs
        return a


# ---- costs: each a single graph node whose backward is ∇ₐC (or δᴸ directly) ------------------------
COSTS = ("quadratic", "cross-entropy", "log-likelihood")


def _targets(a: Value, y: Any, cost: str) -> np.ndarray:
    """Targets as an array shaped like `a`: one-hot rows as given, or integer labels turned one-hot.

    A network with one sigmoid output neuron has no classes to label: its y (a number per example) is the
    target value itself, as in the book's quadratic cost ½‖y − a‖², so 0 means the target 0.0. (The
    log-likelihood cost is defined on classes: its y stays a label.)
    """
    if not isinstance(a, Value):
        raise TypeError(f"{cost}: the outputs must be a Value (the network's output), got {type(a).__name__}; "
                        f"for a ScalarMLP's list of outputs build the cost from its Values directly")
    y = np.asarray(y.data if isinstance(y, Value) else y)
    shape = a.shape
    if (len(shape) >= 1 and shape[-1] == 1 and y.shape == shape[:-1] and y.dtype.kind in "fiub"
            and cost != "log_likelihood_cost"):  # a softmax's targets are classes
        y = y.reshape(shape)  # one output neuron: y is its target value (0 means 0.0), never a class label
    if y.shape == shape and y.dtype.kind in "fiub":
        if y.dtype.kind == "f" and not math.isfinite(y.sum()) and not np.all(np.isfinite(y)):
            raise ValueError(f"{cost}: targets contain NaN or inf (first at index "
                             f"{tuple(int(i) for i in np.argwhere(~np.isfinite(y))[0])})")
        return y.astype(a.dtype, copy=False)
    if y.dtype.kind in "iu" and len(shape) >= 1 and y.shape == shape[:-1]:
        k = shape[-1]
        if y.size and np.minimum.reduce(y, axis=None) >= 0:
            try:
                return _identity(k, a.dtype).take(y, axis=0)  # row y of the identity: the one-hot target
            except IndexError:
                pass
        labels = y.reshape(-1)
        bad = labels[(labels < 0) | (labels >= k)]
        if bad.size:
            raise ValueError(f"{cost}: label {bad[0]} is out of range for {k} output neurons")
        return np.zeros(shape, dtype=a.dtype)  # no examples
    raise ValueError(f"{cost}: targets of shape {y.shape} (dtype {y.dtype}) do not match outputs of shape {shape}; "
                     f"expected {shape} (one-hot) or {shape[:-1]} (integer labels)")


_IDENTITIES: dict[tuple[int, np.dtype], np.ndarray] = {}


def _identity(k: int, dtype: np.dtype) -> np.ndarray:
    """The k × k identity in `dtype`, made once (its rows are the one-hot targets)."""
    eye = _IDENTITIES.get((k, dtype))
    if eye is None:
        eye = _IDENTITIES[(k, dtype)] = np.eye(k, dtype=dtype)
    return eye


def _target_input(y: Any) -> Value | None:
    """A target Value that requires a gradient becomes the cost node's second input (else None: a constant)."""
    return y if isinstance(y, Value) and y.requires_grad else None


def _target_grad(out: Value, slope: Callable[[], Any], g: Any) -> None:
    """Add ∂C/∂y = slope() · g/m into the target, when it is an input that requires a gradient."""
    y = out._b
    if y is not None and y.requires_grad:
        _accumulate(y, slope() * (g / _batch_size(out._a)))


def _target_tangent(out: Value, slope: Callable[[], Any], ty: Any) -> float:
    """The target's part of a cost's tangent: Σ slope() · ty / m (0 without a tangent for y)."""
    return 0.0 if ty is None else float(np.vdot(slope(), ty)) / _batch_size(out._a)


def _batch_size(a: Value) -> int:
    d = a.data
    return d.shape[0] if type(d) is np.ndarray and d.ndim == 2 else 1


def _check_batch(a: Value, cost: str) -> int:
    m = _batch_size(a)
    if m == 0 or a.size == 0:
        raise ValueError(f"{cost}: the mini-batch is empty (outputs of shape {a.shape})")
    return m


def quadratic_cost(a: Value, y: Any) -> Value:
    """C = 1/(2m) Σₓ ‖y(x) − aᴸ(x)‖² (eq. 6, averaged over the mini-batch); its gradient is (aᴸ − y)/m
    (and (y − aᴸ)/m for a target Value that requires a gradient)."""
    target = _target_input(y)
    y = _targets(a, y, "quadratic_cost")
    m = _check_batch(a, "quadratic_cost")
    diff = a.data - y
    return _node(0.5 / m * float(np.vdot(diff, diff)), _quadratic_rule, a, target, ctx=(diff, y))


def _quadratic_rule(out: Value, g: Any) -> None:
    if out._a.requires_grad: _accumulate(out._a, out._ctx[0] * (g / _batch_size(out._a)))  # ∇ₐC, BP1's first factor
    _target_grad(out, lambda: -out._ctx[0], g)  # ∂C/∂y = −∇ₐC


@_graph(_quadratic_rule)
def _quadratic_graph(out: Value, g: Value) -> None:
    a = out._a
    diff = a - (out._ctx[1] if out._b is None else out._b)
    if a.requires_grad: _accumulate(a, diff * (g / _batch_size(a)))
    _target_grad(out, lambda: -diff, g)


@_tangent(_quadratic_rule)
def _quadratic_tangent(out: Value, ta: Any, ty: Any = None) -> float:
    return _target_tangent(out, lambda: out._ctx[0], ta) + _target_tangent(out, lambda: -out._ctx[0], ty)


def cross_entropy_cost(a: Value, y: Any) -> Value:
    """C = −1/m Σₓ Σⱼ [yⱼ ln aⱼ + (1 − yⱼ) ln(1 − aⱼ)] (eq. 63) for sigmoid outputs.

    When `a` is σ(zᴸ) the cost is computed from zᴸ as Σ [softplus(z) − y z], which stays finite when a
    neuron saturates, and the gradient flows straight to zᴸ as δᴸ = aᴸ − y (eq. 66). Given only `a`
    (e.g. under `no_grad`), ln is taken at no less than the smallest positive float: finite, but a
    saturated wrong neuron then costs at most ≈ 708 instead of its exact value.
    """
    target = _target_input(y)  # ∂C/∂y = −(ln a − ln(1 − a))/m = −zᴸ/m
    y = _targets(a, y, "cross_entropy_cost")
    m = _check_batch(a, "cross_entropy_cost")
    if a._rule is Value._sigmoid_rule:
        z = a._a.data
        softplus = np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))
        return _node(float(np.sum(softplus - y * z)) / m, _output_delta_rule, a._a, target, ctx=(a, y))
    p = np.asarray(a.data)
    tiny = np.finfo(p.dtype).tiny
    value = -np.sum(y * np.log(np.maximum(p, tiny)) + (1 - y) * np.log(np.maximum(1 - p, tiny))) / m
    return _node(float(value), _cross_entropy_rule, a, target, ctx=y)


def _log_output(out: Value, z: Value) -> Value:
    """−∂C/∂y·m for the costs from zᴸ: ln a − ln(1 − a) = zᴸ for σ, ln a = log_softmax(zᴸ) for softmax."""
    return z if out._ctx[0]._rule is Value._sigmoid_rule else z.log_softmax(axis=-1)


def _delta(out: Value, a: Any, y: Any) -> Any:
    """δᴸ = aᴸ − y (eq. 66, 84); for softmax aᴸ Σⱼyⱼ − y, the same for targets that sum to 1, exact for any.
    a and y are arrays, or Values for create_graph."""
    if out._ctx[0]._rule is Value._sigmoid_rule:
        return a - y
    return a * y.sum(-1, keepdims=True) - y


def _output_delta_rule(out: Value, g: Any) -> None:  # for σ with cross-entropy and softmax with log-likelihood
    a, y = out._ctx  # a is the σ(zᴸ) or softmax(zᴸ) node
    _accumulate(out._a, _delta(out, a.data, y) * (g / _batch_size(out._a)))  # δᴸ
    _target_grad(out, lambda: -_log_output(out, out._a.detach()).data, g)


@_graph(_output_delta_rule)
def _output_delta_graph(out: Value, g: Value) -> None:  # through the node a = σ(zᴸ): ∂δᴸ/∂zᴸ = σ′(zᴸ)
    a, y = out._ctx
    _accumulate(out._a, _delta(out, a, y if out._b is None else out._b) * (g / _batch_size(out._a)))
    _target_grad(out, lambda: -_log_output(out, out._a), g)


@_tangent(_output_delta_rule)
def _output_delta_tangent(out: Value, tz: Any, ty: Any = None) -> float:
    a, y = out._ctx
    return (_target_tangent(out, lambda: _delta(out, a.data, y), tz)
            + _target_tangent(out, lambda: -_log_output(out, out._a.detach()).data, ty))


def _cross_entropy_slope(out: Value) -> np.ndarray:
    """∂C_x/∂a = (a − y)/(a(1 − a)), the curvature floored like the logs in the cost."""
    a, y = out._a.data, out._ctx
    return (a - y) / np.maximum(a * (1 - a), np.finfo(a.dtype).tiny)


def _cross_entropy_target_slope(out: Value) -> np.ndarray:
    """∂C_x/∂y = −(ln a − ln(1 − a)), with the logs floored as in the cost."""
    a = out._a.data
    tiny = np.finfo(a.dtype).tiny
    return np.log(np.maximum(1 - a, tiny)) - np.log(np.maximum(a, tiny))


def _cross_entropy_rule(out: Value, g: Any) -> None:
    if out._a.requires_grad: _accumulate(out._a, _cross_entropy_slope(out) * (g / _batch_size(out._a)))
    _target_grad(out, lambda: _cross_entropy_target_slope(out), g)


@_graph(_cross_entropy_rule)
def _cross_entropy_graph(out: Value, g: Value) -> None:  # without the floor: exact where a(1 − a) > 0
    a, y = out._a, (out._ctx if out._b is None else out._b)
    if a.requires_grad: _accumulate(a, (a - y) / (a * (1.0 - a)) * (g / _batch_size(a)))
    _target_grad(out, lambda: (1.0 - a).log() - a.log(), g)


@_tangent(_cross_entropy_rule)
def _cross_entropy_tangent(out: Value, ta: Any, ty: Any = None) -> float:
    return (_target_tangent(out, lambda: _cross_entropy_slope(out), ta)
            + _target_tangent(out, lambda: _cross_entropy_target_slope(out), ty))


def log_likelihood_cost(a: Value, y: Any) -> Value:
    """C = −1/m Σₓ ln aᴸ_y(x) (eq. 80) for softmax outputs; from zᴸ when `a` is softmax(zᴸ): δᴸ = aᴸ − y."""
    target = _target_input(y)  # ∂C/∂y = −ln aᴸ/m
    y = _targets(a, y, "log_likelihood_cost")
    m = _check_batch(a, "log_likelihood_cost")
    if a._rule is Value._softmax_rule and a._ctx == a.data.ndim - 1:  # a softmax over the output neurons
        z = a._a.data
        shifted = z - z.max(axis=-1, keepdims=True)
        log_a = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        return _node(-float(np.sum(y * log_a)) / m, _output_delta_rule, a._a, target, ctx=(a, y))
    p = np.asarray(a.data)
    value = -np.sum(y * np.log(np.maximum(p, np.finfo(p.dtype).tiny))) / m
    return _node(float(value), _log_likelihood_rule, a, target, ctx=y)


def _log_likelihood_slope(out: Value) -> np.ndarray:
    """∂C_x/∂a = −y/a, with a floored like the log in the cost."""
    a = out._a.data
    return -out._ctx / np.maximum(a, np.finfo(a.dtype).tiny)


def _log_likelihood_target_slope(out: Value) -> np.ndarray:
    """∂C_x/∂y = −ln a, with a floored as in the cost."""
    a = out._a.data
    return -np.log(np.maximum(a, np.finfo(a.dtype).tiny))


def _log_likelihood_rule(out: Value, g: Any) -> None:
    if out._a.requires_grad: _accumulate(out._a, _log_likelihood_slope(out) * (g / _batch_size(out._a)))
    _target_grad(out, lambda: _log_likelihood_target_slope(out), g)


@_graph(_log_likelihood_rule)
def _log_likelihood_graph(out: Value, g: Value) -> None:  # without the floor: exact where a > 0
    a = out._a
    if a.requires_grad: _accumulate(a, -(out._ctx if out._b is None else out._b) / a * (g / _batch_size(a)))
    _target_grad(out, lambda: -a.log(), g)


@_tangent(_log_likelihood_rule)
def _log_likelihood_tangent(out: Value, ta: Any, ty: Any = None) -> float:
    return (_target_tangent(out, lambda: _log_likelihood_slope(out), ta)
            + _target_tangent(out, lambda: _log_likelihood_target_slope(out), ty))


_quadratic_rule.symbol = "quadratic cost"
_output_delta_rule.symbol = "cost (from zᴸ)"
_cross_entropy_rule.symbol = "cross-entropy"
_log_likelihood_rule.symbol = "log-likelihood"


def cost_function(name: str) -> Callable[[Value, Any], Value]:
    """The cost function called `name` (one of COSTS)."""
    _check_choice("cost", name, COSTS)
    return {"quadratic": quadratic_cost, "cross-entropy": cross_entropy_cost,
            "log-likelihood": log_likelihood_cost}[name]

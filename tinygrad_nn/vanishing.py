"""Chapter 5, the vanishing gradient: how fast each layer learns, and why the early layers learn slowly.

`learning_speeds(net, x, y)` is the book's measure of a layer's speed of learning: ‖∂C/∂bˡ‖, the length of
the gradient of the cost over the whole given set (its `generate_gradient.py` uses the first 1,000 training
images). `chain_gradient(net, x, y)` is the chapter's explanation, for a chain of one neuron per layer:
∂C/∂bˡ = σ′(zˡ) wˡ⁺¹ σ′(zˡ⁺¹) … wᴸ σ′(zᴸ) ∂C/∂aᴸ, a product of factors each usually below ¼ in size.
Layers are numbered as in the book and the rest of the package: the input is layer 1, so l = 2 … L.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from .backprop import sigmoid, sigmoid_prime
from .engine import enable_grad
from .nn import MLP, cost_function

__all__ = ["ChainGradient", "chain_gradient", "learning_speeds"]

_CHUNK = 4096  # examples per forward/backward pass: bounds the memory of a full-set gradient


def learning_speeds(net: MLP, x: Any, y: Any, cost: str = "quadratic") -> dict[int, float]:
    """{l: ‖∂C/∂bˡ‖} for l = 2 … L, with C the mean cost over all of (x, y): the book's speed of learning.

    One gradient of the whole set (in chunks of a few thousand examples, summed exactly as the mean's
    parts), not a mean over mini-batches. The network's own `.grad`s are left as they were.
    """
    if not isinstance(net, MLP):
        raise TypeError(f"learning_speeds: expected an MLP, got {type(net).__name__}")
    cost_fn = cost_function(cost)
    x = np.asarray(x, dtype=net.layers[0].weight.dtype)
    y = np.asarray(y)
    m = 1 if x.ndim == 1 else x.shape[0]
    if x.ndim == 2 and y.shape[:1] != (m,):
        raise ValueError(f"learning_speeds: x holds {m} examples but y has shape {y.shape}, one target per example "
                         f"expected")
    if m == 0:
        raise ValueError(f"learning_speeds: the set is empty (x of shape {x.shape})")
    biases = [layer.bias for layer in net.layers]
    total = [np.zeros(b.shape) for b in biases]
    with _keeping_grads(net):
        for start in range(0, m, _CHUNK) if x.ndim == 2 else [None]:
            part = slice(start, start + _CHUNK) if start is not None else slice(None)
            xs, ys = (x[part], y[part]) if start is not None else (x, y)
            net.zero_grad()
            cost_fn(net(xs), ys).backward()
            for k, b in enumerate(biases):  # ∂C/∂bˡ = Σ_chunks (m_chunk/m) ∂C_chunk/∂bˡ  (BP3)
                total[k] += (len(xs) / m if start is not None else 1.0) * b.grad
    return {l: float(np.sqrt(np.dot(g, g))) for l, g in enumerate(total, start=2)}


@contextmanager
def _keeping_grads(net: MLP) -> Iterator[None]:
    """Run a backward pass of our own (even under no_grad) and give the network back its `.grad`s as they were."""
    saved = [p.grad for p in net.parameters()]
    try:
        with enable_grad():
            yield
    finally:
        for p, g in zip(net.parameters(), saved):
            p.grad = g


@dataclass
class ChainGradient:
    """∂C/∂bˡ of a chain network two ways: the chapter-5 product of its factors, and the engine's backward.

    ``sigma_prime[l]`` = σ′(zˡ), ``weights[l]`` = wˡ (a number for l > 2), ``dC_da`` = ∂C/∂aᴸ;
    ``product[l]`` = σ′(zˡ) wˡ⁺¹ σ′(zˡ⁺¹) … wᴸ σ′(zᴸ) ∂C/∂aᴸ in float64; ``engine[l]`` = the engine's ∂C/∂bˡ.
    """
    sigma_prime: dict[int, float]
    weights: dict[int, float]
    dC_da: float
    product: dict[int, float]
    engine: dict[int, float]

    def __str__(self) -> str:
        last = max(self.product)
        lines = []
        for l in sorted(self.product):
            terms = [f"σ′(z{_sup(l)})"] + [f"w{_sup(k)} σ′(z{_sup(k)})" for k in range(l + 1, last + 1)]
            values = [_factor(self.sigma_prime[l])] + [f"{_factor(self.weights[k])} × {_factor(self.sigma_prime[k])}"
                                                       for k in range(l + 1, last + 1)]
            lines.append(f"∂C/∂b{_sup(l)} = {' '.join(terms)} ∂C/∂a{_sup(last)} = {' × '.join(values)} × "
                         f"{_factor(self.dC_da)} = {self.product[l]:.6e}   engine: {self.engine[l]:.6e}")
        return "\n".join(lines)


_SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def _factor(v: float) -> str:
    return f"({v:.4g})" if v < 0 else f"{v:.4g}"


def _sup(l: int) -> str:
    return str(l).translate(_SUPERSCRIPTS)


def chain_gradient(net: MLP, x: Any, y: float, cost: str = "quadratic") -> ChainGradient:
    """Chapter 5's chain: for a sigmoid network of one neuron per layer ([n_in, 1, 1, …, 1]) and one example,
    every ∂C/∂bˡ as the product of its factors, beside the engine's gradient of the same cost.

    `y` is the target value of the one output neuron; `cost` is "quadratic" (∂C/∂aᴸ = aᴸ − y) or
    "cross-entropy" (∂C/∂aᴸ = (aᴸ − y)/(aᴸ(1 − aᴸ))).
    """
    if not isinstance(net, MLP):
        raise TypeError(f"chain_gradient: expected an MLP, got {type(net).__name__}")
    if any(n != 1 for n in net.sizes[1:]) or net.activation != "sigmoid" or net.output_activation != "sigmoid":
        raise ValueError(f"chain_gradient: needs a sigmoid chain of one neuron per layer, [n_in, 1, …, 1]; "
                         f"got sizes {net.sizes} with {net.activation}/{net.output_activation} neurons")
    if cost not in ("quadratic", "cross-entropy"):
        raise ValueError(f"chain_gradient: cost must be 'quadratic' or 'cross-entropy', got {cost!r}")
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if x.shape != (net.sizes[0],):
        raise ValueError(f"chain_gradient: one example of {net.sizes[0]} inputs expected, got shape {x.shape}")
    if isinstance(y, bool) or not isinstance(y, (int, float, np.integer, np.floating)) or not np.isfinite(y):
        raise ValueError(f"chain_gradient: the target must be one finite number, got {y!r}")
    ws = [w.astype(np.float64) for w in net.weights]
    bs = [b.astype(np.float64) for b in net.biases]
    last = len(ws) + 1
    sigma_prime, weights, a = {}, {}, x
    for l, (w, b) in enumerate(zip(ws, bs), start=2):
        z = float((w @ a + b)[0])  # zˡ = wˡ aˡ⁻¹ + bˡ
        sigma_prime[l], weights[l] = float(sigmoid_prime(z)), float(w[0, 0]) if w.size == 1 else float("nan")
        a = np.array([float(sigmoid(z))])
    out = float(a[0])
    dC_da = out - y if cost == "quadratic" else (out - y) / (out * (1 - out))
    product, running = {}, dC_da
    for l in range(last, 1, -1):  # ∂C/∂bˡ = σ′(zˡ) wˡ⁺¹ ∂C/∂bˡ⁺¹ … the chain, from the output back
        running = running * sigma_prime[l] if l == last else running * weights[l + 1] * sigma_prime[l]
        product[l] = running
    with _keeping_grads(net):
        net.zero_grad()
        cost_function(cost)(net(x.astype(net.layers[0].weight.dtype)), y).backward()
        engine = {l: float(layer.bias.grad[0]) for l, layer in enumerate(net.layers, start=2)}
    return ChainGradient(sigma_prime, weights, dC_da, dict(sorted(product.items())), engine)

"""Closed-form backpropagation (Nielsen, *Neural Networks and Deep Learning*, ch. 2), numpy only.

This module is the hand-written reference the autodiff engine is cross-checked against and the
baseline of the speed benchmarks, so it imports nothing from ``tinygrad_nn`` and does everything
in matrix form over the whole mini-batch (one Python loop over layers, none over examples).

Layout: ``weights[l]`` has shape (n_out, n_in) (the book's wˡⱼₖ), ``biases[l]`` shape (n_out,),
and a mini-batch ``x`` has shape (m, n_in), one row per example. Rows of every array below are
examples, so the book's column equations appear transposed:

    zˡ = aˡ⁻¹ @ (wˡ)ᵀ + bˡ,   aˡ = σ(zˡ)                          (shape (m, n_out))

    BP1   δᴸ = ∇ₐC_x ⊙ σ′(zᴸ)           quadratic:      δᴸ = (aᴸ − y) ⊙ σ′(zᴸ)   (eq. 30)
                                      cross-entropy:  δᴸ = aᴸ − y              (ch. 3, eq. 66)
                                      log-likelihood, softmax output aᴸ = softmax(zᴸ):
                                                      δᴸ = aᴸ − y              (ch. 3, eq. 84)
    BP2   δˡ = ((wˡ⁺¹)ᵀ δˡ⁺¹) ⊙ σ′(zˡ)   rows:  δˡ = (δˡ⁺¹ @ wˡ⁺¹) ⊙ σ′(zˡ)
    BP3   ∂C/∂bˡ = mean over the batch of δˡ
    BP4   ∂C/∂wˡ = (δˡ)ᵀ @ aˡ⁻¹ / m        (the batch mean of the outer products δˡ_x (aˡ⁻¹_x)ᵀ)

Convention: δˡ_x = ∂C_x/∂zˡ is per example (each example's own cost C_x), while ∇b and ∇w are
gradients of the mini-batch MEAN cost C = (1/m) Σₓ C_x, which is what SGD steps along (eq. 20).

Underflow to 0 (σ(−1000), σ′ of saturated neurons) is the rounded exact answer and stays silent
even under ``np.errstate(all="raise")``; σ, σ′ and both costs cannot overflow for any finite zᴸ.

dtype: the computation runs in numpy's promotion of the inputs; all-float32 inputs give float32
everywhere (Python scalars are "weak" under NEP 50 and never upcast), float64 stays float64.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["COSTS", "Gradients", "backprop", "cost_value", "feedforward", "sigmoid", "sigmoid_prime"]

COSTS: tuple[str, ...] = ("quadratic", "cross-entropy", "log-likelihood")
"""The cost functions `backprop` knows: C_x = ½‖y − aᴸ‖², C_x = −Σⱼ[yⱼ ln aⱼ + (1−yⱼ) ln(1−aⱼ)] (both with
sigmoid outputs) and C_x = −ln aᴸ_y with a softmax output layer (ch. 3)."""


# ---------------------------------------------------------------------------------------------
# The logistic function
# ---------------------------------------------------------------------------------------------

def _underflow_ok() -> np.errstate:
    # e^(−1000) → 0 (and σ, σ′, δ → 0 for saturated neurons) is the exact answer rounded, not an
    # error: keep it silent even under np.errstate(all="raise"). Overflow/invalid/divide keep the
    # caller's settings.
    return np.errstate(under="ignore")


def _float_array(z: object) -> np.ndarray:
    z = np.asarray(z)
    return z if z.dtype.kind == "f" else z.astype(np.float64)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # e = exp(−|z|) ∈ [0, 1] never overflows; σ(z) = 1/(1+e) for z ≥ 0 and e/(1+e) for z < 0, done
    # as one division with the numerator picked by sign. Against extended precision: ≤ 2.1 ulp
    # (mean 0.28) in float64, ≤ 3.2 ulp in float32; np.exp(-np.logaddexp(0, -z)) is 32 ulp and
    # 3.5-4.5× slower on a (128, 100) batch.
    e = np.abs(z)
    np.negative(e, out=e)
    np.exp(e, out=e)
    d = e + 1.0
    return np.divide(np.where(z >= 0, 1.0, e), d, out=d)


def sigmoid(z: np.ndarray | float) -> np.ndarray:
    """The logistic σ(z) = 1/(1 + e^(−z)), elementwise.

    Written as exp(−|z|) divided by 1 + exp(−|z|) with the numerator chosen by sign, so nothing
    overflows (z = ±1000 raises no warning, where 1/(1 + e^(−z)) overflows e^1000) and both tails
    keep their relative precision, down to subnormals: σ(−720) = e^(−720) ≈ 1.7e-313, which the
    naive form loses to inf. Non-float input is computed in float64.
    """
    z = _float_array(z)
    with _underflow_ok():
        return _sigmoid(z) if z.ndim else _sigmoid(z.reshape(1))[0]


def sigmoid_prime(z: np.ndarray | float) -> np.ndarray:
    """σ′(z) = σ(z)(1 − σ(z)), elementwise.

    Computed as e/(1 + e)² with e = exp(−|z|) (σ′ is even), which is the same function but keeps
    its relative precision for saturated neurons, where 1 − σ(z) would round to 0. `backprop`
    itself uses σ′ = a(1 − a) with the forward pass's a = σ(z), as the book does; the two agree
    to within ~1e-16 absolute.
    """
    z = _float_array(z)
    with _underflow_ok():
        e = np.abs(z if z.ndim else z.reshape(1))
        np.negative(e, out=e)
        np.exp(e, out=e)
        d = e + 1.0
        e /= d
        e /= d
    return e if z.ndim else e[0]


# ---------------------------------------------------------------------------------------------
# Validation (shape comparisons only)
# ---------------------------------------------------------------------------------------------

def _check_network(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray]
                   ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    if not isinstance(weights, (list, tuple)) or not isinstance(biases, (list, tuple)):
        raise TypeError(f"weights and biases must be lists of arrays, got {type(weights).__name__} "
                        f"and {type(biases).__name__}")
    if len(weights) != len(biases):
        raise ValueError(f"got {len(weights)} weight matrices but {len(biases)} bias vectors; "
                         "the network needs one (weights[l], biases[l]) pair per layer")
    if len(weights) == 0:
        raise ValueError("the network has no layers: weights and biases are empty")
    ws = [np.asarray(w) for w in weights]
    bs = [np.asarray(b) for b in biases]
    for l, (w, b) in enumerate(zip(ws, bs)):
        for name, arr in (("weights", w), ("biases", b)):
            if arr.dtype.kind not in "fiu":
                raise TypeError(f"layer {l}: {name}[{l}] has dtype {arr.dtype}; expected real numbers")
        if w.ndim != 2:
            raise ValueError(f"layer {l}: weights[{l}] has shape {w.shape}; expected a 2-D "
                             "(n_out, n_in) matrix")
        if b.shape != (w.shape[0],):
            raise ValueError(f"layer {l}: biases[{l}] has shape {b.shape} but weights[{l}] has "
                             f"shape {w.shape}, so it must have shape (n_out,) = ({w.shape[0]},)")
        if l > 0 and w.shape[1] != ws[l - 1].shape[0]:
            raise ValueError(f"layer {l}: weights[{l}] has shape {w.shape} (n_in = {w.shape[1]}) "
                             f"but layer {l - 1} outputs n_out = {ws[l - 1].shape[0]} "
                             f"(weights[{l - 1}] has shape {ws[l - 1].shape})")
    return ws, bs


def _check_input(x: np.ndarray, w0: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[np.newaxis, :]  # one example → a batch of one (a view, no copy)
    if x.ndim != 2 or x.shape[1] != w0.shape[1]:
        raise ValueError(f"layer 0: x has shape {x.shape} but weights[0] has shape {w0.shape}, "
                         f"so x must have shape (m, n_in) = (m, {w0.shape[1]}) or ({w0.shape[1]},)")
    if x.shape[0] == 0:
        raise ValueError(f"x has shape {x.shape}: the mini-batch has no examples")
    if x.dtype.kind not in "fiub":
        raise TypeError(f"x has dtype {x.dtype}; expected real numbers")
    if x.dtype.kind == "f" and not np.isfinite(x.sum()) and not np.all(np.isfinite(x)):  # one cheap sum first
        raise ValueError(f"x contains NaN or inf (first at index {tuple(np.argwhere(~np.isfinite(x))[0])})")
    if x.dtype.kind != "f":
        # Integer pixels etc.: compute in the weights' float dtype rather than promoting to float64.
        x = x.astype(w0.dtype if w0.dtype.kind == "f" else np.float64)
    return x


def _check_cost(cost: str) -> None:
    if cost not in COSTS:
        raise ValueError(f"unknown cost {cost!r}; valid costs are {', '.join(map(repr, COSTS))}")


def _targets(y: np.ndarray, m: int, n_out: int, layer: int, dtype: np.dtype, values: bool = True) -> np.ndarray:
    """y as an (m, n_out) array of `dtype`: one-hot rows pass through, integer labels are expanded; for one
    output neuron (`values`: a sigmoid output, not a softmax over classes), y (a number per example) is the
    target value itself."""
    y = np.asarray(y)
    if values and n_out == 1 and y.shape in ((m,), () if m == 1 else (m,)) and y.dtype.kind in "fiub":  # one output neuron: y is its
        return y.reshape(m, 1).astype(dtype)  # target value (0 means 0.0), never a class label
    if y.dtype.kind in "iu" and y.ndim <= 1:
        labels = y.reshape(-1)
        if labels.shape != (m,):
            raise ValueError(f"layer {layer} (output): integer labels y have shape {y.shape} but "
                             f"x holds m = {m} examples, so y must have shape ({m},)")
        lo, hi = labels.min(), labels.max()
        if lo < 0 or hi >= n_out:
            raise ValueError(f"layer {layer} (output): labels y must lie in [0, {n_out}) for "
                             f"n_out = {n_out}, got values in [{lo}, {hi}] (y shape {y.shape})")
        onehot = np.zeros((m, n_out), dtype=dtype)
        onehot[np.arange(m), labels] = 1
        return onehot
    yy = y[np.newaxis, :] if y.ndim == 1 else y  # a single one-hot row
    if yy.shape != (m, n_out):
        raise ValueError(f"layer {layer} (output): y has shape {y.shape} but the output a^L has "
                         f"shape (m, n_out) = ({m}, {n_out}); pass one-hot targets of that shape "
                         f"or integer labels of shape ({m},)")
    return yy.astype(dtype, copy=False)


# ---------------------------------------------------------------------------------------------
# Forward pass, cost, and BP1–BP4
# ---------------------------------------------------------------------------------------------

def _softmax(z: np.ndarray) -> np.ndarray:
    """aᴸⱼ = e^(zᴸⱼ) / Σₖ e^(zᴸₖ) per row (eq. 78), shifted by the row's max so nothing overflows."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    e /= e.sum(axis=1, keepdims=True)
    return e


def _forward(ws: list[np.ndarray], bs: list[np.ndarray], x: np.ndarray, softmax_output: bool = False
             ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    zs: list[np.ndarray] = []
    activations: list[np.ndarray] = [x]
    a = x
    for l, (w, b) in enumerate(zip(ws, bs)):
        z = a @ w.T  # zˡ = aˡ⁻¹ (wˡ)ᵀ + bˡ  (eq. 25, row layout)
        z += b
        a = _softmax(z) if softmax_output and l == len(ws) - 1 else _sigmoid(z)  # aˡ = σ(zˡ)
        zs.append(z)
        activations.append(a)
    return zs, activations


def feedforward(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], x: np.ndarray
                ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Run the book's all-sigmoid network on a mini-batch and keep what backprop needs.

    Returns ``(zs, activations)``: ``zs[l]`` is the weighted input zˡ of layer l, shape (m, n_out),
    and ``activations[l + 1] = σ(zs[l])``; ``activations[0]`` is x itself (not copied; a 1-D x of
    shape (n_in,) is one example, viewed as (1, n_in)).
    """
    ws, bs = _check_network(weights, biases)
    x = _check_input(x, ws[0])
    with _underflow_ok():
        return _forward(ws, bs, x)


def _quadratic_cost(diff: np.ndarray) -> float:
    """C = (1/m) Σₓ ½‖aᴸ_x − y_x‖² from diff = aᴸ − y (shared with BP1, so computed once)."""
    d = diff.ravel()
    return float(0.5 * np.dot(d, d) / diff.shape[0])


def _cross_entropy_cost(z: np.ndarray, y: np.ndarray) -> float:
    """C = (1/m) Σₓ C_x for the cross-entropy cost, computed from zᴸ rather than from log(aᴸ).

    −[y ln σ(z) + (1−y) ln(1−σ(z))] = softplus(z) − y z with softplus(z) = max(z, 0) +
    log1p(e^(−|z|)): every term is ≥ 0 for y ∈ [0, 1], and for 0/1 targets max(z, 0) − y z is
    exact, so saturated neurons give neither inf/NaN nor cancellation.
    """
    t = np.abs(z)
    np.negative(t, out=t)
    np.exp(t, out=t)
    np.log1p(t, out=t)
    u = np.maximum(z, 0)
    u -= y * z  # max(z, 0) − y z first: exact 0 for a confidently right 0/1 target, so the tiny
    t += u      # log1p term is not absorbed into a large max(z, 0) and then cancelled away
    return float(t.sum() / z.shape[0])


def _log_likelihood_cost(z: np.ndarray, y: np.ndarray) -> float:
    """C = −(1/m) Σₓ Σⱼ yⱼ ln aᴸⱼ with aᴸ = softmax(zᴸ), from zᴸ: ln aⱼ = zⱼ − max z − ln Σₖ e^(zₖ − max z)."""
    shifted = z - z.max(axis=1, keepdims=True)
    log_a = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-(y * log_a).sum() / z.shape[0])


def _mean_cost(z: np.ndarray, a: np.ndarray, y: np.ndarray, cost: str) -> float:
    """C = (1/m) Σₓ C_x for output weighted input z = zᴸ, activation a = σ(z) (or softmax(z)), targets y."""
    if cost == "log-likelihood":
        return _log_likelihood_cost(z, y)
    return _quadratic_cost(a - y) if cost == "quadratic" else _cross_entropy_cost(z, y)


def cost_value(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], x: np.ndarray,
               y: np.ndarray, cost: str = "quadratic") -> float:
    """The mini-batch mean cost C = (1/m) Σₓ C_x of the network on (x, y) — the C that
    `backprop`'s nabla_b / nabla_w differentiate (handy for finite differences and cross-checks).
    """
    _check_cost(cost)
    ws, bs = _check_network(weights, biases)
    x = _check_input(x, ws[0])
    with _underflow_ok():
        zs, activations = _forward(ws, bs, x, cost == "log-likelihood")
    y = _targets(y, x.shape[0], ws[-1].shape[0], len(ws) - 1, activations[-1].dtype, cost != "log-likelihood")
    with _underflow_ok():
        return _mean_cost(zs[-1], activations[-1], y, cost)


@dataclass
class Gradients:
    """Everything one backward pass produces, named as in the book (all lists indexed by layer l).

    ``deltas[l]`` (m, n_out): δˡ per example, δˡ_x = ∂C_x/∂zˡ of that example's own cost.
    ``nabla_b[l]`` (n_out,) and ``nabla_w[l]`` (n_out, n_in): ∂C/∂bˡ and ∂C/∂wˡ of the
    mini-batch MEAN cost C. ``zs``/``activations`` are the forward pass (see `feedforward`) and
    ``cost`` is the value of C.
    """

    deltas: list[np.ndarray]
    nabla_b: list[np.ndarray]
    nabla_w: list[np.ndarray]
    zs: list[np.ndarray]
    activations: list[np.ndarray]
    cost: float


def backprop(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], x: np.ndarray,
             y: np.ndarray, cost: str = "quadratic") -> Gradients:
    """The gradient of the mini-batch mean cost by the closed-form equations BP1–BP4.

    ``x`` is (m, n_in) (or one example (n_in,)); ``y`` is one-hot (m, n_L) or integer labels (m,).
    ``cost`` is ``"quadratic"`` (C_x = ½‖y − aᴸ‖²), ``"cross-entropy"`` or ``"log-likelihood"`` (then the
    output layer is a softmax, aᴸ = softmax(zᴸ), and C_x = −ln aᴸ_y). Vectorized over the
    batch; σ′(zˡ) is taken as aˡ(1 − aˡ) from the forward pass, so no exp is recomputed.
    """
    _check_cost(cost)
    ws, bs = _check_network(weights, biases)
    x = _check_input(x, ws[0])
    with _underflow_ok():
        return _backprop(ws, bs, x, y, cost)


def _backprop(ws: list[np.ndarray], bs: list[np.ndarray], x: np.ndarray, y: np.ndarray,
              cost: str) -> Gradients:
    zs, activations = _forward(ws, bs, x, cost == "log-likelihood")
    m = x.shape[0]
    n_layers = len(ws)
    a_out = activations[-1]
    y = _targets(y, m, ws[-1].shape[0], n_layers - 1, a_out.dtype, cost != "log-likelihood")

    delta = a_out - y  # BP1: ∇ₐC_x = aᴸ − y (eq. 30); for cross-entropy (eq. 66) and softmax with
    if cost == "quadratic":  # log-likelihood (eq. 84) this IS δᴸ
        cost_val = _quadratic_cost(delta)
        sp = 1.0 - a_out  # BP1: σ′(zᴸ) = aᴸ(1 − aᴸ)
        sp *= a_out  # BP1
        delta *= sp  # BP1: δᴸ = (aᴸ − y) ⊙ σ′(zᴸ)
    else:
        cost_val = _mean_cost(zs[-1], a_out, y, cost)

    inv_m = 1.0 / m
    deltas: list[np.ndarray] = []
    nabla_b: list[np.ndarray] = []
    nabla_w: list[np.ndarray] = []
    for l in range(n_layers - 1, -1, -1):
        if l < n_layers - 1:
            delta = delta @ ws[l + 1]  # BP2: (wˡ⁺¹)ᵀ δˡ⁺¹, in rows δˡ⁺¹ @ wˡ⁺¹
            a = activations[l + 1]  # aˡ = σ(zˡ) from the forward pass
            sp = 1.0 - a  # BP2: σ′(zˡ) = aˡ(1 − aˡ)
            sp *= a  # BP2
            delta *= sp  # BP2: δˡ = ((wˡ⁺¹)ᵀ δˡ⁺¹) ⊙ σ′(zˡ)
        deltas.append(delta)
        nb = delta.sum(axis=0)  # BP3: ∂C/∂bˡ = (1/m) Σₓ δˡ_x
        nb *= inv_m  # BP3
        nabla_b.append(nb)
        nw = delta.T @ activations[l]  # BP4: ∂C/∂wˡ = (1/m) Σₓ δˡ_x (aˡ⁻¹_x)ᵀ = (δˡ)ᵀ aˡ⁻¹ / m
        nw *= inv_m  # BP4
        nabla_w.append(nw)
    deltas.reverse()
    nabla_b.reverse()
    nabla_w.reverse()
    return Gradients(deltas=deltas, nabla_b=nabla_b, nabla_w=nabla_w, zs=zs,
                     activations=activations, cost=cost_val)

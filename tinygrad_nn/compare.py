"""`compare_gradients`: the engine's gradients against the closed-form BP1–BP4 and finite differences.

This is the project's signature check: for every layer l it puts δˡ (read from the graph as ∂C/∂zˡ),
∂C/∂bˡ and ∂C/∂wˡ from reverse-mode autodiff next to the same quantities from `tinygrad_nn.backprop`,
computed on the same weights, and samples a few weights for central finite differences.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import backprop as closed_form
from .nn import MLP, cost_function

__all__ = ["Comparison", "GradientReport", "book_deltas", "compare_gradients"]


@dataclass
class Comparison:
    """One quantity of one layer: the largest absolute and (normwise) relative error, and where."""
    layer: int          # the book's numbering: the first weight layer is l = 2
    quantity: str       # "δ", "∂C/∂b", "∂C/∂w" or "finite diff ∂C/∂w" …
    max_abs: float
    max_rel: float
    worst: tuple
    autodiff: float
    reference: float
    tolerance: float
    autodiff_array: np.ndarray | None = field(default=None, repr=False)   # the arrays compared, for
    reference_array: np.ndarray | None = field(default=None, repr=False)  # elementwise checks (testing.py)
    elements: list[tuple] | None = field(default=None, repr=False)  # a sampled row's element of each entry

    @property
    def ok(self) -> bool:
        """The relative error is finite and within the tolerance."""
        return bool(np.isfinite(self.max_rel) and self.max_rel <= self.tolerance)


@dataclass
class GradientReport:
    """All comparisons; `ok` when every relative error is within its tolerance. Prints as a table."""
    sizes: list[int]
    cost: str
    batch: int
    rows: list[Comparison] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every row agrees."""
        return all(r.ok for r in self.rows)

    def __str__(self) -> str:
        head = f"{'l':>2}  {'quantity':<17} {'max rel err':>11}  {'element':<10} {'autodiff':>13} {'reference':>13}  ok"
        lines = [self._title(), NOTE, head, "-" * len(head)]
        for r in self.rows:
            rel, at, a, ref = _shown(r)
            lines.append(f"{r.layer:>2}  {r.quantity:<17} {rel:>11}  {at:<10} {a:13.6e} {ref:13.6e}  "
                         f"{'yes' if r.ok else 'NO'}")
        lines.append("agreement: all within tolerance" if self.ok else "DISAGREEMENT: see the rows marked NO")
        return "\n".join(lines)

    def _title(self) -> str:
        return (f"gradients of the {self.cost} cost, network {self.sizes}, mini-batch of {self.batch}: "
                f"autodiff vs BP1–BP4 (closed form) and finite differences")

    def _repr_html_(self) -> str:
        """The rows of `str(report)` as an HTML table, which Jupyter shows for a report."""
        cells = ("l", "quantity", "max rel err", "element", "autodiff", "reference", "ok")
        head = "".join(f"<th>{html.escape(c)}</th>" for c in cells)
        body = []
        for r in self.rows:
            style = "" if r.ok else ' style="background:#ffe3e3"'
            rel, at, a, ref = _shown(r)
            values = (str(r.layer), r.quantity, rel, at, f"{a:.6e}", f"{ref:.6e}", "yes" if r.ok else "NO")
            body.append(f"<tr{style}>" + "".join(
                f"<td>{html.escape(v)}</td>" if k in (1, 3) else f'<td style="text-align:right">{html.escape(v)}</td>'
                for k, v in enumerate(values)) + "</tr>")
        verdict = "agreement: all within tolerance" if self.ok else "DISAGREEMENT: see the rows marked NO"
        return (f'<table><caption style="text-align:left">{html.escape(self._title())}<br/>'
                f"<small>{html.escape(NOTE)}</small></caption>"
                f"<thead><tr>{head}</tr></thead>"
                f"<tbody>{''.join(body)}</tbody><tfoot><tr><td colspan=\"{len(cells)}\">{html.escape(verdict)}"
                f"</td></tr></tfoot></table>")


ROUNDING = 1e-14
"""Relative errors below this are float64 rounding, whose digits depend on the BLAS kernel (AVX-512, Haswell …)."""

NOTE = ("max rel err as a bound (< 1e-14: rounding) at each row's largest element: no figure depends on the "
        "BLAS kernel's rounding; a row that disagrees shows its exact error and worst element")


def _shown(r: Comparison) -> tuple[str, str, float, float]:
    """(relative error, element, autodiff, reference) as printed: kernel-independent for a row that agrees —
    the error as a bound, the element with the largest |reference| (chosen by the gradients, not by noise) —
    and the exact error at the worst element for a row that does not."""
    if not r.ok or r.reference_array is None or r.reference_array.size == 0:
        return f"{r.max_rel:.3e}", ",".join(str(i) for i in r.worst), r.autodiff, r.reference
    rel = f"< {ROUNDING:.0e}" if r.max_rel < ROUNDING else f"≤ 1e{math.ceil(math.log10(r.max_rel)):d}"  # 0 too
    ref = np.asarray(r.reference_array)
    k = np.unravel_index(int(np.argmax(np.abs(ref))), ref.shape)
    at = r.elements[k[0]] if r.elements is not None else tuple(int(i) for i in k)
    return rel, ",".join(str(i) for i in at), float(np.asarray(r.autodiff_array)[k]), float(ref[k])


def _compare(layer: int, quantity: str, autodiff: np.ndarray, reference: np.ndarray, tol: float,
             floor: float = 0.0) -> Comparison:
    """Normwise relative error max|a − r| / max(max|r|, floor): robust where single elements are ~0;
    `floor` keeps the noise of finite differences on tiny gradients from counting as a relative error."""
    diff = np.abs(autodiff - reference)
    worst = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.size else ()
    scale = max(float(np.max(np.abs(reference))) if reference.size else 0.0, floor)
    max_abs = float(diff.max()) if diff.size else 0.0
    max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf"))
    return Comparison(layer, quantity, max_abs, max_rel, tuple(int(i) for i in worst),
                      float(autodiff[worst]) if diff.size else 0.0, float(reference[worst]) if diff.size else 0.0, tol,
                      autodiff, reference)


def compare_gradients(net: MLP, x: Any, y: Any, cost: str = "quadratic", *, tolerance: float = 1e-9,
                      fd_samples: int = 5, fd_eps: float = 1e-6, fd_tolerance: float = 1e-4,
                      seed: int = 0) -> GradientReport:
    """Compare the autodiff gradients of `net` on the mini-batch (x, y) with BP1–BP4 and finite differences.

    Works for the book's networks: sigmoid in every layer with the quadratic or cross-entropy cost, or a
    softmax output layer with the log-likelihood cost. The autodiff δˡ is m · zˡ.grad (the graph holds
    ∂C/∂zˡ of the batch-mean cost; the book's δˡ is per example — see `book_deltas`).
    Autodiff and BP1–BP4 must agree to `tolerance` (normwise relative, float64); finite differences on
    `fd_samples` random weights and biases per layer to `fd_tolerance` (relative to max(|gradient|, 1e-4), or to
    the rounding noise of C itself, 8ε|C|/(fd_eps·fd_tolerance), where that is larger).
    A float32 network is compared through a float64 copy of its weights: float32 rounding is not an error of
    the gradient rules, and would only make the two sides disagree falsely.
    """
    _check_book_network(net, cost, "compare_gradients")
    for name, value in (("tolerance", tolerance), ("fd_tolerance", fd_tolerance), ("fd_eps", fd_eps)):
        if not (isinstance(value, (int, float)) and value > 0 and np.isfinite(value)):
            raise ValueError(f"compare_gradients: {name} must be a positive number, got {value!r}")
    if isinstance(fd_samples, bool) or not isinstance(fd_samples, (int, np.integer)) or fd_samples < 0:
        raise ValueError(f"compare_gradients: fd_samples must be a non-negative integer, got {fd_samples!r}")
    x = np.asarray(x, dtype=np.float64)  # a 1-D x is one example: the engine and BP1–BP4 both take it as is
    y = np.asarray(y)
    m = 1 if x.ndim == 1 else x.shape[0]
    cost_fn = cost_function(cost)
    if net.layers[0].weight.dtype != np.float64:
        net64 = MLP(net.sizes, net.activation, net.output_activation, net.init, dtype=np.float64)
        net64.load_state_dict(net.state_dict())
        net = net64

    net.zero_grad()
    zs, activations = net.feedforward(x)
    c = cost_fn(activations[-1], y)
    c.backward()

    weights = [w.astype(np.float64) for w in net.weights]
    biases = [b.astype(np.float64) for b in net.biases]
    ref = closed_form.backprop(weights, biases, x, y, cost=cost)

    report = GradientReport(net.sizes, cost, m)
    rng = np.random.default_rng(seed)
    # a central difference carries the rounding of C itself, ~ε|C|/fd_eps (4e-9 for C ≈ 20 at fd_eps 1e-6):
    # the floor keeps that noise (with 8× room) under fd_tolerance, and is 1e-4 for costs below ≈ 6
    fd_floor = max(1e-4, 8 * np.finfo(np.float64).eps * abs(float(c.data)) / (fd_eps * fd_tolerance))
    for i, layer in enumerate(net.layers):
        l = i + 2
        report.rows.append(_compare(l, "δ (BP1/BP2)", np.reshape(m * zs[i].grad, ref.deltas[i].shape), ref.deltas[i],
                                    tolerance))
        report.rows.append(_compare(l, "∂C/∂b (BP3)", layer.bias.grad, ref.nabla_b[i], tolerance))
        report.rows.append(_compare(l, "∂C/∂w (BP4)", layer.weight.grad, ref.nabla_w[i], tolerance))
        for name, param in (("w", layer.weight), ("b", layer.bias)):
            picks = [tuple(rng.integers(0, n) for n in param.shape) for _ in range(fd_samples)]
            numeric = np.array([_central_difference(net, cost_fn, x, y, param, k, fd_eps) for k in picks])
            autodiff = np.array([param.grad[k] for k in picks])
            if picks:
                report.rows.append(_compare(l, f"finite diff ∂C/∂{name}", autodiff, numeric, fd_tolerance,
                                            floor=fd_floor))
                report.rows[-1].worst = picks[report.rows[-1].worst[0]]
                report.rows[-1].elements = picks
    return report


def _check_book_network(net: MLP, cost: str, who: str) -> None:
    """BP1–BP4 here are for sigmoid networks; the log-likelihood cost goes with a softmax output layer."""
    if cost not in closed_form.COSTS:
        raise ValueError(f"{who}: unknown cost {cost!r}; valid: {', '.join(closed_form.COSTS)}")
    output = "softmax" if cost == "log-likelihood" else "sigmoid"
    if net.activation != "sigmoid" or net.output_activation != output:
        raise ValueError(f"{who}: BP1–BP4 here are for sigmoid networks with a {output} output layer for the "
                         f"{cost} cost; this one uses {net.activation}/{net.output_activation}")


def book_deltas(net: MLP, x: Any, y: Any, cost: str = "quadratic") -> list[np.ndarray]:
    """The book's δˡ_x = ∂C_x/∂zˡ for every example x of the batch: one (m, n_l) array per layer l = 2 … L.

    The engine differentiates the mini-batch MEAN cost C = (1/m) Σₓ C_x, so after ``cost.backward()``
    ``zs[l].grad`` holds δˡ_x / m in row x; this helper runs the batch and returns m · zˡ.grad, each row the
    δ of one example's own cost (as in chapter 2). One example given as 1-D arrays (x of shape (n_in,), y a
    label, a one-hot vector or, for one output neuron, its target value) gives the vectors δˡ of shape (n_l,).
    It leaves the parameters' gradients of this batch in `net`.
    """
    if not isinstance(net, MLP):
        raise TypeError(f"book_deltas: expected an MLP, got {type(net).__name__}")
    x = np.asarray(x, dtype=net.layers[0].weight.data.dtype)
    net.zero_grad()
    zs, activations = net.feedforward(x)
    cost_function(cost)(activations[-1], y).backward()
    return [z.grad.copy() if x.ndim == 1 else x.shape[0] * z.grad for z in zs]


def _central_difference(net: MLP, cost_fn: Any, x: np.ndarray, y: np.ndarray, param: Any, index: tuple,
                        eps: float) -> float:
    """(C(w + ε) − C(w − ε)) / 2ε, with the graph built as in training so the costs take the same path."""
    saved = param.data[index]
    values = []
    try:
        for shift in (eps, -eps):
            param.data[index] = saved + shift
            values.append(cost_fn(net(x), y).data)
    finally:
        param.data[index] = saved
    return (values[0] - values[1]) / (2 * eps)

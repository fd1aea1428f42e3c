"""`draw_backprop`: one backward pass in the book's terms — BP1–BP4 on the edges, measured against autodiff.

The top row is the forward pass of chapter 2 (eq. 25): a¹ = x, then for every layer l = 2 … L the weights
wˡ and biases bˡ feeding zˡ = wˡaˡ⁻¹ + bˡ, then aˡ = σ(zˡ), and finally the cost C with the target y as
its second input. Under it, drawn with thick orange dashed edges, the backward pass as the book writes it:

* **BP1** from C to δᴸ, in the form the cost gives: (aᴸ − y) ⊙ σ′(zᴸ) for the quadratic cost, aᴸ − y for
  cross-entropy, and aᴸ − y for a softmax output with the log-likelihood cost;
* **BP2** from δˡ⁺¹ to δˡ for every hidden layer: δˡ = ((wˡ⁺¹)ᵀ δˡ⁺¹) ⊙ σ′(zˡ);
* **BP3** from δˡ to ∂C/∂bˡ, and **BP4** from δˡ (and aˡ⁻¹) to ∂C/∂wˡ.

Every gradient node shows the engine's value (autodiff) and, in green or red, the largest relative error
of autodiff against the closed-form BP1–BP4 and against finite differences, measured by
`tinygrad_nn.compare_gradients` on the same weights: the picture is a check, not an illustration.

δ: the book's δˡ_x = ∂C_x/∂zˡ is per example. With one example the picture shows it exactly; with a
mini-batch of m, the δ node holds one row per example (what `tinygrad_nn.book_deltas` returns — the engine's
``zˡ.grad`` under the mean cost is δˡ_x/m per row), and ∂C/∂bˡ, ∂C/∂wˡ are the mini-batch means.

`equation_for(quantity, layer, n_layers, cost, batch)` gives the text of each equation for a layer, so
that other pictures (e.g. an animation of the backward pass) label their steps identically.
"""
from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import graphviz
import numpy as np

from tinygrad_nn import compare
from tinygrad_nn.nn import COSTS, MLP, ScalarMLP, cost_function

from . import _style as S
from ._style import sup

__all__ = ["QUANTITIES", "Equation", "draw_backprop", "equation_for"]

QUANTITIES = ("delta", "bias", "weight")   # δˡ, ∂C/∂bˡ, ∂C/∂wˡ
BACKWARD = "#d9480f"       # the backward edges and their labels
GRAD_FILL = "#fff0e6"      # a gradient node
GOOD, BAD = "#2b8a3e", "#c92a2a"
MAX_VALUES = 10            # vectors up to this long (a digit's 10 outputs) show their entries in a one-example view


@dataclass(frozen=True)
class Equation:
    """One of BP1–BP4 for one layer: its tag, the formula with that layer's numbers, and a short note."""

    tag: str        # 'BP1', 'BP2', 'BP3' or 'BP4'
    formula: str    # e.g. 'δ³ = ((w⁴)ᵀ δ⁴) ⊙ σ′(z³)'
    note: str = ""  # e.g. 'quadratic cost', 'mean over the mini-batch'

    def __str__(self) -> str:
        return f"{self.tag}: {self.formula}" + (f"  ({self.note})" if self.note else "")


def equation_for(quantity: str, layer: int, n_layers: int, cost: str = "quadratic", batch: int = 1) -> Equation:
    """The equation that computes `quantity` of book layer `layer` (2 … `n_layers`, the input layer being 1).

    `quantity` is 'delta' (δˡ: BP1 at the output layer L = `n_layers`, BP2 below it), 'bias' (∂C/∂bˡ, BP3) or
    'weight' (∂C/∂wˡ, BP4); `cost` picks BP1's form; `batch` > 1 writes BP3/BP4 as mini-batch means.
    """
    if quantity not in QUANTITIES:
        raise ValueError(f"equation_for: quantity must be one of {', '.join(QUANTITIES)}, got {quantity!r}")
    if cost not in COSTS:
        raise ValueError(f"equation_for: unknown cost {cost!r}; valid: {', '.join(COSTS)}")
    if not (isinstance(n_layers, int) and n_layers >= 2 and isinstance(layer, int) and 2 <= layer <= n_layers):
        raise ValueError(f"equation_for: layer must lie in 2 … {n_layers} (the book numbers the input layer 1), "
                         f"got layer {layer!r} of {n_layers!r}")
    if not (isinstance(batch, int) and batch >= 1):
        raise ValueError(f"equation_for: batch must be a positive integer, got {batch!r}")
    l, below = sup(layer), sup(layer - 1)
    if quantity == "delta":
        if layer == n_layers:
            if cost == "quadratic":
                return Equation("BP1", f"δ{l} = (a{l} − y) ⊙ σ′(z{l})", "quadratic cost")
            if cost == "cross-entropy":
                return Equation("BP1", f"δ{l} = a{l} − y", "cross-entropy: σ′ cancels")
            return Equation("BP1", f"δ{l} = a{l} − y", "softmax output, log-likelihood")
        return Equation("BP2", f"δ{l} = ((w{sup(layer + 1)})ᵀ δ{sup(layer + 1)}) ⊙ σ′(z{l})")
    mean = "(1/m) Σₓ " if batch > 1 else ""
    x = "ₓ" if batch > 1 else ""
    if quantity == "bias":
        return Equation("BP3", f"∂C/∂b{l}ⱼ = {mean}δ{l}{x}ⱼ", "mean over the mini-batch" if batch > 1 else "")
    return Equation("BP4", f"∂C/∂w{l}ⱼₖ = {mean}a{below}{x}ₖ δ{l}{x}ⱼ", "mean over the mini-batch" if batch > 1 else "")


_COST_FORMULA = {"quadratic": ("C = ½‖y − a{L}‖²", "C = (1/2m) Σₓ ‖yₓ − a{L}ₓ‖²"),
                 "cross-entropy": ("C = −Σⱼ [yⱼ ln a{L}ⱼ + (1−yⱼ) ln(1−a{L}ⱼ)]",
                                   "C = −(1/m) Σₓ Σⱼ [yⱼ ln a{L}ⱼ + (1−yⱼ) ln(1−a{L}ⱼ)]"),
                 "log-likelihood": ("C = −Σⱼ yⱼ ln a{L}ⱼ", "C = −(1/m) Σₓ Σⱼ yⱼ ln a{L}ⱼ")}


# ---- checking the input ------------------------------------------------------------------------------
def _as_network(net: Any) -> MLP:
    if isinstance(net, ScalarMLP):
        return net.to_mlp()
    if not isinstance(net, MLP):
        raise TypeError(f"draw_backprop: expected an MLP or ScalarMLP, got {type(net).__name__}")
    return net


def _check_example(net: MLP, x: Any, y: Any, cost: str) -> tuple[np.ndarray, np.ndarray, bool, str]:
    """x as an (m, n_in) float64 batch, y as (m, n_out) one-hot targets, whether x was one example, and a
    note on where y came from."""
    sizes = net.sizes
    xa = np.asarray(x, dtype=np.float64) if np.asarray(x).dtype.kind in "fiub" else None
    if xa is None or xa.ndim not in (1, 2) or xa.shape[-1] != sizes[0] or xa.size == 0:
        raise ValueError(f"draw_backprop: the network {sizes} takes {sizes[0]} inputs per example, but x has "
                         f"shape {np.shape(x)}; pass ({sizes[0]},) for one example or (m, {sizes[0]}) for a mini-batch")
    if not np.all(np.isfinite(xa)):
        raise ValueError("draw_backprop: x contains NaN or inf")
    single = xa.ndim == 1
    xa = np.atleast_2d(xa)
    m, n_out = xa.shape[0], sizes[-1]
    ya = np.asarray(y)
    if ya.dtype.kind in "iu" and ya.shape in ((), (m,)):
        labels = ya.reshape(-1)
        bad = labels[(labels < 0) | (labels >= n_out)]
        if bad.size:
            raise ValueError(f"draw_backprop: label {int(bad[0])} is out of range for the network {sizes}, whose "
                             f"{n_out} output neurons stand for the classes 0 … {n_out - 1}")
        ya = np.eye(n_out)[labels]
        origin = f"one-hot of label {int(labels[0])}" if labels.size == 1 else "one-hot of the labels"
    elif ya.dtype.kind in "fiub" and (ya.shape == (m, n_out) or (m == 1 and ya.shape == (n_out,))):
        ya = np.atleast_2d(ya.astype(np.float64))
        origin = "as given"
    else:
        raise ValueError(f"draw_backprop: y of shape {ya.shape} (dtype {ya.dtype}) does not fit the network {sizes} "
                         f"and x of shape {np.shape(x)}: give {'an integer label or' if single else f'({m},) integer labels or'} "
                         f"one-hot targets of shape {(n_out,) if single else (m, n_out)}")
    if cost not in COSTS:
        raise ValueError(f"draw_backprop: unknown cost {cost!r}; valid: {', '.join(COSTS)}")
    return xa, ya, single, origin


# ---- labels ------------------------------------------------------------------------------------------
def _numbers(v: np.ndarray, per_line: int = 5) -> list[str]:
    """A short vector's entries, 4 significant digits, a few per line."""
    text = [_minus(f"{float(e):.3g}") for e in v]
    return [", ".join(text[i:i + per_line]) for i in range(0, len(text), per_line)]


def _minus(text: str) -> str:
    """The typographic minus sign, as the book prints it."""
    return text.replace("-", "−").replace("e−", "e-")


def _summary(data: np.ndarray, single: bool) -> list[str]:
    """Shape and a short summary, or the values of a small vector of a one-example view."""
    data = np.asarray(data)
    if single and data.ndim == 2 and data.shape[0] == 1:
        data = data[0]
    if data.ndim == 1 and data.size <= MAX_VALUES:
        lines = _numbers(data)
        lines[0] = f"({data.size}): [{lines[0]}"
        lines[-1] += "]"
        return [line + ("," if i < len(lines) - 1 else "") for i, line in enumerate(lines)]
    shape, number = S.fmt_shape(data.shape), (lambda v: _minus(S.fmt_number(float(v))))
    return [f"{shape} · mean {number(data.mean())}", f"min {number(data.min())} · max {number(data.max())}"]


def _html(text: str) -> str:
    """Text for an HTML-like label; '‖' (the norm) in DejaVu Sans, since Helvetica's look-alikes draw it as 'll'."""
    return html.escape(text).replace("‖", '<FONT FACE="DejaVu Sans">‖</FONT>')


def _label(title: str, lines: Sequence[str], code: str = "", checks: Sequence[tuple[str, float, bool]] = (),
           equation: Equation | None = None) -> str:
    """An HTML-like label: a bold title, the equation that computes it (orange, as the backward arrows),
    value lines, the code path in grey, and measured errors coloured."""
    rows = [f'<TR><TD ALIGN="LEFT"><B>{_html(title)}</B></TD></TR>']
    if equation is not None:
        note = f' <FONT POINT-SIZE="8">({_html(equation.note)})</FONT>' if equation.note else ""
        rows.append(f'<TR><TD ALIGN="LEFT"><FONT COLOR="{BACKWARD}"><B>{equation.tag}</B> {_html(equation.formula)}'
                    f'{note}</FONT></TD></TR>')
    rows += [f'<TR><TD ALIGN="LEFT">{_html(line)}</TD></TR>' for line in lines]
    for what, err, ok in checks:
        rows.append(f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="9" COLOR="{GOOD if ok else BAD}">'
                    f'{html.escape(what)} {err:.1e}{"" if ok else "  ✗"}</FONT></TD></TR>')
    if code:
        rows.append(f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="8" COLOR="{S.MUTED}">{html.escape(code)}</FONT></TD></TR>')
    return f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">{"".join(rows)}</TABLE>>'


def _checks(report: compare.GradientReport, layer: int, delta_tag: str) -> dict[str, list[tuple[str, float, bool]]]:
    """Per quantity of `layer`, the measured (what, max relative error, ok) rows of `report`; δ's closed form
    is `delta_tag` (BP1 at the output layer, BP2 below)."""
    found: dict[str, list[tuple[str, float, bool]]] = {q: [] for q in QUANTITIES}
    for r in report.rows:
        if r.layer != layer:
            continue
        q = r.quantity
        if q.startswith("δ"):
            found["delta"].append((f"rel err vs {delta_tag}:", r.max_rel, r.ok))
        elif q.startswith("∂C/∂b"):
            found["bias"].append(("rel err vs BP3:", r.max_rel, r.ok))
        elif q.startswith("∂C/∂w"):
            found["weight"].append(("rel err vs BP4:", r.max_rel, r.ok))
        elif q.startswith("finite diff"):
            found["bias" if q.endswith("b") else "weight"].append(("rel err vs finite diff:", r.max_rel, r.ok))
    return found


# ---- the picture -------------------------------------------------------------------------------------
_LAYOUTS = {"wide": "LR", "compact": "TB"}   # the layout's name → the forward pass's direction
def draw_backprop(net: MLP | ScalarMLP, x: Any, y: Any, cost: str = "quadratic", *,
                  title: str | None = None, image: np.ndarray | None = None, layout: str = "wide") -> graphviz.Digraph:
    """The forward pass and BP1–BP4 of `net` on (x, y) as a `graphviz.Digraph` (see the module docstring).

    `net` is a sigmoid `MLP` of any depth (a softmax output layer with ``cost='log-likelihood'``) or a
    `ScalarMLP`; `x` is one example (n_in,) or a mini-batch (m, n_in); `y` integer labels or one-hot targets.
    Every gradient is annotated with its measured max relative error against BP1–BP4 and finite differences
    (`tinygrad_nn.compare_gradients`). Leaves the gradients of this example in the network's parameters.
    `title` replaces the first line of the picture's title (e.g. to name the example drawn); `image` (a 2-D
    array of grey levels, e.g. the 8×8 digit that x is) is drawn small beside a¹. `layout` 'wide' runs the
    forward pass left to right (one column per layer: wide, for a screen); 'compact' runs it top to bottom,
    about half as wide (for a README or a notebook cell). Each gradient box names the equation computing it.
    """
    if layout not in _LAYOUTS:
        raise ValueError(f"draw_backprop: layout must be one of {', '.join(_LAYOUTS)}, got {layout!r}")
    net = _as_network(net)
    xa, ya, single, origin = _check_example(net, x, y, cost)
    pixels = S.check_image(image, "draw_backprop")
    report = compare.compare_gradients(net, xa, ya, cost)     # validates the network against the cost
    m, sizes, n_layers = xa.shape[0], net.sizes, len(net.sizes)
    net.zero_grad()                                           # the same pass again, to read every node
    zs, activations = net.feedforward(xa)
    c = cost_function(cost)(activations[-1], ya)
    c.backward()
    deltas = [m * np.atleast_2d(z.grad) for z in zs]          # the book's δˡ_x per row (see book_deltas)

    view = "one example" if single or m == 1 else f"a mini-batch of m = {m}"
    head = title or f"backpropagation in the network {sizes} · {cost} cost · {view}"
    dot = graphviz.Digraph("backprop", graph_attr={
        **S.GRAPH_ATTR, "rankdir": _LAYOUTS[layout], "nodesep": "0.25", "ranksep": "0.45", "newrank": "true",
        "forcelabels": "true",
        "label": f"{head}\nforward: grey arrows (eq. 25) · backward: orange dashed arrows, each gradient box "
                 f"naming the equation that computes it\nevery gradient is autodiff's, with its measured max "
                 f"relative error against BP1–BP4 (closed form) and finite differences",
        "labelloc": "t", "labeljust": "l", "fontsize": "12"},
        node_attr={**S.NODE_ATTR, "shape": "box", "style": "rounded,filled", "margin": "0.08,0.04"},
        edge_attr=S.EDGE_ATTR)
    back = {"color": BACKWARD, "style": "dashed", "penwidth": "1.6", "constraint": "false", "fontcolor": BACKWARD}
    uses = {"color": BACKWARD + "80", "style": "dotted", "arrowhead": "none", "constraint": "false"}

    def activation_node(g: graphviz.Digraph, l: int) -> None:
        """aˡ: a¹ = x for l = 1, else aˡ = σ(zˡ) (softmax at a softmax output layer)."""
        if l == 1:
            title = "a¹ = x" + ("" if single or m == 1 else " (a row per example)")
            g.node("a1", _label(title, _summary(xa, single), "input layer"), fillcolor=S.INPUT_FILL)
            if pixels is not None:
                g.node("image", S.image_label(pixels), shape="plaintext", style="", margin="0",
                       tooltip="the input x as an image")
                g.edge("image", "a1", style="invis")
            return
        act = "softmax" if l == last and net.output_activation == "softmax" else "σ"
        g.node(f"a{l}", _label(f"a{sup(l)} = {act}(z{sup(l)})" + (" (output)" if l == last else ""),
                               _summary(activations[l - 1].data, single), f"activations[{l - 1}]"),
               fillcolor=S.OUTPUT_FILL if l == last else S.VALUE_FILL)

    last = n_layers
    for i, layer in enumerate(net.layers):
        l, L = i + 2, sup(i + 2)
        checks = _checks(report, l, equation_for("delta", l, n_layers, cost, m).tag)
        with dot.subgraph(name=f"params{l}") as col:  # one column: aˡ⁻¹, wˡ, bˡ
            col.attr(rank="same")
            activation_node(col, l - 1)
            col.node(f"w{l}", _label(f"w{L}", _summary(layer.weight.data, False), f"layers.{i}.weight"),
                     fillcolor=S.PARAM_FILL)
            col.node(f"b{l}", _label(f"b{L}", _summary(layer.bias.data, True), f"layers.{i}.bias"),
                     fillcolor=S.PARAM_FILL)
            col.edge(f"a{l - 1}", f"w{l}", style="invis")
            col.edge(f"w{l}", f"b{l}", style="invis")
        what = ("the book's δ for this example" if single or m == 1
                else f"the book's δ{L}ₓ, a row per example (= m · z{L}.grad)")
        with dot.subgraph(name=f"z{l}") as col:  # one column: zˡ, δˡ, then ∂C/∂bˡ and ∂C/∂wˡ
            col.attr(rank="same")
            col.node(f"z{l}", _label(f"z{L} = w{L}a{sup(l - 1)} + b{L}", _summary(zs[i].data, single), f"zs[{i}]"),
                     fillcolor=S.VALUE_FILL)
            col.node(f"d{l}", _label(f"δ{L} = ∂C/∂z{L}", [what, *_summary(deltas[i], single)],
                                     f"{'' if single or m == 1 else 'm · '}zs[{i}].grad", checks["delta"],
                                     equation_for("delta", l, last, cost, m)), fillcolor=GRAD_FILL)
            col.node(f"gb{l}", _label(f"∂C/∂b{L}", _summary(layer.bias.grad, True), f"layers.{i}.bias.grad",
                                      checks["bias"], equation_for("bias", l, last, cost, m)), fillcolor=GRAD_FILL)
            col.node(f"gw{l}", _label(f"∂C/∂w{L}", _summary(layer.weight.grad, False), f"layers.{i}.weight.grad",
                                      checks["weight"], equation_for("weight", l, last, cost, m)), fillcolor=GRAD_FILL)
            col.edge(f"z{l}", f"d{l}", style="invis")
        for src in (f"a{l - 1}", f"w{l}", f"b{l}"):
            dot.edge(src, f"z{l}")
        dot.edge(f"z{l}", f"a{l}")
        # the backward pass: BP1 or BP2 into δˡ, then BP3 and BP4 out of it
        dot.edge("C" if l == last else f"d{l + 1}", f"d{l}", **back)
        dot.edge(f"d{l}", f"gb{l}", **back)
        dot.edge(f"gb{l}", f"gw{l}", style="invis")
        dot.edge(f"d{l}", f"gw{l}", **back)
        dot.edge(f"a{l - 1}", f"gw{l}", **uses)              # BP4 uses aˡ⁻¹
        if l < last:
            dot.edge(f"w{l + 1}", f"d{l}", **uses)           # BP2 uses wˡ⁺¹
    with dot.subgraph(name="output") as col:
        col.attr(rank="same")
        activation_node(col, last)
        col.node("y", _label("y (target)", _summary(ya, single), origin), fillcolor=S.INPUT_FILL)
        col.edge(f"a{last}", "y", style="invis")
    with dot.subgraph(name="cost") as col:
        col.attr(rank="same")
        col.node("C", _label(_COST_FORMULA[cost][0 if single or m == 1 else 1].format(L=sup(last)),
                             [f"= {S.fmt_number(float(c.data))}"], "cost"), fillcolor=S.OUTPUT_FILL)
        col.node("legend", _legend(report.ok), shape="plaintext", style="", margin="0")
        col.edge("C", "legend", style="invis")
    dot.edge(f"a{last}", "C")
    dot.edge("y", "C")
    return dot


def _legend(ok: bool) -> str:
    rows = [(S.INPUT_FILL, "", "input x = a¹, target y"), (S.PARAM_FILL, "", "parameter wˡ, bˡ"),
            (S.VALUE_FILL, "", "forward value zˡ, aˡ"), (S.OUTPUT_FILL, "", "output aᴸ, cost C"),
            (GRAD_FILL, "", "gradient: δˡ = ∂C/∂zˡ, ∂C/∂bˡ, ∂C/∂wˡ"),
            ("line:" + S.LINE, "", "forward pass"), ("line:" + BACKWARD, "", "backward pass: BP1–BP4"),
            ("dots:" + BACKWARD, "", "read by an equation: aˡ⁻¹ by BP4, wˡ⁺¹ by BP2"),
            ("", "", "rel err: max |autodiff − reference| / max |reference|"),
            ("", "", "all gradients agree" if ok else "DISAGREEMENT: see the red errors")]
    return S.legend_label("legend", rows)

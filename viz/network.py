"""`draw_network`: the book's picture of a network — columns of neurons, one line per weight.

Each layer is a column of circles (numbered as in the book: the input layer is layer 1, its neurons from 1),
each weight wˡⱼₖ a line from neuron k of layer l−1 to neuron j of layer l: blue when positive, red when negative, thicker and darker the larger |w| is
(relative to the largest drawn weight of that layer). A layer wider than `max_neurons` shows its first
and last few neurons around an ellipsis node "… 774 more …"; lines join drawn neurons only.

After ``cost.backward()``, ``show_delta=True`` annotates each neuron with δ; given ``zs`` from
``net.feedforward(x)``, saturated neurons are marked too:

* ``show_delta=True`` writes δˡⱼ in the neuron. The package's costs average over the mini-batch, so
  ``zs[l].grad`` holds δˣ/m per example x; the picture shows the **mini-batch average** of the book's
  per-example error, (1/m) Σₓ δˣˡⱼ = Σ over rows of ``zs[l].grad`` (= ∂C/∂bˡⱼ, BP3). With one example it
  is exactly the book's δˡⱼ.
* a neuron whose activation derivative, averaged over the mini-batch, is below 0.01 (σ′(z) < 0.01: the
  book's saturated neuron, which learns slowly) gets a thick orange border.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import graphviz
import numpy as np

from tinygrad_nn.engine import Value
from tinygrad_nn.nn import MLP, ScalarMLP

from . import _style as S

__all__ = ["SATURATION", "draw_network"]

SATURATION = 0.01  # σ′(z) below this: a saturated neuron


def _derivative(activation: str, z: np.ndarray) -> np.ndarray | None:
    """The activation's derivative at z, or None where 'saturated' means nothing (step, softmax)."""
    if activation == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))
        return s * (1.0 - s)
    if activation == "tanh":
        return 1.0 - np.tanh(z) ** 2
    if activation == "relu":
        return (z > 0).astype(float)
    if activation == "identity":
        return np.ones_like(z)
    return None


def _shown(n: int, max_neurons: int) -> tuple[list[int], int]:
    """The neurons drawn in a layer of n, and how many the ellipsis stands for (0: all are drawn)."""
    if n <= max_neurons:
        return list(range(n)), 0
    side = (max_neurons - 1) // 2
    return list(range(side)) + list(range(n - side, n)), n - 2 * side


def _per_neuron(values: Any, n: int, what: str, l: int) -> np.ndarray:
    """One layer's (m, n) or (n,) array of zs[l] (what='') or of its gradient (what='.grad'), as (m, n)."""
    arr = np.asarray(values)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != n:
        raise ValueError(f"draw_network: zs[{l}]{what} has shape {np.shape(values)}, expected (m, {n}) or ({n},)")
    return arr


def _annotations(net: MLP, zs: Sequence[Value] | None, show_delta: bool) -> tuple[list, list]:
    """Per layer l ≥ 1: the mean δ of each neuron (or None), and the saturated flags (or None)."""
    n_layers = len(net.layers)
    if zs is None:  # δ from the biases' gradients (BP3: ∂C/∂bˡⱼ = δˡⱼ); saturation needs the zs
        if not show_delta:
            return [None] * n_layers, [None] * n_layers
        missing = [l for l, layer in enumerate(net.layers) if layer.bias.grad is None]
        if missing:
            raise ValueError(f"draw_network: layers {missing} have no gradient; call cost.backward() before "
                             f"drawing δ")
        return [np.asarray(getattr(layer.bias.grad, "data", layer.bias.grad)) for layer in net.layers], [None] * n_layers
    zs = list(zs)
    if len(zs) != n_layers:
        raise ValueError(f"draw_network: got {len(zs)} zs for a network of {n_layers} layers")
    deltas, saturated = [], []
    for l, (z, n) in enumerate(zip(zs, net.sizes[1:])):
        zdata = _per_neuron(z.data if isinstance(z, Value) else z, n, "", l)
        activation = net.output_activation if l == n_layers - 1 else net.activation
        slope = _derivative(activation, zdata)
        saturated.append(None if slope is None else slope.mean(axis=0) < SATURATION)
        if show_delta:
            if not isinstance(z, Value) or z.grad is None:
                raise ValueError(f"draw_network: zs[{l}] has no gradient; call cost.backward() before drawing δ")
            deltas.append(_per_neuron(getattr(z.grad, "data", z.grad), n, ".grad", l).sum(axis=0))  # Σ rows of δˣ/m = mean δˣ
        else:
            deltas.append(None)
    return deltas, saturated


def _layer_title(l: int, n_layers: int, n: int, classes: bool = False) -> str:
    """The book numbers the input layer 1: 'layer 1 · input (64)', 'layer 2 · hidden (30)', 'layer 3 · output (10)',
    and an output layer labelled by class says so: 'layer 3 · output (10)\nby class 0–9 (neuron j = class + 1)'."""
    kind = "input" if l == 0 else "output" if l == n_layers else "hidden"
    title = f"layer {l + 1} · {kind} ({n:,})"
    return title + f"\nby class 0–{n - 1} (neuron j = class + 1)" if classes and l == n_layers else title


def _edge_style(w: float, biggest: float, name: str) -> dict[str, str]:
    """Blue for w > 0, red for w < 0; width and opacity grow with |w| / biggest (the largest finite |w|).
    A weight of ±inf is drawn at full width and a NaN as a grey dashed line, each labelled with its value."""
    if math.isnan(w):
        return {"color": S.MUTED, "style": "dashed", "penwidth": "1.5", "label": f"{name} = NaN",
                "fontcolor": S.NEGATIVE, "tooltip": f"{name} = NaN"}
    strength = min(1.0, abs(w) / biggest) if biggest > 0 else 1.0 if math.isinf(w) else 0.0
    alpha = round(64 + 191 * strength)
    style = {"color": f"{S.POSITIVE if w >= 0 else S.NEGATIVE}{alpha:02x}",
             "penwidth": f"{0.4 + 2.6 * strength:.2f}", "tooltip": f"{name} = {w:.4g}"}
    if math.isinf(w):
        style.update(label=f"{name} = {'+' if w > 0 else '−'}inf", fontcolor=S.NEGATIVE)
    return style


def draw_network(mlp: MLP | ScalarMLP, *, show_delta: bool = False, zs: Sequence[Value] | None = None,
                 max_neurons: int = 12, title: str | None = None, image: np.ndarray | None = None,
                 label: int | None = None, prediction: int | None = None,
                 classes: bool | None = None,
                 highlight: tuple[int, int, int] | None = None) -> graphviz.Digraph:
    """Nielsen's diagram of `mlp`'s layers as a `graphviz.Digraph` (see the module docstring).

    With ``show_delta=True`` (after ``cost.backward()``) every neuron shows its mini-batch-average δˡⱼ
    (read from ∂C/∂bˡⱼ by BP3, or from `zs`); `zs` (from ``net.feedforward(x)``) also marks saturated neurons. Layers wider than
    `max_neurons` are summarised, so the picture stays small: [784, 30, 10] draws 32 neurons. Layers are
    numbered as in the book (the input layer is layer 1) and neurons from 1, so neuron j of layer l is aˡⱼ.
    `title` adds a line to the picture's title (e.g. which example δ belongs to); `image`, a 2-D array of
    grey levels (the input as a picture, e.g. 8×8 or 28×28), is drawn small above the input layer; the
    output neurons of class `label` and of the `prediction` (0-based class numbers) are marked beside them.
    With `classes` (by default: when `label` or `prediction` is given, or the output is a softmax) the output
    neurons are labelled by their class 0, 1, … as the book labels the digits' outputs; the book's j (from 1)
    stays in their tooltips, and every other neuron is numbered j from 1.
    `highlight=(l, j, k)` (the book's numbering) draws the one weight wˡⱼₖ thick and labelled, the others faint —
    chapter 2's picture of the index order: from neuron k of layer l − 1 to neuron j of layer l.
    """
    if isinstance(mlp, ScalarMLP):
        mlp = mlp.to_mlp()
    if not isinstance(mlp, MLP):
        raise TypeError(f"draw_network: expected an MLP or ScalarMLP, got {type(mlp).__name__}")
    if isinstance(max_neurons, bool) or not isinstance(max_neurons, int) or max_neurons < 3:
        raise ValueError(f"draw_network: max_neurons must be an integer ≥ 3, got {max_neurons!r}")
    pixels = S.check_image(image, "draw_network")
    _check_highlight(mlp.sizes, highlight)
    deltas, saturated = _annotations(mlp, zs, show_delta)
    sizes, n_layers = mlp.sizes, len(mlp.layers)
    heading = f"network {sizes} · {mlp.activation}" + (
        f" (output {mlp.output_activation})" if mlp.output_activation != mlp.activation else "")
    if title:
        heading += "\n" + title
    batch = None if zs is None else _batch(zs)
    dot = graphviz.Digraph("network", graph_attr={**S.GRAPH_ATTR, "rankdir": "LR", "splines": "line",
                                                  "nodesep": "0.12", "ranksep": "1.6", "label": heading, "forcelabels": "true",
                                                  "labelloc": "t", "fontsize": "13"},
                           node_attr=S.NODE_ATTR, edge_attr={**S.EDGE_ATTR, "arrowhead": "none"})
    if classes is None:
        classes = label is not None or prediction is not None or mlp.output_activation == "softmax"
    shown = [_shown(n, max_neurons) for n in sizes]
    fills = [S.INPUT_FILL] + [S.PARAM_FILL] * (n_layers - 1) + [S.OUTPUT_FILL]
    for l, (indices, hidden) in enumerate(shown):
        with dot.subgraph(name=f"layer_{l}") as col:  # one column: the title, then the neurons top to bottom
            col.attr(rank="same")
            names = []
            if l == 0 and pixels is not None:
                col.node("image", S.image_label(pixels), shape="plaintext", margin="0", tooltip="the input image")
                names.append("image")
            col.node(f"title{l}", _layer_title(l, n_layers, sizes[l], classes), shape="plaintext", fontcolor=S.MUTED)
            names.append(f"title{l}")
            for pos, j in enumerate(indices):
                if hidden and pos == len(indices) // 2:
                    col.node(f"n{l}_more", f"… {hidden:,} more …", shape="plaintext", fontcolor=S.MUTED)
                    names.append(f"n{l}_more")
                col.node(f"n{l}_{j}", **_neuron(mlp, l, j, fills[l], deltas, saturated, classes and l == n_layers))
                names.append(f"n{l}_{j}")
            for a, b in itertools.pairwise(names):
                col.edge(a, b, style="invis")
    for l, layer in enumerate(mlp.layers):
        w = np.asarray(layer.weight.data)
        ins, outs = shown[l][0], shown[l + 1][0]
        drawn = np.abs(w[np.ix_(outs, ins)])
        biggest = float(drawn[np.isfinite(drawn)].max(initial=0.0))
        for j in outs:
            for k in ins:
                style = _edge_style(float(w[j, k]), biggest, f"w{S.sup(l + 2)}{S.sub(j + 1, k + 1)}")
                if highlight is not None:
                    style = _highlighted(style, highlight == (l + 2, j + 1, k + 1), float(w[j, k]))
                dot.edge(f"n{l}_{k}", f"n{l + 1}_{j}", **style)
    _mark_classes(dot, n_layers, shown[-1][0], label, prediction)
    dot.node("legend", _legend(show_delta, any(s is not None for s in saturated), batch, highlight is not None),
             shape="plaintext",
             margin="0")
    return dot


def _check_highlight(sizes: list[int], highlight: tuple[int, int, int] | None) -> None:
    """`highlight` must name a weight wˡⱼₖ of the network: 2 ≤ l ≤ L, 1 ≤ j ≤ n_l, 1 ≤ k ≤ n_{l−1}."""
    if highlight is None:
        return
    ok = isinstance(highlight, tuple) and len(highlight) == 3 and all(isinstance(i, int) for i in highlight)
    if not ok or not (2 <= highlight[0] <= len(sizes) and 1 <= highlight[1] <= sizes[highlight[0] - 1]
                      and 1 <= highlight[2] <= sizes[highlight[0] - 2]):
        raise ValueError(f"draw_network: highlight must be (l, j, k) naming a weight wˡⱼₖ of the network {sizes} "
                         f"(2 ≤ l ≤ {len(sizes)}, neurons counted from 1), got {highlight!r}")


def _highlighted(style: dict[str, str], chosen: bool, w: float) -> dict[str, str]:
    """The highlighted weight thick, dark and labelled with its name and value; every other weight faint."""
    if not chosen:
        return {**style, "color": "#ced4da", "penwidth": "0.6"}
    return {**style, "color": S.SATURATED, "penwidth": "3.5", "fontcolor": S.SATURATED, "fontsize": "13",
            "headlabel": f"{style['tooltip'].split(' = ')[0]} = {w:.3g}", "labeldistance": "9", "labelangle": "-8"}


def _neuron(mlp: MLP, l: int, j: int, fill: str, deltas: list, saturated: list,
            by_class: bool = False) -> dict[str, str]:
    """The attributes of neuron j of layer l (0 = the inputs), numbered from 1 — or, `by_class`, by its class j."""
    number = f"<B>{j}</B>" if by_class else str(j + 1)
    attrs = {"shape": "circle", "style": "filled", "fillcolor": fill, "fixedsize": "true",
             "width": "0.8" if l > 0 and deltas[0] is not None else "0.42",
             "label": f"<<FONT POINT-SIZE=\"9\">{number}</FONT>>"}
    if l == 0:
        attrs["tooltip"] = f"input x{S.sub(j + 1)} = a¹{S.sub(j + 1)}"
        return attrs
    bias = float(np.asarray(mlp.layers[l - 1].bias.data)[j])
    tip = [f"layer {l + 1} neuron {j + 1}: a{S.sup(l + 1)}{S.sub(j + 1)}" + (f" (class {j})" if by_class else ""),
           f"b{S.sup(l + 1)}{S.sub(j + 1)} = {bias:.4g}"]
    delta, sat = deltas[l - 1], saturated[l - 1]
    if delta is not None:
        attrs["label"] = (f"<<FONT POINT-SIZE=\"9\">{number}</FONT><BR/>"
                          f"<FONT POINT-SIZE=\"8\">δ {delta[j]:+.2g}</FONT>>")
        tip.append(f"δ = {delta[j]:.4g}")
    if sat is not None and sat[j]:
        attrs.update(color=S.SATURATED, penwidth="3.5")
        tip.append("saturated")
    attrs["tooltip"] = ", ".join(tip)
    return attrs


def _mark_classes(dot: graphviz.Digraph, n_layers: int, shown: list[int], label: int | None,
                  prediction: int | None) -> None:
    """Right of the output layer, an arrow to the neuron of class `label` and to that of the `prediction`."""
    for j in dict.fromkeys(c for c in (label, prediction) if c is not None):
        if j not in shown:
            continue
        marks = [word for word, c in (("label", label), ("network's prediction", prediction)) if c == j]
        dot.node(f"mark{j}", f"{' = '.join(marks)}: class {j} (the book's neuron j = {j + 1})",
                 shape="plaintext", fontcolor=S.LINE)
        dot.edge(f"n{n_layers}_{j}", f"mark{j}", dir="back", arrowtail="normal", color=S.MUTED, style="dashed")


def _batch(zs: Sequence[Value]) -> int:
    """The number of examples behind the zs: rows of a 2-D z, or 1."""
    data = np.asarray(zs[0].data if isinstance(zs[0], Value) else zs[0]) if len(zs) else np.zeros(0)
    return data.shape[0] if data.ndim == 2 else 1


def _legend(show_delta: bool, saturation: bool, batch: int | None, highlight: bool = False) -> str:
    weights = ([("line:" + S.SATURATED, "", "wˡⱼₖ: from neuron k of layer l − 1 to neuron j of layer l")] if highlight
               else [("line:" + S.POSITIVE, "", "positive weight"),
                     ("line:" + S.NEGATIVE, "", "negative weight (width ∝ |w|)")])
    rows = weights + [(S.INPUT_FILL, "", "input neuron"),
                      (S.PARAM_FILL, "", "hidden neuron"),
                      (S.OUTPUT_FILL, "", "output neuron")]
    if show_delta:
        rows.append(("", "", "δˡⱼ = ∂C/∂zˡⱼ: the book's δ of this one example" if batch == 1 else
                             f"δˡⱼ: mean of the book's δ over the mini-batch of {batch}" if batch else
                             "δˡⱼ: mini-batch mean of the book's δ (= ∂C/∂bˡⱼ, BP3)"))
    if saturation:
        rows.append((S.PARAM_FILL, "bold", f"saturated: σ′(z) < {SATURATION} (learns slowly)"))
    return S.legend_label("legend", rows)

"""`animate_backward`: watch ``root.backward()`` run, one backward rule at a time, in a self-contained web page.

The page is ONE HTML file — the graph as inline SVG (laid out once by Graphviz's ``dot``, exactly as
`draw_graph` draws it, big graphs collapsed the same way), inline CSS and script, the per-step data as a
JSON blob — so it works offline from ``file://`` and loads nothing from anywhere. Step k highlights the node
whose rule runs k-th in the engine's order (``_topological_order``, reversed: what ``backward()`` does),
shows every gradient computed so far (those still to come are drawn empty, their nodes faded) and names
the rule: a layer's BP equations (BP1–BP4, Nielsen ch. 2) or a scalar op's local derivative.

Controls: previous / next, a slider, the ← and → keys, play / pause; ``#step=K`` in the URL opens step K
(1-based); the element ``#step-label`` reads ``step K of N``. ``#step=K&selftest=1`` makes the page click
its own buttons, press its keys and move its slider, and write what happened into ``#selftest`` (the tests
read it from headless Chromium).
"""
from __future__ import annotations

import html
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import graphviz
import numpy as np

from tinygrad_nn.engine import Value, _topological_order
from tinygrad_nn.files import atomic_write
from tinygrad_nn.trace import Program

from . import _style as S
from ._style import sup
from .backprop import equation_for
from .graph import ALONE, _plan, _trace, draw_graph
from .render import INSTALL_HINT, GraphvizNotFoundError

__all__ = ["BackwardAnimation", "animate_backward"]

# ---- the rule each step runs, in words ----------------------------------------------------------------
_LOCAL = {  # an op's local derivative: what its backward rule multiplies the incoming gradient g by
    "+": "∂(a + b)/∂a = ∂(a + b)/∂b = 1: g passes to both inputs unchanged",
    "×": "∂(a·b)/∂a = b,  ∂(a·b)/∂b = a",
    "−": "∂(a − b)/∂a = 1,  ∂(a − b)/∂b = −1",
    "÷": "∂(a/b)/∂a = 1/b,  ∂(a/b)/∂b = −a/b²",
    "neg": "∂(−a)/∂a = −1",
    "**": "∂(aᵖ)/∂a = p·aᵖ⁻¹  (and ∂(aᵖ)/∂p = aᵖ ln a)",
    "@": "∂(AB)/∂A = G Bᵀ,  ∂(AB)/∂B = Aᵀ G",
    "exp": "(eˣ)′ = eˣ",
    "log": "(ln x)′ = 1/x",
    "tanh": "tanh′(z) = 1 − tanh²(z)",
    "σ": "σ′(z) = σ(z)(1 − σ(z))",
    "relu": "relu′(z) = 1 if z > 0, else 0",
    "Σ": "∂(Σᵢ xᵢ)/∂xᵢ = 1: every summed element gets g",
    "max": "∂ max/∂xᵢ = 1 for the largest element (shared among ties), 0 elsewhere",
    "reshape": "the same elements: g is reshaped back",
    "ᵀ": "g is transposed back",
    "[]": "g is scattered back to the indexed elements (repeats add up)",
    "log_softmax": "∂/∂z = g − softmax(z) Σ g",
    "softmax": "∂/∂z = s ⊙ (g − Σ g·s)",
    "quadratic cost": "C = (1/2m) Σₓ ‖y − aᴸ‖²:  ∇ₐC = (aᴸ − y)/m, the first factor of BP1",
    "cross-entropy": "C = −(1/m) Σ [y ln a + (1 − y) ln(1 − a)]:  ∂C/∂a = (a − y) / (m·a(1 − a))",
    "cost (from zᴸ)": "the σ′(zᴸ) of BP1 cancels (cross-entropy with σ, or log-likelihood with softmax): "
                      "δᴸ = (aᴸ − y)/m",
    "log-likelihood": "C = −(1/m) Σₓ ln aᴸ_y:  ∂C/∂aᴸ_y = −1/(m·aᴸ_y)",
}
_ACTIVATION_PRIME = {op: _LOCAL[op] for op in ("σ", "tanh", "relu")}  # σ′ and the others, for BP1 and BP2


def _layer_number(node: Value) -> int | None:
    """The book's number l of a layer node (op "linear"), from its weight's name 'layers.i.weight' (l = i + 2)."""
    weight = node._b
    match = re.fullmatch(r"(?:.*\.)?(\d+)\.weight", (weight.name or "") if weight is not None else "")
    return int(match.group(1)) + 2 if match else None


def _bp_rule(l: int | None, first: bool, last: int | None, batch: int = 1) -> str:
    """What a layer node's rule computes, as the book's equations (the texts of `draw_backprop`'s gradient boxes)."""
    if l is None or last is None:
        return ("a layer z = a·wᵀ + b: ∂C/∂b = δ (BP3), ∂C/∂w = δᵀ a (BP4), and wᵀδ passes back to a "
                "(BP2's first factor)")
    k, p = sup(l), sup(l - 1)
    text = (f"layer {l}: z{k} = w{k}a{p} + b{k}, and δ{k} = ∂C/∂z{k} is complete.  "
            f"{equation_for('bias', l, last)}  ·  {equation_for('weight', l, last)}  "
            f"{'(one example)' if batch == 1 else f'(summed over the mini-batch of {batch}: the cost is a mean)'}")
    if first:
        return text + f"  ·  a{p} = x is the input: no gradient flows further"
    return text + f"  ·  (w{k})ᵀδ{k} flows back to a{p}: the first factor of BP2"


def _activation_rule(op: str, l: int, last: int) -> str:
    """An activation applied to layer l's z: the second factor of BP1 (output layer) or BP2 (hidden layer)."""
    k, prime = sup(l), _ACTIVATION_PRIME[op]
    if l == last:  # the cost is not known here: BP1 in its general form
        return f"BP1: δ{k} = ∇ₐC ⊙ σ′(z{k}), the output layer's error;  {prime}"
    return f"{equation_for('delta', l, last)}, the error of hidden layer {l};  {prime}"


_NEURON = re.compile(r"z(\d+)_(\d+)")          # a scalar network's weighted input zˡⱼ (named by ScalarMLP)
_PRIME = {"σ": lambda out: out * (1.0 - out), "tanh": lambda out: 1.0 - out * out,
          "relu": lambda out: 1.0 if out > 0 else 0.0}   # the derivative from the activation's output


def _scalar_activation_rule(node: Value, last: int) -> str | None:
    """A scalar network's σ (tanh, relu) on zˡⱼ: BP1 or BP2 for that one neuron, with its arithmetic, e.g.
    'BP1: δ³₁ = ∂C/∂a³₁ · σ′(z³₁);  σ′(-3.8164) = 0.0211;  -0.9785 × 0.0211 = -0.0206'."""
    z = node._a
    m = _NEURON.fullmatch(z.name or "") if z is not None else None
    if m is None or type(node.data) is not float or type(node.grad) is not float:
        return None
    l, j = int(m[1]), int(m[2])
    L, J, f = sup(l), S.sub(j), node.op
    slope = _PRIME[f](node.data)
    arithmetic = (f"{f}′({S.fmt_number(z.data)}) = {S.fmt_number(slope)};  "
                  f"{S.fmt_number(node.grad)} × {S.fmt_number(slope)} = {S.fmt_number(node.grad * slope)}")
    if l == last:
        return f"BP1: δ{L}{J} = ∂C/∂a{L}{J} · {f}′(z{L}{J}), the output neuron's error;  {arithmetic}"
    return (f"BP2: δ{L}{J} = (Σₖ w{sup(l + 1)}ₖ{J} δ{sup(l + 1)}ₖ) · {f}′(z{L}{J}) — the sum is ∂C/∂a{L}{J}, complete "
            f"now;  {arithmetic}")


def _operands(node: Value) -> tuple[list[str], str]:
    """The inputs' names for a rule text — the book's name, a constant's value, or u, v for an unnamed op
    node — and the note saying what u and v are."""
    names, notes = [], []
    for v in node._prev:
        if v.name:
            names.append(S.book_name(v.name))
        elif v._a is None and type(v.data) is float:
            names.append(f"{v.data:g}")
        else:
            names.append("uv"[len(notes)] if len(notes) < 2 else "w")
            notes.append(f"{names[-1]} = the {v.op} node ({S.fmt_array(v.data)})")
    return names, ("  (" + ", ".join(notes) + ")" if notes else "")


def _binary_rule(node: Value) -> str | None:
    """+, ×, −, ÷ and ** of two scalars, in the inputs' own names and values:
    '∂(w³₁₁·a²₁)/∂w³₁₁ = a²₁ = 0.7939,  ∂(w³₁₁·a²₁)/∂a²₁ = w³₁₁ = -1.2654'."""
    ins = node._prev
    if node.op not in ("+", "×", "−", "÷", "**") or len(ins) != 2 or any(type(v.data) is not float for v in ins):
        return None
    (A, B), note = _operands(node)
    a, b = np.float64(ins[0].data), np.float64(ins[1].data)   # numpy floats: 1/0 is inf, (−1)^0.5 nan, never raise
    n = S.fmt_number
    if node.op == "+":
        e, da, db = f"{A} + {B}", "1", "1"
    elif node.op == "×":
        e, da, db = f"{A}·{B}", _valued(B, b), _valued(A, a)
    elif node.op == "−":
        e, da, db = f"{A} − {B}", "1", "−1"
    else:
        with np.errstate(all="ignore"):
            if node.op == "÷":
                e, da, db = f"{A}/{B}", f"1/{B} = {n(1 / b)}", f"−{A}/{B}² = {n(-a / b ** 2)}"
            else:   # the engine's own values at a base of 0: d(0ᵖ)/dp = 0 for p > 0
                e, da = f"{A}^{B}", f"{B}·{A}^({B} − 1) = {n(b * a ** (b - 1)) if b != 0 else '0'}"
                db = f"{A}^{B}·ln {A} = {n(node.data * np.log(a)) if a != 0 else '0' if b > 0 else 'nan'}"
    parts = [f"∂({e})/∂{X} = {d}" for X, d, v in ((A, da, ins[0]), (B, db, ins[1])) if v.requires_grad]
    return ",  ".join(parts) + f": each input gets g × its derivative{note}"


def _valued(name: str, x: float) -> str:
    """'a²₁ = 0.7939', or just '0.5' for a constant written by its value."""
    return name if name == f"{float(x):g}" else f"{name} = {S.fmt_number(x)}"


def _panel_value(g: Any) -> str:
    """A gradient for the step panel: a scalar, up to 10 elements in full, else shape and mean — for one
    example's vector said to be the mean of its elements (no mini-batch is averaged)."""
    if type(g) is float or np.ndim(g) == 0 or np.size(g) == 0:
        return S.fmt_array(g)
    g = np.asarray(g)
    if g.size <= 10:
        return f"{S.fmt_shape(g.shape)} [{', '.join(S.fmt_number(x) for x in g.ravel())}]"
    if g.ndim == 1 or g.shape[0] == 1:
        return f"{S.fmt_shape(g.shape)} (one example) · mean of its {g.size:,} elements {S.fmt_number(float(g.mean()))}"
    return S.fmt_array(g)


def _rule_text(node: Value, last_layer: int | None, first_layer: int | None, batch: int = 1) -> str:
    op = node.op
    if op == "linear":
        l = _layer_number(node)
        return _bp_rule(l, l is not None and l == first_layer, last_layer, batch)
    if op in _ACTIVATION_PRIME and node._a is not None and node._a.op == "linear":
        l = _layer_number(node._a)
        if l is not None and last_layer is not None:
            return _activation_rule(op, l, last_layer)
    if op in _ACTIVATION_PRIME and last_layer is not None and (text := _scalar_activation_rule(node, last_layer)):
        return text
    if text := _binary_rule(node):
        return text
    text = _LOCAL.get(op, f"the backward rule of {op or 'this op'}")
    if "/m" in text or "(1/m)" in text or "/(m" in text:
        text += f"  — here m = 1: one example" if batch == 1 else f"  — here m = {batch}"
    return text


# ---- running backward() step by step --------------------------------------------------------------------
@dataclass
class _Step:
    node: int                        # trace index of the node whose rule runs
    grad: str                        # ∂C/∂node, formatted
    updates: list[tuple[int, str, str]]   # (trace index, gradient after the rule, its panel text) per input
    panel: str = ""                  # ∂C/∂node as the step panel writes it


def _run_backward(root: Value, index: dict[int, int]) -> list[_Step]:
    """Run the engine's backward rules in ``backward()``'s order, recording what each one produced."""
    order = _topological_order(root)          # clears the intermediates' old gradients, as backward() does
    root.grad = 1.0 if type(root.data) is float else np.ones_like(root.data)   # ∂C/∂C = 1
    steps = []
    for node in reversed(order):
        if node.grad is None:  # nothing flows into it: backward() skips it too
            continue
        node._rule(node, node.grad)
        updates = [(index[id(p)], S.fmt_array(p.grad), _panel_value(p.grad)) for p in node._prev
                   if p.requires_grad and p.grad is not None]
        steps.append(_Step(index[id(node)], S.fmt_array(node.grad), updates, _panel_value(node.grad)))
    return steps


def _describe(v: Value, i: int) -> str:
    """A short name for a node: its name in the book's notation (z³₁, w²), or what it is and its value."""
    if v.name:
        return S.book_name(v.name)
    if v._a is None:
        return f"{'parameter' if v.requires_grad else 'constant'} {S.fmt_array(v.data)}"
    return f"the {v.op} node ({S.fmt_array(v.data)})"


# ---- the page ---------------------------------------------------------------------------------------------
class BackwardAnimation:
    """The player page of one backward pass: `.html` (the whole file), `.save(path)`, and shown inline in
    Jupyter (`_repr_html_`: the page in an iframe)."""

    def __init__(self, page: str, steps: int) -> None:
        self.html, self.steps = page, steps

    def save(self, path: str | os.PathLike) -> Path:
        """Write the page to `path` (conventionally .html), atomically like every output, and return the path."""
        page = self.html.encode("utf-8")
        return atomic_write(path, lambda f: f.write(page), "the player page")

    def _repr_html_(self) -> str:
        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" '
                f'style="width:100%;height:720px;border:1px solid #ced4da"></iframe>')

    def __repr__(self) -> str:
        return f"BackwardAnimation({self.steps} steps, {len(self.html):,} characters)"


def animate_backward(root: Value | Program, path: str | os.PathLike | None = None, *, rankdir: str = "LR",
                     max_nodes: int = 500, title: str | None = None) -> Path | BackwardAnimation:
    """Write a web page that steps through ``root.backward()`` one rule at a time; return its path.

    Without `path`, return the `BackwardAnimation` instead (Jupyter shows it inline). The gradients are
    computed by the engine's own rules in ``backward()``'s order, leaf gradients starting from zero; every
    node's ``.grad`` is restored afterwards, so calling this changes nothing in the graph. Graphs of more
    than `max_nodes` Values are collapsed exactly as by `draw_graph` (the page says what was collapsed);
    the step panel still names every node whose rule runs.
    """
    if isinstance(root, Program):  # a traced program's backward lines are its graph's rules, in this order
        root = root.root
    if not isinstance(root, Value):
        raise TypeError(f"animate_backward: expected a Value, got {type(root).__name__}")
    if not root.requires_grad or root._a is None:
        raise ValueError("animate_backward: the root is a leaf or a constant: no backward rule would run")
    if root.size != 1:
        raise ValueError(f"animate_backward: the root must have one element (a cost), this one has shape {root.shape}")
    tr = _trace(root)
    layout = _plan(tr, max_nodes)
    index = {id(v): i for i, v in enumerate(tr.nodes)}
    saved = [v.grad for v in tr.nodes]
    try:
        for v, param in zip(tr.nodes, tr.is_param):
            if param:
                v.grad = None              # leaf gradients are shown from zero
        steps = _run_backward(root, index)
        graph = draw_graph(root, rankdir=rankdir, max_nodes=max_nodes)   # the final gradients fill the boxes
        data = _data(tr, layout, steps)    # the rule texts read each node's complete gradient
    finally:
        for v, g in zip(tr.nodes, saved):
            v.grad = g
    try:
        svg = graph.pipe(format="svg").decode("utf-8")
    except graphviz.ExecutableNotFound as exc:
        raise GraphvizNotFoundError(INSTALL_HINT) from exc
    page = _page(_inline_svg(svg), data, title or f"backward pass of {root.name or 'the output'}")
    animation = BackwardAnimation(page, len(steps))
    return animation if path is None else animation.save(path)


def _data(tr: Any, layout: Any, steps: list[_Step]) -> dict:
    """The JSON blob the page's script reads: per step the node, the rule, the texts, the gradients produced."""
    unit = layout.unit

    def drawn(i: int) -> list[str]:  # the SVG node titles that show trace node i
        if unit[i] != ALONE:
            return [f"u{unit[i]}"]
        return [f"v{i}"] if tr.is_leaf[i] else [f"v{i}", f"o{i}"]

    layers = [l for v in tr.nodes if v.op == "linear" and (l := _layer_number(v)) is not None]
    last, first = (max(layers), min(layers)) if layers else (None, None)
    if not layers:   # a scalar network: its layers are in the names zˡⱼ
        layers = [int(m[1]) for v in tr.nodes if (m := _NEURON.fullmatch(v.name or ""))]
        last = max(layers, default=None)
    batch = next((np.shape(v.data)[0] if np.ndim(v.data) == 2 else 1 for v in tr.nodes if v.op == "linear"), 1)
    rules: dict[str, int] = {}
    first_grad: dict[str, int] = {}
    out = []
    for k, s in enumerate(steps, start=1):
        v = tr.nodes[s.node]
        if k == 1:
            for t in drawn(s.node):
                first_grad.setdefault(t, 1)
        for j, *_ in s.updates:
            for t in drawn(j):
                first_grad.setdefault(t, k)
        rule = rules.setdefault(_rule_text(v, last, first, batch), len(rules))
        u = unit[s.node]
        where = "" if u == ALONE else f" (inside {layout.keys[u] or 'a collapsed ' + layout.kinds[u]} node)"
        gets = [[f"v{j}" if unit[j] == ALONE else "", _describe(tr.nodes[j], j), g, text] for j, g, text in s.updates]
        out.append([drawn(s.node), rule, _describe(v, s.node) + where, s.grad, gets, s.panel])
    return {"steps": out, "rules": list(rules), "first": first_grad,
            "grads": [f"v{i}" for i in range(len(tr.nodes)) if unit[i] == ALONE]}


def _inline_svg(svg: str) -> str:
    """Graphviz's SVG document as an inline element: no XML declaration, DOCTYPE (whose DTD is a URL) or
    comments; only the namespace attributes keep their w3.org names (identifiers, never fetched)."""
    svg = svg[svg.index("<svg"):]
    return re.sub(r"<!--.*?-->\n?", "", svg, flags=re.DOTALL)


_SCRIPT_UNSAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
                                "\u2029": "\\u2029"})


def _script_json(data: dict) -> str:
    """JSON that is inert inside <script>, whatever the names hold: no '<' (so no '</script', '<!--' or
    '<script'), '>' or '&', and U+2028/2029 escaped too; JSON.parse reads the \\u escapes back as the text."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).translate(_SCRIPT_UNSAFE)


def _page(svg: str, data: dict, title: str) -> str:
    blob = _script_json(data)
    head, rest = _TEMPLATE.replace("__TITLE__", html.escape(title)).split("__SVG__")
    middle, tail = rest.split("__DATA__")
    return head + svg + middle + blob + tail


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__ · step by step</title>
<style>
  body { font: 14px/1.45 Helvetica, Arial, sans-serif; color: #212529; margin: 0; background: #f8f9fa; }
  header { padding: 10px 16px 6px; background: #fff; border-bottom: 1px solid #dee2e6; }
  h1 { font-size: 17px; margin: 0 0 8px; }
  .controls { display: flex; align-items: center; gap: 8px; flex-wrap: wrap; }
  button { font: inherit; padding: 3px 12px; border: 1px solid #adb5bd; border-radius: 4px; background: #fff;
           cursor: pointer; min-width: 44px; }
  button:hover { background: #e9ecef; }
  #slider { flex: 1; min-width: 160px; }
  #step-label { font-weight: bold; min-width: 120px; font-variant-numeric: tabular-nums; }
  #panel { margin: 8px 16px; padding: 8px 12px; background: #fff; border: 1px solid #dee2e6; border-radius: 6px; }
  #panel .rule { font-size: 15px; color: #862e9c; margin: 2px 0 4px; }
  #panel .muted, .hint { color: #868e96; font-size: 12px; }
  #panel ul { margin: 2px 0; padding-left: 20px; }
  #graph { margin: 0 16px 16px; background: #fff; border: 1px solid #dee2e6; border-radius: 6px; overflow: auto;
           max-height: 78vh; }
  #graph.fit svg { max-width: 100%; height: auto; }
  g.node.pending { opacity: 0.35; }
  g.node.current > path, g.node.current > polygon, g.node.current > ellipse {
      stroke: #e8590c; stroke-width: 3px; }
  g.node.current > ellipse { fill: #ffd8a8; }
  g.node.got > path, g.node.got > polygon { stroke: #2b8a3e; stroke-width: 2px; }
  g.edge.flow > path { stroke: #e8590c; stroke-width: 2.5px; }
  g.edge.flow > polygon { stroke: #e8590c; fill: #e8590c; }
  .key { display: inline-block; width: 12px; height: 12px; border-radius: 3px; vertical-align: -1px; margin: 0 3px 0 10px; }
</style>
</head>
<body>
<header>
  <h1>__TITLE__, one backward rule at a time</h1>
  <div class="controls">
    <button id="prev" title="previous step (←)">◀ prev</button>
    <button id="play" title="play / pause">▶ play</button>
    <button id="next" title="next step (→)">next ▶</button>
    <input id="slider" type="range" min="1" value="1" aria-label="step">
    <span id="step-label">step 1 of 1</span>
    <label class="hint"><input id="fit" type="checkbox" checked> fit to width</label>
  </div>
  <div class="hint">← → keys step · the URL #step=K opens step K ·
    <span class="key" style="border:3px solid #e8590c"></span>rule running now
    <span class="key" style="border:2px solid #2b8a3e"></span>got a gradient from it
    <span class="key" style="background:#ccc;opacity:.5"></span>no gradient yet</div>
</header>
<div id="panel"></div>
<div id="graph" class="fit">
__SVG__
</div>
<pre id="selftest" class="hint" hidden></pre>
<script type="application/json" id="data">__DATA__</script>
<script>
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("data").textContent);
  var N = D.steps.length, K = 1, timer = null, DELAY = 700;
  var nodes = {}, gradText = {}, gradPrefix = {}, flowInto = {};
  // a gradient field reads "grad …", or "δ …" for a weighted input z (draw_graph's book notation)
  var GRAD = /^(grad (δₓ\\/m per row \\(m = \\d+\\) )?|δ\u00a0(\\(one example\\) )?)/;
  document.querySelectorAll("#graph g.node").forEach(function (g) {
    var t = g.querySelector("title").textContent; nodes[t] = g;
    g.querySelectorAll("text").forEach(function (x) {
      var m = GRAD.exec(x.textContent);
      if (m) { gradText[t] = x; gradPrefix[t] = m[0]; }
    });
  });
  document.querySelectorAll("#graph g.edge").forEach(function (g) {
    var head = g.querySelector("title").textContent.split("->")[1];
    (flowInto[head] = flowInto[head] || []).push(g);
  });
  var slider = document.getElementById("slider"), label = document.getElementById("step-label");
  var panel = document.getElementById("panel"), playButton = document.getElementById("play");
  slider.max = N;

  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text; return e; }

  function show(k) {
    K = Math.max(1, Math.min(N, k | 0 || 1));
    var step = D.steps[K - 1], current = {}, got = {}, grads = {};
    step[0].forEach(function (t) { current[t] = true; });
    step[4].forEach(function (u) { if (u[0]) got[u[0]] = true; });
    for (var s = 0; s < K; s++) {          // the gradients so far: replay every step up to K
      var st = D.steps[s];
      if (s === 0) grads[st[0][0]] = st[3];
      st[4].forEach(function (u) { if (u[0]) grads[u[0]] = u[2]; });
    }
    Object.keys(nodes).forEach(function (t) {
      var g = nodes[t], f = D.first[t];
      g.classList.toggle("current", !!current[t]);
      g.classList.toggle("got", !!got[t] && !current[t]);
      g.classList.toggle("pending", !current[t] && f !== undefined && f > K);  // gets its gradient later
      if (gradText[t]) gradText[t].textContent = gradPrefix[t] + (grads[t] || "");
    });
    document.querySelectorAll("#graph g.edge.flow").forEach(function (g) { g.classList.remove("flow"); });
    step[0].forEach(function (t) { (flowInto[t] || []).forEach(function (g) { g.classList.add("flow"); }); });
    label.textContent = "step " + K + " of " + N;
    slider.value = K;
    panel.textContent = "";
    panel.appendChild(el("div", "", "Step " + K + ": the backward rule of " + step[2] + " runs"));
    panel.appendChild(el("div", "rule", D.rules[step[1]]));
    panel.appendChild(el("div", "", "its gradient, complete now: ∂C/∂(" + step[2].split(" (inside")[0] + ") = " +
      step[5]));
    var ul = el("ul");
    step[4].forEach(function (u) { ul.appendChild(el("li", "", "∂C/∂(" + u[1] + ") = " + u[3] +
      (u[0] ? "" : "  (collapsed)"))); });
    if (!step[4].length) ul.appendChild(el("li", "muted", "no input needs a gradient"));
    panel.appendChild(el("div", "muted", "its inputs now hold:"));
    panel.appendChild(ul);
    var params = parseHash(); params.step = String(K);
    var hash = "#" + Object.keys(params).map(function (k) { return k + "=" + params[k]; }).join("&");
    var box = document.getElementById("graph"), node = nodes[step[0][0]];
    if (node) {                            // keep the running node in view (within the graph's own scroll box)
      var r = node.getBoundingClientRect(), c = box.getBoundingClientRect();
      if (r.top < c.top || r.bottom > c.bottom) box.scrollTop += (r.top + r.bottom - c.top - c.bottom) / 2;
      if (r.left < c.left || r.right > c.right) box.scrollLeft += (r.left + r.right - c.left - c.right) / 2;
    }
    // the step in the URL, where the page may change it: inside Jupyter's <iframe srcdoc> (about:srcdoc)
    // replaceState throws a SecurityError, and the player works on without it
    if (location.hash !== hash) { try { history.replaceState(null, "", hash); } catch (e) { /* not allowed */ } }
  }

  function parseHash() {
    var out = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (p) {
      var kv = p.split("="); if (kv[0]) out[kv[0]] = kv.slice(1).join("=");
    });
    return out;
  }
  function pause() { if (timer) { clearInterval(timer); timer = null; } playButton.textContent = "▶ play"; }
  function play() {
    if (K >= N) show(1);
    playButton.textContent = "❚❚ pause";
    timer = setInterval(function () { if (K >= N) pause(); else show(K + 1); }, DELAY);
  }
  document.getElementById("prev").addEventListener("click", function () { pause(); show(K - 1); });
  document.getElementById("next").addEventListener("click", function () { pause(); show(K + 1); });
  playButton.addEventListener("click", function () { if (timer) pause(); else play(); });
  slider.addEventListener("input", function () { pause(); show(+slider.value); });
  document.getElementById("fit").addEventListener("change", function (e) {
    document.getElementById("graph").classList.toggle("fit", e.target.checked); });
  document.addEventListener("keydown", function (e) {
    if (e.target === slider) return;      // the slider handles its own arrow keys
    if (e.key === "ArrowLeft") { pause(); show(K - 1); e.preventDefault(); }
    if (e.key === "ArrowRight") { pause(); show(K + 1); e.preventDefault(); }
  });
  window.addEventListener("hashchange", function () { var p = parseHash(); if (+p.step !== K) show(+p.step); });
  var svg = document.querySelector("#graph svg"), fit = document.getElementById("fit");
  if (svg && svg.viewBox.baseVal.width > 1.6 * document.getElementById("graph").clientWidth) {
    fit.checked = false;                   // too wide to read when shrunk: scroll to the running node instead
    document.getElementById("graph").classList.remove("fit");
  }
  show(+parseHash().step || 1);

  // ---- the self-test (#selftest=1): drive the real controls and report what the page showed ----
  if (parseHash().selftest) {
    var log = ["initial: " + label.textContent], ok = true;
    var expect = function (what, want) {
      var seen = label.textContent, good = seen === "step " + want + " of " + N;
      ok = ok && good; log.push(what + ": " + seen + (good ? "" : "  (expected step " + want + ")"));
    };
    var start = K, key = function (k) { document.dispatchEvent(new KeyboardEvent("keydown", {key: k, bubbles: true})); };
    document.getElementById("next").click(); expect("next button", Math.min(start + 1, N));
    document.getElementById("prev").click(); expect("prev button", start);
    key("ArrowRight"); expect("→ key", Math.min(start + 1, N));
    key("ArrowLeft"); expect("← key", start);
    slider.value = N; slider.dispatchEvent(new Event("input")); expect("slider to the end", N);
    document.getElementById("next").click(); expect("next at the end", N);
    slider.value = 1; slider.dispatchEvent(new Event("input")); expect("slider to the start", 1);
    document.getElementById("prev").click(); expect("prev at the start", 1);
    location.hash = "#step=" + N + "&selftest=1";
    setTimeout(function () {
      expect("hash #step=" + N, N);
      show(1); playButton.click();
      setTimeout(function () {
        var during = K; playButton.click();
        var good = during > 1 || N === 1; ok = ok && good;
        log.push("play for " + (3.5 * DELAY) + " ms: step " + during + (good ? "" : "  (did not advance)"));
        setTimeout(function () {
          var still = K === during; ok = ok && still;
          log.push("pause: " + label.textContent + (still ? "" : "  (kept playing)"));
          var out = document.getElementById("selftest");
          out.textContent = "selftest " + (ok ? "ok" : "FAILED") + "\\n" + log.join("\\n");
          out.hidden = false;
        }, 3 * DELAY);
      }, 3.5 * DELAY);
    }, 50);
  }
})();
</script>
</body>
</html>
"""

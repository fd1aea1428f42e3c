"""`draw_graph`: the computation graph of a `Value`, micrograd style, collapsed when it is large.

Every Value is a record box — its name, ``data`` and ``grad`` — and the op that made it is a small ellipse
feeding it: inputs → op → value. Parameters, inputs/constants and the output are filled in different
colours, explained by a legend node. Names are written in the book's notation (the input layer is layer 1):
``layers.0.weight`` is drawn as w² (with the code path as a second line), a scalar network's
``layers.0.neurons.2.weights.1`` as w²₃₂ (wˡⱼₖ; the code path is the tooltip), ``z2`` as z², ``a3_1`` as a³₁.
A weighted input's gradient is labelled δ: exactly the book's δ for one example, δₓ/m per row for a
mini-batch of m (the package's costs are means). The target y of a cost node is drawn as its second input.

A graph of at most ``max_nodes`` Values is drawn in full. A larger one is *collapsed*, never cut: the
picture then has at most ``max_nodes`` nodes in all (op nodes included, the legend aside), and its title
says what was collapsed. The strategy, tried step by step until the picture fits:

1. **groups** — a parameter named by a module (``layers.1.neurons.3.weights.0``) belongs to the groups
   given by its name's numbered prefixes, finest first: the neuron ``layers.1.neurons.3``, then the
   layer ``layers.1``. In topological order every op node joins the group of the parameters it uses
   directly, or else the group shared by all its non-constant inputs; where inputs disagree it stays
   alone. Each group is drawn as one node (its name and how many Values it holds), with the edges
   between groups, and the group nodes sit in graphviz clusters that show the model's structure: the
   neurons of each layer in a cluster of their own (``layers.1 · 16 neurons``), the layers together in
   one cluster for the model (``model · 3 layers``). Everything else (inputs, the cost's ops, the
   output, chain / subtree / band summaries) stays outside the clusters.
2. **long chains** — among the Values left alone, runs of ≥ 3 ops where each feeds only the next, and
   the next has no other lone op input, become one summary node ``… 99,990 nodes (×, +) …``.
   Constants used only inside one collapsed node are folded into it.
3. coarser groups (per layer instead of per neuron), then **single-use subtrees**: every lone op used by
   exactly one other lone op is merged into it (a whole reduction tree, e.g. a summed cost, becomes one node).
4. **depth bands** — if it still does not fit, the remaining Values (groups too, if needed) are binned
   by their depth in the graph into at most the nodes left, which always fits.

The output node is always drawn on its own. All passes are iterative and linear in the graph's size, so a
million-deep chain neither recurses nor takes long.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

import graphviz
import numpy as np

from tinygrad_nn import nn
from tinygrad_nn.engine import Value
from tinygrad_nn.trace import Program

from . import _style as S
from .program import draw_program

__all__ = ["draw_graph"]

ALONE = -1            # the unit of a Value drawn on its own
_CHAIN_MIN = 3        # the shortest chain worth a summary node
_RANKDIRS = ("LR", "RL", "TB", "BT")
_PORTS = {"LR": ("e", "w"), "RL": ("w", "e"), "TB": ("s", "n"), "BT": ("n", "s")}   # an edge's tail and head side
_METHOD = {"chain": "long chains", "subtree": "single-use subtrees", "band": "by depth"}
# ops whose operands' order matters: the op node shows the formula, its input edges are labelled a and b
_ORDERED = {"−": "a − b", "÷": "a ÷ b", "**": "aᵇ", "@": "a @ b"}


@dataclass
class _Trace:
    """The graph as flat lists indexed by topological position: inputs before their users, the root last."""

    nodes: list[Value]
    inputs: list[tuple[int, ...]]
    only_user: list[int]      # the single node using this one; -1 when none, -2 when several
    is_leaf: list[bool]
    is_param: list[bool]      # a leaf that requires a gradient
    is_const: list[bool]      # a leaf that does not: an input or a constant

    @property
    def root(self) -> int:
        return len(self.nodes) - 1


@dataclass
class _Layout:
    """Which drawn node holds each Value: ``unit[i]`` is ALONE or the index of a summary node."""

    unit: list[int]
    kinds: list[str] = field(default_factory=list)   # per summary node: 'group', 'chain', 'subtree', 'band'
    keys: list[str] = field(default_factory=list)    # per summary node: the group's name, or ''

    def add(self, kind: str, key: str = "") -> int:
        self.kinds.append(kind)
        self.keys.append(key)
        return len(self.kinds) - 1


def _trace(root: Value) -> _Trace:
    """Topological order by an iterative depth-first search (no recursion, any depth)."""
    index: dict[int, int] = {}
    expanded: set[int] = set()
    nodes: list[Value] = []
    inputs: list[tuple[int, ...]] = []
    stack: list[tuple[Value, tuple | None]] = [(root, None)]
    while stack:
        v, prev = stack.pop()
        if prev is not None:  # second visit: every input is placed, so v can be
            index[id(v)] = len(nodes)
            nodes.append(v)
            inputs.append(tuple([index[id(p)] for p in prev]))
        elif id(v) not in expanded:
            expanded.add(id(v))
            prev = v._prev
            stack.append((v, prev))
            stack.extend([(p, None) for p in prev if id(p) not in expanded])
    only_user = [-1] * len(nodes)
    for i, ins in enumerate(inputs):
        for j in ins:
            u = only_user[j]
            only_user[j] = i if u == -1 or u == i else -2
    is_leaf = [not ins for ins in inputs]
    is_param = [leaf and v.requires_grad for leaf, v in zip(is_leaf, nodes)]
    is_const = [leaf and not v.requires_grad for leaf, v in zip(is_leaf, nodes)]
    return _Trace(nodes, inputs, only_user, is_leaf, is_param, is_const)


# ---- planning the collapse -------------------------------------------------------------------------
def _group_path(name: str | None) -> list[str]:
    """The groups owning a parameter, finest first: 'layers.0.neurons.2.weights.1' → ['layers.0.neurons.2',
    'layers.0'], 'layers.0.weight' → ['layers.0']. Only dotted (module-given) names define groups."""
    if not name or "." not in name:
        return []
    parts = name.split(".")
    numbered = [".".join(parts[:i + 1]) for i in range(len(parts) - 1) if parts[i].isdigit()]
    return numbered[::-1] or [".".join(parts[:-1])]


def _group_kind(key: str) -> str:
    """'layers.0.neurons.2' → 'neuron', 'layers.0' → 'layer': the word before the last number."""
    parts = key.split(".")
    if len(parts) >= 2 and parts[-1].isdigit():
        return parts[-2].removesuffix("s")
    return "module"


def _group(tr: _Trace, paths: dict[int, list[str]], level: int) -> _Layout:
    """Step 1: one unit per parameter group at `level` (0 = finest), op nodes joining their owners."""
    layout = _Layout([ALONE] * len(tr.nodes))
    unit, is_param, is_const = layout.unit, tr.is_param, tr.is_const
    ids: dict[str, int] = {}
    for i, ins in enumerate(tr.inputs):
        if not ins:
            path = paths.get(i)
            if path:
                key = path[min(level, len(path) - 1)]
                if key not in ids:
                    ids[key] = layout.add("group", key)
                unit[i] = ids[key]
            continue
        if len(ins) == 1:  # a kept input always requires a gradient: never a constant
            unit[i] = unit[ins[0]]
            continue
        owners = {unit[j] for j in ins if is_param[j] and unit[j] != ALONE}
        if not owners:
            owners = {unit[j] for j in ins if not is_const[j]}
        unit[i] = owners.pop() if len(owners) == 1 else ALONE
    unit[tr.root] = ALONE
    return layout


def _contract(tr: _Trace, layout: _Layout, kind: str) -> None:
    """Steps 2–3: merge each lone op used by exactly one other lone op into it ('subtree'), or only where
    that user has no other lone op input ('chain'). Runs shorter than _CHAIN_MIN stay apart for chains."""
    unit, inputs, root = layout.unit, tr.inputs, tr.root
    n = len(unit)
    mergeable = [u == ALONE and not leaf for u, leaf in zip(unit, tr.is_leaf)]
    mergeable[root] = False
    rep = list(range(n))
    for u in range(n - 2, -1, -1):  # users come after their inputs: walk backwards so rep[user] is final
        v = tr.only_user[u]
        if mergeable[u] and v >= 0 and mergeable[v]:
            if kind == "chain" and len({j for j in inputs[v] if mergeable[j]}) != 1:
                continue
            rep[u] = rep[v]
    sizes = Counter(rep[i] for i in range(n) if mergeable[i])
    smallest = _CHAIN_MIN if kind == "chain" else 2
    new_unit = {r: layout.add(kind) for r, size in sizes.items() if size >= smallest}
    for i in range(n):
        if mergeable[i] and rep[i] in new_unit:
            unit[i] = new_unit[rep[i]]


def _absorb_leaves(tr: _Trace, layout: _Layout, params_too: bool) -> None:
    """Fold lone constants (and, if asked, lone unnamed parameters) used only inside one summary node into it."""
    unit = layout.unit
    absorbable = tr.is_leaf if params_too else tr.is_const
    target: dict[int, int] = {}
    for i, ins in enumerate(tr.inputs):
        ui = unit[i]
        for j in ins:
            if absorbable[j] and unit[j] == ALONE:
                target[j] = ui if target.get(j, ui) == ui else ALONE
    for j, t in target.items():
        unit[j] = t


def _size(tr: _Trace, layout: _Layout) -> int:
    """Nodes in the picture: one per summary, one per lone leaf, two (value + op) per lone op."""
    return len(layout.kinds) + sum(1 if leaf else 2 for u, leaf in zip(layout.unit, tr.is_leaf) if u == ALONE)


def _depths(tr: _Trace) -> list[int]:
    """Longest path from a leaf to each node."""
    depth = [0] * len(tr.nodes)
    for i, ins in enumerate(tr.inputs):
        if ins:
            depth[i] = 1 + max(depth[j] for j in ins)
    return depth


def _band(tr: _Trace, layout: _Layout, budget: int) -> _Layout:
    """Step 4: bin everything but the groups (and the groups too if they alone are too many) by depth."""
    groups = [k for k, kind in enumerate(layout.kinds) if kind == "group"]
    root_cost = 1 if tr.is_leaf[tr.root] else 2
    room = budget - root_cost - len(groups)
    keep_groups = room >= 1
    if not keep_groups:
        room, groups = budget - root_cost, []
    banded = _Layout([ALONE] * len(tr.nodes))
    kept = {old: banded.add("group", layout.keys[old]) for old in groups}
    depth = _depths(tr)
    members = []
    for i, u in enumerate(layout.unit):
        if u in kept:
            banded.unit[i] = kept[u]
        elif i != tr.root:
            members.append(i)
    members.sort(key=depth.__getitem__)
    per_bin = max(1, math.ceil(len(members) / room))
    start = 0
    while start < len(members):  # each bin but the last holds ≥ per_bin nodes, so there are ≤ room bins
        stop = min(start + per_bin, len(members))
        while stop < len(members) and depth[members[stop]] == depth[members[stop - 1]]:
            stop += 1
        lo, hi = depth[members[start]], depth[members[stop - 1]]
        b = banded.add("band", f"depth {lo}" if lo == hi else f"depth {lo}–{hi}")
        for i in members[start:stop]:
            banded.unit[i] = b
        start = stop
    return banded


def _plan(tr: _Trace, max_nodes: int) -> _Layout:
    """Choose the finest layout whose picture has at most `max_nodes` nodes (see the module docstring)."""
    if len(tr.nodes) <= max_nodes:
        return _Layout([ALONE] * len(tr.nodes))
    paths = {i: p for i, (v, param) in enumerate(zip(tr.nodes, tr.is_param)) if param and (p := _group_path(v.name))}
    levels = max((len(p) for p in paths.values()), default=1)
    for level in range(levels):
        grouped = _group(tr, paths, level)
        for kind in ("chain", "subtree"):
            layout = _Layout(grouped.unit.copy(), grouped.kinds.copy(), grouped.keys.copy())
            _contract(tr, layout, kind)
            _absorb_leaves(tr, layout, params_too=kind == "subtree")
            if _size(tr, layout) <= max_nodes:
                return layout
    return _band(tr, layout, max_nodes)


# ---- drawing -----------------------------------------------------------------------------------------
def _esc(text: str) -> str:
    """Escape the characters that structure a record label (and a DOT string's quote), control characters
    drawn visibly; a field of spaces only would vanish, so it shows as a visible space."""
    text = S.visible(text)
    for ch in "\\{}|<>\"":
        text = text.replace(ch, "\\" + ch)
    return text if text.strip() else text.replace(" ", "␣") or "␣"


def _record(fields: list[str], rankdir: str) -> str:
    """A record label whose fields lie side by side whatever the direction of the graph."""
    body = " | ".join(_esc(f) for f in fields) or " "
    return graphviz.nohtml("{ " + body + " }" if rankdir in ("LR", "RL") else body)


def _value_fill(is_root: bool, is_param: bool, is_const: bool) -> str:
    """The output, a parameter, an input/constant or an intermediate value: each its own fill."""
    if is_root:
        return S.OUTPUT_FILL
    return S.PARAM_FILL if is_param else S.INPUT_FILL if is_const else S.VALUE_FILL


def _ops_text(ops: Counter) -> str:
    common = [op for op, _ in ops.most_common(4)]
    text = ", ".join(common[:3]) + (", …" if len(common) > 3 else "")
    return f" ({text})" if text else ""


def _natural(key: str) -> tuple:
    """Sort 'layers.10' after 'layers.9'."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in key.split("."))


def _container(key: str) -> str:
    """The module holding a group: 'layers.1.neurons.3' → 'layers.1', 'layers.1' → '' (the model itself)."""
    parts = key.split(".")
    return ".".join(parts[:-2] if len(parts) >= 2 and parts[-1].isdigit() else parts[:-1])


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _cluster_name(container: str, taken: set[str]) -> str:
    """A DOT-safe, unique cluster name: 'layers.1' → 'cluster_layers_1', '' → 'cluster_model'."""
    base = "cluster_" + (re.sub(r"\W", "_", container, flags=re.ASCII) or "model")
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    taken.add(name)
    return name


def _draw_summaries(dot: graphviz.Digraph, tr: _Trace, layout: _Layout, rankdir: str) -> tuple[int, set[str]]:
    """One node per summary unit, groups first in natural order; returns how many Values they hold and
    the fill colours used. The group nodes are drawn inside a cluster per module that holds them: the
    neurons of a layer in one cluster per layer, the layers of the model in one cluster for the model."""
    count = [0] * len(layout.kinds)
    params = [0] * len(layout.kinds)
    ops = [Counter() for _ in layout.kinds]
    for i, u in enumerate(layout.unit):
        if u != ALONE:
            count[u] += 1
            if tr.is_param[i]:
                params[u] += 1
            elif not tr.is_leaf[i]:
                ops[u][tr.nodes[i].op] += 1
    fills = set()
    clusters: dict[str, list[int]] = {}
    for k in sorted(range(len(layout.kinds)), key=lambda k: (layout.kinds[k] != "group", _natural(layout.keys[k]))):
        kind, key = layout.kinds[k], layout.keys[k]
        if kind == "group":
            clusters.setdefault(_container(key), []).append(k)
        else:
            where = f", {key}" if key else ""
            dot.node(f"u{k}", S.dot_text(f"… {count[k]:,} nodes{where}{_ops_text(ops[k])} …"), shape="box",
                     style="rounded,dashed,filled", fillcolor=S.SUMMARY_FILL)
            fills.add(S.SUMMARY_FILL)
    taken: set[str] = set()
    for container, members in clusters.items():
        kinds = Counter(_group_kind(layout.keys[k]) for k in members)
        label = " · ".join([container or "model", ", ".join(_plural(n, kind) for kind, n in kinds.items())])
        with dot.subgraph(name=_cluster_name(container, taken)) as sub:
            sub.attr(label=S.dot_text(label), **S.CLUSTER_ATTR)
            # dot's initial order within a rank runs against the declaration order in TB and BT (it is
            # rotated into reading order in LR and RL): declare the members so that they read in order
            for k in (members if rankdir in ("LR", "RL") else members[::-1]):
                detail = f"{count[k]:,} nodes · {params[k]:,} params" if params[k] != count[k] else f"{count[k]:,} params"
                sub.node(f"u{k}", _record([layout.keys[k], detail + _ops_text(ops[k])], rankdir), shape="Mrecord",
                         style="filled", fillcolor=S.GROUP_FILL)
        fills.add(S.GROUP_FILL)
    return sum(count), fills


def _draw_values(dot: graphviz.Digraph, tr: _Trace, layout: _Layout, rankdir: str, show_data: bool,
                 show_grad: bool) -> set[str]:
    """The lone Values: a record box each, and an op node feeding each that an op made; returns the fills used."""
    fills = set()
    for i, v in enumerate(tr.nodes):
        if layout.unit[i] != ALONE:
            continue
        book = S.book_name(v.name)
        fields = [book] if book else []
        if book != v.name and "." in v.name and type(v.data) is not float:  # the code path, for programmers
            fields.append(v.name)
        if show_data:
            fields.append("data " + S.fmt_array(v.data))
        if show_grad and v.grad is not None:
            fields.append(_grad_field(v))
        fill = _value_fill(i == tr.root, tr.is_param[i], tr.is_const[i])
        dot.node(f"v{i}", _record(fields, rankdir), shape="Mrecord", style="filled", fillcolor=fill,
                 tooltip=S.dot_tooltip(v.name or ""))
        fills.add(fill)
        target = _cost_target(v) if show_data else None
        if target is not None:  # the cost's second input: the target y, drawn as a constant
            dot.node(f"y{i}", _record(["y", "data " + S.fmt_array(target)], rankdir), shape="Mrecord",
                     style="filled", fillcolor=S.INPUT_FILL, tooltip="the target (a one-hot row per example)")
            dot.edge(f"y{i}", f"o{i}")
            fills.add(S.INPUT_FILL)
        if not tr.is_leaf[i]:
            ordered = v.op in _ORDERED and len(tr.inputs[i]) == 2
            dot.node(f"o{i}", S.dot_text(_ORDERED[v.op] if ordered else v.op or "?"), shape="ellipse", style="filled",
                     fillcolor=S.OP_FILL, width="0.3", height="0.3", margin="0.05,0.02",
                     **({"ordering": "in"} if ordered else {}))
            dot.edge(f"o{i}", f"v{i}")
            fills.add(S.OP_FILL)
    return fills


def _grad_field(v: Value) -> str:
    """'grad …', or for a weighted input zˡ, its gradient as the book's δ: exactly δ for a scalar or a single
    example, δₓ/m in each row for a mini-batch of m under the package's mean costs."""
    text = S.fmt_array(getattr(v.grad, "data", v.grad))  # a Value after backward(create_graph=True)
    if not v.name or not re.fullmatch(r"z\d+(_\d+)?", v.name):
        return "grad " + text
    shape = np.shape(v.data)
    if len(shape) == 2 and shape[0] > 1:
        return f"grad δₓ/m per row (m = {shape[0]}) {text}"
    return f"δ\u00a0{'(one example) ' if shape else ''}{text}"  # Graphviz drops a plain space after δ in a record


def _cost_target(v: Value) -> np.ndarray | None:
    """The target y of one of `tinygrad_nn.nn`'s cost nodes (kept in the node, not as a graph input), or None."""
    rule = v._rule
    if rule is nn._quadratic_rule:
        return np.asarray(v._ctx[1])                      # (a − y, y)
    if rule is nn._output_delta_rule:
        return np.asarray(v._ctx[1])                      # (the node aᴸ, y)
    if rule is nn._cross_entropy_rule or rule is nn._log_likelihood_rule:
        return np.asarray(v._ctx)
    return None


def _draw_edges(dot: graphviz.Digraph, tr: _Trace, layout: _Layout) -> None:
    """Inputs → op node (or → summary node); edges inside a summary node are dropped, parallel ones merged."""
    unit = layout.unit
    edges: dict[tuple[str, str], list[str]] = {}
    for i, ins in enumerate(tr.inputs):
        ui = unit[i]
        ordered = ui == ALONE and len(ins) == 2 and tr.nodes[i].op in _ORDERED
        for j, operand in zip(ins, "ab" if ordered else [""] * len(ins)):
            uj = unit[j]
            if ui != ALONE and uj == ui:
                continue
            names = edges.setdefault((f"v{j}" if uj == ALONE else f"u{uj}", f"o{i}" if ui == ALONE else f"u{ui}"), [])
            if ordered:
                names.append(operand)
    for (tail, head), names in edges.items():   # a − b: which input is a, which is b
        dot.edge(tail, head, **({"headlabel": ", ".join(names), "labelfontcolor": S.ORDER_LABEL,
                                 "labeldistance": "1.6", "labelangle": "30"} if names else {}))


_LEGEND = [(S.PARAM_FILL, "parameter (leaf, requires grad)"), (S.INPUT_FILL, "input / constant / target y"),
           (S.VALUE_FILL, "intermediate value"), (S.OUTPUT_FILL, "output"), (S.OP_FILL, "op that made the value"),
           (S.GROUP_FILL, "group (a neuron, a layer)"), (S.SUMMARY_FILL, "collapsed chain / subtree / band")]


def _legend(fills: set[str]) -> str:
    """The legend rows for the kinds of node that appear."""
    return S.legend_label("legend", [(fill, "", text) for fill, text in _LEGEND if fill in fills])


def draw_graph(root: Value | Program, *, rankdir: str = "LR", show_data: bool = True, show_grad: bool = True,
               max_nodes: int = 500) -> graphviz.Digraph:
    """The computation graph that produced `root`, as a `graphviz.Digraph` (shown inline in Jupyter).

    One record box per Value (name, ``data``, and ``grad`` once backward ran; a tensor shows its shape
    and mean, e.g. ``5×3 · mean 0.4100``), fed by an ellipse naming the op (``+``, ``×``, ``@``, ``σ`` …).
    A graph of more than `max_nodes` Values is collapsed into at most `max_nodes` nodes (see the module
    docstring), its group nodes clustered per layer (or per model), and the picture's title says what was
    collapsed. Building needs no Graphviz binary
    (``.source``); render with `viz.render`.
    """
    if isinstance(root, Program):  # a traced program: its lines, forward then backward (viz.program)
        return draw_program(root, rankdir="TB" if rankdir == "LR" else rankdir)
    if not isinstance(root, Value):
        raise TypeError(f"draw_graph: expected a Value, got {type(root).__name__}")
    if rankdir not in _RANKDIRS:
        raise ValueError(f"draw_graph: rankdir must be one of {', '.join(_RANKDIRS)}, got {rankdir!r}")
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 3:
        raise ValueError(f"draw_graph: max_nodes must be an integer ≥ 3, got {max_nodes!r}")
    tr = _trace(root)
    layout = _plan(tr, max_nodes)
    graph_attr = {**S.GRAPH_ATTR, "rankdir": rankdir, "nodesep": "0.15", "ranksep": "0.3"}
    edge_attr = S.EDGE_ATTR
    if "group" in layout.kinds:  # the group nodes lie in clusters (see _draw_summaries): lay them out neatly
        # few crossing-minimisation passes keep a layer's neurons in their natural order, wider rank gaps
        # leave room for the edges between clusters, and edges leave and enter on the sides along the flow
        graph_attr.update(mclimit="0.05", ranksep="0.8")
        tail, head = _PORTS[rankdir]
        edge_attr = {**edge_attr, "tailport": tail, "headport": head}
    dot = graphviz.Digraph("computation_graph", graph_attr=graph_attr, node_attr=S.NODE_ATTR, edge_attr=edge_attr)
    collapsed, fills = _draw_summaries(dot, tr, layout, rankdir)
    fills |= _draw_values(dot, tr, layout, rankdir, show_data, show_grad)
    _draw_edges(dot, tr, layout)
    dot.node("legend", _legend(fills), shape="plaintext", margin="0")
    if layout.kinds:
        methods = []
        for kind, key in zip(layout.kinds, layout.keys):
            method = f"per {_group_kind(key)}" if kind == "group" else _METHOD[kind]
            if method not in methods:
                methods.append(method)
        dot.attr(label=f"collapsed {collapsed:,} of {len(tr.nodes):,} nodes: {' / '.join(methods)}",
                 labelloc="t", labeljust="l", fontcolor=S.MUTED)
    return dot

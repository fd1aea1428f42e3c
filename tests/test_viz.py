"""viz: computation graphs and network diagrams, rendered with Graphviz's `dot` and checked by structure."""
from __future__ import annotations

import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import viz
from tinygrad_nn import Value, nn
from viz import _style
from viz.cli import main

SVG = "{http://www.w3.org/2000/svg}"


# ---- helpers ------------------------------------------------------------------------------------------
class Picture:
    """A rendered SVG: its nodes (title → list of text lines, fill, stroke) and its edges (titles)."""

    def __init__(self, svg: bytes | str) -> None:
        root = ET.fromstring(svg)
        self.root = root
        self.nodes: dict[str, list[str]] = {}
        self.fills: dict[str, set[str]] = {}
        self.strokes: dict[str, set[str]] = {}
        self.edges: list[str] = []
        self.clusters: dict[str, list[str]] = {}   # cluster name → its label's text
        for g in root.iter(SVG + "g"):
            title = g.findtext(SVG + "title")
            if g.get("class") == "cluster":
                self.clusters[title] = [t.text or "" for t in g.iter(SVG + "text")]
            elif g.get("class") == "node":
                self.nodes[title] = [t.text or "" for t in g.iter(SVG + "text")]
                shapes = [e for e in g.iter() if e.tag in (SVG + "path", SVG + "polygon", SVG + "ellipse")]
                self.fills[title] = {e.get("fill") for e in shapes}
                self.strokes[title] = {(e.get("stroke"), e.get("stroke-width")) for e in shapes}
            elif g.get("class") == "edge":
                self.edges.append(title.replace("&#45;", "-"))
        self.title = " ".join(t.text or "" for t in root.find(SVG + "g").findall(SVG + "text"))

    def named(self, prefix: str) -> list[str]:
        return [t for t in self.nodes if t.startswith(prefix)]

    def graph_nodes(self) -> list[str]:
        """Every node but the legend."""
        return [t for t in self.nodes if t != "legend"]

    def text(self) -> str:
        return "\n".join(line for lines in self.nodes.values() for line in lines)


def draw(graph, tmp_path: Path, name: str = "graph.svg") -> Picture:
    return Picture(viz.render(graph, tmp_path / name).read_bytes())


def count_values(root: Value) -> int:
    """The number of Values in a graph, counted independently of viz."""
    seen, stack = {id(root)}, [root]
    while stack:
        for p in stack.pop()._prev:
            if id(p) not in seen:
                seen.add(id(p))
                stack.append(p)
    return len(seen)


def clusters_in(source: str) -> dict[str, tuple[str, dict[str, str]]]:
    """The clusters of a DOT source: name → (label, {node id: the node's first label field}). Graphviz
    writes each as a `subgraph cluster_… {` block with its statements indented one tab further."""
    found = {}
    for name, body in re.findall(r"^\tsubgraph (cluster_\w+) \{\n(.*?)^\t\}$", source, flags=re.MULTILINE | re.DOTALL):
        label = re.search(r'(?:^|\s)label="([^"]*)"', body.splitlines()[0]).group(1)
        members = dict(re.findall(r'^\t\t(\w+) \[label="(?:\{ )?([^ |"]+)', body, flags=re.MULTILINE))
        found[name] = (label, members)
    return found


def held_by_summaries(pic: Picture) -> int:
    """The sum of 'N nodes' over the summary nodes of a collapsed picture."""
    total = 0
    for title in pic.named("u"):
        match = re.search(r"([\d,]+) (?:nodes|params)", " ".join(pic.nodes[title]))
        total += int(match.group(1).replace(",", ""))
    return total


def scalar_mlp_loss(sizes: list[int], points: int, seed: int = 0) -> Value:
    """Σ over points and outputs of (a − y)² for a ScalarMLP: one big scalar graph."""
    net = nn.ScalarMLP(sizes, seed=seed)
    rng = np.random.default_rng(seed)
    loss = Value(0.0, requires_grad=False, name="zero")
    for x, y in zip(rng.random((points, sizes[0])), rng.random((points, sizes[-1]))):
        for a, t in zip(net(list(x)), y):
            loss = loss + (a - float(t)) ** 2
    return loss


@pytest.fixture
def expression():
    a, b, c = Value(2.0, name="a"), Value(-3.0, name="b"), Value(10.0, name="c")
    out = (a * b + c).tanh()
    out.name = "out"
    out.backward()
    return a, b, c, out


# ---- draw_graph: small graphs, drawn in full ----------------------------------------------------------
def test_expression_graph_has_a_box_per_value_an_op_per_op_and_every_edge(expression, tmp_path):
    a, b, c, out = expression
    pic = draw(viz.draw_graph(out), tmp_path)
    assert len(pic.named("v")) == 6           # a, b, c, a*b, a*b + c, tanh
    assert len(pic.named("o")) == 3           # ×, +, tanh
    assert sorted(pic.nodes[o][0] for o in pic.named("o")) == sorted(["×", "+", "tanh"])
    assert len(pic.edges) == 8                # a→×, b→×, ×→ab, ab→+, c→+, +→s, s→tanh, tanh→out
    assert set(pic.graph_nodes()) == set(pic.named("v")) | set(pic.named("o"))
    text = pic.text()
    for v in (a, b, c, out):
        assert f"data {v.data:.4f}" in text and f"grad {v.grad:.4f}" in text
    assert {"a", "b", "c", "out"} <= set(text.splitlines())
    assert "legend" in pic.nodes and "parameter (leaf, requires grad)" in pic.nodes["legend"]


def test_each_op_node_feeds_its_value_and_takes_the_inputs_in_order(expression, tmp_path):
    *_, out = expression
    pic = draw(viz.draw_graph(out), tmp_path)
    by_label = {lines[0]: title for title, lines in pic.nodes.items() if title.startswith("v") and len(lines) == 3}
    times = next(o for o in pic.named("o") if pic.nodes[o] == ["×"])
    assert f"{by_label['a']}->{times}" in pic.edges and f"{by_label['b']}->{times}" in pic.edges
    assert f"{times}->v{times[1:]}" in pic.edges


def test_parameters_inputs_and_the_output_are_filled_apart(tmp_path):
    net = nn.MLP([3, 4, 2], seed=0)
    _, activations = net.feedforward(np.random.default_rng(0).random((5, 3)))
    cost = nn.quadratic_cost(activations[-1], np.eye(2)[[0, 1, 0, 1, 1]])
    cost.backward()
    pic = draw(viz.draw_graph(cost), tmp_path)
    titles = {lines[0]: title for title, lines in pic.nodes.items() if title.startswith("v")}
    assert _style.PARAM_FILL in pic.fills[titles["w²"]]        # the book's notation, the code path below it
    assert pic.nodes[titles["w²"]][1] == "layers.0.weight"
    assert _style.PARAM_FILL in pic.fills[titles["b³"]]
    assert _style.INPUT_FILL in pic.fills[titles["x"]]
    assert {"z²", "a²", "z³", "a³"} <= set(titles)
    y = next(t for t in pic.nodes if t.startswith("y"))       # the target, drawn as the cost's second input
    assert pic.nodes[y][0] == "y" and _style.INPUT_FILL in pic.fills[y]
    assert pic.nodes[y][1] == "data 5×2 · mean 0.5000"
    root = f"v{max(int(t[1:]) for t in pic.named('v'))}"
    assert _style.OUTPUT_FILL in pic.fills[root]
    text = pic.text()
    assert "data 4×3 · mean" in text and "grad 4×3 · mean" in text   # the weight's shape and summary
    assert "data 5×3 · mean" in text                                  # the input batch x
    assert "data (4) · mean" in text                                  # a bias vector
    assert {"linear", "σ", "quadratic cost"} <= {pic.nodes[o][0] for o in pic.named("o")}
    assert len(pic.named("v")) == 10 and len(pic.named("o")) == 5 and len(pic.edges) == 5 + 3 + 1 + 3 + 1 + 1 + 1
    # the gradient of a weighted input is δ: here δₓ/m per row, for the mean cost over 5 examples
    assert any(line.startswith("grad δₓ/m per row (m = 5) 5×4 · mean") for line in pic.nodes[titles["z²"]])


def test_tensor_value_label_shows_shape_and_mean(tmp_path):
    m = Value(np.full((5, 3), 0.41), name="m")
    pic = draw(viz.draw_graph(m), tmp_path)
    assert pic.nodes["v0"] == ["m", "data 5×3 · mean 0.4100"]


def test_grad_appears_only_after_backward_and_data_can_be_hidden(tmp_path):
    a = Value(1.5, name="a")
    out = a * 2.0
    assert not re.search(r"grad -?\d", viz.draw_graph(out).source)
    out.backward()
    assert "grad 2.0000" in viz.draw_graph(out).source
    hidden = viz.draw_graph(out, show_data=False, show_grad=False).source
    assert not re.search(r"(data|grad) -?\d", hidden) and "{ a }" in hidden


def test_record_labels_escape_their_special_characters(tmp_path):
    v = Value(1.0, name="w{1}|<x>")
    pic = draw(viz.draw_graph(v * 2.0), tmp_path)
    assert "w{1}|<x>" in pic.text()


def test_rankdir_and_arguments_are_checked(expression):
    *_, out = expression
    assert "rankdir=TB" in viz.draw_graph(out, rankdir="TB").source
    with pytest.raises(ValueError, match="rankdir"):
        viz.draw_graph(out, rankdir="up")
    with pytest.raises(ValueError, match="max_nodes"):
        viz.draw_graph(out, max_nodes=2)
    with pytest.raises(TypeError, match="Value"):
        viz.draw_graph(3.0)


def test_digraph_displays_inline_in_jupyter(expression):
    *_, out = expression
    bundle = viz.draw_graph(out)._repr_mimebundle_()
    assert "<svg" in bundle["image/svg+xml"]


# ---- draw_graph: large graphs are collapsed, never cut ---------------------------------------------------
def test_100k_scalar_mlp_graph_is_collapsed_per_neuron_quickly(tmp_path):
    loss = scalar_mlp_loss([2, 8, 3], points=830)
    loss.backward()
    total = count_values(loss)
    assert total >= 100_000
    start = time.process_time()  # CPU time: a busy machine does not make it fail
    pic = draw(viz.draw_graph(loss), tmp_path)
    elapsed = time.process_time() - start
    assert elapsed < 20, f"building and rendering {total:,} nodes took {elapsed:.1f} s"  # a sanity limit only
    assert len(pic.graph_nodes()) <= 500
    assert re.search(rf"collapsed [\d,]+ of {total:,} nodes: per neuron", pic.title)
    groups = [" ".join(pic.nodes[t]) for t in pic.named("u")]
    for l, n in ((0, 8), (1, 3)):
        for j in range(n):
            assert any(g.startswith(f"layers.{l}.neurons.{j} ") and "nodes" in g for g in groups)
    assert pic.clusters == {"cluster_layers_0": ["layers.0 · 8 neurons"], "cluster_layers_1": ["layers.1 · 3 neurons"]}
    assert held_by_summaries(pic) + len(pic.named("v")) == total   # every Value is accounted for
    collapsed = int(re.search(r"collapsed ([\d,]+)", pic.title).group(1).replace(",", ""))
    assert collapsed == held_by_summaries(pic)


def test_a_200k_deep_chain_neither_recurses_nor_cuts(tmp_path):
    x, c = Value(0.5, name="x"), Value(1.000001, requires_grad=False, name="c")
    v = x
    for _ in range(200_000):
        v = v * c
    pic = draw(viz.draw_graph(v, max_nodes=50), tmp_path)
    assert len(pic.graph_nodes()) <= 50
    assert "long chains" in pic.title
    (chain,) = pic.named("u")
    assert pic.nodes[chain] == ["… 199,999 nodes (×) …"]
    assert held_by_summaries(pic) + len(pic.named("v")) == count_values(v) == 200_002
    assert {"x", "c"} <= {lines[0] for lines in pic.nodes.values()}


def test_a_graph_of_shared_nodes_falls_back_to_depth_bands(tmp_path):
    a, b = Value(0.5, name="a"), Value(0.25, name="b")
    for _ in range(5_000):
        a, b = b, a * 0.5 + b * 0.5   # every node is used twice: no chains, no single-use subtrees
    pic = draw(viz.draw_graph(b, max_nodes=40), tmp_path)
    assert len(pic.graph_nodes()) <= 40
    assert "by depth" in pic.title
    assert held_by_summaries(pic) + len(pic.named("v")) == count_values(b)


def test_neurons_collapsed_per_neuron_are_drawn_in_a_cluster_per_layer(tmp_path):
    sizes = [2, 6, 4, 1]
    loss = scalar_mlp_loss(sizes, points=20)
    loss.backward()
    graph = viz.draw_graph(loss, max_nodes=60)
    source = graph.source
    assert "per neuron" in source
    clusters = clusters_in(source)
    assert set(clusters) == {"cluster_layers_0", "cluster_layers_1", "cluster_layers_2"}
    for l, n in enumerate(sizes[1:]):
        label, members = clusters[f"cluster_layers_{l}"]
        assert label == f"layers.{l} · {n} neuron{'s' if n > 1 else ''}"
        assert sorted(members.values()) == sorted(f"layers.{l}.neurons.{j}" for j in range(n))
        assert all(node.startswith("u") for node in members)
    in_clusters = {node for _, members in clusters.values() for node in members}
    grouped = set(re.findall(r'^\t+(u\d+) \[label="\{ layers\.', source, flags=re.MULTILINE))
    assert in_clusters == grouped                       # every group node lies in its layer's cluster, and only they do
    outside = re.findall(r"^\t([vou]\d+) \[", source, flags=re.MULTILINE)
    assert outside and not set(outside) & in_clusters   # the cost ops and the output stay outside
    nodes = re.findall(r"^\t+([vou]\d+) \[", source, flags=re.MULTILINE)
    assert len(nodes) <= 60
    svg = viz.render(graph, tmp_path / "clusters.svg").read_text(encoding="utf-8")
    assert svg.count('class="cluster"') == 3
    pic = Picture(svg)
    assert pic.clusters == {f"cluster_layers_{l}": [f"layers.{l} · {n} neuron{'s' if n > 1 else ''}"]
                            for l, n in enumerate(sizes[1:])}
    assert held_by_summaries(pic) + len(pic.named("v")) == count_values(loss)


def test_layers_collapsed_per_layer_share_one_cluster_for_the_model(tmp_path):
    loss = scalar_mlp_loss([2, 6, 4, 1], points=20)
    graph = viz.draw_graph(loss, max_nodes=8)
    assert "per layer" in graph.source
    ((name, (label, members)),) = clusters_in(graph.source).items()
    assert name == "cluster_model" and label == "model · 3 layers"
    assert sorted(members.values()) == ["layers.0", "layers.1", "layers.2"]
    pic = draw(graph, tmp_path)
    assert len(pic.graph_nodes()) <= 8 and list(pic.clusters) == ["cluster_model"]


def test_a_graph_drawn_in_full_or_without_groups_has_no_clusters(expression, tmp_path):
    *_, out = expression
    assert "subgraph" not in viz.draw_graph(out).source
    assert not draw(viz.draw_graph(out), tmp_path).clusters
    x, c = Value(0.5, name="x"), Value(1.01, requires_grad=False, name="c")   # collapsed, but no named groups
    v = x
    for _ in range(100):
        v = v * c
    graph = viz.draw_graph(v, max_nodes=10)
    assert "long chains" in graph.source and "subgraph" not in graph.source
    net = nn.ScalarMLP([2, 3, 1], seed=0)                                      # small enough to draw in full
    small = viz.draw_graph(net([0.5, -0.5])[0])
    assert "collapsed" not in small.source and not draw(small, tmp_path, "mlp.svg").clusters


def test_drawn_in_full_up_to_max_nodes_and_collapsed_beyond(expression):
    *_, out = expression
    assert "collapsed" not in viz.draw_graph(out, max_nodes=6).source
    assert "collapsed" in viz.draw_graph(out, max_nodes=5).source


def _random_graph(draw_from) -> Value:
    """A random DAG of scalar Values: named parameters, constants, unary and binary ops."""
    n_params = draw_from(st.integers(1, 6))
    pool = [Value(float(i + 1) / 7, name=f"layers.{i % 2}.neurons.{i}.bias") for i in range(n_params)]
    for _ in range(draw_from(st.integers(1, 80))):
        kind = draw_from(st.sampled_from(["add", "mul", "tanh", "const"]))
        a = pool[draw_from(st.integers(0, len(pool) - 1))]
        if kind == "tanh":
            pool.append(a.tanh())
        elif kind == "const":
            pool.append(a * 0.5)
        else:
            b = pool[draw_from(st.integers(0, len(pool) - 1))]
            pool.append(a + b if kind == "add" else a * b)
    out = pool[-1]
    for v in pool[-4:-1]:
        out = out + v
    return out


@given(st.data(), st.integers(3, 30))
def test_any_graph_fits_max_nodes_and_accounts_for_every_value(data, max_nodes):
    out = _random_graph(data.draw)
    source = viz.draw_graph(out, max_nodes=max_nodes).source
    nodes = re.findall(r"^\t+([vou]\d+) \[", source, flags=re.MULTILINE)         # a cluster's nodes are indented further
    summaries = re.findall(r'^\t+u\d+ \[label="([^"]*)"', source, flags=re.MULTILINE)
    held = sum(int(re.search(r"([\d,]+) (?:nodes|params)", s).group(1).replace(",", "")) for s in summaries)
    values = [n for n in nodes if n.startswith("v")]
    total = count_values(out)
    if total <= max_nodes:
        assert not summaries and len(values) == total
    else:
        assert len(nodes) <= max_nodes
        assert held + len(values) == total


# ---- render ---------------------------------------------------------------------------------------------
def test_render_picks_the_format_from_the_extension(expression, tmp_path):
    *_, out = expression
    graph = viz.draw_graph(out)
    assert viz.render(graph, tmp_path / "g.png").read_bytes().startswith(b"\x89PNG")
    assert viz.render(graph, tmp_path / "g.pdf").read_bytes().startswith(b"%PDF")
    assert ET.parse(viz.render(graph, tmp_path / "g.svg")).getroot().tag == SVG + "svg"
    assert viz.render(graph, tmp_path / "g.dot").read_text(encoding="utf-8") == graph.source
    with pytest.raises(ValueError, match="unknown output format '.jpeg'"):
        viz.render(graph, tmp_path / "g.jpeg")


def test_missing_dot_explains_how_to_install_graphviz(expression, tmp_path, monkeypatch):
    *_, out = expression
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    graph = viz.draw_graph(out)                     # building needs no binary
    assert "digraph" in graph.source
    viz.render(graph, tmp_path / "g.dot")           # nor does writing the source
    with pytest.raises(RuntimeError, match=r"apt-get install graphviz") as info:
        viz.render(graph, tmp_path / "g.svg")
    assert isinstance(info.value, viz.GraphvizNotFoundError) and "https://graphviz.org" in str(info.value)
    assert not (tmp_path / "g.svg").exists()


# ---- draw_network ---------------------------------------------------------------------------------------
def test_network_draws_every_neuron_and_weight_coloured_by_sign(tmp_path):
    net = nn.MLP([3, 4, 2], seed=1)
    pic = draw(viz.draw_network(net), tmp_path)
    assert len(pic.named("n")) == 3 + 4 + 2
    assert len(pic.edges) == 3 * 4 + 4 * 2
    source = viz.draw_network(net).source
    for l, layer in enumerate(net.layers):
        for j, k in [(0, 0), (1, 1)]:
            w = layer.weight.data[j, k]
            edge = re.search(rf"n{l}_{k} -> n{l + 1}_{j} \[([^\]]*)\]", source).group(1)
            assert (_style.POSITIVE if w > 0 else _style.NEGATIVE) in edge
    widths = {float(m) for m in re.findall(r"penwidth=([\d.]+)", source.split("legend")[0]) if m != "0.8"}
    assert len(widths) > 3                           # pen width follows |w|
    assert "rankdir=LR" in source and "layer 1 · input (3)" in pic.text() and "layer 3 · output (2)" in pic.text()


def test_wide_layers_are_summarised_with_an_ellipsis(tmp_path):
    pic = draw(viz.draw_network(nn.MLP([784, 30, 10], seed=0)), tmp_path)
    assert len(pic.nodes) <= 40
    assert len(pic.named("n")) == 10 + 1 + 10 + 1 + 10
    assert "… 774 more …" in pic.text() and "… 20 more …" in pic.text()
    assert len(pic.edges) == 10 * 10 + 10 * 10       # only among drawn neurons
    assert not any("_more" in e for e in pic.edges)


def test_show_delta_annotates_the_mini_batch_mean_delta(tmp_path):
    net = nn.MLP([3, 4, 2], seed=2)
    x = np.random.default_rng(0).random((6, 3))
    zs, activations = net.feedforward(x)
    nn.quadratic_cost(activations[-1], np.eye(2)[[0, 1, 1, 0, 1, 0]]).backward()
    pic = draw(viz.draw_network(net, show_delta=True, zs=zs), tmp_path)
    for l in (1, 2):
        per_example = 6 * zs[l - 1].grad                     # the book's δˣ, one row per example
        mean = per_example.mean(axis=0)
        assert np.allclose(mean, net.layers[l - 1].bias.grad)  # = ∂C/∂b (BP3)
        for j in range(net.sizes[l]):
            assert pic.nodes[f"n{l}_{j}"] == [str(j + 1), f"δ {mean[j]:+.2g}"]   # neurons numbered from 1
    assert any("δ" in line for line in pic.nodes["legend"])


def test_saturated_neurons_get_an_orange_border(tmp_path):
    net = nn.MLP([3, 4, 2], seed=2)
    net.layers[0].weight.data[1] = 50.0              # z ≈ 50 Σx: σ′(z) ≈ 0 for neuron 1 of the hidden layer
    x = np.random.default_rng(0).random((6, 3))
    zs, activations = net.feedforward(x)
    nn.quadratic_cost(activations[-1], np.eye(2)[[0, 1, 1, 0, 1, 0]]).backward()
    pic = draw(viz.draw_network(net, show_delta=True, zs=zs), tmp_path)
    orange = {t for t, strokes in pic.strokes.items() if any(s == _style.SATURATED for s, _ in strokes)}
    sigma = 1 / (1 + np.exp(-zs[0].data))
    expected = {f"n1_{j}" for j in range(4) if (sigma * (1 - sigma)).mean(axis=0)[j] < 0.01}
    expected |= {f"n2_{j}" for j in range(2)
                 if (activations[2].data * (1 - activations[2].data)).mean(axis=0)[j] < 0.01}
    assert "n1_1" in expected and orange - {"legend"} == expected
    assert any("saturated" in line for line in pic.nodes["legend"])


def test_show_delta_needs_a_backward_pass_and_reads_bp3_without_zs():
    net = nn.MLP([2, 3, 1], seed=0)
    with pytest.raises(ValueError, match="backward"):
        viz.draw_network(net, show_delta=True)
    zs, activations = net.feedforward(np.array([[0.3, -0.7], [1.0, 0.2]]))
    with pytest.raises(ValueError, match="backward"):
        viz.draw_network(net, show_delta=True, zs=zs)
    assert "δ" not in viz.draw_network(net, zs=zs).source
    nn.quadratic_cost(activations[-1], np.array([[1.0], [0.0]])).backward()
    from_bp3 = viz.draw_network(net, show_delta=True).source       # δ = ∂C/∂b (BP3), no zs needed
    from_zs = viz.draw_network(net, show_delta=True, zs=zs).source  # δ summed over zs[l].grad rows
    delta = float(net.layers[1].bias.grad[0])
    assert f"δ = {delta:.4g}" in from_bp3 and f"δ = {delta:.4g}" in from_zs


def test_network_accepts_a_scalar_mlp():
    source = viz.draw_network(nn.ScalarMLP([2, 3, 1], seed=0)).source
    assert len(re.findall(r"n\d_\d+ -> n\d_\d+ \[color", source)) == 2 * 3 + 3 * 1


# ---- the CLI --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [["--sizes", "2,3,1"], ["--sizes", "2,3,2", "--scalar"],
                                  ["--sizes", "3,4,3", "--cost", "log-likelihood"],
                                  ["--sizes", "2,3,2", "--scalar", "--cost", "cross-entropy"]])
def test_cli_graph_writes_an_svg_of_one_forward_and_backward(args, tmp_path, capsys):
    out = tmp_path / "graph.svg"
    assert main(["graph", *args, "--seed", "1", "-o", str(out)]) == 0
    pic = Picture(out.read_bytes())
    text = pic.text()
    assert "grad 1.0000" in text and "C" in text.splitlines()   # the cost, after backward
    if "--scalar" in args:
        lines = text.splitlines()   # the book's notation: w²₁₁ from x₁ to neuron 1 of layer 2, z²₁, a³₁, y₁
        assert {"w²₁₁", "b²₁", "x₁", "z²₁", "a³₁", "y₁"} <= set(lines)
        assert any(re.fullmatch(r"δ\s-?\d\.\d{4}", line) for line in lines)   # z's gradient is δ
    else:
        assert "w²" in text.splitlines() and "layers.0.weight" in text and "linear" in text
    assert f"wrote {out}" in capsys.readouterr().out


def test_cli_formats_follow_the_extension(tmp_path):
    for name, magic in [("g.png", b"\x89PNG"), ("g.pdf", b"%PDF"), ("g.dot", b"digraph")]:
        assert main(["graph", "--sizes", "2,2,1", "-o", str(tmp_path / name)]) == 0
        assert (tmp_path / name).read_bytes().startswith(magic)
    assert main(["--sizes", "2,2,1", "-o", str(tmp_path / "bare.svg")]) == 0   # as forwarded without 'graph'


@pytest.mark.parametrize("args, message", [
    (["--sizes", "2,x"], "comma-separated integers"),
    (["--sizes", "2"], "at least two"),
    (["--sizes", "2,0,1"], "positive"),
    (["--sizes", "2,-3"], "positive"),
    (["--sizes", "2,3", "-o", "g.jpeg"], "unknown output format"),
    (["--network"], "--model PATH"),
    (["--scalar", "--cost", "log-likelihood"], "no softmax"),
])
def test_cli_usage_errors_are_one_line_and_exit_2(args, message, tmp_path, capsys):
    argv = ["graph", *args] + ([] if "-o" in args else ["-o", str(tmp_path / "g.svg")])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "g.svg").exists()


def test_cli_network_from_random_sizes_and_from_a_saved_model(tmp_path):
    assert main(["graph", "--network", "--sizes", "64,30,10", "--delta", "-o", str(tmp_path / "n.svg")]) == 0
    pic = Picture((tmp_path / "n.svg").read_bytes())   # δ of test example 0 of the digits, not of noise
    assert "… 54 more …" in pic.text() and any(line.startswith("δ") for line in pic.text().splitlines())
    assert "δ of test example 0 of digits" in pic.title
    from tinygrad_nn.train import save_model
    net = nn.MLP([4, 5, 3], seed=3)
    save_model(net, tmp_path / "model.npz")
    assert main(["graph", "--network", "--model", str(tmp_path / "model.npz"), "-o", str(tmp_path / "m.svg")]) == 0
    assert "network [4, 5, 3]" in Picture((tmp_path / "m.svg").read_bytes()).title


def test_cli_reports_a_missing_model_or_load_model_in_one_line(tmp_path, capsys, monkeypatch):
    assert main(["graph", "--network", "--model", str(tmp_path / "nope.npz"), "-o", str(tmp_path / "n.svg")]) == 1
    assert "nope.npz" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "tinygrad_nn.train", None)   # as if load_model did not exist yet
    assert main(["graph", "--network", "--model", "m.npz", "-o", str(tmp_path / "n.svg")]) == 1
    err = capsys.readouterr().err
    assert "load_model" in err and "--sizes" in err and len(err.strip().splitlines()) == 1


def test_cli_without_dot_says_how_to_install_graphviz(tmp_path, capsys, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert main(["graph", "-o", str(tmp_path / "g.svg")]) == 1
    assert "apt-get install graphviz" in capsys.readouterr().err
    assert main(["graph", "-o", str(tmp_path / "g.dot")]) == 0


def test_python_dash_m_viz_runs_the_cli(tmp_path):
    done = subprocess.run([sys.executable, "-m", "viz", "graph", "--sizes", "x", "-o", str(tmp_path / "g.svg")],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent, check=False)
    assert done.returncode == 2 and done.stderr.startswith("python -m viz graph: error: argument --sizes")


def test_the_library_never_imports_viz():
    code = ("import sys, tinygrad_nn, tinygrad_nn.nn, tinygrad_nn.engine, tinygrad_nn.optim, tinygrad_nn.train; "
            "print('viz' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.stdout.strip() == "False", done.stderr


# ---- any user text renders as text (issue 19, class 8) ----------------------------------------------------
_XLINK = "{http://www.w3.org/1999/xlink}title"
_NASTY_NAMES = ["a\\b", "\\", "\\N", "<b>x</b>", "</script>", 'say "hi"', "{w|<p>}", "\\\"", "a\nb", "", "  "]


def _tooltips(svg: bytes) -> list[str]:
    """The SVG's tooltips; Graphviz writes a run of spaces as space + no-break spaces."""
    return [a.get(_XLINK).replace("\xa0", " ") for a in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}a")
            if a.get(_XLINK)]


def _render_named(names: list[str], op_name: str, rankdir: str = "LR") -> bytes:
    """x·w + b with the given names, through a custom op named `op_name`, rendered by the real `dot`."""
    from tests._ops import Softplus
    x, w, b = (Value(v, requires_grad=True, name=n) for v, n in zip((1.5, -0.5, 0.25), names))
    u = x * w + b
    u.name = names[3]
    c = type(op_name, (Softplus,), {}).apply(u) if op_name.isidentifier() else u.tanh()
    if not op_name.isidentifier():          # a class name must be an identifier: give the symbol directly
        c._rule = type("Rule", (), {"symbol": op_name, "__call__": staticmethod(lambda out, g: None)})()
    c.name = names[4]
    return draw_svg(viz.draw_graph(c, rankdir=rankdir))


def _shown(name: str) -> str:
    """How a name reads in the SVG: control characters as their pictures, no-break spaces as spaces."""
    return _style.visible(name).replace("\xa0", " ")


def draw_svg(graph) -> bytes:
    return graph.pipe(format="svg")


@pytest.mark.parametrize("name", _NASTY_NAMES)
def test_names_with_dot_syntax_render_as_written(name):
    svg = _render_named([name] * 5, name or "op")          # a syntax error would raise CalledProcessError
    if name and "\\" not in name:  # no tooltip with a backslash: Graphviz expands it a varying number of times
        assert _shown(name) in _tooltips(svg)
    text = "".join(t.text or "" for t in ET.fromstring(svg).iter(SVG + "text")).replace("\xa0", " ")
    assert _shown(name).strip() in text


@given(st.lists(st.text(max_size=12), min_size=5, max_size=5), st.text(min_size=1, max_size=8),
       st.sampled_from(["LR", "TB"]))
def test_any_text_as_names_and_op_names_renders_through_dot(names, op_name, rankdir):
    svg = _render_named(names, op_name, rankdir)
    tips = _tooltips(svg)
    for name in names:
        if name and "\\" not in name:
            assert _shown(name) in tips, name
    assert all(tip in {_shown(n) for n in names} or re.fullmatch(r"v\d+", tip) for tip in tips)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_network_with_an_inf_or_nan_weight_is_drawn_and_labelled(bad, tmp_path):
    net = nn.MLP([2, 3, 1], seed=0)
    net.layers[0].weight.data[1, 0] = bad                     # w²₂₁
    net.layers[1].bias.data[0] = bad
    pic = draw(viz.draw_network(net), tmp_path)
    svg = "\n".join(t.text or "" for t in pic.root.iter(SVG + "text"))
    word = "NaN" if np.isnan(bad) else ("+inf" if bad > 0 else "−inf")
    assert f"w²₂₁ = {word}" in svg
    widths = [float(e.get("stroke-width", 1)) for e in pic.root.iter(SVG + "path")]
    assert max(widths) <= 3.0 + 1e-9                           # the finite weights keep their scale


@pytest.mark.parametrize("op, symbol", [(lambda a, y: a - y, "a − b"), (lambda a, y: a / y, "a ÷ b"),
                                        (lambda a, y: a ** y, "aᵇ")])
def test_non_commutative_ops_show_which_operand_is_which(op, symbol, tmp_path):
    y = Value(2.0, requires_grad=False, name="y")
    a = Value(0.5, requires_grad=True, name="a")
    out = op(a, y)
    pic = draw(viz.draw_graph(out), tmp_path)
    opnode = next(o for o in pic.named("o"))
    assert pic.nodes[opnode] == [symbol]
    which = {}
    for g in pic.root.iter(SVG + "g"):
        if g.get("class") == "edge":
            tail, head = g.findtext(SVG + "title").replace("&#45;", "-").split("->")
            if head == opnode:
                which[pic.nodes[tail][0]] = [t.text for t in g.iter(SVG + "text")]
    assert which == {"a": ["a"], "y": ["b"]}


def test_a_classifiers_output_neurons_are_labelled_by_class_others_by_the_books_j(tmp_path):
    net = nn.MLP([64, 30, 10], seed=0)
    by_class = draw(viz.draw_network(net, label=3, prediction=5), tmp_path, "a.svg")
    outputs = sorted(by_class.named("n2_"), key=lambda t: int(t.split("_")[1]))
    assert [by_class.nodes[t][0] for t in outputs] == [str(c) for c in range(10)]   # digit c is neuron c
    assert any("by class 0–9 (neuron j = class + 1)" in line for line in by_class.nodes["title2"])
    assert by_class.nodes["mark3"] == ["label: class 3 (the book's neuron j = 4)"]
    plain = draw(viz.draw_network(net), tmp_path, "b.svg")
    assert [plain.nodes[t][0] for t in outputs] == [str(j) for j in range(1, 11)]  # the book's j from 1
    assert [plain.nodes[f"n1_{j}"][0] for j in range(3)] == ["1", "2", "3"]


@pytest.mark.parametrize("prefix", ['<b>"x"</b>', "a\\b{|}", "</script>\n"])
def test_collapsed_group_and_cluster_labels_escape_their_names(prefix):
    """Names with dots define groups (drawn as nodes inside clusters): their text reaches DOT escaped too."""
    params = [Value(float(k), requires_grad=True, name=f"{prefix}.{k // 4}.p.{k}") for k in range(12)]
    total = params[0]
    for p in params[1:]:
        total = total * p + 1.0
    svg = draw_svg(viz.draw_graph(total, max_nodes=10))
    root = ET.fromstring(svg)
    assert any(g.get("class") == "cluster" for g in root.iter(SVG + "g"))
    text = "".join(t.text or "" for t in root.iter(SVG + "text")).replace("\xa0", " ")
    assert _shown(f"{prefix}.0").strip() in text

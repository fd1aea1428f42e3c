"""`viz.draw_backprop` (BP1–BP4 in a picture, rendered with the real `dot`), `equation_for`, `book_deltas` and
the HTML table of a `compare_gradients` report.

The numbers the picture must show are computed independently here: δ from the closed-form BP1–BP4
(`tinygrad_nn.backprop`, numpy only) and the relative errors from a separate `compare_gradients` run.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import viz
from tinygrad_nn import backprop as closed_form
from tinygrad_nn import book_deltas, compare_gradients, nn
from viz.backprop import equation_for

SVG = "{http://www.w3.org/2000/svg}"
SIZES = [4, 5, 3, 2]


def svg_texts(graph, tmp_path, name="bp.svg") -> list[str]:
    """Every text element of the rendered SVG (node labels, edge labels, the title)."""
    root = ET.fromstring(viz.render(graph, tmp_path / name).read_bytes())
    return [t.text or "" for t in root.iter(SVG + "text")]


def network(cost: str) -> nn.MLP:
    return nn.MLP(SIZES, seed=3, output_activation="softmax" if cost == "log-likelihood" else None)


@pytest.mark.parametrize("cost", ["quadratic", "cross-entropy", "log-likelihood"])
def test_one_example_shows_bp1_to_bp4_delta_and_measured_errors(cost, tmp_path):
    net = network(cost)
    x, label = np.random.default_rng(1).random(4), 1
    texts = svg_texts(viz.draw_backprop(net, x, label, cost), tmp_path)
    joined = "\n".join(texts)
    tags = [t for t in texts if re.fullmatch(r"BP[1-4]", t.strip())]
    assert tags.count("BP1") == 1                          # δᴸ at the output layer
    assert tags.count("BP2") == len(SIZES) - 2             # once per hidden layer: δ³ ← δ⁴, δ² ← δ³
    assert tags.count("BP3") == tags.count("BP4") == len(SIZES) - 1
    for l in (2, 3, 4):
        sup = "²³⁴"[l - 2]
        assert f"δ{sup} = ∂C/∂z{sup}" in joined and f"∂C/∂w{sup}" in joined and f"∂C/∂b{sup}" in joined
    assert "the book's δ for this example" in joined
    # BP1 in the form this cost gives
    bp1 = next(texts[i + 1] for i, t in enumerate(texts) if t.strip() == "BP1")
    assert ("(a⁴ − y) ⊙ σ′(z⁴)" in bp1) == (cost == "quadratic") and "δ⁴ =" in bp1
    # the measured errors are those of compare_gradients on the same weights
    report = compare_gradients(network(cost), x[None, :], np.array([label]), cost)
    for r in report.rows:
        tag = {"δ": "BP1" if r.layer == 4 else "BP2", "∂C/∂b": "BP3", "∂C/∂w": "BP4"}.get(r.quantity.split(" ")[0])
        shown = f"rel err vs {tag or 'finite diff'}: {r.max_rel:.1e}"
        assert shown in joined, shown
    # δ of this one example, as the closed form computes it, shown entry by entry
    ref = closed_form.backprop(net.weights, net.biases, x, np.array([label]), cost)
    for delta in ref.deltas:
        for v in delta[0]:
            assert f"{v:.3g}".replace("-", "−") in joined
    assert "all gradients agree" in joined


def test_a_mini_batch_shows_per_example_delta_and_mean_gradients(tmp_path):
    rng = np.random.default_rng(2)
    x, labels = rng.random((10, 4)), rng.integers(0, 2, 10)
    joined = "\n".join(svg_texts(viz.draw_backprop(network("cross-entropy"), x, labels, "cross-entropy"), tmp_path))
    assert "a mini-batch of m = 10" in joined
    assert "a row per example (= m · z³.grad)" in joined
    assert "10×3 · mean" in joined                          # δ³ is (m, n): one row per example
    assert "(1/m) Σₓ" in joined and "mean over the mini-batch" in joined


def test_a_wrong_gradient_shows_up_in_red(tmp_path, monkeypatch):
    true_backprop = closed_form.backprop

    def off_by_one_percent(*args, **kwargs):
        g = true_backprop(*args, **kwargs)
        g.nabla_w[0] = g.nabla_w[0] * 1.01
        return g

    monkeypatch.setattr(closed_form, "backprop", off_by_one_percent)
    joined = "\n".join(svg_texts(viz.draw_backprop(network("quadratic"), np.ones(4), 0), tmp_path))
    assert re.search(r"rel err vs BP4: 9\.9e-03\s+✗", joined)  # |1 − 1.01| / 1.01
    assert "DISAGREEMENT" in joined


def test_a_scalar_network_is_drawn_from_its_weights(tmp_path):
    net = nn.ScalarMLP([2, 3, 1], seed=0)
    joined = "\n".join(svg_texts(viz.draw_backprop(net, [0.5, -0.2], [1.0]), tmp_path))
    assert "BP1" in joined and "BP2" in joined and "δ³ = ∂C/∂z³" in joined


@pytest.mark.parametrize(("x", "y", "words"), [
    (np.ones(3), 0, ["[4, 5, 3, 2]", "4 inputs", "(3,)"]),
    (np.ones((2, 5)), [0, 1], ["[4, 5, 3, 2]", "(2, 5)"]),
    (np.ones(4), 7, ["label 7", "[4, 5, 3, 2]", "2 output neurons"]),
    (np.ones((3, 4)), [0, 1], ["(2,)", "(3, 4)", "[4, 5, 3, 2]"]),
    (np.ones(4), np.ones(3), ["(3,)", "[4, 5, 3, 2]"]),
])
def test_data_that_do_not_fit_the_network_get_one_clear_error(x, y, words):
    with pytest.raises(ValueError) as info:
        viz.draw_backprop(network("quadratic"), x, y)
    assert all(w in str(info.value) for w in words), str(info.value)


def test_a_cost_the_network_cannot_take_is_refused():
    with pytest.raises(ValueError, match="softmax output"):
        viz.draw_backprop(network("quadratic"), np.ones(4), 0, "log-likelihood")
    with pytest.raises(ValueError, match="unknown cost"):
        viz.draw_backprop(network("quadratic"), np.ones(4), 0, "hinge")


def test_equation_for_names_the_equation_of_each_layer():
    assert str(equation_for("delta", 4, 4, "quadratic")) == "BP1: δ⁴ = (a⁴ − y) ⊙ σ′(z⁴)  (quadratic cost)"
    assert equation_for("delta", 3, 4, "cross-entropy").formula == "δ³ = ((w⁴)ᵀ δ⁴) ⊙ σ′(z³)"
    assert equation_for("delta", 4, 4, "cross-entropy").formula == "δ⁴ = a⁴ − y"
    assert equation_for("delta", 4, 4, "log-likelihood").note == "softmax output, log-likelihood"
    assert equation_for("bias", 2, 4).tag == "BP3" and equation_for("weight", 2, 4).formula == "∂C/∂w²ⱼₖ = a¹ₖ δ²ⱼ"
    assert equation_for("weight", 2, 4, batch=5).formula == "∂C/∂w²ⱼₖ = (1/m) Σₓ a¹ₓₖ δ²ₓⱼ"
    for quantity, layer in (("z", 2), ("delta", 1), ("delta", 5)):
        with pytest.raises(ValueError):
            equation_for(quantity, layer, 4)


@pytest.mark.parametrize("cost", ["quadratic", "cross-entropy", "log-likelihood"])
def test_book_deltas_are_per_example_and_m_times_the_engines_z_grad(cost):
    rng = np.random.default_rng(5)
    net, x, labels = network(cost), rng.random((7, 4)), rng.integers(0, 2, 7)
    deltas = book_deltas(net, x, labels, cost)
    ref = closed_form.backprop(net.weights, net.biases, x, labels, cost)
    for d, r in zip(deltas, ref.deltas, strict=True):
        np.testing.assert_allclose(d, r, rtol=1e-12, atol=1e-15)
    for i in range(7):  # row i is the δ of example i alone
        single = closed_form.backprop(net.weights, net.biases, x[i], labels[i:i + 1], cost)
        for d, s in zip(deltas, single.deltas):
            np.testing.assert_allclose(d[i], s[0], rtol=1e-12, atol=1e-15)
    zs, activations = net.feedforward(x)
    nn.cost_function(cost)(activations[-1], labels).backward()
    np.testing.assert_allclose(deltas[0], 7 * zs[0].grad, rtol=1e-15)


def test_report_renders_as_an_html_table_with_the_rows_of_check():
    net = nn.MLP([3, 4, 2], seed=0)
    report = compare_gradients(net, np.ones((2, 3)), np.array([0, 1]))
    page = report._repr_html_()
    root = ET.fromstring(page)                              # well-formed
    assert root.tag == "table"
    rows = root.find("tbody").findall("tr")
    assert len(rows) == len(report.rows) == 10
    first = [td.text for td in rows[0]]
    assert first[:2] == ["2", "δ (BP1/BP2)"] and first[-1] == "yes"
    text_row = str(report).splitlines()[4].split()   # the same figures as the text table's first row
    assert first[2] == " ".join(text_row[3:5]) and first[3] == text_row[5]
    assert "agreement: all within tolerance" in page


def _boxes(graph, tmp_path, name="boxes.svg") -> dict[str, str]:
    """Node title → its text, one line per SVG text element joined by spaces."""
    root = ET.fromstring(viz.render(graph, tmp_path / name).read_bytes())
    return {g.findtext(SVG + "title"): " ".join((t.text or "").strip() for t in g.iter(SVG + "text"))
            for g in root.iter(SVG + "g") if g.get("class") == "node"}


def _vector(v) -> str:
    return ", ".join(f"{float(e):.3g}" for e in v).replace("-", "−").replace("e−", "e-")


@pytest.mark.parametrize("layout", ["wide", "compact"])
def test_each_box_shows_its_own_layers_equation_and_numbers(layout, tmp_path):
    """Every gradient box names the equation of its own layer and shows that layer's numbers, computed
    independently by the closed form: a label shifted by one layer, or a value taken from the wrong
    quantity, fails here."""
    net, x, label = network("quadratic"), np.random.default_rng(2).random(4), 0
    boxes = _boxes(viz.draw_backprop(net, x, label, "quadratic", layout=layout), tmp_path)
    ref = closed_form.backprop(net.weights, net.biases, x, np.array([label]), "quadratic")
    last = len(SIZES)
    for i, l in enumerate(range(2, last + 1)):
        s, below = "²³⁴"[i], "¹²³"[i]
        assert boxes[f"d{l}"].startswith(f"δ{s} = ∂C/∂z{s} BP{1 if l == last else 2} δ{s} = ")
        assert f"[{_vector(ref.deltas[i][0])}]" in boxes[f"d{l}"]
        assert boxes[f"gb{l}"].startswith(f"∂C/∂b{s} BP3 ∂C/∂b{s}ⱼ = δ{s}ⱼ")
        assert f"[{_vector(ref.nabla_b[i])}]" in boxes[f"gb{l}"]
        assert boxes[f"gw{l}"].startswith(f"∂C/∂w{s} BP4 ∂C/∂w{s}ⱼₖ = a{below}ₖ δ{s}ⱼ")
        mean = f"{float(ref.nabla_w[i].mean()):.4f}".replace("-", "−")
        assert f"· mean {mean}" in boxes[f"gw{l}"]
        assert f"[{_vector(ref.zs[i][0])}]" in boxes[f"z{l}"]
    legend = boxes["legend"]
    assert "·····" in legend and "read by an equation: aˡ⁻¹ by BP4, wˡ⁺¹ by BP2" in legend   # the dotted lines


def test_compact_layout_is_narrower_and_the_norm_is_drawn_in_a_font_that_has_it(tmp_path):
    net, x = network("quadratic"), np.random.default_rng(1).random(4)
    widths = {}
    for layout in ("wide", "compact"):
        graph = viz.draw_backprop(net, x, 1, "quadratic", layout=layout)
        root = ET.fromstring(viz.render(graph, tmp_path / f"{layout}.svg").read_bytes())
        widths[layout] = float(root.get("width").removesuffix("pt"))
        norm = [t for t in root.iter(SVG + "text") if "‖" in (t.text or "")]
        assert norm and all(t.get("font-family") == "DejaVu Sans" for t in norm)   # not Helvetica's 'll'
    assert widths["compact"] < 0.7 * widths["wide"]
    with pytest.raises(ValueError, match="layout must be one of wide, compact"):
        viz.draw_backprop(net, x, 1, "quadratic", layout="tall")

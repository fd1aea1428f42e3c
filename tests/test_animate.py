"""`viz.animate_backward` and `graph --animate`: the backward pass as a self-contained web page.

The pages are opened in real headless Chromium (Debian's `chromium`; `.ci/run` installs it): at ``#step=K``
the DOM is dumped and read back, and ``#step=K&selftest=1`` makes the page click its own buttons, press ←/→,
move the slider, follow a hash change and play/pause, reporting each step label it saw in ``#selftest``
(``--virtual-time-budget`` lets its timers run). Without Chromium these tests FAIL, naming the package to
install; set TINYGRAD_NN_SKIP_BROWSER=1 to skip only the browser tests deliberately.
"""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import viz
from tinygrad_nn import Value, data, nn
from tinygrad_nn.engine import _topological_order
from viz import _style as S
from viz.animate import BackwardAnimation
from viz.cli import _scalar_cost
from viz.cli import main as graph_main
from viz.graph import _trace

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SKIP_BROWSER = os.environ.get("TINYGRAD_NN_SKIP_BROWSER") == "1"
browser = pytest.mark.skipif(SKIP_BROWSER, reason="TINYGRAD_NN_SKIP_BROWSER=1")


# ---- helpers ------------------------------------------------------------------------------------------
def _dom(path: Path, fragment: str, virtual_ms: int = 0) -> str:
    """The DOM of `path` + `fragment` after it loaded in headless Chromium (and ran `virtual_ms` of timers)."""
    if CHROMIUM is None:
        pytest.fail("headless Chromium is needed for the player tests: apt-get install chromium "
                    "(or set TINYGRAD_NN_SKIP_BROWSER=1 to skip them)")
    with tempfile.TemporaryDirectory() as profile:
        cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", "--dump-dom"]
        if virtual_ms:
            cmd.append(f"--virtual-time-budget={virtual_ms}")
        done = subprocess.run([*cmd, path.resolve().as_uri() + fragment], capture_output=True, text=True,
                              timeout=120, check=False)
    assert done.returncode == 0 and "</html>" in done.stdout, done.stderr[-2000:]
    return done.stdout


def _label(dom: str) -> str:
    return re.search(r'id="step-label">([^<]*)<', dom).group(1)


def _panel(dom: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", re.search(r'<div id="panel">(.*?)</div>\s*<div id="graph"', dom,
                                                             re.DOTALL).group(1)))


_GRAD_FIELD = re.compile(r"^(grad (δₓ/m per row \(m = \d+\) )?|δ\u00a0(\(one example\) )?|grad$|δ$)")


def _grad_texts(dom: str) -> dict[str, str]:
    """SVG node title → its gradient field as the page shows it, written 'grad …' (a z node's field reads 'δ …')."""
    out = {}
    for title, body in re.findall(r"<title>(v\d+)</title>(.*?)</g>", dom, re.DOTALL):
        for text in re.findall(r"<text[^>]*>([^<]*)</text>", body):
            text = html.unescape(text)
            match = _GRAD_FIELD.match(text)
            if match:
                out[title] = ("grad " + text[match.end():]).strip()
    return out


def _blob(page: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="data">(.*?)</script>', page,
                                re.DOTALL).group(1).replace("<\\/", "</"))


def external_urls(page: str) -> list[str]:
    """Every way the page could load something from elsewhere. Graphviz's SVG names its namespaces with
    w3.org URLs (xmlns="http://www.w3.org/2000/svg", xmlns:xlink=…): identifiers, never fetched, so only
    those attributes are allowed to hold a URL; any other http(s):// text, a protocol-relative src/href,
    a CSS url(…) or @import, or a DOCTYPE pointing at a DTD counts."""
    rest = re.sub(r'\sxmlns(:\w+)?="http://www\.w3\.org/[^"]*"', "", page)
    found = re.findall(r"https?://[^\s\"'<>)]*", rest)
    found += re.findall(r"""(?:src|href)\s*=\s*["']?\s*//[^\s"'>]*""", rest, flags=re.IGNORECASE)
    found += re.findall(r"url\(\s*['\"]?(?!data:)[^)]*\)|@import[^;]*", rest)
    found += re.findall(r"<!DOCTYPE svg[^>]*>", rest)
    return found


def _tensor_cost() -> Value:
    """Nielsen's [64, 30, 10] network (random weights) on one real digit: 5 backward rules."""
    digits = data.load_digits()
    net = nn.MLP([64, 30, 10], seed=0)
    cost = nn.quadratic_cost(net(digits.test.x[:1]), digits.test.y[:1])
    cost.name = "C"
    cost.backward()
    return cost


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The API's page of a tensor network and the CLI's page of a scalar network."""
    folder = tmp_path_factory.mktemp("pages")
    api = viz.animate_backward(_tensor_cost(), folder / "api.html")
    cli = folder / "cli.html"
    done = subprocess.run([sys.executable, "-m", "tinygrad_nn", "graph", "--sizes", "2,3,1", "--scalar", "--animate",
                           "-o", str(cli)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"wrote {cli}"
    return {"api": api, "cli": cli}


# ---- what the page holds ------------------------------------------------------------------------------
def test_steps_follow_the_engines_backward_order_and_rules() -> None:
    c = _scalar_cost([2, 3, 1], 0, "quadratic")
    tr = _trace(c)
    index = {id(v): i for i, v in enumerate(tr.nodes)}
    before = [v.grad for v in tr.nodes]
    page = viz.animate_backward(c).html
    assert all(v.grad is g for v, g in zip(tr.nodes, before))  # the graph's gradients are left as they were
    expected = [f"v{index[id(n)]}" for n in reversed(_topological_order(c))]
    steps = _blob(page)["steps"]
    assert [s[0][0] for s in steps] == expected               # every op's rule, in backward()'s order
    rules = _blob(page)["rules"]
    grad = {s[0][0]: s[3] for s in steps}                      # each node's gradient, complete when its rule runs
    sigma = [(rules[s[1]], tr.nodes[int(i[1:])]) for s, i in zip(steps, expected) if tr.nodes[int(i[1:])].op == "σ"]
    assert len(sigma) == 4                                     # a³₁ (BP1), then a²₁ … a²₃ (BP2 each)
    for text, a in sigma:                                      # each σ step says its equation and does its arithmetic
        l, j = a.name[1], a.name[3]
        assert text.startswith(("BP1: δ³₁ = ∂C/∂a³₁ · σ′(z³₁)" if l == "3" else f"BP2: δ²{S.sub(int(j))} = (Σₖ w³ₖ"))
        slope = a.data * (1 - a.data)                          # σ′(z) = σ(z)(1 − σ(z)), from the node's own value
        z = a._a
        assert f"σ′({S.fmt_number(z.data)}) = {S.fmt_number(slope)}" in text
        da, dz = grad[f"v{index[id(a)]}"], grad[f"v{index[id(z)]}"]
        assert f"{da} × {S.fmt_number(slope)} = {dz}" in text          # ∂C/∂a · σ′(z) = δ, by BP1/BP2
        assert abs(float(da) * slope - float(dz)) <= 1e-4 * max(1.0, abs(float(dz)))


def test_final_gradients_are_finite_difference_exact() -> None:
    net = nn.ScalarMLP([2, 3, 1], seed=0)
    c = _scalar_cost([2, 3, 1], 0, "quadratic", net)          # runs c.backward() once
    engine = {name: p.grad for name, p in net.named_parameters()}
    blob = _blob(viz.animate_backward(c).html)
    shown: dict[str, str] = {}
    for step in blob["steps"]:                                  # replay as the page does
        shown.setdefault(step[0][0], step[3])
        shown.update({title: grad for title, _, grad, _ in step[4] if title})
    tr = _trace(c)
    index = {id(v): i for i, v in enumerate(tr.nodes)}
    h = 1e-6
    for name, p in net.named_parameters():
        x = p.data
        p.data = x + h
        up = _scalar_cost([2, 3, 1], 0, "quadratic", net).data
        p.data = x - h
        down = _scalar_cost([2, 3, 1], 0, "quadratic", net).data
        p.data = x
        reference = (up - down) / (2 * h)                        # central difference, float64
        assert shown[f"v{index[id(p)]}"] == S.fmt_array(engine[name]), name
        assert abs(float(shown[f"v{index[id(p)]}"]) - reference) <= 5e-5 + 1e-3 * abs(reference), name


def test_layer_steps_name_the_bp_equations() -> None:
    blob = _blob(viz.animate_backward(_tensor_cost()).html)
    rules = [blob["rules"][s[1]] for s in blob["steps"]]
    assert len(rules) == 5                                      # C, σ, linear (layer 3), σ, linear (layer 2)
    assert rules[0].startswith("C = (1/2m)")
    assert rules[1].startswith("BP1: δ³ = ∇ₐC ⊙ σ′(z³)")
    assert rules[2].startswith("layer 3:") and "BP3" in rules[2] and "BP4" in rules[2] and "BP2" in rules[2]
    assert rules[3].startswith("BP2: δ² = ((w³)ᵀ δ³) ⊙ σ′(z²)")
    assert rules[4].startswith("layer 2:") and "input" in rules[4]


@pytest.mark.parametrize("which", ["api", "cli"])
def test_no_external_url(pages: dict[str, Path], which: str) -> None:
    page = pages[which].read_text(encoding="utf-8")
    assert external_urls(page) == []
    assert 'xmlns="http://www.w3.org/2000/svg"' in page          # the only URLs: namespace names
    assert "<script src" not in page and "<link" not in page


def test_the_url_checker_catches_external_references() -> None:
    for bad in ('<script src="https://cdn.example/x.js"></script>', '<img src="//cdn.example/a.png">',
                "<style>body{background:url(http://x/y.png)}</style>", "see https://example.org",
                '<a href="http://www.w3.org/">w3</a>',
                '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">'):
        assert external_urls(f"<html><body>{bad}</body></html>"), bad


def test_a_10000_node_graph_is_collapsed_not_cut(tmp_path: Path) -> None:
    c = _scalar_cost([64, 45, 10], 0, "quadratic")
    n_nodes = len(_trace(c).nodes)
    assert n_nodes > 10_000
    path = viz.animate_backward(c, tmp_path / "big.html")
    page = path.read_text(encoding="utf-8")
    assert path.stat().st_size < 20_000_000
    assert len(_blob(page)["steps"]) == len(_topological_order(c))   # every rule is a step: nothing cut
    assert f"of {n_nodes:,} nodes" in page                            # the picture says what it collapsed
    assert page.count('class="node"') <= 500 + 1                      # draw_graph's budget, plus the legend


def test_jupyter_shows_the_player_inline() -> None:
    animation = viz.animate_backward(_tensor_cost())
    assert isinstance(animation, BackwardAnimation) and animation.steps == 5
    srcdoc = re.fullmatch(r'<iframe srcdoc="([^"]*)" style="[^"]*"></iframe>', animation._repr_html_()).group(1)
    assert html.unescape(srcdoc) == animation.html


def test_bad_roots_are_rejected() -> None:
    with pytest.raises(TypeError, match="expected a Value"):
        viz.animate_backward(1.0)
    with pytest.raises(ValueError, match="leaf"):
        viz.animate_backward(Value(2.0))
    with pytest.raises(ValueError, match="one element"):
        viz.animate_backward(Value(np.ones(3)) * 2)


@pytest.mark.parametrize(("args", "message"), [
    (["--animate", "-o", "x.svg"], "use an .html output file"),
    (["--animate", "--network", "-o", "x.html"], "does not apply to --network"),
    (["--model", "m.npz", "-o", "x.svg"], "--model needs --network, --backprop or --animate"),
])
def test_cli_animate_usage_errors(args: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    assert graph_main(args) == 2
    assert message in capsys.readouterr().err


def test_cli_animate_a_saved_model(tmp_path: Path) -> None:
    from tinygrad_nn.train import save_model

    save_model(nn.MLP([64, 30, 10], seed=3), tmp_path / "m.npz")
    for extra, steps in (([], 5), (["--scalar"], None)):
        out = tmp_path / f"m{len(extra)}.html"
        assert graph_main(["--model", str(tmp_path / "m.npz"), *extra, "--animate", "-o", str(out)]) == 0
        n = len(_blob(out.read_text(encoding="utf-8"))["steps"])
        assert n == steps if steps else n > 1000


# ---- in a real browser -----------------------------------------------------------------------------------
@browser
@pytest.mark.parametrize("which", ["api", "cli"])
def test_browser_opens_the_step_named_in_the_hash(pages: dict[str, Path], which: str) -> None:
    page = pages[which].read_text(encoding="utf-8")
    blob = _blob(page)
    n = len(blob["steps"])
    second = _dom(pages[which], "#step=2")
    assert _label(second) == f"step 2 of {n}"
    assert blob["rules"][blob["steps"][1][1]] in _panel(second)
    grads = _grad_texts(second)
    assert grads[blob["steps"][0][0][0]] == "grad 1.0000"                # ∂C/∂C, from step 1
    assert grads[blob["steps"][-1][0][0]] == "grad"                      # the last rule's node: still empty
    last = _dom(pages[which], f"#step={n}")
    assert _label(last) == f"step {n} of {n}"
    assert blob["rules"][blob["steps"][-1][1]] in _panel(last)
    assert _grad_texts(last)[blob["steps"][-1][0][0]] == "grad " + blob["steps"][-1][3]
    if which == "api":
        assert "layer 2:" in _panel(last)                                 # the first layer's BP3/BP4 run last


@browser
@pytest.mark.parametrize("which", ["api", "cli"])
def test_browser_controls_change_the_step(pages: dict[str, Path], which: str) -> None:
    n = len(_blob(pages[which].read_text(encoding="utf-8"))["steps"])
    dom = _dom(pages[which], "#step=2&selftest=1", virtual_ms=10_000)
    report = html.unescape(re.search(r'<pre id="selftest"[^>]*>(.*?)</pre>', dom, re.DOTALL).group(1))
    lines = report.splitlines()
    assert lines[0] == "selftest ok", report
    assert lines[1:9] == [f"initial: step 2 of {n}", f"next button: step 3 of {n}", f"prev button: step 2 of {n}",
                          f"→ key: step 3 of {n}", f"← key: step 2 of {n}", f"slider to the end: step {n} of {n}",
                          f"next at the end: step {n} of {n}", f"slider to the start: step 1 of {n}"]
    assert f"hash #step={n}: step {n} of {n}" in lines
    assert any(line.startswith("play for") for line in lines)


# ---- any graph: the page replays exactly what backward() computes ------------------------------------------
_UNARY = [Value.tanh, Value.sigmoid, Value.exp, lambda v: v * v, lambda v: -v]
_BINARY = [Value.__add__, Value.__mul__, Value.__sub__,
           lambda a, b: a / (b * b + 1.0), lambda a, b: (a * a + 0.5) ** b]   # ÷ and ** where they are defined


@given(st.lists(st.tuples(st.integers(0, 9), st.integers(0, 99), st.integers(0, 99)), min_size=1, max_size=12),
       st.lists(st.floats(-2, 2), min_size=3, max_size=3))
def test_any_scalar_graph_replays_backward(program: list[tuple[int, int, int]], xs: list[float]) -> None:
    leaves = [Value(x, name=f"x{k}") for k, x in enumerate(xs)]
    values = list(leaves)
    for op, i, j in program:   # each op uses earlier values, so nodes are shared and reused
        a, b = values[i % len(values)], values[j % len(values)]
        values.append(_UNARY[op](a) if op < len(_UNARY) else _BINARY[op - len(_UNARY)](a, b))
    c = values[-1]
    if c.is_leaf:
        return
    c.backward()
    tr = _trace(c)
    index = {id(v): i for i, v in enumerate(tr.nodes)}
    blob = _blob(viz.animate_backward(c).html)
    assert [s[0][0] for s in blob["steps"]] == [f"v{index[id(n)]}" for n in reversed(_topological_order(c))]
    shown: dict[str, str] = {}
    for step in blob["steps"]:
        shown.setdefault(step[0][0], step[3])
        shown.update({title: grad for title, _, grad, _ in step[4] if title})
    for v in tr.nodes:
        if v.grad is not None:     # every gradient backward() computed is on the page, as the last value shown
            assert shown[f"v{index[id(v)]}"] == S.fmt_array(v.grad), v


def test_each_step_runs_only_after_every_user_of_its_node() -> None:
    """Independent of the engine's ordering code: a node's rule may run only once its gradient is complete,
    i.e. after the rules of all the nodes that use it; every node that gets a gradient runs exactly once."""
    c = _scalar_cost([2, 3, 2], 1, "cross-entropy")
    tr = _trace(c)
    steps = _blob(viz.animate_backward(c).html)["steps"]
    when = {int(s[0][0][1:]): k for k, s in enumerate(steps)}
    assert len(when) == len(steps) == sum(1 for ins in tr.inputs if ins)   # every op node, once
    assert when[tr.root] == 0
    for user, ins in enumerate(tr.inputs):
        for j in ins:
            if j in when:
                assert when[user] < when[j], (tr.nodes[user].op, tr.nodes[j].name or tr.nodes[j].op)


def test_rule_texts_use_the_nodes_own_names_and_values() -> None:
    c = _scalar_cost([2, 3, 1], 0, "quadratic")
    blob = _blob(viz.animate_backward(c).html)
    rules = [blob["rules"][s[1]] for s in blob["steps"]]
    tr = _trace(c)
    w = next(v for v in tr.nodes if v.name == "layers.1.neurons.0.weights.0")     # w³₁₁, times a²₁
    a = next(v for v in tr.nodes if v.name == "a2_1")
    text = f"∂(w³₁₁·a²₁)/∂w³₁₁ = a²₁ = {S.fmt_number(a.data)},  ∂(w³₁₁·a²₁)/∂a²₁ = w³₁₁ = {S.fmt_number(w.data)}"
    assert any(r.startswith(text) for r in rules)
    assert not any("∂(a·b)" in r for r in rules)
    assert any(r.startswith("∂(a³₁ − y₁)/∂a³₁ = 1") for r in rules)      # the operands in their order: a − y


def test_one_example_is_not_called_a_mean() -> None:
    blob = _blob(viz.animate_backward(_tensor_cost()).html)
    rules = [blob["rules"][s[1]] for s in blob["steps"]]
    assert "here m = 1: one example" in rules[0]
    assert all("mini-batch" not in r for r in rules[2::2])       # the layer steps: one example, nothing averaged
    z3 = blob["steps"][2]                                          # δ³ of one example: its 10 values in full
    assert z3[5].startswith("(10) [") or z3[5].startswith("1×10 [")
    assert len(z3[5].split(",")) == 10
    z2 = blob["steps"][4]
    assert "(one example) · mean of its 30 elements" in z2[5]


@pytest.mark.parametrize("a, b", [(0.0, -0.5), (-2.0, 0.5), (0.0, 2.0), (3.0, 0.0), (-1.5, 3.0)])
def test_rule_texts_of_powers_and_quotients_at_awkward_points_never_raise(a, b) -> None:
    """The arithmetic in a step's text is numpy's: 0^(−½), (−2)^½ and x/0 write inf or nan, not a traceback."""
    x, p = Value(a, name="x"), Value(b, name="p")
    with np.errstate(all="ignore"):
        for out in (x ** p, x / p, p / x):
            c = out * 1.0
            blob = _blob(viz.animate_backward(c).html)
            assert len(blob["steps"]) == 2
            text = blob["rules"][blob["steps"][1][1]]
            assert text.startswith("∂(x^p)/∂x = " if out.op == "**" else "∂(x/p)/∂x = 1/p = " if out._a is x
                                   else "∂(p/x)/∂p = 1/x = ")

"""`graph --network --delta --example K` and `graph --backprop` on real test examples of the digits, through
the installed entry point's code path (`python -m tinygrad_nn graph …`), rendered with the real `dot`."""
from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from tinygrad_nn import data, nn
from tinygrad_nn.train import save_model
from viz.cli import main

SVG = "{http://www.w3.org/2000/svg}"
ROOT = Path(__file__).resolve().parents[1]


def svg_text(path: Path) -> str:
    root = ET.fromstring(path.read_bytes())
    return "\n".join(t.text or "" for t in root.iter(SVG + "text"))


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> tuple[Path, nn.MLP]:
    """A [64, 30, 10] network trained for two epochs on the digits (enough to predict most test images)."""
    from tinygrad_nn.optim import SGD
    splits = data.load_digits()
    net = nn.MLP([64, 30, 10], seed=0)
    sgd = SGD(net.parameters(), lr=3.0)
    for _ in range(2):
        for x, y in data.mini_batches(splits.training.x, splits.training.y, 10, seed=0):
            cost = nn.quadratic_cost(net(x), y)
            sgd.zero_grad()
            cost.backward()
            sgd.step()
    path = tmp_path_factory.mktemp("model") / "m.npz"
    save_model(net, path)
    return path, net


def test_delta_of_test_example_7_names_its_label_and_prediction(model, tmp_path):
    path, net = model
    out = tmp_path / "net.svg"
    done = subprocess.run([sys.executable, "-m", "tinygrad_nn", "graph", "--network", "--model", str(path), "--delta",
                           "--example", "7", "-o", str(out)], capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    test = data.load_digits().test
    label, prediction = int(test.y[7]), int(net.predict(test.x[7])[0])
    text = svg_text(out)
    assert f"δ of test example 7 of digits: label {label}, the network predicts {prediction}" in text
    assert f"class {label}" in text and "label" in text
    assert "the book's δ of this one example" in text
    # δ of that example: output neuron j shows δᴸⱼ = (aᴸⱼ − yⱼ) σ′(zᴸⱼ), computed here without the engine
    from tinygrad_nn import backprop as closed_form
    ref = closed_form.backprop(net.weights, net.biases, test.x[7], np.array([label]), "quadratic")
    for v in ref.deltas[-1][0]:
        assert f"δ {v:+.2g}" in text
    # the 8×8 input image is drawn: 64 cells whose greys follow the pixels
    source = out.read_text()
    assert source.count('<polygon fill="#') >= 64


def test_backprop_of_a_model_and_a_test_example(model, tmp_path):
    path, _ = model
    out = tmp_path / "bp.svg"
    assert main(["graph", "--backprop", "--model", str(path), "--example", "3", "-o", str(out)]) == 0
    text = svg_text(out)
    label = int(data.load_digits().test.y[3])
    assert f"backpropagation of test example 3 of digits (label {label}" in text
    for tag in ("BP1", "BP2", "BP3", "BP4"):
        assert tag in text
    assert "all gradients agree" in text


@pytest.mark.parametrize("cost", ["quadratic", "cross-entropy", "log-likelihood"])
def test_backprop_of_a_fresh_network(cost, tmp_path):
    out = tmp_path / "bp.svg"
    assert main(["graph", "--backprop", "--sizes", "4,5,3,2", "--cost", cost, "-o", str(out)]) == 0
    text = svg_text(out)
    assert "random example (seed 0)" in text and f"{cost} cost" in text
    assert text.count("BP2") >= 2 and "δ² = ∂C/∂z²" in text


@pytest.mark.parametrize(("args", "words", "status"), [
    (["--network", "--delta", "--example", "360"], ["--example 360", "360 examples", "digits"], 2),
    (["--network", "--delta", "--example", "-1"], ["--example -1", "digits"], 2),
    (["--backprop", "--example", "5000"], ["--example 5000", "digits"], 2),
    (["--example", "3"], ["--example needs --delta"], 2),
    (["--backprop", "--network"], ["--backprop"], 2),
])
def test_bad_examples_get_one_line_and_no_picture(model, args, words, status, tmp_path, capsys):
    out = tmp_path / "x.svg"
    assert main(["graph", *args, "--model", str(model[0]), "-o", str(out)]) == status
    err = capsys.readouterr().err
    assert all(w in err for w in words) and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


@pytest.mark.parametrize(("sizes", "words"), [
    ("4,5,3,10", ["[4, 5, 3, 10]", "4 inputs", "digits", "64"]),
    ("64,30,3", ["[64, 30, 3]", "3 output neurons", "10 classes"]),
])
def test_a_network_that_does_not_fit_the_data_names_both(sizes, words, tmp_path, capsys):
    out = tmp_path / "x.svg"
    for mode in (["--network", "--delta"], ["--backprop", "--example", "0"]):
        assert main(["graph", *mode, "--sizes", sizes, "-o", str(out)]) == 1
        err = capsys.readouterr().err
        assert all(w in err for w in words) and len(err.strip().splitlines()) == 1, err
        assert not out.exists()

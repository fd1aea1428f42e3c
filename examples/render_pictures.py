"""Regenerate the README's pictures in docs/ (needs Graphviz's `dot`):

* docs/expression_graph.svg — a ScalarMLP [2, 2, 1]'s forward and backward pass for one example and the
  quadratic cost: every weight by name, with its value and its gradient;
* docs/network_delta.svg — a [4, 5, 3] network after a few steps of SGD, each neuron annotated with δ for
  a mini-batch, one hidden neuron pushed into saturation (σ′(z) < 0.01) to show the book's slow learner;
* docs/backprop.svg — `viz.draw_backprop` of a [4, 5, 3, 2] network on one example with the quadratic
  cost, in the compact layout (README width): the forward pass top to bottom, each gradient box naming its
  equation (BP1–BP4) and showing its measured error.

Run from the repository root: ``python examples/render_pictures.py [--png]`` (--png also writes PNGs).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import viz
from tinygrad_nn import Value, nn
from tinygrad_nn.optim import SGD

DOCS = Path(__file__).resolve().parent.parent / "docs"


def expression_graph() -> viz.graphviz.Digraph:
    """C = ½ (a − y)² for one example through a ScalarMLP [2, 2, 1], after backward."""
    net = nn.ScalarMLP([2, 2, 1], seed=3)
    x = [Value(0.8, requires_grad=False, name="x1"), Value(0.3, requires_grad=False, name="x2")]
    (a,) = net(x)                                   # named a³₁ by the network, as in the book
    cost = 0.5 * (a - Value(1.0, requires_grad=False, name="y1")) ** 2
    cost.name = "C"
    cost.backward()
    return viz.draw_graph(cost, rankdir="TB")


def network_delta() -> viz.graphviz.Digraph:
    """A [4, 5, 3] network trained a little on a toy task, with δ for a mini-batch of 8 examples."""
    rng = np.random.default_rng(0)
    net = nn.MLP([4, 5, 3], init="scaled", seed=0)
    x = rng.random((8, 4))
    y = np.eye(3)[np.argmax(x[:, :3], axis=1)]  # toy task: which of the first three inputs is largest
    opt = SGD(net.parameters(), lr=3.0)
    for _ in range(20):
        opt.zero_grad()
        nn.quadratic_cost(net(x), y).backward()
        opt.step()
    net.layers[0].weight.data[2] = 8.0  # push hidden neuron 2 into saturation (z ≈ 20): a slow learner
    net.layers[0].bias.data[2] = 4.0
    net.zero_grad()
    zs, activations = net.feedforward(x)
    nn.quadratic_cost(activations[-1], y).backward()
    return viz.draw_network(net, show_delta=True, zs=zs)


def backprop() -> viz.graphviz.Digraph:
    """BP1–BP4 for one example of a [4, 5, 3, 2] network, quadratic cost."""
    net = nn.MLP([4, 5, 3, 2], seed=3)
    x = np.random.default_rng(1).random(4)
    return viz.draw_backprop(net, x, 1, "quadratic", layout="compact")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--png", action="store_true", help="also write PNG copies (for viewing)")
    args = parser.parse_args()
    DOCS.mkdir(exist_ok=True)
    for name, graph in [("expression_graph", expression_graph()), ("network_delta", network_delta()),
                        ("backprop", backprop())]:
        for ext in ("svg", "png") if args.png else ("svg",):
            print("wrote", viz.render(graph, DOCS / f"{name}.{ext}"))


if __name__ == "__main__":
    main()

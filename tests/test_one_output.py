"""Chapter 2's own case: one example as 1-D arrays, and networks with one output neuron, whose target y is a
value (0 means the target 0.0), never a class label — in the costs, in BP1–BP4 and in `book_deltas`."""
from __future__ import annotations

import numpy as np
import pytest

from tinygrad_nn import book_deltas, compare_gradients, nn
from tinygrad_nn.backprop import backprop


@pytest.mark.parametrize("cost", ["quadratic", "cross-entropy"])
@pytest.mark.parametrize("y", [0, 1, 0.25, np.int64(0), np.float32(0.75)])
def test_a_number_is_the_one_output_s_target_value(cost: str, y) -> None:
    net = nn.MLP([2, 3, 1], seed=0)
    a = float(net(np.array([0.5, 0.2])).data[0])
    c = nn.cost_function(cost)(net(np.array([0.5, 0.2])), y).data
    t = float(y)
    want = 0.5 * (a - t) ** 2 if cost == "quadratic" else -(t * np.log(a) + (1 - t) * np.log(1 - a))
    assert c == pytest.approx(want, rel=1e-12)   # before: y = 0 was label 0, i.e. the target 1.0


def test_a_batch_of_target_values_for_one_output() -> None:
    net = nn.MLP([2, 3, 1], seed=1)
    x, y = np.random.default_rng(0).random((4, 2)), np.array([0, 1, 1, 0])   # XOR-like 0/1 targets
    a = net(x).data[:, 0]
    assert nn.quadratic_cost(net(x), y).data == pytest.approx(np.mean(0.5 * (a - y) ** 2), rel=1e-12)
    report = compare_gradients(net, x, y)          # the engine and BP1–BP4 read y the same way
    assert report.ok, str(report)
    g = backprop(net.weights, net.biases, x, y)
    np.testing.assert_allclose(g.deltas[-1][:, 0], (a - y) * a * (1 - a), rtol=1e-12)


def test_labels_still_mean_classes_for_several_outputs() -> None:
    net = nn.MLP([2, 3, 2], seed=0)
    out = net(np.array([0.5, 0.2]))
    a = out.data
    assert nn.quadratic_cost(out, 0).data == pytest.approx(0.5 * ((a[0] - 1) ** 2 + a[1] ** 2), rel=1e-12)
    with pytest.raises(ValueError, match="label 2 is out of range for 2 output neurons"):
        nn.quadratic_cost(out, 2)


@pytest.mark.parametrize(("sizes", "y"), [([4, 5, 3], 2), ([4, 5, 3], np.array([0.0, 0.0, 1.0])), ([4, 5, 1], 0.0),
                                          ([4, 5, 1], 1)])
def test_book_deltas_take_one_example_as_1d_arrays(sizes, y) -> None:
    net = nn.MLP(sizes, seed=2)
    x = np.random.default_rng(3).random(4)
    deltas = book_deltas(net, x, y)
    want = backprop(net.weights, net.biases, x, y).deltas
    assert [d.shape for d in deltas] == [(n,) for n in sizes[1:]]   # the book's column vectors δˡ
    for d, w in zip(deltas, want):
        np.testing.assert_allclose(d, w[0], rtol=1e-12, atol=1e-300)

"""draw_network(highlight=(l, j, k)): chapter 2's picture of one weight wˡⱼₖ, from neuron k of layer l − 1 to
neuron j of layer l, in the book's numbering (input layer 1, neurons from 1)."""
from __future__ import annotations

import re

import pytest

import viz
from tinygrad_nn import nn


def test_the_highlighted_weight_is_the_book_s_w_l_jk() -> None:
    net = nn.MLP([3, 4, 2], seed=1)
    source = viz.draw_network(net, highlight=(3, 2, 4)).source
    # neuron 4 of layer 2 (node n1_3) to neuron 2 of layer 3 (node n2_1), labelled with w³₂₄'s value
    edge = re.search(r"n1_3 -> n2_1 \[([^\]]*)\]", source).group(1)
    assert f"w³₂₄ = {net.weights[1][1, 3]:.3g}" in edge and "penwidth=3.5" in edge
    assert source.count("headlabel") == 1
    assert "from neuron k of layer l − 1 to neuron j of layer l" in source
    assert "positive weight" not in source


@pytest.mark.parametrize("bad", [(1, 1, 1), (3, 3, 1), (2, 1, 4), (3, 0, 1), "w324", (3, 2)])
def test_a_highlight_that_names_no_weight_is_refused(bad) -> None:
    with pytest.raises(ValueError, match=r"highlight must be \(l, j, k\) naming a weight .* \[3, 4, 2\]"):
        viz.draw_network(nn.MLP([3, 4, 2], seed=1), highlight=bad)

"""The first-order fast paths keep their checks: the input's NaN/inf check through one neuron's z, the
labels taken as rows of a cached identity, σ and its derivative with fewer temporaries."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_nn import Value, nn


@given(st.integers(0, 2**32 - 1), st.sampled_from([np.nan, np.inf, -np.inf]), st.booleans(), st.booleans())
def test_a_non_finite_input_anywhere_is_named_even_where_the_first_neuron_ignores_it(seed, bad, zero_row, single):
    rng = np.random.default_rng(seed)
    net = nn.MLP([6, 4, 2], seed=int(rng.integers(100)))
    if zero_row:
        net.layers[0].weight.data[0] = 0.0  # the checked neuron gives every input weight 0: inf·0 is still NaN
    x = rng.random(6) if single else rng.random((5, 6))
    index = tuple(int(rng.integers(n)) for n in x.shape)
    x[index] = bad
    with pytest.raises(ValueError, match=rf"MLP: input contains NaN or inf \(first at index \({index[0]},"):
        net(x)


def test_huge_but_finite_inputs_pass():
    net = nn.MLP([3, 2, 1], seed=0, dtype=np.float32)
    out = net(np.full((2, 3), 3e38, dtype=np.float32))  # z overflows to inf: x is searched, found finite
    assert out.shape == (2, 1)


@given(st.integers(0, 2**32 - 1), st.sampled_from(nn.COSTS))
def test_label_targets_equal_explicit_one_hot_targets(seed, cost_name):
    rng = np.random.default_rng(seed)
    m, k = int(rng.integers(1, 6)), int(rng.integers(2, 5))  # one sigmoid output reads y as a value (test_one_output)
    a = Value(rng.uniform(0.05, 0.95, (m, k)))
    labels = rng.integers(0, k, m)
    cost = nn.cost_function(cost_name)
    assert cost(a, labels).data == cost(a, np.eye(k)[labels]).data
    with pytest.raises(ValueError, match=f"label {k} is out of range for {k} output neurons"):
        cost(a, np.where(np.arange(m) == 0, k, labels))
    with pytest.raises(ValueError, match=f"label -1 is out of range for {k} output neurons"):
        cost(a, np.where(np.arange(m) == m - 1, -1, labels))


@given(st.integers(0, 2**32 - 1), st.sampled_from([np.float64, np.float32]))
def test_sigmoid_and_its_gradient_equal_the_textbook_formulas(seed, dtype):
    rng = np.random.default_rng(seed)
    z = Value((rng.standard_normal((3, 4)) * 30).astype(dtype))
    s = z.sigmoid()
    g = rng.standard_normal((3, 4)).astype(dtype)
    s.backward(g)
    with np.errstate(over="ignore"):
        expected = 1.0 / (1.0 + np.exp(-z.data))
    assert s.data.dtype == dtype and z.grad.dtype == dtype
    np.testing.assert_array_equal(s.data, expected)
    np.testing.assert_array_equal(z.grad, g * expected * (1.0 - expected))

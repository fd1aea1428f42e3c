"""Tests of chapter 1's perceptrons: the NAND gate and the adder built only from NANDs."""
from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_nn.perceptron import NAND, Perceptron, add_bits, add_numbers, nand


def test_nand_weights_are_the_books():
    assert [w.data for w in NAND.weights] == [-2.0, -2.0] and NAND.bias.data == 3.0


@pytest.mark.parametrize("x1,x2,expected", [(0, 0, 1), (0, 1, 1), (1, 0, 1), (1, 1, 0)])
def test_nand_truth_table(x1, x2, expected):
    assert nand(x1, x2) == expected
    assert NAND(x1, x2) == expected
    assert type(nand(x1, x2)) is int


def test_perceptron_fires_only_strictly_above_zero():
    p = Perceptron([1.0, -1.0], 0.0)
    assert p(1, 1) == 0          # w·x + b = 0 is not > 0
    assert p(1, 0) == 1 and p(0, 1) == 0
    assert Perceptron([0.5], -0.25)(1) == 1 and Perceptron([0.5], -0.75)(1) == 0


def test_perceptron_input_count_error():
    with pytest.raises(ValueError, match="got 3 inputs, expected 2"):
        NAND(1, 0, 1)


@pytest.mark.parametrize("x1,x2,carry", list(itertools.product((0, 1), repeat=3)))
def test_add_bits_truth_table_with_carry(x1, x2, carry):
    total = x1 + x2 + carry
    assert add_bits(x1, x2, carry) == (total % 2, total // 2)


@pytest.mark.parametrize("x1,x2,expected", [(0, 0, (0, 0)), (0, 1, (1, 0)), (1, 0, (1, 0)), (1, 1, (0, 1))])
def test_add_bits_truth_table_without_carry(x1, x2, expected):
    assert add_bits(x1, x2) == expected        # the half adder of Figure 1.5 (carry_in defaults to 0)


def test_add_numbers_all_4_bit_pairs():
    for a, b in itertools.product(range(16), repeat=2):
        assert add_numbers(a, b, bits=4) == a + b, (a, b)


@given(st.integers(0, 255), st.integers(0, 255))
def test_add_numbers_8_bit(a, b):
    assert add_numbers(a, b) == a + b


@given(st.integers(1, 16), st.data())
def test_add_numbers_any_width(bits, data):
    a = data.draw(st.integers(0, 2 ** bits - 1))
    b = data.draw(st.integers(0, 2 ** bits - 1))
    assert add_numbers(a, b, bits=bits) == a + b


@pytest.mark.parametrize("a,b,bits", [(-1, 0, 8), (0, -5, 8), (256, 0, 8), (0, 256, 8), (16, 1, 4), (3, 2, 1)])
def test_add_numbers_range_errors(a, b, bits):
    with pytest.raises(ValueError) as info:
        add_numbers(a, b, bits=bits)
    assert f"[0, {2 ** bits})" in str(info.value) and str(a) in str(info.value) and str(b) in str(info.value)


def test_add_numbers_largest_values_carry_out():
    assert add_numbers(255, 255) == 510 and add_numbers(15, 15, bits=4) == 30 and add_numbers(1, 1, bits=1) == 2


def _nands(monkeypatch, fn, *args) -> int:
    """How many NAND perceptrons `fn(*args)` evaluates."""
    from tinygrad_nn import perceptron
    calls = []
    real = perceptron.nand
    monkeypatch.setattr(perceptron, "nand", lambda a, b: calls.append(1) or real(a, b))
    fn(*args)
    monkeypatch.setattr(perceptron, "nand", real)
    return len(calls)


@pytest.mark.parametrize("x1,x2", list(itertools.product((0, 1), repeat=2)))
def test_the_book_s_half_adder_is_five_nands_the_full_adder_nine(monkeypatch, x1, x2):
    from tinygrad_nn.perceptron import half_add
    assert half_add(x1, x2) == ((x1 + x2) % 2, x1 * x2)
    assert _nands(monkeypatch, half_add, x1, x2) == 5   # the book's figure
    assert _nands(monkeypatch, add_bits, x1, x2, 1) == 9
    assert _nands(monkeypatch, add_numbers, 23, 19) == 8 * 9

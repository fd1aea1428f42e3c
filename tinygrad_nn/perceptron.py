"""Chapter 1's perceptrons: the NAND gate (w = (−2, −2), b = 3) and the bitwise adder built from NANDs.

A perceptron outputs 1 if w·x + b > 0 and 0 otherwise. NAND is universal, so a network of
NAND perceptrons computes any logical function — for example, adding two bits.
"""
from __future__ import annotations

from collections.abc import Sequence

from .engine import Value

__all__ = ["NAND", "Perceptron", "add_bits", "add_numbers", "half_add", "nand"]


class Perceptron:
    """output = 1 if Σⱼ wⱼxⱼ + b > 0 else 0, computed on `Value`s (its step has no gradient to learn from)."""

    def __init__(self, weights: Sequence[float], bias: float) -> None:
        self.weights = [Value(float(w), requires_grad=False) for w in weights]
        self.bias = Value(float(bias), requires_grad=False)

    def __call__(self, *x: float) -> int:
        if len(x) != len(self.weights):
            raise ValueError(f"Perceptron: got {len(x)} inputs, expected {len(self.weights)}")
        z = self.bias
        for w, xj in zip(self.weights, x):
            z = z + w * xj
        return int(z.step().data)


NAND = Perceptron([-2, -2], 3)


def nand(x1: int, x2: int) -> int:
    """The book's NAND perceptron: (−2)x₁ + (−2)x₂ + 3 > 0 unless both inputs are 1."""
    return NAND(x1, x2)


def half_add(x1: int, x2: int) -> tuple[int, int]:
    """The book's circuit that adds two bits: the sum x1 ⊕ x2 and the carry x1·x2, from five NAND perceptrons."""
    n1 = nand(x1, x2)
    return nand(nand(x1, n1), nand(x2, n1)), nand(n1, n1)  # four NANDs make x1 ⊕ x2, the fifth the carry


def add_bits(x1: int, x2: int, carry_in: int = 0) -> tuple[int, int]:
    """The sum and carry bits of x1 + x2 + carry_in (a full adder), from nine NAND perceptrons.

    Two of the book's half adders' XORs (four NANDs each) and one NAND for the carry, which reuses the first
    NAND of each: the carry input is what lets adders chain, bit after bit (`add_numbers`).
    """
    n1 = nand(x1, x2)
    half_sum = nand(nand(x1, n1), nand(x2, n1))  # x1 ⊕ x2
    n2 = nand(half_sum, carry_in)
    total = nand(nand(half_sum, n2), nand(carry_in, n2))  # (x1 ⊕ x2) ⊕ carry_in
    carry = nand(n1, n2)  # x1·x2 + (x1 ⊕ x2)·carry_in
    return total, carry


def add_numbers(a: int, b: int, bits: int = 8) -> int:
    """Add two non-negative integers bit by bit with a ripple of NAND adders (a network of perceptrons)."""
    if a < 0 or b < 0 or a >= 2 ** bits or b >= 2 ** bits:
        raise ValueError(f"add_numbers: {a} and {b} must be in [0, {2 ** bits}) for {bits} bits")
    carry, result = 0, 0
    for i in range(bits):
        s, carry = add_bits((a >> i) & 1, (b >> i) & 1, carry)
        result |= s << i
    return result | (carry << bits)

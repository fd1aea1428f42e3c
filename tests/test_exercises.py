"""tinygrad_nn.exercises: the answer key passes every check; a solution 1% off, one that raises, one that returns the
wrong shape, and one that hard-codes a single network's answer all fail, with a message that names where."""
from __future__ import annotations

import re

import numpy as np
import pytest

from tinygrad_nn import exercises
from tinygrad_nn.exercises import answer, catalog, check

NAMES = [e.name for e in catalog()]
REQUIRED = {"bp1", "bp1_matrix", "bp2", "bp3", "bp4", "backprop", "backprop_matrix", "modified_neuron",
            "linear_neurons", "sgd_step", "perceptron_network", "sigmoid_limit", "sum_over_paths"}


def _scaled(out, factor):
    """The same output with every number multiplied by `factor` (lists and tuples kept)."""
    if isinstance(out, (list, tuple)):
        return type(out)(_scaled(o, factor) for o in out)
    return np.asarray(out, dtype=float) * factor


def test_the_catalog_has_the_book_s_exercises_with_statements() -> None:
    assert REQUIRED <= set(NAMES)
    for ex in catalog():
        assert ex.chapter in (1, 2)
        assert f"{ex.name}(" in ex.statement, ex.name       # the signature to write
        assert "shape" in ex.statement or "number" in ex.statement
        assert ex.section and ex.title
    assert catalog()["bp2"].name == "bp2"
    assert "<table>" in catalog()._repr_html_()
    with pytest.raises(KeyError, match="bp1"):
        catalog()["bp9"]


@pytest.mark.parametrize("name", NAMES)
def test_the_answer_key_passes(name: str) -> None:
    result = check(name, answer(name))
    assert result, result.message
    assert result.passed and "right on all" in result.message
    assert "✓" in result._repr_html_()


@pytest.mark.parametrize("name", NAMES)
def test_one_percent_off_fails_naming_where(name: str) -> None:
    key = answer(name)
    result = check(name, lambda *args: _scaled(key(*args), 1.01))
    assert not result
    # the quantity, the expected and got numbers, the tolerance and the case
    assert re.search(r"expected -?[\d.e+-]+, got -?[\d.e+-]+ \(tolerance 1e-09 \+ 1e-06·\|expected\|", result.message), \
        result.message
    assert "case 1 of" in result.message and "network [" in result.message
    assert "✗" in result._repr_html_()


def test_the_message_names_layer_and_index() -> None:
    key = answer("backprop")

    def off(weights, biases, x, y):
        nabla_b, nabla_w = key(weights, biases, x, y)
        nabla_w[0][1, 0] += 0.5
        return nabla_b, nabla_w
    result = check("backprop", off)
    assert not result
    assert "∂C/∂w² (BP4, layer 2) at [1, 0] (j = 2, k = 1)" in result.message, result.message


@pytest.mark.parametrize("name", NAMES)
def test_a_raising_solution_gives_a_failed_result(name: str) -> None:
    def solution(*args):
        scale = 0
        return 1 / scale
    result = check(name, solution)
    assert not result
    assert "raised ZeroDivisionError: division by zero" in result.message
    assert "return 1 / scale" in result.message  # the line in the learner's code


@pytest.mark.parametrize("name", NAMES)
def test_a_wrong_shape_gives_a_failed_result(name: str) -> None:
    result = check(name, lambda *args: np.zeros(7))
    assert not result
    assert re.search(r"expected (shape|a tuple|one number)", result.message), result.message


def test_wrong_shapes_get_hints() -> None:
    transposed = check("bp4", lambda delta, a_prev: np.outer(a_prev, delta))
    assert not transposed and "transposed?" in transposed.message
    column = check("bp1", lambda nabla_a, z: answer("bp1")(nabla_a, z)[:, None])
    assert not column and "return a 1-D array" in column.message
    assert "must be a function" in check("bp1", 3.0).message
    assert "expected a list of" in check("backprop", lambda *a: ([], [])).message
    with pytest.raises(KeyError, match="no exercise 'bp5'"):
        check("bp5", answer("bp1"))


@pytest.mark.parametrize("name", NAMES)
def test_hard_coding_one_network_s_answer_fails(name: str) -> None:
    seen = []

    def spy(*args):
        seen.append(answer(name)(*args))
        return seen[0]
    assert not check(name, spy)  # right on the first case, then the first case's answer again
    assert "case 1 of" not in check(name, spy).message


def test_a_plausible_mistake_is_caught() -> None:
    # σ′ forgotten in BP2, or the linear network given σ′ — the learner's usual slips
    assert not check("bp2", lambda w_next, delta_next, z: w_next.T @ delta_next)
    sum_not_mean = check("backprop_matrix", lambda *a: _scaled(answer("backprop_matrix")(*a), a[2].shape[1]))
    assert not sum_not_mean
    # the limit where w·a + b = 0 is ½, not the perceptron's 0
    assert not check("sigmoid_limit", answer("perceptron_network"))


def test_the_references_are_checked_against_each_other(monkeypatch) -> None:
    real = exercises._answers.linear_neurons
    monkeypatch.setattr(exercises._answers, "linear_neurons", lambda *a: _scaled(real(*a), 1.001))  # a broken key
    with pytest.raises(AssertionError, match="references of linear_neurons disagree"):
        check("linear_neurons", real)

"""Tests of `tinygrad_nn.compare.compare_gradients` and the `check` command: it agrees on correct code,
and — the point of a check — it reports a disagreement when either side is sabotaged.

Tolerances are the library's defaults: autodiff vs BP1–BP4 normwise relative ≤ 1e-9; finite differences
relative to max(|g|, 1e-4) ≤ 1e-4. The sabotages are 1 % errors, 10⁷× the first tolerance.
"""
from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_nn import compare, engine
from tinygrad_nn.compare import GradientReport, compare_gradients
from tinygrad_nn.nn import MLP, cost_function
from tinygrad_nn.testing import TARGETS, mini_batches, networks

ROOT = Path(__file__).resolve().parents[1]
QUANTITIES = ["δ (BP1/BP2)", "∂C/∂b (BP3)", "∂C/∂w (BP4)", "finite diff ∂C/∂w", "finite diff ∂C/∂b"]


def problem(sizes, batch, seed=0):
    rng = np.random.default_rng(seed)
    return MLP(sizes, seed=seed), rng.random((batch, sizes[0])), rng.integers(0, sizes[-1], batch)


def table_rows(report: GradientReport) -> list[tuple[int, str, str]]:
    """(layer, quantity, ok column) parsed back from the printed table."""
    lines = str(report).splitlines()
    sep = next(i for i, line in enumerate(lines) if set(line) == {"-"})
    rows = []
    for line in lines[sep + 1:-1]:
        quantity = next(q for q in QUANTITIES if q in line)
        rows.append((int(line[:2]), quantity, line.split()[-1]))
    return rows


def assert_table_complete(report: GradientReport, n_layers: int) -> None:
    rows = table_rows(report)
    assert sorted((l, q) for l, q, _ in rows) == sorted((l, q) for l in range(2, n_layers + 2) for q in QUANTITIES)
    assert len(report.rows) == len(rows) == 5 * n_layers


@pytest.mark.parametrize("cost", ["quadratic", "cross-entropy"])
def test_mnist_sized_network_agrees(cost):
    net, x, y = problem([784, 30, 10], 10)
    report = compare_gradients(net, x, y, cost=cost)
    assert report.ok, str(report)
    assert report.sizes == [784, 30, 10] and report.cost == cost and report.batch == 10
    assert_table_complete(report, 2)
    assert all(ok == "yes" for _, _, ok in table_rows(report))
    text = str(report)
    assert text.splitlines()[-1] == "agreement: all within tolerance"
    assert f"gradients of the {cost} cost, network [784, 30, 10], mini-batch of 10" in text
    for row in report.rows[:3]:                    # exact rows: far inside the 1e-9 tolerance
        assert row.max_rel <= 1e-12 and row.tolerance == 1e-9


@pytest.mark.parametrize("cost", ["quadratic", "cross-entropy"])
@pytest.mark.parametrize("sizes,batch", [([2, 1], 1), ([3, 4, 2], 5), ([5, 3, 4, 3], 7), ([4, 6, 6, 6, 2], 3)])
def test_small_networks_agree(sizes, batch, cost):
    net, x, y = problem(sizes, batch, seed=len(sizes))
    report = compare_gradients(net, x, y, cost=cost)
    assert report.ok, str(report)
    assert_table_complete(report, len(sizes) - 1)


@given(networks(max_layers=3, max_width=8), st.data(), st.sampled_from(["quadratic", "cross-entropy"]),
       st.integers(0, 2 ** 32 - 1))
def test_random_small_networks_agree(net, data, cost, seed):
    x, y = data.draw(mini_batches(net, max_size=12, x_scale=1.0, targets=TARGETS, single=True))
    report = compare_gradients(net, x, y, cost=cost, seed=seed)
    assert report.ok, str(report)
    assert_table_complete(report, len(net.sizes) - 1)
    assert report.batch == (1 if x.ndim == 1 else len(x))


def test_repeated_checks_do_not_accumulate_gradients():
    net, x, y = problem([3, 4, 2], 5)
    first = compare_gradients(net, x, y)
    second = compare_gradients(net, x, y)          # would be 2× the gradient without zero_grad
    assert first.ok and second.ok
    np.testing.assert_allclose([r.autodiff for r in second.rows], [r.autodiff for r in first.rows], rtol=1e-15)


# ---- the check can fail -------------------------------------------------------------------------------

def test_wrong_closed_form_deltas_are_reported(monkeypatch):
    real = compare.closed_form.backprop

    def wrong(*args, **kwargs):
        g = real(*args, **kwargs)
        return dataclasses.replace(g, deltas=[d * 1.01 for d in g.deltas])

    monkeypatch.setattr(compare.closed_form, "backprop", wrong)
    net, x, y = problem([784, 30, 10], 10)
    report = compare_gradients(net, x, y, cost="quadratic")
    assert not report.ok
    rows = table_rows(report)
    assert {(l, q) for l, q, ok in rows if ok == "NO"} == {(2, "δ (BP1/BP2)"), (3, "δ (BP1/BP2)")}
    assert str(report).splitlines()[-1] == "DISAGREEMENT: see the rows marked NO"
    bad = [r for r in report.rows if not r.ok]
    assert all(abs(r.max_rel - 0.01 / 1.01) < 1e-6 for r in bad)     # |a − 1.01a| / |1.01a|


@pytest.mark.parametrize("cost", ["quadratic", "cross-entropy"])
def test_sabotaged_autodiff_is_reported_by_both_checks(monkeypatch, cost):
    """Scale what every layer's backward passes on by 1.01: BP1–BP4 AND finite differences catch it."""
    real = engine._linear_rule
    monkeypatch.setattr(engine, "_linear_rule", lambda out, g: real(out, g * 1.01))
    net, x, y = problem([4, 5, 3], 6, seed=3)
    report = compare_gradients(net, x, y, cost=cost)
    assert not report.ok
    no = {(l, q) for l, q, ok in table_rows(report) if ok == "NO"}
    assert {(2, "∂C/∂w (BP4)"), (2, "∂C/∂b (BP3)"), (3, "∂C/∂w (BP4)"), (3, "∂C/∂b (BP3)"), (2, "δ (BP1/BP2)")} <= no
    assert (2, "finite diff ∂C/∂w") in no and (3, "finite diff ∂C/∂w") in no
    assert (3, "δ (BP1/BP2)") not in no          # δᴸ comes from the cost node, before any linear backward


def test_an_absurd_tolerance_fails():
    net, x, y = problem([784, 30, 10], 10)
    report = compare_gradients(net, x, y, tolerance=1e-30)
    assert not report.ok and "NO" in str(report)


# ---- errors -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [{"activation": "tanh"}, {"activation": "relu", "output_activation": "sigmoid"},
                                    {"output_activation": "softmax"}, {"output_activation": "identity"}])
def test_non_sigmoid_network_is_rejected(kwargs):
    net = MLP([3, 4, 2], seed=0, **kwargs)
    with pytest.raises(ValueError, match="sigmoid"):
        compare_gradients(net, np.ones((2, 3)), np.array([0, 1]))


def test_unknown_cost_is_rejected():
    net, x, y = problem([3, 4, 2], 2)
    with pytest.raises(ValueError) as info:
        compare_gradients(net, x, y, cost="hinge")
    assert "'hinge'" in str(info.value) and "quadratic" in str(info.value) and "cross-entropy" in str(info.value)


def test_log_likelihood_needs_a_softmax_output():
    net, x, y = problem([3, 4, 2], 2)
    with pytest.raises(ValueError, match="softmax output"):
        compare_gradients(net, x, y, cost="log-likelihood")


# ---- the command line ---------------------------------------------------------------------------------

def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "tinygrad_nn", "check", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)


def test_cli_check_passes():
    r = run_cli("--sizes", "784,30,10", "--cost", "quadratic", "--batch", "10", "--seed", "0")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "agreement" in r.stdout and "DISAGREEMENT" not in r.stdout and " NO" not in r.stdout
    assert r.stdout.count(" yes") == 10


def test_cli_check_cross_entropy_passes():
    r = run_cli("--sizes", "20,8,5", "--cost", "cross-entropy", "--batch", "4", "--seed", "3")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "agreement" in r.stdout and "cross-entropy cost, network [20, 8, 5], mini-batch of 4" in r.stdout


def test_cli_check_with_an_absurd_tolerance_exits_1():
    r = run_cli("--sizes", "784,30,10", "--cost", "quadratic", "--batch", "10", "--seed", "0", "--tolerance", "1e-30")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "DISAGREEMENT" in r.stdout and " NO" in r.stdout


def test_cli_check_bad_option_is_a_usage_error():
    r = run_cli("--sizes", "784")
    assert r.returncode == 2 and "--sizes" in r.stderr and "Traceback" not in r.stderr


def test_the_printed_table_does_not_depend_on_rounding_noise():
    """Another BLAS kernel rounds differently: a few ulps of noise on both sides of every row (what AVX-512 vs
    Haswell kernels give) must not change one character of the table, as it did the "worst" column."""
    net, x, y = problem([784, 30, 10], 10)
    report = compare_gradients(net, x, y)
    rng = np.random.default_rng(5)
    rows = []
    for r in report.rows:
        def noisy(a):
            return a * (1 + 4e-16 * rng.choice([-1.0, 1.0], size=a.shape))
        again = compare._compare(r.layer, r.quantity, noisy(r.autodiff_array), noisy(r.reference_array), r.tolerance,
                                 floor=1e-4 if r.quantity.startswith("finite") else 0.0)
        again.elements = r.elements
        if r.elements is not None:
            again.worst = r.elements[again.worst[0]]
        rows.append(again)
    noisy_report = GradientReport(report.sizes, report.cost, report.batch, rows)
    assert str(noisy_report) == str(report)
    assert noisy_report._repr_html_() == report._repr_html_()
    assert any(a.worst != r.worst for a, r in zip(rows, report.rows))   # the noise did move the worst elements


def test_a_disagreeing_row_shows_its_exact_error_at_its_worst_element():
    net, x, y = problem([5, 4, 3], 3)
    report = compare_gradients(net, x, y, tolerance=1e-30)   # rounding is now "wrong"
    bad = next(r for r in report.rows if not r.ok)
    line = next(l for l in str(report).splitlines() if l.startswith(f"{bad.layer:>2}  {bad.quantity}"))
    assert f"{bad.max_rel:.3e}" in line and ",".join(map(str, bad.worst)) in line and line.endswith("NO")


def test_finite_differences_allow_for_the_rounding_of_a_large_cost_but_still_catch_a_wrong_gradient(monkeypatch):
    """The finite-difference floor grows with the rounding of C (ε|C|/fd_eps: hypothesis found a 1.2e-8 error on
    a 4e-8 gradient at C ≈ 50 in test_nn); at C > 50 the check still passes, and a 1% error still fails it."""
    rng = np.random.default_rng(0)
    net = MLP([13, 5, 10, 13, 13], seed=1)
    for layer in net.layers:
        layer.weight.data *= 6.0                   # saturated outputs: the cross-entropy cost is large
    x, y = rng.random((5, 13)), rng.integers(0, 13, 5)
    report = compare_gradients(net, x, y, "cross-entropy", fd_samples=8)
    cost = cost_function("cross-entropy")(net(x), y).data
    assert cost > 50 and report.ok, report
    real = compare._central_difference
    monkeypatch.setattr(compare, "_central_difference", lambda *a: 1.01 * real(*a) + 1e-3)
    assert not compare_gradients(net, x, y, "cross-entropy", fd_samples=8).ok

"""User-defined ops (`tinygrad_nn.Function`): gradients inside a larger graph, gradcheck, errors, no_grad,
detect_anomaly, drawings, create_graph and forward mode. References: finite differences (gradcheck,
float64, its default tolerances) and the same function written with engine ops."""
from __future__ import annotations

import numpy as np
import pytest
from _ops import DifferentiableSoftplus, Softplus
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_nn import (
    Function,
    Value,
    detect_anomaly,
    functional,
    gradcheck,
    gradgradcheck,
    linear,
    nn,
    no_grad,
    testing,
)
from tinygrad_nn.gradcheck import GradcheckError


class WrongSoftplus(Softplus):
    @staticmethod
    def backward(ctx, grad_output):  # forgets the chain rule's σ: passes grad_output through
        return grad_output


class FrozenSlopeSoftplus(DifferentiableSoftplus):
    """Right first derivative, wrong second: σ(x) is computed on the numbers, a constant to x."""

    @staticmethod
    def backward_graph(ctx, grad_output, x):
        z, = ctx.saved_tensors
        return grad_output * Value(1.0 / (1.0 + np.exp(-z)), requires_grad=False)


class ScaledAdd(Function):
    """a + k·b with a constant k, three inputs: one gradient each, None for the constant."""

    @staticmethod
    def forward(ctx, a, b, k):
        ctx.k = k
        return a + k * b

    @staticmethod
    def backward(ctx, g):
        return g, ctx.k * g, None


def network(op: type[Function]):
    x = np.random.default_rng(1).random((4, 3))

    def f(W, b):
        return nn.quadratic_cost(op.apply(linear(x, W, b)).tanh(), np.array([0, 1, 1, 0]))
    return f


def parameters(seed: int) -> tuple[Value, Value]:
    rng = np.random.default_rng(seed)
    return Value(rng.standard_normal((2, 3)), name="W"), Value(rng.standard_normal(2), name="b")


@given(st.integers(0, 2**32 - 1))
def test_softplus_inside_a_larger_graph_passes_gradcheck_and_matches_engine_ops(seed):
    W, b = parameters(seed)
    assert gradcheck(network(Softplus), W, b)
    W.grad = b.grad = None
    network(Softplus)(W, b).backward()
    custom = W.grad.copy(), b.grad.copy()
    W.grad = b.grad = None
    x = np.random.default_rng(1).random((4, 3))
    z = linear(x, W, b)
    reference = (z.exp() + 1.0).log()
    nn.quadratic_cost(reference.tanh(), np.array([0, 1, 1, 0])).backward()
    np.testing.assert_allclose(custom[0], W.grad, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(custom[1], b.grad, rtol=1e-12, atol=1e-15)


def test_a_deliberately_wrong_backward_fails_gradcheck():
    W, b = parameters(0)
    with pytest.raises(GradcheckError, match="input 0 \\(W\\)"):
        gradcheck(network(WrongSoftplus), W, b)


def test_mixed_inputs_values_numbers_and_arrays():
    a, b = Value(np.array([1.0, 2.0])), Value(np.array([0.5, -1.0]))
    y = ScaledAdd.apply(a, b, 3.0)
    assert y.op == "ScaledAdd"
    np.testing.assert_array_equal(y.data, [2.5, -1.0])
    (y * np.array([1.0, 2.0])).sum().backward()
    np.testing.assert_array_equal(a.grad, [1.0, 2.0])
    np.testing.assert_array_equal(b.grad, [3.0, 6.0])
    assert gradcheck(lambda a, b: ScaledAdd.apply(a, b, 3.0).sigmoid(), a, b)
    c = ScaledAdd.apply(np.array([1.0]), 2.0, 3.0)  # only constants: a constant result
    assert not c.requires_grad and c.data.tolist() == [7.0]
    s = Value(0.5)
    out = Softplus.apply(s)
    out.backward()
    assert type(out.data) is float and isinstance(s.grad, float) and np.isclose(s.grad, 1 / (1 + np.exp(-0.5)))


def test_save_for_backward_and_needs_input_grad():
    seen = {}

    class Probe(Function):
        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            seen["needs"] = ctx.needs_input_grad
            return a * b

        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            return g * b, g * a

    a = Value(np.array([2.0, 3.0]))
    Probe.apply(a, np.array([4.0, 5.0])).sum().backward()
    assert seen["needs"] == (True, False)
    np.testing.assert_array_equal(a.grad, [4.0, 5.0])


def test_gradients_of_the_wrong_shape_type_or_count_are_clear_errors():
    class BadShape(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2.0

        @staticmethod
        def backward(ctx, g):
            return np.ones(5)

    class NotFloat(BadShape):
        @staticmethod
        def backward(ctx, g):
            return "oops"

    class Complex(BadShape):
        @staticmethod
        def backward(ctx, g):
            return g * 1j

    class TwoGrads(BadShape):
        @staticmethod
        def backward(ctx, g):
            return g, g

    class BadForward(BadShape):
        @staticmethod
        def forward(ctx, x):
            return "text"

    x = Value(np.ones(3))
    with pytest.raises(ValueError, match=r"BadShape.backward: the gradient for input 0 has shape \(5,\), expected \(3,\)"):
        BadShape.apply(x).sum().backward()
    with pytest.raises(TypeError, match=r"NotFloat.backward: the gradient for input 0 must be a float"):
        NotFloat.apply(x).sum().backward()
    with pytest.raises(TypeError, match=r"Complex.backward: .* complex128"):
        Complex.apply(x).sum().backward()
    with pytest.raises(ValueError, match=r"TwoGrads.backward returned 2 gradient\(s\), expected 1"):
        TwoGrads.apply(x).sum().backward()
    with pytest.raises(TypeError, match=r"BadForward.forward must return a float"):
        BadForward.apply(x)
    with pytest.raises(TypeError, match="subclass Function"):
        Function.apply(x)


def test_no_grad_makes_a_constant():
    x = Value(np.ones(2))
    with no_grad():
        y = Softplus.apply(x)
    assert not y.requires_grad and y.is_leaf


def test_detect_anomaly_names_the_custom_op():
    class Log(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return np.log(x)

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            with np.errstate(divide="ignore"):
                return g / x

    x = Value(np.array([0.0, 1.0]))
    with detect_anomaly(), pytest.raises(FloatingPointError, match="op 'Log'"), np.errstate(divide="ignore"):
        Log.apply(x).sum().backward()


def test_the_drawing_names_the_op_by_its_class(tmp_path):
    viz = pytest.importorskip("viz")
    x = Value(np.array([0.5, -0.5]), name="x")
    loss = Softplus.apply(x).sum()
    loss.backward()
    dot = viz.draw_graph(loss)
    assert "Softplus" in dot.source


def test_create_graph_needs_a_value_backward_and_then_gives_second_derivatives():
    x = Value(np.array([0.3, -1.2]))
    with pytest.raises(RuntimeError, match="custom op Softplus has only a numpy backward.*backward_graph"):
        Softplus.apply(x).sum().backward(create_graph=True)
    W, b = parameters(2)
    assert gradgradcheck(network(DifferentiableSoftplus), W, b)
    s = 1 / (1 + np.exp(-x.data))
    _, hv = functional.hvp(lambda v: DifferentiableSoftplus.apply(v).sum(), x.data, np.ones(2))
    np.testing.assert_allclose(hv, s * (1 - s), rtol=1e-12)  # softplus″ = σ′


def test_forward_mode_needs_a_jvp_rule():
    x = np.array([0.3, -1.2])
    with pytest.raises(RuntimeError, match="custom op Softplus has no tangent rule"):
        functional.jvp(lambda v: Softplus.apply(v), x, np.ones(2))
    _, jv = functional.jvp(lambda v: DifferentiableSoftplus.apply(v * 2.0), x, np.ones(2))
    np.testing.assert_allclose(jv, 2 / (1 + np.exp(-2 * x)), rtol=1e-12)


def test_the_readme_examples_run():
    """The README's sections on higher orders and on custom ops, executed as written."""
    import re
    from pathlib import Path
    text = Path(__file__).resolve().parent.parent.joinpath("README.md").read_text()
    section = text[text.index("### Higher-order derivatives"):text.index("## Nielsen's network, and BP1")]
    blocks = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 2
    for block in blocks:
        namespace: dict = {}
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 -- our own README
    assert namespace["Softplus"].apply(namespace["W"]).op == "Softplus"


def test_a_backward_graph_returning_plain_arrays_is_refused():
    class Frozen(Softplus):
        @staticmethod
        def backward_graph(ctx, grad_output, x):
            z, = ctx.saved_tensors
            return grad_output.data / (1.0 + np.exp(-z))  # numbers, not Values: no second derivative

    x = Value(np.array([0.3, -1.2]))
    with pytest.raises(TypeError, match=r"Frozen.backward_graph: the gradient for input 0 must be a Value"):
        Frozen.apply(x).sum().backward(create_graph=True)


@given(testing.operands(max_dims=2))
def test_check_op_hessian_vector_passes_a_right_custom_op_inside_a_graph(x):
    out, (leaf,) = testing.check_op_hessian_vector(lambda v: (DifferentiableSoftplus.apply(v) * v).sum(), x)
    np.testing.assert_allclose(out.data, np.sum(np.logaddexp(0.0, x) * x), rtol=1e-12, atol=1e-15)
    assert np.shape(leaf.grad) == np.shape(x)


def test_check_op_hessian_vector_catches_a_wrong_backward_graph_that_first_order_checks_miss():
    x = np.array([0.5, -1.0, 2.0])
    testing.check_op_gradient(lambda v: FrozenSlopeSoftplus.apply(v).sum(), x)  # first order is right
    with pytest.raises(AssertionError, match=r"check_op_hessian_vector: input 0 of shape \(3,\), \(H·v\): "
                                             r"autodiff and finite differences of the gradient disagree"):
        testing.check_op_hessian_vector(lambda v: FrozenSlopeSoftplus.apply(v).sum(), x)
    testing.check_op_hessian_vector(lambda v: DifferentiableSoftplus.apply(v).sum(), x)

"""Hypothesis strategies and gradient checkers for testing ops and networks built on `tinygrad_nn`.

These are the strategies and checks the project's own test suite uses, so they stay true. Three checkers:

- `check_op_gradient(fn, *inputs)`: the op's reverse-mode gradient against central finite differences
  computed here, independently of the engine (and of `tinygrad_nn.gradcheck`);
- `check_op_hessian_vector(fn, *inputs)`: its second derivatives — H·v by backward(create_graph=True) and a
  second backward — against central differences of its first-order gradients along v (for a `Function`,
  this tests `backward_graph`);
- `check_backprop(net, x, y, cost)`: a network's δˡ, ∂C/∂bˡ and ∂C/∂wˡ against the closed-form BP1–BP4
  (`tinygrad_nn.backprop`, via `compare_gradients`) and against finite differences on sampled weights.

All raise AssertionError naming what disagrees, where, both values and the tolerance. The strategies draw
shapes, mutually broadcastable operands, float64 arrays in sane ranges (`positive_floats` for log, pow and
division), networks and mini-batches. Testing your own op::

    import numpy as np
    from hypothesis import given
    from tinygrad_nn import testing

    def softplus(v):                                   # log(1 + eˣ), built from engine ops
        return (v.exp() + 1.0).log()

    @given(testing.operands())                         # a Python float or a float64 array, in [-3, 3]
    def test_softplus_gradient(x):
        out, (leaf,) = testing.check_op_gradient(softplus, x)
        np.testing.assert_allclose(out.data, np.logaddexp(0, x))
        testing.check_op_hessian_vector(softplus, x)   # second derivatives, by create_graph

    @given(testing.broadcastable_operands(testing.floats(), testing.positive_floats()))
    def test_scaled_log_gradient(ab):
        testing.check_op_gradient(lambda a, b: a * b.log(), *ab)

hypothesis is needed only here, not by the library: install it with the `testing` (or `dev`) extra.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

try:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError as error:  # the library itself never needs hypothesis
    raise ImportError("tinygrad_nn.testing needs hypothesis, which the library itself does not: "
                      "pip install 'tinygrad_nn[testing]' (or the 'dev' extra)") from error

from .compare import GradientReport, compare_gradients
from .engine import Value, _topological_order
from .nn import MLP

__all__ = [
    "AWAY_FROM_ZERO", "FLOATS", "NONZERO", "POSITIVE", "TARGETS",
    "arrays", "axes", "broadcastable_operands", "broadcastable_shapes", "check_backprop", "check_op_gradient",
    "check_op_hessian_vector",
    "cotangent", "distinct_arrays", "finite_differences", "floats", "layer_sizes", "mini_batches", "networks",
    "nonzero_floats", "operands", "positive_floats", "shapes",
]

Strategy = st.SearchStrategy


# ---- numbers and arrays ------------------------------------------------------------------------------
def floats(min_value: float = -3.0, max_value: float = 3.0, dtype: Any = np.float64) -> Strategy[float]:
    """Finite floats in [min_value, max_value], representable in `dtype` (float64 or float32).

    The default range keeps exp, tanh and sigmoid away from overflow and saturation, where finite
    differences lose their digits."""
    return st.floats(min_value, max_value, width=32 if np.dtype(dtype) == np.float32 else 64)


def positive_floats(min_value: float = 0.1, max_value: float = 3.0) -> Strategy[float]:
    """Floats in [min_value, max_value] > 0: inputs of log, bases of pow, ≥ 0.1 so that 1/x stays ≤ 10."""
    if not min_value > 0:
        raise ValueError(f"positive_floats: min_value must be > 0, got {min_value!r}")
    return st.floats(min_value, max_value)


def nonzero_floats(min_abs: float = 0.5, max_abs: float = 3.0) -> Strategy[float]:
    """Floats with min_abs ≤ |x| ≤ max_abs: safe denominators, or inputs kept off a kink at 0 (relu)."""
    if not min_abs > 0:
        raise ValueError(f"nonzero_floats: min_abs must be > 0, got {min_abs!r}")
    return st.one_of(st.floats(min_abs, max_abs), st.floats(-max_abs, -min_abs))


FLOATS = floats()                      # [-3, 3]
POSITIVE = positive_floats()           # [0.1, 3]
NONZERO = nonzero_floats()             # 0.5 ≤ |x| ≤ 3
AWAY_FROM_ZERO = nonzero_floats(0.1)   # 0.1 ≤ |x| ≤ 3


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4) -> Strategy[tuple]:
    """Array shapes; `min_side=0` adds empty arrays."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_shapes(num_shapes: int = 2, min_dims: int = 0, max_dims: int = 3,
                         max_side: int = 3) -> Strategy[tuple]:
    """A tuple of `num_shapes` shapes that broadcast together (numpy's rules), sides of length 1 included."""
    return hnp.mutually_broadcastable_shapes(num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims,
                                             max_side=max_side).map(lambda s: s.input_shapes)


def arrays(shape: Any, min_value: float = -3.0, max_value: float = 3.0, *, elements: Strategy | None = None,
           dtype: Any = np.float64) -> Strategy[np.ndarray]:
    """Arrays of `shape` (a tuple or a strategy of tuples) with elements in [min_value, max_value],
    or drawn from `elements` (e.g. `POSITIVE`)."""
    return hnp.arrays(dtype, shape, elements=floats(min_value, max_value, dtype) if elements is None else elements)


def operands(elements: Strategy[float] = FLOATS, min_dims: int = 0, max_dims: int = 3,
             max_side: int = 4) -> Strategy[float | np.ndarray]:
    """A Python float (the engine's scalar path) or a float64 array of any shape, elements from `elements`."""
    return st.one_of(elements, shapes(min_dims, max_dims, max_side=max_side).flatmap(
        lambda s: arrays(s, elements=elements)))


def _operand(shape: tuple, elements: Strategy[float]) -> Strategy[float | np.ndarray]:
    """A float64 array of `shape`; for shape () sometimes a Python float."""
    array = arrays(shape, elements=elements)
    return st.one_of(elements, array) if shape == () else array


def broadcastable_operands(*elements: Strategy[float], min_dims: int = 0, max_dims: int = 3,
                           max_side: int = 3) -> Strategy[tuple]:
    """One operand per element strategy, of mutually broadcastable shapes: e.g.
    `broadcastable_operands(FLOATS, NONZERO)` for a division. A 0-d operand is sometimes a Python float."""
    if not elements:
        raise ValueError("broadcastable_operands: give one element strategy per operand")
    return broadcastable_shapes(len(elements), min_dims, max_dims, max_side).flatmap(
        lambda shapes_: st.tuples(*(_operand(s, e) for s, e in zip(shapes_, elements))))


@st.composite
def distinct_arrays(draw: st.DrawFn, shape: tuple, gap: float = 0.27) -> np.ndarray:
    """A float64 array whose elements differ pairwise by at least `gap` (a shuffled ladder with a little
    noise), so that max, sort or argmax keep their winner under a finite-difference step."""
    size = int(np.prod(shape))
    order = np.array(draw(st.permutations(range(size))), dtype=np.float64)
    step = gap + 0.1
    noise = draw(arrays((size,), 0.0, 0.05))  # neighbours differ by ≥ gap + 0.05, rounding included
    return (order * step + noise - step * size / 2).reshape(shape)


def axes(ndim: int, allow_tuple: bool = True) -> Strategy:
    """An `axis` argument for an array of `ndim` dimensions: None, an int (negative too) or a tuple."""
    options = [st.none()]
    if ndim > 0:
        options.append(st.integers(-ndim, ndim - 1))
    if allow_tuple:
        options.append(hnp.valid_tuple_axes(ndim))
    return st.one_of(*options)


# ---- networks and mini-batches -----------------------------------------------------------------------
def layer_sizes(min_layers: int = 1, max_layers: int = 3, min_width: int = 1,
                max_width: int = 8) -> Strategy[list[int]]:
    """Layer sizes [n_in, …, n_out] of a network with min_layers … max_layers weight layers."""
    return st.lists(st.integers(min_width, max_width), min_size=min_layers + 1, max_size=max_layers + 1)


def _value(draw: st.DrawFn, choice: Any) -> Any:
    return draw(choice) if isinstance(choice, st.SearchStrategy) else choice


@st.composite
def networks(draw: st.DrawFn, sizes: Any = None, *, min_layers: int = 1, max_layers: int = 3, max_width: int = 8,
             activation: Any = "sigmoid", output_activation: Any = None, init: Any = "normal",
             weight_scale: tuple[float, float] | None = None) -> MLP:
    """A float64 `nn.MLP` with a drawn seed. `sizes`, `activation`, `output_activation` and `init` are a value
    or a strategy (by default `layer_sizes(min_layers, max_layers, max_width=max_width)`). With
    `weight_scale=(lo, hi)` every weight and bias is N(0, s²) instead, s drawn from [lo, hi]: small s gives
    near-linear neurons, large s saturated ones."""
    sizes = _value(draw, layer_sizes(min_layers, max_layers, max_width=max_width) if sizes is None else sizes)
    seed = draw(st.integers(0, 2 ** 32 - 1), label="network seed")
    net = MLP(sizes, _value(draw, activation), _value(draw, output_activation), init=_value(draw, init), seed=seed)
    if weight_scale is not None:
        s = draw(st.floats(*weight_scale), label="weight scale")
        rng = np.random.default_rng(seed)
        net.load_state_dict({name: rng.standard_normal(p.shape) * s for name, p in net.named_parameters()})
    return net


TARGETS = ("onehot", "labels", "soft")


@st.composite
def mini_batches(draw: st.DrawFn, net: MLP | Sequence[int], *, min_size: int = 1, max_size: int = 16,
                 x_scale: float | tuple[float, float] = 2.0, targets: str | Sequence[str] = "onehot",
                 single: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A mini-batch (x, y) for `net` (or for layer sizes): m rows of inputs uniform in [-s, s] (s = x_scale,
    or drawn from a (lo, hi) range), and targets of one of the forms `targets` names — "onehot" (m, k),
    "labels" (m,) integers, "soft" (m, k) in [0, 1). With `single=True` a batch of one is sometimes one
    example: a 1-D x of shape (n_in,) and y of shape (k,) or a scalar label."""
    sizes = net.sizes if isinstance(net, MLP) else list(net)
    forms = (targets,) if isinstance(targets, str) else tuple(targets)
    if not forms or set(forms) - set(TARGETS):
        raise ValueError(f"mini_batches: targets must name some of {TARGETS}, got {targets!r}")
    m = draw(st.integers(min_size, max_size), label="m")
    s = draw(st.floats(*x_scale), label="x scale") if isinstance(x_scale, tuple) else x_scale
    form = draw(st.sampled_from(forms), label="targets")
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1), label="batch seed"))
    x = rng.uniform(-s, s, (m, sizes[0]))
    k = sizes[-1]
    labels = rng.integers(0, k, m)
    y = {"onehot": lambda: np.eye(k)[labels], "labels": lambda: labels, "soft": lambda: rng.random((m, k))}[form]()
    if single and m == 1 and draw(st.booleans(), label="one 1-D example"):
        return x[0], y[0]
    return x, y


# ---- checkers ----------------------------------------------------------------------------------------
def finite_differences(f: Callable[[Any], float], x: float | np.ndarray, eps: float = 1e-6,
                       indices: Sequence[tuple] | None = None) -> float | np.ndarray:
    """Central differences (f(x + ε) − f(x − ε)) / 2ε of a scalar function, element by element.

    For a float x, a float; for an array, an array of x's shape, or, given `indices`, one value per index.
    `f` gets fresh perturbed copies; x itself is never changed. Truncation error O(ε²·f‴), round-off
    O(ulp·|f|/ε): about 1e-10 relative for ε = 1e-6 and well-scaled f."""
    if isinstance(x, (int, float)):
        return (f(float(x) + eps) - f(float(x) - eps)) / (2 * eps)
    x = np.asarray(x, dtype=np.float64)
    picks = list(np.ndindex(*x.shape)) if indices is None else [tuple(i) for i in indices]
    values = np.empty(len(picks))
    for k, index in enumerate(picks):
        up, down = x.copy(), x.copy()
        up[index] += eps
        down[index] -= eps
        values[k] = (f(up) - f(down)) / (2 * eps)
    return values.reshape(x.shape) if indices is None else values


def cotangent(shape: tuple, seed: int = 0) -> float | np.ndarray:
    """The random weighting r (standard normal, seeded) that `check_op_gradient` feeds to backward: a float
    for a scalar output, else an array of the output's shape."""
    rng = np.random.default_rng(seed)
    return float(rng.standard_normal()) if shape == () else rng.standard_normal(shape)


def _mismatch(what: str, autodiff: Any, reference: Any, reference_name: str, rtol: float, atol: float,
              extra: str = "") -> str | None:
    """None when |autodiff − reference| ≤ atol + rtol·|reference| everywhere (and autodiff is finite),
    else one line naming the worst element, both values and the tolerance."""
    a = np.asarray(autodiff, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    excess = np.abs(a - r) - (atol + rtol * np.abs(r))
    excess = np.where(np.isfinite(a) & np.isfinite(r), excess, np.inf)
    if excess.size == 0 or np.max(excess) <= 0:
        return None
    worst = np.unravel_index(int(np.argmax(excess)), excess.shape)
    element = tuple(int(i) for i in worst)
    return (f"{what}: autodiff and {reference_name} disagree at element {element}: autodiff {a[worst]:.10g}, "
            f"{reference_name} {r[worst]:.10g}, |difference| {abs(a[worst] - r[worst]):.3g} > "
            f"atol + rtol·|{reference_name}| (atol={atol:g}, rtol={rtol:g}{extra})")


def _float_inputs(caller: str, inputs: tuple) -> tuple:
    """The inputs as Python floats or float64 arrays; anything else is refused, naming the input."""
    for i, x in enumerate(inputs):
        if isinstance(x, bool) or not isinstance(x, (int, float, np.ndarray)):
            raise TypeError(f"{caller}: input {i} must be a float or a float64 array, got {type(x).__name__}")
        if isinstance(x, np.ndarray) and x.dtype != np.float64:
            raise TypeError(f"{caller}: input {i} has dtype {x.dtype}; finite differences need float64")
    return tuple(float(x) if isinstance(x, int) else x for x in inputs)


def _label(caller: str, i: int, x: float | np.ndarray) -> str:
    return f"{caller}: input {i}" + (f" of shape {x.shape}" if isinstance(x, np.ndarray) else "")


def _backward(caller: str, fn: Callable[..., Value], inputs: Sequence[Any], seed: int,
              create_graph: bool = False) -> tuple[Value, list[Value]]:
    """out = fn(*leaves) on fresh leaf Values, then backward(grad=`cotangent(out.shape, seed)`); every leaf
    must have received a gradient."""
    leaves = [Value(x) for x in inputs]
    out = fn(*leaves)
    if not isinstance(out, Value):
        raise TypeError(f"{caller}: fn must return a Value, got {type(out).__name__}")
    out.backward(grad=cotangent(out.shape, seed), create_graph=create_graph)
    for i, (x, leaf) in enumerate(zip(inputs, leaves)):
        if leaf.grad is None:
            raise AssertionError(f"{_label(caller, i, x)} got no gradient from backward (is it used by fn?)")
    return out, leaves


def check_op_gradient(fn: Callable[..., Value], *inputs: float | np.ndarray, eps: float = 1e-6,
                      rtol: float = 1e-5, atol: float = 1e-5, seed: int = 0) -> tuple[Value, list[Value]]:
    """Assert that fn's reverse-mode gradient equals central finite differences, for every input.

    `inputs` are Python floats or float64 arrays; each becomes a leaf `Value` requiring a gradient, and
    `fn(*leaves)` must return a Value. backward(grad=r), with r = `cotangent(out.shape, seed)`, computes the
    vector–Jacobian product ∂(Σ r ⊙ fn)/∂input, which is compared with central differences of Σ r ⊙ fn
    (fn evaluated on constant Values, one element perturbed by ±eps at a time). An element passes when
    |autodiff − numeric| ≤ atol + rtol·|numeric|; the defaults leave ~10⁴× room over the differences' own
    error on inputs of order 1. A float input must get a float gradient, an array input a float64 array of
    its own shape. Returns (output, leaves) for further checks; raises AssertionError naming the input, the
    worst element, both values and the tolerance.
    """
    inputs = _float_inputs("check_op_gradient", inputs)
    out, leaves = _backward("check_op_gradient", fn, inputs, seed)
    r = cotangent(out.shape, seed)

    def weighted_output(i: int) -> Callable[[Any], float]:
        def f(xi: Any) -> float:
            args = [Value(x, requires_grad=False) for x in inputs]
            args[i] = Value(xi, requires_grad=False)
            return float(np.sum(np.asarray(fn(*args).data, dtype=np.float64) * r))
        return f

    for i, (x, leaf) in enumerate(zip(inputs, leaves)):
        label = _label("check_op_gradient", i, x)
        if isinstance(x, float):
            if type(leaf.grad) is not float:
                raise AssertionError(f"{label}: a Python-float input must get a float gradient, "
                                     f"got {type(leaf.grad).__name__}")
        elif not (isinstance(leaf.grad, np.ndarray) and leaf.grad.shape == x.shape and leaf.grad.dtype == np.float64):
            raise AssertionError(f"{label}: its gradient must be a float64 array of shape {x.shape}, got "
                                 f"{type(leaf.grad).__name__} of shape {np.shape(leaf.grad)} "
                                 f"and dtype {getattr(leaf.grad, 'dtype', None)}")
        numeric = finite_differences(weighted_output(i), x, eps)
        problem = _mismatch(label, leaf.grad, numeric, "finite differences", rtol, atol, f", eps={eps:g}")
        if problem:
            raise AssertionError(problem)
    return out, leaves


def check_op_hessian_vector(fn: Callable[..., Value], *inputs: float | np.ndarray, eps: float = 1e-5,
                            rtol: float = 1e-5, atol: float = 1e-6, seed: int = 0) -> tuple[Value, list[Value]]:
    """Assert that fn's second derivatives, by backward(create_graph=True) and a second backward, equal
    central finite differences of its first-order gradients.

    With r = `cotangent(out.shape, seed)` and a seeded random direction vⱼ per input, the gradients
    gⱼ = ∂⟨r, fn⟩/∂xⱼ written by ``backward(grad=r, create_graph=True)`` (each must be a Value) are
    differentiated once more: ∂(Σⱼ ⟨gⱼ, vⱼ⟩)/∂xᵢ = (H v)ᵢ; the gⱼ themselves must equal the plain gradients
    (within the same tolerance). The reference is (g(x + εv) − g(x − εv)) / 2ε
    with g from plain first-order backward passes on fresh leaves. An element passes when
    |autodiff − numeric| ≤ atol + rtol·|numeric| (finite-difference error ≈ 1e-10 for ε = 1e-5 on inputs
    and second derivatives of order 1). Inputs as for `check_op_gradient`. Returns (output, leaves) with
    each leaf's .grad = (H v)ᵢ; raises AssertionError naming the input, the worst element and both values.
    """
    inputs = _float_inputs("check_op_hessian_vector", inputs)
    rng = np.random.default_rng(seed + 1)
    directions = [float(rng.standard_normal()) if isinstance(x, float) else rng.standard_normal(x.shape)
                  for x in inputs]

    def shifted(t: float) -> list[np.ndarray]:
        return [np.asarray(leaf.grad, dtype=np.float64) for leaf in _backward(
            "check_op_hessian_vector", fn, [x + t * v for x, v in zip(inputs, directions)], seed)[1]]

    out, leaves = _backward("check_op_hessian_vector", fn, inputs, seed, create_graph=True)
    first = [leaf.grad for leaf in leaves]
    plain = [i for i, g in enumerate(first) if not isinstance(g, Value)]
    if plain:
        raise AssertionError(f"check_op_hessian_vector: input {plain[0]}: backward(create_graph=True) must write a "
                             f"Value gradient, got {type(first[plain[0]]).__name__}")
    for i, (x, g, reference) in enumerate(zip(inputs, first, shifted(0.0))):  # create_graph's first order too:
        problem = _mismatch(f"{_label('check_op_hessian_vector', i, x)}, gradient by create_graph", g.data,
                            reference, "the plain gradient", rtol, atol)  # (H·v cannot see a wrong linear op)
        if problem:
            raise AssertionError(problem)
    for leaf in leaves:
        leaf.grad = None
    terms = [(g * v).sum() for g, v in zip(first, directions) if g.requires_grad]
    if terms:  # else every gradient is a constant: fn is linear, H = 0
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        total.backward()
        _topological_order(total)  # forget the graph's gradients: create_graph's reference cycles
    if out._a is not None:
        _topological_order(out)
    numeric = [(up - down) / (2 * eps) for up, down in zip(shifted(eps), shifted(-eps))]
    for i, (x, leaf) in enumerate(zip(inputs, leaves)):
        if leaf.grad is None:
            leaf.grad = 0.0 if isinstance(x, float) else np.zeros(x.shape)
        problem = _mismatch(f"{_label('check_op_hessian_vector', i, x)}, (H·v)", leaf.grad, numeric[i],
                            "finite differences of the gradient", rtol, atol, f", eps={eps:g}")
        if problem:
            raise AssertionError(problem)
    return out, leaves


def check_backprop(net: MLP, x: Any, y: Any, cost: str = "quadratic", *, rtol: float = 1e-9, atol: float = 1e-12,
                   fd_samples: int = 5, fd_tolerance: float = 1e-4, seed: int = 0) -> GradientReport:
    """Assert that a sigmoid network's autodiff gradients on (x, y) equal the closed-form BP1–BP4.

    For every layer, δˡ (m·∂C/∂zˡ from the graph), ∂C/∂bˡ and ∂C/∂wˡ must agree elementwise:
    |autodiff − BP1–BP4| ≤ atol + rtol·|BP1–BP4|. Both sides compute the same float64 sums in another
    order, so rtol = 1e-9 leaves ~10⁵× room over their rounding; atol covers entries that cancel to ~0
    (scale it with your gradients). `fd_samples` random weights and biases per layer are also checked by
    central differences, to `fd_tolerance` relative to max(|gradient|, 1e-4) (`compare_gradients`' rule).
    x may be one example (1-D) or a mini-batch; y one-hot, soft targets or integer labels; cost "quadratic"
    or "cross-entropy". Returns the `GradientReport`; raises AssertionError with one line per disagreement.
    """
    report = compare_gradients(net, x, y, cost, tolerance=rtol, fd_samples=fd_samples, fd_tolerance=fd_tolerance,
                               seed=seed)
    problems = []
    for row in report.rows:
        what = f"check_backprop: layer {row.layer} {row.quantity}"
        if row.quantity.startswith("finite diff"):
            if not row.ok:
                problems.append(f"{what}: autodiff {row.autodiff:.10g}, finite differences {row.reference:.10g} at "
                                f"element {row.worst}, relative error {row.max_rel:.3g} > {row.tolerance:g}")
        else:
            problems.append(_mismatch(what, row.autodiff_array, row.reference_array, "BP1–BP4", rtol, atol))
    problems = [p for p in problems if p]
    if problems:
        raise AssertionError(f"network {net.sizes}, {cost} cost, mini-batch of {report.batch}:\n" + "\n".join(problems))
    return report

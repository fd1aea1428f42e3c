"""`gradcheck`: autodiff gradients against central finite differences, like `torch.autograd.gradcheck`."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .engine import Value, enable_grad, no_grad

__all__ = ["GradcheckError", "gradcheck", "gradgradcheck"]


class GradcheckError(AssertionError):
    """Autodiff and finite differences disagree; the message names the input and its worst element."""


def gradcheck(fn: Callable[..., Value], *inputs: Value, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, seed: int = 0) -> bool:
    """Check ∂fn/∂input for every input that requires a gradient, element by element, in float64.

    A non-scalar output is reduced to the scalar Σ r ⊙ fn(...) with a fixed random r, which checks the
    vector–Jacobian product that backward computes. An element passes when
    |autodiff − numeric| ≤ atol + rtol·|numeric|. Returns True, or raises GradcheckError.
    """
    _check_arguments("gradcheck", inputs, eps, atol, rtol)
    out = _checked_output("gradcheck", fn(*inputs))
    weights = None if out.size == 1 else np.random.default_rng(seed).standard_normal(out.shape)

    def scalar_cost() -> float:
        with no_grad():
            y = fn(*inputs)
        return float(np.sum(np.asarray(y.data) * (1.0 if weights is None else weights)))

    for x in inputs:
        x.grad = None
    (out if weights is None else (out * weights).sum()).backward()

    for i, x in enumerate(inputs):
        if not x.requires_grad:
            continue
        analytic = np.zeros(x.shape) if x.grad is None else np.asarray(x.grad, dtype=np.float64)
        _compare("gradcheck", _label(i, x), x.shape, analytic, _central_differences(x, eps, scalar_cost),
                 "autodiff and finite differences disagree", eps, atol, rtol)
    return True


def gradgradcheck(fn: Callable[..., Value], *inputs: Value, eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, seed: int = 0) -> bool:
    """Check second derivatives, like `torch.autograd.gradgradcheck`: the gradients that
    ``backward(create_graph=True)`` writes are differentiated once more and compared, element by element,
    with central finite differences of the (plain, first-order) gradients.

    With fixed random r (shaped like fn's output) and u_j (shaped like input j), the checked quantity is
    ∂/∂xᵢ Σⱼ ⟨u_j, ∂⟨r, fn⟩/∂x_j⟩ = (H u)ᵢ for every element of every input xᵢ that requires a gradient —
    a full row of checks per element, whatever the Hessian's size. The gradients written by create_graph
    must also equal the plain ones. Returns True, or raises GradcheckError.
    """
    _check_arguments("gradgradcheck", inputs, eps, atol, rtol)
    tracked = [x for x in inputs if x.requires_grad]
    rng = np.random.default_rng(seed)
    with enable_grad():
        out = _checked_output("gradgradcheck", fn(*inputs))
    r = None if out.size == 1 else rng.standard_normal(out.shape)
    u = [rng.standard_normal(x.shape) for x in tracked]

    def first_derivatives(create_graph: bool) -> list:
        """∂⟨r, fn⟩/∂x for every tracked input (Values with create_graph, else arrays)."""
        with enable_grad():
            y = fn(*inputs)
            for x in tracked:
                x.grad = None
            if y.requires_grad:
                (y if r is None else (y * r).sum()).backward(create_graph=create_graph)
        grads = [x.grad for x in tracked]
        for x in tracked:
            x.grad = None
        return grads

    def contracted() -> float:
        return sum(float(np.vdot(np.asarray(g), uj))
                   for g, uj in zip(first_derivatives(create_graph=False), u) if g is not None)

    grads = first_derivatives(create_graph=True)
    for x, g, plain in zip(tracked, grads, first_derivatives(create_graph=False)):  # H u cannot see a wrong
        position = next(k for k, y in enumerate(inputs) if y is x)                  # first order of a linear op
        _compare("gradgradcheck", _label(position, x), x.shape, _dense(g, x), _dense(plain, x),
                 "first derivatives by create_graph and by plain backward disagree", eps, atol, rtol)
    total = None
    with enable_grad():
        for g, uj in zip(grads, u):
            if isinstance(g, Value) and g.requires_grad:
                term = (g * uj).sum()
                total = term if total is None else total + term
        if total is not None:
            total.backward()
    analytic = [np.zeros(x.shape) if x.grad is None else np.asarray(x.grad.data if isinstance(x.grad, Value)
                                                                    else x.grad, dtype=np.float64)
                for x in tracked]
    for x in tracked:
        x.grad = None

    for x, hu in zip(tracked, analytic):
        position = next(k for k, y in enumerate(inputs) if y is x)
        _compare("gradgradcheck", _label(position, x), x.shape, hu, _central_differences(x, eps, contracted),
                 "second derivatives (Hessian-vector product) and finite differences of the gradient disagree",
                 eps, atol, rtol)
    return True


# ---- shared by both checks -----------------------------------------------------------------------------
def _dense(g: object, x: Value) -> np.ndarray:
    """A gradient (None, a float, an array or a Value) as a float64 array shaped like x."""
    if g is None:
        return np.zeros(x.shape)
    return np.asarray(g.data if isinstance(g, Value) else g, dtype=np.float64).reshape(x.shape)

def _check_arguments(caller: str, inputs: tuple, eps: float, atol: float, rtol: float) -> None:
    """eps > 0, atol and rtol ≥ 0 (finite numbers); every input a float64 Value."""
    for name, value in (("eps", eps), ("atol", atol), ("rtol", rtol)):
        if not (isinstance(value, (int, float)) and value >= 0 and np.isfinite(value)) or name == "eps" and value == 0:
            raise ValueError(f"{caller}: {name} must be a {'positive' if name == 'eps' else 'non-negative'} "
                             f"number, got {value!r}")
    for i, x in enumerate(inputs):
        if not isinstance(x, Value):
            raise TypeError(f"{caller}: input {i} must be a Value, got {type(x).__name__}")
        if x.dtype != np.float64:
            raise TypeError(f"{caller}: input {i} has dtype {x.dtype}; finite differences need float64")


def _checked_output(caller: str, out: object) -> Value:
    if not isinstance(out, Value):
        raise TypeError(f"{caller}: fn must return a Value, got {type(out).__name__}")
    return out


def _label(i: int, x: Value) -> str:
    return f"input {i}" + (f" ({x.name})" if x.name else "")


def _central_differences(x: Value, eps: float, f: Callable[[], float]) -> np.ndarray:
    """(f(x + eps·e_k) − f(x − eps·e_k)) / 2eps for every element k of x, perturbing x in place (restored)."""
    numeric = np.zeros(x.shape)
    for index in np.ndindex(*x.shape):
        saved = x.data if type(x.data) is float else x.data[index]
        try:
            for sign in (+1, -1):
                _set(x, index, saved + sign * eps)
                numeric[index] += sign * f() / (2 * eps)
        finally:
            _set(x, index, saved)
    return numeric


def _set(x: Value, index: tuple, value: float) -> None:
    if type(x.data) is float:
        x.data = float(value)
    else:
        x.data[index] = value


def _compare(caller: str, label: str, shape: tuple, analytic: np.ndarray, numeric: np.ndarray, disagree: str,
             eps: float, atol: float, rtol: float) -> None:
    """Raise GradcheckError naming the worst element unless |analytic − numeric| ≤ atol + rtol·|numeric|
    everywhere; a NaN or inf on either side fails (it compares false with every tolerance)."""
    finite = np.isfinite(analytic) & np.isfinite(numeric)
    if not np.all(finite):
        bad = tuple(int(k) for k in np.argwhere(~finite)[0])
        raise GradcheckError(
            f"{caller}: {label} of shape {shape}: worst element {bad} is not finite: autodiff {analytic[bad]:.10g}, "
            f"numeric {numeric[bad]:.10g} (eps={eps})")
    error = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
    if error.size and np.max(error) > 0:
        worst = np.unravel_index(int(np.argmax(error)), shape)
        raise GradcheckError(
            f"{caller}: {label} of shape {shape}: {disagree}; worst element {tuple(int(k) for k in worst)}: "
            f"autodiff {analytic[worst]:.10g}, numeric {numeric[worst]:.10g} (atol={atol}, rtol={rtol}, eps={eps})")

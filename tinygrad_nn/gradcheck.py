"""`gradcheck`: autodiff gradients against central finite differences, like `torch.autograd.gradcheck`."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .engine import Value, no_grad

__all__ = ["GradcheckError", "gradcheck"]


class GradcheckError(AssertionError):
    """Autodiff and finite differences disagree; the message names the input and its worst element."""


def gradcheck(fn: Callable[..., Value], *inputs: Value, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, seed: int = 0) -> bool:
    """Check ∂fn/∂input for every input that requires a gradient, element by element, in float64.

    A non-scalar output is reduced to the scalar Σ r ⊙ fn(...) with a fixed random r, which checks the
    vector–Jacobian product that backward computes. An element passes when
    |autodiff − numeric| ≤ atol + rtol·|numeric|. Returns True, or raises GradcheckError.
    """
    for name, value in (("eps", eps), ("atol", atol), ("rtol", rtol)):
        if not (isinstance(value, (int, float)) and value >= 0 and np.isfinite(value)) or name == "eps" and value == 0:
            raise ValueError(f"gradcheck: {name} must be a {'positive' if name == 'eps' else 'non-negative'} "
                             f"number, got {value!r}")
    for i, x in enumerate(inputs):
        if not isinstance(x, Value):
            raise TypeError(f"gradcheck: input {i} must be a Value, got {type(x).__name__}")
        if x.dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} has dtype {x.dtype}; finite differences need float64")
    out = fn(*inputs)
    if not isinstance(out, Value):
        raise TypeError(f"gradcheck: fn must return a Value, got {type(out).__name__}")
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
        numeric = np.zeros(x.shape)
        for index in np.ndindex(*x.shape):
            saved = x.data if type(x.data) is float else x.data[index]
            try:
                for sign in (+1, -1):
                    _set(x, index, saved + sign * eps)
                    numeric[index] += sign * scalar_cost() / (2 * eps)
            finally:
                _set(x, index, saved)
        label = f"input {i}" + (f" ({x.name})" if x.name else "")
        finite = np.isfinite(analytic) & np.isfinite(numeric)
        if not np.all(finite):  # a NaN compares false with every tolerance: never let it pass
            bad = tuple(int(k) for k in np.argwhere(~finite)[0])
            raise GradcheckError(
                f"gradcheck: {label} of shape {x.shape}: worst element {bad} is not finite: autodiff {analytic[bad]:.10g}, "
                f"numeric {numeric[bad]:.10g} (eps={eps})")
        error = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        if error.size and np.max(error) > 0:
            worst = np.unravel_index(int(np.argmax(error)), x.shape)
            raise GradcheckError(
                f"gradcheck: {label} of shape {x.shape}: autodiff and finite differences disagree; worst element "
                f"{tuple(int(k) for k in worst)}: autodiff {analytic[worst]:.10g}, numeric {numeric[worst]:.10g} "
                f"(atol={atol}, rtol={rtol}, eps={eps})")
    return True


def _set(x: Value, index: tuple, value: float) -> None:
    if type(x.data) is float:
        x.data = float(value)
    else:
        x.data[index] = value

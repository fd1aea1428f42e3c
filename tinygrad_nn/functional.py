"""Jacobian and Hessian products with the meanings of `torch.autograd.functional`.

`f` takes one Value and returns a Value; `x` and `v` are numpy arrays or floats (shaped like x for
jvp and hvp, like f(x) for vjp). Results are plain floats and arrays:

* ``vjp(f, x, v)``  → (f(x), vᵀ J)   one reverse pass;
* ``jvp(f, x, v)``  → (f(x), J v)    forward mode: each op's tangent rule, in the order the ops ran —
  no reverse pass at all (the cost of one more forward sweep per direction);
* ``hvp(f, x, v)``  → (f(x), H v)    reverse over reverse: ``backward(create_graph=True)``, then one more
  backward through the gradient's graph (f must return a scalar);
* ``hessian(f, x)`` → H, of shape x.shape + x.shape (one Hessian-vector product per element of x).

As in torch, only x is differentiated: every other `.grad` (a network's parameters that f closes over,
nodes built before the call) is left exactly as it was, so a diagnostic between ``backward()`` and an
optimizer's ``step()`` does not change the step, and repeated calls grow nothing.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .engine import (
    Value,
    _as_data,
    _shape,
    _topological_order,
    enable_grad,
    forward_tangents,
)

__all__ = ["hessian", "hvp", "jvp", "vjp"]


def _saved_grads(*roots: Value) -> list[tuple[Value, Any]]:
    """Every node above `roots` that may receive a gradient, with its .grad now (to be put back by
    `_restore`: f's other leaves must not see the gradients computed for x)."""
    saved: list[tuple[Value, Any]] = []
    seen: set[Value] = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        if node in seen or not node.requires_grad:
            continue
        seen.add(node)
        saved.append((node, node.grad))
        stack.extend(node._prev)
    return saved


def _restore(saved: list[tuple[Value, Any]]) -> None:
    for node, grad in reversed(saved):  # a node saved twice gets its first (oldest) gradient back
        node.grad = grad


def _evaluate(where: str, f: Callable[[Value], Value], x: Any) -> tuple[Value, Value]:
    """A fresh leaf for x, and f's output Value built on it (with a graph, even inside no_grad)."""
    leaf = Value(x, name="x")
    with enable_grad():
        out = f(leaf)
    if not isinstance(out, Value):
        raise TypeError(f"{where}: f must return a Value, got {type(out).__name__}")
    return leaf, out


def _vector(where: str, v: Any, shape: tuple, what: str) -> Any:
    v = _as_data(v.data if isinstance(v, Value) else v)
    if _shape(v) != shape:
        raise ValueError(f"{where}: v has shape {_shape(v)}, expected {shape} (the shape of {what})")
    return v


def _result(leaf: Value) -> Any:
    g = leaf.grad
    if g is None:  # f does not depend on x
        return 0.0 if type(leaf.data) is float else np.zeros_like(leaf.data)
    return g.data if isinstance(g, Value) else g


def _release(out: Value, leaf: Value) -> Any:
    """x's gradient as plain data; then every gradient of the graph is forgotten, which breaks the reference
    cycles that create_graph makes (a node's .grad is a graph that refers back to the node)."""
    result = _result(leaf)
    if out._a is not None:
        _topological_order(out)  # clears the .grad of every node above the leaves
    leaf.grad = None
    return result


def _scalar(where: str, out: Value) -> None:
    if out.size != 1:
        raise ValueError(f"{where}: f must return a scalar (one element), got shape {out.shape}")


def vjp(f: Callable[[Value], Value], x: Any, v: Any = None) -> tuple[Any, Any]:
    """(f(x), vᵀ ∂f/∂x); v may be omitted when f(x) is a scalar."""
    leaf, out = _evaluate("vjp", f, x)
    if v is None:
        _scalar("vjp (without v)", out)
    else:
        v = _vector("vjp", v, out.shape, "f(x)")
    if not out.requires_grad:
        return out.data, _result(leaf)
    saved = _saved_grads(out)
    with enable_grad():
        out.backward(v)
    result = _result(leaf)
    _restore(saved)
    return out.data, result


def jvp(f: Callable[[Value], Value], x: Any, v: Any) -> tuple[Any, Any]:
    """(f(x), ∂f/∂x · v) by forward mode: v is pushed through the graph with each op's tangent rule."""
    leaf, out = _evaluate("jvp", f, x)
    v = _vector("jvp", v, leaf.shape, "x")
    saved = _saved_grads(out)  # the walk clears intermediate gradients, also of nodes f closes over
    tangent = forward_tangents(out, {leaf: v})
    _restore(saved)
    return out.data, tangent


def hvp(f: Callable[[Value], Value], x: Any, v: Any) -> tuple[Any, Any]:
    """(f(x), ∇²f(x) · v) for a scalar f: the gradient as a graph, then one more reverse pass."""
    leaf, out = _evaluate("hvp", f, x)
    _scalar("hvp", out)
    v = _vector("hvp", v, leaf.shape, "x")
    if not out.requires_grad:
        return out.data, _result(leaf)
    saved = _saved_grads(out)
    with enable_grad():
        out.backward(create_graph=True)
        grad = leaf.grad
        leaf.grad = None
        if isinstance(grad, Value) and grad.requires_grad:
            saved += _saved_grads(grad)  # nodes the gradient's graph reaches beyond f's (e.g. a Function's)
            (grad * v).sum().backward()
    result = _release(out, leaf)
    _restore(saved)
    return out.data, result


def hessian(f: Callable[[Value], Value], x: Any) -> np.ndarray:
    """∇²f(x) for a scalar f, of shape x.shape + x.shape (a 0-d array for a scalar x): the gradient's graph
    is built once and differentiated once per element of x."""
    leaf, out = _evaluate("hessian", f, x)
    _scalar("hessian", out)
    shape = leaf.shape
    n = int(np.prod(shape))
    rows = np.zeros((n, n))
    if out.requires_grad:
        saved = _saved_grads(out)
        with enable_grad():
            out.backward(create_graph=True)
            grad = leaf.grad
            if isinstance(grad, Value) and grad.requires_grad:
                saved += _saved_grads(grad)
                flat = grad.reshape(n) if shape else grad
                for i in range(n):
                    leaf.grad = None
                    (flat[i] if shape else flat).backward()
                    rows[i] = np.ravel(_result(leaf))
            _release(out, leaf)
        _restore(saved)
    return rows.reshape(shape + shape)

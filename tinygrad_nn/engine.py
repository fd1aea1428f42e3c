"""The autodiff engine: one graph type, `Value`, for Python scalars and numpy tensors.

Every operation builds a node that records its inputs (``_prev``) and a backward rule written right
below it: ``rule(out, g)`` receives ∂C/∂out and adds ∂C/∂input into each input's ``.grad``.
``backward()`` walks the graph in reverse topological order (iteratively, so a million-deep chain works).

Design choices that keep it fast and exact:

* no reference cycles: a backward rule is a plain function that receives the node, never a closure over
  it, so the garbage collector has nothing to chase and a node is ~130 bytes;
* constants (raw numbers, arrays, ``Value(x, requires_grad=False)``) get no gradient work at all, and a
  node none of whose inputs needs a gradient does not even keep its inputs;
* scalars stay Python floats and use ``math``; tensors use numpy and keep their dtype (float32 stays float32).

Higher orders and forward mode: below each numpy rule sit two more, the same derivative written with
Value ops (``graph``: used by ``backward(create_graph=True)``, so the gradients it writes are graphs that can
be differentiated again) and the op's tangent rule (``tangent``: forward mode, used by `forward_tangents`
and `tinygrad_nn.functional.jvp`). The plain path never looks at them, so first order costs what it did.
"""
from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import numpy as np

__all__ = ["Value", "detect_anomaly", "enable_grad", "forward_tangents", "is_grad_enabled", "linear", "no_grad"]

_anomaly = False


class _GradMode(threading.local):
    """Grad mode belongs to the thread, as in PyTorch: one thread's no_grad() leaves the others' graphs alone."""
    enabled = True


_mode = _GradMode()
_no_grad_blocks = 0  # no_grad() blocks open in any thread; while 0 every thread builds graphs (a fast check)
_blocks_lock = threading.Lock()


@contextmanager
def _grad_mode(enabled: bool) -> Iterator[None]:
    global _no_grad_blocks
    saved, _mode.enabled = _mode.enabled, enabled
    if not enabled:
        with _blocks_lock:
            _no_grad_blocks += 1
    try:
        yield
    finally:
        _mode.enabled = saved
        if not enabled:
            with _blocks_lock:
                _no_grad_blocks -= 1


def no_grad() -> AbstractContextManager[None]:
    """Within this block operations build no graph: outputs are constants (for evaluation and updates)."""
    return _grad_mode(False)


def enable_grad() -> AbstractContextManager[None]:
    """Build graphs again inside a `no_grad()` block (gradgradcheck evaluates gradients this way)."""
    return _grad_mode(True)


def is_grad_enabled() -> bool:
    """True unless inside `no_grad()` (in this thread)."""
    return _mode.enabled


@contextmanager
def detect_anomaly() -> Iterator[None]:
    """Within this block `backward()` raises FloatingPointError at the first NaN/inf gradient, naming the op."""
    global _anomaly
    saved, _anomaly = _anomaly, True
    try:
        yield
    finally:
        _anomaly = saved


def _as_data(data: Any) -> Any:
    """Validate and convert user data: Python numbers become floats, everything else a float ndarray."""
    if isinstance(data, float):
        return float(data)
    if isinstance(data, (int, np.integer)):
        try:
            return float(data)
        except OverflowError:
            raise ValueError(f"Value: the integer {data} is too large for a float") from None
    if isinstance(data, (str, bytes)) or data is None:
        raise TypeError(f"Value: expected a number or an array of real numbers, got {type(data).__name__} {data!r}")
    try:
        arr = np.asarray(data)
    except (ValueError, TypeError) as exc:  # ragged nested lists and the like
        raise TypeError(f"Value: cannot convert {type(data).__name__} to an array: {exc}") from None
    kind = arr.dtype.kind
    if kind == "f":
        return arr
    if kind in "iub":
        return arr.astype(np.float64)
    raise TypeError(f"Value: expected real numbers, got an array of dtype {arr.dtype} (kind {kind!r})")


def _shape(data: Any) -> tuple:
    return () if type(data) is float else data.shape


def _sum_to(g: Any, data: Any) -> Any:
    """Sum a gradient back to the shape of `data`: the derivative of a broadcast is a sum."""
    if type(g) is Value:
        return _sum_value_to(g, data)
    if type(data) is float:
        return float(np.sum(g))
    g = np.asarray(g)
    shape = data.shape
    if g.shape != shape:
        lead = g.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape) if n == 1 and g.shape[i + lead] != 1)
        g = g.sum(axis=axes, keepdims=True).reshape(shape) if axes else g.reshape(shape)
    return g.astype(data.dtype, copy=False)


def _accumulate(v: Value, g: Any) -> None:
    """Add g into v.grad, first summing away any dimensions that broadcasting added."""
    d = v.data
    if type(d) is float:
        if type(g) is not float:
            g = _sum_value_to(g, d) if type(g) is Value else float(np.sum(g))
    elif type(g) is not np.ndarray or g.shape != d.shape or g.dtype != d.dtype:
        g = _sum_to(g, d)
    total = g if v.grad is None else v.grad + g
    v.grad = np.asarray(total) if isinstance(total, np.generic) else total  # 0-d + 0-d arrays give a numpy scalar


def _sum_value_to(g: Value, data: Any) -> Value:
    """`_sum_to` in Value ops (create_graph): the sum over broadcast dimensions stays differentiable."""
    if type(data) is float:
        return g if type(g.data) is float else g.sum()
    shape, gshape = data.shape, g.shape
    if gshape == shape:
        return g
    lead = len(gshape) - len(shape)
    axes = tuple(range(max(lead, 0))) + tuple(i + lead for i, n in enumerate(shape)
                                              if lead >= 0 and n == 1 and gshape[i + lead] != 1)
    return (g.sum(axis=axes, keepdims=True) if axes else g).reshape(shape)


def _node(data: Any, rule: Callable, a: Value, b: Value | None = None, c: Value | None = None,
          ctx: Any = None) -> Value:
    """Make the output node of an op; it keeps its inputs only if one of them needs a gradient."""
    out = _new(Value)
    if type(data) is not float and type(data) is not np.ndarray:
        data = _normalize(data)
    out.data, out.grad, out.name = data, None, None
    if (not _no_grad_blocks or _mode.enabled) and (a.requires_grad or (b is not None and b.requires_grad)
                          or (c is not None and c.requires_grad)):
        out.requires_grad, out._rule, out._a, out._b, out._c, out._ctx = True, rule, a, b, c, ctx
    else:
        out.requires_grad, out._rule, out._a, out._b, out._c, out._ctx = False, None, None, None, None, None
    return out


def _normalize(data: Any) -> Any:
    """numpy returns scalars from reductions: float64 ones become Python floats, others 0-d arrays."""
    if isinstance(data, np.float64):
        return float(data)
    return np.asarray(data)


def _lift(x: Any) -> Value:
    """Wrap a raw number or array that enters an op as a constant (no gradient is ever computed for it)."""
    if isinstance(x, Value):
        return x
    if type(x) is float or type(x) is int:  # the common case in scalar graphs: skip __init__'s checks
        c = _new(Value)
        c.data, c.grad, c.name, c.requires_grad = float(x), None, None, False
        c._rule = c._a = c._b = c._c = c._ctx = None
        return c
    if type(x) is np.ndarray and x.dtype.kind == "f":  # a float array needs no conversion: no __init__ either
        c = _new(Value)
        c.data, c.grad, c.name, c.requires_grad = x, None, None, False
        c._rule = c._a = c._b = c._c = c._ctx = None
        return c
    return Value(x, requires_grad=False)


def _divide(x: Any, y: Any) -> Any:
    """x / y with IEEE semantics for Python floats too (±inf, or nan for 0/0), as numpy does for arrays."""
    try:
        return x / y
    except ZeroDivisionError:
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.float64(x) / y)


def _broadcast_error(op: str, symbol: str, a: Any, b: Any) -> ValueError:
    return ValueError(f"{op}: shapes {_shape(a)} {symbol} {_shape(b)} cannot be broadcast together")


def _backward(symbol: str) -> Callable:
    """Mark an op's backward rule ``rule(out, g)``, which adds ∂C/∂input to each input that requires a
    gradient; `symbol` names the op in drawings. Rules are static: a node never holds a closure over itself."""
    def mark(rule: Callable) -> staticmethod:
        rule.symbol = symbol
        return staticmethod(rule)
    return mark


def _twin(kind: str) -> Callable:
    """A decorator maker that attaches to an op's backward `rule` one of its twins, as ``rule.<kind>``."""
    def attach(rule: Any) -> Callable:
        def mark(fn: Callable) -> Any:
            fn = fn.__func__ if isinstance(fn, staticmethod) else fn
            setattr(rule.__func__ if isinstance(rule, staticmethod) else rule, kind, fn)
            return staticmethod(fn) if isinstance(rule, staticmethod) else fn
        return mark
    return attach


_graph = _twin("graph")      # the create_graph twin: the same derivative computed with Value ops
_tangent = _twin("tangent")  # the forward-mode rule ``tangent(out, ta, tb, tc) → ∂out`` (numpy; None = a zero tangent)


def _plus(x: Any, y: Any) -> Any:
    """x + y where None stands for a zero tangent."""
    return y if x is None else x if y is None else x + y


class Value:
    """A node of the computation graph: `data` (a float or ndarray), `grad` (∂C/∂self after backward).

    ``Value(data, requires_grad=True, name=None)`` makes a leaf. Python numbers stay Python floats;
    arrays keep a floating dtype (integers become float64). A leaf that requires a gradient owns a copy
    of its data, so optimizers may update it in place.
    """

    __slots__ = ("_a", "_b", "_c", "_ctx", "_rule", "data", "grad", "name", "requires_grad")
    __array_ufunc__ = None  # make `ndarray * Value` call Value.__rmul__ instead of building an object array

    def __init__(self, data: Any, requires_grad: bool = True, name: str | None = None) -> None:
        data = _as_data(data.data if isinstance(data, Value) else data)
        if requires_grad and type(data) is not float:
            data = data.copy()
        self.data, self.grad, self.name = data, None, name
        self.requires_grad = bool(requires_grad)
        self._rule = self._a = self._b = self._c = self._ctx = None

    # ---- introspection -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        """The data's shape; () for a scalar."""
        return _shape(self.data)

    @property
    def ndim(self) -> int:
        """Number of dimensions (0 for a scalar)."""
        return len(self.shape)

    @property
    def size(self) -> int:
        """Number of elements."""
        return 1 if type(self.data) is float else self.data.size

    @property
    def dtype(self) -> np.dtype:
        """float64 for a scalar, else the array's dtype."""
        return np.dtype(np.float64) if type(self.data) is float else self.data.dtype

    @property
    def op(self) -> str:
        """The symbol of the op that made this node ('' for a leaf or a constant)."""
        return getattr(self._rule, "symbol", "")

    @property
    def is_leaf(self) -> bool:
        """True for a Value made by the user (a parameter, input or constant), not by an op."""
        return self._a is None

    @property
    def _prev(self) -> tuple[Value, ...]:
        return tuple(p for p in (self._a, self._b, self._c) if p is not None)

    def __repr__(self) -> str:
        name = f", name={self.name!r}" if self.name else ""
        if type(self.data) is float:
            g = self.grad.data if type(self.grad) is Value else self.grad
            grad = "" if g is None else f", grad={g:.6g}"
            return f"Value({self.data:.6g}{grad}{name})"
        grad = "" if self.grad is None else ", grad=…"
        return f"Value(shape={self.data.shape}, dtype={self.data.dtype}{grad}{name})"

    def item(self) -> float:
        """The value of a one-element node as a Python float."""
        if self.size != 1:
            raise ValueError(f"item: only a one-element Value converts to a float, this one has shape {self.shape}")
        return float(self.data) if type(self.data) is float else float(self.data.reshape(()))

    def numpy(self) -> np.ndarray:
        """The data as an ndarray (a 0-d one for a scalar)."""
        return np.asarray(self.data)

    def detach(self) -> Value:
        """The same data as a constant, cut from the graph."""
        out = Value.__new__(Value)
        out.data, out.grad, out.name, out.requires_grad = self.data, None, self.name, False
        out._rule = out._a = out._b = out._c = out._ctx = None
        return out

    def zero_grad(self) -> None:
        """Forget this node's gradient."""
        self.grad = None

    # ---- arithmetic: each op, then its derivative -----------------------------------------------
    def __add__(self, other: Any) -> Value:
        other = other if type(other) is Value else _lift(other)
        try:
            data = self.data + other.data
        except ValueError:
            raise _broadcast_error("add", "+", self.data, other.data) from None
        return _node(data, self._add_rule, self, other)

    @_backward("+")
    def _add_rule(out: Value, g: Any) -> None:  # ∂(a + b)/∂a = ∂(a + b)/∂b = 1
        a, b = out._a, out._b
        if a.requires_grad: _accumulate(a, g)
        if b.requires_grad: _accumulate(b, g)

    _add_graph = _graph(_add_rule)(_add_rule)  # already written in ops that Values have

    @_tangent(_add_rule)
    def _add_tangent(out: Value, ta: Any, tb: Any) -> Any:
        return _plus(ta, tb)

    def __mul__(self, other: Any) -> Value:
        other = other if type(other) is Value else _lift(other)
        try:
            data = self.data * other.data
        except ValueError:
            raise _broadcast_error("mul", "*", self.data, other.data) from None
        return _node(data, self._mul_rule, self, other)

    @_backward("×")
    def _mul_rule(out: Value, g: Any) -> None:  # ∂(ab)/∂a = b, ∂(ab)/∂b = a
        a, b = out._a, out._b
        if a.requires_grad: _accumulate(a, g * b.data)
        if b.requires_grad: _accumulate(b, g * a.data)

    @_graph(_mul_rule)
    def _mul_graph(out: Value, g: Value) -> None:
        a, b = out._a, out._b
        if a.requires_grad: _accumulate(a, g * b)
        if b.requires_grad: _accumulate(b, g * a)

    @_tangent(_mul_rule)
    def _mul_tangent(out: Value, ta: Any, tb: Any) -> Any:
        return _plus(None if ta is None else ta * out._b.data, None if tb is None else out._a.data * tb)

    def __sub__(self, other: Any) -> Value:
        other = other if type(other) is Value else _lift(other)
        try:
            data = self.data - other.data
        except ValueError:
            raise _broadcast_error("sub", "-", self.data, other.data) from None
        return _node(data, self._sub_rule, self, other)

    @_backward("−")
    def _sub_rule(out: Value, g: Any) -> None:  # ∂(a − b)/∂a = 1, ∂(a − b)/∂b = −1
        a, b = out._a, out._b
        if a.requires_grad: _accumulate(a, g)
        if b.requires_grad: _accumulate(b, -g)

    _sub_graph = _graph(_sub_rule)(_sub_rule)

    @_tangent(_sub_rule)
    def _sub_tangent(out: Value, ta: Any, tb: Any) -> Any:
        return _plus(ta, None if tb is None else -tb)

    def __truediv__(self, other: Any) -> Value:
        other = other if type(other) is Value else _lift(other)
        try:
            data = _divide(self.data, other.data)
        except ValueError:
            raise _broadcast_error("div", "/", self.data, other.data) from None
        return _node(data, self._div_rule, self, other)

    @_backward("÷")
    def _div_rule(out: Value, g: Any) -> None:  # d(a/b) = da/b − (a/b) db/b
        a, b = out._a, out._b
        g_over_b = _divide(g, b.data)
        if a.requires_grad: _accumulate(a, g_over_b)
        if b.requires_grad: _accumulate(b, -g_over_b * out.data)

    @_graph(_div_rule)
    def _div_graph(out: Value, g: Value) -> None:
        a, b = out._a, out._b
        g_over_b = g / b
        if a.requires_grad: _accumulate(a, g_over_b)
        if b.requires_grad: _accumulate(b, -g_over_b * out)

    @_tangent(_div_rule)
    def _div_tangent(out: Value, ta: Any, tb: Any) -> Any:
        return _divide(_plus(ta, None if tb is None else -out.data * tb), out._b.data)

    def __neg__(self) -> Value:
        return _node(-self.data, self._neg_rule, self)

    @_backward("neg")
    def _neg_rule(out: Value, g: Any) -> None:  # ∂(−a)/∂a = −1
        _accumulate(out._a, -g)

    _neg_graph = _graph(_neg_rule)(_neg_rule)

    @_tangent(_neg_rule)
    def _neg_tangent(out: Value, ta: Any) -> Any:
        return -ta

    def __pow__(self, other: Any) -> Value:
        other = other if type(other) is Value else _lift(other)
        try:
            data = _pow(self.data, other.data)
        except ValueError:
            raise _broadcast_error("pow", "**", self.data, other.data) from None
        return _node(data, self._pow_rule, self, other)

    @_backward("**")
    def _pow_rule(out: Value, g: Any) -> None:  # d(a^p) = p a^(p−1) da + a^p ln(a) dp (0 for 0·∞ at a = 0)
        a, p = out._a, out._b
        x0, zp = _pow_at_zero(out)
        if a.requires_grad: _accumulate(a, g * p.data * _pow(a.data, p.data - 1.0 + x0))
        if p.requires_grad: _accumulate(p, g * out.data * _ln_base(a.data + zp))

    @_graph(_pow_rule)
    def _pow_graph(out: Value, g: Value) -> None:
        a, p = out._a, out._b
        x0, zp = _pow_at_zero(out)
        if a.requires_grad: _accumulate(a, g * p * a ** (p - 1.0 + x0))
        if p.requires_grad: _accumulate(p, g * out * ((a + zp) * _positive_mask(a.data + zp)).log())

    @_tangent(_pow_rule)
    def _pow_tangent(out: Value, ta: Any, tp: Any) -> Any:
        a, p = out._a.data, out._b.data
        x0, zp = _pow_at_zero(out)
        return _plus(None if ta is None else ta * p * _pow(a, p - 1.0 + x0),
                     None if tp is None else tp * out.data * _ln_base(a + zp))

    def __radd__(self, other: Any) -> Value: return _lift(other) + self
    def __rsub__(self, other: Any) -> Value: return _lift(other) - self
    def __rmul__(self, other: Any) -> Value: return _lift(other) * self
    def __rtruediv__(self, other: Any) -> Value: return _lift(other) / self
    def __rpow__(self, other: Any) -> Value: return _lift(other) ** self
    def __rmatmul__(self, other: Any) -> Value: return _lift(other) @ self

    def __matmul__(self, other: Any) -> Value:
        other = _lift(other)
        a, b = self.data, other.data
        if type(a) is float or type(b) is float or a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: operands must have at least one dimension, got {_shape(a)} @ {_shape(b)}")
        try:
            data = a @ b
        except ValueError:
            raise ValueError(f"matmul: shapes {a.shape} @ {b.shape} do not align") from None
        return _node(data, self._matmul_rule, self, other)

    @_backward("@")
    def _matmul_rule(out: Value, g: Any) -> None:  # ∂(AB): G Bᵀ for A, Aᵀ G for B
        a, b = out._a, out._b
        A, B, G = a.data, b.data, np.asarray(g)
        if A.ndim == 2 and B.ndim == 2:  # the common case, in two lines
            if a.requires_grad: _accumulate(a, G @ B.T)
            if b.requires_grad: _accumulate(b, A.T @ G)
            return
        # general case: treat a vector as a one-row (left) or one-column (right) matrix, then undo that
        A2 = A[None, :] if A.ndim == 1 else A
        B2 = B[:, None] if B.ndim == 1 else B
        if B.ndim == 1: G = G[..., None]
        if A.ndim == 1: G = G[..., None, :]
        if a.requires_grad: _accumulate(a, _sum_to(G @ np.swapaxes(B2, -1, -2), A2).reshape(A.shape))
        if b.requires_grad: _accumulate(b, _sum_to(np.swapaxes(A2, -1, -2) @ G, B2).reshape(B.shape))

    @_graph(_matmul_rule)
    def _matmul_graph(out: Value, g: Value) -> None:
        a, b = out._a, out._b
        if a.ndim > 2 or b.ndim > 2:
            raise NotImplementedError(f"backward(create_graph=True): op '@' supports vectors and matrices, not "
                                      f"the batched shapes {a.shape} @ {b.shape}")
        A = a if a.ndim == 2 else a.reshape(1, -1)  # a vector as a one-row matrix on the left ...
        B = b if b.ndim == 2 else b.reshape(-1, 1)  # ... and as a one-column matrix on the right
        G = g.reshape(A.shape[0], B.shape[1])
        if a.requires_grad: _accumulate(a, (G @ B.T).reshape(a.shape))
        if b.requires_grad: _accumulate(b, (A.T @ G).reshape(b.shape))

    @_tangent(_matmul_rule)
    def _matmul_tangent(out: Value, ta: Any, tb: Any) -> Any:
        return _plus(None if ta is None else ta @ out._b.data, None if tb is None else out._a.data @ tb)

    # ---- elementwise functions ------------------------------------------------------------------
    def exp(self) -> Value:
        """eˣ; overflows to inf without a warning."""
        x = self.data
        if type(x) is float:
            try:
                y = math.exp(x)
            except OverflowError:
                y = math.inf
        else:
            with np.errstate(over="ignore"):
                y = np.exp(x)
        return _node(y, self._exp_rule, self)

    @_backward("exp")
    def _exp_rule(out: Value, g: Any) -> None:  # (eˣ)′ = eˣ
        _accumulate(out._a, g * out.data)

    @_graph(_exp_rule)
    def _exp_graph(out: Value, g: Value) -> None:
        _accumulate(out._a, g * out)

    @_tangent(_exp_rule)
    def _exp_tangent(out: Value, ta: Any) -> Any:
        return ta * out.data

    def log(self) -> Value:
        """The natural logarithm (−inf at 0, NaN below)."""
        x = self.data
        if type(x) is float:
            y = math.log(x) if x > 0 else (-math.inf if x == 0 else math.nan)
        else:
            y = np.log(x)
        return _node(y, self._log_rule, self)

    @_backward("log")
    def _log_rule(out: Value, g: Any) -> None:  # (ln x)′ = 1/x
        _accumulate(out._a, _divide(g, out._a.data))

    @_graph(_log_rule)
    def _log_graph(out: Value, g: Value) -> None:
        _accumulate(out._a, g / out._a)

    @_tangent(_log_rule)
    def _log_tangent(out: Value, ta: Any) -> Any:
        return _divide(ta, out._a.data)

    def tanh(self) -> Value:
        """tanh(x), stable for any finite x."""
        x = self.data
        return _node(math.tanh(x) if type(x) is float else np.tanh(x), self._tanh_rule, self)

    @_backward("tanh")
    def _tanh_rule(out: Value, g: Any) -> None:  # tanh′ = 1 − tanh²
        t = out.data
        _accumulate(out._a, g * (1.0 - t * t))

    @_graph(_tanh_rule)
    def _tanh_graph(out: Value, g: Value) -> None:
        _accumulate(out._a, g * (1.0 - out * out))

    @_tangent(_tanh_rule)
    def _tanh_tangent(out: Value, ta: Any) -> Any:
        t = out.data
        return ta * (1.0 - t * t)

    def sigmoid(self) -> Value:
        """The logistic σ(z) = 1/(1 + e^(−z)), stable for any finite z (e^(−z) may overflow to inf: σ → 0)."""
        return _node(_sigmoid(self.data), self._sigmoid_rule, self)

    @_backward("σ")
    def _sigmoid_rule(out: Value, g: Any) -> None:  # σ′(z) = σ(z)(1 − σ(z)): finite, even where σ saturates
        s = out.data
        if type(s) is float:
            _accumulate(out._a, g * s * (1.0 - s))
            return
        d = np.subtract(1.0, s)  # (g ⊙ s) ⊙ (1 − s), rounded as written, with two new arrays instead of three
        d *= g * s
        _accumulate(out._a, d)

    @_graph(_sigmoid_rule)
    def _sigmoid_graph(out: Value, g: Value) -> None:
        _accumulate(out._a, g * out * (1.0 - out))

    @_tangent(_sigmoid_rule)
    def _sigmoid_tangent(out: Value, ta: Any) -> Any:
        s = out.data
        return ta * s * (1.0 - s)

    def relu(self) -> Value:
        """max(x, 0), NaN for NaN (as numpy and PyTorch); its derivative at 0 is taken as 0."""
        x = self.data
        return _node((x if x > 0 or x != x else 0.0) if type(x) is float else np.maximum(x, 0), self._relu_rule, self)

    @_backward("relu")
    def _relu_rule(out: Value, g: Any) -> None:  # 1 where x > 0, else 0
        x = out._a.data
        _accumulate(out._a, (g if x > 0 else 0.0) if type(x) is float else g * (x > 0))

    @_graph(_relu_rule)
    def _relu_graph(out: Value, g: Value) -> None:  # g ⊙ a constant mask: relu″ = 0
        x = out._a.data
        _accumulate(out._a, g * (float(x > 0) if type(x) is float else (x > 0).astype(x.dtype)))

    @_tangent(_relu_rule)
    def _relu_tangent(out: Value, ta: Any) -> Any:
        x = out._a.data
        return (ta if x > 0 else 0.0) if type(x) is float else ta * (x > 0)

    def step(self) -> Value:
        """The perceptron's threshold: 1 where z > 0, else 0. It has no useful derivative (see backward)."""
        x = self.data
        return _node((1.0 if x > 0 else 0.0) if type(x) is float else (x > 0).astype(x.dtype), self._step_rule, self)

    @_backward("step")
    def _step_rule(out: Value, g: Any) -> None:
        raise RuntimeError("backward: the perceptron's step function has derivative 0 almost everywhere, so no "
                           "gradient flows through it; use sigmoid (Nielsen ch. 1) to learn by gradient descent")

    _step_graph = _graph(_step_rule)(_step_rule)
    _step_tangent = _tangent(_step_rule)(_step_rule)

    # ---- reductions and shape ops ---------------------------------------------------------------
    def sum(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Value:
        """Sum over `axis` (all elements by default), like numpy."""
        x = self.data
        if type(x) is float:
            _check_axis("sum", axis, 0)
            return _node(x, self._sum_rule, self, ctx=(None, True))
        axis = _check_axis("sum", axis, x.ndim)
        return _node(x.sum(axis=axis, keepdims=keepdims), self._sum_rule, self, ctx=(axis, keepdims))

    @_backward("Σ")
    def _sum_rule(out: Value, g: Any) -> None:  # every summed element gets g
        x = out._a.data
        axis, keepdims = out._ctx
        _accumulate(out._a, g if type(x) is float else _expand(g, x, axis, keepdims))

    @_graph(_sum_rule)
    def _sum_graph(out: Value, g: Value) -> None:
        x = out._a.data
        axis, keepdims = out._ctx
        if type(x) is not float:
            g = (g if keepdims or axis is None else g.reshape(_kept_shape(x, axis))) + np.zeros_like(x)
        _accumulate(out._a, g)

    @_tangent(_sum_rule)
    def _sum_tangent(out: Value, ta: Any) -> Any:
        axis, keepdims = out._ctx
        return ta if type(out._a.data) is float else _normalize(np.sum(ta, axis=axis, keepdims=keepdims))

    def mean(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Value:
        """Mean over `axis` (all elements by default), like numpy."""
        axis = _check_axis("mean", axis, self.ndim)
        count = self.size if axis is None else int(np.prod([self.shape[i] for i in np.atleast_1d(axis)]))
        if count == 0:
            raise ValueError(f"mean: cannot average over an empty axis of shape {self.shape}")
        return self.sum(axis, keepdims) * (1.0 / count)

    def max(self, axis: int | None = None, keepdims: bool = False) -> Value:
        """Largest element(s); the gradient is shared equally among ties."""
        x = self.data
        if type(x) is float:
            _check_axis("max", axis, 0)
            return _node(x, self._sum_rule, self, ctx=(None, True))
        if x.size == 0:
            raise ValueError(f"max: empty Value of shape {x.shape}")
        axis = _check_axis("max", axis, x.ndim)
        return _node(x.max(axis=axis, keepdims=keepdims), self._max_rule, self, ctx=(axis, keepdims))

    @_backward("max")
    def _max_rule(out: Value, g: Any) -> None:  # g goes to the largest elements, shared among ties
        axis, keepdims = out._ctx
        _accumulate(out._a, _max_share(out) * (g if keepdims or axis is None else np.expand_dims(g, axis)))

    @_graph(_max_rule)
    def _max_graph(out: Value, g: Value) -> None:  # g routed by a constant share: max is piecewise linear
        axis, keepdims = out._ctx
        g = g if keepdims or axis is None else g.reshape(_kept_shape(out._a.data, axis))
        _accumulate(out._a, g * _max_share(out))

    @_tangent(_max_rule)
    def _max_tangent(out: Value, ta: Any) -> Any:
        axis, keepdims = out._ctx
        return _normalize(np.sum(ta * _max_share(out), axis=axis, keepdims=keepdims))

    def reshape(self, *shape: int | Sequence[int]) -> Value:
        """The same elements in a new shape: `v.reshape(2, 3)` or `v.reshape((2, 3))`."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        if not all(_is_int(n) for n in shape):
            raise TypeError(f"reshape: the new shape must be ints, got {shape!r}")
        x = np.asarray(self.data)
        try:
            y = x.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape {x.shape} (size {x.size}) to {tuple(shape)}") from None
        return _node(y, self._reshape_rule, self)

    @_backward("reshape")
    def _reshape_rule(out: Value, g: Any) -> None:  # the same elements, back in the old shape
        x = out._a.data
        _accumulate(out._a, float(np.sum(g)) if type(x) is float else np.reshape(g, x.shape))

    @_graph(_reshape_rule)
    def _reshape_graph(out: Value, g: Value) -> None:
        _accumulate(out._a, g.reshape(out._a.shape))

    @_tangent(_reshape_rule)
    def _reshape_tangent(out: Value, ta: Any) -> Any:
        return np.reshape(ta, out.data.shape)

    def transpose(self) -> Value:
        """Reverse the axes (a matrix's transpose)."""
        x = self.data
        return _node(x if type(x) is float else x.T, self._transpose_rule, self)

    @_backward("ᵀ")
    def _transpose_rule(out: Value, g: Any) -> None:  # transpose g back
        _accumulate(out._a, g if type(out._a.data) is float else np.transpose(g))

    @_graph(_transpose_rule)
    def _transpose_graph(out: Value, g: Value) -> None:
        _accumulate(out._a, g.transpose())

    @_tangent(_transpose_rule)
    def _transpose_tangent(out: Value, ta: Any) -> Any:
        return ta if type(out.data) is float else np.transpose(ta)

    @property
    def T(self) -> Value:
        """The transpose (see `transpose`)."""
        return self.transpose()

    def __getitem__(self, index: Any) -> Value:
        """numpy indexing; the gradient is scattered back, repeated indices adding up."""
        x = self.data
        if type(x) is float:
            raise TypeError("indexing: a scalar Value cannot be indexed")
        try:
            y = x[index]
        except IndexError as exc:
            raise IndexError(f"indexing: {exc} (Value of shape {x.shape})") from None
        return _node(y if type(y) is np.ndarray else np.asarray(y), self._getitem_rule, self, ctx=index)

    @_backward("[]")
    def _getitem_rule(out: Value, g: Any) -> None:  # scatter g back; repeated indices add up
        _accumulate(out._a, _scatter_array(g, out._ctx, out._a.data))

    @_graph(_getitem_rule)
    def _getitem_graph(out: Value, g: Value) -> None:
        _accumulate(out._a, _scatter(g, out._ctx, out._a.data))

    @_tangent(_getitem_rule)
    def _getitem_tangent(out: Value, ta: Any) -> Any:
        return np.asarray(ta[out._ctx])

    def log_softmax(self, axis: int = -1) -> Value:
        """log softmax along `axis`, computed as z − max − log Σ e^(z − max): no overflow for any finite z."""
        x = np.asarray(self.data)
        axis = _check_axis("log_softmax", axis, x.ndim)
        if x.shape[axis] == 0:
            raise ValueError(f"log_softmax: axis {axis} of shape {x.shape} is empty")
        shifted = x - x.max(axis=axis, keepdims=True)
        return _node(shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True)), self._log_softmax_rule, self,
                     ctx=axis)

    @_backward("log_softmax")
    def _log_softmax_rule(out: Value, g: Any) -> None:  # ∂/∂z: g − softmax(z) Σ g
        axis = out._ctx
        _accumulate(out._a, g - np.exp(out.data) * np.sum(g, axis=axis, keepdims=True))

    @_graph(_log_softmax_rule)
    def _log_softmax_graph(out: Value, g: Value) -> None:
        _accumulate(out._a, g - out.exp() * g.sum(axis=out._ctx, keepdims=True))

    @_tangent(_log_softmax_rule)
    def _log_softmax_tangent(out: Value, ta: Any) -> Any:  # t − Σ softmax(z) t
        return ta - np.sum(np.exp(out.data) * ta, axis=out._ctx, keepdims=True)

    def softmax(self, axis: int = -1) -> Value:
        """softmax along `axis`, stable for any finite input."""
        x = np.asarray(self.data)
        axis = _check_axis("softmax", axis, x.ndim)
        if x.shape[axis] == 0:
            raise ValueError(f"softmax: axis {axis} of shape {x.shape} is empty")
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return _node(e / e.sum(axis=axis, keepdims=True), self._softmax_rule, self, ctx=axis)

    @_backward("softmax")
    def _softmax_rule(out: Value, g: Any) -> None:  # ∂/∂z: s ⊙ (g − Σ g s)
        s, axis = out.data, out._ctx
        _accumulate(out._a, s * (g - np.sum(g * s, axis=axis, keepdims=True)))

    @_graph(_softmax_rule)
    def _softmax_graph(out: Value, g: Value) -> None:
        _accumulate(out._a, out * (g - (g * out).sum(axis=out._ctx, keepdims=True)))

    @_tangent(_softmax_rule)
    def _softmax_tangent(out: Value, ta: Any) -> Any:  # s ⊙ (t − Σ s t)
        s = out.data
        return s * (ta - np.sum(s * ta, axis=out._ctx, keepdims=True))

    # ---- reverse mode ---------------------------------------------------------------------------
    def backward(self, grad: Any = None, create_graph: bool = False) -> None:
        """Compute ∂self/∂v into `v.grad` for every node v of the graph that requires a gradient.

        With ``create_graph=True`` (as in PyTorch) every gradient written is itself a `Value`, computed by
        each op's ``graph`` rule in Value ops, so it can be differentiated again (Hessian-vector products,
        gradient penalties), to any order. The default writes plain floats and arrays. As in PyTorch, such a
        gradient refers back to its node (a reference cycle): set ``.grad = None`` when done with it.

        Every node keeps its gradient (read `z.grad` as δ = ∂C/∂z). Intermediate gradients are recomputed
        on each call; leaf gradients accumulate across calls until zeroed, as in PyTorch. To save copies,
        nodes may share one gradient array (`c = a + b` passes ∂C/∂c on to both): treat `.grad` as
        read-only, and forget it with `zero_grad()` rather than writing zeros into it.
        """
        if not self.requires_grad:
            raise RuntimeError("backward: this Value does not require a gradient (a constant, made under no_grad(), "
                               "or a gradient from create_graph that does not depend on any input: its "
                               "derivative is 0)")
        if create_graph:
            _backward_create_graph(self, grad)
            return
        grad = _seed(self, grad)
        order = _topological_order(self) if self._a is not None else []
        _accumulate(self, grad)
        for node in reversed(order):
            if node.grad is not None:
                node._rule(node, node.grad)
                if _anomaly:
                    _check_finite(node)


def _seed(root: Value, grad: Any) -> Any:
    """∂root/∂root for backward: ones when `grad` is None (a one-element root), else `grad` checked against
    root's shape, as data in root's dtype."""
    if isinstance(grad, Value):
        grad = grad.data
    if grad is None:
        if root.size != 1:
            raise ValueError(f"backward: grad can be implicitly created only for a one-element output, "
                             f"this one has shape {root.shape}; pass grad=")
        return 1.0 if type(root.data) is float else np.ones_like(root.data)
    grad = _as_data(grad)
    if _shape(grad) != root.shape:
        raise ValueError(f"backward: grad has shape {_shape(grad)}, the output has shape {root.shape}")
    return grad if type(root.data) is float else np.asarray(grad, dtype=root.data.dtype)


def _backward_create_graph(root: Value, grad: Any) -> None:
    """backward(create_graph=True): the same walk, running each op's ``graph`` rule on Value gradients."""
    if not _mode.enabled:
        raise RuntimeError("backward(create_graph=True) inside no_grad(): the gradients' graph could not be "
                           "recorded; leave the no_grad() block (or use enable_grad())")
    grad = grad if isinstance(grad, Value) and grad.shape == root.shape else Value(_seed(root, grad),
                                                                                       requires_grad=False)
    order = _topological_order(root) if root._a is not None else []
    _accumulate(root, grad)
    for node in reversed(order):
        if node.grad is not None:
            rule = getattr(node._rule, "graph", None)
            if rule is None:
                raise RuntimeError(f"backward(create_graph=True): op {node.op!r} (node {node!r}) has no "
                                   f"differentiable backward rule")
            if type(node.grad) is not Value:  # e.g. a plain gradient left from an earlier backward
                node.grad = Value(node.grad, requires_grad=False)
            rule(node, node.grad)
            if _anomaly:
                _check_finite(node)


def forward_tangents(root: Value, tangents: dict[Value, Any]) -> Any:
    """Forward mode: push the tangents given for some leaves (a dict leaf → array or float, shaped like the
    leaf) through root's graph, op by op in the order the ops ran, with each op's ``tangent`` rule; returns
    ∂root along them (the Jacobian-vector product J t). No reverse pass is made."""
    zero = 0.0 if type(root.data) is float else np.zeros_like(root.data)
    if root._a is None:  # a leaf or a constant
        t = tangents.get(root)
        return zero if t is None else t
    tangent = dict(tangents)
    for node in _topological_order(root):
        inputs = [tangent.get(p) for p in node._prev]
        if all(t is None for t in inputs):
            continue
        rule = getattr(node._rule, "tangent", None)
        if rule is None:
            raise RuntimeError(f"forward mode: op {node.op!r} (node {node!r}) has no tangent rule")
        t = rule(node, *inputs)
        shape = _shape(node.data)
        if type(node.data) is float:
            t = float(np.sum(t)) if type(t) is not float else t
        elif np.shape(t) != shape:
            t = np.broadcast_to(t, shape).copy()
        tangent[node] = t
    t = tangent.get(root)
    return zero if t is None else t


# ---- numerics shared by the ops above ---------------------------------------------------------------
def _pow(x: Any, p: Any) -> Any:
    if type(x) is float and type(p) is float:
        try:
            y = x ** p
        except ZeroDivisionError:
            return math.inf
        except OverflowError:
            return math.inf
        return math.nan if type(y) is complex else y
    return np.power(x, p)


def _pow_at_zero(out: Value) -> tuple[Any, Any]:
    """For a node aᵖ: (1 where a = p = 0, 1 where a = 0 < p), else 0, in out's dtype. Added to the exponent
    p − 1 and to the base of ln a, they turn the 0·∞ of x⁰ (constant 1) and of 0ᵖ (constant 0 for p > 0)
    into the exact derivative 0, in every order; everywhere else they add 0."""
    a, p = out._a.data, out._b.data
    if type(out.data) is float:
        return float(a == 0 and p == 0), float(a == 0 and p > 0)
    zero = np.equal(a, 0)
    if not zero.any():  # the common case: numpy keeps its fast paths for a scalar exponent
        return 0.0, 0.0
    return (zero & np.equal(p, 0)).astype(out.data.dtype), (zero & np.greater(p, 0)).astype(out.data.dtype)


def _ln_base(x: Any) -> Any:
    """ln x where x > 0, NaN elsewhere: ∂(aᵖ)/∂p needs a positive base."""
    return (math.log(x) if x > 0 else math.nan) if type(x) is float else np.log(np.where(x > 0, x, np.nan))


def _positive_mask(x: Any) -> Any:
    """1 where x > 0, NaN elsewhere (so that ln of a non-positive base is NaN, without a warning)."""
    return (1.0 if x > 0 else math.nan) if type(x) is float else np.where(x > 0, 1.0, np.nan).astype(x.dtype)


def _max_share(out: Value) -> np.ndarray:
    """For a max node: 1/(number of ties) where an input element equals the maximum, else 0."""
    x, (axis, keepdims) = out._a.data, out._ctx
    mask = x == (out.data if keepdims or axis is None else np.expand_dims(out.data, axis))
    return (mask / mask.sum(axis=axis, keepdims=True)).astype(x.dtype, copy=False)


def _kept_shape(x: np.ndarray, axis: Any) -> tuple:
    """x's shape with the reduced axes kept as 1 (where a reduction's gradient broadcasts back from)."""
    axes = (axis,) if _is_int(axis) else axis
    return tuple(1 if i in axes else n for i, n in enumerate(x.shape))


def _sigmoid(z: Any) -> Any:
    if type(z) is float:
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
    if z.ndim == 0:
        with np.errstate(over="ignore"):
            return np.asarray(1.0 / (1.0 + np.exp(-z)))
    e = np.negative(z)
    with np.errstate(over="ignore"):
        np.exp(e, out=e)
    e += 1.0
    return np.reciprocal(e, out=e)


def _expand(g: Any, x: Any, axis: Any, keepdims: bool) -> np.ndarray:
    """Broadcast a reduction's gradient back over the axes that were reduced."""
    g = np.asarray(g)
    if axis is not None and not keepdims:
        g = np.expand_dims(g, axis)
    full = np.empty_like(x)
    full[...] = g
    return full


# ---- the fused layer: z = a · wᵀ + b ----------------------------------------------------------------
def linear(x: Any, weight: Value, bias: Value | None = None) -> Value:
    """One layer's weighted input zˡ = aˡ⁻¹ wˡᵀ + bˡ (eq. 25, one row per example) as a single node.

    `x` is (m, n_in) or (n_in,), `weight` is (n_out, n_in) — the book's wˡⱼₖ — and `bias` is (n_out,).
    """
    x = x if type(x) is Value else _lift(x)  # a layer's inputs are Values already: no call needed
    weight = weight if type(weight) is Value else _lift(weight)
    bias = bias if bias is None or type(bias) is Value else _lift(bias)
    X, W = x.data, weight.data
    if type(X) is float or type(W) is float or X.ndim not in (1, 2) or W.ndim != 2 or X.shape[-1] != W.shape[1]:
        raise ValueError(f"linear: input of shape {_shape(X)} does not fit weight of shape {_shape(W)} "
                         f"(expected (m, {_shape(W)[-1] if _shape(W) else '?'}) or (n_in,))")
    z = X @ W.T
    if bias is not None:
        if _shape(bias.data) != (W.shape[0],):
            raise ValueError(f"linear: bias has shape {_shape(bias.data)}, expected ({W.shape[0]},) "
                             f"for weight {W.shape}")
        z += bias.data
    return _node(z, _linear_rule, x, weight, bias)


def _linear_rule(out: Value, g: Any) -> None:
    x, w, b = out._a, out._b, out._c
    G = g if g.ndim == 2 else g[None, :]
    X = x.data if x.data.ndim == 2 else x.data[None, :]
    if b is not None and b.requires_grad: _accumulate(b, G.sum(axis=0))   # BP3: ∂C/∂bⱼ = δⱼ, summed over x
    if w.requires_grad: _accumulate(w, G.T @ X)                           # BP4: ∂C/∂wⱼₖ = aₖ δⱼ
    if x.requires_grad: _accumulate(x, G @ w.data)  # BP2's (wᵀ δ), before ⊙ σ′(z); a 1-row G is summed to x's (n_in,)


_linear_rule.symbol = "linear"


@_graph(_linear_rule)
def _linear_graph(out: Value, g: Value) -> None:  # the same three lines in Value ops
    x, w, b = out._a, out._b, out._c
    G = g if g.ndim == 2 else g.reshape(1, -1)
    X = x if x.ndim == 2 else x.reshape(1, -1)
    if b is not None and b.requires_grad: _accumulate(b, G.sum(axis=0))
    if w.requires_grad: _accumulate(w, G.T @ X)
    if x.requires_grad: _accumulate(x, (G @ w).reshape(x.shape))


@_tangent(_linear_rule)
def _linear_tangent(out: Value, tx: Any, tw: Any, tb: Any = None) -> Any:  # dz = dx wᵀ + x dwᵀ + db
    x, w = out._a.data, out._b.data
    return _plus(_plus(None if tx is None else tx @ w.T, None if tw is None else x @ tw.T), tb)


# ---- scatter: the derivative of indexing, an op itself so that create_graph can differentiate it -------
def _scatter_array(g: Any, index: Any, like: np.ndarray) -> np.ndarray:
    """A zero array shaped like `like` with g added at `index` (repeated indices add up)."""
    full = np.zeros_like(like)
    np.add.at(full, index, g)
    return full


def _scatter(g: Value, index: Any, like: np.ndarray) -> Value:
    """`_scatter_array` as a graph node, so that create_graph can differentiate it."""
    return _node(_scatter_array(g.data, index, like), _scatter_rule, g, ctx=index)


def _scatter_rule(out: Value, g: Any) -> None:  # the derivative of a scatter is the gather g[index]
    _accumulate(out._a, g[out._ctx])


_scatter_rule.symbol = "scatter"
_graph(_scatter_rule)(_scatter_rule)  # g[index] is an op for Values too


@_tangent(_scatter_rule)
def _scatter_tangent(out: Value, ta: Any) -> Any:
    return _scatter_array(ta, out._ctx, out.data)


# ---- helpers for backward() ---------------------------------------------------------------------------
def _topological_order(root: Value) -> list[Value]:
    """The non-leaf nodes above `root`, each after all of its inputs (iterative depth-first post-order).

    A node is expanded once; `None` on the stack marks "all inputs of the node below are done".
    Leaves are never pushed: they have no rule to run. Each expanded node's old gradient is cleared.
    """
    order: list[Value] = []
    expanded: set[Value] = set()
    stack: list[Any] = [root]
    push, pop, finish, expand = stack.append, stack.pop, order.append, expanded.add  # hot loop: local names
    while stack:
        node = pop()
        if node is None:
            finish(pop())
            continue
        if node in expanded:
            continue
        expand(node)
        node.grad = None  # an intermediate: recomputed, never double-counted
        push(node)
        push(None)
        a, b, c = node._a, node._b, node._c
        if a._a is not None and a not in expanded:  # a non-leaf always has its first input
            push(a)
        if b is not None and b._a is not None and b not in expanded:
            push(b)
        if c is not None and c._a is not None and c not in expanded:
            push(c)
    return order


def _check_finite(node: Value) -> None:
    for p in node._prev:
        if p.grad is not None and not np.all(np.isfinite(p.grad.data if type(p.grad) is Value else p.grad)):
            raise FloatingPointError(f"detect_anomaly: the backward of op {node.op!r} (node {node!r}) produced a "
                                     f"non-finite gradient for its input {p!r}")


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _check_axis(op: str, axis: Any, ndim: int) -> Any:
    """Validate an axis (an int or a tuple of distinct ints in range) and make it non-negative."""
    if axis is None:
        return None
    axes = (axis,) if _is_int(axis) else tuple(axis) if isinstance(axis, (tuple, list)) else None
    if axes is None or not all(_is_int(a) for a in axes):
        raise TypeError(f"{op}: axis must be an int or a tuple of ints, got {axis!r}")
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"{op}: axis {axis!r} is out of range for a Value with {ndim} dimension(s)")
    normalized = tuple(int(a) % ndim for a in axes)
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"{op}: axis {axis!r} repeats an axis")
    return normalized[0] if _is_int(axis) else normalized


_new = object.__new__

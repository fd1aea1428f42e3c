"""The program behind ``backward()``: trace a step once into straight-line numpy code, read it, replay it.

``program = trace(fn, *example_args)`` runs ``fn(*example_args)`` once (it returns a one-element `Value`,
e.g. a cost), walks the graph it built in the order ``backward()`` walks it, and writes one line of Python per
op: the forward ops, then each op's backward rule in the same reverse topological order, accumulating into
each node's gradient in the same order. ``program(*args)`` runs those lines on new arguments of the same
shapes and dtypes and returns the value (a float); like ``fn(*args).backward()`` it leaves each parameter's
``.grad`` (accumulating into a gradient that is there). Because every line is the numpy expression the
engine's op or rule computes, the result is bitwise equal to the dynamic graph. ``print(program)`` shows the
code in the book's names (``z2``, ``a2``, ``delta3``, ``nabla_w2``) with the equation each backward line is
(BP1–BP4, eq. 20–21 for an update traced with ``optimizer=``).

What is fixed at trace time, as in ``torch.jit.trace``:

* the path taken: Python control flow in `fn` that depends on data is recorded as it went (relu's mask and
  max's ties are data, recomputed on every call);
* arguments are read afresh where they enter Value ops as they are (an array argument wrapped by an op
  or a `Value`, a cost's targets); while tracing, ops on constants keep their inputs, so an op on an argument
  alone is recomputed too. An argument converted or copied before entering a Value op (another dtype, numpy
  arithmetic outside Value ops) would be frozen, so ``trace`` refuses an argument it cannot find in the graph
  (an argument used both ways is the caller's responsibility, as in ``torch.jit.trace``);
* raw numbers and arrays captured by `fn` are constants; Values captured by `fn` (parameters, constants) are
  read afresh on each call, so ``SGD.step()`` between calls, in place, is seen.

While `fn` runs, trace swaps in two recording versions of engine internals (the node maker and the cost's
target conversion); `fn` computes exactly what it computes untraced, but do not build graphs in another thread
meanwhile. The replay writes its intermediates into arrays it allocates once (``out=``); a parameter's
``.grad`` is always a fresh array, as after ``backward()``.

Arguments of another shape, dtype or type trace `fn` again (a program per signature, as ``jax.jit`` does):
the buffers and the path belong to the shapes. ``fn`` must not call ``backward()`` itself (nor
``create_graph``): the program is the backward pass, and a traced higher-order step is refused.

Two tiers, as a JIT has them: compiling the program's text costs ~7 µs a line (9–12 steps of a [784, 30, 10]
network), so a program's first 8 calls replay the traced path without writing or compiling anything — a float
op by its own two lines (the engine's expressions, ~0.5 µs a node: a scalar network's first calls run faster
than its dynamic graph), any other op through a stand-in that runs the engine's own op and rule (~3 µs: 1.1–1.7
dynamic steps for an MLP step) — bitwise the same results, with the same checks; the 9th call writes the lines
and compiles them, and ``program.compile()`` does it at once. A graph with more than 256 stand-ins is compiled
when traced. While a program is made, the cyclic garbage collector waits. With ``optimizer=`` and
``keep_grad=False`` the update scales each gradient in place into η∂C/∂w, as a hand-written step does (the
weights are bitwise the same; `.grad` is left None, as after ``zero_grad()``); by default the exact ∂C/∂w is
kept as `.grad` and η∂C/∂w is written into a second array.
"""
from __future__ import annotations

import contextlib
import functools
import gc
import inspect
import keyword
import math
import re
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from . import engine, nn
from .engine import Value, _topological_order, enable_grad
from .function import Function, FunctionCtx

__all__ = ["Program", "trace"]

_SIGMOID, _LINEAR = Value._sigmoid_rule, engine._linear_rule
_QUADRATIC, _OUTPUT_DELTA = nn._quadratic_rule, nn._output_delta_rule


def acc(total: Any, g: Any, like: Any) -> Any:
    """``total + g`` as ``backward()`` accumulates a gradient into a node whose data is `like`: g summed over
    broadcast dimensions and cast to like's dtype first; None is an empty gradient."""
    if type(like) is float:
        if type(g) is not float:
            g = float(np.sum(g))
    elif type(g) is not np.ndarray or g.shape != like.shape or g.dtype != like.dtype:
        g = engine._sum_to(g, like)
    total = g if total is None else total + g
    return np.asarray(total) if isinstance(total, np.generic) else total


class _Generic:
    """An op replayed by the engine's own code: its forward op on stand-in Values, then its backward rule on
    the node that made. Used for every op the code generator does not write out as a numpy line."""

    def __init__(self, node: Value, inputs: list[Value], forward: Callable[..., Value]) -> None:
        self.forward, self.symbol = forward, node.op
        self.stubs = {id(v): v.detach() for v in inputs}
        for v in inputs:
            self.stubs[id(v)].requires_grad = v.requires_grad
        self.ins = [self.stubs[id(v)] for v in inputs]
        self.inputs = inputs
        self.node: Value | None = None

    def fwd(self, *datas: Any) -> Any:
        with enable_grad():
            return self.forward_in_grad_mode(datas)

    def forward_in_grad_mode(self, datas: Any) -> Any:
        """`fwd` for a caller that has entered enable_grad() already."""
        for stub, d in zip(self.ins, datas):
            stub.data = d
        self.node = self.forward(*self.ins)
        return self.node.data

    def bwd(self, g: Any, *grads: Any) -> tuple:
        """Run the rule with each input's gradient so far; returns the inputs' gradients after it."""
        for stub, gr in zip(self.ins, grads):
            stub.grad = gr
        self.node._rule(self.node, g)
        return tuple(stub.grad for stub in self.ins)


def _stand_in(op: _Generic, key: int) -> tuple[Callable, Callable]:
    """A `_Generic` op as the first tier's forward and backward steps on the values and gradients by node id."""
    ins = [id(v) for v in op.inputs]
    needs = [(id(v), v.requires_grad) for v in op.inputs]

    def forward(env: dict) -> None:
        env[key] = op.forward_in_grad_mode([env[k] for k in ins])

    def backward(env: dict, grads: dict, g: Any) -> None:
        for (k, need), gk in zip(needs, op.bwd(g, *[grads.get(k) if need else None for k, need in needs])):
            if need:
                grads[k] = gk
    return forward, backward


def _into(grads: dict, key: int, g: float) -> None:
    """`_accumulate` for a float node: g, or the gradient so far + g."""
    total = grads.get(key)
    grads[key] = g if total is None else total + g


def _float_op(node: Value) -> tuple[Callable, Callable] | None:
    """A float op's forward and backward as the engine computes them on Python floats, side by side (the first
    tier of a scalar network's program: ~0.5 µs a node, where a stand-in costs ~3); None for other ops."""
    rule, a, b = node._rule, node._a, node._b
    if type(node.data) is not float or type(a.data) is not float or b is not None and type(b.data) is not float \
            or node._c is not None:
        return None
    o, ka, kb = id(node), id(a), id(b)
    ra, rb = a.requires_grad, b is not None and b.requires_grad
    if rule is Value._add_rule:
        def forward(env: dict) -> None: env[o] = env[ka] + env[kb]
        def backward(env: dict, grads: dict, g: float) -> None:  # ∂(a + b)/∂a = ∂(a + b)/∂b = 1
            if ra: _into(grads, ka, g)
            if rb: _into(grads, kb, g)
    elif rule is Value._sub_rule:
        def forward(env: dict) -> None: env[o] = env[ka] - env[kb]
        def backward(env: dict, grads: dict, g: float) -> None:  # ∂(a − b)/∂a = 1, ∂(a − b)/∂b = −1
            if ra: _into(grads, ka, g)
            if rb: _into(grads, kb, -g)
    elif rule is Value._mul_rule:
        def forward(env: dict) -> None: env[o] = env[ka] * env[kb]
        def backward(env: dict, grads: dict, g: float) -> None:  # ∂(ab)/∂a = b, ∂(ab)/∂b = a
            if ra: _into(grads, ka, g * env[kb])
            if rb: _into(grads, kb, g * env[ka])
    elif rule is Value._neg_rule:
        def forward(env: dict) -> None: env[o] = -env[ka]
        def backward(env: dict, grads: dict, g: float) -> None: _into(grads, ka, -g)  # ∂(−a)/∂a = −1
    elif rule is Value._relu_rule:
        def forward(env: dict) -> None:
            x = env[ka]
            env[o] = x if x > 0 or x != x else 0.0  # NaN stays NaN
        def backward(env: dict, grads: dict, g: float) -> None: _into(grads, ka, g if env[ka] > 0 else 0.0)
    elif rule is Value._tanh_rule:
        def forward(env: dict) -> None: env[o] = math.tanh(env[ka])
        def backward(env: dict, grads: dict, g: float) -> None:  # tanh′ = 1 − tanh²
            t = env[o]
            _into(grads, ka, g * (1.0 - t * t))
    elif rule is _SIGMOID:
        def forward(env: dict) -> None: env[o] = engine._sigmoid(env[ka])
        def backward(env: dict, grads: dict, g: float) -> None:  # σ′ = σ(1 − σ)
            s = env[o]
            _into(grads, ka, g * s * (1.0 - s))
    else:
        return None
    return forward, backward


def _function_class(rule: Any) -> type:
    stack = list(Function.__subclasses__())
    while stack:
        cls = stack.pop()
        if cls._rule is rule:
            return cls
        stack.extend(cls.__subclasses__())
    raise TypeError(f"trace: no Function subclass has the rule of op {getattr(rule, 'symbol', rule)!r}")


def _generic_forward(node: Value, targets: Callable[[Any], Any]) -> tuple[list[Value], Callable[..., Value]]:
    """(inputs, forward): the Values the op read and a function redoing the op on stand-ins of them."""
    rule, ctx = node._rule, node._ctx
    binary = {Value._add_rule: Value.__add__, Value._sub_rule: Value.__sub__, Value._mul_rule: Value.__mul__,
              Value._div_rule: Value.__truediv__, Value._pow_rule: Value.__pow__,
              Value._matmul_rule: Value.__matmul__}
    unary = {Value._neg_rule: Value.__neg__, Value._exp_rule: Value.exp, Value._log_rule: Value.log,
             Value._tanh_rule: Value.tanh, Value._sigmoid_rule: Value.sigmoid, Value._relu_rule: Value.relu,
             Value._step_rule: Value.step, Value._transpose_rule: Value.transpose}
    a, b, c = node._a, node._b, node._c
    if rule in binary:
        return [a, b], binary[rule]
    if rule in unary:
        return [a], unary[rule]
    if rule is Value._sum_rule:
        return [a], lambda x: x.sum(*ctx)
    if rule is Value._max_rule:
        return [a], lambda x: x.max(*ctx)
    if rule is Value._reshape_rule:
        shape = node.shape
        return [a], lambda x: x.reshape(shape)
    if rule is Value._getitem_rule:
        return [a], lambda x: x[ctx]
    if rule is Value._log_softmax_rule:
        return [a], lambda x: x.log_softmax(ctx)
    if rule is Value._softmax_rule:
        return [a], lambda x: x.softmax(ctx)
    if rule is _LINEAR:
        return ([a, b], engine.linear) if c is None else ([a, b, c], engine.linear)
    costs = {_QUADRATIC: nn.quadratic_cost, nn._cross_entropy_rule: nn.cross_entropy_cost,
             nn._log_likelihood_rule: nn.log_likelihood_cost}
    if rule in costs:
        y = ctx[1] if rule is _QUADRATIC else ctx
        cost, target = costs[rule], targets(y)
        return [a], lambda v: cost(v, target())
    if rule is _OUTPUT_DELTA:  # the cost reads σ(zᴸ) or softmax(zᴸ) of its input zᴸ: redone here
        out_a, y = ctx
        target = targets(y)
        if out_a._rule is _SIGMOID:
            return [a], lambda z: nn.cross_entropy_cost(z.sigmoid(), target())
        return [a], lambda z: nn.log_likelihood_cost(z.softmax(out_a._ctx), target())
    if _is_function(node):
        return list(ctx[1]), _function_class(rule).apply
    raise TypeError(f"trace: op {node.op!r} (node {node!r}) cannot be traced"
                    + (" (a scatter comes from backward(create_graph=True), which trace refuses)"
                       if rule is engine._scatter_rule else ""))


@functools.lru_cache(maxsize=4096)  # names repeat across traces: made once each
def _identifier(name: str | None) -> str | None:
    if not name:
        return None
    s = re.sub(r"\W", "_", name)
    return None if not s.isidentifier() or keyword.iskeyword(s) else s


@functools.lru_cache(maxsize=4096)  # names repeat across traces: made once each
def _book_name(name: str | None) -> str | None:
    """A parameter's name in the book: ``layers.0.weight`` is w², so ``w2``; ``layers.0.bias`` is ``b2``."""
    m = re.fullmatch(r"layers\.(\d+)\.(weight|bias)", name or "")
    return f"{m.group(2)[0]}{int(m.group(1)) + 2}" if m else _identifier(name)


@functools.lru_cache(maxsize=4096)  # names repeat across traces: made once each
def _grad_name(name: str, kind: str) -> str:
    m = re.fullmatch(r"([zwb])(\d+)", name)
    if m and kind == "param":
        return f"nabla_{name}"
    if m and m.group(1) == "z":
        return f"delta{m.group(2)}"
    return f"d_{name}"


def _is_array(d: Any) -> bool:
    return type(d) is np.ndarray and d.ndim >= 1


def _is_function(node: Value) -> bool:
    ctx = node._ctx
    return type(ctx) is tuple and len(ctx) == 2 and type(ctx[1]) is tuple and isinstance(ctx[0], FunctionCtx)


def _inputs(node: Value) -> list[Value]:
    """The Values an op read: its graph inputs, or every input of a custom Function."""
    return list(node._ctx[1]) if _is_function(node) else list(node._prev)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause CPython's cyclic garbage collector while a program is made: that makes hundreds of thousands of
    objects beside a big live graph, and each full collection walks all of it (10–20% of tracing a 68,818-node
    scalar graph). What it would have collected is collected once it resumes."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if gc.get_count()[0] > _PROMOTE_AFTER:  # many new objects, long-lived: file them with the old ones
                gc.freeze()    # (what unfreeze does) rather than walk them all in the next young collection
                gc.unfreeze()  # (77 ms after tracing a 68,818-node scalar graph: a third of the trace)
            gc.enable()


def _refuse_create_graph(v: Value) -> None:
    if type(v.grad) is Value:
        raise RuntimeError("trace: fn called backward() itself (a parameter holds a create_graph gradient); return "
                           "the cost and let the program run backward — create_graph and higher-order steps cannot "
                           "be traced")


def _bad_labels(a: np.ndarray, y: np.ndarray, cost: str) -> None:
    """Raise the cost's own error for labels the replay found out of range (negative, or ≥ the outputs)."""
    _targets(a, y, cost)  # raises ValueError: label … is out of range for … output neurons
    raise ValueError(f"{cost}: labels out of range for {a.shape[-1]} output neurons")


try:  # numpy ≥ 2: errstate is a context variable; setting it directly costs a tenth of np.errstate()
    from numpy._core._multiarray_umath import _extobj_contextvar, _make_extobj
except ImportError:  # pragma: no cover - numpy 1.x
    _extobj_contextvar = _make_extobj = None


class _OverflowIgnored(dict):
    """error state → the same state with over='ignore' (what ``np.errstate(over='ignore')`` enters), made once
    per state; keys are kept alive here, so an id is never reused for another state."""

    def __missing__(self, state: Any) -> Any:
        if len(self) > 64:
            self.clear()
        value = self[state] = _make_extobj(over="ignore")  # merged with the current state, which is `state`
        return value


_OVER = _OverflowIgnored()
# names the replay's code uses besides the program's own (never given to a node)
_REPLAY_NAMES = {"_t", "_ign", "_l", "_OVER", "_cvget", "_cvset", "_cvreset", "_builder", "_bad_labels", "_Retrace",
                 "eta", "_opt", "optimizer"}


def _exp_ignoring_overflow(var: str) -> str:
    """Replay code for ``np.exp(var, out=var)`` under over='ignore' (e^(−z) overflows to inf for z ≪ 0: σ → 0,
    as the engine's σ computes it), leaving the caller's other error settings as they are."""
    if _extobj_contextvar is None:  # pragma: no cover - numpy 1.x
        return f"with np.errstate(over='ignore'): np.exp({var}, out={var})"
    return f"_t = _cvset(_ign)\ntry: np.exp({var}, out={var})\nfinally: _cvreset(_t)"


def _targets(a: Any, y: Any, cost: str) -> np.ndarray:
    """A cost's targets for outputs `a` (an array), as the cost computes them from labels or one-hot rows."""
    return nn._targets(engine._lift(a), y, cost)


class _Line:
    """One line of the program: its source, the code the replay runs (the same, or with `out=`), its tag."""
    __slots__ = ("fast", "phase", "source", "tag")

    def __init__(self, source: str, tag: str, phase: str, fast: str | None = None) -> None:
        self.source, self.tag, self.phase, self.fast = source, tag, phase, source if fast is None else fast


_BINARY = {Value._add_rule: "+", Value._sub_rule: "-", Value._mul_rule: "*"}


class _Builder:
    """Writes the program's lines from one traced graph, in the engine's order."""

    def __init__(self, root: Value, args: tuple, arg_names: list[str], target_sources: dict[int, Any]) -> None:
        self.root, self.args, self.arg_names, self.target_sources = root, args, arg_names, target_sources
        self.ns: dict[str, Any] = {"np": np, "math": math, "acc": acc, "sigmoid": engine._sigmoid,
                                   "divide": engine._divide, "normalize": engine._normalize,
                                   "targets": _targets}
        self.used: set[str] = set(self.ns) | set(arg_names) | _REPLAY_NAMES
        self.names: dict[int, str] = {}
        self.params: list[tuple[str, Value]] = []       # leaves that require a gradient: read each call
        self.constants: list[tuple[str, Value]] = []    # other Values: read each call too
        self.arg_of: dict[int, str] = {}
        for name, a in zip(arg_names, args):
            self.arg_of[id(a)] = name
            if isinstance(a, Value):
                self.arg_of[id(a.data)] = name
        self.found_args: set[str] = set()
        self.lines: list[_Line] = []
        self.generic: dict[int, str] = {}
        self.grad_of: dict[int, str] = {}
        self.contributions: dict[int, int] = {}
        self.extra: dict[int, Any] = {}
        self.zeroed = False           # with an optimizer, each call starts from empty gradients (zero_grad)
        self.buffered: set[str] = set()  # variables the replay writes with out= into an array it reuses
        self.buffer_of: dict[str, str] = {}  # variable → the array it is written into on every call
        self.overflow = False         # the replay has a σ whose e^(−z) may overflow (silenced there only)
        self.reads_args = False       # a generic op reads a cost's targets from the current arguments
        self.float_root = False       # the root's line computes a Python float
        self.owned: set[str] = set()  # gradients held in arrays no other variable refers to (may be overwritten)

    def buffer(self, name: str, like: np.ndarray) -> str:
        """An array the replay allocates once and writes `name` into on every call."""
        buf = self.buffer_of[name] = self.fresh(f"_{name}_buf")
        self.ns[buf] = np.empty_like(like)
        self.buffered.add(name)
        return buf

    # ---- names ---------------------------------------------------------------------------------------
    def fresh(self, base: str) -> str:
        if base.startswith("_np_"):  # the replay's names for numpy's functions
            base = "v" + base
        name, i = base, 1
        while name in self.used:
            i += 1
            name = f"{base}_{i}"
        self.used.add(name)
        return name

    def name(self, v: Value) -> str:
        n = self.names.get(id(v))
        if n is None:
            if v._rule is not None:
                n = self.fresh(_identifier(v.name) or f"v{len(self.names)}")
            elif v.requires_grad:
                _refuse_create_graph(v)
                n = self.fresh(_book_name(v.name) or f"p{len(self.params)}")
                self.params.append((n, v))
            elif id(v) in self.arg_of or id(v.data) in self.arg_of:
                n = self.arg_of.get(id(v)) or self.arg_of[id(v.data)]
                self.found_args.add(n)
            elif type(v.data) is float and math.isfinite(v.data):
                n = repr(v.data)
            else:
                n = self.fresh(_identifier(v.name) or f"c{len(self.constants)}")
                self.constants.append((n, v))
            self.names[id(v)] = n
        return n

    def grad_var(self, v: Value) -> str:
        g = self.grad_of.get(id(v))
        if g is None:
            kind = "param" if v._rule is None else "node"
            g = self.grad_of[id(v)] = self.fresh(_grad_name(self.name(v), kind))
        return g

    def target(self, y: np.ndarray, a: str, cost: str) -> str:
        """Code for a cost's targets: recomputed from the argument they came from, else a constant."""
        arg = self.target_arg(y)
        if arg is not None:
            return f"targets({a}, {arg}, {cost!r})"
        n = self.fresh(f"y_{a}")
        self.ns[n] = y
        return n

    def target_arg(self, y: Any) -> str | None:
        source = self.target_sources.get(id(y))
        arg = None if source is None else self.arg_of.get(id(source))
        if arg is not None:
            self.found_args.add(arg)
        return arg

    def add(self, source: str, tag: str, phase: str, fast: str | None = None) -> None:
        self.lines.append(_Line(source, tag, phase, fast))

    # ---- the walk ------------------------------------------------------------------------------------
    def build(self) -> None:
        root = self.root
        self.reads_args = False  # the first tier's stand-ins may have set it; the lines decide for themselves
        if root._rule is not None and not _identifier(root.name):
            self.names[id(root)] = self.fresh("cost")
        order = _topological_order(root) if root._a is not None else []
        self.consumers: dict[int, list[Value]] = {}
        for node in order:
            for v in node._prev:
                self.consumers.setdefault(id(v), []).append(node)
        for node in self._forward_order(order):
            self.emit_forward(node)
        self.float_root = id(root) not in self.generic and root._rule in (_QUADRATIC, _OUTPUT_DELTA)
        start = len(self.lines)
        g = self.grad_var(root)
        self.add(f"{g} = {'1.0' if type(root.data) is float else f'np.ones_like({self.name(root)})'}",
                 "∂C/∂C = 1: the backward walk starts at the cost", "backward")
        for node in reversed(order):
            if id(node) in self.grad_of:
                self.emit_backward(node)
        leaf_grads = [self.grad_of[id(p)] for _, p in self.params if id(p) in self.grad_of]
        if leaf_grads:  # the replay reads each parameter's .grad instead (they accumulate across calls)
            self.lines.insert(start, _Line(f"{' = '.join(leaf_grads)} = None", "gradients start empty, as after "
                                           "zero_grad()", "backward", "pass"))
        self.check_args()

    def check_args(self) -> None:
        """Refuse an argument the ops never read as it was passed: its values would be frozen."""
        for name, a in zip(self.arg_names, self.args):
            if isinstance(a, (np.ndarray, Value)) and name not in self.found_args:
                raise ValueError(f"trace: argument {name!r} does not reach the graph as it was passed (it was "
                                 f"converted or copied before entering a Value op, used only outside Value ops, "
                                 f"or not used), so its values would be frozen into the program; pass it as the "
                                 f"array the ops read (e.g. in the dtype the model computes in)")

    def _forward_order(self, order: list[Value]) -> list[Value]:
        """Every op node to recompute, inputs first (a custom Function's inputs included)."""
        seen: set[int] = set()
        out: list[Value] = []
        stack: list[tuple[Value, bool]] = [(n, False) for n in reversed(order)]
        while stack:
            node, done = stack.pop()
            if done:
                out.append(node)
            elif id(node) not in seen and node._rule is not None:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((d, False) for d in _inputs(node) if d._rule is not None and id(d) not in seen)
        return out

    def interpreter(self, order: list[Value]) -> Callable[..., Any] | None:
        """The program's first tier: the path as traced, replayed without writing or compiling anything — a
        float op by its own two lines (`_float_op`), any other op by the engine's own op and rule on stand-ins
        (`_Generic`); backward in the engine's order. Checks what `build` checks. None when more than
        `_FIRST_TIER_MAX_STAND_INS` ops need a stand-in (~3 µs each a call: compiling is better there). Called
        while the constant nodes show their inputs."""
        root = self.root
        # `order` has each op after its inputs; only a custom Function can read an op outside its three inputs
        nodes = self._forward_order(order) if any(map(_is_function, order)) else order
        floats = [_float_op(n) for n in nodes]
        if floats.count(None) > _FIRST_TIER_MAX_STAND_INS:
            return None
        forwards, backwards, leaves, seen = [], {}, [], set()
        for node, steps in zip(nodes, floats):
            if steps is None:
                op = _Generic(node, *_generic_forward(node, self.generic_target))
                steps, inputs = _stand_in(op, id(node)), op.inputs
            else:
                inputs = (node._a, node._b) if node._b is not None else (node._a,)
            forwards.append(steps[0])
            backwards[id(node)] = steps[1]
            for v in inputs:
                if v._a is None and v not in seen:  # a leaf
                    seen.add(v)
                    leaves.append(v)
        if root._rule is None:
            leaves.append(root)
        sources, params = [], []
        for v in leaves:  # (id, Value read on each call, or the index of the argument it is)
            arg = self.arg_of.get(id(v)) or self.arg_of.get(id(v.data))
            if v.requires_grad:
                _refuse_create_graph(v)
                params.append(v)
            elif arg is not None:
                self.found_args.add(arg)
            sources.append((id(v), v, None if v.requires_grad or arg is None else self.arg_names.index(arg)))
        self.check_args()
        backward = [(id(n), backwards[id(n)]) for n in reversed(order) if id(n) in backwards]
        zeroed = self.zeroed

        def interpret(args: tuple, zero: list[Value]) -> float:
            self.current = args
            env = {}
            for key, v, i in sources:  # the arguments are arrays here (Program unwraps Values)
                env[key] = v.data if i is None else args[i]
            with enable_grad():
                for forward in forwards:
                    forward(env)
            value = env[id(root)]
            for p in zero:  # zero_grad, after the forward ops (a refused call changes nothing)
                p.grad = None
            grads = {id(p): None if zeroed else p.grad for p in params}
            seed = 1.0 if type(value) is float else np.ones_like(value)  # ∂C/∂C = 1
            grads[id(root)] = seed if root._rule is not None else acc(grads[id(root)], seed, value)
            for key, rule in backward:  # as backward() walks: a node without a gradient passes nothing on
                g = grads.get(key)
                if g is not None:
                    rule(env, grads, g)
            for p in params:
                if grads[id(p)] is not None:
                    p.grad = grads[id(p)]
            return value if type(value) is float else float(value)
        return interpret

    # ---- forward -------------------------------------------------------------------------------------
    def emit_forward(self, node: Value) -> None:
        out = self.name(node)
        if self.special_forward(node, out) is None:
            inputs, forward = _generic_forward(node, self.generic_target)
            op = self.fresh(f"op_{out}")
            self.ns[op] = _Generic(node, inputs, forward)
            self.generic[id(node)] = op
            ins = [self.name(v) for v in inputs]
            self.add(f"{out} = {op}.fwd({', '.join(ins)})", f"{node.op}: the engine's own op", "forward")

    def generic_target(self, y: Any) -> Callable[[], Any]:
        """A cost's targets for a generic op: from this call's arguments (the replay then sets `current`), or y."""
        arg = self.target_arg(y)
        if arg is None:
            return lambda: y
        index, program = self.arg_names.index(arg), self
        self.reads_args = True
        return lambda: program.current[index]

    def special_forward(self, node: Value, out: str) -> bool | None:
        """Write the forward of an op whose forward and backward both have a numpy line here; None if not."""
        rule, a, b, c, d = node._rule, node._a, node._b, node._c, node.data
        prev = node._prev
        arrays = _is_array(d) and all(type(v.data) is float or _is_array(v.data) for v in prev)
        floats = type(d) is float and all(type(v.data) is float for v in prev)
        A = self.name(a) if a is not None else ""
        B = self.name(b) if b is not None else ""
        if rule in _BINARY and (arrays or floats):
            self.add(f"{out} = {A} {_BINARY[rule]} {B}", node.op, "forward")
        elif rule is Value._neg_rule and (arrays or floats):
            self.add(f"{out} = -{A}", "neg", "forward")
        elif rule is _SIGMOID and (arrays or floats):
            fast = None
            if arrays:  # the engine's σ, step by step, into a reused array (e^(−z) may overflow: σ → 0)
                buf = self.buffer_of.get(A)
                if buf and a._rule is _LINEAR and self.consumers.get(id(a)) == [node] and \
                        a.data.shape == d.shape and a.data.dtype == d.dtype:  # z = a wᵀ + b is read by this σ
                    # alone (a layer's rule never reads its output): σ(z) overwrites z's array
                    self.buffered.add(out)
                    self.buffer_of[out] = buf
                else:
                    buf = self.buffer(out, d)
                fast = (f"{out} = np.negative({A}, out={buf})\n{_exp_ignoring_overflow(out)}\n"
                        f"{out} += 1.0; np.reciprocal({out}, out={out})")
                self.overflow = True
            self.add(f"{out} = sigmoid({A})", "σ(z) = 1/(1 + e^(−z)), stable", "forward", fast)
        elif rule is Value._relu_rule and arrays:
            self.add(f"{out} = np.maximum({A}, 0)", "relu", "forward")
        elif rule is Value._relu_rule and floats:
            self.add(f"{out} = {A} if {A} > 0 or {A} != {A} else 0.0", "relu (NaN stays NaN)", "forward")
        elif rule is Value._tanh_rule and (arrays or floats):
            self.add(f"{out} = {'np' if arrays else 'math'}.tanh({A})", "tanh", "forward")
        elif rule is _LINEAR and _is_array(a.data) and a.data.ndim == 2:
            bias = "" if c is None else f" + {self.name(c)}"
            fast = None
            if c is not None and d.flags.c_contiguous:
                fast = f"{out} = np.matmul({A}, {B}.T, out={self.buffer(out, d)}); {out} += {self.name(c)}"
            self.add(f"{out} = {A} @ {B}.T{bias}", "z = a wᵀ + b (eq. 25)", "forward", fast)
        elif rule is _QUADRATIC and _is_array(a.data):
            y = self.target(node._ctx[1], A, "quadratic_cost")
            diff = self.extra[id(node)] = self.fresh(f"{A}_minus_y")
            fast = None
            arg = self.target_arg(node._ctx[1])
            labels = self.args[self.arg_names.index(arg)] if arg is not None else None
            labels = labels.data if isinstance(labels, Value) else labels
            if type(labels) is np.ndarray and labels.dtype.kind in "iu" and a.data.ndim == 2 and \
                    labels.shape == a.data.shape[:1] and labels.size and a.data.shape[1] > 1 and \
                    a.data.flags.c_contiguous:
                # integer labels (their shape and dtype are the program's signature): a − one_hot(y) is a − 0 = a
                # except where the labels point, so 1 is subtracted there, bitwise, without a one-hot array. Any
                # label out of range raises the cost's own error, checked on every call (labels may change in
                # place): one max over the labels seen as unsigned (a negative label becomes ≥ 2^(bits−1) ≥ k),
                # through a Python list for a small batch (half the time of a numpy reduction there).
                m, k = a.data.shape
                buf, rows = self.buffer(diff, a.data), self.fresh("_rows_k")
                flat, kind, bits = self.fresh(f"_{diff}_flat"), labels.dtype.kind, 8 * labels.dtype.itemsize
                self.ns[flat] = self.ns[buf].reshape(-1)  # a view: the buffer is C-contiguous
                self.ns[rows] = np.arange(m, dtype=np.uint64 if labels.dtype == np.uint64 else np.intp) * k
                if kind == "i" and 2 ** (bits - 1) < k:  # int8 labels for ≥ 128 outputs: both ends
                    check = (f"(np.minimum.reduce({arg}, None) < 0 or np.maximum.reduce({arg}, None) >= {k})"
                             if m > 32 else f"(min(_l := {arg}.tolist()) < 0 or max(_l) >= {k})")
                else:
                    seen = arg
                    if kind == "i":
                        unsigned = self.fresh("_unsigned")
                        self.ns[unsigned] = np.dtype(f"u{labels.dtype.itemsize}")
                        seen = f"{arg}.view({unsigned})"
                    check = f"np.maximum.reduce({seen}, None) >= {k}" if m > 32 else f"max({seen}.tolist()) >= {k}"
                fast = (f"np.copyto({buf}, {A})\nif {check}: _bad_labels({A}, {arg}, 'quadratic_cost')\n"
                        f"{flat}[{rows} + {arg}] -= 1.0\n{diff} = {buf}")
                self.ns["_bad_labels"] = _bad_labels
            self.add(f"{diff} = {A} - {y}", "a − y", "forward", fast)
            self.add(f"{out} = 0.5 / {nn._batch_size(a)} * float(np.vdot({diff}, {diff}))",
                     "quadratic cost C = ‖y − a‖²/2m (eq. 6)", "forward")
        elif rule is _OUTPUT_DELTA and node._ctx[0]._rule is _SIGMOID and _is_array(a.data):
            a_out = self.name(node._ctx[0])
            if not any(line.source.startswith(f"{a_out} = ") for line in self.lines):
                self.add(f"{a_out} = sigmoid({A})", "σ(zᴸ)", "forward")
            y = self.target(node._ctx[1], a_out, "cross_entropy_cost")
            self.extra[id(node)] = (a_out, y)
            self.add(f"{out} = float(np.sum(np.maximum({A}, 0) + np.log1p(np.exp(-np.abs({A}))) - {y} * {A}))"
                     f" / {nn._batch_size(a)}", "cross-entropy cost (eq. 63), from zᴸ: Σ softplus(z) − y z",
                     "forward")
        else:
            return None
        return True

    # ---- backward ------------------------------------------------------------------------------------
    def contribute(self, node: Value, v: Value, expr: str, tag: str, exact: bool, fast: str | None = None,
                   fast_expr: str | None = None, fresh: bool = False) -> None:
        """Add `expr` into v's gradient as the engine's `_accumulate` does: a plain assignment where the
        shapes and dtypes are known to agree, else through `acc`. `fast_expr`: the same value, computed faster,
        for a parameter's line in the replay; `fresh`: the expression makes a new array (a matmul, a sum)."""
        if not v.requires_grad:
            return
        g = self.grad_var(v)
        leaf = v._rule is None
        first = id(v) not in self.contributions
        self.contributions[id(v)] = self.contributions.get(id(v), 0) + 1
        like = self.name(v)
        if leaf:  # a parameter: its gradient may already hold an earlier backward's (they accumulate)
            source = f"{g} = {expr}" if exact and first else f"{g} = acc({'None' if first else g}, {expr}, {like})"
            kept = f"{expr}.copy()" if expr in self.buffered else fast_expr or expr  # a .grad never shares a buffer
            self.add(source, tag, "backward", f"{g} = {kept}" if exact and first and self.zeroed
                     else f"{g} = acc({g}, {kept}, {like})")
            if first and exact and self.zeroed and fresh:
                self.owned.add(g)
            else:
                self.owned.discard(g)
        else:  # a node's gradient: `owned` when it is an array no other variable refers to (its rule may
            # overwrite it); a second contribution makes a new array (g + expr). Passed on by name, a reused
            # array stays one: a parameter that gets it later gets a copy
            if first and expr in self.buffered:
                self.buffered.add(g)
            if exact:
                self.add(f"{g} = {expr}" if first else f"{g} = {g} + {expr}", tag, "backward", fast if first else None)
            else:
                self.add(f"{g} = acc({'None' if first else g}, {expr}, {like})", tag, "backward",
                         fast if first else None)
            if not first or (exact and fresh):
                self.owned.add(g)
            else:
                self.owned.discard(g)

    def emit_backward(self, node: Value) -> None:
        rule, a, b, c, d = node._rule, node._a, node._b, node._c, node.data
        g, out = self.grad_of[id(node)], self.name(node)
        if id(node) in self.generic:
            op = self.ns[self.generic[id(node)]]
            grads = [self.grad_var(v) if v.requires_grad else "None" for v in op.inputs]
            for v, gv in zip(op.inputs, grads):
                if v.requires_grad and id(v) not in self.contributions and v._rule is not None:
                    self.add(f"{gv} = None", "no gradient yet", "backward")
                if v.requires_grad:
                    self.contributions[id(v)] = self.contributions.get(id(v), 0) + 1
            if g in self.buffered:  # a rule may pass on g itself or a view of it (reshape, transpose, getitem)
                self.buffered.update(gv for v, gv in zip(op.inputs, grads) if v.requires_grad and v._rule is not None)
            targets = ", ".join(gv if v.requires_grad else "_" for v, gv in zip(op.inputs, grads))
            leaf = any(v.requires_grad and v._rule is None for v in op.inputs)
            fast = f"{g}.copy()" if leaf and g in self.buffered else g  # a rule may keep g (a view) as a .grad
            self.add(f"{targets}{',' if len(grads) == 1 else ''} = {self.generic[id(node)]}.bwd({g}, "
                     f"{', '.join(grads)})", f"the {node.op} rule, as backward() runs it", "backward",
                     f"{targets}{',' if len(grads) == 1 else ''} = {self.generic[id(node)]}.bwd({fast}, "
                     f"{', '.join(grads)})")
            return
        exact = all(type(v.data) is float for v in node._prev) if type(d) is float else all(
            _is_array(v.data) and v.data.shape == d.shape and v.data.dtype == d.dtype for v in node._prev)
        A, B = self.name(a), (self.name(b) if b is not None else "")
        if rule is Value._add_rule:
            self.contribute(node, a, g, "∂(a + b)/∂a = 1", exact)
            self.contribute(node, b, g, "∂(a + b)/∂b = 1", exact)
        elif rule is Value._sub_rule:
            self.contribute(node, a, g, "∂(a − b)/∂a = 1", exact)
            self.contribute(node, b, f"-{g}", "∂(a − b)/∂b = −1", exact)
        elif rule is Value._mul_rule:
            self.contribute(node, a, f"{g} * {B}", "∂(ab)/∂a = b", exact)
            self.contribute(node, b, f"{g} * {A}", "∂(ab)/∂b = a", exact)
        elif rule is Value._neg_rule:
            self.contribute(node, a, f"-{g}", "∂(−a)/∂a = −1", exact)
        elif rule is _SIGMOID:
            fast = None
            if exact and type(d) is not float and a._rule is not None and id(a) not in self.contributions:
                ga, tmp = self.grad_var(a), self.fresh(f"_{out}_one_minus")
                self.ns[tmp] = np.empty_like(d)
                if g in self.owned:  # only this rule reads g: δ = g ⊙ σ′ overwrites it
                    buf = g
                    if g in self.buffered:
                        self.buffered.add(ga)
                else:
                    buf = self.buffer(ga, d)
                fast = (f"{ga} = np.multiply({g}, {out}, out={buf}); "
                        f"np.subtract(1.0, {out}, out={tmp}); {ga} *= {tmp}")
            self.contribute(node, a, f"{g} * {out} * (1.0 - {out})", self.sigmoid_tag(node), exact, fast,
                            fresh=fast is not None)
        elif rule is Value._relu_rule:
            expr = f"({g} if {A} > 0 else 0.0)" if type(d) is float else f"{g} * ({A} > 0)"
            self.contribute(node, a, expr, "relu′ = 1 where z > 0, else 0: the mask is recomputed", exact)
        elif rule is Value._tanh_rule:
            self.contribute(node, a, f"{g} * (1.0 - {out} * {out})", "tanh′ = 1 − tanh²", exact)
        elif rule is _LINEAR:
            if c is not None:
                self.contribute(node, c, f"{g}.sum(axis=0)", "BP3: ∂C/∂bˡ = δˡ (summed over the mini-batch)",
                                c.dtype == d.dtype, fast_expr=f"np.add.reduce({g}, 0)" if _is_array(d) else None,
                                fresh=_is_array(d) and d.ndim == 2)
            self.contribute(node, b, f"{g}.T @ {A}", "BP4: ∂C/∂wˡ = δˡ (aˡ⁻¹)ᵀ", b.dtype == d.dtype == a.dtype,
                            fresh=_is_array(d) and d.ndim == 2)
            self.contribute(node, a, f"{g} @ {B}", "BP2, first factor: (wˡ)ᵀ δˡ, before ⊙ σ′(zˡ⁻¹)",
                            a.dtype == d.dtype == b.dtype, fresh=_is_array(d) and d.ndim == 2)
        elif rule is _QUADRATIC:
            diff, m = self.extra[id(node)], nn._batch_size(a)
            fast = None
            if id(a) not in self.contributions:
                ga = self.grad_var(a)
                scale = repr(1.0 / m) if node is self.root and type(d) is float else f"{g} / {m}"  # ∂C/∂C = 1.0
                fast = f"{ga} = np.multiply({diff}, {scale}, out={self.buffer(ga, a.data)})"
            self.contribute(node, a, f"{diff} * ({g} / {m})", "∇ₐC = (aᴸ − y)/m: BP1's first factor", True, fast,
                            fresh=fast is not None)
        elif rule is _OUTPUT_DELTA:
            a_out, y = self.extra[id(node)]
            self.contribute(node, a, f"({a_out} - {y}) * ({g} / {nn._batch_size(a)})",
                            "BP1 for the cross-entropy cost: δᴸ = (aᴸ − y)/m (eq. 66)", True)

    def sigmoid_tag(self, node: Value) -> str:
        """BP1 for the output layer's σ (its gradient comes from a cost), BP2 for a hidden one (from a layer)."""
        users = self.consumers.get(id(node), [])
        if users and all(u._rule in (_QUADRATIC, nn._cross_entropy_rule) for u in users):
            return "BP1: δᴸ = ∇ₐC ⊙ σ′(zᴸ), σ′ = σ(1 − σ)"
        if users and all(u._rule is _LINEAR for u in users):
            return "BP2: δˡ = ((wˡ⁺¹)ᵀ δˡ⁺¹) ⊙ σ′(zˡ)"
        return "σ′(z) = σ(z)(1 − σ(z))"


class _Compiled:
    """The program for one signature of arguments: its lines, compiled into one function."""

    def __init__(self, fn: Callable[..., Value], args: tuple, arg_names: list[str], optimizer: Any,
                 keep_grad: bool) -> None:
        target_sources: dict[int, Any] = {}
        original = nn._targets

        def recording_targets(a: Value, y: Any, cost: str) -> np.ndarray:
            t = original(a, y, cost)
            target_sources[id(t)] = y
            return t
        watched = optimizer.params if optimizer is not None else []
        before = [p.grad for p in watched]
        made = engine._node
        kept: list[tuple] = []

        def keeping_node(data: Any, rule: Callable, a: Value, b: Value | None = None, c: Value | None = None,
                         ctx: Any = None) -> Value:
            out = made(data, rule, a, b, c, ctx)
            if out._rule is None:  # a node of constants only: note its inputs too, to recompute it from them
                kept.append((out, rule, a, b, c, ctx))
            return out
        from . import function
        nn._targets = recording_targets
        engine._node = nn._node = function._node = keeping_node
        try:
            root = fn(*args)
        finally:
            nn._targets = original
            engine._node = nn._node = function._node = made
        if not isinstance(root, Value):
            raise TypeError(f"trace: fn must return a Value (e.g. a cost), got {type(root).__name__}")
        if any(p.grad is not g for p, g in zip(watched, before)):
            raise RuntimeError("trace: fn called backward() itself (a gradient changed while it ran); return the "
                               "cost and let the program run backward — create_graph and higher-order steps "
                               "cannot be traced")
        if root.size != 1:
            raise ValueError(f"trace: fn must return a one-element Value (a cost), got shape {root.shape}")
        if not root.requires_grad:
            raise ValueError("trace: fn's result does not depend on any Value that requires a gradient "
                             "(nothing to differentiate; was it computed under no_grad()?)")
        b = _Builder(root, args, arg_names, target_sources)
        b.current, b.zeroed = args, optimizer is not None
        self._builder, self._kept, self.root, self.arg_names = b, kept, root, arg_names
        self.optimizer, self.keep_grad = optimizer, keep_grad
        self.signature = _signature(tuple(a.data if isinstance(a, Value) else a for a in args))
        self._text: str | None = None
        self.calls, self._compiled, self.built = 0, None, False
        self.idle: list[Value] = []
        with self._constants_shown():
            order = _topological_order(root) if root._a is not None else []
            interpret = b.interpreter(order) if _COMPILE_AFTER else None
            if interpret is not None:
                self.run = self._first_tier(interpret)  # the text is written when needed
            else:
                self._build()
                self.compile()

    @contextlib.contextmanager
    def _constants_shown(self) -> Iterator[None]:
        """fn ran as it does untraced; while the program is made, the constant nodes show their inputs."""
        for out, *record in self._kept:
            out._rule, out._a, out._b, out._c, out._ctx = record
        try:
            yield
        finally:
            for out, *_ in self._kept:
                out._rule = out._a = out._b = out._c = out._ctx = None

    def _build(self) -> None:
        """Write the program's lines and the replay's text (on first need: `source`, or compiling)."""
        b, optimizer = self._builder, self.optimizer
        b.build()
        if optimizer is not None:
            self._add_update(b, optimizer, self.keep_grad)
        touched = {id(p) for _, p in b.params if id(p) in b.grad_of}
        self.idle = [p for p in (optimizer.params if optimizer is not None else []) if id(p) not in touched]
        self._replay = self._replay_text(b, self.idle, self.keep_grad)
        self.built = True

    def _written(self) -> None:
        if not self.built:
            with _collector_paused(), self._constants_shown():
                self._build()

    @property
    def builder(self) -> _Builder:
        """The program's lines, written on first use."""
        self._written()
        return self._builder

    @property
    def replay_text(self) -> str:
        """The replay's text: the lines' fast forms in one function (written on first use)."""
        self._written()
        return self._replay

    def compile(self) -> Callable[..., Any]:
        """Compile the straight-line replay now (else it is compiled on call `_COMPILE_AFTER` + 1)."""
        if self._compiled is None:
            with _collector_paused():
                self._compiled = self._compile(self.builder, self.replay_text)
        self.run = self._compiled
        return self._compiled

    def _first_tier(self, interpret: Callable[..., float]) -> Callable[..., float]:
        """The replay of the first calls: the engine's own ops and rules on the traced path (bitwise the
        compiled replay's results), with the same checks; compiling pays only for a program that is reused."""
        optimizer, keep_grad, signature = self.optimizer, self.keep_grad, self.signature
        count = len(self.arg_names)
        zero = list(optimizer.params) if optimizer is not None else []

        def run(*args: Any) -> float:
            if len(args) != count:
                raise TypeError(f"program: expected {count} argument(s), got {len(args)}")
            if _signature(args) != signature:
                raise _Retrace
            self.calls += 1
            if self.calls > _COMPILE_AFTER:
                return self.compile()(*args)
            value = interpret(args, zero)
            if optimizer is not None:
                optimizer.step()
                if not keep_grad:
                    for p in optimizer.params:
                        p.grad = None
            return value
        return run

    @staticmethod
    def _add_update(b: _Builder, optimizer: Any, keep_grad: bool) -> None:
        """Append SGD.step() for a plain SGD (eq. 20–21) as numpy lines; other settings call step(). Without
        `keep_grad`, a gradient the program alone holds becomes η∂C/∂w in place (no second array), as a
        hand-written step does; ∂C/∂w itself is then gone, so `.grad` is left None, as after zero_grad()."""
        names = {id(p): n for n, p in b.params}
        plain = not optimizer.momentum and not optimizer.weight_decay and all(
            type(p.data) is np.ndarray for p in optimizer.params)
        if not plain:
            b.ns["optimizer"] = optimizer
            b.add("optimizer.step()", "eq. 20–21 (SGD with momentum or weight decay: the optimizer's own step)",
                  "update")
            return
        for p in optimizer.params:
            n = names.get(id(p))
            if n is None or id(p) not in b.grad_of:
                continue
            g = b.grad_of[id(p)]
            if keep_grad or g not in b.owned:
                buf = b.fresh(f"eta_{g}")
                b.ns[buf] = np.empty_like(p.data)
            else:
                buf = g
            b.ns["_opt"] = optimizer
            b.add(f"{n} -= eta * {g}", "eq. 20–21: w → w − η ∂C/∂w" if n.startswith("w") else
                  "eq. 20–21: b → b − η ∂C/∂b" if n.startswith("b") else "eq. 20–21: gradient descent",
                  "update", f"np.multiply({g}, eta, out={buf}); {n} -= {buf}")

    @property
    def source(self) -> str:
        """The program's text, written on first use (a scalar graph's program has one line per op)."""
        if self._text is None:
            self._text = self._source(self.builder)
        return self._text

    @staticmethod
    def _source(b: _Builder) -> str:
        width = min(max(len(line.source) for line in b.lines), 60) + 2
        head = [f"# the program behind backward(): {len(b.lines)} lines, forward then backward, as traced",
                f"# inputs: {', '.join(b.arg_names) or '(none)'}; parameters: "
                f"{', '.join(n for n, _ in b.params) or '(none)'}"]
        out, phase = head, None
        for line in b.lines:
            if line.phase != phase:
                phase = line.phase
                out.append(f"# ---- {phase} ----")
            out.append(f"{line.source:<{width}}# {line.tag}")
        return "\n".join(out) + "\n"

    @staticmethod
    def _replay_text(b: _Builder, idle: list[Value], keep_grad: bool) -> str:
        """The replay as the text of one function: the lines' fast forms, with the error state set only around
        the exponentials that may overflow."""
        body = []
        guards = []
        for i, (name, a) in enumerate(zip(b.arg_names, b.args)):
            d = a.data if isinstance(a, Value) else a
            b.ns[f"_dtype{i}"] = d.dtype
            guards.append(f"type({name}) is not np.ndarray or {name}.shape != {d.shape!r} or "
                          f"{name}.dtype != _dtype{i}")
        if guards:
            body.append(f"if {' or '.join(guards)}: raise _Retrace")
            b.ns["_Retrace"] = _Retrace
        body += [f"{n} = _p_{n}.data; {b.grad_of[id(p)]} = {'None' if b.zeroed else f'_p_{n}.grad'}"
                 if id(p) in b.grad_of else f"{n} = _p_{n}.data" for n, p in b.params]
        body += [f"{n} = _c_{n}.data" for n, _ in b.constants]
        if "_opt" in b.ns:
            body.append("eta = _opt.lr  # read on each call: a schedule may change it")
        if b.reads_args:  # a generic op reads a cost's targets from the arguments of this call
            body.append(f"_builder.current = ({', '.join(b.arg_names)},)")
            b.ns["_builder"] = b
        if b.overflow and _extobj_contextvar is not None:
            body.append("_ign = _OVER[_cvget()]  # the caller's error state, with over='ignore'")
            b.ns.update(_OVER=_OVER, _cvget=_extobj_contextvar.get, _cvset=_extobj_contextvar.set,
                        _cvreset=_extobj_contextvar.reset)
        zero = [f"_p_{n}" for n, p in b.params if id(p) in b.grad_of] if b.zeroed else []
        for i, p in enumerate(idle):  # the optimizer's parameters the program does not touch: zero_grad too
            b.ns[f"_idle{i}"] = p
            zero.append(f"_idle{i}")
        backward = False
        for line in b.lines:
            if line.fast == "pass" or line.phase == "update":
                continue
            if zero and not backward and line.phase == "backward":  # zero_grad: the old gradients go first,
                body.append(" = ".join(f"{z}.grad" for z in zero) + " = None")  # so their memory is reused
                backward = True
            body += line.fast.split("\n")
        if zero and not backward:
            body.append(" = ".join(f"{z}.grad" for z in zero) + " = None")
        graded = [(f"_p_{n}.grad", b.grad_of[id(p)]) for n, p in b.params if id(p) in b.grad_of]
        stepper = "optimizer" in b.ns  # momentum or weight decay: the optimizer's own step reads .grad
        if keep_grad or stepper:
            body += [f"{attr} = {g}" for attr, g in graded]
        body += [part for line in b.lines if line.phase == "update" for part in line.fast.split("\n")]
        if not keep_grad and stepper and graded:  # without keep_grad, .grad is left None after the step
            body.append(" = ".join(attr for attr, _ in graded) + " = None")
        root = b.name(b.root)
        body.append(f"return {root}" if b.float_root else f"return {root} if type({root}) is float else float({root})")
        return f"def _replay({', '.join(b.arg_names)}):\n" + "\n".join("    " + line for line in body) + "\n"

    @staticmethod
    def _compile(b: _Builder, code: str) -> Callable[..., Any]:
        """The replay's text compiled (once per text in a process), with numpy's functions bound to names (a
        global lookup each, not two)."""
        cached = _CODE.get(code)
        if cached is None:  # the same program text (another network of the same shapes) compiles once
            bound: list[str] = []

            def bind(match: re.Match) -> str:
                bound.append(match.group(1))
                return "_np_" + match.group(1).replace(".", "_")
            text = re.sub(r"\bnp\.([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)", bind, code)
            # out= passed by position to these one- and two-input ufuncs: ~25 ns a call less to parse
            text = re.sub(r"(\b_np_(?:negative|exp|reciprocal|matmul|multiply|subtract)\([^()=]*), out=(\w+)\)",
                          r"\1, \2)", text)
            if len(_CODE) > 256:
                _CODE.clear()
            cached = _CODE[code] = (compile(text, "<traced program>", "exec"), text, tuple(dict.fromkeys(bound)))
        compiled, b.code, bound = cached
        ns = dict(b.ns)
        for name in bound:
            obj: Any = np
            for part in name.split("."):
                obj = getattr(obj, part)
            ns["_np_" + name.replace(".", "_")] = obj
        ns.update({f"_p_{n}": p for n, p in b.params})
        ns.update({f"_c_{n}": v for n, v in b.constants})
        exec(compiled, ns)
        return ns["_replay"]

    def namespace(self, args: tuple) -> dict[str, Any]:
        """The names `source` reads, bound to these arguments and the current parameters."""
        b = self.builder
        ns = dict(b.ns)
        ns.update(zip(b.arg_names, args))
        ns.update({n: p.data for n, p in b.params})
        ns.update({n: v.data for n, v in b.constants})
        if self.optimizer is not None:
            ns["eta"] = self.optimizer.lr
        return ns


_CODE: dict[str, Any] = {}  # program text → compiled code
_PROMOTE_AFTER = 50_000  # objects made while tracing, past which they go straight to the oldest generation
_COMPILE_AFTER = 8  # calls replayed by the engine's own ops before the straight-line replay is compiled
_FIRST_TIER_MAX_STAND_INS = 256  # a graph with more ops that need a stand-in is compiled at once (a stand-in costs
# ~3 µs a call: small beside an array op's numpy work, but twice the dynamic graph's time for a float op)


class _Retrace(Exception):
    """Raised by a replay given arguments of another signature than it was traced with."""


def _signature(args: tuple) -> tuple:
    return tuple((type(a), np.shape(a.data if isinstance(a, Value) else a),
                  getattr(a.data if isinstance(a, Value) else a, "dtype", None)) for a in args)


class Program:
    """A traced step: call it like `fn` to replay forward and backward (see `trace`); ``print`` shows it."""

    def __init__(self, fn: Callable[..., Value], example_args: tuple, optimizer: Any = None,
                 keep_grad: bool = True) -> None:
        if not isinstance(keep_grad, bool):
            raise TypeError(f"trace: keep_grad must be True or False, got {keep_grad!r}")
        if not keep_grad and optimizer is None:
            raise ValueError("trace: keep_grad=False needs optimizer= (it lets the update consume the gradients; "
                             "without an update the gradients are the program's result)")
        self.fn, self.optimizer, self.keep_grad = fn, optimizer, keep_grad
        code = getattr(fn, "__code__", None)
        if code is not None:
            names = list(code.co_varnames[:code.co_argcount])
        else:
            try:
                params = list(inspect.signature(fn).parameters.values())
            except (TypeError, ValueError):
                params = []
            names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        self._names = names
        self._programs: dict[tuple, _Compiled] = {}
        self._last = self._compiled(example_args)

    def _arg_names(self, n: int) -> list[str]:
        names = [nm if i < len(self._names) and _identifier(nm) == nm else f"arg{i}"
                 for i, nm in enumerate(self._names[:n])]
        return names + [f"arg{i}" for i in range(len(names), n)]

    def _compiled(self, args: tuple) -> _Compiled:
        for i, a in enumerate(args):
            if not isinstance(a, (np.ndarray, Value)):
                raise TypeError(f"trace: argument {i} is a {type(a).__name__}; pass arrays or Values (a number "
                                f"or a list would be frozen into the program as a constant: capture it in fn "
                                f"instead if that is what you mean)")
        key = _signature(args)
        program = self._programs.get(key)
        if program is None:
            with _collector_paused():
                program = self._programs[key] = _Compiled(self.fn, args, self._arg_names(len(args)),
                                                          self.optimizer, self.keep_grad)
        return program

    def __call__(self, *args: Any) -> float:
        """Replay on `args` (same shapes and dtypes as traced; others trace fn again): returns the value and
        leaves each parameter's `.grad` as ``fn(*args).backward()`` would (with ``optimizer=``: also steps)."""
        program = self._last
        try:  # the replay checks the arguments' types, shapes and dtypes first, and returns a float
            return program.run(*args)
        except _Retrace:
            if any(isinstance(a, Value) for a in args):  # Values: replay on their data
                data = tuple(a.data if isinstance(a, Value) else a for a in args)
                if program.signature == _signature(data):
                    return program.run(*data)
            self._last = self._compiled(args)
            return self(*args)
        except TypeError:
            if len(args) != len(program.arg_names):
                raise TypeError(f"program: expected {len(program.arg_names)} argument(s) "
                                f"({', '.join(program.arg_names)}), got {len(args)}") from None
            raise

    def compile(self) -> Program:
        """Compile the straight-line replay (of the signature last called) now. Without this, a program's first
        8 calls replay the traced path through the engine's own ops and rules (bitwise the same results), and
        the 9th compiles it, so a program used a few times never pays for compiling (~7 µs a line)."""
        self._last.compile()
        return self

    @property
    def compiled(self) -> bool:
        """Whether calls (of the signature last called) run the compiled straight-line replay."""
        return self._last._compiled is not None

    @property
    def source(self) -> str:
        """The step as straight-line Python/numpy (for the signature last called), forward then backward."""
        return self._last.source

    def namespace(self, *args: Any) -> dict[str, Any]:
        """What `source` reads (helpers, arguments, parameters), to ``exec(program.source, namespace)``."""
        return self._last.namespace(args)

    @property
    def lines(self) -> list[tuple[str, str, str]]:
        """(phase, code, tag) for each line: phase is 'forward', 'backward' or 'update'."""
        return [(line.phase, line.source, line.tag) for line in self._last.builder.lines]

    @property
    def parameters(self) -> list[tuple[str, Value, str | None]]:
        """(name in `source`, the parameter, its gradient's name in `source` or None) for each parameter."""
        b = self._last.builder
        return [(n, p, b.grad_of.get(id(p))) for n, p in b.params]

    @property
    def argument_names(self) -> list[str]:
        """The names of the arguments in `source` (fn's parameter names where they are identifiers)."""
        return list(self._last.arg_names)

    @property
    def root(self) -> Value:
        """The graph traced (for the last signature called): the program's backward lines are its rules, in
        the order ``backward()`` runs them (`viz.animate_backward(program)` steps through them)."""
        return self._last.root

    def __str__(self) -> str:
        return self.source

    def __repr__(self) -> str:
        b = self._last.builder
        return (f"Program({getattr(self.fn, '__name__', 'fn')}: {len(b.lines)} lines, "
                f"{len(self._programs)} signature(s))")


def trace(fn: Callable[..., Value], *example_args: Any, optimizer: Any = None, keep_grad: bool = True) -> Program:
    """Run ``fn(*example_args)`` once and return the `Program` that replays it with its backward pass.

    `fn` returns a one-element Value (a cost). ``program(*args)`` returns the value and leaves every parameter's
    ``.grad`` bitwise as ``fn(*args).backward()`` would. With ``optimizer=`` (an `SGD`), a call is a whole
    training step: zero_grad, forward, backward, and the update (eq. 20–21). ``keep_grad=False`` (with an
    optimizer) lets the update scale each gradient in place into η∂C/∂w, as a hand-written step does, instead of
    keeping ∂C/∂w and writing η∂C/∂w into a second array: the weights are bitwise the same, and `.grad` is left
    None, as after ``zero_grad()``. See the module docstring for what is fixed at trace time.
    """
    return Program(fn, example_args, optimizer, keep_grad)

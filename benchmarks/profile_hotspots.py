"""Where the time goes: a profile of the MLP step (config A, float64) and of the scalar-graph step.

    python benchmarks/profile_hotspots.py                 # all sections
    python benchmarks/profile_hotspots.py --quick         # fewer steps
    python benchmarks/profile_hotspots.py --lines         # also line_profiler on the engine's hot functions
    python benchmarks/profile_hotspots.py --malloc no-trim  # without glibc's trim/re-fault cost (see _timing.py)

MLP step ([784, 30, 10], m = 10, float64, as in mlp_step.py):
  1. phases measured inside real steps (perf_counter around each phase; the median over steps is robust to
     the scheduler's preemptions on a shared machine), with minor page faults per phase;
  2. each engine function against the bare numpy it wraps, in isolation (min over repeats of the
     per-call time): the difference is the engine's own overhead per call and per step;
  3. cProfile, ranked by own time (cProfile adds ~1 µs per Python call, so use it for ranking and call
     counts; the µs in 1–2 are the unprofiled truth);
  3b. a numpy-only replica of exactly the numpy calls the project's step makes (no Value, no checks in
     Python), timed in alternating blocks with mlp_step.py's lean step and the project: what part of the
     gap to the lean step is numpy work the engine's contract requires, and what part is the graph's Python.
Scalar graph (scalar_graph.py's step, 100 moons points, [2, 16, 16, 1]):
  4. phases per step (graph build = forward, zero_grad, backward, update) and the cyclic garbage
     collector's share (gc.callbacks: collections and ms per step, by generation);
  5. the per-node cost of the basic ops, and cProfile ranked by own time.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one BLAS thread, set before numpy is imported

import cProfile
import gc
import math
import pstats
import time
from collections.abc import Callable
from typing import Any

import _timing
import mlp_step
import numpy as np
import scalar_graph

from tinygrad_nn import Value, engine, nn, optim
from tinygrad_nn import backprop as closed_form

SIZES, M, DTYPE = [784, 30, 10], 10, np.float64
perf = time.perf_counter


def _ns(fn: Callable[[], Any]) -> str:
    """micro(fn) in ns, or 'n/a' when fn uses an engine helper this version does not have."""
    try:
        return f"{micro(fn) * 1e9:,.0f}"
    except AttributeError as exc:
        return f"n/a ({exc.name or exc})"


def micro(fn: Callable[[], Any], repeats: int = 7, target_s: float = 0.02) -> float:
    """Seconds per call of fn in isolation: min over `repeats` loops of ~target_s each (selected clock)."""
    n = _timing.calibrate([fn], target_s)
    best = float("inf")
    for _ in range(repeats):
        t0 = _timing.clock()
        for _ in range(n):
            fn()
        best = min(best, (_timing.clock() - t0) / n)
    return best


class Phases:
    """Per-step durations and minor page faults of named phases; medians over steps.

    `clock` is perf_counter for µs-long phases (cheap to read; the median over steps discards the steps
    the scheduler interrupted) or the selected benchmark clock (CPU time) for ms-long phases.
    With a GcClock, the time the garbage collector spent inside each phase is recorded too.
    """

    def __init__(self, clock: Callable[[], float] = perf, gc_clock: GcClock | None = None) -> None:
        self.times: dict[str, list[float]] = {}
        self.faults: dict[str, int] = {}
        self.gc: dict[str, float] = {}
        self.clock, self.gc_clock = clock, gc_clock
        self._name: str | None = None
        self._t = self._f = self._g = 0

    def _gc_seconds(self) -> float:
        return sum(self.gc_clock.seconds) if self.gc_clock is not None else 0.0

    def start(self, name: str) -> None:
        self._name, self._f, self._g, self._t = name, _timing.minor_faults(), self._gc_seconds(), self.clock()

    def stop(self) -> None:
        t, f, g = self.clock(), _timing.minor_faults(), self._gc_seconds()
        self.times.setdefault(self._name, []).append(t - self._t)
        self.faults[self._name] = self.faults.get(self._name, 0) + f - self._f
        self.gc[self._name] = self.gc.get(self._name, 0.0) + g - self._g

    def then(self, name: str) -> None:
        self.stop()
        self.start(name)

    def table(self, title: str) -> None:
        med = {k: _timing.median(v) for k, v in self.times.items()}
        total = sum(med.values())
        with_gc = self.gc_clock is not None
        rows = [[k, f"{v * 1e6:,.1f}", f"{v / total:.0%}", f"{self.faults[k] / len(self.times[k]):.1f}"]
                + ([f"{self.gc[k] / len(self.times[k]) * 1e6:,.0f}"] if with_gc else [])
                for k, v in med.items()]
        rows.append(["sum of medians", f"{total * 1e6:,.1f}", "100%", ""] + ([""] if with_gc else []))
        _timing.print_table(["phase", "µs/step (median)", "share", "faults/step"]
                            + (["of which gc µs/step (mean)"] if with_gc else []), rows, title=title)


# ---- 1. MLP step phases -----------------------------------------------------------------------------
def mlp_phases(steps: int) -> None:
    """The project's steps, then (separately, as in mlp_step.py's blocks) the hand-written ones."""
    batches = mlp_step.make_batches(SIZES, M, DTYPE)
    net = mlp_step.new_net(SIZES, DTYPE)
    ws, bs = mlp_step.copy_weights(net)
    opt = optim.SGD(net.parameters(), lr=mlp_step.LR)
    warmup = 200
    project, hand = Phases(), Phases()
    for i in range(steps + warmup):
        x, y = batches[i % len(batches)]
        p = project if i >= warmup else Phases()
        p.start("input: Value(x) wrap")
        xv = net._input(x)
        p.then("forward: 2 × (linear + sigmoid)")
        a = net(xv)
        p.then("quadratic_cost (integer labels)")
        c = nn.quadratic_cost(a, y)
        p.then("opt.zero_grad()")
        opt.zero_grad()
        p.then("c.backward()")
        c.backward()
        p.then("opt.step()")
        opt.step()
        p.stop()
    for i in range(steps + warmup):
        x, y = batches[i % len(batches)]
        h = hand if i >= warmup else Phases()
        h.start("backprop() (forward + BP1–BP4)")
        g = closed_form.backprop(ws, bs, x, y)
        h.then("in-place update")
        mlp_step.inplace_update(ws, bs, g, mlp_step.LR)
        h.stop()
    project.table(f"1. Project step phases, MLP({SIZES}) m={M} float64, median over {steps:,} steps")
    hand.table("   Hand-written step (closed form), same batches, run after the project's steps")


# ---- 2. engine functions against the numpy they wrap ---------------------------------------------------
def mlp_overheads() -> None:
    (x, y), = mlp_step.make_batches(SIZES, M, DTYPE, count=1)
    net = mlp_step.new_net(SIZES, DTYPE)
    opt = optim.SGD(net.parameters(), lr=mlp_step.LR)
    (W1, b1), (W2, b2) = [(layer.weight, layer.bias) for layer in net.layers]
    xv = Value(x, requires_grad=False)
    z1 = engine.linear(xv, W1, b1)
    a1 = z1.sigmoid()
    z2 = engine.linear(a1, W2, b2)
    a2 = z2.sigmoid()
    onehot = np.zeros((M, SIZES[-1]))
    onehot[np.arange(M), y] = 1.0
    c = nn.quadratic_cost(a2, y)
    buf = [np.empty_like(p.data) for p in opt.params]

    def raw_linear(X: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
        z = X @ W.T
        z += b
        return z

    def raw_cost() -> float:
        t = np.zeros((M, SIZES[-1]))
        t[np.arange(M), y] = 1.0
        d = a2.data - t
        return 0.5 / M * float(np.vdot(d, d))

    def raw_backward() -> None:  # the same numpy work as c.backward() for this graph, inline
        d = (a2.data - onehot) * (1.0 / M)
        d = d * a2.data * (1.0 - a2.data)
        d.sum(axis=0), d.T @ a1.data
        d = d @ W2.data
        d = d * a1.data * (1.0 - a1.data)
        d.sum(axis=0), d.T @ x

    def zero_backward() -> None:
        opt.zero_grad()
        c.backward()

    c.backward()
    grads = [p.grad.copy() for p in opt.params]

    def raw_update() -> None:
        for p, g, bf in zip(opt.params, grads, buf):
            np.multiply(g, -opt.lr, out=bf)
            p.data += bf

    def with_errstate() -> None:
        with np.errstate(over="ignore"):
            pass

    items = [  # (what, engine call, raw numpy call or None, calls per step)
        ("MLP._input: Value(x, requires_grad=False)", lambda: net._input(x), None, 1),
        ("linear layer 1 (10×784 → 30)", lambda: engine.linear(xv, W1, b1), lambda: raw_linear(x, W1.data, b1.data), 1),
        ("linear layer 2 (10×30 → 10)", lambda: engine.linear(a1, W2, b2), lambda: raw_linear(a1.data, W2.data, b2.data), 1),
        ("sigmoid node (10×30)", lambda: z1.sigmoid(), lambda: 1.0 / (1.0 + np.exp(-z1.data)), 2),
        ("  of which np.errstate(over='ignore') block", with_errstate, None, 2),
        ("  closed form's stable σ, for comparison", lambda: closed_form.sigmoid(z1.data), None, 0),
        ("quadratic_cost, integer labels", lambda: nn.quadratic_cost(a2, y), raw_cost, 1),
        ("  of which nn._targets (labels → one-hot)", lambda: nn._targets(a2, y, "quadratic_cost"), None, 1),
        ("quadratic_cost, one-hot float targets", lambda: nn.quadratic_cost(a2, onehot), None, 0),
        ("opt.zero_grad + c.backward()", zero_backward, raw_backward, 1),
        ("  of which _topological_order (6 nodes)", lambda: engine._topological_order(c), None, 1),
        ("opt.step() (4 params)", opt.step, raw_update, 1),
        ("opt.zero_grad()", opt.zero_grad, None, 1),
        ("_node (one output node)", lambda: engine._node(z1.data, engine.Value._sigmoid_rule, z1), None, 5),
    ]
    rows = []
    total_overhead = 0.0
    for what, fn, raw, per_step in items:
        try:
            t = micro(fn)
        except AttributeError as exc:  # a private helper this version of the engine no longer has
            rows.append([what, f"n/a ({exc.name or exc})", "-", "-", "-", "-"])
            continue
        r = micro(raw) if raw is not None else 0.0
        over = t - r
        if per_step and raw is not None:
            total_overhead += over * per_step
        rows.append([what, f"{t * 1e6:.2f}", f"{r * 1e6:.2f}" if raw is not None else "-",
                     f"{over * 1e6:+.2f}" if raw is not None else "-", per_step or "-",
                     f"{over * per_step * 1e6:+.2f}" if raw is not None and per_step else "-"])
    _timing.print_table(["what", "engine µs/call", "raw numpy µs", "overhead µs/call", "calls/step",
                         "overhead µs/step"], rows,
                        title="2. Engine functions vs the bare numpy they wrap (isolated, min of 7 loops)")
    print(f"sum of the measured overheads per step: {total_overhead * 1e6:+.1f} µs "
          f"(raw update = np.multiply(g, -lr, out=buffer); p.data += buffer: no temporary)")


# ---- 3 and 5. cProfile --------------------------------------------------------------------------------
def cprofile_table(fn: Callable[[], Any], steps: int, title: str, top: int = 20) -> None:
    fn()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(steps):
        fn()
    prof.disable()
    stats = pstats.Stats(prof).stats  # {(file, line, func): (cc, nc, tottime, cumtime, callers)}
    total = sum(v[2] for v in stats.values())
    ranked = sorted(stats.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    rows = []
    for (file, line, func), (cc, nc, tt, ct, _) in ranked:
        where = f"{os.path.basename(file)}:{line}({func})" if line else func
        rows.append([where, f"{nc / steps:g}", f"{tt / steps * 1e6:,.1f}", f"{tt / total:.1%}",
                     f"{tt / nc * 1e6:.2f}", f"{ct / steps * 1e6:,.1f}"])
    _timing.print_table(["function (own time)", "calls/step", "own µs/step", "% of own", "own µs/call",
                         "cum µs/step"], rows, title=f"{title} — cProfile over {steps:,} steps, "
                                                     f"{total / steps * 1e6:,.0f} µs/step profiled")


def mlp_cprofile(steps: int) -> None:
    batches = mlp_step.make_batches(SIZES, M, DTYPE)
    fn = mlp_step.cycling(mlp_step.project_step(mlp_step.new_net(SIZES, DTYPE)), batches)
    cprofile_table(fn, steps, f"3. Project step, MLP({SIZES}) m={M} float64")


# ---- 3b. the project's numpy calls without the graph -------------------------------------------------
def replica_step(ws: list[np.ndarray], bs: list[np.ndarray], lr: float = mlp_step.LR) -> Callable[..., None]:
    """The numpy calls of the project's step for sigmoid layers and the quadratic cost, in the same order and
    with the same temporaries (σ into a new array, ∂C/∂a kept, η∇C through a scratch buffer), and nothing else."""
    buffers = [np.empty_like(p) for p in ws + bs]
    eye = np.eye(ws[-1].shape[0], dtype=ws[0].dtype)

    def sigmoid(z: np.ndarray) -> np.ndarray:
        e = np.negative(z)
        with np.errstate(over="ignore"):
            np.exp(e, out=e)
        e += 1.0
        return np.reciprocal(e, out=e)

    def step(x: np.ndarray, y: np.ndarray) -> None:
        m = x.shape[0]
        activations = [x]
        for l, (w, b) in enumerate(zip(ws, bs)):
            z = activations[-1] @ w.T
            z += b
            if l == 0:
                math.isfinite(z[..., 0].sum())               # the input's NaN/inf check
            activations.append(sigmoid(z))
        a = activations[-1]
        np.minimum.reduce(y, axis=None)                      # labels checked, then one-hot
        diff = a - eye.take(y, axis=0)
        float(np.vdot(diff, diff))                           # the cost's value
        g = diff * (1.0 / m)                                 # ∂C/∂a
        grads = []
        for l in range(len(ws) - 1, -1, -1):
            s = activations[l + 1]
            d = np.subtract(1.0, s)                          # σ′ rule: (g ⊙ s) ⊙ (1 − s)
            d *= g * s
            grads.append((l, d.T @ activations[l], d.sum(axis=0)))
            if l:
                g = d @ ws[l]
        for l, nabla_w, nabla_b in grads:
            for p, nabla, buf in ((ws[l], nabla_w, buffers[l]), (bs[l], nabla_b, buffers[len(ws) + l])):
                np.multiply(nabla, lr, out=buf)
                p -= buf
    return step


def mlp_replica(blocks: int, seconds: float) -> None:
    batches = mlp_step.make_batches(SIZES, M, DTYPE)
    net, replica = mlp_step.new_net(SIZES, DTYPE), mlp_step.copy_weights(mlp_step.new_net(SIZES, DTYPE))
    mlp_step.project_step(net)(*batches[0])
    replica_step(*replica)(*batches[0])
    (ws, bs), (rws, rbs) = mlp_step.copy_weights(net), replica
    same = all(np.allclose(p, q, rtol=1e-10, atol=1e-12) for p, q in zip(ws + bs, rws + rbs))
    candidates = {"lean": mlp_step.cycling(mlp_step.lean_step(*mlp_step.copy_weights(net)), batches),
                  "numpy replica": mlp_step.cycling(replica_step(*mlp_step.copy_weights(net)), batches),
                  "project": mlp_step.cycling(mlp_step.project_step(net), batches)}
    res = _timing.paired_blocks(candidates, blocks, _timing.calibrate(list(candidates.values()), seconds))
    rows = [[name, _timing.fmt_us(res.median(name)), _timing.fmt_ratio(res.ratio(name, "lean"))] for name in candidates]
    _timing.print_table(["step", "µs/step", "ratio to lean"], rows,
                        title=f"\n3b. The project's numpy calls without the graph, MLP({SIZES}) m={M} float64 "
                              f"({blocks} alternating blocks)")
    print(f"   same result as the project after one step: {'yes' if same else 'NO'}")


# ---- 4. scalar graph: phases and the garbage collector -------------------------------------------------
class GcClock:
    """Time spent in the cyclic garbage collector, by generation, through gc.callbacks (selected clock)."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.count = [0, 0, 0]
        self._t = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t = _timing.clock()
        else:
            gen = info["generation"]
            self.seconds[gen] += _timing.clock() - self._t
            self.count[gen] += 1

    def __enter__(self) -> GcClock:  # noqa: PYI034 (typing.Self needs Python 3.11)
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


def scalar_phases(steps: int) -> None:
    X, y = scalar_graph.make_moons()
    net = scalar_graph.project_model()
    params = net.parameters()
    opt = optim.SGD(params, lr=1.0)
    score = lambda x: net(x)[0]
    scalar_graph.svm_loss(score, params, X, y).backward()  # warm-up
    gc.collect()
    with GcClock() as gcc:
        phases = Phases(_timing.clock, gcc)
        for k in range(steps):
            phases.start("forward: build the loss graph")
            loss = scalar_graph.svm_loss(score, params, X, y)
            phases.then("opt.zero_grad()")
            opt.zero_grad()
            phases.then("loss.backward()")
            loss.backward()
            phases.then("opt.step() (337 scalar params)")
            opt.lr = scalar_graph.lr_at(k)
            opt.step()
            phases.then("drop the graph (del loss)")
            del loss
            phases.stop()
    nodes = scalar_graph.count_nodes(scalar_graph.svm_loss(score, params, X, y), scalar_graph.project_children)
    phases.table(f"4. Project scalar step phases ({nodes:,} graph nodes), median over {steps} steps, gc enabled")
    rows = [[f"generation {g}", f"{gcc.count[g] / steps:.1f}", f"{gcc.seconds[g] / steps * 1e3:.2f}",
             f"{gcc.seconds[g] / max(1, gcc.count[g]) * 1e3:.3f}"] for g in range(3)]
    rows.append(["all", f"{sum(gcc.count) / steps:.1f}", f"{sum(gcc.seconds) / steps * 1e3:.2f}", ""])
    _timing.print_table(["gc collections", "per step", "ms/step", "ms/collection"], rows,
                        title="   The cyclic garbage collector during those steps (gc.callbacks)")
    total = sum(_timing.median(v) for v in phases.times.values())
    print(f"   gc ≈ {sum(gcc.seconds) / steps / total:.0%} of the step (mean gc time / sum of median phases)")
    loss = scalar_graph.svm_loss(score, params, X, y)
    topo = micro(lambda: engine._topological_order(loss), repeats=3, target_s=0.1)
    gc.disable()
    try:
        topo_off = micro(lambda: engine._topological_order(loss), repeats=3, target_s=0.1)
    finally:
        gc.enable()
    print(f"   backward's _topological_order alone on this graph: {topo * 1e3:.2f} ms "
          f"({topo_off * 1e3:.2f} ms with gc disabled)")


def scalar_op_costs() -> None:
    a, b = Value(0.3), Value(-0.7)
    const = Value(2.0, requires_grad=False)
    c = a * b + a
    c0 = a * b

    def backward_3() -> None:
        a.grad = b.grad = None
        c.backward()

    x = 2.0
    items = [("Value(1.0) leaf", lambda: Value(1.0)),
             ("engine._lift(a) (already a Value)", lambda: engine._lift(a)),
             ("engine._lift(2.0) (wraps a float)", lambda: engine._lift(x)),
             ("engine._node(0.6, _mul_rule, a, b)", lambda: engine._node(0.6, engine.Value._mul_rule, a, b)),
             ("engine._accumulate(a, 1.0)", lambda: engine._accumulate(a, 1.0)),
             ("engine.Value._mul_rule(c0, 1.0) (c0 = a*b)", lambda: engine.Value._mul_rule(c0, 1.0)),
             ("Value(1.0, requires_grad=False)", lambda: Value(1.0, requires_grad=False)),
             ("a + b (Value + Value)", lambda: a + b),
             ("a * b", lambda: a * b),
             ("a * 2.0 (float lifted to a constant Value)", lambda: a * 2.0),
             ("2.0 * a (__rmul__: lift, then __mul__)", lambda: 2.0 * a),
             ("a * const (a constant Value)", lambda: a * const),
             ("a.relu()", lambda: a.relu()),
             ("-a", lambda: -a),
             ("1 + a (__radd__ of an int)", lambda: 1 + a),
             ("backward of a*b + a (2 op nodes)", backward_3),
             ("_topological_order of a*b + a", lambda: engine._topological_order(c))]
    rows = [[what, _ns(fn)] for what, fn in items]
    _timing.print_table(["scalar op (float data)", "ns/call"], rows,
                        title="5. Scalar ops in isolation (min of 7 loops, gc enabled)")


def scalar_cprofile(steps: int) -> None:
    X, y = scalar_graph.make_moons()
    cprofile_table(scalar_graph.project_step(scalar_graph.project_model(), X, y), steps,
                   "5. Project scalar step (100 moons points)")


def line_profile(steps: int) -> None:
    try:
        from line_profiler import LineProfiler
    except ImportError:
        print("\n--lines: line_profiler is not installed (pip install line_profiler)")
        return
    batches = mlp_step.make_batches(SIZES, M, DTYPE)
    fn = mlp_step.cycling(mlp_step.project_step(mlp_step.new_net(SIZES, DTYPE)), batches)
    names = [(engine, "linear"), (engine, "_linear_rule"), (engine.Value, "backward"), (engine, "_accumulate"),
             (engine, "_topological_order"), (engine, "_sigmoid"), (engine.Value, "_sigmoid_rule"),
             (nn, "quadratic_cost"), (nn, "_quadratic_rule"), (nn, "_targets"), (optim.SGD, "step"),
             (nn.MLP, "feedforward"), (nn.MLP, "_input")]
    lp = LineProfiler(*[getattr(owner, name) for owner, name in names if hasattr(owner, name)])
    lp.enable_by_count()
    try:
        for _ in range(steps):
            fn()
    finally:
        lp.disable_by_count()
    print(f"\nline_profiler over {steps:,} project steps (config A float64; times include its own overhead):")
    lp.print_stats(output_unit=1e-6, stripzeros=True)


def main() -> None:
    parser = _timing.base_parser(__doc__)
    parser.add_argument("--lines", action="store_true", help="also run line_profiler on the hot engine functions")
    args = parser.parse_args()
    blocks, seconds = _timing.block_settings(args)  # also the clock and malloc mode
    _timing.print_environment()
    steps, scalar_steps = (1000, 5) if args.quick else (5000, 20)
    mlp_phases(steps)
    mlp_overheads()
    mlp_cprofile(steps)
    mlp_replica(blocks, seconds)
    scalar_phases(scalar_steps)
    scalar_op_costs()
    scalar_cprofile(max(3, scalar_steps // 4))
    if args.lines:
        line_profile(steps)


if __name__ == "__main__":
    main()

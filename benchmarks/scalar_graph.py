"""The scalar engine against micrograd, at the scale of micrograd's "moons" demo.

    python benchmarks/scalar_graph.py            # 7 alternating blocks of ~0.25 s per side
    python benchmarks/scalar_graph.py --quick    # 3 blocks of ~0.05 s
    python benchmarks/scalar_graph.py --before 59859b0   # also the engine as it was at that git revision

Network: [2, 16, 16, 1] with ReLU hidden layers and a linear output, one scalar Value per weight —
`tinygrad_nn.nn.ScalarMLP(..., activation="relu", output_activation="identity")` against
`micrograd.nn.MLP(2, [16, 16, 1])`, with micrograd's weights overwritten by the project's so both compute
the same numbers. Data: 100 two-moons points (numpy, noise 0.1, fixed seed), labels ±1, given to both
as plain Python floats. One step is exactly micrograd's demo loop, run by the same function for both:

    scores = [model(x) for x in X]
    loss   = mean(relu(1 − y·score)) + 1e-4 · Σ p²        (SVM max-margin loss + L2)
    zero_grad; loss.backward(); p.data −= lr · p.grad       (lr = 1 − 0.9·k/100, as in the demo)

The project's update is `optim.SGD.step()` (with `lr` set each step), micrograd's the demo's loop.
"traced" is the project's step traced once (`tinygrad_nn.trace(loss, optimizer=opt)`; the data are constants
captured by the loss) and replayed as straight-line Python on floats: the same numbers bitwise (checked);
printed: the time to trace it and to compile its replay (which its 9th call would do; done at once here), in
project steps, and a first-tier step (its first 8 calls: float ops replayed by their own lines) against a
project step; both tiers are checked bitwise.
gc stays enabled (micrograd's graph is full of reference cycles; collecting them is part of its cost);
an untimed gc.collect() runs before each block. Printed: ms per step for each, the ratio
project / micrograd (target ≤ 0.1), the graph's node count per step and ns per node;
then, as a diagnostic, the same with gc disabled, and the share of each engine's step spent in gc.
micrograd is the `bench` extra (`pip install micrograd==0.1.0`); without it only the project runs.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one BLAS thread, set before numpy is imported

import gc
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import _timing
import numpy as np

import tinygrad_nn
from tinygrad_nn import nn

try:
    import micrograd.engine
    import micrograd.nn
except ImportError:  # the optional `bench` extra
    micrograd = None

SIZES = [2, 16, 16, 1]
N_POINTS = 100
ALPHA = 1e-4
SEED = 0


def make_moons(n: int = N_POINTS, noise: float = 0.1, seed: int = SEED) -> tuple[list[list[float]], list[float]]:
    """sklearn's make_moons in numpy: two interleaved half circles, labels −1 / +1, as Python floats."""
    rng = np.random.default_rng(seed)
    n_out = n // 2
    n_in = n - n_out
    t_out, t_in = np.linspace(0, np.pi, n_out), np.linspace(0, np.pi, n_in)
    x = np.vstack([np.c_[np.cos(t_out), np.sin(t_out)], np.c_[1 - np.cos(t_in), 0.5 - np.sin(t_in)]])
    x += noise * rng.standard_normal(x.shape)
    y = np.r_[-np.ones(n_out), np.ones(n_in)]
    return x.tolist(), y.tolist()


def svm_loss(score: Callable[[Sequence[float]], Any], params: Sequence[Any], X: Sequence, y: Sequence[float]) -> Any:
    """micrograd's demo loss, written once for either engine: mean hinge loss + α Σ p²."""
    scores = [score(x) for x in X]
    losses = [(1 + -yi * s).relu() for yi, s in zip(y, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = ALPHA * sum(p * p for p in params)
    return data_loss + reg_loss


def lr_at(k: int) -> float:
    return 1.0 - 0.9 * (k % 100) / 100


def project_model(package: Any = None) -> nn.ScalarMLP:
    return (package or tinygrad_nn).nn.ScalarMLP(SIZES, activation="relu", output_activation="identity", seed=SEED)


def micrograd_model(like: nn.ScalarMLP) -> Any:
    """micrograd's MLP with the project's weights and biases copied in (same numbers, same sums)."""
    model = micrograd.nn.MLP(SIZES[0], SIZES[1:])
    for layer, mg_layer in zip(like.layers, model.layers):
        for neuron, mg_neuron in zip(layer.neurons, mg_layer.neurons):
            for w, mg_w in zip(neuron.weights, mg_neuron.w):
                mg_w.data = w.data
            mg_neuron.b.data = neuron.bias.data
    return model


def project_step(net: nn.ScalarMLP, X: list, y: list, package: Any = None) -> Callable[[], Any]:
    params = net.parameters()
    opt = (package or tinygrad_nn).optim.SGD(params, lr=1.0)
    score = lambda x: net(x)[0]
    k = 0

    def step() -> Any:
        nonlocal k
        loss = svm_loss(score, params, X, y)
        opt.zero_grad()
        loss.backward()
        opt.lr = lr_at(k)
        opt.step()
        k += 1
        return loss
    return step


def traced_step(net: nn.ScalarMLP, X: list, y: list) -> Callable[[], Any]:
    """The project's step traced once, then replayed (η set before each call, as project_step sets it)."""
    params = net.parameters()
    opt = tinygrad_nn.optim.SGD(params, lr=1.0)
    score = lambda x: net(x)[0]
    program = tinygrad_nn.trace(lambda: svm_loss(score, params, X, y), optimizer=opt)
    k = 0

    def step() -> Any:
        nonlocal k
        opt.lr = lr_at(k)
        loss = program()
        k += 1
        return loss
    step.program = program  # type: ignore[attr-defined]
    return step


def micrograd_step(model: Any, X: list, y: list) -> Callable[[], Any]:
    params = model.parameters()
    k = 0

    def step() -> Any:
        nonlocal k
        loss = svm_loss(model, params, X, y)
        model.zero_grad()
        loss.backward()
        lr = lr_at(k)
        for p in params:
            p.data -= lr * p.grad
        k += 1
        return loss
    return step


def count_nodes(root: Any, children: Callable[[Any], Iterable[Any]]) -> int:
    """Distinct nodes reachable from `root` (iterative DFS)."""
    seen, stack = {id(root)}, [root]
    while stack:
        for c in children(stack.pop()):
            if c is not None and id(c) not in seen:
                seen.add(id(c))
                stack.append(c)
    return len(seen)


def project_children(v: Any) -> tuple:
    return (v._a, v._b, v._c)


def micrograd_children(v: Any) -> Iterable[Any]:
    return v._prev


def main() -> None:
    parser = _timing.base_parser(__doc__)
    parser.add_argument("--before", metavar="REV", default=None,
                        help="also time tinygrad_nn as it was at this git revision, in the same blocks")
    args = parser.parse_args()
    blocks, seconds = _timing.block_settings(args)
    before = _timing.load_revision(args.before) if args.before else None
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))  # micrograd's backward recurses
    _timing.print_environment()
    X, y = make_moons()

    net = project_model()
    candidates = {"project": project_step(net, X, y)}
    loss = candidates["project"]()
    nodes = {"project": count_nodes(loss, project_children)}
    grad_nodes = count_nodes(loss, lambda v: [p for p in project_children(v) if p is not None and p.requires_grad])
    import time
    laps = []
    for _ in range(3):  # a project step, for the unit of the costs below: the fastest of three
        t0 = time.perf_counter()
        candidates["project"]()
        laps.append(time.perf_counter() - t0)
    t1 = time.perf_counter()
    traced_net, check_net = project_model(), project_model()
    candidates["traced"] = traced_step(traced_net, X, y)
    t2 = time.perf_counter()
    program = candidates["traced"].program
    first_tier = not program.compiled  # its first calls replay without compiling (unless it has many stand-ins)
    l_traced = candidates["traced"]()  # call 1: the first tier
    t3 = time.perf_counter()
    check = project_step(check_net, X, y)
    l_check = check().data
    t4 = time.perf_counter()
    program.compile()  # else done on its 9th call: timed here, not inside a block
    t5 = time.perf_counter()
    nodes["traced"] = nodes["project"]
    l_again, l_check_again = candidates["traced"](), check().data  # call 2: compiled
    bitwise = l_traced == l_check and l_again == l_check_again and all(
        p.data == q.data for p, q in zip(traced_net.parameters(), check_net.parameters()))
    step = min(laps)
    print(f"traced: the same losses and weights after a first-tier step and a compiled one, bitwise: "
          f"{'yes' if bitwise else 'NO'}; tracing took {t2 - t1:.2f} s = {(t2 - t1) / step:.1f} project steps; "
          + (f"a first-tier step {(t3 - t2) * 1e3:.0f} ms = {(t3 - t2) / step:.2f} × a project step; "
             if first_tier else "(compiled when traced); ")
          + f"compiling its {len(program.lines):,} lines {t5 - t4:.2f} s = {(t5 - t4) / step:.1f} project steps")
    if micrograd is None:
        print("\nmicrograd is not installed (pip install micrograd==0.1.0, the `bench` extra): "
              "timing the project only, no ratio.")
    else:
        # one step of each from the same weights: same loss, same updated weights
        fresh = project_model()
        model = micrograd_model(fresh)
        l_project, l_micro = project_step(fresh, X, y)(), micrograd_step(model, X, y)()
        same = np.isclose(l_project.data, l_micro.data, rtol=1e-12) and np.allclose(
            [p.data for p in fresh.parameters()], [p.data for p in model.parameters()], rtol=1e-10, atol=1e-12)
        print(f"same result: {'yes' if same else 'NO'}  (loss {l_project.data:.12g} vs {l_micro.data:.12g}; "
              f"all {len(model.parameters())} weights after one step)")
        candidates["micrograd"] = micrograd_step(micrograd_model(net), X, y)
        nodes["micrograd"] = count_nodes(candidates["micrograd"](), micrograd_children)
    if before is not None:
        print(f"before: tinygrad_nn at git revision {args.before}")
        candidates["before"] = project_step(project_model(before), X, y, package=before)
        nodes["before"] = count_nodes(candidates["before"](), project_children)

    n = _timing.calibrate(list(candidates.values()), seconds)
    print(f"{blocks} alternating blocks of {n} steps per side; ms = median over blocks of ms/step")
    title = f"Scalar {SIZES} ReLU MLP, {N_POINTS} points: forward + backward + update"
    res = _timing.paired_blocks(candidates, blocks, n)
    _report(res, nodes, title + " (gc enabled: what users get)")
    print(f"(project: {grad_nodes:,} of its {nodes['project']:,} nodes need a gradient; constants that enter "
          f"an op are nodes too)")
    if "micrograd" in candidates:
        print("ratio project/micrograd: " + _timing.verdict(res.ratio("project", "micrograd")[0], 0.1))
    if before is not None:
        print(f"ratio project/before: {_timing.fmt_ratio(res.ratio('project', 'before'))}")
    # diagnostic: how much of each engine's time is the cyclic garbage collector
    gc.disable()
    try:
        off = _timing.paired_blocks(candidates, blocks, max(1, n))
    finally:
        gc.enable()
    _report(off, nodes, "Diagnostic, gc disabled (the engines' own work, without the cyclic collector)")
    for name in candidates:
        share = 1 - off.median(name) / res.median(name)
        print(f"{name}: the garbage collector is {share:.0%} of its step time with gc enabled")


def _report(res: _timing.BlockResult, nodes: dict, title: str) -> None:
    rows = []
    for name in res.names:
        t = res.median(name)
        rows.append([name, f"{t * 1e3:.2f}", f"{nodes[name]:,}", f"{t / nodes[name] * 1e9:.0f}",
                     _timing.fmt_ratio(res.ratio(name, "micrograd")) if "micrograd" in res.names else "-"])
    _timing.print_table(["engine", "ms/step", "graph nodes/step", "ns/node", "ratio to micrograd"], rows,
                        title=title)


if __name__ == "__main__":
    main()

"""How the engine scales: deep scalar chains (time and memory per node) and the MLP step across batch sizes.

    python benchmarks/scaling.py            # chains of 1e3 … 1e6 nodes, 5 rounds; batch sizes 1 … 1024
    python benchmarks/scaling.py --quick    # 2 rounds, fewer repetitions, memory up to 2.5e5 nodes

Part 1 — deep chains of scalar Values, n op nodes each:
    add   x = Value(1.0); v = Value(0.0); n times: v = v + x     (x is one shared leaf: x.grad = n)
    tanh  v = Value(0.5); n times: v = v.tanh()                   (a chain of n unary ops)
For each n: the time to build the chain (forward), the time of root.backward(), and the time to free the
graph (`del`), each per node; the ratio of (build + backward) per node to that at n = 1e3, measured in
the same round (target at 2.5e5: ≤ 1.3); the same total with gc disabled, as a diagnostic; and the
memory held per node (tracemalloc, in a separate untimed pass): after building (target ≤ 150 bytes), after
backward (every node keeps its grad), and the peak during backward (the topological order and its
bookkeeping). Sizes are interleaved round by round (alternating direction), medians over rounds.
The 1e6-deep chains back-propagate and their gradients are printed and checked.

Part 2 — one SGD step of nn.MLP([784, 30, 10]) in float64 for m = 1, 4, 16, 64, 256, 1024, against the
hand-written closed form, as in mlp_step.py (paired alternating blocks, same weights and batches).
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one BLAS thread, set before numpy is imported

import gc
import math
import tracemalloc
from collections.abc import Callable

import _timing
import mlp_step
import numpy as np

from tinygrad_nn import Value

SIZES = [1_000, 10_000, 100_000, 250_000, 1_000_000]
BATCH_SIZES = [1, 4, 16, 64, 256, 1024]
MLP_SIZES = [784, 30, 10]


# ---- the chains ------------------------------------------------------------------------------------
def add_chain(n: int) -> tuple[Value, dict[str, Value]]:
    """v = v + x, n times, x one shared leaf."""
    x, v0 = Value(1.0), Value(0.0)
    v = v0
    for _ in range(n):
        v = v + x
    return v, {"x": x, "v0": v0}


def tanh_chain(n: int) -> tuple[Value, dict[str, Value]]:
    """v = tanh(v), n times."""
    v0 = Value(0.5)
    v = v0
    for _ in range(n):
        v = v.tanh()
    return v, {"v0": v0}


CHAINS: dict[str, Callable[[int], tuple[Value, dict[str, Value]]]] = {"v = v + x": add_chain,
                                                                       "v = v.tanh()": tanh_chain}


def time_once(build: Callable, n: int) -> tuple[float, float, float]:
    """(build, backward, free) seconds for one chain of n nodes (the selected clock, gc as it is)."""
    clock = _timing.clock
    t0 = clock()
    root, leaves = build(n)
    t1 = clock()
    root.backward()
    t2 = clock()
    del root, leaves
    t3 = clock()
    return t1 - t0, t2 - t1, t3 - t2


def time_chains(build: Callable, sizes: list[int], rounds: int, nodes_per_rep: int) -> dict[int, dict[str, list]]:
    """Per size: per-round medians (per node) of build, backward, free, their gc-off total, and the ratio."""
    out = {n: {"build": [], "backward": [], "free": [], "total_gc_off": [], "ratio": []} for n in sizes}
    for r in range(rounds):
        order = sizes if r % 2 == 0 else sizes[::-1]
        for n in order:
            reps = max(1, nodes_per_rep // n)
            gc.collect()
            runs = [time_once(build, n) for _ in range(reps)]
            for key, i in (("build", 0), ("backward", 1), ("free", 2)):
                out[n][key].append(_timing.median([run[i] for run in runs]) / n)
            gc.collect()
            gc.disable()
            try:
                off = [time_once(build, n) for _ in range(reps)]
            finally:
                gc.enable()
            out[n]["total_gc_off"].append(_timing.median([b + bw for b, bw, _ in off]) / n)
        base = sizes[0]
        for n in sizes:
            total = out[n]["build"][-1] + out[n]["backward"][-1]
            out[n]["ratio"].append(total / (out[base]["build"][-1] + out[base]["backward"][-1]))
    return out


def memory_per_node(build: Callable, n: int) -> tuple[float, float, float]:
    """Bytes per node: held after building, held after backward, peak during backward (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        root, leaves = build(n)
        held = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.reset_peak()
        root.backward()
        current, peak = tracemalloc.get_traced_memory()
        del root, leaves
    finally:
        tracemalloc.stop()
    return held / n, (current - base) / n, (peak - base) / n


def check_deep(n: int) -> None:
    """Back-propagate through both n-deep chains and print (and check) the gradients."""
    root, leaves = add_chain(n)
    root.backward()
    ok = leaves["x"].grad == float(n) and leaves["v0"].grad == 1.0
    print(f"add chain of {n:,} nodes: value {root.data:,.0f}, x.grad = {leaves['x'].grad:,.0f} (expected {n:,}), "
          f"v0.grad = {leaves['v0'].grad} — {'ok' if ok else 'WRONG'}")
    del root, leaves
    root, leaves = tanh_chain(n)
    root.backward()
    t, expected = 0.5, 1.0  # the chain rule by hand: Π (1 − tanh(vᵢ)²)
    for _ in range(n):
        t = math.tanh(t)
        expected *= 1.0 - t * t
    got = leaves["v0"].grad
    print(f"tanh chain of {n:,} nodes: value {root.data:.6g}, v0.grad = {got:.9g} (chain rule by hand "
          f"{expected:.9g}) — {'ok' if math.isclose(got, expected, rel_tol=1e-9) else 'WRONG'}")


# ---- report ----------------------------------------------------------------------------------------
def report_chains(quick: bool) -> None:
    rounds, nodes_per_rep = (2, 50_000) if quick else (5, 250_000)
    mem_sizes = [n for n in SIZES if not quick or n <= 250_000]
    print(f"\nDeep chains: {rounds} rounds; per round and size, median of max(1, {nodes_per_rep:,} / n) "
          f"repetitions; ns per node = median over rounds")
    for name, build in CHAINS.items():
        t = time_chains(build, SIZES, rounds, nodes_per_rep)
        mem = {n: memory_per_node(build, n) for n in mem_sizes}
        rows = []
        for n in SIZES:
            m = mem.get(n)
            med = {k: _timing.median(v) for k, v in t[n].items()}
            rows.append([f"{n:,}", f"{med['build'] * 1e9:.0f}", f"{med['backward'] * 1e9:.0f}",
                         f"{(med['build'] + med['backward']) * 1e9:.0f}", f"{med['ratio']:.2f}",
                         f"{med['total_gc_off'] * 1e9:.0f}", f"{med['free'] * 1e9:.0f}",
                         *([f"{x:.0f}" for x in m] if m else ["-", "-", "-"])])
        _timing.print_table(["nodes", "build ns", "backward ns", "total ns", "vs 1e3", "total gc-off ns", "free ns",
                             "held B", "after bw B", "peak bw B"], rows,
                            title=f"Chain {name}: per node (time: ns/node; memory: bytes/node)")
        r = _timing.median(t[250_000]["ratio"])
        held = mem[250_000][0]
        print(f"at 2.5e5 nodes: time per node {r:.2f} × that at 1e3 — {_timing.verdict(r, 1.3)}; "
              f"{held:.0f} bytes held per node — {_timing.verdict(held, 150)}")
    print()
    check_deep(SIZES[-1])


def report_batch_sizes(blocks: int, seconds: float) -> None:
    rows = []
    for m in BATCH_SIZES:
        res = mlp_step.compare(MLP_SIZES, m, np.float64, blocks, seconds)
        hand, proj = res.median("hand"), res.median("project")
        rows.append([m, _timing.fmt_us(hand), _timing.fmt_us(proj), _timing.fmt_us(proj - hand),
                     _timing.fmt_ratio(res.ratio("project", "hand")),
                     f"{res.faults_per_call('hand'):.1f} / {res.faults_per_call('project'):.1f}"])
    _timing.print_table(["m", "hand µs/step", "project µs/step", "difference µs", "ratio project/hand",
                         "faults/step h/p"], rows,
                        title=f"One SGD step of MLP({MLP_SIZES}) float64 across batch sizes "
                              f"({blocks} alternating blocks of ~{seconds:g} s per side)")


def main() -> None:
    parser = _timing.base_parser(__doc__)
    parser.add_argument("--part", choices=["all", "chains", "batch"], default="all")
    args = parser.parse_args()
    blocks, seconds = _timing.block_settings(args)
    _timing.print_environment()
    if args.part in ("all", "chains"):
        report_chains(args.quick)
    if args.part in ("all", "batch"):
        report_batch_sizes(blocks, seconds)


if __name__ == "__main__":
    main()

"""Where the traced step's time goes, against the lean step: the replay with one piece taken out at a time.

    python benchmarks/trace_breakdown.py                 # config A, float64
    python benchmarks/trace_breakdown.py --dtype float32 --config B --rounds 15

"replay" is the step traced with keep_grad=False (the update scales ∇w in place, as lean does); "replay, .grad
kept" is the default, which keeps the exact ∇w as .grad and writes η∇w into a second array. The replayed
function's text (`tinygrad_nn.trace` compiles it) is edited: each variant drops one thing the replay does beyond
mlp_step.py's lean step (the argument check, the error state around σ's exp, the label check, the cost's value,
the (a − y)/m pass).
The variants compute wrong or unchecked steps: they are diagnostics, never a way to run. Lean, the replay and
the variants run in shuffled order, `--rounds` rounds on one batch; printed: the median µs per step (CPU time).
A variant whose text no longer matches the generated code is reported as n/a.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one BLAS thread, set before numpy is imported

import argparse
import random
import re
import sys
import time
import timeit

import numpy as np

np.seterr(over="ignore")  # the lean step's e^(−z) may overflow to inf (σ → 0, correct)

import mlp_step

CONFIGS = {"A": ([784, 30, 10], 10), "B": ([784, 100, 10], 128)}


def variants(code: str) -> dict[str, str | None]:
    """name → the replay's text without that piece (None where the text does not have it)."""
    def drop(*edits: tuple[str, str]) -> str | None:
        text = code
        for pattern, new in edits:
            text, n = re.subn(pattern, new, text, flags=re.M)
            if not n:
                return None
        return text
    return {
        "− argument check": drop((r"^    if .*raise _Retrace\n", "")),
        "− error state": drop((r"^    _ign = .*\n", ""), (r"^    _t = _cvset\(_ign\)\n    try: ", "    "),
                              (r"^    finally: _cvreset\(_t\)\n", "")),
        "− label check": drop((r"^    if .*: _bad_labels\(.*\n", "")),
        "− the cost's value": drop((r"^    (\w+) = 0\.5 / .*vdot.*$", r"    \1 = 0.0")),
        "− the (a − y)/m pass": drop((r"^    (\w+) = _np_multiply\((\w+_minus_y), [^,]+, out=\w+\)$", r"    \1 = \2")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=sorted(CONFIGS), default="A")
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    sizes, m = CONFIGS[args.config]
    dtype = np.dtype(args.dtype)
    batches = mlp_step.make_batches(sizes, m, dtype)
    net = mlp_step.new_net(sizes, dtype)
    program = mlp_step.traced_step(mlp_step.new_net(sizes, dtype), example=batches[0], keep_grad=False)
    kept = mlp_step.traced_step(mlp_step.new_net(sizes, dtype), example=batches[0])
    compiled = program.compile()._last  # the program for this signature, compiled
    kept.compile()
    run, code = compiled.run, compiled.builder.code
    sides = {"lean": mlp_step.lean_step(*mlp_step.copy_weights(net)), "replay": run,
             "replay, .grad kept": kept._last.run}
    for name, text in variants(code).items():
        if text is None:
            print(f"{name}: n/a (the generated code has changed)")
            continue
        ns = dict(run.__globals__)
        exec(compile(text, f"<{name}>", "exec"), ns)
        sides[name] = ns["_replay"]
    x, y = batches[0]
    n = 2000 if args.config == "A" else 150
    times: dict[str, list[float]] = {k: [] for k in sides}
    for _ in range(args.rounds):
        order = list(sides.items())
        random.shuffle(order)
        for name, f in order:
            times[name].append(timeit.timeit(lambda: f(x, y), number=n, timer=time.process_time) / n * 1e6)
    print(f"config {args.config} {sizes} m={m} {dtype.name}; load average "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}; {args.rounds} shuffled rounds of {n} steps; CPU time")
    lean = np.median(times["lean"])
    for name, t in times.items():
        print(f"{name:22s} {np.median(t):9.2f} µs   {np.median(t) / lean:6.3f} × lean")


if __name__ == "__main__":
    sys.exit(main())

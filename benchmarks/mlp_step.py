"""One SGD step of the tensor MLP: the project's autodiff path against hand-written numpy steps.

    python benchmarks/mlp_step.py                    # 7 alternating blocks of ~0.25 s per side and config
    python benchmarks/mlp_step.py --quick            # 3 blocks of ~0.05 s
    python benchmarks/mlp_step.py --before 59859b0   # also time the engine as it was at that git revision

lean          the baseline of the targets, as issue 12 describes it: a hand-written numpy gradient step.
              z = a wᵀ; z += b; σ computed in place as 1/(1 + e^(−z)) (np.negative, np.exp, +1,
              np.reciprocal, all with out=); δᴸ = (a − y) ⊙ a ⊙ (1 − a) with y subtracted at the label
              positions (no one-hot array); then, like any gradient-based step, it forms ∇w = δᵀa and
              ∇b = Σδ and updates in place (nabla_w *= η/m; w -= nabla_w); no input checks, no extra pass
              over the batch.
leanest       the same step without any gradient array: η/m is folded into the small δ, so each weight
              update is one pass `w -= (η/m·δ)ᵀ a`. It keeps no ∇w, so an engine whose contract is an
              exact `.grad` (then w -= η·grad) cannot match it: that costs one more pass over each weight
              matrix. Shown for honesty (project/leanest), not a target.
project       net(x) → nn.quadratic_cost → opt.zero_grad() → cost.backward() → opt.step()
              (nn.MLP, sigmoid everywhere, optim.SGD with lr η)
traced        program = tinygrad_nn.trace(step, x, y, optimizer=opt) once, then program(x, y) per step: the
              same step replayed as straight-line numpy (zero_grad, forward, backward, update; bitwise equal to
              project), compiled before the blocks (else its 9th call compiles it). Targets for traced / lean: ≤ 1.0
              at A and B.
consumed      the same with trace(..., keep_grad=False): the update scales each ∇w in place into η∇w and
              subtracts it (lean's arithmetic, bitwise the same weights), leaving .grad None as after
              zero_grad(); "traced" keeps the exact ∇w as .grad and writes η∇w into a second array, one more
              weight-sized array in the working set. Target for consumed / lean: ≤ 1.0 too.
hand-written  g = tinygrad_nn.backprop.backprop(ws, bs, x, y); w -= η·nabla_w; b -= η·nabla_b
              (the project's own closed-form, numpy-only BP1–BP4, whole mini-batch in matrix form;
              the update is fully in place — nabla_w *= η; w -= nabla_w — with no temporary array:
              a 188 KB temporary per step is enough to make glibc's malloc trim and re-fault the
              heap, ~60 minor page faults and ~120 µs per step at config A float64; see _timing.py)

Both start from the same initial weights (the MLP's, copied) and run through the same fixed list of
mini-batches (x uniform in [0, 1), integer labels y, as `train` passes them), in the same order.
Configs: A = [784, 30, 10], m = 10 (Nielsen's setting) and B = [784, 100, 10], m = 128, each in float64
and float32. Printed per config: the median µs per step of each side and the ratios project/lean,
project/leanest and closed-form/lean (median over blocks of the block-wise ratio, with its min–max).
Targets for project / lean: A ≤ 1.1, B ≤ 1.05. Also printed: minor page faults per step (lean / project),
and "same result" (all sides).
Options: --quick, --blocks N, --block-seconds S, --clock {cpu,wall}, --malloc {default,no-trim}.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one BLAS thread, set before numpy is imported

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import _timing
import numpy as np

np.seterr(over="ignore")  # the lean step's e^(−z) may overflow to inf for very negative z (σ → 0, correct)

import tinygrad_nn
from tinygrad_nn import nn
from tinygrad_nn.backprop import backprop

LR = 3.0
SEED = 0
N_BATCHES = 32  # distinct mini-batches, cycled through in the same order by both sides

CONFIGS = [  # (name, sizes, m, dtype, target for project / lean)
    ("A", [784, 30, 10], 10, np.float64, 1.1),
    ("A", [784, 30, 10], 10, np.float32, 1.1),
    ("B", [784, 100, 10], 128, np.float64, 1.05),
    ("B", [784, 100, 10], 128, np.float32, 1.05),
]


def make_batches(sizes: Sequence[int], m: int, dtype: Any, count: int = N_BATCHES, seed: int = 1
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
    """`count` mini-batches (x of shape (m, n_in) in `dtype`, integer labels y of shape (m,))."""
    rng = np.random.default_rng(seed)
    return [(rng.random((m, sizes[0])).astype(dtype), rng.integers(0, sizes[-1], m)) for _ in range(count)]


def new_net(sizes: Sequence[int], dtype: Any) -> nn.MLP:
    return nn.MLP(sizes, seed=SEED, dtype=dtype)


def project_step(net: nn.MLP, lr: float = LR, package: Any = None) -> Callable[[np.ndarray, np.ndarray], None]:
    """The project's training step (as in `tinygrad_nn.train`): forward, cost, zero_grad, backward, step."""
    package = package or tinygrad_nn
    opt = package.optim.SGD(net.parameters(), lr=lr)
    cost = package.nn.quadratic_cost

    def step(x: np.ndarray, y: np.ndarray) -> None:
        c = cost(net(x), y)
        opt.zero_grad()
        c.backward()
        opt.step()
    return step


def traced_step(net: nn.MLP, lr: float = LR, example: Any = None, keep_grad: bool = True
                ) -> Callable[[np.ndarray, np.ndarray], Any]:
    """The project's step traced once (`tinygrad_nn.trace` with the optimizer): each call replays it."""
    opt = tinygrad_nn.optim.SGD(net.parameters(), lr=lr)
    return tinygrad_nn.trace(lambda x, y: nn.quadratic_cost(net(x), y), *example, optimizer=opt,
                             keep_grad=keep_grad)


def trace_cost(sizes: Sequence[int], m: int, dtype: Any, repeat: int = 20) -> dict[str, float]:
    """What a traced program costs before it replays compiled, in project steps (wall time; each the median
    over `repeat` fresh networks): `trace` (the call to trace()), `first tier` (one of the first 8 calls, which
    replay through the engine's own ops, against one project step), `compile cold` / `compile cached` (the 9th
    call, which compiles, less a compiled call; cold: its text compiled anew; cached: the text compiled before in
    this process, as for another network of the same shapes), and `break-even` (the calls after which trace() and
    the first 9 calls have cost no more than project steps would have)."""
    import importlib
    import time
    module = importlib.import_module("tinygrad_nn.trace")
    first = module._COMPILE_AFTER
    batch = make_batches(sizes, m, dtype, count=1)[0]
    out: dict[str, list[float]] = {k: [] for k in ("trace", "first tier", "compile cold", "compile cached",
                                                    "compiled")}
    for i in range(repeat):
        step = project_step(new_net(sizes, dtype))
        step(*batch)
        t0 = time.perf_counter()
        for _ in range(3):
            step(*batch)
        dynamic = (time.perf_counter() - t0) / 3
        if i % 2 == 0:
            module._CODE.clear()
        net = new_net(sizes, dtype)
        t0 = time.perf_counter()
        program = traced_step(net, example=batch)
        t1 = time.perf_counter()
        for _ in range(first):
            program(*batch)
        t2 = time.perf_counter()
        program(*batch)  # compiles, then replays
        t3 = time.perf_counter()
        for _ in range(3):
            program(*batch)
        compiled = (time.perf_counter() - t3) / 3
        out["trace"].append((t1 - t0) / dynamic)
        out["first tier"].append((t2 - t1) / first / dynamic)
        out["compile cold" if i % 2 == 0 else "compile cached"].append((t3 - t2 - compiled) / dynamic)
        out["compiled"].append(compiled / dynamic)
    cost = {k: float(np.median(v)) for k, v in out.items()}
    extra = cost["trace"] + first * (cost["first tier"] - 1) + cost["compile cold"] + cost["compiled"] - 1
    cost["break-even"] = first + 1 + max(extra, 0.0) / (1 - cost["compiled"]) if cost["compiled"] < 1 else math.inf
    return cost


def handwritten_step(ws: list[np.ndarray], bs: list[np.ndarray], lr: float = LR
                     ) -> Callable[[np.ndarray, np.ndarray], None]:
    """Closed-form BP1–BP4 (`tinygrad_nn.backprop.backprop`) and an in-place update of ws, bs."""
    def step(x: np.ndarray, y: np.ndarray) -> None:
        inplace_update(ws, bs, backprop(ws, bs, x, y), lr)
    return step


def forward_in_place(ws: list[np.ndarray], bs: list[np.ndarray], x: np.ndarray) -> list[np.ndarray]:
    """The activations [x, a², …, aᴸ] of sigmoid layers, σ = 1/(1 + e^(−z)) computed in place in z."""
    activations = [x]
    for w, b in zip(ws, bs):
        z = activations[-1] @ w.T
        z += b
        np.negative(z, out=z)
        np.exp(z, out=z)
        z += 1.0
        np.reciprocal(z, out=z)
        activations.append(z)
    return activations


def output_delta(a: np.ndarray, y: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """BP1 for the quadratic cost: δᴸ = (a − y) ⊙ a ⊙ (1 − a), y subtracted at the labels (no one-hot array)."""
    delta = a.copy()
    delta[rows, y] -= 1.0                                    # ∇ₐC = a − y
    delta *= a                                               # ⊙ σ′(z) = a(1 − a)
    delta *= 1.0 - a
    return delta


def lean_step(ws: list[np.ndarray], bs: list[np.ndarray], lr: float = LR) -> Callable[[np.ndarray, np.ndarray], None]:
    """The issue's baseline: a hand-written numpy gradient step that forms ∇w = δᵀa and ∇b = Σδ, then
    updates in place (nabla_w *= η/m; w -= nabla_w), with no checks and no extra pass over the batch."""
    rows: dict[int, np.ndarray] = {}

    def step(x: np.ndarray, y: np.ndarray) -> None:
        m = x.shape[0]
        activations = forward_in_place(ws, bs, x)
        delta = output_delta(activations[-1], y, rows.setdefault(m, np.arange(m)))
        for l in range(len(ws) - 1, -1, -1):
            a_prev = activations[l]
            nabla_w = delta.T @ a_prev                       # BP4
            nabla_b = delta.sum(axis=0)                      # BP3
            if l:
                previous = delta @ ws[l]                     # BP2, before ⊙ σ′
                previous *= a_prev
                previous *= 1.0 - a_prev
                delta = previous
            nabla_w *= lr / m                                # eq. 20–21, in place
            ws[l] -= nabla_w
            nabla_b *= lr / m
            bs[l] -= nabla_b
    return step


def leanest_step(ws: list[np.ndarray], bs: list[np.ndarray], lr: float = LR
                 ) -> Callable[[np.ndarray, np.ndarray], None]:
    """Leaner still: no gradient is ever formed — η/m is folded into the small δ, so each weight update is
    one pass `w -= (η/m·δ)ᵀ a` (a step that keeps no ∇w; an engine that must return .grad cannot do this)."""
    rows: dict[int, np.ndarray] = {}

    def step(x: np.ndarray, y: np.ndarray) -> None:
        m = x.shape[0]
        activations = forward_in_place(ws, bs, x)
        delta = output_delta(activations[-1], y, rows.setdefault(m, np.arange(m)))
        delta *= lr / m                                      # η/m folded into the small δ
        for l in range(len(ws) - 1, -1, -1):
            a_prev = activations[l]
            nabla_w = delta.T @ a_prev                       # BP4 (times η/m)
            if l:
                previous = delta @ ws[l]                     # BP2, before ⊙ σ′
                previous *= a_prev
                previous *= 1.0 - a_prev
            ws[l] -= nabla_w
            bs[l] -= delta.sum(axis=0)                       # BP3 (times η/m)
            if l:
                delta = previous
    return step


def inplace_update(ws: list[np.ndarray], bs: list[np.ndarray], g: Any, lr: float) -> None:
    """w -= η·∇w, b -= η·∇b without a temporary: g's nabla arrays are fresh, so they are scaled in place."""
    for w, nw in zip(ws, g.nabla_w):
        nw *= lr
        w -= nw
    for b, nb in zip(bs, g.nabla_b):
        nb *= lr
        b -= nb


def copy_weights(net: nn.MLP) -> tuple[list[np.ndarray], list[np.ndarray]]:
    return ([layer.weight.data.copy() for layer in net.layers], [layer.bias.data.copy() for layer in net.layers])


def cycling(step: Callable[[np.ndarray, np.ndarray], None], batches: list) -> Callable[[], None]:
    """A no-argument call that runs `step` on the next batch of the (endless) cycle."""
    it = itertools.cycle(batches)
    return lambda: step(*next(it))


def same_result(sizes: Sequence[int], m: int, dtype: Any, before: Any = None) -> bool:
    """One step of each side from the same weights on the same batch gives the same updated weights."""
    net = new_net(sizes, dtype)
    sides = [copy_weights(net) for _ in range(3)]
    (x, y), = make_batches(sizes, m, dtype, count=1)
    traced, consumed = new_net(sizes, dtype), new_net(sizes, dtype)
    traced_step(traced, example=(x, y)).compile()(x, y)  # the compiled replay, the one the blocks time
    traced_step(consumed, example=(x, y), keep_grad=False).compile()(x, y)
    handwritten_step(*sides[0])(x, y)
    lean_step(*sides[1])(x, y)
    leanest_step(*sides[2])(x, y)
    if before is not None:
        old = before.nn.MLP(sizes, seed=SEED, dtype=dtype)
        project_step(old, package=before)(x, y)
        sides.append(copy_weights(old))
    project_step(net)(x, y)
    rtol, atol = (1e-10, 1e-12) if np.dtype(dtype) == np.float64 else (1e-4, 1e-5)
    bitwise = all(np.array_equal(p.data, q.data) and np.array_equal(p.data, r.data)
                  for p, q, r in zip(net.parameters(), traced.parameters(), consumed.parameters()))
    return bitwise and all(np.allclose(layer.weight.data, w, rtol=rtol, atol=atol) and
               np.allclose(layer.bias.data, b, rtol=rtol, atol=atol)
               for ws, bs in sides for layer, w, b in zip(net.layers, ws, bs))


def compare(sizes: Sequence[int], m: int, dtype: Any, blocks: int, seconds: float, before: Any = None
            ) -> _timing.BlockResult:
    """Paired alternating blocks: 'lean', 'leanest', 'closed form', 'project' (and 'before'); same weights
    and batches."""
    batches = make_batches(sizes, m, dtype)
    net = new_net(sizes, dtype)
    candidates = {"lean": cycling(lean_step(*copy_weights(net)), batches),
                  "leanest": cycling(leanest_step(*copy_weights(net)), batches),
                  "closed form": cycling(handwritten_step(*copy_weights(net)), batches),
                  "project": cycling(project_step(net), batches),
                  "traced": cycling(traced_step(new_net(sizes, dtype), example=batches[0]).compile(), batches),
                  "traced, grad consumed": cycling(traced_step(new_net(sizes, dtype), example=batches[0],
                                                               keep_grad=False).compile(), batches)}
    if before is not None:
        candidates["before"] = cycling(project_step(before.nn.MLP(sizes, seed=SEED, dtype=dtype), package=before),
                                       batches)
    n = _timing.calibrate(list(candidates.values()), seconds)
    return _timing.paired_blocks(candidates, blocks, n)


def main() -> None:
    parser = _timing.base_parser(__doc__)
    parser.add_argument("--before", metavar="REV", default=None,
                        help="also time tinygrad_nn as it was at this git revision, in the same blocks")
    args = parser.parse_args()
    blocks, seconds = _timing.block_settings(args)
    before = _timing.load_revision(args.before) if args.before else None
    _timing.print_environment()
    if before is not None:
        print(f"before: tinygrad_nn at git revision {args.before}")
    print(f"{blocks} alternating blocks of ~{seconds:g} s per side; µs = median over blocks of µs/step; "
          f"ratio = median [min–max] over blocks of side/lean")
    rows = []
    for name, sizes, m, dtype, target in CONFIGS:
        dt = np.dtype(dtype).name
        same = "yes" if same_result(sizes, m, dtype, before) else "NO"
        res = compare(sizes, m, dtype, blocks, seconds, before)
        stats = res.ratio("project", "lean")
        row = [f"{name} {sizes} m={m}", dt, _timing.fmt_us(res.median("lean")),
               _timing.fmt_us(res.median("leanest")), _timing.fmt_us(res.median("closed form")),
               _timing.fmt_us(res.median("project")), _timing.fmt_ratio(stats),
               _timing.fmt_ratio(res.ratio("project", "leanest")), _timing.fmt_ratio(res.ratio("closed form", "lean")),
               _timing.fmt_us(res.median("traced")), _timing.fmt_ratio(res.ratio("traced", "lean")),
               _timing.fmt_ratio(res.ratio("traced", "leanest")), _timing.verdict(res.ratio("traced", "lean")[0], 1.0),
               _timing.fmt_us(res.median("traced, grad consumed")),
               _timing.fmt_ratio(res.ratio("traced, grad consumed", "lean")),
               _timing.verdict(res.ratio("traced, grad consumed", "lean")[0], 1.0)]
        if before is not None:
            row += [_timing.fmt_us(res.median("before")), _timing.fmt_ratio(res.ratio("before", "lean"))]
        rows.append(row + [_timing.verdict(stats[0], target),
                           f"{res.faults_per_call('lean'):.1f} / {res.faults_per_call('project'):.1f}", same])
    headers = ["config", "dtype", "lean µs", "leanest µs", "closed-form µs", "project µs", "project/lean",
               "project/leanest", "closed-form/lean", "traced µs", "traced/lean", "traced/leanest", "traced verdict",
               "consumed µs", "consumed/lean", "consumed verdict"]
    if before is not None:
        headers += ["before µs", "before/lean"]
    _timing.print_table(headers + ["project verdict", "faults/step l/p", "same result"], rows,
                        title="One SGD step: project (autodiff) vs the lean hand-written numpy step (targets on project/lean)")
    print("\nsame result: " + ("yes" if all(r[-1] == "yes" for r in rows) else "NO")
          + "  (one step from the same weights on the same batch; allclose on every weight and bias, all sides; "
          "traced and consumed bitwise equal to project)\n")
    costs = []
    for name, sizes, m, dtype, _ in CONFIGS:
        c = trace_cost(sizes, m, dtype)
        costs.append([f"{name} {sizes} m={m}", np.dtype(dtype).name, f"{c['trace']:.2f}",
                      _timing.verdict(c["trace"], 3.0), f"{c['first tier']:.2f}",
                      f"{c['compile cold']:.1f} / {c['compile cached']:.1f}", f"{c['compiled']:.2f}",
                      f"{c['break-even']:.0f}"])
    _timing.print_table(["config", "dtype", "trace() (steps)", "trace verdict", "calls 1–8 (× project)",
                         "call 9 compiles: cold / cached (steps)", "compiled (× project)", "break-even (calls)"],
                        costs, title="What tracing costs, in project steps (wall time, median of 20 networks; "
                                     "target for trace() ≤ 3)")


if __name__ == "__main__":
    main()

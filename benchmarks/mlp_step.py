"""One SGD step of the tensor MLP: the project's autodiff path against the closed-form BP1–BP4.

    python benchmarks/mlp_step.py            # 7 alternating blocks of ~0.25 s per side and config
    python benchmarks/mlp_step.py --quick    # 3 blocks of ~0.05 s

project       net(x) → nn.quadratic_cost → opt.zero_grad() → cost.backward() → opt.step()
              (nn.MLP, sigmoid everywhere, optim.SGD with lr η)
hand-written  g = tinygrad_nn.backprop.backprop(ws, bs, x, y); w -= η·nabla_w; b -= η·nabla_b
              (the project's own closed-form, numpy-only BP1–BP4, whole mini-batch in matrix form;
              the update is fully in place — nabla_w *= η; w -= nabla_w — with no temporary array:
              a 188 KB temporary per step is enough to make glibc's malloc trim and re-fault the
              heap, ~60 minor page faults and ~120 µs per step at config A float64; see _timing.py)

Both start from the same initial weights (the MLP's, copied) and run through the same fixed list of
mini-batches (x uniform in [0, 1), integer labels y, as `train` passes them), in the same order.
Configs: A = [784, 30, 10], m = 10 (Nielsen's setting) and B = [784, 100, 10], m = 128, each in float64
and float32. Printed per config: the median µs per step of each side and the project / hand-written
ratio (median over blocks of the block-wise ratio, with its min–max). Targets: A ≤ 1.5 (aim 1.3),
B ≤ 1.15 (aim 1.05). Also printed: minor page faults per step (hand / project), and "same result".
Options: --quick, --blocks N, --block-seconds S, --clock {cpu,wall}, --malloc {default,no-trim}.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one BLAS thread, set before numpy is imported

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import _timing
import numpy as np

from tinygrad_nn import nn, optim
from tinygrad_nn.backprop import backprop

LR = 3.0
SEED = 0
N_BATCHES = 32  # distinct mini-batches, cycled through in the same order by both sides

CONFIGS = [  # (name, sizes, m, dtype, target, aim)
    ("A", [784, 30, 10], 10, np.float64, 1.5, 1.3),
    ("A", [784, 30, 10], 10, np.float32, 1.5, 1.3),
    ("B", [784, 100, 10], 128, np.float64, 1.15, 1.05),
    ("B", [784, 100, 10], 128, np.float32, 1.15, 1.05),
]


def make_batches(sizes: Sequence[int], m: int, dtype: Any, count: int = N_BATCHES, seed: int = 1
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
    """`count` mini-batches (x of shape (m, n_in) in `dtype`, integer labels y of shape (m,))."""
    rng = np.random.default_rng(seed)
    return [(rng.random((m, sizes[0])).astype(dtype), rng.integers(0, sizes[-1], m)) for _ in range(count)]


def new_net(sizes: Sequence[int], dtype: Any) -> nn.MLP:
    return nn.MLP(sizes, seed=SEED, dtype=dtype)


def project_step(net: nn.MLP, lr: float = LR) -> Callable[[np.ndarray, np.ndarray], None]:
    """The project's training step (as in `tinygrad_nn.train`): forward, cost, zero_grad, backward, step."""
    opt = optim.SGD(net.parameters(), lr=lr)
    cost = nn.quadratic_cost

    def step(x: np.ndarray, y: np.ndarray) -> None:
        c = cost(net(x), y)
        opt.zero_grad()
        c.backward()
        opt.step()
    return step


def handwritten_step(ws: list[np.ndarray], bs: list[np.ndarray], lr: float = LR
                     ) -> Callable[[np.ndarray, np.ndarray], None]:
    """Closed-form BP1–BP4 (`tinygrad_nn.backprop.backprop`) and an in-place update of ws, bs."""
    def step(x: np.ndarray, y: np.ndarray) -> None:
        inplace_update(ws, bs, backprop(ws, bs, x, y), lr)
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


def same_result(sizes: Sequence[int], m: int, dtype: Any) -> bool:
    """One step of each path from the same weights on the same batch gives the same updated weights."""
    net = new_net(sizes, dtype)
    ws, bs = copy_weights(net)
    (x, y), = make_batches(sizes, m, dtype, count=1)
    project_step(net)(x, y)
    handwritten_step(ws, bs)(x, y)
    rtol, atol = (1e-10, 1e-12) if np.dtype(dtype) == np.float64 else (1e-4, 1e-5)
    return all(np.allclose(layer.weight.data, w, rtol=rtol, atol=atol) and
               np.allclose(layer.bias.data, b, rtol=rtol, atol=atol)
               for layer, w, b in zip(net.layers, ws, bs))


def compare(sizes: Sequence[int], m: int, dtype: Any, blocks: int, seconds: float) -> _timing.BlockResult:
    """Paired alternating blocks: 'hand' (closed form) and 'project', same start weights and batches."""
    batches = make_batches(sizes, m, dtype)
    net = new_net(sizes, dtype)
    ws, bs = copy_weights(net)
    candidates = {"hand": cycling(handwritten_step(ws, bs), batches), "project": cycling(project_step(net), batches)}
    n = _timing.calibrate(list(candidates.values()), seconds)
    return _timing.paired_blocks(candidates, blocks, n)


def main() -> None:
    parser = _timing.base_parser(__doc__)
    args = parser.parse_args()
    blocks, seconds = _timing.block_settings(args)
    _timing.print_environment()
    print(f"{blocks} alternating blocks of ~{seconds:g} s per side; µs = median over blocks of µs/step; "
          f"ratio = median [min–max] over blocks of project/hand")
    rows = []
    for name, sizes, m, dtype, target, aim in CONFIGS:
        dt = np.dtype(dtype).name
        same = "yes" if same_result(sizes, m, dtype) else "NO"
        res = compare(sizes, m, dtype, blocks, seconds)
        stats = res.ratio("project", "hand")
        rows.append([f"{name} {sizes} m={m}", dt, _timing.fmt_us(res.median("hand")),
                     _timing.fmt_us(res.median("project")), _timing.fmt_ratio(stats),
                     _timing.verdict(stats[0], target, aim),
                     f"{res.faults_per_call('hand'):.1f} / {res.faults_per_call('project'):.1f}", same])
    _timing.print_table(["config", "dtype", "hand µs/step", "project µs/step", "ratio", "verdict",
                         "faults/step h/p", "same result"], rows,
                        title="One SGD step: project (autodiff) vs hand-written BP1–BP4")
    print("\nsame result: " + ("yes" if all(r[-1] == "yes" for r in rows) else "NO")
          + "  (one step from the same weights on the same batch; allclose on every weight and bias)")


if __name__ == "__main__":
    main()

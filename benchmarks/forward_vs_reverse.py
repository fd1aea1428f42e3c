"""Chapter 2's question, measured: "in what sense is backpropagation a fast algorithm?"

    python benchmarks/forward_vs_reverse.py               # 2,000 random parameters of the 23,860 (a few s)
    python benchmarks/forward_vs_reverse.py --params all  # every parameter (~5 s more)

The full gradient of the quadratic cost of an `MLP([784, 30, 10])` on one mini-batch of m = 10 real images
(the embedded 8×8 digits, each pixel drawn as a 3×3 block on a 28×28 canvas: 784 inputs), three ways:

* forward mode — one `functional.jvp` per parameter, the tangent a unit vector: each jvp evaluates the
  cost once and pushes the tangent through the graph with each op's tangent rule (no reverse pass);
* finite differences — two cost evaluations per parameter, (C(w + ε) − C(w − ε)) / 2ε, ε = 1e-6;
* reverse mode — one `backward()`: every ∂C/∂w at once.

It prints the time of each and checks that all three agree (forward vs reverse to 1e-12 relative: the
same derivatives in another order; finite differences vs reverse to 1e-6 relative, or 1e-9 absolute for
the tiny gradients where the difference quotient's rounding, ~1e-16·C/ε, dominates). By default the check
covers 2,000 parameters chosen at random (the same for all three methods; reverse mode always computes all
of them) and the forward and finite-difference times are extrapolated to all parameters; --params all
differentiates every parameter all three ways.

Then the cost of a Hessian-vector product (backward(create_graph=True) and one more backward) relative
to one gradient, for the same network and for [784, 100, 10], m = 128, in paired alternating blocks.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one BLAS thread, set before numpy is imported

import time

import _timing
import numpy as np

from tinygrad_nn import Value, data, functional, linear, nn, no_grad

SIZES = [784, 30, 10]
M = 10
EPS = 1e-6


def digits_784(m: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """m embedded digits, each 8×8 image upscaled to 24×24 (3×3 blocks) and centred on a 28×28 canvas."""
    train = data.load_digits().training
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(train.y), m, replace=False)
    images = train.x[pick].reshape(m, 8, 8)
    canvas = np.zeros((m, 28, 28))
    canvas[:, 2:26, 2:26] = np.kron(images, np.ones((3, 3)))
    return canvas.reshape(m, 784), train.y[pick]


def unpack(theta: Value, shapes: list[tuple[int, ...]]) -> list[Value]:
    """The parameter tensors as slices of one flat Value (so one jvp tangent can pick any parameter)."""
    out, start = [], 0
    for shape in shapes:
        n = int(np.prod(shape))
        out.append(theta[start:start + n].reshape(shape))
        start += n
    return out


def main() -> None:
    parser = _timing.base_parser(__doc__)
    parser.add_argument("--params", default="2000",
                        help="how many parameters (chosen at random) to differentiate by forward mode and finite "
                             "differences, or 'all' (default 2000; times are extrapolated to all of them)")
    args = parser.parse_args()
    args.params = None if args.params == "all" else int(args.params)
    blocks, seconds = _timing.block_settings(args)
    _timing.print_environment()
    x, y = digits_784(M)
    net = nn.MLP(SIZES, seed=0)
    params = net.parameters()
    shapes = [p.shape for p in params]
    theta0 = np.concatenate([p.data.ravel() for p in params])
    n_total = theta0.size
    rng = np.random.default_rng(1)
    chosen = np.arange(n_total) if args.params is None else np.sort(rng.choice(n_total, min(args.params, n_total),
                                                                              replace=False))
    print(f"network {SIZES}, quadratic cost, mini-batch of {M} digits drawn at 28×28; {n_total:,} parameters; "
          f"checking {len(chosen):,} of them" + ("" if args.params is None else " (a random subset)"))

    def cost_of_theta(theta: Value) -> Value:
        w1, b1, w2, b2 = unpack(theta, shapes)
        return nn.quadratic_cost(linear(linear(x, w1, b1).sigmoid(), w2, b2).sigmoid(), y)

    # reverse mode: one backward pass (forward included; the median of 21 runs, as it is so short)
    runs = []
    for _ in range(21):
        t0 = time.perf_counter()
        net.zero_grad()
        nn.quadratic_cost(net(x), y).backward()
        reverse = np.concatenate([p.grad.ravel() for p in params])
        runs.append(time.perf_counter() - t0)
    t_reverse = float(np.median(runs))

    # forward mode: one jvp per parameter
    forward = np.zeros(len(chosen))
    t0 = time.perf_counter()
    tangent = np.zeros(n_total)
    for k, i in enumerate(chosen):
        tangent[i] = 1.0
        forward[k] = functional.jvp(cost_of_theta, theta0, tangent)[1]
        tangent[i] = 0.0
    t_forward = time.perf_counter() - t0

    # finite differences: two cost evaluations per parameter, perturbing the network's own arrays
    numeric = np.zeros(len(chosen))
    offsets = np.cumsum([0] + [p.size for p in params])
    t0 = time.perf_counter()
    with no_grad():
        for k, i in enumerate(chosen):
            j = int(np.searchsorted(offsets, i, side="right")) - 1
            flat = params[j].data.reshape(-1)
            saved = flat[i - offsets[j]]
            flat[i - offsets[j]] = saved + EPS
            plus = nn.quadratic_cost(net(x), y).data
            flat[i - offsets[j]] = saved - EPS
            minus = nn.quadratic_cost(net(x), y).data
            flat[i - offsets[j]] = saved
            numeric[k] = (plus - minus) / (2 * EPS)
    t_numeric = time.perf_counter() - t0

    rev = reverse[chosen]
    scale = np.max(np.abs(rev))
    fwd_err = np.max(np.abs(forward - rev)) / scale
    fd_bad = np.abs(numeric - rev) > np.maximum(1e-6 * np.abs(rev), 1e-9)
    extrapolate = n_total / len(chosen)
    rows = [["reverse mode (one backward)", f"{t_reverse * 1e3:,.2f}", "1", f"{t_reverse * 1e3:,.2f}", "—"],
            [f"forward mode ({len(chosen):,} jvps)", f"{t_forward * 1e3:,.1f}", f"{len(chosen):,}",
             f"{t_forward * extrapolate * 1e3:,.0f}", f"max rel. diff {fwd_err:.1e}"],
            [f"finite differences ({2 * len(chosen):,} costs)", f"{t_numeric * 1e3:,.1f}", f"{2 * len(chosen):,}",
             f"{t_numeric * extrapolate * 1e3:,.0f}", f"max |diff| {np.max(np.abs(numeric - rev)):.1e}"]]
    _timing.print_table(["method", "ms (run)", "passes", "ms for all parameters", "vs reverse"], rows,
                        title="The full gradient ∂C/∂w, ∂C/∂b of one mini-batch (wall clock)")
    print(f"\nforward mode / reverse mode, all parameters: {t_forward * extrapolate / t_reverse:,.0f}×; "
          f"finite differences / reverse: {t_numeric * extrapolate / t_reverse:,.0f}×")
    agree = fwd_err <= 1e-12 and not np.any(fd_bad)
    print(f"all three agree: {'yes' if agree else 'NO'}  (forward vs reverse ≤ 1e-12 relative to max|∂C/∂w| = "
          f"{scale:.3e}; finite differences within 1e-6 relative or 1e-9 absolute: "
          f"{len(chosen) - int(fd_bad.sum()):,} of {len(chosen):,})")

    # the cost of a Hessian-vector product against a gradient
    print()
    rows = []
    for sizes, m in ((SIZES, M), ([784, 100, 10], 128)):
        hnet = nn.MLP(sizes, seed=0)
        xb, yb = digits_784(m, seed=2)
        hparams = hnet.parameters()
        v = [np.random.default_rng(3).standard_normal(p.shape) for p in hparams]

        def gradient(hnet: nn.MLP = hnet, xb: np.ndarray = xb, yb: np.ndarray = yb) -> None:
            hnet.zero_grad()
            nn.quadratic_cost(hnet(xb), yb).backward()

        def hvp(hnet: nn.MLP = hnet, xb: np.ndarray = xb, yb: np.ndarray = yb, hparams: list = hparams,
                v: list = v) -> None:
            hnet.zero_grad()
            nn.quadratic_cost(hnet(xb), yb).backward(create_graph=True)
            grads = [p.grad for p in hparams]
            hnet.zero_grad()
            total = (grads[0] * v[0]).sum()
            for g, u in zip(grads[1:], v[1:]):
                total = total + (g * u).sum()
            total.backward()

        n = _timing.calibrate([gradient, hvp], seconds)
        res = _timing.paired_blocks({"gradient": gradient, "hvp": hvp}, blocks, n)
        rows.append([f"{sizes} m={m}", _timing.fmt_us(res.median("gradient")), _timing.fmt_us(res.median("hvp")),
                     _timing.fmt_ratio(res.ratio("hvp", "gradient"))])
    _timing.print_table(["network", "gradient µs", "Hessian-vector product µs", "hvp / gradient"], rows,
                        title=f"A Hessian-vector product (reverse over reverse) against one gradient, "
                              f"forward pass included ({blocks} alternating blocks, CPU clock by default)")


if __name__ == "__main__":
    main()

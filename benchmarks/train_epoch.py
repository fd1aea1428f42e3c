"""Seconds per training epoch: the project's `train()` against Nielsen's network.py loop.

    python benchmarks/train_epoch.py                     # one full epoch each
    python benchmarks/train_epoch.py --quick             # 500 steps each, extrapolated to an epoch
    python benchmarks/train_epoch.py --steps 1000        # (or --epochs-limit 0.2: a fraction of an epoch)

Data: Fashion-MNIST from /usr/share/datasets/fashion-mnist when it is installed (50 000 training images,
[784, 30, 10]), else the embedded 8x8 digits (1 257 training images, [64, 30, 10]). m = 10, η = 3.0,
quadratic cost, sigmoid everywhere, the same initial weights (nn.MLP(seed=0)) on both sides.

project   tinygrad_nn.train.train(net, splits, epochs=1, batch_size=10, lr=3.0, cost="quadratic") — the real
          training loop users run (mini_batches, forward, cost, zero_grad, backward, SGD step, finiteness
          check), given an empty validation and test set so that no evaluation is timed.
Nielsen   network.py's update_mini_batch, written out below in numpy: column vectors, and for each example of
          the mini-batch a per-example `backprop(x, y)`, summed, then w → w − (η/m) Σ ∇w.

The examples used are split into `--blocks` chunks; for each chunk both sides train on the same examples in
the same mini-batch order (`train` shuffles the chunk with seed 0, and Nielsen's side gets the same order),
alternating which side goes first. Seconds per epoch = the sum over chunks × (steps per epoch / steps run).
Checked first: one mini-batch from the same weights gives the same weights on both sides ("same first
update"); at the end both networks' test accuracies are printed.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one BLAS thread, set before numpy is imported

import math
from pathlib import Path

import _timing
import numpy as np

from tinygrad_nn import data as tdata
from tinygrad_nn.nn import MLP
from tinygrad_nn.train import train

BATCH = 10
ETA = 3.0
HIDDEN = 30
SEED = 0


# ---- Nielsen's network.py (Python 3, numpy), the per-example baseline --------------------------------
def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z: np.ndarray) -> np.ndarray:
    return sigmoid(z) * (1 - sigmoid(z))


class NielsenNetwork:
    """network.py's Network, with its weights given (w: (n_out, n_in), b: (n_out, 1))."""

    def __init__(self, weights: list[np.ndarray], biases: list[np.ndarray]) -> None:
        self.weights, self.biases = weights, biases
        self.num_layers = len(weights) + 1

    def update_mini_batch(self, mini_batch: list[tuple[np.ndarray, np.ndarray]], eta: float) -> None:
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for x, y in mini_batch:
            delta_nabla_b, delta_nabla_w = self.backprop(x, y)
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
        self.weights = [w - (eta / len(mini_batch)) * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - (eta / len(mini_batch)) * nb for b, nb in zip(self.biases, nabla_b)]

    def backprop(self, x: np.ndarray, y: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        activation = x
        activations = [x]
        zs = []
        for b, w in zip(self.biases, self.weights):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        delta = (activations[-1] - y) * sigmoid_prime(zs[-1])  # cost_derivative ⊙ σ′(zᴸ)
        nabla_b[-1] = delta
        nabla_w[-1] = np.dot(delta, activations[-2].transpose())
        for l in range(2, self.num_layers):
            z = zs[-l]
            sp = sigmoid_prime(z)
            delta = np.dot(self.weights[-l + 1].transpose(), delta) * sp
            nabla_b[-l] = delta
            nabla_w[-l] = np.dot(delta, activations[-l - 1].transpose())
        return nabla_b, nabla_w

    def accuracy(self, x: np.ndarray, labels: np.ndarray) -> float:
        a = x.T
        for b, w in zip(self.biases, self.weights):
            a = sigmoid(w @ a + b)
        return float(np.mean(np.argmax(a, axis=0) == labels))


def nielsen_batches(x: np.ndarray, y: np.ndarray, n_classes: int) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """The chunk as network.py sees it: (x column, one-hot y column) pairs, in the order `train` uses
    (mini_batches with seed 0), sliced into mini-batches. Built before timing, like Nielsen's loader."""
    eye = np.eye(n_classes)[:, :, None]
    order = np.random.default_rng(SEED).permutation(len(y))  # = tdata.mini_batches(..., seed=SEED)'s order
    pairs = [(x[i].reshape(-1, 1), eye[y[i]]) for i in order]
    return [pairs[k:k + BATCH] for k in range(0, len(pairs), BATCH)]


# ---- data and the run ----------------------------------------------------------------------------------
def load_data() -> tdata.Splits:
    if Path(tdata.FASHION_MNIST_DIR).is_dir():
        try:
            return tdata.load_fashion_mnist()
        except tdata.DataError as exc:  # e.g. still being installed
            print(f"Fashion-MNIST unavailable ({exc}); falling back to digits")
    return tdata.load_digits()


def chunk_splits(splits: tdata.Splits, x: np.ndarray, y: np.ndarray) -> tdata.Splits:
    """A Splits whose training set is this chunk and whose validation and test sets are empty."""
    empty = tdata.Dataset(x[:0], y[:0])
    return tdata.Splits(training=tdata.Dataset(x, y), validation=empty, test=empty, name=splits.name,
                        n_classes=splits.n_classes, image_shape=splits.image_shape)


def nielsen_copy(net: MLP) -> NielsenNetwork:
    """network.py's network with `net`'s weights (biases as columns)."""
    return NielsenNetwork([layer.weight.data.copy() for layer in net.layers],
                          [layer.bias.data[:, None].copy() for layer in net.layers])


def same_first_update(splits: tdata.Splits, sizes: list[int]) -> bool:
    """One mini-batch of `train` and one of update_mini_batch, from the same weights, give the same weights."""
    net = MLP(sizes, seed=SEED)
    nielsen = nielsen_copy(net)
    x, y = splits.training.x[:BATCH], splits.training.y[:BATCH]
    train(net, chunk_splits(splits, x, y), epochs=1, batch_size=BATCH, lr=ETA, cost="quadratic", seed=SEED)
    with np.errstate(over="ignore"):
        nielsen.update_mini_batch(nielsen_batches(x, y, splits.n_classes)[0], ETA)
    return all(np.allclose(layer.weight.data, w, rtol=1e-9, atol=1e-12) and
               np.allclose(layer.bias.data, b[:, 0], rtol=1e-9, atol=1e-12)
               for layer, w, b in zip(net.layers, nielsen.weights, nielsen.biases))


def main() -> None:
    parser = _timing.base_parser(__doc__)
    parser.add_argument("--steps", type=int, default=None, help="mini-batch steps to run per side (default: an epoch)")
    parser.add_argument("--epochs-limit", type=float, default=None,
                        help="fraction of an epoch to run per side, e.g. 0.1 (alternative to --steps)")
    args = parser.parse_args()
    blocks, _ = _timing.block_settings(args)
    _timing.print_environment()
    splits = load_data()
    train_x, train_y = splits.training.x, splits.training.y
    n_train = len(train_y)
    steps_per_epoch = math.ceil(n_train / BATCH)
    if args.steps is not None:
        steps = args.steps
    elif args.epochs_limit is not None:
        steps = math.ceil(args.epochs_limit * steps_per_epoch)
    else:
        steps = 500 if args.quick else steps_per_epoch
    steps = max(blocks, min(steps, steps_per_epoch))
    sizes = [splits.training.n_inputs, HIDDEN, splits.n_classes]
    print(f"data {splits.name}: {n_train:,} training images, {steps_per_epoch:,} steps per epoch; "
          f"running {steps:,} steps per side in {blocks} alternating chunks; sizes {sizes}, m={BATCH}, η={ETA}")

    print(f"same first update: {'yes' if same_first_update(splits, sizes) else 'NO'}  (one mini-batch from the "
          f"same weights; allclose on every weight and bias)")
    net = MLP(sizes, seed=SEED)
    nielsen = nielsen_copy(net)
    order = np.random.default_rng(SEED).permutation(n_train)[: min(n_train, steps * BATCH)]
    bounds = np.linspace(0, len(order) // BATCH, blocks + 1).round().astype(int) * BATCH
    clock = _timing.clock
    seconds = {"project": [], "Nielsen": []}
    faults = {"project": 0, "Nielsen": 0}
    steps_done = 0
    for k in range(blocks):
        idx = order[bounds[k]:bounds[k + 1]]
        cx, cy = train_x[idx], train_y[idx]
        chunk = chunk_splits(splits, cx, cy)
        batches = nielsen_batches(cx, cy, splits.n_classes)
        steps_done += len(batches)

        def run_project(chunk: tdata.Splits = chunk) -> None:
            train(net, chunk, epochs=1, batch_size=BATCH, lr=ETA, cost="quadratic", seed=SEED)

        def run_nielsen(batches: list = batches) -> None:
            with np.errstate(over="ignore"):  # network.py's σ overflows exp for z < −709: harmless here
                for mini_batch in batches:
                    nielsen.update_mini_batch(mini_batch, ETA)

        for name, fn in ([("project", run_project), ("Nielsen", run_nielsen)] if k % 2 == 0 else
                         [("Nielsen", run_nielsen), ("project", run_project)]):
            f0, t0 = _timing.minor_faults(), clock()
            fn()
            seconds[name].append(clock() - t0)
            faults[name] += _timing.minor_faults() - f0

    scale = steps_per_epoch / steps_done
    ratios = [p / q for p, q in zip(seconds["project"], seconds["Nielsen"])]
    rows = [[name, f"{sum(s) / steps_done * 1e6:,.1f}", f"{sum(s) * scale:.3f}",
             _timing.fmt_ratio((_timing.median(ratios), min(ratios), max(ratios))) if name == "project" else "1",
             f"{faults[name] / steps_done:.1f}"]
            for name, s in seconds.items()]
    _timing.print_table(["loop", "µs/step", "s/epoch (extrapolated)" if scale != 1 else "s/epoch",
                         "ratio to Nielsen (per chunk)", "faults/step"], rows,
                        title=f"Training on {splits.name}: {sizes}, m={BATCH}, η={ETA}, quadratic cost "
                              f"({steps_done:,} of {steps_per_epoch:,} steps per epoch run)")
    print(f"overall ratio project / Nielsen: {sum(seconds['project']) / sum(seconds['Nielsen']):.3f}")
    max_dw = max(float(np.max(np.abs(layer.weight.data - w))) for layer, w in zip(net.layers, nielsen.weights))
    test = splits.test
    print(f"after {steps_done:,} steps: test accuracy project {net.accuracy(test.x, test.y):.4f}, Nielsen "
          f"{nielsen.accuracy(test.x, test.y):.4f}; max |Δw| = {max_dw:.2e} (the two sum in different orders, "
          f"and η = 3 with saturated sigmoids amplifies rounding over thousands of steps)")


if __name__ == "__main__":
    main()

"""What recording each layer's learning speed (mean ‖∂C/∂bˡ‖ per epoch, Nielsen ch. 5) costs a training epoch.

    python benchmarks/learning_speed.py [--quick]

`train()` always records the speeds: after each mini-batch's backward it adds ‖∂C/∂bˡ‖ = √(g·g) of every
layer's bias gradient into a running sum (tinygrad_nn/train.py). To price that, two candidates run in
paired, alternating blocks (see _timing.py):

epoch     one full epoch of `train()` on the embedded digits (1 257 images, m = 10, η = 3, quadratic cost),
          with empty validation and test sets so that no evaluation is timed (that makes the share larger);
speeds    exactly the recording statements of that loop, run as many times as the epoch has mini-batches,
          on real bias gradients of the same network.

Reported: speeds / epoch, block by block (median [min–max]); the issue's target is < 5%.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one BLAS thread, set before numpy is imported

import math

import _timing

from tinygrad_nn import data as tdata
from tinygrad_nn.nn import MLP, quadratic_cost
from tinygrad_nn.train import train

BATCH = 10


def main() -> None:
    args = _timing.base_parser(__doc__, blocks=7).parse_args()
    blocks, seconds = _timing.block_settings(args)
    _timing.print_environment()
    digits = tdata.load_digits()
    empty = tdata.Dataset(digits.training.x[:0], digits.training.y[:0])
    splits = tdata.Splits(training=digits.training, validation=empty, test=empty, name=digits.name,
                          n_classes=digits.n_classes, image_shape=digits.image_shape)
    n_batches = math.ceil(len(digits.training) / BATCH)
    rows = []
    for sizes in ([64, 30, 10], [64, 30, 30, 30, 10]):
        net = MLP(sizes, seed=0)
        cost = quadratic_cost(net(digits.training.x[:BATCH]), digits.training.y[:BATCH])
        cost.backward()
        biases = [layer.bias for layer in net.layers]
        trained = MLP(sizes, seed=0)

        def epoch(trained: MLP = trained) -> None:
            train(trained, splits, epochs=1, batch_size=BATCH, lr=3.0, seed=0)

        def speeds(biases: list = biases) -> None:
            speed = [0.0] * len(biases)
            for _ in range(n_batches):
                for k, b in enumerate(biases):  # the loop body of train(), verbatim
                    g = b.grad
                    speed[k] += math.sqrt(g.dot(g))

        n = _timing.calibrate([epoch, speeds], seconds)
        result = _timing.paired_blocks({"epoch": epoch, "speeds": speeds}, blocks, n)
        share = result.ratio("speeds", "epoch")
        shown = f"{100 * share[0]:.2f}% [{100 * share[1]:.2f}–{100 * share[2]:.2f}]"
        rows.append([str(sizes), n_batches, _timing.fmt_us(result.median("epoch") / 1e3, 2),
                     _timing.fmt_us(result.median("speeds") / 1e3, 3), shown, _timing.verdict(share[0], 0.05)])
    _timing.print_table(["network", "mini-batches", "epoch ms", "speeds ms", "share of the epoch", "< 5%"], rows,
                        title=f"recording the learning speed, digits, m = {BATCH}, {blocks} blocks")


if __name__ == "__main__":
    main()

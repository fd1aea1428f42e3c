"""What measuring each layer's learning speed (‖∂C/∂bˡ‖, Nielsen ch. 5, the book's measure) costs a training epoch.

    python benchmarks/learning_speed.py [--quick]

`train()` measures the speeds once per epoch, after its last step: `learning_speeds` on the first 1,000
training images (the book's generate_gradient.py uses training_data[:1000]), one gradient of the mean cost
over them. To price that, two candidates run in paired, alternating blocks (see _timing.py):

epoch     one full epoch of `train()` on the embedded digits (1 257 images, m = 10, η = 3, quadratic cost),
          with empty validation and test sets so that no evaluation is timed (that makes the share larger);
          it includes one measurement of the speeds;
speeds    that measurement alone: `learning_speeds(net, x[:1000], y[:1000])`.

Reported: speeds / epoch, block by block (median [min–max]). No target: the digits' training set has only
1,257 images, so 1,000 of them are most of an epoch's arithmetic (without its per-mini-batch Python); on
MNIST-sized sets (50,000 images) the same 1,000 are a fiftieth. `train(speed_examples=0)` skips it.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one BLAS thread, set before numpy is imported

import math

import _timing

from tinygrad_nn import data as tdata
from tinygrad_nn.nn import MLP
from tinygrad_nn.train import train
from tinygrad_nn.vanishing import learning_speeds

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
        trained = MLP(sizes, seed=0)

        def epoch(trained: MLP = trained) -> None:
            train(trained, splits, epochs=1, batch_size=BATCH, lr=3.0, seed=0)

        def speeds(net: MLP = net) -> None:
            learning_speeds(net, digits.training.x[:1000], digits.training.y[:1000])

        n = _timing.calibrate([epoch, speeds], seconds)
        result = _timing.paired_blocks({"epoch": epoch, "speeds": speeds}, blocks, n)
        share = result.ratio("speeds", "epoch")
        shown = f"{100 * share[0]:.2f}% [{100 * share[1]:.2f}–{100 * share[2]:.2f}]"
        rows.append([str(sizes), n_batches, _timing.fmt_us(result.median("epoch") / 1e3, 2),
                     _timing.fmt_us(result.median("speeds") / 1e3, 3), shown])
    _timing.print_table(["network", "mini-batches", "epoch ms", "speeds ms", "share of the epoch"], rows,
                        title=f"measuring the learning speed once per epoch, digits, m = {BATCH}, {blocks} blocks")


if __name__ == "__main__":
    main()

"""Regenerate docs/learning_speed.png, the README's chapter-5 figure, from the real commands.

Two runs of [64, 30, 30, 30, 10] on the embedded digits, 30 epochs, m = 10, seed 0, each with its history
(epoch 0, the untrained network, included; each epoch's ‖∂C/∂bˡ‖ over the first 1,000 training images,
the book's measure):

* the book's setting for its chapter-5 figure (network2's defaults: N(0, 1/n_in) weights, cross-entropy,
  its generate_gradient.py's η = 0.1):
  ``python -m tinygrad_nn train --sizes 64,30,30,30,10 --init scaled --cost cross-entropy --lr 0.1 --history book.csv``
* chapter 1's setting (N(0, 1) weights, quadratic cost, η = 3.0):
  ``python -m tinygrad_nn train --sizes 64,30,30,30,10 --history chapter1.csv``

then ``python -m tinygrad_nn plot book.csv chapter1.csv -o docs/learning_speed.png``, and prints the speeds
and the gap between neighbouring hidden layers that the README quotes. Needs matplotlib. Run from the
repository root: ``python examples/render_learning_speed.py``.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from tinygrad_nn.cli import main
from tinygrad_nn.train import read_history

DOCS = Path(__file__).resolve().parent.parent / "docs"
RUNS = {"book": ["--init", "scaled", "--cost", "cross-entropy", "--lr", "0.1"], "chapter1": []}


def gaps(speed: dict[int, float]) -> str:
    """How many times faster each hidden layer learns than the one before it."""
    hidden = sorted(speed)[:-1]
    return ", ".join(f"{speed[l + 1] / speed[l]:.1f}×" for l in hidden[:-1])


def run() -> None:
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for name, options in RUNS.items():
            path = Path(folder) / f"{name}.csv"
            assert main(["train", "--sizes", "64,30,30,30,10", "--quiet", *options, "--history", str(path)]) == 0
            history = read_history(path)
            for record in (history[0], history[1], history[-1]):
                speeds = ", ".join(f"{record.learning_speed[l]:.2g}" for l in sorted(record.learning_speed))
                print(f"{name}: epoch {record.epoch}: speeds {speeds}; hidden-layer gaps {gaps(record.learning_speed)}")
            paths.append(str(path))
        title = ("[64, 30, 30, 30, 10] on the digits — book.csv: scaled init, cross-entropy, η = 0.1 (the book's "
                 "chapter-5 setting); chapter1.csv: N(0, 1), quadratic, η = 3")
        assert main(["plot", *paths, "-o", str(DOCS / "learning_speed.png"), "--title", title]) == 0


if __name__ == "__main__":
    run()

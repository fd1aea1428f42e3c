"""Make the README's results table: run the training commands and print one Markdown row each.

    python examples/results_table.py            # digits and, when installed, Fashion-MNIST
    python examples/results_table.py --only digits

Each row is measured by running the real command line (`python -m tinygrad_nn train …`) in a fresh
process, reading its per-epoch history and timing it end to end (data loading included).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

RUNS = [
    ("digits", "the default (Nielsen ch. 1)", []),
    ("digits", "cross-entropy, scaled init (ch. 3)",
     ["--cost", "cross-entropy", "--init", "scaled", "--lr", "0.5", "--epochs", "60"]),
    ("fashion-mnist", "sigmoid, quadratic (ch. 1)", ["--data", "fashion-mnist", "--sizes", "784,100,10"]),
    ("fashion-mnist", "ReLU, softmax, momentum, η halving",
     ["--data", "fashion-mnist", "--sizes", "784,512,256,10", "--activation", "relu", "--cost", "log-likelihood",
      "--init", "scaled", "--lr", "0.01", "--momentum", "0.9", "--batch-size", "32", "--patience", "2"]),
]
FASHION = "/usr/share/datasets/fashion-mnist"


def run(options: list[str]) -> tuple[list[dict], float]:
    with tempfile.TemporaryDirectory() as tmp:
        history = os.path.join(tmp, "history.json")
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "tinygrad_nn", "train", "--quiet", "--history", history, *options],
                       check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        with open(history) as f:
            return json.load(f), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("digits", "fashion-mnist"))
    args = parser.parse_args()
    print("| command | data | network | epochs | test accuracy | time |")
    print("|---|---|---|---:|---:|---:|")
    for data, what, options in RUNS:
        if args.only and data != args.only or data == "fashion-mnist" and not os.path.isdir(FASHION):
            continue
        history, seconds = run(options)
        sizes = options[options.index("--sizes") + 1] if "--sizes" in options else "64,30,10"
        activation = options[options.index("--activation") + 1] if "--activation" in options else "sigmoid"
        command = " ".join(["python -m tinygrad_nn train", *options])
        print(f"| `{command}` | {data} | [{sizes}] {activation} — {what} | {len(history)} | "
              f"{history[-1]['test_accuracy']:.1%} | {seconds:.1f} s |", flush=True)


if __name__ == "__main__":
    main()

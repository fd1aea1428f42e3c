"""Hessian-vector products, Jacobian-vector products and Hessians against PyTorch's (outside the test suite).

    pip install torch          # CPU is enough
    python benchmarks/torch_crosscheck.py

Each case is one function written twice, with tinygrad_nn ops and with torch ops, evaluated in float64 at
random points; `functional.hvp`, `jvp`, `vjp` and `hessian` are compared with
`torch.autograd.functional`'s. Prints the largest relative difference per case and exits 1 above 1e-10.
"""
from __future__ import annotations

import sys

import numpy as np

try:
    import torch
    import torch.autograd.functional as tf
except ImportError:
    sys.exit("torch is not installed: pip install torch")

from tinygrad_nn import Value, functional, linear, nn

RNG = np.random.default_rng(0)
W1, B1 = RNG.standard_normal((5, 6)) * 0.5, RNG.standard_normal(5)
W2, B2 = RNG.standard_normal((3, 5)) * 0.5, RNG.standard_normal(3)
LABELS = np.array([2, 0, 1, 1])
ONEHOT = np.eye(3)[LABELS]


def t(a: np.ndarray) -> torch.Tensor:
    return torch.tensor(a, dtype=torch.float64)


def ours_net(x: Value, output: str) -> Value:
    """A [6, 5, 3] sigmoid network on 4 examples whose input is x; the cost named by `output`."""
    z = linear(linear(x.reshape(4, 6), W1, B1).sigmoid(), W2, B2)
    if output == "quadratic":
        return nn.quadratic_cost(z.sigmoid(), LABELS)
    if output == "cross-entropy":
        return nn.cross_entropy_cost(z.sigmoid(), LABELS)
    return nn.log_likelihood_cost(z.softmax(), LABELS)


def torch_net(x: torch.Tensor, output: str) -> torch.Tensor:
    z = torch.sigmoid(x.reshape(4, 6) @ t(W1).T + t(B1)) @ t(W2).T + t(B2)
    y = t(ONEHOT)
    if output == "quadratic":
        return 0.5 / 4 * ((torch.sigmoid(z) - y) ** 2).sum()
    if output == "cross-entropy":
        return torch.nn.functional.binary_cross_entropy_with_logits(z, y, reduction="sum") / 4
    return -(y * torch.log_softmax(z, dim=-1)).sum() / 4


CASES = {  # name: (ours, torch, input size); every f maps a vector to a scalar
    "MLP + quadratic cost": (lambda x: ours_net(x, "quadratic"), lambda x: torch_net(x, "quadratic"), 24),
    "MLP + cross-entropy": (lambda x: ours_net(x, "cross-entropy"), lambda x: torch_net(x, "cross-entropy"), 24),
    "MLP + softmax, log-likelihood": (lambda x: ours_net(x, "ll"), lambda x: torch_net(x, "ll"), 24),
    "log_softmax, max, indexing": (
        lambda x: (x.reshape(2, 4).log_softmax(axis=1) * x[[1, 5, 5, 0, 2, 7, 3, 4]].reshape(2, 4)).sum()
        + x.tanh().max(),
        lambda x: (torch.log_softmax(x.reshape(2, 4), dim=1) * x[[1, 5, 5, 0, 2, 7, 3, 4]].reshape(2, 4)).sum()
        + torch.tanh(x).max(), 8),
    "pow, div, exp, log, matmul": (
        lambda x: ((x * x + 1.0) ** 1.5 / (x.exp() + 2.0)).log().sum() + x.reshape(2, 3).T.sum(axis=1) @ x[:3],
        lambda x: torch.log((x * x + 1.0) ** 1.5 / (torch.exp(x) + 2.0)).sum() + x.reshape(2, 3).T.sum(dim=1) @ x[:3],
        6),
    "softmax, sum(axis), mean, relu": (
        lambda x: (x.reshape(3, 2).softmax(axis=0) * x.reshape(3, 2)).sum(axis=0).mean() * x.relu().sum(),
        lambda x: (torch.softmax(x.reshape(3, 2), dim=0) * x.reshape(3, 2)).sum(dim=0).mean() * torch.relu(x).sum(),
        6),
}


def rel(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / max(1e-300, float(np.max(np.abs(b)))))


def main() -> None:
    print(f"torch {torch.__version__}, numpy {np.__version__}")
    worst = 0.0
    print(f"{'case':34s} {'hvp':>9s} {'jvp':>9s} {'vjp':>9s} {'hessian':>9s}")
    for name, (ours, theirs, n) in CASES.items():
        errors = []
        for seed in range(5):
            rng = np.random.default_rng(seed)
            x, v = rng.standard_normal(n), rng.standard_normal(n)
            e = [rel(functional.hvp(ours, x, v)[1], tf.hvp(theirs, t(x), t(v))[1].numpy()),
                 rel(functional.jvp(ours, x, v)[1], tf.jvp(theirs, t(x), t(v))[1].numpy()),
                 rel(functional.vjp(ours, x)[1], tf.vjp(theirs, t(x))[1].numpy()),
                 rel(functional.hessian(ours, x), tf.hessian(theirs, t(x)).numpy())]
            errors.append(e)
        e = np.max(errors, axis=0)
        worst = max(worst, float(e.max()))
        print(f"{name:34s} " + " ".join(f"{x:9.1e}" for x in e))
    print(f"largest relative difference: {worst:.1e} ({'ok' if worst <= 1e-10 else 'TOO LARGE'}, limit 1e-10)")
    sys.exit(0 if worst <= 1e-10 else 1)


if __name__ == "__main__":
    main()

"""tinygrad_nn: a small, exact autograd engine with Nielsen's multilayer perceptron on top.

- `Value`: one graph node type for Python scalars and numpy tensors, with reverse-mode `backward()`;
  `no_grad()`, `detect_anomaly()`, and `linear` (a layer's z = a·wᵀ + b as one node).
- `nn`: `MLP` (one node per layer), `ScalarMLP` (one node per weight) and the quadratic,
  cross-entropy and log-likelihood costs; `optim.SGD`: mini-batch gradient descent (eq. 20–21).
- `backprop`: the closed-form equations BP1–BP4 in numpy; `compare_gradients` checks autodiff against
  them and against finite differences; `gradcheck` checks any function against finite differences.
- `data`: the embedded digits, IDX files (MNIST, Fashion-MNIST), mini-batches; `train`: the training
  loop and model files; `perceptron`: chapter 1's NAND perceptron and adder.
- `tinygrad_nn.testing` (import it by name; it needs hypothesis): strategies and gradient checkers for
  testing your own ops against finite differences and networks against BP1–BP4.
"""
from . import backprop, data, nn, optim, perceptron, train
from .compare import compare_gradients
from .engine import Value, detect_anomaly, linear, no_grad
from .gradcheck import gradcheck

__all__ = [
           "Value",
           "backprop",
           "compare_gradients",
           "data",
           "detect_anomaly",
           "gradcheck",
           "linear",
           "nn",
           "no_grad",
           "optim",
           "perceptron",
           "train",
]
__version__ = "0.1.0"

"""tinygrad_nn: a small, exact autograd engine with Nielsen's multilayer perceptron on top.

- `Value`: one graph node type for Python scalars and numpy tensors, with reverse-mode `backward()`.
- `nn`: `MLP` (one node per layer), `ScalarMLP` (one node per weight), the quadratic, cross-entropy
  and log-likelihood costs; `optim.SGD`: mini-batch gradient descent (eq. 20–21).
- `backprop`: the closed-form equations BP1–BP4 in numpy, and `compare_gradients` to check one
  against the other; `gradcheck`: autodiff against finite differences.
"""
from . import nn, optim
from .engine import Value, detect_anomaly, linear, no_grad
from .gradcheck import gradcheck

__all__ = ["Value", "no_grad", "detect_anomaly", "linear", "gradcheck", "nn", "optim"]
__version__ = "0.1.0"

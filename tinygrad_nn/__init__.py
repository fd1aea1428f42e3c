"""tinygrad_nn: a small, exact autograd engine with Nielsen's multilayer perceptron on top.

- `Value`: one graph node type for Python scalars and numpy tensors, with reverse-mode `backward()`;
  `no_grad()`, `detect_anomaly()`, and `linear` (a layer's z = a·wᵀ + b as one node).
- `nn`: `MLP` (one node per layer), `ScalarMLP` (one node per weight) and the quadratic,
  cross-entropy and log-likelihood costs; `optim.SGD`: mini-batch gradient descent (eq. 20–21).
- `backprop`: the closed-form equations BP1–BP4 in numpy; `compare_gradients` checks autodiff against
  them and against finite differences (in Jupyter its report shows as a table); `book_deltas` gives the
  book's per-example δˡ_x (the engine's ``z.grad`` under the mean cost is δˡ_x/m per row); `gradcheck`
  checks any function against finite differences, `gradgradcheck` its second derivatives.
- `backward(create_graph=True)` writes gradients that can be differentiated again (`enable_grad()` builds
  graphs inside `no_grad()`); `functional`: vjp, jvp (forward mode), hvp, hessian; `Function`: user-defined
  ops with their own derivative (torch.autograd.Function style).
- `data`: the embedded digits, IDX files (MNIST, Fashion-MNIST), mini-batches; `train`: the training
  loop (recording each layer's learning speed, ch. 5), model and history files; `plot.plot_history`:
  training curves (needs matplotlib, the `plot` extra); `perceptron`: chapter 1's NAND perceptron and adder.
- `exercises`: the book's chapter 1–2 exercises that a computation can check — `catalog()`, `check(name,
  solution)` against autodiff and the closed form on random networks, `answer(name)`.
- `learning_speeds(net, x, y)`: each layer's speed of learning ‖∂C/∂bˡ‖ over a whole set (ch. 5);
  `chain_gradient`: ch. 5's product σ′(zˡ) wˡ⁺¹ σ′(zˡ⁺¹) … ∂C/∂aᴸ for a chain network, beside the engine's.
- `trace(fn, *args)`: the `Program` behind `backward()` — a step as straight-line numpy in the book's names
  (BP1–BP4), replayed bitwise like the dynamic graph without building it.
- `tinygrad_nn.testing` (import it by name; it needs hypothesis): strategies and gradient checkers for
  testing your own ops against finite differences and networks against BP1–BP4.
- `__version__`: the version in pyproject.toml (from the installed metadata, or the source tree's file).
"""
from . import backprop, data, exercises, functional, nn, optim, perceptron, plot, train, vanishing
from ._version import __version__
from .compare import book_deltas, compare_gradients
from .engine import Value, detect_anomaly, enable_grad, linear, no_grad
from .function import Function
from .gradcheck import gradcheck, gradgradcheck
from .vanishing import chain_gradient, learning_speeds
from .trace import Program, trace

__all__ = [
           "Function",
           "Program",
           "Value",
           "__version__",
           "backprop",
           "book_deltas",
           "chain_gradient",
           "compare_gradients",
           "data",
           "detect_anomaly",
           "enable_grad",
           "exercises",
           "functional",
           "gradcheck",
           "gradgradcheck",
           "learning_speeds",
           "linear",
           "nn",
           "no_grad",
           "optim",
           "perceptron",
           "plot",
           "trace",
           "train",
           "vanishing",
]

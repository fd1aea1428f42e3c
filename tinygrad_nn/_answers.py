"""The answer key of `tinygrad_nn.exercises`: one reference solution per exercise, in numpy, written as the
book writes it (Nielsen, *Neural Networks and Deep Learning*, ch. 1–2).

Kept apart from the statements so a learner can read `exercises.catalog()` without seeing the answers;
`exercises.answer(name)` returns one of these functions. One example is a 1-D array (the book's column
vector), wˡ is (n_l, n_{l−1}), layers are numbered as in the book (the input layer is layer 1).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import product

import numpy as np

from .backprop import sigmoid, sigmoid_prime

Arrays = list[np.ndarray]


def bp1(nabla_a: np.ndarray, z: np.ndarray) -> np.ndarray:
    return nabla_a * sigmoid_prime(z)                        # BP1: δᴸ = ∇ₐC ⊙ σ′(zᴸ)


def bp1_matrix(z: np.ndarray) -> np.ndarray:
    return np.diag(sigmoid_prime(z))                         # Σ′(zᴸ): σ′(zᴸⱼ) on the diagonal, 0 elsewhere


def bp2(w_next: np.ndarray, delta_next: np.ndarray, z: np.ndarray) -> np.ndarray:
    return (w_next.T @ delta_next) * sigmoid_prime(z)        # BP2: δˡ = ((wˡ⁺¹)ᵀ δˡ⁺¹) ⊙ σ′(zˡ)


def bp3(delta: np.ndarray) -> np.ndarray:
    return delta.copy()                                      # BP3: ∂C/∂bˡⱼ = δˡⱼ


def bp4(delta: np.ndarray, a_prev: np.ndarray) -> np.ndarray:
    return np.outer(delta, a_prev)                           # BP4: ∂C/∂wˡⱼₖ = aˡ⁻¹ₖ δˡⱼ


def _backprop(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], x: np.ndarray, y: np.ndarray,
              act: Callable[[int, np.ndarray], np.ndarray], act_prime: Callable[[int, np.ndarray], np.ndarray]
              ) -> tuple[Arrays, Arrays]:
    """The book's backprop for one example and the quadratic cost, with activation act(l, z) in layer l (0-based)."""
    a, activations, zs = x, [x], []
    for l, (w, b) in enumerate(zip(weights, biases)):        # 1. input, 2. feedforward
        z = w @ a + b
        a = act(l, z)
        zs.append(z)
        activations.append(a)
    L = len(weights) - 1
    delta = (activations[-1] - y) * act_prime(L, zs[-1])     # 3. BP1 (quadratic cost: ∇ₐC = a − y)
    nabla_b, nabla_w = [None] * len(weights), [None] * len(weights)
    for l in range(L, -1, -1):                               # 4. backpropagate the error
        if l < L:
            delta = (weights[l + 1].T @ delta) * act_prime(l, zs[l])  # BP2
        nabla_b[l] = delta                                   # 5. BP3
        nabla_w[l] = np.outer(delta, activations[l])         # 5. BP4
    return nabla_b, nabla_w


def backprop(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], x: np.ndarray, y: np.ndarray
             ) -> tuple[Arrays, Arrays]:
    return _backprop(weights, biases, x, y, lambda l, z: sigmoid(z), lambda l, z: sigmoid_prime(z))


def backprop_matrix(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], X: np.ndarray, Y: np.ndarray
                    ) -> tuple[Arrays, Arrays]:
    m = X.shape[1]                                           # examples are the columns of X and Y
    A, activations, zs = X, [X], []
    for w, b in zip(weights, biases):
        Z = w @ A + b[:, None]                               # b added to every column
        A = sigmoid(Z)
        zs.append(Z)
        activations.append(A)
    delta = (activations[-1] - Y) * sigmoid_prime(zs[-1])    # BP1, one column per example
    nabla_b, nabla_w = [None] * len(weights), [None] * len(weights)
    for l in range(len(weights) - 1, -1, -1):
        if l < len(weights) - 1:
            delta = (weights[l + 1].T @ delta) * sigmoid_prime(zs[l])  # BP2
        nabla_b[l] = delta.sum(axis=1) / m                   # BP3, the mean over the mini-batch
        nabla_w[l] = delta @ activations[l].T / m            # BP4: Σₓ δˡ_x (aˡ⁻¹_x)ᵀ / m
    return nabla_b, nabla_w


def modified_neuron(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], x: np.ndarray, y: np.ndarray,
                    l: int, j: int, f: Callable, f_prime: Callable) -> tuple[Arrays, Arrays]:
    def use_f(layer: int, z: np.ndarray, g: Callable, g_sigma: Callable) -> np.ndarray:
        out = g_sigma(z)
        if layer == l - 2:                                   # the book's layer l is weights[l − 2]
            out[j - 1] = g(z[j - 1])                         # neuron j (from 1) uses f, f′ instead of σ, σ′
        return out
    return _backprop(weights, biases, x, y, lambda k, z: use_f(k, z, f, sigmoid),
                     lambda k, z: use_f(k, z, f_prime, sigmoid_prime))


def linear_neurons(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], x: np.ndarray, y: np.ndarray
                   ) -> tuple[Arrays, Arrays]:
    return _backprop(weights, biases, x, y, lambda l, z: z, lambda l, z: np.ones_like(z))  # σ(z) = z, σ′ = 1


def sgd_step(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], mini_batch: Sequence[tuple],
             eta: float, backprop: Callable) -> tuple[Arrays, Arrays]:
    nabla_b = [np.zeros_like(b) for b in biases]
    nabla_w = [np.zeros_like(w) for w in weights]
    for x, y in mini_batch:
        delta_b, delta_w = backprop(weights, biases, x, y)   # ∂C_x/∂b, ∂C_x/∂w of one example
        nabla_b = [nb + db for nb, db in zip(nabla_b, delta_b)]
        nabla_w = [nw + dw for nw, dw in zip(nabla_w, delta_w)]
    m = len(mini_batch)
    return ([w - eta / m * nw for w, nw in zip(weights, nabla_w)],   # eq. 20
            [b - eta / m * nb for b, nb in zip(biases, nabla_b)])    # eq. 21


def perceptron_network(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], x: np.ndarray) -> np.ndarray:
    a = x
    for w, b in zip(weights, biases):
        a = (w @ a + b > 0).astype(float)                    # output 1 if w·x + b > 0, else 0
    return a


def sigmoid_limit(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], x: np.ndarray) -> np.ndarray:
    a = x
    for w, b in zip(weights, biases):
        z = w @ a + b
        a = np.where(z > 0, 1.0, np.where(z < 0, 0.0, 0.5))  # σ(c z) → 1, 0, or σ(0) = ½ where z = 0
    return a


def sum_over_paths(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], x: np.ndarray, y: np.ndarray,
                   l: int, j: int, k: int) -> float:
    a, activations, zs = x, [x], []
    for w, b in zip(weights, biases):
        z = w @ a + b
        a = sigmoid(z)
        zs.append(z)
        activations.append(a)
    first = l - 2                                            # the book's layer l is weights[l − 2]
    total = 0.0
    # a path: neuron j of layer l, then one neuron in each later layer, ending at an output neuron m
    for later in product(*(range(w.shape[0]) for w in weights[first + 1:])):
        path = (j - 1, *later)
        rate = activations[first][k - 1] * sigmoid_prime(zs[first][j - 1])  # ∂aˡⱼ/∂wˡⱼₖ
        for step, (q, p) in enumerate(zip(path, path[1:]), start=first + 1):
            rate *= weights[step][p, q] * sigmoid_prime(zs[step][p])          # ∂aᵖ/∂a_q along one edge
        total += rate * (activations[-1][path[-1]] - y[path[-1]])           # ∂C/∂aᴸₘ
    return float(total)


ANSWERS: dict[str, Callable] = {f.__name__: f for f in (
    bp1, bp1_matrix, bp2, bp3, bp4, backprop, backprop_matrix, modified_neuron, linear_neurons, sgd_step,
    perceptron_network, sigmoid_limit, sum_over_paths)}

"""Build and run the tutorial notebook, docs/tutorial.ipynb: Nielsen's chapters 1–2 with tinygrad_nn.

The cells are written here, as a list per section, so the notebook can be changed in review like code;
this script builds them with nbformat, executes them top to bottom in a fresh kernel (nbclient,
ipykernel) and writes the notebook with its outputs, so it reads on GitHub as it ran.

    python examples/make_tutorial.py                 # rebuild and execute docs/tutorial.ipynb
    python examples/make_tutorial.py -o /tmp/t.ipynb # somewhere else

Needs the `dev` extra (nbformat, nbclient, ipykernel) and Graphviz's `dot` for the pictures.
tests/test_tutorial.py executes the committed notebook and checks that its cells are these.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "docs" / "tutorial.ipynb"
TIMEOUT_S = 120  # per cell; the whole notebook runs in about ten seconds


def md(text: str) -> nbformat.NotebookNode:
    return new_markdown_cell(text.strip("\n"))


def code(text: str) -> nbformat.NotebookNode:
    return new_code_cell(text.strip("\n"))


INTRO = [md("""
# Neural networks and deep learning, chapters 1–2, with tinygrad_nn

Michael Nielsen's [*Neural Networks and Deep Learning*](http://neuralnetworksanddeeplearning.com/) builds a
network that learns to read handwritten digits (chapter 1), then explains how it learns — backpropagation
and its four equations BP1–BP4 (chapter 2). This notebook walks the same path with `tinygrad_nn`: every
number below was computed by running it (`python examples/make_tutorial.py` rebuilds it), and the test
suite runs it top to bottom, so it cannot go stale.

The data are the 1,797 8×8 digits embedded in the package (no download), so everything runs in seconds.
To run it yourself: `pip install ".[tutorial]"` (numpy, the `graphviz` package and Jupyter; the pictures also
need Graphviz's `dot` program), then `jupyter notebook docs/tutorial.ipynb`.
"""), code("""
import time

import numpy as np

import tinygrad_nn
import viz
from tinygrad_nn import Value, backprop, compare_gradients, data, exercises, nn, optim, perceptron

print("tinygrad_nn", tinygrad_nn.__version__, "· numpy", np.__version__)
""")]

PERCEPTRONS = [md("""
## 1. Perceptrons, and a NAND adder

A perceptron takes binary inputs $x_j$ and outputs 1 if $\\sum_j w_j x_j + b > 0$, else 0. The book's
example has weights $-2, -2$ and bias 3: it outputs 0 only when both inputs are 1 — a NAND gate.
`tinygrad_nn.perceptron` computes it on the engine's `Value`s:
"""), code("""
for x1 in (0, 1):
    for x2 in (0, 1):
        z = -2 * x1 + -2 * x2 + 3
        print(f"x = ({x1}, {x2})   z = w·x + b = {z:2d}   output = {perceptron.nand(x1, x2)}")
"""), md("""
NAND is universal: any logical function can be built from it. The book's example is a circuit of five NAND
gates that adds two bits — four make the sum bit $x_1 \\oplus x_2$, the fifth the carry bit $x_1 x_2$ (a
*half adder*); `half_add` is that circuit, made of NAND perceptrons:
"""), code("""
for x1 in (0, 1):
    for x2 in (0, 1):
        print(f"{x1} + {x2}: sum bit, carry bit =", perceptron.half_add(x1, x2))
"""), md("""
To add numbers, each bit position must also take the carry of the position below: `add_bits` is such a
*full adder*, nine NAND perceptrons, and `add_numbers` ripples it along the bits of two integers — a
network of perceptrons doing arithmetic:
"""), code("""
print(" x1 x2 carry-in │ sum carry")
for x1 in (0, 1):
    for x2 in (0, 1):
        for c in (0, 1):
            s, carry = perceptron.add_bits(x1, x2, c)
            assert 2 * carry + s == x1 + x2 + c
            print(f" {x1:2d} {x2:2d} {c:8d} │ {s:3d} {carry:5d}")
print("23 + 19 =", perceptron.add_numbers(23, 19), "(8 full adders of 9 NANDs each: 72 perceptrons)")
"""), md("""
The catch: a perceptron's output jumps from 0 to 1, so a small change in a weight can flip it and change
the rest of the network completely. There is no small, steady improvement to learn from — and the step
has no useful gradient.
""")]

SIGMOID = [md("""
## 2. The sigmoid neuron

A sigmoid neuron outputs $\\sigma(w \\cdot x + b)$ with $\\sigma(z) = 1/(1 + e^{-z})$: a smoothed step. Now a
small change in the weights makes a small change in the output, to first order (eq. 5)

$$\\Delta\\text{output} \\approx \\sum_j \\frac{\\partial\\,\\text{output}}{\\partial w_j}\\Delta w_j +
\\frac{\\partial\\,\\text{output}}{\\partial b}\\Delta b .$$

The engine computes those partial derivatives: build the neuron from `Value`s and call `backward()`.
"""), code("""
x = np.array([0.5, -1.0, 2.0])
w = Value(np.array([0.3, -0.2, 0.4]), name="w")
b = Value(0.1, name="b")
out = (w @ x + b).sigmoid()
out.backward()
print(f"output = {out.data:.6f}   ∂out/∂w = {w.grad}   ∂out/∂b = {b.grad:.6f}")

dw, db = np.array([0.01, -0.02, 0.005]), -0.01
predicted = w.grad @ dw + b.grad * db                                   # eq. 5
actual = float(backprop.sigmoid((w.data + dw) @ x + b.data + db)) - out.data
print(f"Δoutput predicted by eq. 5: {predicted:+.6f}   actual: {actual:+.6f}")
"""), md("""
The perceptron is the limit of the sigmoid neuron: multiply all weights and biases by $c > 0$ and, as
$c \\to \\infty$, the sigmoid neuron's output becomes the perceptron's — except where $w \\cdot x + b = 0$
(the book's first exercise, *Sigmoid neurons simulating perceptrons*; section 9 has it to solve). Here is
the NAND neuron with its weights scaled:
"""), code("""
inputs = [(0, 0), (0, 1), (1, 0), (1, 1)]
for c in (1, 3, 10, 100):
    outputs = [float(backprop.sigmoid(c * (-2 * x1 - 2 * x2 + 3))) for x1, x2 in inputs]
    print(f"c = {c:3d}:  " + "  ".join(f"{o:.6f}" for o in outputs))
print("perceptron:", "  ".join(f"{perceptron.nand(*x):8d}" for x in inputs))
""")]

NETWORK = [md("""
## 3. A network that reads digits

The book's network has 784 inputs (28×28 MNIST pixels), 30 hidden sigmoid neurons and 10 outputs, one per
digit. Our digits are 8×8, so the network is `[64, 30, 10]`; everything else is chapter 1's setting. The
data come split into training, validation and test images, pixels scaled to [0, 1]:
"""), code("""
splits = data.load_digits()
for name in ("training", "validation", "test"):
    part = getattr(splits, name)
    print(f"{name:>10}: x {part.x.shape}, labels {np.bincount(part.y)}")

shades = " .:-=+*#%@"
for row in range(8):  # the first three training images, as text
    print("   ".join("".join(2 * shades[int(p * 9.99)] for p in splits.training.x[k].reshape(8, 8)[row])
                     for k in range(3)))
print("labels:", splits.training.y[:3])
"""), md("""
The network learns by **stochastic gradient descent** on the quadratic cost (eq. 6)

$$C(w, b) = \\frac{1}{2n} \\sum_x \\lVert y(x) - a \\rVert^2 ,$$

where $y(x)$ is the desired output (1 for the right digit, 0 elsewhere) and $a$ the network's output.
Each step takes a **mini-batch** of $m = 10$ training images and moves every weight and bias against the
gradient of that mini-batch's cost, scaled by the **learning rate** $\\eta = 3.0$ (eqs. 20–21):

$$w_k \\to w_k - \\frac{\\eta}{m} \\sum_j \\frac{\\partial C_{X_j}}{\\partial w_k}, \\qquad
b_l \\to b_l - \\frac{\\eta}{m} \\sum_j \\frac{\\partial C_{X_j}}{\\partial b_l} .$$

One pass over the shuffled training images is an **epoch**; the book trains for 30. `nn.quadratic_cost`
is the mean over the mini-batch, so `optim.SGD` steps exactly by eq. 20–21, and `cost.backward()` is
backpropagation (section 4). The seed fixes the initial N(0, 1) weights and the shuffling, so this is the
same run as `python -m tinygrad_nn train`:
"""), code("""
net = nn.MLP([64, 30, 10], seed=0)             # sigmoid neurons, N(0, 1) weights and biases
sgd = optim.SGD(net.parameters(), lr=3.0)      # η = 3.0
rng = np.random.default_rng(0)                 # shuffles the training images every epoch
start = time.perf_counter()
for epoch in range(1, 31):
    for x, y in data.mini_batches(splits.training.x, splits.training.y, 10, seed=rng):
        cost = nn.quadratic_cost(net(x), y)    # C = 1/2m Σ‖y − a‖² over the mini-batch
        sgd.zero_grad()
        cost.backward()                        # ∂C/∂w and ∂C/∂b for every weight and bias
        sgd.step()                             # eq. 20–21
    if epoch in (1, 2, 3, 5, 10, 20, 30):
        correct = int(net.accuracy(splits.test.x, splits.test.y) * len(splits.test))
        print(f"epoch {epoch:2d}: {correct} / {len(splits.test)} test images")
print(f"test accuracy: {net.accuracy(splits.test.x, splits.test.y):.1%}  "
      f"({time.perf_counter() - start:.1f} s for 30 epochs)")
"""), md("""
The learning rate matters. Too small and the network barely moves in 30 epochs; far too large and the
sigmoid neurons saturate (section 6) — the book reports 9.8% for η = 100, i.e. chance.
`tinygrad_nn.train.train` is the loop above (with validation, η halving and model saving, when asked):
"""), code("""
from tinygrad_nn.train import train

trained = {3.0: net}
for eta in (0.01, 0.3, 100.0):
    trained[eta] = nn.MLP([64, 30, 10], seed=0)
    with np.errstate(over="ignore"):  # η = 100 drives z to ±1000s, where e^(−z) overflows harmlessly
        train(trained[eta], splits, epochs=30, batch_size=10, lr=eta, seed=0)
for eta, model in sorted(trained.items()):
    print(f"η = {eta:6}: test accuracy after 30 epochs {model.accuracy(splits.test.x, splits.test.y):6.1%}")
""")]

NOTATION = [md("""
## 4. Backpropagation, derived

Chapter 2 derives backpropagation in a few steps; here they are in the book's order, each checked by
computation. First the notation: $w^l_{jk}$ is the weight *from* the $k$-th neuron of layer $l-1$ *to*
the $j$-th neuron of layer $l$. The order $j, k$ looks backwards and is chosen so that a layer is one
matrix product: row $j$ of the matrix $w^l$ holds the weights into neuron $j$, so
$z^l = w^l a^{l-1} + b^l$ and $a^l = \\sigma(z^l)$ (eq. 25). The book numbers the input layer 1 and the
neurons from 1; `net.weights[l - 2]` is $w^l$, of shape $(n_l, n_{l-1})$, and numpy counts from 0, so
$w^3_{24}$ is `weights[1][1, 3]`:
"""), code("""
small = nn.MLP([3, 4, 2], seed=1)
print(f"w³₂₄ = small.weights[1][2 - 1, 4 - 1] = {small.weights[1][1, 3]:.3g}   (w³ has shape {small.weights[1].shape})")
viz.draw_network(small, highlight=(3, 2, 4))   # from neuron 4 of layer 2 to neuron 2 of layer 3
"""), md("""
**Two assumptions about the cost.** Backpropagation computes $\\partial C_x/\\partial w$ and
$\\partial C_x/\\partial b$ for a single training example $x$. That gives the gradient of the cost if
(1) the cost is an average over the examples, $C = \\frac{1}{n}\\sum_x C_x$, and (2) each $C_x$ is a
function of the network's outputs $a^L$ alone (the desired output $y$ is fixed, not a variable). The
quadratic cost satisfies both — on five test images:
"""), code("""
xs, labels = splits.test.x[:5], splits.test.y[:5]
each = [nn.quadratic_cost(net(xs[i:i + 1]), labels[i:i + 1]).data for i in range(5)]
print(f"C of the five together: {nn.quadratic_cost(net(xs), labels).data:.6f}   mean of the five C_x: {np.mean(each):.6f}")
a_L = net(xs).data                                       # (1) above; (2): C from the outputs aᴸ and y alone
print(f"C from aᴸ and y alone:  {np.mean(0.5 * np.sum((np.eye(10)[labels] - a_L) ** 2, axis=1)):.6f}")
"""), md("""
**The Hadamard product.** $s \\odot t$ multiplies two vectors of the same size element by element,
$(s \\odot t)_j = s_j t_j$ — numpy's `*` on arrays (not the dot product `@`):
"""), code("""
s, t = np.array([1.0, 2.0]), np.array([3.0, 4.0])
print("s ⊙ t =", s * t, "   the dot product s·t =", s @ t)
""")]

BACKPROP_BY_HAND = [md("""
### The four fundamental equations

Write $z^l = w^l a^{l-1} + b^l$ for the weighted input of layer $l$, $a^l = \\sigma(z^l)$ for its
activation (the book numbers the input layer 1, so our layers are 2 and $L = 3$), and
$\\delta^l = \\partial C / \\partial z^l$ for its *error*. Chapter 2 proves (the proof follows
below)

| | equation | in numpy, one example |
|---|---|---|
| BP1 | $\\delta^L = \\nabla_a C \\odot \\sigma'(z^L)$ | `delta3 = (a3 - y) * sp(z3)` |
| BP2 | $\\delta^l = ((w^{l+1})^T \\delta^{l+1}) \\odot \\sigma'(z^l)$ | `delta2 = (w3.T @ delta3) * sp(z2)` |
| BP3 | $\\partial C / \\partial b^l_j = \\delta^l_j$ | `nabla_b = delta` |
| BP4 | $\\partial C / \\partial w^l_{jk} = a^{l-1}_k \\delta^l_j$ | `nabla_w = np.outer(delta, a_prev)` |

with $\\sigma'(z) = \\sigma(z)(1 - \\sigma(z))$. Here they are for one test image, on the trained network,
next to what the engine's `backward()` left in `z.grad`, `b.grad` and `w.grad`:
"""), code("""
x, label = splits.test.x[0], splits.test.y[0]
y = np.eye(10)[label]                                  # the desired output: one-hot
(w2, w3), (b2, b3) = net.weights, net.biases           # the book's wˡ (n_out, n_in) and bˡ

def sp(z):                                             # σ′(z) = σ(z)(1 − σ(z))
    return backprop.sigmoid(z) * (1 - backprop.sigmoid(z))

z2 = w2 @ x + b2;  a2 = backprop.sigmoid(z2)           # feedforward (eq. 25)
z3 = w3 @ a2 + b3; a3 = backprop.sigmoid(z3)
delta3 = (a3 - y) * sp(z3)                             # BP1 (quadratic cost: ∇ₐC = a − y)
delta2 = (w3.T @ delta3) * sp(z2)                      # BP2
nabla_b3, nabla_b2 = delta3, delta2                    # BP3
nabla_w3, nabla_w2 = np.outer(delta3, a2), np.outer(delta2, x)  # BP4

net.zero_grad()                                        # the engine, on the same example
zs, activations = net.feedforward(x[None, :])          # a mini-batch of one: z.grad is δ itself
nn.quadratic_cost(activations[-1], y[None, :]).backward()
layer2, layer3 = net.layers
print(f"label {label}, network says {int(np.argmax(a3))};  C = {0.5 * np.sum((a3 - y) ** 2):.3e}")
for what, by_hand, engine in [("δ³ vs z3.grad", delta3, zs[1].grad[0]),
                              ("δ² vs z2.grad", delta2, zs[0].grad[0]),
                              ("∂C/∂b³ vs b.grad", nabla_b3, layer3.bias.grad),
                              ("∂C/∂b² vs b.grad", nabla_b2, layer2.bias.grad),
                              ("∂C/∂w³ vs w.grad", nabla_w3, layer3.weight.grad),
                              ("∂C/∂w² vs w.grad", nabla_w2, layer2.weight.grad)]:
    print(f"{what:<17} shape {by_hand.shape!s:<8} largest |value| {np.abs(by_hand).max():.3e}   "
          f"largest |difference| {np.abs(by_hand - engine).max():.1e}")
"""), md("""
The engine never saw these equations: it differentiates each operation separately (a layer's
$z = a w^T + b$, the sigmoid, the cost) and chains them backwards. That the two agree to the last bits
of float64 is the content of chapter 2. `compare_gradients` makes this check on a whole mini-batch, layer
by layer, against `tinygrad_nn.backprop` (BP1–BP4 in matrix form) and against finite differences:
"""), code("""
report = compare_gradients(net, splits.test.x[:10], splits.test.y[:10])
print(report)
""")]

PROOF = [md("""
### Proof of BP1 and BP2, by the chain rule

The proofs need only the chain rule. To check every step with numbers, take a network small enough to
write out, `[2, 3, 2]`, built as a `ScalarMLP` — one `Value` per weight, so after `backward()` the engine
holds $\\partial C/\\partial v$ for every single $z^l_j$, $a^l_j$, $w^l_{jk}$ and $b^l_j$ — and one example:
"""), code("""
scalar_net = nn.ScalarMLP([2, 3, 2], seed=4)
x, y = [0.8, 0.3], [1.0, 0.0]                       # one example and its desired output
z, a = {}, {1: x}                                   # z[l][j - 1] is zˡⱼ, a[l][j - 1] is aˡⱼ (the book counts from 1)
for l, layer in enumerate(scalar_net.layers, start=2):                      # feedforward, neuron by neuron
    z[l] = [neuron.weighted_input(a[l - 1]) for neuron in layer.neurons]    # zˡⱼ = Σₖ wˡⱼₖ aˡ⁻¹ₖ + bˡⱼ
    a[l] = [zj.sigmoid() for zj in z[l]]                                    # aˡⱼ = σ(zˡⱼ)
C = 0.5 * sum((aj - yj) ** 2 for aj, yj in zip(a[3], y))                    # C = ½‖y − a³‖²
C.backward()                                        # the engine: ∂C/∂v in v.grad, for every v above
print(f"a³ = ({a[3][0].data:.4f}, {a[3][1].data:.4f}), y = {y}, C = {C.data:.6f}")

sup, sub = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"), str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
gaps = []
def same(by_hand, engine):                          # ✓ when the chain rule's number is the engine's gradient
    gaps.append(abs(by_hand - engine))
    return "✓" if gaps[-1] < 1e-12 else "✗"
"""), md("""
**BP1.** By definition $\\delta^L_j = \\partial C/\\partial z^L_j$. The cost depends on $z^L_j$ through the
output activations, so $\\delta^L_j = \\sum_k \\frac{\\partial C}{\\partial a^L_k}\\frac{\\partial a^L_k}{\\partial z^L_j}$;
but $a^L_k = \\sigma(z^L_k)$ depends on $z^L_j$ only when $k = j$, which leaves
$\\delta^L_j = \\frac{\\partial C}{\\partial a^L_j}\\,\\sigma'(z^L_j)$ — BP1. For the quadratic cost
$\\partial C/\\partial a^L_j = a^L_j - y_j$. Each factor, beside the engine's gradient of the same quantity:
"""), code("""
delta = {3: [], 2: []}
for j, (zj, aj, yj) in enumerate(zip(z[3], a[3], y), start=1):
    dC_da = aj.data - yj                                       # ∂C/∂a³ⱼ
    d = dC_da * sp(zj.data)                                    # BP1
    delta[3].append(d)
    J = str(j).translate(sub)
    print(f"∂C/∂a³{J} = a³{J} − y{J} = {aj.data:.4f} − {yj:.0f} = {dC_da:+.6f} {same(dC_da, aj.grad)}   "
          f"σ′(z³{J}) = σ′({zj.data:+.4f}) = {sp(zj.data):.6f}   δ³{J} = {d:+.6f} {same(d, zj.grad)}")
"""), md("""
**BP2.** $z^l_j$ reaches the cost only through the next layer's weighted inputs, so
$\\delta^l_j = \\sum_k \\frac{\\partial C}{\\partial z^{l+1}_k}\\frac{\\partial z^{l+1}_k}{\\partial z^l_j}
= \\sum_k \\delta^{l+1}_k \\frac{\\partial z^{l+1}_k}{\\partial z^l_j}$. Since
$z^{l+1}_k = \\sum_j w^{l+1}_{kj}\\sigma(z^l_j) + b^{l+1}_k$, differentiating gives
$\\frac{\\partial z^{l+1}_k}{\\partial z^l_j} = w^{l+1}_{kj}\\,\\sigma'(z^l_j)$, so
$\\delta^l_j = \\sum_k w^{l+1}_{kj}\\,\\delta^{l+1}_k\\,\\sigma'(z^l_j)$ — BP2, whose vector form is
$((w^{l+1})^T \\delta^{l+1}) \\odot \\sigma'(z^l)$. For the three hidden neurons:
"""), code("""
w3 = [[w.data for w in neuron.weights] for neuron in scalar_net.layers[1].neurons]   # w3[k - 1][j - 1] is w³ₖⱼ
for j, zj in enumerate(z[2], start=1):
    terms = [w3[k][j - 1] * delta[3][k] for k in range(2)]     # w³ₖⱼ δ³ₖ for k = 1, 2
    d = sum(terms) * sp(zj.data)                               # BP2
    delta[2].append(d)
    J = str(j).translate(sub)
    print(f"δ²{J} = (w³₁{J} δ³₁ + w³₂{J} δ³₂) σ′(z²{J}) = ({terms[0]:+.6f} {terms[1]:+.6f}) × {sp(zj.data):.6f} "
          f"= {d:+.6f} {same(d, zj.grad)}")
"""), md("""
**BP3 and BP4.** $z^l_j = \\sum_k w^l_{jk} a^{l-1}_k + b^l_j$, so $\\partial z^l_j/\\partial b^l_j = 1$ and
$\\partial z^l_j/\\partial w^l_{jk} = a^{l-1}_k$; one more application of the chain rule,
$\\frac{\\partial C}{\\partial b^l_j} = \\delta^l_j \\frac{\\partial z^l_j}{\\partial b^l_j}$, gives BP3,
$\\partial C/\\partial b^l_j = \\delta^l_j$, and likewise BP4, $\\partial C/\\partial w^l_{jk} = a^{l-1}_k\\,\\delta^l_j$
(proving these two is the book's problem). Every bias and weight of the network:
"""), code("""
for l, layer in enumerate(scalar_net.layers, start=2):
    a_prev = [getattr(v, "data", v) for v in a[l - 1]]         # aˡ⁻¹ (the inputs x when l = 2)
    for j, neuron in enumerate(layer.neurons, start=1):
        d = delta[l][j - 1]
        bp4 = [(a_prev[k] * d, w.grad) for k, w in enumerate(neuron.weights)]
        L, P, J = str(l).translate(sup), str(l - 1).translate(sup), str(j).translate(sub)
        print(f"∂C/∂b{L}{J} = δ{L}{J} = {d:+.6f} {same(d, neuron.bias.grad)}   ∂C/∂w{L}{J}ₖ = a{P}ₖ δ{L}{J} = "
              + "  ".join(f"{h:+.6f} {same(h, e)}" for h, e in bp4))
print(f"{len(gaps)} derivatives by the chain rule, each the engine's gradient: largest gap {max(gaps):.1e}")
assert max(gaps) < 1e-12
""")]

ALGORITHM = [md("""
### The backpropagation algorithm

The equations give the book's algorithm for one example $x$:

1. **Input** $x$: set the activation $a^1$ of the input layer.
2. **Feedforward**: for $l = 2, \\dots, L$ compute $z^l = w^l a^{l-1} + b^l$ and $a^l = \\sigma(z^l)$.
3. **Output error** $\\delta^L = \\nabla_a C \\odot \\sigma'(z^L)$ (BP1).
4. **Backpropagate the error**: for $l = L-1, \\dots, 2$, $\\delta^l = ((w^{l+1})^T\\delta^{l+1}) \\odot \\sigma'(z^l)$ (BP2).
5. **Output** the gradient: $\\partial C/\\partial w^l_{jk} = a^{l-1}_k\\delta^l_j$ and $\\partial C/\\partial b^l_j = \\delta^l_j$ (BP3, BP4).

For a mini-batch of $m$ examples, steps 1–5 run for each $x$, and then gradient descent steps
$w^l \\to w^l - \\frac{\\eta}{m}\\sum_x \\delta^{x,l}(a^{x,l-1})^T$ and
$b^l \\to b^l - \\frac{\\eta}{m}\\sum_x \\delta^{x,l}$. The book's network.py loops over the examples; its
problem "fully matrix-based approach" puts the $m$ examples side by side in one matrix, so each step is
one matrix product for the whole mini-batch. `tinygrad_nn.backprop.backprop` is that form (one row per
example); both give the same gradient:
"""), code("""
xb, yb = splits.training.x[:10], splits.training.y[:10]

def example_by_example():                       # steps 1–5 for each x, then the mean over the mini-batch
    each = [backprop.backprop(net.weights, net.biases, xi, yi) for xi, yi in zip(xb, yb)]
    return [np.mean([g.nabla_w[l] for g in each], axis=0) for l in range(2)]

def matrix_form():                              # all ten examples at once
    return backprop.backprop(net.weights, net.biases, xb, yb).nabla_w

gap = max(np.abs(p - q).max() for p, q in zip(example_by_example(), matrix_form()))
times = {}
for fn in (example_by_example, matrix_form):
    runs = []
    for _ in range(30):
        t = time.perf_counter(); fn(); runs.append(time.perf_counter() - t)
    times[fn.__name__] = min(runs)
print(f"∂C/∂w of a mini-batch of 10: the two forms differ by at most {gap:.1e}")
print(f"example by example {times['example_by_example'] * 1e6:.0f} µs, matrix form "
      f"{times['matrix_form'] * 1e6:.0f} µs: {times['example_by_example'] / times['matrix_form']:.1f}× faster")
""")]

# The lead adds the cells of viz.draw_backprop (BP1–BP4 drawn per layer) and of viz.animate_backward
# (the backward-pass player) here after merging those branches; they run right after the cells above,
# with `net`, `splits`, `zs` and `viz` defined.
DRAW_BACKPROP_CELLS = [md("""
`viz.draw_backprop` draws chapter 2 itself for one example: the forward pass along grey arrows, then the
backward pass along orange dashed ones, each labelled with the equation that computes it — BP1 at the
output, BP2 from layer to layer, BP3 and BP4 to the gradients. Every gradient box carries its measured
agreement with the closed form and with finite differences, so the picture is a check, not an illustration:
"""), code("""
k = 7
x7, label7 = splits.test.x[k], int(splits.test.y[k])
viz.draw_backprop(net, x7, label7, cost="quadratic", image=x7.reshape(8, 8),
                  title=f"test example {k}: label {label7}, the network predicts {int(net.predict(x7)[0])}")
""")]
BACKWARD_PLAYER_CELLS = [md("""
`viz.animate_backward` replays `backward()` one rule at a time, in the engine's own order: step k
highlights the node whose rule runs, fills in the gradients computed so far and names the rule (the BP
equations for a layer). Use ◀ ▶, the slider, the arrow keys or ▶ play:
"""), code("""
cost7 = nn.quadratic_cost(net(x7[None, :]), np.eye(10)[[label7]])
viz.animate_backward(cost7)
""")]

TRACE = [md("""
### The program behind `backward()`

What does `backward()` actually *do*? `tinygrad_nn.trace(fn, *args)` runs a step once and writes it down as
straight-line numpy: the forward ops, then the backward rule of each op in the order `backward()` runs them,
each line tagged with the equation it is. Here is one gradient-descent step of a [2, 3, 1] network on a
mini-batch of two examples (`optimizer=` adds the update, eq. 20–21):"""),
code("""
import numpy as np
from tinygrad_nn import nn, optim, trace

tiny = nn.MLP([2, 3, 1], seed=0)
tiny_sgd = optim.SGD(tiny.parameters(), lr=3.0)
xs = np.array([[0.5, -1.0], [1.0, 0.25]])  # one example per row
ys = np.array([[1.0], [0.0]])

program = trace(lambda x, y: nn.quadratic_cost(tiny(x), y), xs, ys, optimizer=tiny_sgd)
print(program)"""),
md("""
Read it top to bottom. The forward half is eq. 25 layer by layer. The backward half starts at
∂C/∂C = 1 and walks the graph backwards: the cost's rule gives ∇ₐC, σ's rule turns it into δ³ (**BP1**), the
layer's rule gives ∂C/∂b³ (**BP3**), ∂C/∂w³ (**BP4**) and (w³)ᵀδ³, which σ's rule at the hidden layer turns
into δ² (**BP2**) — and so on down. Nothing in the engine knows BP1–BP4: they are what the local rules of the
ops compose into. Compare the book's `backprop`, written by hand in `tinygrad_nn.backprop`:"""),
code("""
import inspect
from tinygrad_nn import backprop

print(inspect.getsource(backprop._backprop))"""),
md("""
The same equations, in another order of operations: the book's version averages δ at the end
(BP3 and BP4 multiply by 1/m), the engine's cost divides by m at the start, so the numbers agree to rounding —
while the program agrees with `backward()` *bitwise*, because every line is the numpy expression that op's rule
computes. Run the program's text yourself on the same arrays:"""),
code("""
tiny.zero_grad()
tiny_cost = nn.quadratic_cost(tiny(xs), ys)
tiny_cost.backward()                                    # the dynamic graph

names = program.namespace(xs, ys)                     # x, y, w2, b2, w3, b3 and the helpers the text uses
exec(program.source.split("# ---- update ----")[0], names)   # forward and backward, not the update
print("cost:", names["cost"] == tiny_cost.item())
for name, p in zip(["w2", "b2", "w3", "b3"], tiny.parameters()):
    print(f"nabla_{name} bitwise equal to {name}.grad:", np.array_equal(names[f"nabla_{name}"], p.grad))

closed = backprop.backprop(tiny.weights, tiny.biases, xs, ys)  # the closed form: equal to rounding
print("closed form BP1–BP4 agrees:", all(np.allclose(a, p.grad, rtol=1e-12, atol=1e-15)
                                          for a, p in zip([closed.nabla_w[0], closed.nabla_b[0], closed.nabla_w[1], closed.nabla_b[1]],
                                                          tiny.parameters())))"""),
md("""
Calling `program(xs, ys)` replays the step on new arrays of the same shapes — parameters are read
afresh on every call, so training just calls it in a loop (`tinygrad-nn train --trace` does). Its first 8 calls
run the traced path through the engine's own ops (compiling the text costs more than a few steps, so a program
used only a few times never pays for it); the 9th compiles the text, and from then on the replay writes into
arrays it allocated once and builds no graph, which is why it is faster than building the graph anew on every
step; `viz.draw_graph(program)` draws it line by line."""),
code("""
rng_tiny = np.random.default_rng(0)
for step in range(3):
    x_new, y_new = rng_tiny.random((2, 2)), rng_tiny.integers(0, 2, (2, 1)).astype(float)
    print(f"step {step}: cost {program(x_new, y_new):.6f}")"""),]


PICTURES = [md("""
## 5. Pictures

`viz.draw_graph` draws the computation graph that `backward()` walks — one box per `Value` with its value
and gradient, one oval per operation. With one node per weight (`nn.ScalarMLP`) a tiny network shows
every $\\partial C / \\partial w$ (the legend says which box is a weight, an input or the cost):
"""), code("""
tiny = nn.ScalarMLP([2, 2, 1], seed=3)
for l, layer in enumerate(tiny.layers, start=2):       # the book's names, neurons from 1: wˡⱼₖ and bˡⱼ
    for j, neuron in enumerate(layer.neurons, start=1):
        neuron.bias.name = f"b{str(l).translate(sup)}{str(j).translate(sub)}"
        for k, w in enumerate(neuron.weights, start=1):
            w.name = f"w{str(l).translate(sup)}{str(j).translate(sub)}{str(k).translate(sub)}"
inputs = [Value(0.8, requires_grad=False, name="x1"), Value(0.3, requires_grad=False, name="x2")]
(a,) = tiny(inputs)
a.name = "a"
C = 0.5 * (a - 1.0) ** 2                              # the quadratic cost, target y = 1
C.name = "C"
C.backward()
viz.draw_graph(C, rankdir="TB")                       # a graphviz.Digraph: Jupyter shows it as SVG
"""), md("""
The digits network builds one node per layer, so its whole graph for a mini-batch is small: one `linear`
($z = a w^T + b$) and one `σ` per layer, then the cost. Tensors show their shape and mean:
"""), code("""
net.zero_grad()
zs, activations = net.feedforward(splits.test.x[:10])
cost = nn.quadratic_cost(activations[-1], splits.test.y[:10])
cost.backward()
viz.draw_graph(cost, rankdir="TB")
"""), md("""
`viz.draw_network` draws the book's picture of the layers of neurons: edges blue for positive weights and
red for negative ones, thicker for larger $|w|$, every neuron annotated with its δ averaged over that
mini-batch (the widest layers are summarised). A neuron outlined is *saturated* — $\\sigma'(z) < 0.01$ —
and learns slowly (section 6). The outlined output neurons here are confidently *right* ($a \\approx 0$
where $y = 0$), which is harmless; a saturated neuron that is wrong is the trouble:
"""), code("""
viz.draw_network(net, show_delta=True, zs=zs)
"""), *DRAW_BACKPROP_CELLS, *BACKWARD_PLAYER_CELLS]

SATURATION = [md("""
## 6. Saturation: why some neurons learn slowly

Every δ carries a factor $\\sigma'(z)$ (BP1, BP2), and $\\sigma'(z) = \\sigma(z)(1-\\sigma(z))$ is at most
1/4 and vanishes as $|z|$ grows. A neuron whose $z$ is large — *saturated* — passes back almost no error,
so its weights (BP4: $\\partial C/\\partial w = a_{in}\\,\\delta$) hardly change, however wrong it is.
An output neuron that should say 0 but says nearly 1:
"""), code("""
for z in (0.0, 2.0, 5.0, 10.0, 20.0):
    a = float(backprop.sigmoid(z))
    print(f"z = {z:4}: a = {a:.9f}  σ′(z) = {float(sp(z)):.2e}  δ = (a − 0)·σ′(z) = {a * float(sp(z)):.2e}")
"""), md("""
Chapter 1 initialises every weight and bias from N(0, 1). A hidden neuron of the digits network sums 64
inputs, so its $z$ can be large from the start: count the hidden neurons saturated on most training
images, before training and after — and with η = 100, where the updates kick every $z$ far out:
"""), code("""
def saturated_share(model):
    z2 = model.feedforward(splits.training.x)[0][0].data          # (1257, 30): z of each hidden neuron
    return np.mean(np.mean(sp(z2) < 0.01, axis=0) > 0.5)          # neurons saturated on most images

fresh = nn.MLP([64, 30, 10], seed=0)
print(f"N(0, 1) init, before training: {saturated_share(fresh):.0%} of hidden neurons saturated")
print(f"after 30 epochs with η = 3:   {saturated_share(net):.0%}")
with np.errstate(over="ignore"):
    hot = trained[100.0]                                          # section 3's run with η = 100
    print(f"after 30 epochs with η = 100: {saturated_share(hot):.0%} — "
          f"test accuracy {hot.accuracy(splits.test.x, splits.test.y):.1%}")
"""), md("""
So the starting weights decide how much of the network can learn, and the result depends on the seed.
Chapter 3's remedy is to scale the initial weights by $1/\\sqrt{n_{in}}$ (`init="scaled"`), which keeps
$z$ near 0, and the cross-entropy cost, whose $\\delta^L = a - y$ has no $\\sigma'$ factor at all. Over
five seeds:
"""), code("""
def run(seed, **setting):
    model = nn.MLP([64, 30, 10], seed=seed, init=setting.pop("init", "normal"))
    return train(model, splits, epochs=30, seed=seed, **setting)[-1].test_accuracy

for title, setting in [("ch. 1: N(0, 1), quadratic, η = 3.0", {}),
                       ("ch. 3: scaled, cross-entropy, η = 0.5", {"init": "scaled", "cost": "cross-entropy", "lr": 0.5})]:
    accuracies = [run(seed, **dict(setting)) for seed in range(5)]
    print(f"{title:<40} " + "  ".join(f"{a:.1%}" for a in accuracies) + f"   mean {np.mean(accuracies):.1%}")
""")]

SPEED = [md("""
## 7. Why backpropagation is fast

The obvious way to get $\\partial C/\\partial w_j$ is a finite difference,
$(C(w + \\epsilon e_j) - C(w))/\\epsilon$: one extra forward pass *per weight*. Backpropagation gets every
partial derivative from one forward and one backward pass, about the cost of two forward passes. Timed
on a mini-batch of 10, for the digits network and for the book's MNIST-sized `[784, 30, 10]`:
"""), code("""
def best_of(repeat, fn, *args):                 # the fastest of `repeat` calls, in seconds
    times = []
    for _ in range(repeat):
        t = time.perf_counter(); fn(*args); times.append(time.perf_counter() - t)
    return min(times)

def finite_differences(model, x, y, eps=1e-6):  # forward differences, one forward pass per parameter
    ws, bs = [w.copy() for w in model.weights], [b.copy() for b in model.biases]
    c0 = backprop.cost_value(ws, bs, x, y)
    grads = []
    for p in ws + bs:
        g, flat = np.empty(p.size), p.reshape(-1)
        for j in range(p.size):
            keep = flat[j]
            flat[j] = keep + eps
            g[j] = (backprop.cost_value(ws, bs, x, y) - c0) / eps
            flat[j] = keep
        grads.append(g)
    return np.concatenate(grads)

def one_backward(model, x, y):                  # the engine: one forward and one backward pass
    model.zero_grad()
    nn.quadratic_cost(model(x), y).backward()
    return np.concatenate([p.grad.ravel() for p in [l.weight for l in model.layers] + [l.bias for l in model.layers]])

rng = np.random.default_rng(0)
for sizes in ([64, 30, 10], [784, 30, 10]):
    model = nn.MLP(sizes, seed=0)
    x, y = rng.random((10, sizes[0])), rng.integers(0, 10, 10)
    n = sum(p.data.size for p in model.parameters())
    start = time.perf_counter()
    fd_grad = finite_differences(model, x, y)
    fd = time.perf_counter() - start
    bp = best_of(20, one_backward, model, x, y)
    gap = np.max(np.abs(fd_grad - one_backward(model, x, y))) / np.max(np.abs(fd_grad))
    print(f"{sizes!s:<14} {n:6,} parameters: finite differences {fd * 1e3:8.1f} ms, "
          f"backprop {bp * 1e6:6.0f} µs — {fd / bp:6,.0f}× faster  (relative gap {gap:.0e})")
"""), md("""
Finite differences need one forward pass per parameter, so their time grows as the number of parameters
times the cost of a forward pass, while backpropagation stays at about two passes: the bigger the network,
the bigger the gap — and real networks have millions of weights. (The small relative gap between the two
gradients is the finite differences' own error, of order ε.)
""")]

PATHS = [md("""
## 8. Backpropagation: the big picture — a sum over paths

Where does backpropagation come from? Change one weight $w^l_{jk}$ a little. That changes $a^l_j$, which
changes every neuron of the next layer, and so on up to the cost. Along one path through the network the
change is multiplied by one *rate* per step, and the total change is the sum over every path (eq. 46–47):

$$\\frac{\\partial C}{\\partial w^l_{jk}} = \\sum_{mnp\\ldots q} \\frac{\\partial C}{\\partial a^L_m}
\\frac{\\partial a^L_m}{\\partial a^{L-1}_n}\\frac{\\partial a^{L-1}_n}{\\partial a^{L-2}_p} \\cdots
\\frac{\\partial a^{l+1}_q}{\\partial a^l_j}\\frac{\\partial a^l_j}{\\partial w^l_{jk}} ,$$

with the rates $\\partial a^l_j/\\partial w^l_{jk} = \\sigma'(z^l_j)\\,a^{l-1}_k$ and
$\\partial a^{l+1}_q/\\partial a^l_j = \\sigma'(z^{l+1}_q)\\,w^{l+1}_{qj}$. For a network `[2, 3, 3, 2]` and the
weight $w^2_{12}$ there are 3 × 2 = 6 paths, one per neuron $q$ of layer 3 and $m$ of layer 4. Enumerate
them, multiply the rates along each, add up — and compare with the engine's gradient:
"""), code("""
paths_net = nn.MLP([2, 3, 3, 2], seed=5)
x, y = np.array([0.8, 0.3]), np.array([1.0, 0.0])
zs_, acts_ = backprop.feedforward(paths_net.weights, paths_net.biases, x)
Z = {l: zs_[l - 2][0] for l in (2, 3, 4)}           # Z[l][j - 1] is zˡⱼ
A = {l: acts_[l - 1][0] for l in (1, 2, 3, 4)}      # A[l][j - 1] is aˡⱼ; A[1] is x
W = {l: paths_net.weights[l - 2] for l in (2, 3, 4)}
j, k = 1, 2                                         # the weight w²₁₂
total = 0.0
for q in (1, 2, 3):                                 # neuron q of layer 3
    for m in (1, 2):                                # neuron m of layer 4, the output
        rates = [sp(Z[2][j - 1]) * A[1][k - 1],                 # ∂a²₁/∂w²₁₂
                 sp(Z[3][q - 1]) * W[3][q - 1, j - 1],          # ∂a³_q/∂a²₁
                 sp(Z[4][m - 1]) * W[4][m - 1, q - 1],          # ∂a⁴ₘ/∂a³_q
                 A[4][m - 1] - y[m - 1]]                        # ∂C/∂a⁴ₘ (quadratic cost)
        total += np.prod(rates)
        print(f"w²₁₂ → a²₁ → a³{str(q).translate(sub)} → a⁴{str(m).translate(sub)} → C:  "
              + " × ".join(f"{r:+.4f}" for r in rates) + f" = {np.prod(rates):+.4e}")

paths_net.zero_grad()
nn.quadratic_cost(paths_net(x[None, :]), y[None, :]).backward()
engine = paths_net.layers[0].weight.grad[j - 1, k - 1]
print(f"sum over the 6 paths:    {total:+.15e}")
print(f"the engine's ∂C/∂w²₁₂:   {engine:+.15e}   (paths minus engine: {total - engine:.1e})")
"""), md("""
The number of paths is the product of the widths of the later layers — astronomically many in a real
network — yet backpropagation never lists them. BP2 adds up, layer by layer from the output, the sums over
all the path *ends*: $\\delta^{l+1}$ already holds every path from layer $l+1$ to the cost, so one matrix
product per layer covers them all. That is why the book calls backpropagation a way of keeping track of
small perturbations as they propagate through the network.
""")]

EXERCISES = [md("""
## 9. Exercises, checked

Chapters 1–2 set exercises and problems along the way. `tinygrad_nn.exercises` has the ones a computation
can check: `catalog()` lists them, each exercise's `statement` says what to write (the signature, the
shapes, the book's section), and `check(name, solution)` runs your function on five random networks and
examples and compares every number with both the engine's autodiff and the closed form — so a solution
that works on one network only does not pass. `answer(name)` shows the answer key (try first).
"""), code("""
exercises.catalog()
"""), code("""
print(exercises.catalog()["bp2"].statement)
"""), md("""
A first attempt at BP2 that forgets the factor $\\sigma'(z^l)$. The check says which number is wrong, in
which case, and by how much:
"""), code("""
def bp2(w_next, delta_next, z):
    return w_next.T @ delta_next                    # (wˡ⁺¹)ᵀ δˡ⁺¹ … and then?

exercises.check("bp2", bp2)
"""), code("""
def bp2(w_next, delta_next, z):
    return (w_next.T @ delta_next) * sp(z)          # BP2: ((wˡ⁺¹)ᵀ δˡ⁺¹) ⊙ σ′(zˡ); sp is σ′ (section 4)

exercises.check("bp2", bp2)
"""), md("""
Now the others: start with `bp1`, `bp4` and `backprop`, then the problems — `backprop_matrix` (the whole
mini-batch without a loop), `modified_neuron`, `linear_neurons` and `sum_over_paths`. A solution that
raises is reported, with the line, not thrown at you.

## Where next

- `python -m tinygrad_nn train --help` — the same training from the command line, on MNIST or
  Fashion-MNIST too; `python -m tinygrad_nn check` — the BP1–BP4 cross-check on any network size.
- Chapter 3 (cross-entropy, scaled initialisation, momentum, L2 weight decay) is in `tinygrad_nn` too:
  see the README's *Results*.
""")]


def cells() -> list[nbformat.NotebookNode]:
    """Every cell of the notebook, in order."""
    return [*INTRO, *PERCEPTRONS, *SIGMOID, *NETWORK,
            *NOTATION, *BACKPROP_BY_HAND, *PROOF, *ALGORITHM,
            *TRACE, *PICTURES, *SATURATION, *SPEED, *PATHS, *EXERCISES]


def build() -> nbformat.NotebookNode:
    """The notebook, not yet executed."""
    nb = new_notebook(cells=cells())
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def execute(nb: nbformat.NotebookNode, cwd: str | os.PathLike | None = None) -> nbformat.NotebookNode:
    """Run every cell in a fresh python3 kernel (in `cwd`, default a temporary directory); raises on an error.

    The kernel gets this repository first on PYTHONPATH, so it runs this tree's tinygrad_nn and viz.
    """
    from nbclient import NotebookClient

    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    with tempfile.TemporaryDirectory() as tmp:
        client = NotebookClient(nb, timeout=TIMEOUT_S, kernel_name="python3", record_timing=False,
                                resources={"metadata": {"path": str(cwd or tmp)}})
        # one BLAS thread (unless chosen): these matrices are small, and on a busy machine spinning BLAS
        # threads make them many times slower (the command line does the same with threadpoolctl)
        threads = {v: "1" for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
        client.execute(env={**threads, **os.environ, "PYTHONPATH": path})  # passed on to the kernel's process
    for cell in nb.cells:  # one stream output per cell and stream, as a reader expects to see it
        if cell.cell_type == "code":
            cell.outputs = _merge_streams(cell.outputs)
    return nb


def _merge_streams(outputs: list) -> list:
    """Join consecutive stdout (or stderr) outputs, which the kernel sends in pieces as they are printed."""
    merged: list = []
    for out in outputs:
        if (merged and out.output_type == "stream" and merged[-1].output_type == "stream"
                and merged[-1].name == out.name):
            merged[-1].text += out.text
        else:
            merged.append(out)
    return merged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("-o", "--output", type=Path, default=NOTEBOOK, help="where to write the notebook")
    args = parser.parse_args(argv)
    nb = execute(build())
    args.output.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

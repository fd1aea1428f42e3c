"""Tutorial cells: "the program behind backward()" for a [2, 3, 1] network, beside the book's backprop.

`cells()` returns the cells as ("md" | "code", text) pairs, self-contained given ``import numpy as np`` and
``from tinygrad_nn import ...`` (each code cell imports what it uses); examples/make_tutorial.py splices them
into docs/tutorial.ipynb.
"""
from __future__ import annotations


def cells() -> list[tuple[str, str]]:
    """The cells, in order."""
    return [
        ("md", """## The program behind `backward()`

What does `backward()` actually *do*? `tinygrad_nn.trace(fn, *args)` runs a step once and writes it down as
straight-line numpy: the forward ops, then the backward rule of each op in the order `backward()` runs them,
each line tagged with the equation it is. Here is one gradient-descent step of a [2, 3, 1] network on a
mini-batch of two examples (`optimizer=` adds the update, eq. 20–21):"""),
        ("code", """import numpy as np
from tinygrad_nn import nn, optim, trace

net = nn.MLP([2, 3, 1], seed=0)
sgd = optim.SGD(net.parameters(), lr=3.0)
x = np.array([[0.5, -1.0], [1.0, 0.25]])   # one example per row
y = np.array([[1.0], [0.0]])

program = trace(lambda x, y: nn.quadratic_cost(net(x), y), x, y, optimizer=sgd)
print(program)"""),
        ("md", """Read it top to bottom. The forward half is eq. 25 layer by layer. The backward half starts at
∂C/∂C = 1 and walks the graph backwards: the cost's rule gives ∇ₐC, σ's rule turns it into δ³ (**BP1**), the
layer's rule gives ∂C/∂b³ (**BP3**), ∂C/∂w³ (**BP4**) and (w³)ᵀδ³, which σ's rule at the hidden layer turns
into δ² (**BP2**) — and so on down. Nothing in the engine knows BP1–BP4: they are what the local rules of the
ops compose into. Compare the book's `backprop`, written by hand in `tinygrad_nn.backprop`:"""),
        ("code", """import inspect
from tinygrad_nn import backprop

print(inspect.getsource(backprop._backprop))"""),
        ("md", """The same equations, in another order of operations: the book's version averages δ at the end
(BP3 and BP4 multiply by 1/m), the engine's cost divides by m at the start, so the numbers agree to rounding —
while the program agrees with `backward()` *bitwise*, because every line is the numpy expression that op's rule
computes. Run the program's text yourself on the same arrays:"""),
        ("code", """net.zero_grad()
cost = nn.quadratic_cost(net(x), y)
cost.backward()                                    # the dynamic graph

names = program.namespace(x, y)                     # x, y, w2, b2, w3, b3 and the helpers the text uses
exec(program.source.split("# ---- update ----")[0], names)   # forward and backward, not the update
print("cost:", names["cost"] == cost.item())
for name, p in zip(["w2", "b2", "w3", "b3"], net.parameters()):
    print(f"nabla_{name} bitwise equal to {name}.grad:", np.array_equal(names[f"nabla_{name}"], p.grad))

g = backprop.backprop(net.weights, net.biases, x, y)  # the closed form: equal to rounding
print("closed form BP1–BP4 agrees:", all(np.allclose(a, p.grad, rtol=1e-12, atol=1e-15)
                                          for a, p in zip([g.nabla_w[0], g.nabla_b[0], g.nabla_w[1], g.nabla_b[1]],
                                                          net.parameters())))"""),
        ("md", """Calling `program(x, y)` replays the step on new arrays of the same shapes — parameters are read
afresh on every call, so training just calls it in a loop (`tinygrad-nn train --trace` does). The replay writes
into arrays it allocated once and builds no graph, which is why it is faster than building the graph anew on
every step; `viz.draw_graph(program)` draws it line by line."""),
        ("code", """rng = np.random.default_rng(0)
for step in range(3):
    xb, yb = rng.random((2, 2)), rng.integers(0, 2, (2, 1)).astype(float)
    print(f"step {step}: cost {program(xb, yb):.6f}")"""),
    ]

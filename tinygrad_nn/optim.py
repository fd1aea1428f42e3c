"""Mini-batch stochastic gradient descent (Nielsen eq. 20–21, with ch. 3's momentum and L2 weight decay)."""
from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np

from .engine import Value

__all__ = ["SGD"]


def _finite(value: numbers.Real) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond float's range
        return False


class SGD:
    """Gradient descent on `params`: ``step()`` does w → w − η ∂C/∂w for each parameter.

    The costs in `tinygrad_nn.nn` are means over the mini-batch, C = (1/m) Σⱼ C_Xⱼ, so one step is exactly
    eq. 20–21: w → w − (η/m) Σⱼ ∂C_Xⱼ/∂w and b → b − (η/m) Σⱼ ∂C_Xⱼ/∂b, with η = `lr`.

    `momentum` μ is ch. 3's momentum-based descent: v → μv − η∇C, w → w + v.
    `weight_decay` is ch. 3's L2 term λ/n (λ the regularization parameter, n the size of the whole training
    set): it adds (λ/n) w to each weight's gradient, i.e. w → (1 − ηλ/n) w − η ∂C₀/∂w (eq. 93). As in the
    book, parameters named ``…bias`` are not decayed.
    """

    def __init__(self, params: Iterable[Value], lr: float, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        self.params = list(params)
        for i, p in enumerate(self.params):
            if not isinstance(p, Value) or not p.requires_grad or not p.is_leaf:
                raise TypeError(f"SGD: parameter {i} is not a leaf Value that requires a gradient: {p!r}")
        if not self.params:
            raise ValueError("SGD: got an empty parameter list")
        owner: dict[int, int] = {}  # listed twice, a parameter would be stepped twice (torch refuses too)
        for i, p in enumerate(self.params):
            keys = [id(p)] + ([id(p.data)] if isinstance(p.data, np.ndarray) else [])
            for key in keys:
                if key in owner:
                    raise ValueError(f"SGD: parameter {i} is parameter {owner[key]} again (the same Value or the "
                                     f"same array); each parameter must appear once")
            owner.update(dict.fromkeys(keys, i))
        for name, value, ok, expected in [("lr", lr, lambda v: v > 0, "a positive number"),
                                          ("momentum", momentum, lambda v: 0 <= v < 1, "in [0, 1)"),
                                          ("weight_decay", weight_decay, lambda v: v >= 0, "non-negative")]:
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not _finite(value) or not ok(value):
                raise ValueError(f"SGD: {name} must be {expected}, got {value!r}")
        self.lr, self.momentum, self.weight_decay = float(lr), float(momentum), float(weight_decay)
        self._decay = [weight_decay > 0 and not (p.name or "").endswith("bias") for p in self.params]
        self._velocity: list = [None] * len(self.params)
        self._buffers: list = [None] * len(self.params)

    def step(self) -> None:
        """Update every parameter that has a gradient, in place and without allocating (arrays keep their
        identity; a scratch buffer per parameter holds η∇C, so no big temporary is made on each step)."""
        lr, mu, decay = self.lr, self.momentum, self.weight_decay
        for i, p in enumerate(self.params):
            g = p.grad
            if g is None:
                continue
            if type(g) is Value:                   # written by backward(create_graph=True): use its value
                g = g.data
            if type(p.data) is float:
                self._step_scalar(i, p, g)
                continue
            step = self._buffers[i]
            if step is None:
                step = self._buffers[i] = np.empty_like(p.data)
            if self._decay[i]:                     # η (∂C₀/∂w + (λ/n) w)
                np.multiply(p.data, decay, out=step)
                step += g
                step *= lr
            else:                                  # η ∂C/∂w
                np.multiply(g, lr, out=step)
            if mu:
                v = self._velocity[i]
                if v is None:
                    v = self._velocity[i] = np.zeros_like(p.data)
                v *= mu                            # v → μv − η∇C
                v -= step
                p.data += v                        # w → w + v
            else:
                p.data -= step                     # w → w − η∇C  (eq. 20–21)

    def _step_scalar(self, i: int, p: Value, g: float) -> None:
        """The same update for a Python-float parameter (the scalar networks)."""
        if self._decay[i]:
            g = g + self.weight_decay * p.data
        if self.momentum:
            v = self.momentum * (self._velocity[i] or 0.0) - self.lr * g
            self._velocity[i] = v
            p.data = p.data + v
        else:
            p.data = p.data - self.lr * g

    def zero_grad(self) -> None:
        """Forget the gradients (leaf gradients accumulate across backward calls until this)."""
        for p in self.params:
            p.grad = None

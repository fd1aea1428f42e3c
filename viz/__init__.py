"""viz: pictures of tinygrad_nn graphs and networks, drawn with Graphviz.

- `draw_graph(root)`: the computation graph of a `Value` (micrograd style: a box per Value with its name,
  data and grad, an ellipse per op), collapsed per neuron / layer / chain when it is large.
- `draw_network(mlp)`: Nielsen's diagram of the layers of neurons, edges coloured by the weight's sign,
  optionally annotated with each neuron's δ and the saturated neurons highlighted.
- `draw_backprop(net, x, y, cost)`: one backward pass in the book's terms — the forward quantities aˡ, zˡ, wˡ,
  bˡ, C, y and the backward edges labelled BP1–BP4, each gradient with its measured error against the
  closed form (`equation_for` gives each equation's text, for other pictures to reuse).
- `animate_backward(root, path)`: one self-contained HTML page that steps through `root.backward()` rule by
  rule (prev / next / slider / ← → / play; `#step=K` opens step K); without a path, an object Jupyter shows.
- `draw_program(program)` (also `draw_graph(program)`): a traced `tinygrad_nn.trace` program, a box per line,
  forward then backward, each tagged with its equation; `animate_backward(program)` steps through its rules.
- `plot_history(histories, path)`: cost, accuracy and per-layer learning speed per epoch (matplotlib; the
  same function as `tinygrad_nn.plot.plot_history`, re-exported here for notebooks).
- `explore(data="circle", sizes=None, ...)`: the live page of `tinygrad-nn explore` served in a background
  thread; returns an object with `.url` and `.stop()` that Jupyter shows in an IFrame (needs the [explore] extra).
- `render(graph, path)`: write svg, png, pdf (needs Graphviz's `dot`) or the dot source, chosen by extension.

The drawing functions return a `graphviz.Digraph`, which displays inline in Jupyter.
"""
import sys

try:
    import graphviz  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the optional dependency
    _HINT = ("viz needs the graphviz Python package: pip install 'tinygrad_nn[viz]' "
             "(and Graphviz's dot program to render: apt-get install graphviz)")
    if sys.argv[:1] == ["-m"]:  # `python -m viz ...`: one line and exit status 1, as `tinygrad-nn graph` gives
        raise SystemExit(f"graph: error: {_HINT}") from None
    raise ImportError(_HINT) from exc

from tinygrad_nn.plot import plot_history

from .animate import BackwardAnimation, animate_backward
from .backprop import draw_backprop, equation_for
from .graph import draw_graph
from .network import draw_network
from .program import draw_program
from .render import FORMATS, GraphvizNotFoundError, render


def explore(*args, **kwargs):  # type: ignore[no-untyped-def]
    """Serve the live backprop page in the background (see `viz.explorer.explore`); needs the [explore] extra."""
    from .explorer import explore as _explore
    return _explore(*args, **kwargs)


__all__ = ["FORMATS", "BackwardAnimation", "GraphvizNotFoundError", "animate_backward", "draw_backprop", "draw_graph",
           "draw_network", "draw_program", "equation_for", "explore", "plot_history", "render"]

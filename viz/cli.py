"""The `graph` command: draw a small network's computation graph, or a network diagram, to a file.

    python -m viz graph --sizes 2,3,1 [--scalar] [--seed 0] [--cost quadratic] -o graph.svg
    python -m viz graph --network --model model.npz -o net.svg
    python -m viz graph --network --model model.npz --delta --example 7 [--data digits] -o net.png
    python -m viz graph --backprop --model model.npz --example 7 -o bp.svg
    python -m viz graph --backprop --sizes 4,5,3,2 [--cost cross-entropy] -o bp.svg
    python -m viz graph --sizes 2,3,1 [--scalar] [--model net.npz] --animate -o backward.html

The first form builds an MLP (one node per layer, or one per weight with --scalar) from the seed, runs one
forward and backward pass of the cost on one random example (inputs uniform in [0, 1), a one-hot target)
and draws the computation graph with every value and gradient. The second draws the layers of neurons of
a trained model (via `tinygrad_nn.train.load_model`) or of a fresh random network; --delta runs test
example K (--example, default 0) of the data (--data, default digits) through it and annotates each neuron
with that example's δ; the picture names the example, its label and the network's prediction and shows the
input image. --backprop draws `viz.draw_backprop`: the forward pass and BP1–BP4 for a model and a test
example, or for a fresh --sizes network on a random example (or on --example K). The format follows the
extension of -o (svg, png, pdf; dot writes the Graphviz source only). With --animate the
graph's backward pass is written as a web page that plays it step by step (`viz.animate_backward`); the
graph may then also come from a saved --model. Exit status: 0 done, 1 failed (including data that do not
fit the network), 2 bad usage.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np

from tinygrad_nn import Value, nn
from tinygrad_nn.cli import (  # the same checks and messages as tinygrad-nn
    NO_MEMORY,
    HelpFormatter,
    _load,
    _seed,
    _sizes,
    add_data_options,
)
from tinygrad_nn.data import DataError
from tinygrad_nn.files import check_output_path
from tinygrad_nn.process import (
    Interrupted,
    StdoutError,
    guarded_stdout,
    stop_signals_raise,
)

from .animate import animate_backward
from .backprop import draw_backprop
from .graph import draw_graph
from .network import draw_network
from .render import output_format, render

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (and exits 2) instead of the usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


class _Failure(Exception):
    """A one-line error for the user, with the exit status to return."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def _parser(prog: str = "python -m viz graph") -> argparse.ArgumentParser:
    p = _Parser(prog=prog, formatter_class=HelpFormatter,
                description="Draw a network's computation graph (default) or its layers of neurons (--network) "
                            "into an svg, png, pdf or dot file.")
    p.add_argument("-o", "--output", required=True, help="the file to write; its extension picks the format")
    p.add_argument("--sizes", type=_sizes, help="layer sizes, e.g. 2,3,1 (default 2,3,1 for the graph)")
    p.add_argument("--seed", type=_seed, default=0, help="seed of the weights and of the example (default 0)")
    p.add_argument("--cost", choices=nn.COSTS, default="quadratic", help="the cost to differentiate (default quadratic)")
    p.add_argument("--scalar", action="store_true", help="use the ScalarMLP: one graph node per weight")
    p.add_argument("--max-nodes", type=int, default=500, help="collapse graphs larger than this (default 500)")
    p.add_argument("--rankdir", choices=("LR", "TB"), default="LR", help="graph direction (default LR)")
    p.add_argument("--network", action="store_true", help="draw the layers of neurons instead of the graph")
    p.add_argument("--animate", action="store_true",
                   help="write the graph's backward pass, step by step, as a web page (-o backward.html)")
    p.add_argument("--model", help="with --network, --backprop or --animate: a saved model file (tinygrad_nn.train.load_model)")
    p.add_argument("--delta", action="store_true", help="with --network: annotate the δ of test example --example")
    p.add_argument("--backprop", action="store_true", help="draw the forward pass and BP1–BP4 (viz.draw_backprop)")
    p.add_argument("--example", type=int, metavar="K",
                   help="with --delta or --backprop: example K of the test split of --data (default 0)")
    add_data_options(p, when="with --delta or --backprop: ")  # the same data options as train and evaluate
    p.add_argument("--max-neurons", type=int, default=12, help="with --network: widest layer drawn in full")
    return p


def _example(sizes: Sequence[int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One random input in [0, 1) and a one-hot target, from the seed."""
    rng = np.random.default_rng(seed)
    x = rng.random(sizes[0])
    y = np.zeros(sizes[-1])
    y[rng.integers(sizes[-1])] = 1.0
    return x, y


def _tensor_cost(net: nn.MLP, x: np.ndarray, y: np.ndarray, cost: str) -> tuple[Value, list[Value]]:
    """Forward and backward of `cost` on one example (a batch of one); returns the cost and the zs."""
    zs, activations = net.feedforward(x[None, :])
    c = nn.cost_function(cost)(activations[-1], y[None, :])
    c.name = "C"
    c.backward()
    return c, zs


def _scalar_cost(sizes: list[int], seed: int, cost: str, net: nn.ScalarMLP | None = None) -> Value:
    """The ScalarMLP's cost on one example, written out op by op so the graph shows it."""
    if cost == "log-likelihood":
        raise _Failure("--scalar: the scalar network has no softmax output; use --cost quadratic or cross-entropy", 2)
    net = net or nn.ScalarMLP(sizes, seed=seed)
    x, y = _example(sizes, seed)
    outputs = net([Value(float(v), requires_grad=False, name=f"x{k + 1}") for k, v in enumerate(x)])
    terms = []
    for j, (a, t) in enumerate(zip(outputs, y)):
        t = Value(float(t), requires_grad=False, name=f"y{j + 1}")             # the target yⱼ, a graph input
        if cost == "quadratic":
            terms.append(0.5 * (a - t) ** 2)                                     # ½ (a − y)²
        else:
            terms.append(-(t * a.log() + (1.0 - t) * (1.0 - a).log()))          # −[y ln a + (1−y) ln(1−a)]
    c = terms[0]
    for term in terms[1:]:
        c = c + term
    c.name = "C"
    c.backward()
    return c


def _load_model(path: str) -> nn.MLP:
    try:
        from tinygrad_nn.train import load_model
    except ImportError as exc:
        raise _Failure(f"--model needs tinygrad_nn.train.load_model, which is not available ({exc}); "
                       f"use --sizes to draw a random network") from None
    try:
        return load_model(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:  # load_model's DataError names the file already
        raise _Failure(str(exc) if isinstance(exc, DataError) else f"cannot load model {path!r}: {exc}") from None


def _test_example(net: nn.MLP, args: argparse.Namespace) -> tuple[np.ndarray, int, str, np.ndarray | None]:
    """Test example K of --data for `net`: its input, label, a description, and its image (or None); one clear
    error when the example does not exist or the data do not fit the network."""
    try:
        splits = _load(args)
    except (DataError, OSError) as exc:
        raise _Failure(f"cannot load the data {args.data!r}: {exc}") from None
    test, k = splits.test, 0 if args.example is None else args.example
    if not 0 <= k < len(test):
        raise _Failure(f"--example {k} is out of range: the test split of {splits.name} has {len(test):,} examples "
                       f"(0 … {len(test) - 1:,})", 2)
    if test.n_inputs != net.sizes[0]:
        raise _Failure(f"the network {net.sizes} takes {net.sizes[0]} inputs, but the examples of {splits.name} "
                       f"have {test.n_inputs}")
    if splits.n_classes > net.sizes[-1]:
        raise _Failure(f"the network {net.sizes} has {net.sizes[-1]} output neurons, but {splits.name} has "
                       f"{splits.n_classes} classes")
    x, label = test.x[k], int(test.y[k])
    shape = tuple(splits.image_shape)
    image = x.reshape(shape) if len(shape) == 2 and int(np.prod(shape)) == x.size else None
    return x, label, f"test example {k} of {splits.name}", image


def _network(args: argparse.Namespace) -> nn.MLP:
    if args.model and args.sizes:
        raise _Failure("take either --model or --sizes, not both", 2)
    return _load_model(args.model) if args.model else nn.MLP(
        args.sizes or [2, 3, 1], seed=args.seed, output_activation="softmax" if args.cost == "log-likelihood" else None)


def _draw(args: argparse.Namespace):
    if args.example is not None and not (args.delta or args.backprop):
        raise _Failure("--example needs --delta (with --network) or --backprop", 2)
    if args.backprop:
        if args.network or args.scalar or args.delta:
            raise _Failure("--backprop draws its own picture; drop --network, --scalar and --delta", 2)
        net = _network(args)
        if args.model or args.example is not None:
            x, label, where, image = _test_example(net, args)
            prediction = int(net.predict(x)[0])
            title = (f"backpropagation of {where} (label {label}, the network predicts {prediction}) · "
                     f"network {net.sizes} · {args.cost} cost")
            return draw_backprop(net, x, label, args.cost, title=title, image=image)
        x, y = _example(net.sizes, args.seed)
        title = f"backpropagation of a random example (seed {args.seed}) · network {net.sizes} · {args.cost} cost"
        return draw_backprop(net, x, y, args.cost, title=title)
    if args.network:
        if args.scalar:
            raise _Failure("--scalar applies to the computation graph, not to --network", 2)
        if args.model and args.sizes:
            raise _Failure("--network takes either --model or --sizes, not both", 2)
        if not args.model and not args.sizes:
            raise _Failure("--network needs --model PATH (a trained model) or --sizes (a random one)", 2)
        net = _network(args)
        if not args.delta:
            return draw_network(net, max_neurons=args.max_neurons)
        x, label, where, image = _test_example(net, args)   # δ of a real example, never random noise
        prediction = int(net.predict(x)[0])
        zs = _tensor_cost(net, x, np.eye(net.sizes[-1])[label], args.cost)[1]
        title = f"δ of {where}: label {label}, the network predicts {prediction} ({args.cost} cost)"
        return draw_network(net, show_delta=True, zs=zs, max_neurons=args.max_neurons, title=title, image=image,
                            label=label, prediction=prediction)
    c = _cost(args)
    return animate_backward(c, args.output, rankdir=args.rankdir, max_nodes=args.max_nodes) if args.animate else \
        draw_graph(c, rankdir=args.rankdir, max_nodes=args.max_nodes)


def _cost(args: argparse.Namespace) -> Value:
    """The cost of one example through the network of --sizes (random, from --seed) or --model."""
    if args.delta:
        raise _Failure("--delta needs --network", 2)
    if args.model and not args.animate:
        raise _Failure("--model needs --network, --backprop or --animate", 2)
    if args.model and args.sizes:
        raise _Failure("--animate takes either --model or --sizes, not both", 2)
    if args.model:
        net = _load_model(args.model)
        if args.scalar:
            try:
                return _scalar_cost(net.sizes, args.seed, args.cost, nn.ScalarMLP.from_mlp(net))
            except ValueError as exc:  # a softmax output layer
                raise _Failure(f"--scalar: {exc}", 2) from None
        return _tensor_cost(net, *_example(net.sizes, args.seed), args.cost)[0]
    sizes = args.sizes or [2, 3, 1]
    if args.scalar:
        return _scalar_cost(sizes, args.seed, args.cost)
    net = nn.MLP(sizes, seed=args.seed, output_activation="softmax" if args.cost == "log-likelihood" else None)
    return _tensor_cost(net, *_example(sizes, args.seed), args.cost)[0]


def main(argv: list[str] | None = None, prog: str = "python -m viz graph") -> int:
    """Run the `graph` command on `argv` (default sys.argv[1:]), which may start with the word 'graph'.

    Returns the exit status: 0 when the file was written, 1 when drawing or rendering failed, 2 for bad usage;
    every error is one line on stderr. `prog` is the command's name in its usage line (`tinygrad-nn graph`
    when the tinygrad-nn command runs it).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["graph"]:
        argv = argv[1:]
    with stop_signals_raise():  # SIGTERM/SIGHUP: kill dot, remove the temporary file
        try:
            with guarded_stdout():  # inside the try: its last flush may fail too
                return _main(argv, prog)
        except StdoutError as exc:  # `| head -1` closed the pipe: nothing to say; a full disk: say so
            if not exc.broken_pipe:
                print(f"graph: error: {exc}", file=sys.stderr)
            return 141 if exc.broken_pipe else 1
        except KeyboardInterrupt as exc:
            print(f"graph: {exc or 'interrupted'}", file=sys.stderr)
            return 128 + (exc.signum if isinstance(exc, Interrupted) else 2)


def _main(argv: list[str], prog: str = "python -m viz graph") -> int:
    try:
        args = _parser(prog).parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    try:
        if args.animate:
            if args.network or args.backprop:
                raise _Failure("--animate plays the computation graph's backward pass; it does not apply to "
                               "--network or --backprop", 2)
            if not args.output.lower().endswith((".html", ".htm")):
                raise _Failure(f"--animate writes a web page: use an .html output file, not {args.output!r}", 2)
        else:
            output_format(args.output)
        check_output_path(args.output, "the picture")  # before drawing and running dot, not after
        drawing = _draw(args)
        path = drawing if args.animate else render(drawing, args.output)
    except _Failure as exc:
        print(f"graph: error: {exc}", file=sys.stderr)
        return exc.status
    except DataError as exc:  # an output that is a device or FIFO, a model file that lies
        print(f"graph: error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # an unknown output extension, or a network the options do not fit
        print(f"graph: error: {exc}", file=sys.stderr)
        return 2
    except (RuntimeError, OSError) as exc:  # no Graphviz, an unwritable path
        print(f"graph: error: {exc}", file=sys.stderr)
        return 1
    except MemoryError:  # --sizes 784,100000000,10
        print(f"graph: error: {NO_MEMORY}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0

"""The command line: ``python -m tinygrad_nn train | evaluate | check | graph | plot`` (also ``tinygrad-nn``).

A user's mistake (a bad option, a missing or corrupt file) prints one line and exits with 2 (usage)
or 1 (data); a traceback appears only for a real bug, and only with ``--debug``. With no command it
prints its help and exits with 2, like any usage error (``git`` does the same, with 1).
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import data as datasets
from .data import DataError
from .process import Interrupted, StdoutError, guarded_stdout, stop_signals_raise

EXIT_DATA, EXIT_USAGE, EXIT_BUG = 1, 2, 3
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader went away
NO_MEMORY = "not enough memory for this network or batch size"  # the one line of a MemoryError, in every command


class UsageError(Exception):
    """A bad command-line value (exit status 2)."""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's help with each option's default appended, unless its help text already names it or it has none."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # one line instead of argparse's usage dump
        raise UsageError(message)


def _sizes(text: str) -> list[int]:
    """'64,30,10' → [64, 30, 10], checked by the library's own rule, so every entry point says the same."""
    from .nn import _check_sizes

    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated integers like 64,30,10") from None
    try:
        return _check_sizes(sizes)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {str(exc).removeprefix('sizes: ')}") from None


def _number(kind: type, minimum: float, *, strict: bool = False, below: float | None = None) -> Callable:
    """An argparse type: a finite int or float ≥ `minimum` (> with `strict`) and < `below`."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a{'n integer' if kind is int else ' number'}") from None
        if not (math.isfinite(value) and (value > minimum if strict else value >= minimum)
                and (below is None or value < below)):
            bound = f"{'>' if strict else '≥'} {minimum}" + ("" if below is None else f" and < {below}")
            raise argparse.ArgumentTypeError(f"{text!r} must be {bound}")
        return value
    return parse


_positive_int, _positive_float = _number(int, 0, strict=True), _number(float, 0, strict=True)
_non_negative, _seed, _momentum = _number(float, 0), _number(int, 0), _number(float, 0, below=1)


def add_data_options(p: argparse.ArgumentParser, when: str = "") -> None:
    """The data options of every command that loads data (train, evaluate, graph): one spelling, one meaning."""
    p.add_argument("--data", default="digits",
                   help=f"{when}digits (embedded, default) | fashion-mnist | a directory of IDX files | a .pkl.gz")
    p.add_argument("--allow-pickle", action="store_true",
                   help="allow reading Nielsen's mnist.pkl.gz (unpickling runs code: only for files you trust)")
    p.add_argument("--validation-size", type=int, default=None,
                   help="examples carved from training for validation (IDX data; default 10000)")


def build_parser() -> argparse.ArgumentParser:
    """The parser of the train, evaluate and check subcommands (graph is handed to `viz.cli`)."""
    from . import __version__
    from .nn import ACTIVATIONS, COSTS, INITS

    parser = _Parser(prog="tinygrad-nn", description="Nielsen's network on an exact autograd engine.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = commands.add_parser("train", help="train an MLP by mini-batch SGD and report accuracy")
    add_data_options(t)
    t.add_argument("--sizes", type=_sizes, default=None, help="layer widths, e.g. 64,30,10 (default: n_in,30,classes)")
    t.add_argument("--epochs", type=_positive_int, default=30, help="passes over the training data")
    t.add_argument("--batch-size", type=_positive_int, default=10, help="mini-batch size m")
    t.add_argument("--lr", type=_positive_float, default=3.0, help="learning rate η")
    t.add_argument("--cost", choices=COSTS, default="quadratic",
                   help="quadratic (ch. 1) | cross-entropy (ch. 3) | log-likelihood (with a softmax output layer)")
    t.add_argument("--activation", choices=[a for a in ACTIVATIONS if a not in ("softmax", "step", "identity")],
                   default="sigmoid", help="the hidden layers' neurons (and the output's, but for log-likelihood)")
    t.add_argument("--init", choices=INITS, default="normal", help="normal: N(0,1) (ch. 1); scaled: N(0,1/n_in) (ch. 3)")
    t.add_argument("--momentum", type=_momentum, default=0.0, help="μ in [0, 1) (ch. 3)")
    t.add_argument("--weight-decay", type=_non_negative, default=0.0, help="L2 term λ/n (ch. 3)")
    t.add_argument("--patience", type=_positive_int, default=None, metavar="N",
                   help="halve η when validation accuracy has not improved for N epochs (ch. 3)")
    t.add_argument("--seed", type=_seed, default=0, help="seed of the initial weights and of the mini-batch order")
    t.add_argument("--dtype", choices=("float64", "float32"), default="float64", help="floating-point type of the network")
    t.add_argument("--save", metavar="PATH", help="save the model (.npz) after every epoch, atomically")
    t.add_argument("--history", metavar="PATH", help="write per-epoch figures as .json or .csv")
    t.add_argument("--quiet", action="store_true", help="print only the final line")
    t.add_argument("--trace", action="store_true",
                   help="replay a step traced once (tinygrad_nn.trace): the same numbers bitwise, faster")

    e = commands.add_parser("evaluate", help="accuracy of a saved model")
    e.add_argument("--model", required=True, metavar="PATH", help="a model file written by train --save")
    add_data_options(e)

    c = commands.add_parser("check", help="autodiff gradients against BP1–BP4 and finite differences")
    c.add_argument("--sizes", type=_sizes, default="784,30,10", help="layer widths of the random network")
    c.add_argument("--cost", choices=COSTS, default="quadratic",
                   help="the cost to differentiate (log-likelihood: with a softmax output layer)")
    c.add_argument("--batch", type=_positive_int, default=10, help="examples in the random mini-batch")
    c.add_argument("--seed", type=_seed, default=0, help="seed of the weights and of the mini-batch")
    c.add_argument("--tolerance", type=_positive_float, default=1e-9,
                   help="largest relative error allowed between autodiff and BP1–BP4")

    commands.add_parser("graph", help="render a computation graph or a network (see: graph --help)", add_help=False)
    commands.add_parser("explore", help="a live page: train and inspect BP1–BP4 (see: explore --help)", add_help=False)

    pl = commands.add_parser("plot", help="plot cost, accuracy and per-layer learning speed of --history files")
    pl.add_argument("histories", nargs="+", metavar="HISTORY", help="files written by train --history (.csv or .json)")
    pl.add_argument("-o", "--output", required=True, metavar="PATH", help="the picture to write: .png, .svg or .pdf")
    pl.add_argument("--title", help="a title above the panels")
    pl.add_argument("--output-layer", action="store_true",
                    help="draw the output layer's learning speed too (the book's figure shows the hidden layers)")
    return parser


TRAIN_EXTRA = {"tqdm": "a progress bar", "threadpoolctl": "one BLAS thread"}  # the `train` extra: what each gives


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def _one_blas_thread() -> Any:
    """Limit BLAS to one thread unless the user chose (OPENBLAS_NUM_THREADS …).

    This network's matrices are small: a second BLAS thread gains little, and when another process
    keeps a core busy, OpenBLAS's spinning threads made a training step 30× slower on a 2-core machine.
    """
    if any(v in os.environ for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")):
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on `argv` (default: sys.argv[1:]) and return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    with _one_blas_thread(), stop_signals_raise():  # SIGTERM/SIGHUP act like Ctrl-C
        try:
            with guarded_stdout():
                return _main(argv)
        except StdoutError as exc:  # the last flush, after the command (the help of `tinygrad-nn > /dev/full`)
            return _stdout_failed(exc)


def _stdout_failed(exc: StdoutError) -> int:
    """`| head -1` closed the pipe: nothing to say (141); a full disk: say so in one line (1)."""
    if exc.broken_pipe:
        return EXIT_BROKEN_PIPE
    print(f"tinygrad-nn: error: {exc}", file=sys.stderr)
    return EXIT_DATA


def _main(argv: list[str]) -> int:
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]  # accepted before or after the subcommand
    try:
        if not argv:  # no command: show what there is to do (exit 2, a usage error)
            build_parser().print_help()
            return EXIT_USAGE
        if argv and argv[0] == "graph":
            try:
                from viz.cli import (
                    main as graph_main,  # the application may use viz; the library never does
                )
            except ImportError as exc:  # viz says what to install; anything else gets the same hint
                raise DataError(str(exc) if "[viz]" in str(exc) else f"graph needs the graphviz Python package "
                                f"({exc}): pip install 'tinygrad_nn[viz]'") from None
            return graph_main(argv[1:], prog="tinygrad-nn graph")
        if argv and argv[0] == "explore":
            try:
                from viz.explorer.cli import main as explore_main
            except ImportError as exc:  # the [explore] extra (or [viz]) says what to install
                raise DataError(str(exc) if "pip install" in str(exc) else f"explore needs starlette and uvicorn "
                                f"({exc}): pip install 'tinygrad_nn[explore]'") from None
            return explore_main(argv[1:])
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help or --version, already printed
            return exc.code if isinstance(exc.code, int) else 0
        return {"train": _train, "evaluate": _evaluate, "check": _check, "plot": _plot}[args.command](args)
    except UsageError as exc:
        print(f"tinygrad-nn: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StdoutError as exc:
        return _stdout_failed(exc)
    except (DataError, OSError, ArithmeticError) as exc:  # a bad file, a full disk, a diverging run
        print(f"tinygrad-nn: error: {exc}", file=sys.stderr)
        return EXIT_DATA
    except MemoryError:
        print(f"tinygrad-nn: error: {NO_MEMORY}", file=sys.stderr)
        return EXIT_DATA
    except ValueError as exc:  # the library's checks of a user's values (sizes, validation size …)
        print(f"tinygrad-nn: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM or SIGHUP
        signum = exc.signum if isinstance(exc, Interrupted) else 2
        print(f"tinygrad-nn: {exc or 'interrupted'}", file=sys.stderr)
        return 128 + signum
    except Exception as exc:
        if debug:
            raise
        print(f"tinygrad-nn: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return EXIT_BUG


def _load(args: argparse.Namespace) -> datasets.Splits:
    return datasets.load(args.data, allow_pickle=args.allow_pickle, validation_size=args.validation_size)


def _train(args: argparse.Namespace) -> int:
    from .files import check_output_path, same_file
    from .nn import MLP
    from .train import (
        DivergenceError,
        EpochRecord,
        chance_advice,
        train,
        write_history,
    )

    if args.history and not args.history.lower().endswith((".json", ".csv")):
        raise UsageError(f"--history {args.history}: use a .json or .csv file name")
    for option, path in (("--save", args.save), ("--history", args.history)):  # before any training
        if path is not None and (not path or path.endswith(os.sep)):
            raise UsageError(f"{option} {path!r}: expected a file name, not a directory or an empty name")
        if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            parent = os.path.dirname(os.path.abspath(path))
            raise UsageError(f"{option} {path}: {parent} " + ("is not a directory" if os.path.exists(parent)
                                                             else "does not exist; create the directory first"))
        if path and os.path.isdir(path):
            raise UsageError(f"{option} {path}: is a directory, expected a file name")
    if args.save and args.history and same_file(args.save, args.history):
        raise UsageError(f"--save and --history name the same file {args.save}; give each its own")
    for option, path in (("--save", args.save), ("--history", args.history)):
        if path and os.path.exists(args.data) and same_file(path, args.data):
            raise UsageError(f"{option} {path} is the --data file; writing it would destroy the data")
        if path:
            check_output_path(path, "the model" if option == "--save" else "the history")
    if args.patience and args.validation_size == 0:
        raise UsageError("--patience needs a validation set, but --validation-size is 0")
    splits = _load(args)
    if args.patience and not len(splits.validation):
        raise UsageError(f"--patience needs a validation set, and {splits.name} has none")
    n_in = splits.training.x.shape[1]
    sizes = args.sizes or [n_in, 30, splits.n_classes]
    if sizes[0] != n_in:
        raise UsageError(f"--sizes {','.join(map(str, sizes))}: the first width must be {n_in}, "
                         f"the number of pixels in {splits.name}")
    if sizes[-1] != splits.n_classes:
        raise UsageError(f"--sizes {','.join(map(str, sizes))}: the last width must be {splits.n_classes}, "
                         f"the number of classes in {splits.name}")
    output = {"log-likelihood": "softmax", "cross-entropy": "sigmoid"}.get(args.cost)  # what each cost is for
    net = MLP(sizes, activation=args.activation, output_activation=output, init=args.init, seed=args.seed,
              dtype=np.dtype(args.dtype))
    say = (lambda *a, **k: None) if args.quiet else print
    say(f"training {sizes} on {splits.name}: {len(splits.training)} training, {len(splits.validation)} validation, "
        f"{len(splits.test)} test images; {args.cost} cost, η = {args.lr}, mini-batch {args.batch_size}, "
        f"{args.epochs} epoch{'s' if args.epochs != 1 else ''}")

    def report(r: EpochRecord) -> None:
        val = "" if r.validation_accuracy is None else f"  validation {r.validation_accuracy:6.2%}"
        eta = f"  η {r.lr:g}" if args.patience else ""
        say(f"epoch {r.epoch:3d}/{args.epochs}  cost {r.training_cost:.4f}{val}  test {r.test_accuracy:6.2%}  "
            f"{r.seconds:.2f} s{eta}", flush=True)

    missing = [name for name in TRAIN_EXTRA if not _importable(name)]
    if missing and not args.quiet:
        print(f"tinygrad-nn: note: pip install 'tinygrad_nn[train]' for {' and '.join(TRAIN_EXTRA[m] for m in missing)} "
              f"({', '.join(missing)} not installed)", file=sys.stderr)

    start = time.perf_counter()
    history: list[EpochRecord] = []
    try:
        train(net, splits, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, cost=args.cost,
              momentum=args.momentum, weight_decay=args.weight_decay, seed=args.seed, patience=args.patience,
              save_path=args.save, record_initial=True, trace=args.trace,
              progress=not args.quiet, on_epoch=lambda r: (history.append(r), report(r)))
    except (DivergenceError, KeyboardInterrupt) as exc:
        if args.save and history[-1:] and history[-1].epoch >= 1:  # epoch 0 (the untrained network) is not saved
            print(f"tinygrad-nn: {args.save} keeps the model of epoch {history[-1].epoch}, the last "
                  f"{'good' if isinstance(exc, DivergenceError) else 'complete'} one", file=sys.stderr)
        raise
    finally:
        if args.history and history:
            write_history(history, args.history)
    if args.save:
        say(f"saved the model to {args.save}")
    if history[-1].test_accuracy <= 1.5 / splits.n_classes:
        print(f"tinygrad-nn: accuracy is at chance level: "
              f"{chance_advice(history, args.weight_decay, args.momentum)}", file=sys.stderr)
    print(f"test accuracy: {history[-1].test_accuracy:.1%}  ({time.perf_counter() - start:.1f} s)")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from .train import load_model

    net = load_model(args.model)
    splits = _load(args)
    if splits.test.x.shape[1] != net.sizes[0]:
        raise DataError(f"model {args.model} takes {net.sizes[0]} inputs but {splits.name} images have "
                        f"{splits.test.x.shape[1]} pixels")
    if net.sizes[-1] != splits.n_classes:
        raise DataError(f"model {args.model} has {net.sizes[-1]} outputs but {splits.name} has {splits.n_classes} "
                        f"classes; it cannot be scored on this data")
    for name, part in (("validation", splits.validation), ("test", splits.test)):
        if len(part):
            print(f"{name} accuracy: {net.accuracy(part.x, part.y):.1%}  ({len(part)} images of {splits.name})")
    return 0


def _check(args: argparse.Namespace) -> int:
    from .compare import compare_gradients
    from .nn import MLP

    rng = np.random.default_rng(args.seed)
    net = MLP(args.sizes, seed=args.seed, output_activation="softmax" if args.cost == "log-likelihood" else None)
    x = rng.random((args.batch, args.sizes[0]))
    y = rng.integers(0, args.sizes[-1], size=args.batch)
    report = compare_gradients(net, x, y, cost=args.cost, tolerance=args.tolerance, seed=args.seed)
    print(report)
    return 0 if report.ok else 1


def _plot(args: argparse.Namespace) -> int:
    from .plot import FORMATS, MissingExtraError, plot_history

    if os.path.splitext(args.output)[1].lower().lstrip(".") not in FORMATS:
        raise UsageError(f"-o {args.output}: use a .png, .svg or .pdf file name")
    if not os.path.isdir(os.path.dirname(os.path.abspath(args.output))):
        raise UsageError(f"-o {args.output}: directory {os.path.dirname(os.path.abspath(args.output))} does not exist")
    try:
        plot_history(args.histories, args.output, title=args.title, output_layer=args.output_layer)
    except MissingExtraError as exc:
        raise DataError(str(exc)) from None
    print(f"wrote {args.output}")
    return 0

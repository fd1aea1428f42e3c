"""The `explore` command: serve the live backprop page until Ctrl-C or SIGTERM.

    tinygrad-nn explore [--data circle|xor|gauss|spiral|digits|FILE.csv] [--sizes 2,4,4,2] [--cost quadratic]
                        [--lr 3] [--batch-size 10] [--noise 0.1] [--seed 0] [--points 500]
                        [--host 127.0.0.1] [--port 0] [--no-browser]

The first line on stdout is the page's URL with this run's token. Exit status: 0 when stopped, 1 when the
data or the address fail, 2 for bad usage; every error is one line on stderr.
"""
from __future__ import annotations

import argparse
import sys
import webbrowser
from collections.abc import Sequence

from tinygrad_nn.cli import HelpFormatter, _number, _seed, _sizes
from tinygrad_nn.data import DataError
from tinygrad_nn.process import stop_signals_raise

from .datasets import GENERATORS
from .server import Explorer, ExploreError
from .session import COSTS, Session

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="explore", formatter_class=HelpFormatter,
                description="Serve a local page where the network trains live and every neuron, weight and bias "
                            "shows its BP1–BP4 with the selected example's numbers.")
    p.add_argument("--data", default="circle", help=f"{' | '.join(GENERATORS)} | digits | FILE.csv (rows x1,x2,label)")
    p.add_argument("--sizes", type=_sizes, help="layer widths (default 2,4,4,2; 64,16,10 for digits)")
    p.add_argument("--cost", choices=COSTS, default="quadratic", help="the cost the network learns")
    p.add_argument("--lr", type=_number(float, 0, strict=True), default=3.0, help="learning rate η")
    p.add_argument("--batch-size", type=_number(int, 0, strict=True), default=10, help="mini-batch size m")
    p.add_argument("--noise", type=_number(float, 0, below=1.000001), default=0.1, help="noise of the 2-D sets, 0…1")
    p.add_argument("--points", type=_number(int, 2), default=500, help="points of the 2-D sets (70%% for training)")
    p.add_argument("--seed", type=_seed, default=0, help="seed of the data, the weights and the mini-batches")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=_number(int, 0, below=65536), default=0, help="port (0: a free one)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run `explore` on `argv` (default sys.argv[1:], which may start with the word 'explore')."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["explore"]:
        argv = argv[1:]
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    try:
        session = Session(data=args.data, sizes=args.sizes, cost=args.cost, eta=args.lr, batch_size=args.batch_size,
                          noise=args.noise, seed=args.seed, points=args.points)
        explorer = Explorer(session, host=args.host, port=args.port)
    except (DataError, ExploreError) as exc:
        print(f"explore: error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"explore: error: {exc}", file=sys.stderr)
        return 2
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"explore: warning: listening on {args.host}, not only on this machine: anyone who can reach it and "
              f"knows the URL's token can drive the page", file=sys.stderr)
    print(explorer.url, flush=True)
    if not args.no_browser:
        try:
            webbrowser.open(explorer.url)
        except Exception:  # no browser here: the URL above is enough
            pass
    try:
        with stop_signals_raise():   # SIGHUP too; uvicorn handles SIGINT and SIGTERM itself, then re-raises
            explorer.serve()
    except KeyboardInterrupt:
        pass
    print("explore: stopped", file=sys.stderr)
    return 0

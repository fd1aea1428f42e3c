"""What a command-line process must survive: stop signals (SIGINT, SIGTERM, SIGHUP) and a closed stdout.

`stop_signals_raise` turns SIGTERM and SIGHUP into `Interrupted` (a KeyboardInterrupt), as Python does for
Ctrl-C, so `finally` blocks run and child processes are killed. `deferred_signals` holds such a signal back
until a critical section (a file rename, a mini-batch step) is done; `Pending.check` raises it there.
`guarded_stdout` turns a failed write to stdout (a closed pipe, a full disk) into `StdoutError`.
"""
from __future__ import annotations

import contextlib
import errno
import functools
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec, TypeVar

P, R = ParamSpec("P"), TypeVar("R")

__all__ = [
    "Interrupted",
    "Pending",
    "StdoutError",
    "check_pending",
    "deferred_signals",
    "defers_signals",
    "guarded_stdout",
    "stop_signals_raise",
]

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class Interrupted(KeyboardInterrupt):
    """A stop signal arrived; `signum` says which (exit status 128 + signum by convention)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


def _raise(signum: int, frame: Any) -> None:
    raise Interrupted(signum)


def _ours(handler: Any) -> bool:
    """A handler that ends the program: the default one, Python's Ctrl-C one, or ours (never SIG_IGN: nohup)."""
    return handler in (signal.SIG_DFL, signal.default_int_handler, _raise) or isinstance(handler, _Deferrer)


@contextlib.contextmanager
def stop_signals_raise() -> Iterator[None]:
    """SIGTERM and SIGHUP raise `Interrupted` inside the block, like SIGINT (ignored signals stay ignored)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    for s, handler in old.items():
        if _ours(handler):
            signal.signal(s, _raise)
    try:
        yield
    finally:
        for s, handler in old.items():
            if _ours(handler):
                signal.signal(s, handler)


_active: list[Pending] = []  # the Pending of the outermost deferring block, while one runs


def check_pending() -> None:
    """Raise `Interrupted` if a stop signal arrived while deferred (a no-op outside a deferring block)."""
    if _active:
        _active[0].check()


def defers_signals(fn: Callable[P, R]) -> Callable[P, R]:
    """Run `fn` inside `deferred_signals()`: stop signals wait for its `check_pending()` calls, or its end."""
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with deferred_signals():
            return fn(*args, **kwargs)
    return wrapper


class Pending:
    """The stop signal received while deferred (None if none); `check()` raises it as `Interrupted`."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def check(self) -> None:
        """Raise `Interrupted` if a stop signal arrived since the block began."""
        if self.signum is not None:
            raise Interrupted(self.signum)


class _Deferrer:
    def __init__(self, pending: Pending) -> None:
        self.pending = pending

    def __call__(self, signum: int, frame: Any) -> None:
        if self.pending.signum is not None:  # a second signal: the user insists
            raise Interrupted(signum)
        self.pending.signum = signum


@contextlib.contextmanager
def deferred_signals() -> Iterator[Pending]:
    """Hold stop signals back inside the block; at its end, deliver one that arrived.

    Delivered means: raised as `Interrupted`, or, where the signal's handler was the default (the process
    dies), re-sent after the old handler is back, so the process ends as it would have. A second signal
    while deferred is raised at once. Nested blocks defer to the outermost one.
    """
    pending = Pending()
    if threading.current_thread() is not threading.main_thread():
        yield pending
        return
    old = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    if any(isinstance(h, _Deferrer) for h in old.values()):  # an outer block defers already
        yield pending
        return
    deferrer = _Deferrer(pending)
    for s, handler in old.items():
        if _ours(handler):
            signal.signal(s, deferrer)
    _active.append(pending)
    try:
        yield pending
    finally:
        _active.remove(pending)
        for s, handler in old.items():
            if _ours(handler):
                signal.signal(s, handler)
    if pending.signum is not None:
        if old[pending.signum] == signal.SIG_DFL:
            os.kill(os.getpid(), pending.signum)
        pending.check()


class StdoutError(Exception):
    """Writing to stdout failed: the reader went away (EPIPE) or the disk is full; `error` is the OSError."""

    def __init__(self, error: OSError) -> None:
        super().__init__(f"cannot write to standard output: {error.strerror or error}")
        self.error = error

    @property
    def broken_pipe(self) -> bool:
        """The reader closed the pipe (`| head -1`): nothing more to say."""
        return self.error.errno == errno.EPIPE


class _Guard:
    """A stand-in for sys.stdout whose write/flush raise StdoutError once, then write nothing more."""

    def __init__(self, stream: Any) -> None:
        self._stream, self.failed = stream, False

    def write(self, text: str) -> int:
        return self._call("write", text) or 0

    def flush(self) -> None:
        self._call("flush")

    def _call(self, name: str, *args: Any) -> Any:
        if self.failed:
            return None
        try:
            return getattr(self._stream, name)(*args)
        except OSError as exc:
            self.failed = True
            _silence(self._stream)
            raise StdoutError(exc) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _silence(stream: Any) -> None:
    """Point a broken stdout at /dev/null, so that the interpreter's last flush finds nothing to complain of."""
    try:
        fd = stream.fileno()
    except (OSError, ValueError, AttributeError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


@contextlib.contextmanager
def guarded_stdout() -> Iterator[None]:
    """Inside the block, a failed write or flush of sys.stdout raises StdoutError; stdout is flushed at the end."""
    original = sys.stdout
    if original is None:  # started with stdout closed (`>&-`): print() already writes nowhere
        yield
        return
    guard = _Guard(original)
    sys.stdout = guard
    try:
        yield
        guard.flush()
    finally:
        sys.stdout = original

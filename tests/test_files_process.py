"""Focused tests of `tinygrad_nn.files` (safe outputs) and `tinygrad_nn.process` (signals, stdout), one rule each.

They run in well under a second and each pins one line of those modules, so that a planted bug there (a
forgotten chmod or fsync, a temporary file in the wrong folder, a signal delivered too early, too late or
never, a handler left behind) turns one of them red. Real signals are sent to this process, always inside
`stop_signals_raise()`, which turns them into exceptions instead of ending the test run.
"""
from __future__ import annotations

import errno
import io
import os
import signal
import socket
import stat
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from tinygrad_nn import files
from tinygrad_nn.data import DataError
from tinygrad_nn.files import atomic_write, check_output_path, file_kind, same_file
from tinygrad_nn.process import (
    Interrupted,
    StdoutError,
    check_pending,
    deferred_signals,
    defers_signals,
    guarded_stdout,
    stop_signals_raise,
)

# ---- files.py -------------------------------------------------------------------------------------------
def test_file_kind_names_every_special_file_and_nothing_else(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_bytes(b"x")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "sock"))
    try:
        kinds = {name: file_kind(tmp_path / name) for name in ("fifo", "dir", "file", "sock", "missing")}
    finally:
        server.close()
    assert kinds == {"fifo": "a FIFO (named pipe)", "dir": "a directory", "file": None, "sock": "a socket",
                     "missing": None}
    assert file_kind("/dev/null") == "a character device"


def test_a_new_file_follows_the_umask_and_an_old_one_keeps_its_bits(tmp_path):
    old_mask = os.umask(0o027)
    try:
        atomic_write(tmp_path / "new.bin", lambda f: f.write(b"1"))
    finally:
        os.umask(old_mask)
    assert stat.S_IMODE((tmp_path / "new.bin").stat().st_mode) == 0o640  # not mkstemp's private 0o600
    (tmp_path / "old.bin").write_bytes(b"0")
    (tmp_path / "old.bin").chmod(0o604)
    atomic_write(tmp_path / "old.bin", lambda f: f.write(b"1"))
    assert stat.S_IMODE((tmp_path / "old.bin").stat().st_mode) == 0o604


def test_the_temporary_file_is_beside_the_target_synced_then_renamed(tmp_path, monkeypatch):
    events: list[tuple] = []
    real_mkstemp, real_fsync, real_replace = tempfile.mkstemp, os.fsync, os.replace
    monkeypatch.setattr(tempfile, "mkstemp", lambda **kw: events.append(("mkstemp", Path(kw["dir"]))) or
                        real_mkstemp(**kw))
    monkeypatch.setattr(os, "fsync", lambda fd: events.append(("fsync",)) or real_fsync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: events.append(("replace", Path(a).parent, Path(b))) or
                        real_replace(a, b))
    target = tmp_path / "sub" / "x.bin"
    target.parent.mkdir()
    assert atomic_write(target, lambda f: f.write(b"data")) == target
    assert events == [("mkstemp", target.parent), ("fsync",), ("replace", target.parent, target)]
    assert target.read_bytes() == b"data" and os.listdir(target.parent) == ["x.bin"]


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"), ZeroDivisionError(),
                                   KeyboardInterrupt()])
def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, error):
    target = tmp_path / "x.bin"
    target.write_bytes(b"old")

    def write(f):
        f.write(b"half")
        raise error

    with pytest.raises(type(error)) as raised:
        atomic_write(target, write, "the thing")
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["x.bin"]
    if isinstance(error, OSError):  # the same errno, and now the file it was writing
        assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(target)
        assert "the thing" in str(raised.value)


def test_a_symlink_is_followed_and_kept_a_dangling_one_too(tmp_path):
    (tmp_path / "real.bin").write_bytes(b"old")
    (tmp_path / "link.bin").symlink_to("real.bin")
    (tmp_path / "dangling.bin").symlink_to("later.bin")
    assert atomic_write(tmp_path / "link.bin", lambda f: f.write(b"new")) == tmp_path / "real.bin"
    atomic_write(tmp_path / "dangling.bin", lambda f: f.write(b"made"))
    assert (tmp_path / "link.bin").is_symlink() and (tmp_path / "real.bin").read_bytes() == b"new"
    assert (tmp_path / "dangling.bin").is_symlink() and (tmp_path / "later.bin").read_bytes() == b"made"


@pytest.mark.parametrize(("name", "reason"), [("", "an empty name"), ("x.bin/", "a directory name"),
                                              ("missing/x.bin", "does not exist"), ("file/x.bin", "Not a directory"),
                                              ("fifo", "FIFO"), ("loop", "links")])
def test_check_output_path_refuses_and_creates_nothing(tmp_path, monkeypatch, name, reason):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_bytes(b"x")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "loop").symlink_to("loop")
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(DataError, match=reason):
        check_output_path(name, "the model")
    with pytest.raises(DataError, match=reason):
        atomic_write(name, lambda f: pytest.fail("wrote to a refused path"))
    assert sorted(os.listdir(tmp_path)) == before


def test_check_output_path_accepts_a_good_path_and_leaves_nothing(tmp_path):
    check_output_path(tmp_path / "new.npz")
    assert os.listdir(tmp_path) == []


def test_same_file_sees_through_links_and_names_not_yet_written(tmp_path):
    (tmp_path / "a").write_bytes(b"x")
    (tmp_path / "sym").symlink_to("a")
    os.link(tmp_path / "a", tmp_path / "hard")
    assert same_file(tmp_path / "a", tmp_path / "sym") and same_file(tmp_path / "hard", tmp_path / "a")
    assert same_file(tmp_path / "new", tmp_path / "." / "new")  # neither exists yet
    assert not same_file(tmp_path / "a", tmp_path / "b") and not same_file(tmp_path / "new", tmp_path / "a")


def test_the_umask_is_read_without_being_changed():
    old = os.umask(0o037)
    try:
        assert files._umask() == 0o037 and files._umask() == 0o037
    finally:
        os.umask(old)


# ---- process.py: stop signals ------------------------------------------------------------------------------
def handlers() -> dict[int, object]:
    return {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_stop_signal_raises_interrupted_and_the_handlers_come_back(sig):
    before = handlers()
    with pytest.raises(Interrupted) as raised, stop_signals_raise():
        signal.raise_signal(sig)
        pytest.fail("the signal did not interrupt")
    assert raised.value.signum == sig and str(raised.value) == f"interrupted by {signal.Signals(sig).name}"
    assert isinstance(raised.value, KeyboardInterrupt)  # Ctrl-C's handlers catch it too
    assert handlers() == before


def test_an_ignored_signal_stays_ignored():
    old = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # nohup
    try:
        with stop_signals_raise(), deferred_signals() as pending:
            signal.raise_signal(signal.SIGHUP)
            assert pending.signum is None
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, old)


def test_a_deferred_signal_waits_for_the_end_of_the_block():
    done = []
    before = handlers()
    with pytest.raises(Interrupted) as raised, stop_signals_raise():
        with deferred_signals() as pending:
            signal.raise_signal(signal.SIGTERM)
            assert pending.signum == signal.SIGTERM
            done.append("the rest of the block")
        pytest.fail("the deferred signal was never delivered")
    assert done == ["the rest of the block"] and raised.value.signum == signal.SIGTERM
    assert handlers() == before


def test_no_signal_no_interruption_and_handlers_restored():
    with stop_signals_raise():
        inside = handlers()
        with deferred_signals() as pending:
            check_pending()
        assert pending.signum is None and handlers() == inside
    check_pending()  # outside any block: nothing to do


def test_a_second_signal_is_raised_at_once():
    reached = []
    with pytest.raises(Interrupted) as raised, stop_signals_raise(), deferred_signals():
        signal.raise_signal(signal.SIGTERM)
        reached.append(1)
        signal.raise_signal(signal.SIGHUP)  # the user insists
        reached.append(2)
    assert reached == [1] and raised.value.signum == signal.SIGHUP


def test_check_pending_raises_where_the_loop_allows_it():
    steps = []
    with pytest.raises(Interrupted), stop_signals_raise(), deferred_signals():
        for step in range(5):
            if step == 2:
                signal.raise_signal(signal.SIGTERM)
            steps.append(step)  # the step in progress finishes …
            check_pending()     # … and the loop stops here
    assert steps == [0, 1, 2]


def test_nested_blocks_defer_to_the_outermost():
    order = []
    with pytest.raises(Interrupted), stop_signals_raise():
        with deferred_signals():
            with deferred_signals() as inner:
                signal.raise_signal(signal.SIGTERM)
            order.append("after the inner block")
            assert inner.signum is None  # the outer block holds it
        order.append("never")
    assert order == ["after the inner block"]


def test_defers_signals_wraps_a_function():
    @defers_signals
    def work(x: int) -> int:
        """Doubles."""
        signal.raise_signal(signal.SIGTERM)
        return 2 * x

    assert work.__name__ == "work" and work.__doc__ == "Doubles."
    results = []
    with pytest.raises(Interrupted), stop_signals_raise():
        results.append(work(21))
    assert results == []  # delivered as the function returned, before its caller used the result


def test_a_thread_leaves_the_handlers_alone():
    before, errors = handlers(), []

    def run() -> None:
        try:
            with stop_signals_raise(), deferred_signals() as pending:
                assert pending.signum is None
                check_pending()
        except Exception as exc:  # noqa: BLE001 (report it in the main thread)
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert errors == [] and handlers() == before


# ---- process.py: stdout ---------------------------------------------------------------------------------
class Failing(io.StringIO):
    """A stdout whose writes fail with `error_number` once `fail` is set."""

    def __init__(self, error_number: int) -> None:
        super().__init__()
        self.error_number, self.fail, self.attempts = error_number, False, 0

    def write(self, text: str) -> int:
        if self.fail:
            self.attempts += 1
            raise OSError(self.error_number, os.strerror(self.error_number))
        return super().write(text)


@pytest.mark.parametrize(("number", "broken"), [(errno.EPIPE, True), (errno.ENOSPC, False)])
def test_a_failed_stdout_raises_once_then_writes_nothing(monkeypatch, number, broken):
    stream = Failing(number)
    monkeypatch.setattr(sys, "stdout", stream)
    with pytest.raises(StdoutError) as raised, guarded_stdout():
        print("kept")
        stream.fail = True
        print("lost")
    assert raised.value.broken_pipe is broken and raised.value.error.errno == number
    assert str(raised.value) == f"cannot write to standard output: {os.strerror(number)}"
    assert sys.stdout is stream and stream.getvalue() == "kept\n"


def test_after_the_failure_the_guard_is_silent(monkeypatch):
    stream = Failing(errno.ENOSPC)
    monkeypatch.setattr(sys, "stdout", stream)
    with guarded_stdout():
        stream.fail = True
        with pytest.raises(StdoutError):
            sys.stdout.write("a")
        assert sys.stdout.write("b") == 0 and sys.stdout.flush() is None  # no second error at the last flush
    assert stream.attempts == 1


def test_a_failed_stdout_is_pointed_at_dev_null(monkeypatch):
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader went away: writing raises EPIPE
    stream = open(write_end, "w", buffering=1)  # noqa: SIM115 (closed below)
    monkeypatch.setattr(sys, "stdout", stream)
    old_pipe = signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        with pytest.raises(StdoutError) as raised, guarded_stdout():
            print("nobody reads this")
        assert raised.value.broken_pipe
        assert os.fstat(write_end).st_rdev == os.stat(os.devnull).st_rdev  # the interpreter's last flush is quiet
    finally:
        signal.signal(signal.SIGPIPE, old_pipe)
        monkeypatch.undo()
        stream.close()


def test_no_stdout_at_all_is_no_error(monkeypatch):
    monkeypatch.setattr(sys, "stdout", None)
    with guarded_stdout():
        assert sys.stdout is None

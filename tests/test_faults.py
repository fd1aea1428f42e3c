"""Fault injection: hostile save targets, files that lie, signals, closed streams, full disks, bombs.

Real files (FIFOs, device nodes, symlinks, a small tmpfs), real processes and real signals; decompression
bombs run in a child process under an address-space cap (`resource.setrlimit`), where the old code died
with "not enough memory". Each test names the fault class of issue 13 it pins.
"""
from __future__ import annotations

import contextlib
import errno
import gzip
import io
import json
import os
import pickle
import resource
import select
import signal
import stat
import struct
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tinygrad_nn import Value, compare_gradients, gradcheck, nn
from tinygrad_nn.cli import EXIT_DATA, EXIT_USAGE, main
from tinygrad_nn.data import DataError, load_digits, read_idx
from tinygrad_nn.gradcheck import GradcheckError
from tinygrad_nn.optim import SGD
from tinygrad_nn.train import (
    DivergenceError,
    load_model,
    save_model,
    train,
    write_history,
)

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
       "OPENBLAS_NUM_THREADS": "1"}
QUICK = ["train", "--epochs", "1", "--quiet"]
WAIT = 180  # seconds a child process may take on a busy 2-core machine; only a hang ever waits this long


@contextlib.contextmanager
def killed_after(process: subprocess.Popen, timeout: float = WAIT):
    """A watchdog: a child that hangs is killed after `timeout` s, so a blocking read fails instead of hanging."""
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    try:
        yield process
    finally:
        timer.cancel()


def cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err and "Exception ignored" not in err, err
    return lines[0]


def python(*args: str, cwd: Path | None = None, memory: int | None = None, **kwargs) -> subprocess.CompletedProcess:
    """Run `python args…` with this checkout first on the path, optionally under an address-space cap."""
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    return subprocess.run([sys.executable, *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=WAIT,
                          preexec_fn=cap if memory else None, check=False, **kwargs)


@pytest.fixture
def device(tmp_path: Path) -> Path:
    """A character device to save onto: a private copy of /dev/null where we may make one (root)."""
    node = tmp_path / "null-device"
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        return Path("/dev/null")  # not root: the real one, which we could not replace anyway
    return node


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".tg-") or p.suffix == ".tmp")


# ---- 1. save targets ------------------------------------------------------------------------------------
@pytest.mark.parametrize("option", ["--save", "--history"])
@pytest.mark.parametrize("kind", ["fifo", "device", "link-to-device", "socket"])
def test_a_special_file_is_refused_before_training_and_left_alone(capsys, tmp_path, device, option, kind):
    suffix = ".npz" if option == "--save" else ".csv"
    target = tmp_path / f"target{suffix}"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "device":
        target = device if device.name == "null" else device.rename(tmp_path / f"dev{suffix}")
    elif kind == "link-to-device":
        target.symlink_to(device)
    else:
        import socket
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(target))
    before = os.lstat(target)
    code, out, err = cli(capsys, *QUICK, option, target)
    line = one_line(err)
    assert code == EXIT_DATA and "test accuracy" not in out  # before any training
    assert "not a regular file" in line and str(target) in line
    after = os.lstat(target)
    assert (after.st_mode, after.st_ino, after.st_rdev) == (before.st_mode, before.st_ino, before.st_rdev)
    assert not leftovers(tmp_path)


def test_the_library_refuses_special_files_too(tmp_path, device):
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    link = tmp_path / "device.json"
    link.symlink_to(device)
    net = nn.MLP([2, 2], seed=0)
    for path in (fifo, device):
        with pytest.raises(DataError, match="not a regular file"):
            save_model(net, path)
    for path in (fifo, link):
        with pytest.raises(DataError, match="not a regular file"):
            write_history([], path)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and stat.S_ISCHR(os.lstat(device).st_mode)


def test_saving_through_a_symlink_replaces_its_target_and_keeps_the_link(capsys, tmp_path):
    (tmp_path / "store").mkdir()
    real = tmp_path / "store" / "model.npz"
    real.write_bytes(b"old")
    link = tmp_path / "link.npz"
    link.symlink_to(Path("store") / "model.npz")  # relative, as users make them
    code, _, _ = cli(capsys, *QUICK, "--save", link)
    assert code == 0 and link.is_symlink() and os.readlink(link) == str(Path("store") / "model.npz")
    assert load_model(real).sizes == [64, 30, 10]
    dangling = tmp_path / "dangling.npz"
    dangling.symlink_to(tmp_path / "store" / "new.npz")
    save_model(nn.MLP([2, 2], seed=0), dangling)
    assert dangling.is_symlink() and (tmp_path / "store" / "new.npz").is_file()
    assert not leftovers(tmp_path) and not leftovers(tmp_path / "store")


def test_an_existing_file_keeps_its_permission_bits(tmp_path):
    model, history = tmp_path / "m.npz", tmp_path / "h.json"
    for path, mode in ((model, 0o640), (history, 0o604)):
        path.write_bytes(b"old")
        path.chmod(mode)
    save_model(nn.MLP([2, 2], seed=0), model)
    write_history([], history)
    assert stat.S_IMODE(model.stat().st_mode) == 0o640 and stat.S_IMODE(history.stat().st_mode) == 0o604


def test_any_legal_file_name_can_be_saved(capsys, tmp_path):
    longest = tmp_path / ("m" * (os.pathconf(tmp_path, "PC_NAME_MAX") - 4) + ".npz")
    code, _, err = cli(capsys, *QUICK, "--save", longest, "--history", tmp_path / ("h" * 251 + ".csv"))
    assert code == 0, err
    assert load_model(longest).sizes == [64, 30, 10]


@pytest.mark.parametrize("history", ["same", "dotted", "link"])
def test_one_path_for_two_outputs_is_a_usage_error(capsys, tmp_path, history):
    save = tmp_path / "run.csv"
    other = {"same": save, "dotted": f"{tmp_path}/./run.csv", "link": tmp_path / "alias.csv"}[history]
    if history == "link":
        other.symlink_to(save)
    code, out, err = cli(capsys, *QUICK, "--save", save, "--history", other)
    assert code == EXIT_USAGE and "same file" in one_line(err) and "test accuracy" not in out
    assert not save.exists()


def test_saving_over_the_data_file_is_a_usage_error(capsys, tmp_path):
    data = tmp_path / "mnist.pkl.gz"
    data.write_bytes(b"precious")
    code, _, err = cli(capsys, *QUICK, "--data", data, "--allow-pickle", "--history", tmp_path / "h.csv",
                       "--save", data)
    assert code == EXIT_USAGE and "--data" in one_line(err) and data.read_bytes() == b"precious"


def test_an_unwritable_directory_fails_before_training(capsys, tmp_path, monkeypatch):
    """As root, permission bits do not stop writes, so the read-only place is a read-only bind mount or,
    failing that, a directory whose temporary files cannot be created (mkstemp faked to fail)."""
    import tempfile
    real = tempfile.mkstemp

    def denied(*args, **kwargs):
        if kwargs.get("dir") and Path(kwargs["dir"]) == tmp_path / "ro":
            raise PermissionError(errno.EACCES, "Permission denied")
        return real(*args, **kwargs)

    (tmp_path / "ro").mkdir()
    monkeypatch.setattr(tempfile, "mkstemp", denied)
    started = []
    monkeypatch.setattr("tinygrad_nn.train.mini_batches", lambda *a, **k: started.append(1) or [])
    for option, name in (("--save", "m.npz"), ("--history", "h.csv")):
        code, _out, err = cli(capsys, *QUICK, option, tmp_path / "ro" / name)
        assert code == EXIT_DATA and "Permission denied" in one_line(err) and not started
    with pytest.raises(DataError, match="Permission denied"):
        train(nn.MLP([64, 5, 10], seed=0), load_digits(), epochs=1, save_path=tmp_path / "ro" / "m.npz")
    assert not started


def test_the_history_is_written_atomically(tmp_path):
    """A write that fails half-way (here: the file-size limit, EFBIG) leaves the old history whole."""
    script = textwrap.dedent("""
        import resource, signal, sys
        from tinygrad_nn.train import EpochRecord, write_history
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (300, 300))
        write_history([EpochRecord(e, 0.5, 0.5, 0.5, 0.1, 3.0) for e in range(1, 50)], sys.argv[1])
    """)
    history = tmp_path / "h.csv"
    history.write_text("epoch\n1\n")
    done = python("-c", script, str(history))
    assert done.returncode == 1 and "File too large" in done.stderr
    assert history.read_text() == "epoch\n1\n" and not leftovers(tmp_path)


@contextlib.contextmanager
def small_disk(tmp_path: Path, size: str = "96k"):
    """A tmpfs of `size` where this machine lets us mount one, else None (then the test fakes the full disk)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
                              capture_output=True, check=False) if os.geteuid() == 0 else None
    except OSError:  # no mount program
        done = None
    if done is None or done.returncode:
        yield None
        return
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_keeps_the_old_model_and_leaves_no_temporary_file(capsys, tmp_path, monkeypatch):
    with small_disk(tmp_path) as disk:
        if disk is None:  # no mounting here: a fake disk that fills after 4 KiB of the new file
            disk = tmp_path / "fake"
            disk.mkdir()
            save_model(nn.MLP([64, 30, 10], seed=1), disk / "m.npz")

            def full(f, **arrays):
                f.write(b"x" * 4096)
                raise OSError(errno.ENOSPC, "No space left on device")
            monkeypatch.setattr(np, "savez", full)
        else:
            save_model(nn.MLP([64, 30, 10], seed=1), disk / "m.npz")
            free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
            (disk / "filler").write_bytes(b"\0" * (free - 8192))  # room for the empty probe, not for a model
        old = (disk / "m.npz").read_bytes()
        code, _out, err = cli(capsys, *QUICK, "--save", disk / "m.npz")
        assert code == EXIT_DATA and "No space left on device" in err and "Traceback" not in err
        assert (disk / "m.npz").read_bytes() == old and not leftovers(disk)


# ---- 2. files that lie --------------------------------------------------------------------------------
ZERO_MEMBER = gzip.compress(bytes(1 << 24), 9)  # 16 MiB of zeros in 16 KiB


def idx_header(dims: tuple[int, ...]) -> bytes:
    return bytes([0, 0, 8, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


def idx_dir(tmp_path: Path, images: bytes, n: int = 20) -> Path:
    """An IDX directory whose training images file holds `images` (gzipped bytes); the rest is valid."""
    directory = tmp_path / "idx"
    directory.mkdir()
    (directory / "train-images-idx3-ubyte.gz").write_bytes(images)
    (directory / "train-labels-idx1-ubyte").write_bytes(idx_header((n,)) + bytes(range(10)) * (n // 10))
    (directory / "t10k-images-idx3-ubyte").write_bytes(idx_header((n, 4, 4)) + bytes(n * 16))
    (directory / "t10k-labels-idx1-ubyte").write_bytes(idx_header((n,)) + bytes(range(10)) * (n // 10))
    return directory


BOMB_CAP = 700 << 20  # the child may map 700 MiB: enough for numpy and the digits, not for a bomb


@pytest.mark.parametrize("kind", ["small-header-huge-stream", "huge-header"])
def test_an_idx_gzip_bomb_fails_fast_naming_the_file(tmp_path, kind):
    if kind == "small-header-huge-stream":  # promises 20 images of 4x4, inflates to 1 GiB
        bomb = gzip.compress(idx_header((20, 4, 4)) + bytes(320)) + ZERO_MEMBER * 64
    else:  # promises (and holds) 1.1 GB of pixels in a 1 MB file
        bomb = gzip.compress(idx_header((1100, 1000, 1000))) + ZERO_MEMBER * 66
    directory = idx_dir(tmp_path, bomb)
    start = time.perf_counter()
    done = python("-m", "tinygrad_nn", "train", "--data", str(directory), "--validation-size", "5", "--epochs", "1",
                  memory=BOMB_CAP)
    assert time.perf_counter() - start < 20
    line = one_line(done.stderr)
    assert done.returncode == EXIT_DATA and "train-images-idx3-ubyte.gz" in line, done.stderr
    assert "memory" not in line or "decompression bomb" in line


def test_a_pickle_gzip_bomb_fails_fast_naming_the_file(tmp_path):
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(b"\x80\x04\x8e" + struct.pack("<Q", 1 << 30)) + ZERO_MEMBER * 64
                     + gzip.compress(b"."))  # BINBYTES8 of 1 GiB
    done = python("-m", "tinygrad_nn", "train", "--data", str(path), "--allow-pickle", memory=BOMB_CAP)
    line = one_line(done.stderr)
    assert done.returncode == EXIT_DATA and "mnist.pkl.gz" in line and "decompression bomb" in line, done.stderr


def good_model(tmp_path: Path) -> dict[str, np.ndarray]:
    path = tmp_path / "good.npz"
    save_model(nn.MLP([64, 30, 10], seed=0), path)
    with np.load(path) as npz:
        return {name: npz[name] for name in npz.files}


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array)
    return buffer.getvalue()


def test_a_model_member_whose_header_promises_gigabytes_is_refused_before_reading(tmp_path):
    arrays = good_model(tmp_path)
    path = tmp_path / "bomb.npz"
    header = np.lib.format.header_data_from_array_1_0(np.zeros((30, 64)))
    header["shape"] = (40000, 40000)  # 12.8 GB of float64
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            archive.writestr(name + ".npy", buffer.getvalue() + bytes(1 << 20) if name == "layers.0.weight"
                             else npy(array))
    done = python("-m", "tinygrad_nn", "evaluate", "--model", str(path), memory=BOMB_CAP)
    line = one_line(done.stderr)
    assert done.returncode == EXIT_DATA and "bomb.npz" in line and "layers.0.weight" in line, done.stderr


@pytest.mark.parametrize("kind", ["bad-npy-header", "bad-npy-magic", "npy-header-tokens", "broken-deflate", "not-npy-member", "meta-sizes-huge",
                                  "zip-size-lies"])
def test_a_corrupt_npz_is_a_one_line_data_error(tmp_path, capsys, kind):
    arrays = good_model(tmp_path)
    path = tmp_path / "corrupt.npz"
    members = {name + ".npy": npy(array) for name, array in arrays.items()}
    if kind == "bad-npy-header":
        members["layers.1.bias.npy"] = members["layers.1.bias.npy"].replace(b"'descr'", b"'dexcr'")
    elif kind == "bad-npy-magic":
        members["layers.1.bias.npy"] = members["layers.1.bias.npy"].replace(b"NUMPY", b"NUMPX")
    elif kind == "npy-header-tokens":  # numpy's header parser raises a TokenError, not a ValueError
        members["layers.1.bias.npy"] = members["layers.1.bias.npy"].replace(b"'<f8'", b"[('a")
    elif kind == "not-npy-member":
        members["notes.txt"] = b"hello"
    elif kind == "meta-sizes-huge":
        meta = json.loads(str(arrays["__meta__"]))
        meta["sizes"] = [64, 10 ** 6, 10 ** 6, 10]
        members["__meta__.npy"] = npy(np.array(json.dumps(meta)))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    raw = bytearray(path.read_bytes())
    if kind == "broken-deflate":  # flip bytes in the middle of the biggest member's deflate stream
        start = raw.index(b"layers.0.weight.npy") + 40
        raw[start:start + 64] = bytes(b ^ 0x5A for b in raw[start:start + 64])
    elif kind == "zip-size-lies":  # the directory says a member is longer than its header promises
        info = zipfile.ZipFile(path).getinfo("layers.0.bias.npy")
        at = raw.rindex(b"layers.0.bias.npy") - 46  # the central directory entry
        raw[at + 24:at + 28] = struct.pack("<I", info.file_size + 8)
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError) as error:
        load_model(path)
    assert str(path) in str(error.value)
    code, _, err = cli(capsys, "evaluate", "--model", path)
    assert code == EXIT_DATA and "internal error" not in one_line(err)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_evaluate_and_graph_refuse_a_model_whose_weights_are_not_finite(capsys, tmp_path, bad):
    net = nn.MLP([64, 30, 10], seed=0)
    net.layers[1].weight.data[3, 4] = bad
    save_model(net, tmp_path / "m.npz")
    code, out, err = cli(capsys, "evaluate", "--model", tmp_path / "m.npz")
    assert code == EXIT_DATA and "not finite" in one_line(err) and "accuracy" not in out
    code, _, err = cli(capsys, "graph", "--network", "--model", tmp_path / "m.npz", "-o", tmp_path / "n.svg")
    assert code == EXIT_DATA and "not finite" in one_line(err) and not (tmp_path / "n.svg").exists()


def test_evaluate_refuses_a_model_with_the_wrong_number_of_outputs(capsys, tmp_path):
    save_model(nn.MLP([64, 30, 7], seed=0), tmp_path / "m.npz")
    code, out, err = cli(capsys, "evaluate", "--model", tmp_path / "m.npz")
    assert code == EXIT_DATA and "7 outputs" in one_line(err) and "10 classes" in err and "accuracy" not in out


@pytest.mark.parametrize("dims", [(0, 4, 4), (20, 0, 0)])
def test_empty_splits_and_zero_pixel_images_are_data_errors(capsys, tmp_path, dims):
    directory = idx_dir(tmp_path, gzip.compress(idx_header(dims)), n=dims[0])
    code, _, err = cli(capsys, "train", "--data", directory, "--validation-size", "0", "--epochs", "1")
    assert code == EXIT_DATA and "train-images-idx3-ubyte.gz" in one_line(err) and "holds no" in err


def test_an_empty_pickle_split_is_a_data_error(capsys, tmp_path):
    path = tmp_path / "empty.pkl.gz"
    empty = (np.zeros((0, 4)), np.zeros(0, dtype=np.int64))
    one = (np.zeros((1, 4)), np.zeros(1, dtype=np.int64))
    path.write_bytes(gzip.compress(pickle.dumps((empty, one, one))))
    code, _, err = cli(capsys, "train", "--data", path, "--allow-pickle", "--epochs", "1")
    assert code == EXIT_DATA and "0 training" in one_line(err)


# ---- 3. signals and streams ---------------------------------------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_stop_signal_keeps_the_last_complete_epoch_and_writes_the_history(tmp_path, sig):
    process = subprocess.Popen([sys.executable, "-m", "tinygrad_nn", "train", "--epochs", "2000", "--save", "m.npz",
                                "--history", "h.csv"], cwd=tmp_path, env=ENV, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    with killed_after(process):
        lines = [process.stdout.readline() for _ in range(4)]  # the heading, epoch 0 (untrained) and two epochs
    assert lines[3].startswith("epoch   2/"), lines
    process.send_signal(sig)
    _out, err = process.communicate(timeout=WAIT)
    assert process.returncode == 128 + sig, err
    assert f"interrupted by {signal.Signals(sig).name}" in err and "Traceback" not in err
    epochs = [int(row.split(",")[0]) for row in (tmp_path / "h.csv").read_text().splitlines()[1:]]
    assert epochs == list(range(len(epochs))) and len(epochs) >= 3
    assert json.loads(str(np.load(tmp_path / "m.npz")["__meta__"]))["epoch"] == epochs[-1]
    assert f"keeps the model of epoch {epochs[-1]}" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.csv", "m.npz"]


def test_a_signal_stops_training_after_the_current_mini_batch(tmp_path):
    """In a library process (no CLI), SIGTERM in the middle of a step lets the step finish, then stops."""
    script = textwrap.dedent("""
        import os, signal, sys
        import numpy as np
        from tinygrad_nn import nn, optim
        from tinygrad_nn.data import load_digits
        from tinygrad_nn.process import Interrupted
        from tinygrad_nn.train import train
        steps, whole, real = [], [], optim.SGD.step
        def step(self):
            steps.append(len(steps) + 1)
            if len(steps) == 5:
                os.kill(os.getpid(), signal.SIGTERM)  # arrives mid-step
            before = [p.data.copy() for p in self.params]
            real(self)
            whole.append(all(not np.array_equal(b, p.data) for b, p in zip(before, self.params)))
        optim.SGD.step = step
        try:
            train(nn.MLP([64, 10, 10], seed=0), load_digits(), epochs=3, save_path=sys.argv[1])
        except Interrupted as exc:
            print(exc.signum, len(steps), all(whole))
    """)
    done = python("-c", script, str(tmp_path / "m.npz"))
    assert done.stdout.split() == [str(int(signal.SIGTERM)), "5", "True"], done.stderr
    assert not (tmp_path / "m.npz").exists()  # interrupted in epoch 1: nothing complete to keep


def test_a_signal_during_a_library_write_leaves_the_file_whole_and_no_temporary(tmp_path):
    script = textwrap.dedent("""
        import os, signal, sys
        from tinygrad_nn.files import atomic_write
        def write(f):
            f.write(b"first half ")
            os.kill(os.getpid(), signal.SIGTERM)  # the default action: the process ends
            f.write(b"second half")
        atomic_write(sys.argv[1], write)
        print("not reached")
    """)
    (tmp_path / "out.bin").write_bytes(b"old")
    done = python("-c", script, str(tmp_path / "out.bin"))
    assert done.returncode == -signal.SIGTERM and "not reached" not in done.stdout
    assert (tmp_path / "out.bin").read_bytes() == b"first half second half"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def read_fifo_line(fifo: Path, what: str, timeout: float = WAIT) -> str:
    """The first line a writer puts in `fifo`: opened and read in a thread, joined with a timeout (no polling);
    a writer that never comes fails the test naming `what`, after the thread is released by our own write."""
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    reader.join(timeout)
    if reader.is_alive():
        fifo.write_text("")  # opens the other end, so the reader's open returns and the thread ends
        reader.join()
        pytest.fail(f"waited {timeout} s for {what}")
    return got[0]


def wait_for_exit(pid: int, what: str, timeout: float = WAIT) -> None:
    """Block until process `pid` (not our child) has ended: its pidfd becomes readable when it does."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return  # already gone
    try:
        if not select.select([fd], [], [], timeout)[0]:
            pytest.fail(f"waited {timeout} s for {what}")
    finally:
        os.close(fd)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_dot_ends_with_the_process(tmp_path, sig):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    started = tmp_path / "dot.started"
    os.mkfifo(started)
    fake = bin_dir / "dot"
    fake.write_text(f"#!/bin/sh\necho $$ > {started}\nexec sleep 3600\n")  # the echo waits for our reader
    fake.chmod(0o755)
    env = {**ENV, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    process = subprocess.Popen([sys.executable, "-m", "viz", "graph", "-o", str(tmp_path / "g.svg")], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with killed_after(process):
        dot = int(read_fifo_line(started, "the fake dot to start"))
    process.send_signal(sig)
    _, err = process.communicate(timeout=WAIT)
    assert process.returncode == (128 + sig if sig != signal.SIGKILL else -sig), err
    try:
        wait_for_exit(dot, "dot to end with the process")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(dot, signal.SIGKILL)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "dot.started"]


def test_a_closed_stdout_ends_quietly(tmp_path):
    """`tinygrad-nn train | head -1`: the reader goes away after one line; no traceback, no "Exception ignored"."""
    process = subprocess.Popen([sys.executable, "-m", "tinygrad_nn", "train", "--epochs", "100000", "--history",
                                "h.csv"], cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with killed_after(process):
        assert process.stdout.readline().startswith(b"training")
    process.stdout.close()  # however slowly the reader gets here, the writer has epochs left to notice it
    _out, err = process.communicate(timeout=WAIT)
    assert process.returncode == 141 and err == b""
    assert (tmp_path / "h.csv").read_text().startswith("epoch")  # the epochs done are still recorded


@pytest.mark.parametrize("command", [["tinygrad_nn", "train", "--epochs", "1"], ["viz", "graph", "-o", "g.dot"]])
def test_a_stdout_closed_from_the_start_is_no_error(tmp_path, command):
    done = subprocess.run(["bash", "-c", f"{sys.executable} -m {' '.join(command)} >&-"], cwd=tmp_path, env=ENV,
                          capture_output=True, text=True, timeout=WAIT, check=False)
    assert done.returncode == 0 and done.stderr == ""


@pytest.mark.parametrize("command", [["tinygrad_nn", "train", "--epochs", "1"], ["viz", "graph", "-o", "g.dot"]])
def test_a_full_stdout_is_one_line(tmp_path, command):
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", *command], cwd=tmp_path, env=ENV, stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=WAIT, check=False)
    assert done.returncode == 1 and "No space left on device" in one_line(done.stderr)


# ---- 4. answers that must never be silently wrong ------------------------------------------------------
def test_gradcheck_fails_on_one_nan_finite_difference_naming_it():
    def fn(v: Value) -> Value:  # ln v[2] with v[2] < ε: the difference v[2] − ε leaves the domain, one NaN
        return (v.log() * np.array([0.0, 0.0, 1.0])).sum()

    x = Value(np.array([1.0, 2.0, 1e-7]))  # the autodiff gradient 1/v is finite everywhere
    with np.errstate(all="ignore"), pytest.raises(GradcheckError, match=r"element \(2,\) is not finite"):
        gradcheck(fn, x)


def test_gradcheck_fails_on_an_infinite_analytic_entry():
    x = Value(np.array([1.0, 0.0]))
    with np.errstate(all="ignore"), pytest.raises(GradcheckError, match=r"\(1,\) is not finite"):
        gradcheck(lambda a: (a ** 0.5).sum(), x)


def test_sgd_refuses_a_parameter_listed_twice():
    p, q = Value(np.ones(2)), Value(np.ones(2))
    with pytest.raises(ValueError, match="parameter 2 is parameter 0 again"):
        SGD([p, q, p], lr=1.0)
    alias = Value(np.ones(2))
    alias.data = p.data  # another Value over the same array: a step would move it twice
    with pytest.raises(ValueError, match="parameter 1 is parameter 0 again"):
        SGD([p, alias], lr=1.0)
    net = nn.MLP([3, 2], seed=0)
    with pytest.raises(ValueError, match="again"):
        SGD(net.parameters() + net.parameters(), lr=1.0)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_compare_gradients_validates_fd_samples(bad):
    with pytest.raises(ValueError, match="fd_samples"):
        compare_gradients(nn.MLP([3, 2], seed=0), np.ones((1, 3)), [1], fd_samples=bad)


def test_compare_gradients_agrees_on_a_float32_network():
    net = nn.MLP([6, 5, 3], seed=2, dtype=np.float32)
    rng = np.random.default_rng(0)
    report = compare_gradients(net, rng.random((4, 6)), rng.integers(0, 3, 4))
    assert report.ok, report
    assert net.layers[0].weight.dtype == np.float32  # the caller's network is left as it was


def same_mistake(capsys, tmp_path, graph_args, library):
    """One mistake through `python -m viz graph`, `tinygrad-nn graph` and the library: the same message."""
    from viz.cli import main as viz_main
    capsys.readouterr()
    viz_code = viz_main(["graph", *graph_args, "-o", str(tmp_path / "g.svg")])
    viz_err = one_line(capsys.readouterr().err)
    code, _, err = cli(capsys, "graph", *graph_args, "-o", tmp_path / "g.svg")
    assert code == viz_code and one_line(err).split("error: ", 1)[1] == viz_err.split("error: ", 1)[1]  # each names
    # its own command: "tinygrad-nn graph: error: …", "python -m viz graph: error: …"
    with pytest.raises((ValueError, TypeError)) as error:
        library()
    return viz_err, str(error.value), code


def test_every_entry_point_gives_the_same_error_for_the_same_mistake(capsys, tmp_path):
    err, lib, code = same_mistake(capsys, tmp_path, ["--sizes", "2,0,1"], lambda: nn.MLP([2, 0, 1]))
    assert code == 2 and lib.removeprefix("sizes: ") in err
    code_train, _, err_train = cli(capsys, "train", "--sizes", "2,0,1")
    assert code_train == 2 and one_line(err_train).split("error: ")[1] == err.split("error: ")[1]
    err, lib, code = same_mistake(capsys, tmp_path, ["--network", "--model", str(tmp_path / "no.npz")],
                                  lambda: load_model(tmp_path / "no.npz"))
    assert code == 1 and err.endswith(lib)
    code_eval, _, err_eval = cli(capsys, "evaluate", "--model", tmp_path / "no.npz")
    assert code_eval == 1 and one_line(err_eval).endswith(lib)
    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    err, lib, code = same_mistake(capsys, tmp_path, ["--network", "--model", str(fifo)], lambda: load_model(fifo))
    assert code == 1 and err.endswith(lib) and "FIFO" in lib and "not found" not in lib
    from viz.graph import draw_graph
    err, lib, code = same_mistake(capsys, tmp_path, ["--max-nodes", "2"], lambda: draw_graph(Value(1.0), max_nodes=2))
    assert code == 2 and err.endswith(lib)
    code_seed, _, err_seed = cli(capsys, "train", "--seed", "-1")
    err, _, code = same_mistake(capsys, tmp_path, ["--seed", "-1"], lambda: nn.MLP([2, 1], seed=-1))
    assert code == code_seed == 2 and one_line(err_seed).split("error: ")[1] == err.split("error: ")[1]


def test_patience_without_a_validation_set_is_a_usage_error(capsys):
    code, out, err = cli(capsys, "train", "--patience", "2", "--validation-size", "0")
    assert code == EXIT_USAGE and "--patience needs a validation set" in one_line(err) and not out
    splits = load_digits(validation_size=0)
    with pytest.raises(ValueError, match="patience needs a validation set"):
        train(nn.MLP([64, 5, 10], seed=0), splits, epochs=1, patience=2)


def test_a_diverging_weight_decay_is_named_as_the_cause(capsys):
    code, _, err = cli(capsys, "train", "--epochs", "6", "--lr", "0.5", "--weight-decay", "10")
    assert code == EXIT_DATA and "weight decay 10 is too large" in err and "smaller learning rate" not in err
    code, _, err = cli(capsys, "train", "--epochs", "1", "--lr", "0.5", "--weight-decay", "10")  # huge, not yet inf
    assert code == 0 and "weight decay 10 is too large" in err and "smaller --lr" not in err
    with pytest.raises(DivergenceError, match="weight decay 10 is too large"):
        train(nn.MLP([64, 5, 10], seed=0), load_digits(), epochs=6, lr=0.5, weight_decay=10)
    with pytest.raises(DivergenceError, match="smaller learning rate"):  # the rate, when it is the rate
        train(nn.MLP([64, 5, 10], seed=0), load_digits(), epochs=2, lr=1.7e308, cost="cross-entropy")


def test_a_permission_error_is_not_called_a_corrupt_gzip(tmp_path, monkeypatch):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_header((1, 2, 2)) + bytes(4)))
    real = os.open

    def denied(file, *args, **kwargs):
        if Path(file) == path:
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real(file, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)  # root reads everything: fake the unreadable file
    with pytest.raises(DataError, match="permission denied") as error:
        read_idx(path)
    assert "gzip" not in str(error.value)


def test_an_existing_fifo_is_not_called_missing(tmp_path):
    for name in ("train-images-idx3-ubyte", "model.npz"):
        os.mkfifo(tmp_path / name)
    with pytest.raises(DataError, match="FIFO") as error:
        read_idx(tmp_path / "train-images-idx3-ubyte")  # and it does not block on the FIFO
    assert "not found" not in str(error.value)
    with pytest.raises(DataError, match="FIFO") as error:
        load_model(tmp_path / "model.npz")
    assert "not exist" not in str(error.value) and "not found" not in str(error.value)


def test_atomic_write_library_contract(tmp_path):
    from tinygrad_nn.files import atomic_write

    target = tmp_path / "x.bin"
    assert atomic_write(target, lambda f: f.write(b"abc")) == target and target.read_bytes() == b"abc"
    with pytest.raises(ZeroDivisionError):
        atomic_write(target, lambda f: (f.write(b"partial"), 1 / 0))
    assert target.read_bytes() == b"abc" and [p.name for p in tmp_path.iterdir()] == ["x.bin"]


@pytest.mark.parametrize("name", ["", "model.npz/"])
def test_a_directory_name_or_an_empty_name_is_never_quietly_saved_elsewhere(capsys, tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(capsys, *QUICK, "--save", name)
    assert code == EXIT_USAGE and "expected a file name" in one_line(err) and not out
    with pytest.raises(DataError, match="not a file name"):
        save_model(nn.MLP([2, 2], seed=0), name)
    with pytest.raises(ValueError, match="not a file name|unknown extension"):
        write_history([], name.replace("model.npz", "h.json"))
    from viz.cli import main as viz_main
    assert viz_main(["graph", "-o", name.replace("model.npz", "g.svg") or ""]) in (1, 2)
    assert list(tmp_path.iterdir()) == []  # "model.npz/" did not become model.npz


def test_a_fifo_as_the_data_source_is_named_as_a_fifo(capsys, tmp_path):
    os.mkfifo(tmp_path / "data")
    code, _, err = cli(capsys, "train", "--data", tmp_path / "data")
    assert code == EXIT_DATA and "is a FIFO" in one_line(err)


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_a_model_file_with_a_member_twice_is_refused(tmp_path):
    arrays = good_model(tmp_path)
    path = tmp_path / "twice.npz"
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in [*arrays.items(), ("layers.0.bias", np.full(30, np.pi))]:
            archive.writestr(name + ".npy", npy(array))
    with pytest.raises(DataError, match="appears twice"):
        load_model(path)


def test_graph_checks_its_output_before_drawing(capsys, tmp_path, monkeypatch):
    import viz.cli
    drawn = []
    monkeypatch.setattr(viz.cli, "_draw", lambda args: drawn.append(args))
    os.mkfifo(tmp_path / "g.svg")
    for output in (tmp_path / "g.svg", tmp_path / "missing" / "g.svg"):
        code, _, err = cli(capsys, "graph", "-o", output)
        assert code == EXIT_DATA and str(output) in one_line(err)
    assert drawn == [] and stat.S_ISFIFO(os.lstat(tmp_path / "g.svg").st_mode)


def test_a_loop_of_links_is_refused_and_left_alone(capsys, tmp_path):
    (tmp_path / "a.npz").symlink_to("b.npz")
    (tmp_path / "b.npz").symlink_to("a.npz")
    code, out, err = cli(capsys, *QUICK, "--save", tmp_path / "a.npz")
    assert code == EXIT_DATA and "symbolic links" in one_line(err) and "a.npz" in err and not out
    assert os.readlink(tmp_path / "a.npz") == "b.npz" and os.readlink(tmp_path / "b.npz") == "a.npz"


def test_an_existing_file_keeps_its_owner_where_the_process_may_keep_it(tmp_path):
    path = tmp_path / "m.npz"
    path.write_bytes(b"old")
    owner = (1234, 5678) if os.geteuid() == 0 else (os.getuid(), os.getgid())  # only root can give files away
    os.chown(path, *owner)
    save_model(nn.MLP([2, 2], seed=0), path)
    assert (path.stat().st_uid, path.stat().st_gid) == owner and load_model(path).sizes == [2, 2]


def test_a_name_too_long_or_a_file_used_as_a_directory_is_named_before_training(capsys, tmp_path):
    (tmp_path / "file.npz").write_bytes(b"not a directory")
    for target, cause in ((tmp_path / ("m" * 300 + ".npz"), "file name too long"),
                          (tmp_path / "file.npz" / "m.npz", "not a directory")):
        code, out, err = cli(capsys, *QUICK, "--save", target)
        assert code in (EXIT_DATA, EXIT_USAGE) and cause in one_line(err).lower() and not out
        with pytest.raises(DataError) as error:
            save_model(nn.MLP([2, 2], seed=0), target)
        assert cause in str(error.value).lower()
        code, _, err = cli(capsys, "graph", "-o", target.with_suffix(".svg"))
        assert code == EXIT_DATA and cause in one_line(err).lower()

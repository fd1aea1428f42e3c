"""Issue 19, fault classes 11–16: plot outputs that lose files, history files that lie, text that matplotlib
would read as mathtext, saves that replace what the user could not, `graph` without train's data options,
and the last tracebacks of the command line.

Each test names its class; every one failed on the code before the fix. Nothing may be lost: the tests
compare the bytes of every file that must survive, and any subprocess runs under a timeout.
"""
from __future__ import annotations

import errno
import gzip
import os
import pickle
import stat
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from test_faults import ENV, QUICK, WAIT, cli, leftovers, one_line, python  # the same helpers as the first rounds
from tinygrad_nn.cli import EXIT_DATA, EXIT_USAGE, build_parser, main
from tinygrad_nn.train import EpochRecord, write_history

FIELDS = "epoch,training_cost,validation_accuracy,test_accuracy,seconds,lr\n"


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """A small real history file (three epochs with learning speeds)."""
    path = tmp_path / "h.csv"
    write_history([EpochRecord(e, 1.0 / e, 0.5 + e / 10, 0.5 + e / 11, 0.1, 3.0, {2: 0.1 / e, 3: 0.2 / e})
                   for e in (1, 2, 3)], path)
    return path


# ---- 11. plot -o: checked before the work, written atomically, never over its input --------------------
@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_11_a_fifo_output_is_refused_at_once_not_waited_on(tmp_path, history, fmt):
    fifo = tmp_path / f"curves.{fmt}"
    os.mkfifo(fifo)
    done = python("-m", "tinygrad_nn", "plot", str(history), "-o", str(fifo), cwd=tmp_path)  # the old code hung here
    assert done.returncode == EXIT_DATA and "FIFO" in one_line(done.stderr)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and not leftovers(tmp_path)


@pytest.mark.parametrize("link", ["symlink", "hardlink", "same-name"])
def test_11_an_output_that_is_an_input_history_is_refused(capsys, tmp_path, history, link):
    before = history.read_bytes()
    out = history if link == "same-name" else tmp_path / "curves.png"
    if link == "symlink":
        out.symlink_to(history)
    elif link == "hardlink":
        os.link(history, out)
    code, _out, err = cli(capsys, "plot", history, "-o", out)
    assert code in (EXIT_DATA, EXIT_USAGE) and str(history) in one_line(err)
    assert history.read_bytes() == before and not leftovers(tmp_path)


def test_11_a_full_disk_leaves_the_previous_picture_whole(capsys, tmp_path, history, monkeypatch):
    from matplotlib.figure import Figure

    out = tmp_path / "curves.png"
    assert main(["plot", str(history), "-o", str(out)]) == 0
    old = out.read_bytes()
    real = Figure.savefig

    def full(self, fname, **kwargs):  # writes half the picture wherever it is told to, then the disk is full
        import io
        buffer = io.BytesIO()
        real(self, buffer, **kwargs)
        if isinstance(fname, (str, os.PathLike)):
            with open(fname, "wb") as f:
                f.write(buffer.getvalue()[:1000])
        else:
            fname.write(buffer.getvalue()[:1000])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", full)
    code, _out, err = cli(capsys, "plot", history, "-o", out)
    assert code == EXIT_DATA and "No space left on device" in one_line(err) and str(out) in err
    assert out.read_bytes() == old and not leftovers(tmp_path)


def test_11_the_output_is_checked_before_any_drawing(tmp_path, history, monkeypatch):
    from tinygrad_nn import plot
    from tinygrad_nn.data import DataError

    monkeypatch.setattr(plot, "_matplotlib", lambda: pytest.fail("drew before checking the output"))
    (tmp_path / "picture.png").mkdir()
    with pytest.raises(DataError, match="a directory"):
        plot.plot_history(history, tmp_path / "picture.png")
    (tmp_path / "link.png").symlink_to(history)
    with pytest.raises(DataError, match="an input"):
        plot.plot_history([history], tmp_path / "link.png")


# ---- 12. history files: one line naming the file and the column, exit 1 ---------------------------------
@pytest.mark.parametrize(("name", "text", "column"), [
    ("nan.csv", FIELDS + "nan,0.5,,0.9,0.1,3\n", "epoch"),
    ("inf.csv", FIELDS + "inf,0.5,,0.9,0.1,3\n", "epoch"),
    ("half.csv", FIELDS + "1.5,0.5,,0.9,0.1,3\n", "epoch"),
    ("nan.json", '[{"epoch": NaN, "training_cost": 1, "test_accuracy": 0.5, "seconds": 1, "lr": 3}]', "epoch"),
    ("big.json", '[{"epoch": 1' + "0" * 400 + ', "training_cost": 1, "seconds": 1, "lr": 3}]', "epoch"),
    ("cost.json", '[{"epoch": 1, "training_cost": Infinity, "test_accuracy": 0.5, "seconds": 1, "lr": 3}]',
     "training_cost"),
    ("deep.json", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 12 else "")
def test_12_a_history_that_lies_is_one_line_naming_file_and_column(capsys, tmp_path, name, text, column):
    path = tmp_path / name
    path.write_text(text)
    code, _out, err = cli(capsys, "plot", path, "-o", tmp_path / "x.png")
    line = one_line(err)
    assert code == EXIT_DATA and str(path) in line and column in line
    assert not (tmp_path / "x.png").exists()


# ---- 13. user text is text: no mathtext, no hidden legend entries ---------------------------------------
def test_13_dollars_and_a_leading_underscore_are_drawn_as_written(tmp_path, history):
    import matplotlib

    from tinygrad_nn.plot import plot_history

    baseline, dollars = tmp_path / "_baseline.csv", tmp_path / "cost $5 $\\x.csv"
    baseline.write_bytes(history.read_bytes())
    dollars.write_bytes(history.read_bytes())
    title = r"price $\frac$ and $3"  # bad mathtext: the old code failed to draw it
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # text stays text in the svg
        fig = plot_history([baseline, dollars], tmp_path / "c.svg", title=title)
    svg = (tmp_path / "c.svg").read_text()
    shown = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert len(shown) == 2 and shown[0].strip("\u200b") == "_baseline"  # matplotlib hid "_baseline"
    for text in ("_baseline", "cost $5 $\\x", title):
        assert text.replace("&", "&amp;") in svg.replace("\u200b", ""), text


# ---- 14. saving: a full disk names the file; a read-only target is never replaced ----------------------
def test_14_a_full_disk_during_save_names_the_file(capsys, tmp_path, monkeypatch):
    def full(f, **arrays):
        f.write(b"x" * 4096)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full)
    code, _out, err = cli(capsys, *QUICK, "--save", tmp_path / "m.npz")
    line = one_line(err)
    assert code == EXIT_DATA and "No space left on device" in line and str(tmp_path / "m.npz") in line
    assert not (tmp_path / "m.npz").exists() and not leftovers(tmp_path)


@pytest.fixture
def as_a_user(monkeypatch):
    """Permission bits as an ordinary user meets them. Root may write any file, so under root os.access
    answers as the owner would without root's override: a file without its owner's write bit is read-only."""
    if os.geteuid() != 0:
        return
    real = os.access

    def access(path, mode, **kwargs):
        if mode & os.W_OK and os.path.isfile(path) and not os.stat(path).st_mode & stat.S_IWUSR:
            return False
        return real(path, mode, **kwargs)

    monkeypatch.setattr(os, "access", access)


@pytest.mark.parametrize(("option", "name"), [("--save", "m.npz"), ("--history", "h.csv")])
@pytest.mark.parametrize("through", ["file", "symlink"])
def test_14_a_read_only_target_is_refused_before_training_and_kept(capsys, tmp_path, monkeypatch, as_a_user,
                                                                   option, name, through):
    target = tmp_path / name
    target.write_bytes(b"precious")
    target.chmod(0o444)
    given = target if through == "file" else tmp_path / f"link-{name}"
    if through == "symlink":
        given.symlink_to(target)
    started = []
    monkeypatch.setattr("tinygrad_nn.train.mini_batches", lambda *a, **k: started.append(1) or [])
    code, _out, err = cli(capsys, *QUICK, option, given)
    assert code == EXIT_DATA and "read-only" in one_line(err) and str(given) in err
    assert not started and target.read_bytes() == b"precious" and stat.S_IMODE(target.stat().st_mode) == 0o444


def test_14_the_library_refuses_a_read_only_target_too(tmp_path, as_a_user):
    from tinygrad_nn.data import DataError
    from tinygrad_nn.files import atomic_write

    target = tmp_path / "x.bin"
    target.write_bytes(b"precious")
    target.chmod(0o400)
    with pytest.raises(DataError, match="read-only"):
        atomic_write(target, lambda f: f.write(b"new"))
    assert target.read_bytes() == b"precious" and [p.name for p in tmp_path.iterdir()] == ["x.bin"]


# ---- 15. graph takes train's data options ---------------------------------------------------------------
def _idx_header(dims: tuple[int, ...]) -> bytes:
    return bytes([0, 0, 8, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


def _small_idx(tmp_path: Path, n: int = 40) -> Path:
    """An IDX folder of n 4×4 images (far fewer than 10,001) with labels 0–9."""
    folder = tmp_path / "idx"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for prefix in ("train", "t10k"):
        (folder / f"{prefix}-images-idx3-ubyte").write_bytes(_idx_header((n, 4, 4)) +
                                                           rng.integers(0, 256, n * 16, dtype=np.uint8).tobytes())
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(_idx_header((n,)) + bytes(range(10)) * (n // 10))
    return folder


def test_15_graph_draws_a_small_idx_folder_with_validation_size(capsys, tmp_path):
    folder = _small_idx(tmp_path)
    out = tmp_path / "net.dot"
    code, _out, err = cli(capsys, "graph", "--network", "--sizes", "16,5,10", "--delta", "--example", "3",
                          "--data", folder, "--validation-size", "10", "-o", out)
    assert code == 0, err
    assert "test example 3 of" in out.read_text()
    code, _out, err = cli(capsys, "graph", "--network", "--sizes", "16,5,10", "--delta", "--data", folder,
                          "-o", out)  # without it: the default 10,000 validation images do not exist
    assert code != 0 and "10000" in one_line(err).replace(",", "")


def test_15_graph_reads_a_pickle_only_with_allow_pickle(capsys, tmp_path):
    rng = np.random.default_rng(1)
    split = (rng.random((20, 4)).astype(np.float32), np.arange(20) % 10)
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps((split, split, split))))
    out = tmp_path / "bp.dot"
    args = ["graph", "--backprop", "--sizes", "4,3,10", "--example", "2", "--data", path, "-o", out]
    code, _out, err = cli(capsys, *args)
    assert code == EXIT_DATA and "--allow-pickle" in one_line(err) and not out.exists()
    code, _out, err = cli(capsys, *args, "--allow-pickle")
    assert code == 0 and out.exists(), err


def test_15_the_data_options_are_the_same_in_every_command():
    from viz.cli import _parser

    def options(parser) -> dict[str, tuple]:
        return {a.dest: (tuple(a.option_strings), a.default, a.type, a.nargs)
                for a in parser._actions if a.dest in ("data", "allow_pickle", "validation_size")}

    commands = build_parser()._subparsers._group_actions[0].choices
    expected = options(commands["train"])
    assert len(expected) == 3 and options(commands["evaluate"]) == expected == options(_parser())


# ---- 16. the last tracebacks: a full stdout with no command, a graph too big for memory -----------------
def test_16_no_command_with_a_full_stdout_is_one_line(tmp_path):
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "tinygrad_nn"], cwd=tmp_path, env=ENV, stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=WAIT, check=False)
    assert done.returncode == EXIT_DATA and "No space left on device" in one_line(done.stderr)


@pytest.mark.parametrize("entry", ["viz", "tinygrad-nn"])
def test_16_a_graph_too_big_for_memory_is_one_line_from_either_entry(capsys, tmp_path, entry):
    from viz.cli import main as viz_main

    args = ["graph", "--sizes", "784,100000000,10", "-o", str(tmp_path / "g.svg")]
    capsys.readouterr()
    code = viz_main(args) if entry == "viz" else main(args)
    err = capsys.readouterr().err
    assert code == EXIT_DATA and "not enough memory" in one_line(err)
    assert not (tmp_path / "g.svg").exists()

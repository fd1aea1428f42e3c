"""`tinygrad-nn plot` and `plot_history`: real PNG / SVG / PDF files of cost, accuracy and learning speed."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tinygrad_nn.cli import main
from tinygrad_nn.data import load_digits
from tinygrad_nn.nn import MLP
from tinygrad_nn.plot import plot_history
from tinygrad_nn.train import train, write_history

MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF-", "svg": b"<?xml"}


@pytest.fixture(scope="module")
def histories(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two short real runs on the digits: a deep sigmoid network with two learning rates."""
    splits, folder = load_digits(), tmp_path_factory.mktemp("histories")
    paths = []
    for lr in (3.0, 1.0):
        path = folder / f"eta{lr:g}.csv"
        write_history(train(MLP([64, 30, 30, 10], seed=0), splits, epochs=3, lr=lr), path)
        paths.append(path)
    return paths


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_cli_plot_writes_a_real_file(histories: list[Path], tmp_path: Path, fmt: str,
                                     capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / f"curves.{fmt}"
    assert main(["plot", str(histories[0]), "-o", str(out)]) == 0
    assert out.read_bytes().startswith(MAGIC[fmt])
    assert out.stat().st_size > 10_000
    assert f"wrote {out}" in capsys.readouterr().out


def test_plot_has_three_panels_with_titles_axes_and_legends(histories: list[Path]) -> None:
    fig = plot_history(histories[0])
    cost, accuracy, speed = fig.axes
    assert [ax.get_title() for ax in fig.axes] == ["Training cost", "Accuracy", "Learning speed per layer"]
    assert all(ax.get_xlabel() == "epoch" and ax.get_ylabel() for ax in fig.axes)
    assert speed.get_yscale() == "log"
    assert [t.get_text() for t in accuracy.get_legend().get_texts()] == ["validation", "test"]
    assert [t.get_text() for t in speed.get_legend().get_texts()] == ["Hidden layer 1", "Hidden layer 2"]  # the book's
    assert list(cost.lines[0].get_xdata()) == [1, 2, 3]


def test_the_output_layer_is_drawn_when_asked(histories: list[Path], tmp_path: Path) -> None:
    speed = plot_history(histories[0], output_layer=True).axes[2]
    assert [t.get_text() for t in speed.get_legend().get_texts()] == [
        "Hidden layer 1", "Hidden layer 2", "Output layer"]
    assert main(["plot", str(histories[0]), "-o", str(tmp_path / "o.svg"), "--output-layer"]) == 0
    assert "Output layer" in (tmp_path / "o.svg").read_text()
    assert main(["plot", str(histories[0]), "-o", str(tmp_path / "h.svg")]) == 0
    assert "Hidden layer 2" in (tmp_path / "h.svg").read_text() and "Output layer" not in (tmp_path / "h.svg").read_text()


def test_several_histories_overlay(histories: list[Path], tmp_path: Path) -> None:
    fig = plot_history(histories, tmp_path / "both.png", title="η = 3 vs η = 1")
    cost, _, speed = fig.axes
    assert [t.get_text() for t in cost.get_legend().get_texts()] == ["eta3", "eta1"]
    assert len(speed.lines) == 4   # 2 hidden layers × 2 runs
    assert fig._suptitle.get_text() == "η = 3 vs η = 1"
    assert (tmp_path / "both.png").read_bytes().startswith(MAGIC["png"])


def test_history_records_can_be_plotted_directly() -> None:
    history = train(MLP([64, 10, 10], seed=0), load_digits(), epochs=2)
    fig = plot_history(history)
    assert len(fig.axes) == 3


@pytest.mark.parametrize(("args", "status", "message"), [
    (["plot", "h.csv", "-o", "x.gif"], 2, ".png, .svg or .pdf"),
    (["plot", "missing.csv", "-o", "x.png"], 1, "does not exist"),
    (["plot", "-o", "x.png"], 2, "HISTORY"),
])
def test_cli_plot_errors_are_one_line(args: list[str], status: int, message: str, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(args) == status
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_without_matplotlib_one_line_names_the_extra(histories: list[Path], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)   # import matplotlib now raises ImportError
    assert main(["plot", str(histories[0]), "-o", str(tmp_path / "c.png")]) == 1
    err = capsys.readouterr().err
    assert "pip install 'tinygrad_nn[plot]'" in err and err.count("\n") == 1
    assert not (tmp_path / "c.png").exists()


def test_jupyter_shows_the_figure_as_png(histories: list[Path]) -> None:
    fig = plot_history(histories[0])
    assert fig._repr_png_().startswith(MAGIC["png"])

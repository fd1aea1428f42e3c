"""Training curves: cost and accuracy per epoch (Nielsen ch. 3's figures) and each layer's learning speed
(ch. 5's figure, on a log scale), from one or several histories to compare runs.

matplotlib is an optional extra (``pip install 'tinygrad_nn[plot]'``); it is imported only when a plot is
made. The figure is a bare ``matplotlib.figure.Figure`` drawn by the Agg renderer, never pyplot: no window,
no global backend switched (a notebook's inline backend stays as it is), works on a server.
"""
from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .data import DataError
from .files import atomic_write, check_output_path, same_file
from .train import EpochRecord, read_history

__all__ = ["FORMATS", "MissingExtraError", "plot_history"]

FORMATS = ("png", "svg", "pdf")
_LINESTYLES = ("-", "--", ":", "-.")


class MissingExtraError(ImportError):
    """matplotlib, the optional extra `plot`, is not installed (the message says how to install it)."""


def _matplotlib() -> tuple[Any, type]:
    """matplotlib, and a Figure class that Jupyter shows as a PNG even when pyplot was never imported."""
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingExtraError("plotting needs matplotlib: pip install 'tinygrad_nn[plot]'") from None

    class CurvesFigure(Figure):
        def _repr_png_(self) -> bytes:
            buffer = io.BytesIO()
            self.savefig(buffer, format="png", dpi=90)
            return buffer.getvalue()

    return matplotlib, CurvesFigure


def plot_history(histories: Sequence[EpochRecord] | Sequence[str | os.PathLike | Sequence[EpochRecord]] |
                 str | os.PathLike, path: str | os.PathLike | None = None, *,
                 labels: Sequence[str] | None = None, title: str | None = None, output_layer: bool = False) -> Any:
    """Plot training histories and return the matplotlib Figure (shown inline in Jupyter); with `path`, also
    save it as png, svg or pdf (by the extension).

    `histories` is one history (a list of `EpochRecord`, or a .csv/.json file from ``train --history``) or a
    list of them, overlaid to compare runs. Panels: the training cost per epoch; validation (solid) and
    test (dashed) accuracy; and, when recorded, the learning speed ‖∂C/∂bˡ‖ of every layer l = 2 … L on a
    log scale — in a deep sigmoid network the early layers learn much more slowly (ch. 5). As in the book's
    figure the layers are "Hidden layer 1" … and the output layer is left out, unless `output_layer`.
    """
    fmt = None
    if path is not None:
        fmt = Path(path).suffix.lower().lstrip(".")
        if fmt not in FORMATS:
            raise ValueError(f"plot_history: unknown output format {Path(path).suffix or 'no extension'!r} for "
                             f"{os.fspath(path)!r}; use one of {', '.join('.' + f for f in FORMATS)}")
        _check_output(path, histories)
    runs = _runs(histories)
    if labels is None:
        labels = [name for name, _ in runs]
    elif len(labels) != len(runs):
        raise ValueError(f"plot_history: got {len(labels)} labels for {len(runs)} histories")
    labels = [_plain(label) for label in labels]
    mpl, figure = _matplotlib()
    with_speed = any(r.learning_speed for _, history in runs for r in history)
    fig = figure(figsize=(15 if with_speed else 10, 4.3), layout="constrained")
    axes = fig.subplots(1, 3 if with_speed else 2)
    cost_ax, acc_ax = axes[0], axes[1]
    colors = mpl.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, ((_, history), label) in enumerate(zip(runs, labels)):
        color = colors[k % len(colors)]
        epochs = [r.epoch for r in history]
        cost_ax.plot(epochs, [r.training_cost for r in history], "o-", ms=3, color=color, label=label)
        for attr, style, what in (("validation_accuracy", "-", "validation"), ("test_accuracy", "--", "test")):
            points = [(r.epoch, 100 * getattr(r, attr)) for r in history if getattr(r, attr) is not None]
            if points:
                acc_ax.plot(*zip(*points), style, color=color, label=f"{label}: {what}" if len(runs) > 1 else what)
    cost_ax.set(title="Training cost", xlabel="epoch", ylabel="mean cost over the mini-batches")
    acc_ax.set(title="Accuracy", xlabel="epoch", ylabel="accuracy (%)")
    if len(runs) > 1:
        cost_ax.legend(fontsize="small")
    acc_ax.legend(fontsize="small")
    if with_speed:
        _speed_panel(axes[2], runs, labels, colors, output_layer)
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        fig.suptitle(_plain(title))
    if path is not None:  # never a half-written picture: a full disk leaves the old one whole
        atomic_write(path, lambda f: fig.savefig(f, format=fmt, dpi=110), "the picture")
    return fig


def _plain(text: str) -> str:
    """User text shown as itself: `$` would start mathtext, and a legend hides a label that starts with `_`."""
    text = str(text).replace("$", r"\$")
    return "\u200b" + text if text.startswith("_") else text  # a zero-width space in front keeps it in the legend


def _check_output(path: str | os.PathLike, histories: Any) -> None:
    """Refuse, before any work, an output that cannot be written safely or that is one of the input histories."""
    check_output_path(path, "the picture")
    named = [histories] if isinstance(histories, (str, os.PathLike)) else list(histories)
    for history in named:
        if isinstance(history, (str, os.PathLike)) and same_file(path, history):
            raise DataError(f"cannot write the picture to {os.fspath(path)}: it is the history file "
                            f"{os.fspath(history)}, an input; refusing to overwrite it")


def _speed_panel(ax: Any, runs: list[tuple[str, list[EpochRecord]]], labels: Sequence[str],
                 colors: Sequence[str], output_layer: bool = False) -> None:
    """Ch. 5's figure: one line per layer (a colour each), one line style per run, on a log scale; the layers
    named as the book names them (its layer l is "Hidden layer l − 1"), the output layer only when asked."""
    for k, ((_, history), label) in enumerate(zip(runs, labels)):
        layers = sorted({l for r in history for l in r.learning_speed})
        shown = layers if output_layer or len(layers) == 1 else layers[:-1]
        for l in shown:
            points = [(r.epoch, r.learning_speed[l]) for r in history if l in r.learning_speed]
            name = "Output layer" if l == layers[-1] else f"Hidden layer {l - 1}"
            ax.plot(*zip(*points), _LINESTYLES[k % len(_LINESTYLES)], marker="o", ms=3,
                    color=colors[(l - 2) % len(colors)], label=f"{label}: {name}" if len(runs) > 1 else name)
    ax.set_yscale("log")
    ax.set(title="Learning speed per layer", xlabel="epoch", ylabel="speed of learning ‖∂C/∂bˡ‖")
    if len(runs) > 1:  # many lines: the legend goes beside the panel, not over the curves
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        ax.legend(fontsize="small")


def _runs(histories: Any) -> list[tuple[str, list[EpochRecord]]]:
    """Normalise the argument to a list of (label, records)."""
    if isinstance(histories, (str, os.PathLike)):
        histories = [histories]
    histories = list(histories)
    if histories and isinstance(histories[0], EpochRecord):
        histories = [histories]
    if not histories:
        raise ValueError("plot_history: no history to plot")
    runs = []
    for k, h in enumerate(histories):
        if isinstance(h, (str, os.PathLike)):
            runs.append((Path(h).stem, read_history(h)))
            continue
        records = list(h)
        if not records or not all(isinstance(r, EpochRecord) for r in records):
            raise DataError(f"plot_history: history {k + 1} is not a non-empty list of EpochRecord or a file name")
        runs.append((f"run {k + 1}", records))
    return runs

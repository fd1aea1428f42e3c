"""Write a graph to a file whose extension names the format; explain how to install Graphviz if `dot` is missing."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import graphviz

from tinygrad_nn.files import atomic_write

__all__ = ["FORMATS", "GraphvizNotFoundError", "render"]

FORMATS = ("svg", "png", "pdf", "dot")  # 'dot' writes the DOT source only and needs no Graphviz binary

INSTALL_HINT = ("Graphviz's `dot` program was not found on PATH; it is needed to render pictures. "
                "Install Graphviz (Debian/Ubuntu: `apt-get install graphviz`, macOS: `brew install graphviz`, "
                "others: https://graphviz.org/download/), or write a .dot file, which needs no Graphviz.")


class GraphvizNotFoundError(RuntimeError):
    """Rendering needs Graphviz's `dot` executable, which is not installed (the message says how to install it)."""


def output_format(path: str | os.PathLike) -> str:
    """The format named by a file's extension ('svg', 'png', 'pdf' or 'dot'); ValueError for any other."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix == "gv":
        suffix = "dot"
    if suffix not in FORMATS:
        shown = f"'.{suffix}'" if suffix else "no extension"
        raise ValueError(f"unknown output format {shown} for {os.fspath(path)!r}; "
                         f"use one of {', '.join('.' + f for f in FORMATS)}")
    return suffix


def render(graph: graphviz.Graph | graphviz.Digraph, path: str | os.PathLike) -> Path:
    """Render `graph` into `path`, in the format its extension names (svg, png, pdf; dot = the source only).

    Returns the path written. Raises ValueError for an unknown extension and `GraphvizNotFoundError`
    (a RuntimeError) with installation instructions when the `dot` executable is missing.
    """
    fmt = output_format(path)
    data = graph.source.encode("utf-8") if fmt == "dot" else _pipe(graph, fmt)
    atomic_write(path, lambda f: f.write(data), "the picture")  # never a half-written picture or a stray temp file
    return Path(path)


def _pipe(graph: graphviz.Graph | graphviz.Digraph, fmt: str) -> bytes:
    """Graphviz's output for `graph` in `fmt`; `dot` is killed if this process is interrupted or dies."""
    engine = shutil.which(graph.engine)
    if engine is None:
        raise GraphvizNotFoundError(INSTALL_HINT)
    process = subprocess.Popen([engine, f"-T{fmt}"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, preexec_fn=_die_with_parent)  # noqa: PLW1509
    try:
        data, errors = process.communicate(graph.source.encode(graph.encoding or "utf-8"))
    except BaseException:  # Ctrl-C, SIGTERM: dot must not outlive us
        process.kill()
        process.wait()
        raise
    if process.returncode:
        detail = errors.decode(errors="replace").strip().splitlines()
        raise RuntimeError(f"Graphviz's {graph.engine} failed with status {process.returncode}"
                           + (f": {detail[-1]}" if detail else ""))
    return data


def _die_with_parent() -> None:
    """In the child: ask Linux to kill it when its parent dies, even by SIGKILL (no-op elsewhere)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass

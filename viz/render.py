"""Write a graph to a file whose extension names the format; explain how to install Graphviz if `dot` is missing."""
from __future__ import annotations

import os
from pathlib import Path

import graphviz

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
    path = Path(path)
    fmt = output_format(path)
    if fmt == "dot":
        path.write_text(graph.source, encoding="utf-8")
        return path
    try:
        data = graph.pipe(format=fmt)
    except graphviz.ExecutableNotFound as exc:
        raise GraphvizNotFoundError(INSTALL_HINT) from exc
    path.write_bytes(data)
    return path

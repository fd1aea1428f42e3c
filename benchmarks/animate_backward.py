"""Seconds and size of `viz.animate_backward`'s page for big scalar graphs (the issue: 10 000 nodes → < 10 s, < 20 MB).

    python benchmarks/animate_backward.py

The graphs are ScalarMLP costs of one example (one Value per weight; built and differentiated before the
clock starts). Timed, once per graph (wall clock, it includes running Graphviz's `dot`): tracing, planning
the collapse, running every backward rule step by step, laying out the collapsed graph and writing the page.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import _timing

from viz import animate_backward
from viz.cli import _scalar_cost
from viz.graph import _trace


def main() -> None:
    _timing.print_environment()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for sizes in ([64, 45, 10], [64, 70, 10]):
            c = _scalar_cost(sizes, 0, "quadratic")
            nodes = len(_trace(c).nodes)
            path = Path(folder) / "page.html"
            start = time.perf_counter()
            animate_backward(c, path)
            seconds = time.perf_counter() - start
            mb = os.path.getsize(path) / 1e6
            rows.append([str(sizes), f"{nodes:,}", f"{seconds:.2f}", f"{mb:.2f}",
                         "ok" if seconds < 10 and mb < 20 else "MISSED"])
    _timing.print_table(["ScalarMLP", "graph nodes", "seconds", "MB", "< 10 s and < 20 MB"], rows,
                        title="animate_backward on big scalar graphs")


if __name__ == "__main__":
    main()

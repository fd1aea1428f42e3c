"""The picture of a traced program (`tinygrad_nn.trace`): one box per line, forward then backward.

A line's box shows its code and the rule it applies (BP1–BP4, eq. 20–21, a local derivative); an edge runs
from the line that defines a name to each line that reads it, so the backward half mirrors the forward half.
"""
from __future__ import annotations

import html
import re

import graphviz

from tinygrad_nn.trace import Program

from . import _style as S

__all__ = ["draw_program"]

_FILLS = {"forward": S.PARAM_FILL, "backward": S.SUMMARY_FILL, "update": S.GROUP_FILL}
_NAME = re.compile(r"[A-Za-z_]\w*")
_HELPERS = {"np", "math", "acc", "sigmoid", "divide", "normalize", "targets", "float", "eta", "None"}


def draw_program(program: Program, *, rankdir: str = "TB") -> graphviz.Digraph:
    """The traced program as a `graphviz.Digraph`: a box per line (forward blue, backward yellow, update
    green), inputs and parameters as grey ellipses, an edge per name a line reads."""
    if not isinstance(program, Program):
        raise TypeError(f"draw_program: expected a tinygrad_nn.trace Program, got {type(program).__name__}")
    dot = graphviz.Digraph("traced_program", graph_attr={**S.GRAPH_ATTR, "rankdir": rankdir, "nodesep": "0.2",
                                                         "ranksep": "0.25"},
                           node_attr=S.NODE_ATTR, edge_attr=S.EDGE_ATTR)
    defined: dict[str, str] = {}   # name → the node of the line that last wrote it
    leaves: set[str] = set()
    inputs = {n for n, _, _ in program.parameters} | set(program.argument_names)
    for i, (phase, code, tag) in enumerate(program.lines):
        if code.endswith("= None"):     # the gradients' start: no box
            continue
        node = f"line{i}"
        label = (f'<<TABLE BORDER="0" CELLSPACING="0" CELLPADDING="1"><TR><TD ALIGN="LEFT"><FONT FACE="Courier">'
                 f'{html.escape(code)}</FONT></TD></TR><TR><TD ALIGN="LEFT"><FONT COLOR="{S.MUTED}" POINT-SIZE="9">'
                 f'{html.escape(tag)}</FONT></TD></TR></TABLE>>')
        dot.node(node, label, shape="box", style="rounded,filled", fillcolor=_FILLS.get(phase, S.VALUE_FILL))
        target, _, expr = code.partition(" = ") if " -= " not in code else code.partition(" -= ")
        reads = [n for n in _NAME.findall(re.sub(r"'[^']*'", "", expr)) if n not in _HELPERS]
        if " -= " in code:
            reads.append(target)
        for name in dict.fromkeys(reads):
            if name in defined:
                dot.edge(defined[name], node)
            elif name in inputs:
                if name not in leaves:
                    leaves.add(name)
                    dot.node(f"in_{name}", name, shape="ellipse", style="filled", fillcolor=S.INPUT_FILL)
                dot.edge(f"in_{name}", node)
        for name in (t.strip() for t in target.split(",")):
            defined[name] = node
    dot.node("legend", S.legend_label("traced program", [(S.PARAM_FILL, "", "forward"),
                                                          (S.SUMMARY_FILL, "", "backward"),
                                                          (S.GROUP_FILL, "", "update (eq. 20–21)"),
                                                          (S.INPUT_FILL, "", "input or parameter")]),
             shape="plaintext", margin="0")
    return dot

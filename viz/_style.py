"""Shared look of the pictures: palette, fonts, number formatting and the legend note node."""
from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from typing import Any

import graphviz
import numpy as np

FONT = "Helvetica,Arial,sans-serif"  # SVG viewers fall back along the list; Graphviz's fontconfig does too

# fill colours, one per kind of node
PARAM_FILL = "#d6e6ff"     # a parameter: a leaf that requires a gradient
INPUT_FILL = "#e9ecef"     # an input or constant: a leaf that does not
VALUE_FILL = "#ffffff"     # an intermediate value
OUTPUT_FILL = "#ffd97a"    # the output (the root that was drawn)
OP_FILL = "#f3efff"        # an op node
GROUP_FILL = "#e3f4e1"     # a collapsed group (a neuron, a layer)
SUMMARY_FILL = "#fff6d6"   # a collapsed chain, subtree or depth band
LINE = "#495057"           # outlines and edges
MUTED = "#868e96"          # secondary text
ORDER_LABEL = "#862e9c"    # the a / b on the input edges of an op whose operands' order matters (a − b)

POSITIVE = "#2f6fdf"       # a positive weight
NEGATIVE = "#e03131"       # a negative weight
SATURATED = "#fd7e14"      # the border of a saturated neuron

GRAPH_ATTR = {"fontname": FONT, "fontsize": "11", "bgcolor": "white", "pad": "0.2"}
NODE_ATTR = {"fontname": FONT, "fontsize": "10", "color": LINE, "penwidth": "0.8"}
EDGE_ATTR = {"fontname": FONT, "fontsize": "9", "color": LINE, "arrowsize": "0.6", "penwidth": "0.8"}
# a cluster (the neurons of a layer, the layers of a model): a light rounded frame with a small grey label
CLUSTER_ATTR = {"style": "rounded,filled", "color": "#ced4da", "fillcolor": "#fcfcfd", "penwidth": "0.8",
                "fontname": FONT, "fontsize": "9", "fontcolor": MUTED, "labeljust": "l", "labelloc": "t",
                "margin": "8"}


_CONTROL = {c: 0x2400 + c for c in range(0x20)} | {0x7F: 0x2421}   # \n → ␊, NUL → ␀, DEL → ␡ …


def visible(text: str) -> str:
    """User text with its control characters drawn as their Unicode pictures (␊ for a newline): a DOT
    string keeps no newline, tab or NUL apart from escapes, and a label should show what the name holds."""
    return str(text).translate(_CONTROL)


def dot_text(text: str) -> str:
    """User text for a plain DOT label, tooltip or xlabel: shown as written — backslashes (escString's
    \\N, \\l …) and a '<…>' (an HTML-like label to the graphviz package) lose their special meaning."""
    return graphviz.escape(visible(text))


def dot_tooltip(text: str) -> str:
    """A tooltip showing user text as written, or none: Graphviz expands a tooltip's backslash escapes
    (\\N, \\G …) a version-dependent number of times (twice in 2.43), so text holding a backslash gets no
    tooltip rather than a wrong one; the label shows it."""
    return "" if "\\" in text else dot_text(text)


def fmt_number(x: float) -> str:
    """A number in at most ~10 characters: 4 decimals in [0.001, 10⁴), scientific notation outside."""
    x = float(x)
    if x == 0.0 or (math.isfinite(x) and 1e-3 <= abs(x) < 1e4):
        return f"{x:.4f}"
    return f"{x:.3e}" if math.isfinite(x) else str(x)


def fmt_shape(shape: Sequence[int]) -> str:
    """`5×3` for a matrix, `(3)` for a vector."""
    return "×".join(map(str, shape)) if len(shape) != 1 else f"({shape[0]})"


def fmt_array(data: Any) -> str:
    """A scalar's value, or a tensor's shape with its mean: `0.8731`, `5×3 · mean 0.4100`."""
    if type(data) is float or np.ndim(data) == 0:
        return fmt_number(float(data))
    data = np.asarray(data)
    if data.size == 0:
        return f"{fmt_shape(data.shape)} · empty"
    return f"{fmt_shape(data.shape)} · mean {fmt_number(float(np.mean(data)))}"


def legend_label(title: str, rows: Sequence[tuple[str, str, str]]) -> str:
    """An HTML-like label: a small table of (fill colour, border style, text) rows under a title.

    A fill of 'line:COLOUR' draws an arrow in that colour instead of a swatch, 'dots:COLOUR' a dotted line,
    an empty fill no swatch;
    the border style is '' (a thin outline) or 'bold' (a thick `SATURATED` border).
    """
    cells = []
    for fill, border, text in rows:
        if border == "bold":
            swatch = f'<TD BGCOLOR="{fill}" BORDER="3" COLOR="{SATURATED}" WIDTH="18" HEIGHT="12"></TD>'
        elif fill.startswith("line:"):
            swatch = (f'<TD BORDER="0" WIDTH="18"><FONT COLOR="{fill[5:]}" POINT-SIZE="14"><B>⟶</B></FONT></TD>')
        elif fill.startswith("dots:"):
            swatch = f'<TD BORDER="0" WIDTH="18"><FONT COLOR="{fill[5:]}" POINT-SIZE="10"><B>·····</B></FONT></TD>'
        elif not fill:
            swatch = '<TD BORDER="0"></TD>'
        else:
            swatch = f'<TD BGCOLOR="{fill}" BORDER="1" COLOR="{LINE}" WIDTH="18" HEIGHT="12"></TD>'
        cells.append(f'<TR>{swatch}<TD ALIGN="LEFT" BORDER="0">{html.escape(text)}</TD></TR>')
    return (f'<<TABLE BORDER="1" COLOR="#ced4da" CELLBORDER="0" CELLSPACING="3" CELLPADDING="2" BGCOLOR="#fcfcfd">'
            f'<TR><TD COLSPAN="2" ALIGN="LEFT" BORDER="0"><B>{html.escape(title)}</B></TD></TR>'
            f'{"".join(cells)}</TABLE>>')


# ---- the book's notation ----------------------------------------------------------------------------
_SUP = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def sup(n: int | str) -> str:
    """A superscript number: 3 → '³' (the book's layer index)."""
    return str(n).translate(_SUP)


def sub(*indices: int) -> str:
    """Subscript indices: (2, 4) → '₂₄', with a comma when one has two digits: (12, 3) → '₁₂,₃'."""
    sep = "," if any(i >= 10 for i in indices) else ""
    return sep.join(str(i).translate(_SUB) for i in indices)


_PARAM = re.compile(r"^layers\.(\d+)\.(weight|bias)$")
_SCALAR_PARAM = re.compile(r"^layers\.(\d+)\.neurons\.(\d+)\.(weights\.(\d+)|bias)$")
_QUANTITY = re.compile(r"^([zaxy])(\d+)?(?:_(\d+))?$")


def book_name(name: str | None) -> str | None:
    """A Value's name in the book's notation (layers numbered from 1 = the inputs, neurons from 1), or None.

    'layers.0.weight' → 'w²', 'layers.1.bias' → 'b³', 'layers.0.neurons.2.weights.1' → 'w²₃₂' (wˡⱼₖ: from
    neuron k of layer l−1 to neuron j of layer l), 'layers.0.neurons.2.bias' → 'b²₃', 'z2' → 'z²',
    'a3_1' → 'a³₁', 'x2' → 'x₂', 'y1' → 'y₁'. Names of any other form come back unchanged.
    """
    if not name:
        return None
    if m := _PARAM.match(name):
        return ("w" if m[2] == "weight" else "b") + sup(int(m[1]) + 2)
    if m := _SCALAR_PARAM.match(name):
        l, j = int(m[1]) + 2, int(m[2]) + 1
        return f"w{sup(l)}{sub(j, int(m[4]) + 1)}" if m[4] is not None else f"b{sup(l)}{sub(j)}"
    if m := _QUANTITY.match(name):
        letter, first, second = m[1], m[2], m[3]
        if letter in "xy" and first is not None and second is None:
            return letter + sub(int(first))
        if letter in "za" and first is not None:
            return letter + sup(first) + (sub(int(second)) if second is not None else "")
    return name


# ---- a small input image ----------------------------------------------------------------------------
def check_image(image: Any, who: str) -> np.ndarray | None:
    """A 2-D array of grey levels, scaled to [0, 1]; a clear error for anything else."""
    if image is None:
        return None
    pixels = np.asarray(image, dtype=float)
    if pixels.ndim != 2 or not 1 <= pixels.shape[0] <= 64 or not 1 <= pixels.shape[1] <= 64:
        raise ValueError(f"{who}: image must be a 2-D array of at most 64×64 grey levels, got shape "
                         f"{np.shape(image)}")
    if not np.all(np.isfinite(pixels)):
        raise ValueError(f"{who}: image contains NaN or inf")
    lo, hi = float(pixels.min()), float(pixels.max())
    return (pixels - lo) / (hi - lo) if hi > lo else np.zeros_like(pixels)


def image_label(pixels: np.ndarray) -> str:
    """The image as an HTML-like table of grey cells (ink dark on white), about 1 inch across."""
    side = max(2, round(84 / max(pixels.shape)))
    rows = []
    for row in pixels:
        cells = "".join(f'<TD BGCOLOR="#{g:02x}{g:02x}{g:02x}" WIDTH="{side}" HEIGHT="{side}" FIXEDSIZE="TRUE"></TD>'
                        for g in (round(255 * (1 - v)) for v in row))
        rows.append(f"<TR>{cells}</TR>")
    return (f'<<TABLE BORDER="1" COLOR="{LINE}" CELLBORDER="0" CELLSPACING="0" CELLPADDING="0">'
            f'{"".join(rows)}</TABLE>>')

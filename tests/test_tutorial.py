"""The tutorial notebook (docs/tutorial.ipynb) runs top to bottom, trains to ≥ 95%, and is what
examples/make_tutorial.py builds (so the committed file is neither edited by hand nor stale)."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import nbformat  # the dev extra: nbformat, nbclient, ipykernel
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "docs" / "tutorial.ipynb"


def _make_tutorial():
    spec = importlib.util.spec_from_file_location("make_tutorial", REPO / "examples" / "make_tutorial.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream")


def test_the_committed_notebook_is_the_script_s() -> None:
    committed = nbformat.read(NOTEBOOK, as_version=4)
    built = _make_tutorial().build()
    assert [(c.cell_type, c.source) for c in committed.cells] == [(c.cell_type, c.source) for c in built.cells], \
        "docs/tutorial.ipynb differs from examples/make_tutorial.py: run python examples/make_tutorial.py"


def test_the_committed_notebook_carries_its_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))  # run once, in order
    assert all(c.outputs for c in code)
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    assert sum("image/svg+xml" in o.get("data", {}) for c in code for o in c.outputs) >= 3


@pytest.fixture(scope="module")
def executed():
    module = _make_tutorial()
    return module.execute(nbformat.read(NOTEBOOK, as_version=4))  # raises CellExecutionError on any error


def test_it_runs_top_to_bottom_and_reaches_95_percent(executed) -> None:
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    text = "\n".join(_text(c) for c in code)
    accuracy = re.findall(r"^test accuracy: (\d+\.\d)%", text, re.MULTILINE)
    assert len(accuracy) == 1, text
    assert float(accuracy[0]) >= 95.0


def test_its_hand_computed_bp1_bp4_match_the_engine(executed) -> None:
    text = "\n".join(_text(c) for c in executed.cells if c.cell_type == "code")
    differences = [float(d) for d in re.findall(r"largest \|difference\| (\S+)", text)]
    assert len(differences) == 6  # δ, ∂C/∂b, ∂C/∂w of both layers
    assert max(differences) < 1e-12
    assert "agreement: all within tolerance" in text


def test_its_pictures_are_rendered(executed) -> None:
    svgs = [o.data["image/svg+xml"] for c in executed.cells if c.cell_type == "code"
            for o in c.outputs if "image/svg+xml" in o.get("data", {})]
    assert len(svgs) >= 3
    assert all("<svg" in s for s in svgs)


def _rich(executed) -> str:
    """Every text/plain and text/html of the code cells' results (what `check` and pictures display)."""
    return "\n".join(o.get("data", {}).get(kind, "") for c in executed.cells if c.cell_type == "code"
                     for o in c.outputs for kind in ("text/plain", "text/html"))


def test_it_derives_bp1_to_bp4_by_the_chain_rule_checked_by_the_engine(executed) -> None:
    text = "\n".join(_text(c) for c in executed.cells if c.cell_type == "code")
    found = re.search(r"^(\d+) derivatives by the chain rule, each the engine's gradient: largest gap (\S+)$", text,
                      re.MULTILINE)
    assert found, text
    assert int(found.group(1)) == 2 + 2 + 3 + (3 + 2) + (3 * 2 + 2 * 3)  # ∂C/∂a³, δ³, δ², ∂C/∂b, ∂C/∂w of [2, 3, 2]
    assert float(found.group(2)) < 1e-12
    assert "✗" not in text
    markdown = "\n".join(c.source for c in executed.cells if c.cell_type == "markdown")
    for step in ("Two assumptions about the cost", "Hadamard product", "Proof of BP1 and BP2",
                 "The backpropagation algorithm", "fully matrix-based approach"):
        assert step in markdown, step
    assert re.search(r"the two forms differ by at most (\S+)", text) and \
        float(re.search(r"the two forms differ by at most (\S+)", text).group(1)) < 1e-15


def test_the_weight_picture_highlights_w3_24(executed) -> None:
    svgs = [o.data["image/svg+xml"] for c in executed.cells if c.cell_type == "code"
            for o in c.outputs if "image/svg+xml" in o.get("data", {})]
    assert any("w³₂₄ = " in s and "from neuron k of layer l − 1" in s for s in svgs)


def test_the_sum_over_paths_is_the_engine_s_gradient(executed) -> None:
    text = "\n".join(_text(c) for c in executed.cells if c.cell_type == "code")
    paths = re.findall(r"^w²₁₂ → a²₁ → a³. → a⁴. → C: .* = (\S+)$", text, re.MULTILINE)
    assert len(paths) == 6
    total = float(re.search(r"sum over the 6 paths: +(\S+)", text).group(1))
    engine = float(re.search(r"the engine's ∂C/∂w²₁₂: +(\S+)", text).group(1))
    terms = [float(p) for p in paths]
    assert abs(sum(terms) - total) <= 6 * 0.5e-4 * max(map(abs, terms))  # the printed terms (5 digits) add up
    assert abs(total - engine) <= 1e-15 * abs(engine) + 1e-18


def test_it_ends_with_exercises_one_wrong_one_right(executed) -> None:
    rich = _rich(executed)
    wrong, right = rich.find("✗ wrong — bp2: δ"), rich.find("✓ right — bp2: right on all 5")
    assert 0 <= wrong < right, rich[-3000:]
    assert "sum_over_paths" in rich and "backprop_matrix" in rich  # the catalog is shown


def test_the_notebook_needs_no_threadpoolctl() -> None:
    assert "threadpoolctl" not in "".join(c.source for c in _make_tutorial().build().cells)

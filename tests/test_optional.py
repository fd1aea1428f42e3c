"""Without an optional part — the graphviz package, Graphviz's `dot`, tqdm, threadpoolctl, matplotlib — the
feature that needs it says in one line what to install, and nothing else breaks.

Each test runs a fresh Python in which an import hook makes the named packages impossible to import (as
after a plain `pip install .`), and with PATH pointing nowhere where `dot` must be missing. The real thing
(a wheel in a fresh venv) is `examples/check_install.sh`.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
OPTIONAL = ("graphviz", "tqdm", "threadpoolctl", "matplotlib")

DRIVER = """
import importlib.abc, sys
BLOCKED = set(filter(None, sys.argv[1].split(",")))
class Missing(importlib.abc.MetaPathFinder):  # as if these packages were not installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Missing())
exec(sys.argv[2])
"""


def run(blocked: tuple[str, ...], code: str, cwd: Path, *, no_dot: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    if no_dot:
        empty = cwd / "empty-path"
        empty.mkdir(exist_ok=True)
        env["PATH"] = str(empty)  # no program at all, so no `dot`
    return subprocess.run([sys.executable, "-c", DRIVER, ",".join(blocked), code], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def cli(*argv: str) -> str:
    return f"import sys; from tinygrad_nn.cli import main; sys.exit(main({list(argv)!r}))"


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def accuracy(out: str) -> str:
    found = re.findall(r"^test accuracy: (\d+\.\d%)", out, re.MULTILINE)
    assert len(found) == 1, out
    return found[0]


def test_the_core_needs_none_of_them(tmp_path: Path) -> None:
    code = ("import sys, tinygrad_nn, tinygrad_nn.cli, tinygrad_nn.train, tinygrad_nn.compare\n"
            f"loaded = sorted(m for m in {OPTIONAL!r} if m in sys.modules)\n"
            "assert not loaded, loaded\n"
            "print(tinygrad_nn.__version__)")
    done = run(OPTIONAL, code, tmp_path, no_dot=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def test_train_evaluate_check_work_without_any_and_train_names_its_extra(tmp_path: Path) -> None:
    trained = run(OPTIONAL, cli("train", "--epochs", "2", "--save", "m.npz"), tmp_path, no_dot=True)
    assert trained.returncode == 0, trained.stderr
    note = one_line(trained.stderr)
    assert "pip install 'tinygrad_nn[train]'" in note and "tqdm" in note and "threadpoolctl" in note
    with_all = run((), cli("train", "--epochs", "2", "--quiet"), tmp_path)
    assert accuracy(trained.stdout) == accuracy(with_all.stdout)  # the same training, only slower to watch

    quiet = run(OPTIONAL, cli("train", "--epochs", "1", "--quiet"), tmp_path, no_dot=True)
    assert quiet.returncode == 0 and quiet.stderr == ""  # --quiet prints only the final line

    evaluated = run(OPTIONAL, cli("evaluate", "--model", "m.npz"), tmp_path, no_dot=True)
    assert evaluated.returncode == 0, evaluated.stderr
    assert "test accuracy" in evaluated.stdout
    checked = run(OPTIONAL, cli("check", "--sizes", "8,5,3"), tmp_path, no_dot=True)
    assert checked.returncode == 0, checked.stderr
    assert "agreement: all within tolerance" in checked.stdout


@pytest.mark.parametrize("missing", ["tqdm", "threadpoolctl"])
def test_train_names_the_one_missing(tmp_path: Path, missing: str) -> None:
    done = run((missing,), cli("train", "--epochs", "1"), tmp_path)
    assert done.returncode == 0, done.stderr
    note = one_line(done.stderr)
    assert missing in note and "tinygrad_nn[train]" in note
    assert ({"tqdm", "threadpoolctl"} - {missing}).pop() not in note


def test_graph_without_the_graphviz_package(tmp_path: Path) -> None:
    done = run(("graphviz",), cli("graph", "--sizes", "2,3,1", "-o", "g.svg"), tmp_path)
    assert done.returncode == 1
    assert "pip install 'tinygrad_nn[viz]'" in one_line(done.stderr)
    assert not (tmp_path / "g.svg").exists()


def test_import_viz_without_the_graphviz_package(tmp_path: Path) -> None:
    done = run(("graphviz",), "import viz", tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "ImportError: viz needs the graphviz Python package: pip install 'tinygrad_nn[viz]' "
        "(and Graphviz's dot program to render: apt-get install graphviz)")


def test_python_m_viz_without_the_graphviz_package(tmp_path: Path) -> None:
    """`python -m viz graph ...` imports the package before its __main__: still one line, exit status 1."""
    code = ("import runpy; sys.argv = ['-m', 'graph', '--sizes', '2,3,1', '-o', 'g.svg']; "
            "runpy.run_module('viz', run_name='__main__', alter_sys=True)")  # what `python -m viz` does
    done = run(("graphviz",), code, tmp_path)
    assert done.returncode == 1
    assert "pip install 'tinygrad_nn[viz]'" in one_line(done.stderr)
    assert not (tmp_path / "g.svg").exists()


def test_graph_without_dot(tmp_path: Path) -> None:
    done = run((), cli("graph", "--sizes", "2,3,1", "-o", "g.svg"), tmp_path, no_dot=True)
    assert done.returncode == 1
    line = one_line(done.stderr)
    assert "`dot`" in line and "apt-get install graphviz" in line
    assert not (tmp_path / "g.svg").exists()
    source = run((), cli("graph", "--sizes", "2,3,1", "-o", "g.dot"), tmp_path, no_dot=True)
    assert source.returncode == 0, source.stderr  # the DOT source needs no Graphviz program
    assert (tmp_path / "g.dot").read_text().startswith("digraph")


@pytest.mark.parametrize("missing", ["starlette", "uvicorn"])
def test_explore_without_its_extra(tmp_path: Path, missing: str) -> None:
    """`tinygrad-nn explore` and `python -m viz explore` name the [explore] extra in one line; the rest works."""
    done = run((missing,), cli("explore", "--no-browser"), tmp_path)
    assert done.returncode == 1 and done.stdout == ""
    note = one_line(done.stderr)
    assert "pip install 'tinygrad_nn[explore]'" in note and missing in note
    code = ("import runpy; sys.argv = ['-m', 'explore', '--no-browser']; "
            "runpy.run_module('viz', run_name='__main__', alter_sys=True)")
    done = run((missing,), code, tmp_path)
    assert done.returncode == 1 and "pip install 'tinygrad_nn[explore]'" in one_line(done.stderr)
    done = run((missing,), "import viz; viz.explore()", tmp_path)
    assert done.returncode == 1 and done.stderr.strip().splitlines()[-1].endswith("pip install 'tinygrad_nn[explore]'")
    assert run((missing,), "import viz, tinygrad_nn.cli", tmp_path).returncode == 0

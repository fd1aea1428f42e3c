"""Every Python block of the README runs as written, in order, in one namespace (in a temporary directory,
so the files they write land there), and the numbers the README says they print are the ones they print."""
from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```python\n(.*?)^```", README, re.MULTILINE | re.DOTALL)


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str, Path]:
    """Run the blocks in order; return their namespace, everything they printed and their directory."""
    where = tmp_path_factory.mktemp("readme")
    namespace: dict = {"__name__": "__readme__"}
    grads: dict[int, list] = {}
    printed = io.StringIO()
    home = os.getcwd()
    os.chdir(where)  # (contextlib.chdir needs Python 3.11)
    try:
        with contextlib.redirect_stdout(printed):
            for number, block in enumerate(BLOCKS, 1):
                try:
                    exec(compile(block, f"README.md python block {number}", "exec"), namespace)  # noqa: S102 (our README)
                except Exception as exc:
                    raise AssertionError(f"README python block {number} fails: {type(exc).__name__}: {exc}\n"
                                         f"{block}") from exc
                if "net" in namespace and hasattr(namespace["net"], "parameters"):  # what each block left in net
                    grads[number] = [None if p.grad is None else p.grad.copy() for p in namespace["net"].parameters()]
    finally:
        os.chdir(home)
    namespace["__grads_after_block__"] = grads
    return namespace, printed.getvalue(), where


def test_the_readme_has_its_python_blocks() -> None:
    assert len(BLOCKS) >= 3
    assert any("mini_batches" in b for b in BLOCKS) and any("viz.render" in b for b in BLOCKS)


def test_the_training_example_reaches_what_the_readme_says(ran) -> None:
    _, printed, _ = ran
    accuracies = re.findall(r"^test accuracy: (\d+\.\d)%$", printed, re.MULTILINE)
    assert len(accuracies) == 1, printed
    assert float(accuracies[0]) >= 95.0
    claimed = re.search(r"It prints `test accuracy: (\d+\.\d)%`", README)
    assert claimed and claimed.group(1) == accuracies[0], "the README's claimed accuracy is not what the block prints"


def test_it_is_the_cli_s_run_and_train_train_s(ran) -> None:
    """The README says the loop is `python -m tinygrad_nn train`'s run and gives train.train's first epoch."""
    from tinygrad_nn import data, nn, train

    namespace, printed, _ = ran
    history = train.train(nn.MLP([64, 30, 10], seed=0), data.load_digits(), epochs=30)
    assert f"test accuracy: {history[-1].test_accuracy:.1%}" in printed
    assert history[-1].test_accuracy == namespace["net"].accuracy(namespace["splits"].test.x,
                                                                   namespace["splits"].test.y)
    first = re.search(r"after one epoch this network is at (\d+\.\d)%", README)
    assert first and f"{history[0].test_accuracy:.1%}" == f"{first.group(1)}%"


def test_the_drawing_block_writes_its_pictures(ran) -> None:
    _, _, where = ran
    for name in ("graph.svg", "net.svg"):
        assert (where / name).read_text().lstrip().startswith(("<?xml", "<svg")), name


def test_the_drawn_gradients_are_those_of_the_drawn_batch(ran) -> None:
    """The drawing block differentiates the 10 test images it draws, not those plus training's last mini-batch."""
    from tinygrad_nn.backprop import backprop

    namespace, _, _ = ran
    number = next(k for k, block in enumerate(BLOCKS, 1) if "draw_graph(cost)" in block)
    net, splits = namespace["net"], namespace["splits"]
    want = backprop(net.weights, net.biases, splits.test.x[:10], splits.test.y[:10])
    expected = [g for pair in zip(want.nabla_w, want.nabla_b) for g in pair]   # layers.0.weight, layers.0.bias, …
    drawn = namespace["__grads_after_block__"][number]
    assert len(drawn) == len(expected)
    for got, ref in zip(drawn, expected):
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-15)


def test_the_chain_block_prints_what_the_readme_shows(ran) -> None:
    _, printed, _ = ran
    lines = [line for line in printed.splitlines() if line.startswith("∂C/∂b")]
    assert len(lines) == 4
    shown = re.search(r"print\(chain_gradient\(chain, \[0\.5\], 1\.0\)\).*?```text\n(.*?)```", README, re.DOTALL)
    assert shown and shown.group(1).splitlines() == lines


def test_the_check_table_is_the_command_s_output() -> None:
    """The README's `check` table is what the command prints (the same on every BLAS kernel)."""
    import subprocess
    import sys

    command = re.search(r"python -m tinygrad_nn (check [^\n]*)\n```\n\n```text\n(.*?)```", README, re.DOTALL)
    assert command, "the README has no check command followed by its output"
    done = subprocess.run([sys.executable, "-m", "tinygrad_nn", *command.group(1).split()], capture_output=True,
                          text=True, timeout=120, check=False, cwd=REPO)
    assert done.returncode == 0 and done.stdout == command.group(2), done.stdout + done.stderr


def test_the_book_s_setting_figures_are_the_measured_ones() -> None:
    """The epoch-0 learning speeds the README quotes for the book's setting (scaled init, cross-entropy)."""
    from tinygrad_nn import data, learning_speeds, nn

    digits = data.load_digits()
    speed = learning_speeds(nn.MLP([64, 30, 30, 30, 10], init="scaled", seed=0), digits.training.x[:1000],
                            digits.training.y[:1000], "cross-entropy")
    quoted = (f"speeds of hidden layers 1–3 are {speed[2]:.2g}, {speed[3]:.2g} and {speed[4]:.2g} (gaps "
              f"{speed[3] / speed[2]:.1f}× and {speed[4] / speed[3]:.1f}×)")
    assert quoted in " ".join(README.split()), quoted

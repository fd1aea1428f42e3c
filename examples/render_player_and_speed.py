"""Regenerate the README's backward-pass player screenshots in docs/.

* docs/backward_player.html — `viz.animate_backward` of Nielsen's [64, 30, 10] network on one real digit
  (the quadratic cost; 5 backward rules: C, BP1, layer 3's BP3/BP4, BP2, layer 2's BP3/BP4), and
  docs/backward_player.png, its step 3 in headless Chromium;
* docs/backward_player_scalar.png — a ScalarMLP [2, 2, 1] (one Value per weight) at its σ step: BP1 for δ³₁
  with its arithmetic, σ′(z³₁) and ∂C/∂a³₁ · σ′(z³₁);
(docs/learning_speed.png, the chapter 5 plot, is made by examples/render_learning_speed.py.)

Needs Graphviz's `dot`, matplotlib and Debian's `chromium`. Run from the repository root:
``python examples/render_player_and_speed.py``.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import viz
from tinygrad_nn import Value, data, nn
from tinygrad_nn.train import train

DOCS = Path(__file__).resolve().parent.parent / "docs"


def screenshot(page: Path, fragment: str, png: Path, size: str = "1200,760") -> None:
    """A PNG of `page` at `fragment`, taken by headless Chromium."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("headless Chromium is needed for the screenshots: apt-get install chromium")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        "--hide-scrollbars", f"--user-data-dir={profile}", f"--screenshot={png}",
                        f"--window-size={size}", page.resolve().as_uri() + fragment],
                       check=True, capture_output=True, timeout=120)
    print(f"wrote {png}")


def tensor_player(splits: data.Splits) -> Path:
    net = nn.MLP([64, 30, 10], seed=0)
    train(net, splits, epochs=1)   # a little trained, so the gradients are not those of random weights
    cost = nn.quadratic_cost(net(splits.test.x[:1]), splits.test.y[:1])
    cost.name = "C"
    path = viz.animate_backward(cost, DOCS / "backward_player.html",
                                title=f"Backward pass of C for one digit (a {splits.test.y[0]}), network [64, 30, 10]")
    print(f"wrote {path}")
    return path


def scalar_player(folder: Path) -> Path:
    net = nn.ScalarMLP([2, 2, 1], seed=3)
    (a,) = net([Value(0.8, requires_grad=False, name="x1"), Value(0.3, requires_grad=False, name="x2")])  # a³₁
    cost = 0.5 * (a - 1.0) ** 2
    cost.name = "C"
    return viz.animate_backward(cost, folder / "scalar.html", rankdir="TB",
                                title="Backward pass of C = ½(a³₁ − 1)², ScalarMLP [2, 2, 1]")


def main() -> None:
    DOCS.mkdir(exist_ok=True)
    splits = data.load_digits()
    screenshot(tensor_player(splits), "#step=3", DOCS / "backward_player.png")
    with tempfile.TemporaryDirectory() as folder:
        screenshot(scalar_player(Path(folder)), "#step=4", DOCS / "backward_player_scalar.png", "1200,900")


if __name__ == "__main__":
    main()

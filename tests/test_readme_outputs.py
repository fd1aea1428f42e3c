"""Following the README in order never overwrites a file an earlier command of it wrote: every output path
(`-o`, `--save`, `--history`, `viz.render(..., PATH)`, `animate_backward(..., PATH)`) belongs to one command
(the same command repeated writes the same file, so it may appear twice)."""
from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```(?:sh|python)\n(.*?)^```", README, re.MULTILINE | re.DOTALL)
OUTPUT = [re.compile(r"(?:^|\s)(?:-o|--output|--save|--history)\s+([^\s;&|]+)"),
          re.compile(r"(?:render|animate_backward)\(.*,\s*\"([^\"]+)\"\)")]


def _writers() -> dict[str, set[str]]:
    writers: dict[str, set[str]] = defaultdict(set)
    for block in BLOCKS:
        for line in block.splitlines():
            for command in re.split(r"&&|;|&(?!&)", line.split("  #")[0]):
                for pattern in OUTPUT:
                    for path in pattern.findall(command):
                        writers[path].add(command.strip())
    return writers


def test_the_readme_names_its_outputs() -> None:
    writers = _writers()
    assert {"graph.svg", "net.svg", "net.npz", "backprop.svg"} <= set(writers), sorted(writers)


def test_no_readme_command_overwrites_another_s_output() -> None:
    clashes = {path: sorted(commands) for path, commands in _writers().items() if len(commands) > 1}
    assert not clashes, f"these README outputs are written by more than one command: {clashes}"

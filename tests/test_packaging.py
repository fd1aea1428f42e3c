"""Packaging basics: one version everywhere, --version, help on no command, help texts with defaults, the
licence files and package data that a wheel must carry."""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tinygrad_nn
from tinygrad_nn import cli

REPO = Path(__file__).resolve().parents[1]


def _pyproject_version() -> str:
    text = (REPO / "pyproject.toml").read_text()
    return re.search(r'(?m)^version\s*=\s*"([^"]+)"', text).group(1)


def test_the_version_comes_from_pyproject() -> None:
    assert tinygrad_nn.__version__ == _pyproject_version()
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", tinygrad_nn.__version__)


def test_the_version_without_a_source_tree_comes_from_the_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import PackageNotFoundError

    from tinygrad_nn import _version

    monkeypatch.setattr(_version, "_from_source_tree", lambda: None)  # as installed in site-packages
    monkeypatch.setattr(_version, "version", lambda name: "9.8.7" if name == "tinygrad_nn" else "?")
    assert _version._version() == "9.8.7"

    def not_installed(name: str) -> str:
        raise PackageNotFoundError(name)
    monkeypatch.setattr(_version, "version", not_installed)
    assert _version._version() == "0+unknown"


@pytest.mark.parametrize("command", [[sys.executable, "-m", "tinygrad_nn", "--version"]])
def test_version_option(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"tinygrad-nn {_pyproject_version()}"


def test_version_in_process(capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"tinygrad-nn {tinygrad_nn.__version__}"


def test_no_command_prints_the_help_and_exits_2(capsys: pytest.CaptureFixture) -> None:
    assert cli.main([]) == cli.EXIT_USAGE == 2
    out, err = capsys.readouterr()
    assert out.startswith("usage: tinygrad-nn")
    for command in ("train", "evaluate", "check", "graph", "explore"):
        assert command in out
    assert err == ""


def test_help_exits_0(capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["train", "--help"]) == 0
    assert "--epochs" in capsys.readouterr().out


def _options(parser: argparse.ArgumentParser):
    """Every (parser, option) pair, into subcommands."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _options(sub)
        elif action.option_strings:
            yield parser, action


def _parsers():
    from viz.cli import _parser as graph_parser
    from viz.explorer.cli import _parser as explore_parser
    return [cli.build_parser(), graph_parser(), explore_parser()]


def test_every_option_has_help_and_its_default_shows() -> None:
    checked = 0
    for top in _parsers():
        for parser, action in _options(top):
            assert action.help, f"{parser.prog} {action.option_strings[0]} has no help text"
            if action.default in (None, False, argparse.SUPPRESS) or isinstance(action, argparse._HelpAction):
                continue
            shown = parser._get_formatter()._get_help_string(action)  # what --help prints for this option
            assert "default" in shown, f"{parser.prog} {action.option_strings[-1]}: the default is not shown: {shown}"
            checked += 1
    assert checked >= 15  # train, check and graph options with a default


def test_one_epoch_is_singular(capsys: pytest.CaptureFixture, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "1 epoch\n" in out and "1 epochs" not in out
    assert cli.main(["train", "--epochs", "2", "--quiet"]) == 0


def test_licence_files_and_package_data() -> None:
    licence = (REPO / "LICENSE").read_text()
    assert licence.startswith("MIT License")
    pyproject = (REPO / "pyproject.toml").read_text()
    assert re.search(r'(?m)^license = "MIT"$', pyproject)
    attribution = Path(tinygrad_nn.__file__).parent / "datasets" / "README.md"
    assert "CC BY 4.0" in attribution.read_text()
    assert "datasets/README.md" in pyproject
    assert (Path(tinygrad_nn.__file__).parent / "py.typed").is_file()
    assert '"py.typed"' in pyproject
    changelog = (REPO / "CHANGELOG.md").read_text()
    assert f"## {_pyproject_version()}" in changelog

"""The package's version, kept in one place: ``version`` in pyproject.toml.

An installed package (``pip install .`` or ``-e .``) reads it from its metadata; a source tree used without
installing (``PYTHONPATH=.``) reads it from the pyproject.toml beside the package.
"""
from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

__all__ = ["__version__"]


def _from_source_tree() -> str | None:
    """The version in ../pyproject.toml when this package sits in a source checkout, else None."""
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        text = pyproject.read_text(encoding="utf-8")
    except OSError:
        return None
    if not re.search(r'(?m)^name\s*=\s*"tinygrad[_-]nn"', text):
        return None
    match = re.search(r'(?m)^version\s*=\s*"([^"]+)"', text)
    return match.group(1) if match else None


def _version() -> str:
    # A checkout's own pyproject.toml wins: an installed copy elsewhere may be another version.
    found = _from_source_tree()
    if found is not None:
        return found
    try:
        return version("tinygrad_nn")
    except PackageNotFoundError:
        return "0+unknown"


__version__ = _version()

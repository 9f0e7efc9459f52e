"""The documentation site (guides + API reference from docstrings) builds without warnings."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def mkdocs_command() -> list[str] | None:
    """``mkdocs`` beside this Python (the venv's), else on PATH; None if not installed."""
    beside = Path(sys.executable).with_name("mkdocs")
    found = str(beside) if beside.exists() else shutil.which("mkdocs")
    try:
        import mkdocstrings_handlers.python  # noqa: F401 - the API reference needs it
    except ImportError:
        return None
    return [found] if found else None


def test_mkdocs_build_strict_has_no_warnings(tmp_path: Path) -> None:
    command = mkdocs_command()
    if command is None:
        pytest.skip("mkdocs and mkdocstrings-python are not installed "
                    "(pip install -e '.[dev]' installs them)")
    result = subprocess.run([*command, "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    output = result.stdout + result.stderr
    warnings = [line for line in output.splitlines() if "WARNING" in line]
    assert result.returncode == 0, output[-4000:]
    assert warnings == [], "\n".join(warnings)
    assert (tmp_path / "site" / "api" / "kitlib" / "index.html").is_file()
    assert "kitlib.client.cluster.Cluster" in (
        tmp_path / "site" / "api" / "kitlib" / "index.html").read_text()

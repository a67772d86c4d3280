"""The layers contract really bites: an upward import fails `lint-imports`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def run_lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(tree / "pyproject.toml")],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def source_copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_real_tree_keeps_its_layers(source_copy: Path) -> None:
    result = run_lint_imports(source_copy)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("xraybot/model/upward.py", "xraybot.cli.app"),
        ("xraybot/storage/upward.py", "xraybot.trading.ports"),
        ("xraybot/users/upward.py", "xraybot.runtime.config"),
    ],
)
def test_an_upward_import_fails_the_build(source_copy: Path, lower: str, higher: str) -> None:
    (source_copy / "src" / lower).write_text(f"import {higher}  # noqa: F401\n")
    result = run_lint_imports(source_copy)
    assert result.returncode != 0
    report = result.stdout + result.stderr
    assert "BROKEN" in report
    assert higher.rsplit(".", 1)[0] in report

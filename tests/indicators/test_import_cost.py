"""Importing the indicators is cheap: TA-Lib (which loads pandas) and numba wait for first use."""

from __future__ import annotations

import subprocess
import sys


def test_import_loads_neither_talib_nor_numba() -> None:
    code = (
        "import sys, xraybot.indicators\n"
        "print(sorted(m for m in ('talib', 'numba', 'pandas') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"

"""Where the team's shared data lives: ``../shared`` beside the repository, or
``XRAYBOT_SHARED_DIR``. Tests that need it skip when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DIR = Path(
    os.environ.get("XRAYBOT_SHARED_DIR") or Path(__file__).resolve().parents[3] / "shared"
)
REFERENCE_DIR = SHARED_DIR / "reference"
OHLCV_DIR = SHARED_DIR / "data" / "ohlcv"

needs_reference = pytest.mark.skipif(
    not (REFERENCE_DIR / "golden").is_dir(), reason="../shared/reference is not present"
)

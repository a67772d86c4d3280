"""Real candles for the strategy tests: the bundled 2025 sample (always present)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xraybot.data.import_names import recognise
from xraybot.data.importers import load
from xraybot.data.sample import sample_dir
from xraybot.model.candles import Candles


def sample_candles(base: str) -> Candles:
    path: Path = sample_dir() / "binance" / f"{base}_USDT-1h.csv.gz"
    return load(recognise(path))


@pytest.fixture(scope="session")
def btc() -> Candles:
    return sample_candles("BTC")


@pytest.fixture(scope="session")
def eth() -> Candles:
    return sample_candles("ETH")


def synthetic(close: list[float] | np.ndarray, symbol: str = "TEST/USDT") -> Candles:
    """Candles whose OHLC all sit on ``close`` (for hand-built indicator paths)."""
    c = np.asarray(close, dtype=np.float64)
    ts = np.arange(c.shape[0], dtype=np.int64) * 3_600_000
    return Candles(symbol, "1h", ts, c.copy(), c.copy(), c.copy(), c.copy(), np.ones_like(c))

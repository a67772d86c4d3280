"""Candles for the indicator tests: real Binance BTC/USDT 1h, or a seeded random walk."""

from __future__ import annotations

import gzip
import itertools
from functools import cache
from pathlib import Path

import numpy as np

from xraybot.model.candles import Candles

ROOT = Path(__file__).resolve().parents[2]
# CI keeps ../shared beside the repo; without it, the copy bundled in the package; without
# that, a random walk, so the tests run anywhere.
SOURCES = (
    ROOT.parent / "shared" / "data" / "ohlcv" / "binance" / "BTC_USDT-1h.csv.gz",
    ROOT / "src" / "xraybot" / "data" / "sample" / "binance" / "BTC_USDT-1h.csv.gz",
)
ROWS = 1500
HOUR_MS = 3_600_000


@cache
def real_candles() -> Candles:
    """Return the first ROWS candles of the first source found, or a random walk."""
    for path in SOURCES:
        if path.is_file():
            return read_csv(path, ROWS)
    return random_walk(ROWS)


def read_csv(path: Path, rows: int) -> Candles:
    """Read the first ``rows`` candles of one of our gzip CSV files."""
    with gzip.open(path, "rt") as f:
        next(f)
        table = np.array([line.split(",") for line in itertools.islice(f, rows)], dtype=np.float64)
    return from_columns(table[:, 0].astype(np.int64), *table[:, 1:].T)


def random_walk(rows: int, seed: int = 7) -> Candles:
    """Return a geometric random walk with consistent OHLC and log-normal volumes."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, rows)))
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) * (1.0 + rng.uniform(0.0, 0.01, rows))
    low = np.minimum(open_, close) * (1.0 - rng.uniform(0.0, 0.01, rows))
    volume = rng.lognormal(3.0, 1.0, rows)
    ts = 1_700_000_000_000 // HOUR_MS * HOUR_MS + HOUR_MS * np.arange(rows, dtype=np.int64)
    return from_columns(ts, open_, high, low, close, volume)


def from_columns(
    ts_ms: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    timeframe: str = "1h",
) -> Candles:
    """Build Candles from columns (copied to contiguous float64)."""
    floats = [np.ascontiguousarray(a, dtype=np.float64) for a in (open_, high, low, close, volume)]
    return Candles("BTC/USDT", timeframe, np.ascontiguousarray(ts_ms, dtype=np.int64), *floats)

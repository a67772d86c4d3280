"""Candles from close paths, random walks, a correlated universe and screen fills for the
X-ray tests."""

from __future__ import annotations

import zlib
from html.parser import HTMLParser
from pathlib import Path

import numpy as np

from xraybot.data.store import CandleStore
from xraybot.data.universe import UniverseStore
from xraybot.model.candles import Candles

HOUR_MS = 3_600_000
T0 = 1_735_689_600_000  # 2025-01-01T00:00Z


def candles_from_close(
    close: np.ndarray, symbol: str = "X/USDT", *, ts_ms: np.ndarray | None = None, seed: int = 0
) -> Candles:
    """Return hourly candles around a close path: open = previous close, small wicks."""
    n = close.shape[0]
    ts = np.arange(n, dtype=np.int64) * HOUR_MS + T0 if ts_ms is None else ts_ms
    rng = np.random.default_rng(seed)
    open_ = np.concatenate([close[:1], close[:-1]])
    wick = 1.0 + 0.001 * rng.random(n)
    high = np.maximum(open_, close) * wick
    low = np.minimum(open_, close) / wick
    volume = 100.0 * np.exp(0.2 * rng.standard_normal(n))
    return Candles(symbol, "1h", ts, open_, high, low, close.astype(np.float64), volume)


def walk(
    n: int, drift: float, vol: float = 0.005, seed: int = 1, start: float = 100.0
) -> np.ndarray:
    """Return a geometric random walk with ``drift`` and ``vol`` per bar."""
    rng = np.random.default_rng(seed)
    return start * np.exp(np.cumsum(drift + vol * rng.standard_normal(n)))


def universe(closes: np.ndarray, names: list[str]) -> dict[str, Candles]:
    return {name: candles_from_close(closes[:, j], name) for j, name in enumerate(names)}


def two_groups(n: int = 400, seed: int = 5) -> np.ndarray:
    """Return closes of 7 symbols: 4 driven by factor F, 3 by an independent factor G."""
    rng = np.random.default_rng(seed)
    f = 0.01 * rng.standard_normal(n)
    g = 0.01 * rng.standard_normal(n)
    noise = 0.005 * rng.standard_normal((n, 7))
    returns = np.column_stack([f] * 4 + [g] * 3) + noise
    return 10.0 * np.exp(np.cumsum(returns, axis=0))


NAMES = ["F1/USDT", "F2/USDT", "F3/USDT", "F4/USDT", "G1/USDT", "G2/USDT", "G3/USDT"]


class _References(HTMLParser):
    """Collects what a page would load: src/href of tags, outside script and style text."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if tag == "script" and name == "src":
                self.found.append(f"<script src={value}>")
            elif name in ("src", "href", "data") and value and not value.startswith("#"):
                self.found.append(f"<{tag} {name}={value}>")


def external_references(html: str) -> list[str]:
    """Return every script src and every src/href that is not an in-page #anchor."""
    parser = _References()
    parser.feed(html)
    parser.close()
    return parser.found


HOUR = 3_600_000
DAY = 24 * HOUR
END = T0 + 40 * DAY


# symbol -> (first candle, last candle end, price, hourly quote volume)
LISTINGS = {
    "AAA/USDT": (T0, END, 2.0, 90_000.0),
    "BBB/USDT": (T0, END, 0.5, 40_000.0),
    "CCC/USDT": (T0 + 5 * DAY, END, 10.0, 20_000.0),
    "DDD/USDT": (T0, END, 0.01, 1_000.0),
    "EEE/USDT": (T0 + 19 * DAY, END, 3.0, 60_000.0),  # new around the middle
    "FFF/USDT": (T0, T0 + 12 * DAY, 1.0, 50_000.0),  # delisted after 12 days
    "GGG/USDT": (T0 + 30 * DAY, END, 7.0, 80_000.0),  # listed late
    "USDC/USDT": (T0, END, 1.0, 500_000.0),  # a stablecoin
    "HHH/USDT:USDT": (T0, END, 4.0, 70_000.0),  # a swap: not in the spot universe
}


def series(symbol: str, first: int, end: int, price: float, volume: float) -> Candles:
    rng = np.random.default_rng(zlib.crc32(symbol.encode()))  # hash() differs per run
    ts = np.arange(first, end, HOUR, dtype=np.int64)
    n = ts.shape[0]
    sigma = 0.0001 if symbol.startswith("USDC") else 0.01
    close = price * np.exp(np.cumsum(rng.normal(0, sigma, n)))
    open_ = np.concatenate([[price], close[:-1]])
    high = np.maximum(open_, close) * (1 + rng.uniform(0, sigma, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, sigma, n))
    base_volume = volume / close * rng.uniform(0.5, 1.5, n)
    return Candles(symbol, "1h", ts, open_, high, low, close, base_volume)


def wild_after(candles: Candles, as_of_ms: int) -> Candles:
    """Return the series with every candle not closed by ``as_of_ms`` made absurd."""
    late = candles.ts_ms + HOUR > as_of_ms
    scale = np.where(late, 1000.0, 1.0)
    return Candles(
        candles.symbol,
        candles.timeframe,
        np.array(candles.ts_ms),
        candles.open * scale,
        candles.high * scale,
        candles.low * scale,
        candles.close * scale,
        candles.volume * np.where(late, 1e6, 1.0),
    )


def fill(root: Path, as_of_ms: int | None) -> None:
    """Store every listing: all of it (wild after as_of), or only what closed by as_of."""
    store, universe = CandleStore(root), UniverseStore(root)
    written = []
    for symbol, (first, end, price, volume) in LISTINGS.items():
        candles = series(symbol, first, end, price, volume)
        candles = wild_after(candles, MIDDLE) if as_of_ms is None else candles.closed(as_of_ms)
        if len(candles):
            store.write("sim", candles)
            written.append(candles)
    universe.record_many_from_candles("sim", written)


MIDDLE = T0 + 20 * DAY + 7 * HOUR

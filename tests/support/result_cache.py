"""Backtest result-cache helpers: a probe strategy, candles, payload comparison and corruption."""

from __future__ import annotations

import numpy as np

from xraybot.backtest.results import BacktestResult, TradeRecords
from xraybot.model.candles import Candles
from xraybot.strategy.base import FeatureCache, Param, Params, Signals, Strategy

H = 3_600_000


class Probe(Strategy):
    name = "cache_probe"
    parameters = (Param("period", 5, low=2, high=50), Param("level", 0.5, low=0.0, high=1.0))

    def signals(
        self, candles: Candles, params: Params, cache: FeatureCache | None = None
    ) -> Signals:
        up = np.diff(candles.close, prepend=candles.close[:1]) > 0
        return Signals(entry_long=up, exit_long=~up)


def make_candles(n: int = 60, symbol: str = "BTC/USDT", seed: int = 1) -> Candles:
    close = 100 + np.cumsum(np.random.default_rng(seed).normal(0, 1, n))
    ts = np.arange(n, dtype=np.int64) * H
    return Candles(symbol, "1h", ts, close.copy(), close + 1, close - 1, close.copy(), np.ones(n))


def assert_same_bits(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype
    assert a.shape == b.shape
    assert a.tobytes() == b.tobytes()


def assert_identical(a: BacktestResult, b: BacktestResult) -> None:
    for name in ("exchange", "symbol", "timeframe", "strategy", "settings"):
        assert getattr(a, name) == getattr(b, name), name
    assert dict(a.params) == dict(b.params)
    for name in ("ts_ms", "equity", "exposure", "close"):
        assert_same_bits(getattr(a, name), getattr(b, name))
    for name in TradeRecords.__dataclass_fields__:
        assert_same_bits(getattr(a.trades, name), getattr(b.trades, name))


def flip(payload: bytes, index: int) -> bytes:
    return payload[:index] + bytes([payload[index] ^ 0x01]) + payload[index + 1 :]

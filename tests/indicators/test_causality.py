"""Causality: a value at index t never changes when later candles are appended.

Every indicator is registered below as a function of a ``Candles`` series returning named
arrays of the series' length. For each, hypothesis picks a stretch of real candles, computes
the indicator on its first n candles and again after appending k more (arbitrary, valid
candles: spikes, gaps, zero volume), and requires the first n values to be exactly equal,
NaN matching NaN. A test below fails when a public indicator is missing from the registry.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, is_dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.indicators.series import from_columns, real_candles
from xraybot import indicators as ind
from xraybot.model.candles import Candles

Outputs = Mapping[str, np.ndarray]


def _named(prefix: str, result: object) -> Outputs:
    if isinstance(result, np.ndarray):
        return {prefix: result}
    if isinstance(result, dict):
        return {f"{prefix}.{key}": value for key, value in result.items()}
    assert is_dataclass(result)
    return {
        f"{prefix}.{f.name}": getattr(result, f.name)
        for f in fields(result)
        if isinstance(getattr(result, f.name), np.ndarray)
    }


def _ichimoku(c: Candles) -> Outputs:
    lines = ind.ichimoku(c.high, c.low, c.close)
    cloud_a, cloud_b = lines.cloud()
    return {**_named("ichimoku", lines), "cloud_a": cloud_a, "cloud_b": cloud_b}


def _rolling_profile(c: Candles, window: int = 48) -> Outputs:
    """POC and value area over the trailing window at each candle, as a strategy would use them."""
    poc, low, high = (np.full(len(c), np.nan) for _ in range(3))
    for t in range(window - 1, len(c)):
        profile = ind.volume_profile(c.between(int(c.ts_ms[t - window + 1]), int(c.ts_ms[t]) + 1))
        poc[t], low[t], high[t] = profile.poc, profile.value_area_low, profile.value_area_high
    return {"poc": poc, "value_area_low": low, "value_area_high": high}


@dataclass(frozen=True)
class Case:
    id: str
    covers: str  # the public function this case exercises
    compute: Callable[[Candles], Outputs]


REGISTRY: tuple[Case, ...] = (
    Case("sma", "sma", lambda c: _named("sma", ind.sma(c.close))),
    Case("sma-5", "sma", lambda c: _named("sma", ind.sma(c.close, timeperiod=5))),
    Case("ema", "ema", lambda c: _named("ema", ind.ema(c.close))),
    Case("ema-9", "ema", lambda c: _named("ema", ind.ema(c.close, timeperiod=9))),
    Case("rsi", "rsi", lambda c: _named("rsi", ind.rsi(c.close))),
    Case("macd", "macd", lambda c: _named("macd", ind.macd(c.close))),
    Case("bollinger", "bollinger", lambda c: _named("bb", ind.bollinger(c.close))),
    Case("bollinger-ema", "bollinger", lambda c: _named("bb", ind.bollinger(c.close, matype=1))),
    Case("atr", "atr", lambda c: _named("atr", ind.atr(c.high, c.low, c.close))),
    Case("natr", "natr", lambda c: _named("natr", ind.natr(c.high, c.low, c.close))),
    Case("adx", "adx", lambda c: _named("adx", ind.adx(c.high, c.low, c.close))),
    Case("stoch", "stochastic", lambda c: _named("st", ind.stochastic(c.high, c.low, c.close))),
    Case("obv", "obv", lambda c: _named("obv", ind.obv(c.close, c.volume))),
    Case("mfi", "mfi", lambda c: _named("mfi", ind.mfi(c.high, c.low, c.close, c.volume))),
    Case("cci", "cci", lambda c: _named("cci", ind.cci(c.high, c.low, c.close))),
    Case("candle_patterns", "candle_patterns", lambda c: _named("cdl", ind.candle_patterns(c))),
    Case("ichimoku", "ichimoku", _ichimoku),
    Case("typical_price", "typical_price", lambda c: _named("tp", ind.typical_price(c))),
    Case("vwap_session-1d", "vwap_session", lambda c: _named("vwap", ind.vwap_session(c))),
    Case("vwap_session-4h", "vwap_session", lambda c: _named("vwap", ind.vwap_session(c, "4h"))),
    Case("vwap_session-1w", "vwap_session", lambda c: _named("vwap", ind.vwap_session(c, "1w"))),
    Case("vwap_rolling-24", "vwap_rolling", lambda c: _named("vwap", ind.vwap_rolling(c, 24))),
    Case(
        "realized_volatility-24",
        "realized_volatility",
        lambda c: _named("rv", ind.realized_volatility(c.close, 24)),
    ),
    Case("volume_profile-rolling", "volume_profile", _rolling_profile),
)

# Not a function of a candle series: it reads one order-book snapshot, so there is no
# later candle to append; its tests are in test_profile_orderbook.py.
NOT_SERIES = {"orderbook_imbalance", "pattern_name"}


def test_registry_covers_every_public_indicator() -> None:
    public = {
        name
        for name in ind.__all__
        if inspect.isfunction(getattr(ind, name)) and name not in NOT_SERIES
    }
    assert {case.covers for case in REGISTRY} == public


# One appended candle: multipliers on the previous close for open and close, wick sizes,
# and a volume that is sometimes zero and sometimes a spike.
_candle = st.tuples(
    st.floats(0.5, 2.0),
    st.floats(0.5, 2.0),
    st.floats(0.0, 0.3),
    st.floats(0.0, 0.3),
    st.one_of(st.just(0.0), st.floats(0.0, 1e6)),
)


def _append(base: Candles, rows: list[tuple[float, float, float, float, float]]) -> Candles:
    step = base.timeframe_ms
    ts, opens, highs, lows, closes, volumes = [], [], [], [], [], []
    previous = float(base.close[-1])
    for i, (open_x, close_x, up, down, volume) in enumerate(rows, start=1):
        open_, close = previous * open_x, previous * open_x * close_x
        ts.append(int(base.ts_ms[-1]) + i * step)
        opens.append(open_)
        closes.append(close)
        highs.append(max(open_, close) * (1.0 + up))
        lows.append(min(open_, close) / (1.0 + down))
        volumes.append(volume)
        previous = close
    return from_columns(
        np.concatenate((base.ts_ms, ts)),
        np.concatenate((base.open, opens)),
        np.concatenate((base.high, highs)),
        np.concatenate((base.low, lows)),
        np.concatenate((base.close, closes)),
        np.concatenate((base.volume, volumes)),
    )


@pytest.mark.parametrize("case", REGISTRY, ids=[case.id for case in REGISTRY])
@settings(max_examples=15, deadline=None)
@given(
    start=st.integers(0, 1000),
    n=st.integers(1, 260),
    later=st.lists(_candle, min_size=1, max_size=30),
)
def test_values_never_change_when_candles_are_appended(
    case: Case, start: int, n: int, later: list[tuple[float, float, float, float, float]]
) -> None:
    series = real_candles()
    stop = min(start + n, len(series))
    base = series.between(int(series.ts_ms[start]), int(series.ts_ms[stop - 1]) + 1)
    longer = _append(base, later)
    before = case.compute(base)
    after = case.compute(longer)
    assert before.keys() == after.keys()
    for name, values in before.items():
        assert values.shape == (len(base),), name
        assert after[name].shape == (len(longer),), name
        assert values.dtype == after[name].dtype, name
        np.testing.assert_array_equal(after[name][: len(base)], values, err_msg=name, strict=True)


@pytest.mark.parametrize("case", REGISTRY, ids=[case.id for case in REGISTRY])
def test_prefixes_of_real_candles_agree_with_the_whole(case: Case) -> None:
    # The real continuation as the appended candles, at lengths around common warm-ups.
    series = real_candles()
    whole = series.between(None, int(series.ts_ms[400]))
    after = case.compute(whole)
    for n in (1, 2, 13, 14, 15, 25, 26, 27, 33, 51, 52, 53, 399):
        before = case.compute(whole.between(None, int(whole.ts_ms[n])))
        for name, values in before.items():
            np.testing.assert_array_equal(after[name][:n], values, err_msg=f"{name} n={n}")

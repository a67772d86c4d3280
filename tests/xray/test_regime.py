"""Regimes: trend on constructed up/down/flat series, volatility percentiles, causality, the
BTC-led market regime and its breadth rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.xray import HOUR_MS, T0, candles_from_close, walk
from xraybot.model.candles import Candles
from xraybot.model.errors import DataValidationError, InvalidInputError
from xraybot.xray.regime import (
    DOWN,
    HIGH,
    LOW,
    NORMAL,
    RANGE,
    UP,
    MarketRegime,
    Regime,
    RegimeParams,
    combine_market,
    expanding_percentile,
    gap_free_runs,
    market_regime,
    regime_series,
    symbol_regime,
)


def test_a_steady_rise_is_an_uptrend() -> None:
    regime = symbol_regime(candles_from_close(walk(400, 0.002)))
    assert regime.trend == UP
    assert regime.ema_slope > 0
    assert regime.adx >= 20
    assert regime.trend_strength >= 0.15
    assert regime.ts_ms == T0 + 399 * HOUR_MS


def test_a_steady_fall_is_a_downtrend() -> None:
    regime = symbol_regime(candles_from_close(walk(400, -0.002)))
    assert regime.trend == DOWN
    assert regime.ema_slope < 0
    assert regime.trend_strength <= -0.15


def test_noise_around_a_level_is_a_range_on_every_bar() -> None:
    rng = np.random.default_rng(3)
    flat = 100.0 * (1.0 + 0.01 * rng.standard_normal(600))
    series = regime_series(candles_from_close(flat))
    assert series.ready.sum() > 400
    assert set(series.trend[series.ready].tolist()) == {0}
    assert symbol_regime(candles_from_close(flat)).trend == RANGE


def test_volatility_is_ranked_within_its_own_history() -> None:
    calm_then_wild = np.concatenate([walk(300, 0.0, 0.002, seed=4), np.zeros(60)])
    calm_then_wild[300:] = calm_then_wild[299] * np.exp(
        np.cumsum(0.03 * np.random.default_rng(5).standard_normal(60))
    )
    assert symbol_regime(candles_from_close(calm_then_wild)).volatility == HIGH
    wild_then_calm = np.concatenate([walk(300, 0.0, 0.03, seed=6), np.zeros(60)])
    wild_then_calm[300:] = wild_then_calm[299] * np.exp(
        np.cumsum(0.002 * np.random.default_rng(7).standard_normal(60))
    )
    regime = symbol_regime(candles_from_close(wild_then_calm))
    assert regime.volatility == LOW
    assert regime.volatility_percentile < 20


def test_ties_count_half_so_a_constant_volatility_is_normal() -> None:
    values = np.full(80, 0.01)
    ranked = expanding_percentile(values, min_history=50)
    assert np.isnan(ranked[:49]).all()
    assert ranked[-1] == pytest.approx(50.0)
    assert RegimeParams().vol_low_pct < 50 < RegimeParams().vol_high_pct
    assert symbol_regime(candles_from_close(np.full(200, 5.0))).volatility == NORMAL


@settings(max_examples=25, deadline=None)
@given(cut=st.integers(min_value=80, max_value=399), seed=st.integers(0, 1000))
def test_the_regime_at_a_candle_never_changes_when_later_candles_arrive(
    cut: int, seed: int
) -> None:
    full = candles_from_close(walk(400, 0.0005, seed=seed), seed=seed)
    whole = regime_series(full)
    head = full.between(None, T0 + cut * HOUR_MS)  # candles 0 .. cut-1
    prefix = regime_series(head)
    for name in (
        "ema_slope",
        "trend_strength",
        "adx",
        "realized_volatility",
        "volatility_percentile",
    ):
        np.testing.assert_array_equal(getattr(prefix, name), getattr(whole, name)[:cut], name)
    np.testing.assert_array_equal(prefix.trend, whole.trend[:cut])
    np.testing.assert_array_equal(prefix.ready, whole.ready[:cut])
    if whole.ready[cut - 1]:
        assert symbol_regime(head) == whole.at(cut - 1)


def test_a_gap_restarts_the_warm_up() -> None:
    close = walk(300, 0.002)
    ts = np.arange(300, dtype=np.int64) * HOUR_MS + T0
    ts[250:] += 10 * HOUR_MS  # ten missing candles before row 250
    candles = candles_from_close(close, ts_ms=ts)
    assert [(r.start, r.stop) for r in gap_free_runs(candles)] == [(0, 250), (250, 300)]
    series = regime_series(candles)
    assert series.ready[249]
    assert not series.ready[250:].any()  # 50 candles since the hole: EMA(50) is warming up
    with pytest.raises(DataValidationError, match="74 gap-free closed candles"):
        symbol_regime(candles)
    assert symbol_regime(candles.between(None, int(ts[250]))) == series.at(249)


def test_too_little_history_says_how_much_is_needed() -> None:
    short = candles_from_close(walk(40, 0.001))
    with pytest.raises(DataValidationError) as caught:
        symbol_regime(short)
    assert "74 gap-free closed candles" in str(caught.value)
    assert "X/USDT" in str(caught.value)
    with pytest.raises(DataValidationError, match="no candles"):
        symbol_regime(Candles.empty("X/USDT", "1h"))


def test_bad_parameters_are_refused_by_name() -> None:
    with pytest.raises(InvalidInputError, match="ema_period"):
        RegimeParams(ema_period=1)
    with pytest.raises(InvalidInputError, match="vol_low_pct"):
        RegimeParams(vol_low_pct=90, vol_high_pct=10)
    with pytest.raises(InvalidInputError, match="breadth_decisive"):
        RegimeParams(breadth_decisive=0.4)
    assert RegimeParams().min_candles == 74


def _regime(symbol: str, trend: str) -> Regime:
    return Regime(symbol, trend, 0.0, 25.0, 50.0, NORMAL)


@pytest.mark.parametrize(
    ("leader", "others", "expected"),
    [
        (UP, [UP, RANGE, DOWN], UP),  # the leader's trend stands
        (UP, [DOWN, DOWN, DOWN, RANGE], RANGE),  # 75% against it: the market is split
        (DOWN, [UP, UP, UP, UP, DOWN], RANGE),
        (RANGE, [UP, UP, UP, RANGE], UP),  # the leader ranges, a majority sets the trend
        (RANGE, [DOWN, DOWN, DOWN, UP], DOWN),
        (RANGE, [UP, DOWN, RANGE], RANGE),
        (DOWN, [], DOWN),  # no breadth: the leader alone
    ],
)
def test_the_market_follows_the_leader_unless_breadth_is_decisive(
    leader: str, others: list[str], expected: str
) -> None:
    market = combine_market(
        _regime("BTC/USDT", leader), [_regime(f"S{i}/USDT", t) for i, t in enumerate(others)]
    )
    assert isinstance(market, MarketRegime)
    assert market.trend == expected
    assert market.leader_trend == leader
    assert market.breadth_symbols == len(others)
    if others:
        assert market.breadth_up == pytest.approx(others.count(UP) / len(others))
    else:
        assert math.isnan(market.breadth_up)


def test_market_regime_from_candles_is_btc_led_with_breadth() -> None:
    candles = {
        "BTC/USDT": candles_from_close(walk(300, 0.002, seed=1), "BTC/USDT"),
        "ETH/USDT": candles_from_close(walk(300, 0.002, seed=2), "ETH/USDT"),
        "SOL/USDT": candles_from_close(walk(300, -0.002, seed=3), "SOL/USDT"),
        "NEW/USDT": candles_from_close(walk(20, 0.0, seed=4), "NEW/USDT"),  # too young
    }
    market = market_regime(candles)
    assert market.symbol == "BTC/USDT"
    assert market.trend == UP
    assert market.breadth_symbols == 2  # NEW/USDT has no regime and is not counted
    assert market.breadth_up == pytest.approx(0.5)
    assert market.breadth_down == pytest.approx(0.5)
    assert market.as_dict()["breadth_up"] == pytest.approx(0.5)
    with pytest.raises(InvalidInputError, match="led by BTC/USDT"):
        market_regime({"ETH/USDT": candles["ETH/USDT"]})


def test_as_dict_is_strict_json() -> None:
    regime = symbol_regime(candles_from_close(walk(200, 0.001)))
    data = regime.as_dict()
    assert data["trend"] in (UP, DOWN, RANGE)
    assert set(data) >= {
        "symbol",
        "trend",
        "ema_slope",
        "adx",
        "volatility_percentile",
        "volatility",
        "ts_ms",
    }
    market = combine_market(regime, [])
    assert market.as_dict()["breadth_up"] is None  # NaN becomes null

"""Every built-in: causal, validated parameters, cache keys shared, and the signals they name."""

from __future__ import annotations

import numpy as np
import pytest
import talib

from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError
from xraybot.strategy.base import FeatureCache, Strategy
from xraybot.strategy.guard import compute_signals
from xraybot.strategy.registry import builtin_names, load_strategy

SHORT_CAPABLE = {"ema_cross", "bollinger_breakout", "macd_trend", "ichimoku_trend", "ensemble"}
# Non-default parameters too: a leak can hide behind one setting.
VARIANTS: dict[str, list[dict[str, object]]] = {
    "rsi_reversion": [{}, {"rsi_period": 5, "entry_level": 40.0}],
    "ema_cross": [{}, {"fast_period": 5, "slow_period": 50}],
    "bollinger_breakout": [{}, {"period": 50, "nbdev": 1.5}],
    "macd_trend": [{}, {"fast_period": 5, "slow_period": 35, "zero_filter": True}],
    "ichimoku_trend": [{}, {"tenkan": 7, "kijun": 22, "senkou_b": 44, "displacement": 22}],
    "ensemble": [{}, {"members": "rsi_reversion:2,ichimoku_trend:1", "memory": 1}],
}


def cases() -> list[tuple[str, dict[str, object]]]:
    return [(name, overrides) for name in builtin_names() for overrides in VARIANTS[name]]


@pytest.mark.parametrize(("name", "overrides"), cases())
def test_signals_are_causal(btc: Candles, name: str, overrides: dict[str, object]) -> None:
    strategy = load_strategy(name)
    params = strategy.resolve(overrides)
    full = compute_signals(strategy, btc, params)
    rng = np.random.default_rng(7)
    cuts = sorted({*rng.integers(1, len(btc), 40).tolist(), 1, 2, 60, 500, len(btc) - 1})
    for t in cuts:
        head = compute_signals(strategy, btc.between(None, int(btc.ts_ms[t]) + 1), params)
        assert len(head) == t + 1
        for key, values in full.arrays().items():
            assert head.arrays()[key][t] == values[t] or (
                np.isnan(values[t]) and np.isnan(head.arrays()[key][t])
            ), f"{name} {key}[{t}] changes when later candles are removed"
        for key, values in full.features.items():
            np.testing.assert_array_equal(head.features[key], values[: t + 1], err_msg=key)


@pytest.mark.parametrize("name", builtin_names())
def test_defaults_give_trades_on_both_sides(btc: Candles, name: str) -> None:
    strategy = load_strategy(name)
    signals = compute_signals(strategy, btc, strategy.resolve())
    assert signals.entry_long.sum() >= 20
    assert signals.exit_long.sum() >= 20
    assert signals.has_short == (name in SHORT_CAPABLE)
    if signals.entry_short is not None:
        assert signals.entry_short.sum() >= 20
    warmup = strategy.warmup(strategy.resolve())
    assert 0 < warmup < len(btc) // 4
    # Nothing fires before the indicators exist.
    first_feature = min(int(np.argmax(~np.isnan(v))) for v in signals.features.values())
    assert not signals.entry_long[:first_feature].any()


@pytest.mark.parametrize("name", builtin_names())
def test_every_parameter_refuses_out_of_range_values(name: str) -> None:
    strategy = load_strategy(name)
    for param in strategy.parameters:
        if param.low is not None and param.high is not None:
            below = param.low - (1 if param.kind == "int" else 0.001)
            with pytest.raises(InvalidInputError, match=rf"'{param.name}'.*must lie in"):
                strategy.resolve({param.name: type(param.default)(below)})
        with pytest.raises(InvalidInputError, match=rf"'{param.name}'"):
            strategy.resolve({param.name: [1]})


@pytest.mark.parametrize(
    ("name", "overrides", "pattern"),
    [
        ("ema_cross", {"fast_period": 30, "slow_period": 20}, "fast_period must be below"),
        ("macd_trend", {"fast_period": 26, "slow_period": 26}, "fast_period must be below"),
        ("ichimoku_trend", {"tenkan": 30, "kijun": 20}, "tenkan must be below kijun"),
        ("ensemble", {"members": "ema_cross:0"}, "weight must be a positive number"),
    ],
)
def test_parameters_that_do_not_fit_together_are_refused(
    name: str, overrides: dict[str, object], pattern: str
) -> None:
    with pytest.raises(InvalidInputError, match=pattern):
        load_strategy(name).resolve(overrides)


def crossings(fast: np.ndarray, slow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    up = np.zeros(fast.shape[0], dtype=bool)
    down = np.zeros(fast.shape[0], dtype=bool)
    for t in range(1, fast.shape[0]):
        up[t] = fast[t - 1] <= slow[t - 1] and fast[t] > slow[t]
        down[t] = fast[t - 1] >= slow[t - 1] and fast[t] < slow[t]
    return up, down


def test_ema_cross_fires_on_crossing_candles_only(btc: Candles) -> None:
    strategy = load_strategy("ema_cross")
    signals = compute_signals(strategy, btc, strategy.resolve())
    close = btc.close.copy()
    up, down = crossings(talib.EMA(close, 12), talib.EMA(close, 26))
    np.testing.assert_array_equal(signals.entry_long, up)
    np.testing.assert_array_equal(signals.exit_long, down)
    np.testing.assert_array_equal(signals.entry_short, down)
    assert not (signals.entry_long[1:] & signals.entry_long[:-1]).any()


def test_macd_trend_matches_talib_and_filters_by_zero_line(btc: Candles) -> None:
    strategy = load_strategy("macd_trend")
    close = btc.close.copy()
    line, signal, _ = talib.MACD(close, 12, 26, 9)
    up, down = crossings(line, signal)
    plain = compute_signals(strategy, btc, strategy.resolve())
    np.testing.assert_array_equal(plain.entry_long, up)
    np.testing.assert_array_equal(plain.exit_long, down)
    filtered = compute_signals(strategy, btc, strategy.resolve({"zero_filter": True}))
    np.testing.assert_array_equal(filtered.entry_long, up & (line > 0))
    np.testing.assert_array_equal(filtered.entry_short, down & (line < 0))
    assert 0 < filtered.entry_long.sum() < plain.entry_long.sum()


def test_bollinger_breakout_matches_talib_bands(btc: Candles) -> None:
    strategy = load_strategy("bollinger_breakout")
    close = btc.close.copy()
    upper, middle, lower = talib.BBANDS(close, 20, 2.0, 2.0)
    signals = compute_signals(strategy, btc, strategy.resolve())
    np.testing.assert_array_equal(signals.entry_long, crossings(close, upper)[0])
    np.testing.assert_array_equal(signals.exit_long, crossings(close, middle)[1])
    np.testing.assert_array_equal(signals.entry_short, crossings(close, lower)[1])


def test_ichimoku_trend_enters_when_trend_is_confirmed(btc: Candles) -> None:
    strategy = load_strategy("ichimoku_trend")
    signals = compute_signals(strategy, btc, strategy.resolve())
    f = signals.features
    close = btc.close
    for t in np.flatnonzero(signals.entry_long):
        assert f["tenkan"][t] > f["kijun"][t]
        assert close[t] > f["cloud_top"][t]
        assert not (f["tenkan"][t - 1] > f["kijun"][t - 1] and close[t - 1] > f["cloud_top"][t - 1])
    # The cloud under candle t was computed 26 candles earlier: a midpoint of older highs/lows.
    at = 1000
    span_b = (
        btc.high[at - 26 - 51 : at - 26 + 1].max() + btc.low[at - 26 - 51 : at - 26 + 1].min()
    ) / 2
    assert span_b in (f["cloud_top"][at], f["cloud_bottom"][at])


@pytest.mark.parametrize("name", builtin_names())
def test_a_sweep_shares_features_through_the_cache(btc: Candles, name: str) -> None:
    strategy: Strategy = load_strategy(name)
    cache = FeatureCache()
    first = compute_signals(strategy, btc, strategy.resolve(), cache)
    computed = cache.misses
    assert computed >= 1
    again = compute_signals(strategy, btc, strategy.resolve(), cache)
    assert cache.misses == computed
    np.testing.assert_array_equal(first.entry_long, again.entry_long)

"""The TA-Lib wrappers give TA-Lib's numbers bit for bit and refuse bad input clearly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import talib

from tests.indicators.series import real_candles
from xraybot import indicators as ind
from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError

Outputs = tuple[np.ndarray, ...]


def _ours(
    fn: Callable[..., Any], columns: tuple[str, ...], **params: Any
) -> Callable[[Candles], Outputs]:
    def run(c: Candles) -> Outputs:
        result = fn(*(getattr(c, name) for name in columns), **params)
        if isinstance(result, np.ndarray):
            return (result,)
        return tuple(getattr(result, f) for f in result.__dataclass_fields__)

    return run


def _theirs(name: str, columns: tuple[str, ...], **params: Any) -> Callable[[Candles], Outputs]:
    def run(c: Candles) -> Outputs:
        result = getattr(talib, name)(*(getattr(c, col) for col in columns), **params)
        return result if isinstance(result, tuple) else (result,)

    return run


C = ("close",)
HLC = ("high", "low", "close")
# (our function, TA-Lib function, input columns, parameters): defaults and one non-default set.
CASES = [
    (ind.sma, "SMA", C, {}),
    (ind.sma, "SMA", C, {"timeperiod": 1}),
    (ind.ema, "EMA", C, {}),
    (ind.ema, "EMA", C, {"timeperiod": 9}),
    (ind.rsi, "RSI", C, {}),
    (ind.rsi, "RSI", C, {"timeperiod": 2}),
    (ind.macd, "MACD", C, {}),
    (ind.macd, "MACD", C, {"fastperiod": 5, "slowperiod": 35, "signalperiod": 5}),
    (ind.bollinger, "BBANDS", C, {}),
    (ind.bollinger, "BBANDS", C, {"timeperiod": 10, "nbdevup": 1.5, "nbdevdn": 2.5, "matype": 1}),
    (ind.atr, "ATR", HLC, {}),
    (ind.atr, "ATR", HLC, {"timeperiod": 1}),
    (ind.natr, "NATR", HLC, {}),
    (ind.natr, "NATR", HLC, {"timeperiod": 7}),
    (ind.adx, "ADX", HLC, {}),
    (ind.adx, "ADX", HLC, {"timeperiod": 30}),
    (ind.stochastic, "STOCH", HLC, {}),
    (
        ind.stochastic,
        "STOCH",
        HLC,
        {"fastk_period": 14, "slowk_period": 1, "slowk_matype": 1, "slowd_period": 5},
    ),
    (ind.obv, "OBV", ("close", "volume"), {}),
    (ind.mfi, "MFI", ("high", "low", "close", "volume"), {}),
    (ind.mfi, "MFI", ("high", "low", "close", "volume"), {"timeperiod": 5}),
    (ind.cci, "CCI", HLC, {}),
    (ind.cci, "CCI", HLC, {"timeperiod": 20}),
]


@pytest.mark.parametrize(
    ("fn", "name", "columns", "params"),
    CASES,
    ids=[f"{name}-{params or 'defaults'}" for _, name, _, params in CASES],
)
def test_wrapper_equals_talib_on_real_candles(
    fn: Callable[..., Any], name: str, columns: tuple[str, ...], params: dict[str, Any]
) -> None:
    candles = real_candles()
    ours = _ours(fn, columns, **params)(candles)
    theirs = _theirs(name, columns, **params)(candles)
    assert len(ours) == len(theirs)
    for mine, reference in zip(ours, theirs, strict=True):
        assert mine.dtype == np.float64
        assert mine.shape == (len(candles),)
        np.testing.assert_array_equal(mine, reference)
        assert np.isfinite(mine[-1])


def test_multi_output_fields_are_in_talib_order() -> None:
    c = real_candles().close
    m = ind.macd(c)
    _, signal, hist = talib.MACD(c)
    np.testing.assert_array_equal(m.signal, signal)
    np.testing.assert_array_equal(m.hist, hist)
    b = ind.bollinger(c)
    upper, _, lower = talib.BBANDS(c)
    np.testing.assert_array_equal(b.upper, upper)
    np.testing.assert_array_equal(b.lower, lower)
    assert np.all(b.upper[19:] >= b.middle[19:])


def test_defaults_are_talibs() -> None:
    c = real_candles()
    np.testing.assert_array_equal(ind.sma(c.close), talib.SMA(c.close, timeperiod=30))
    np.testing.assert_array_equal(ind.ema(c.close), talib.EMA(c.close, timeperiod=30))
    np.testing.assert_array_equal(ind.rsi(c.close), talib.RSI(c.close, timeperiod=14))
    assert np.isnan(ind.rsi(c.close)[13])
    assert not np.isnan(ind.rsi(c.close)[14])


def test_leading_nan_is_a_warm_up_so_indicators_chain() -> None:
    close = real_candles().close
    smoothed = ind.ema(close, timeperiod=10)
    np.testing.assert_array_equal(ind.rsi(smoothed), talib.RSI(talib.EMA(close, 10)))


def test_read_only_candle_columns_are_accepted() -> None:
    candles = real_candles()
    assert not candles.close.flags.writeable
    assert ind.atr(candles.high, candles.low, candles.close).shape == (len(candles),)


def test_inputs_shorter_than_the_warm_up_give_all_nan() -> None:
    close = real_candles().close[:5]
    assert np.isnan(ind.sma(close, timeperiod=30)).all()
    assert ind.rsi(close[:0]).shape == (0,)


CLOSE = np.linspace(1.0, 2.0, 50)
BAD_CALLS: list[tuple[Callable[[], object], str]] = [
    (lambda: ind.rsi([1.0, 2.0]), r"close must be a 1-D numpy float64 array; found list"),  # type: ignore[arg-type]
    (lambda: ind.rsi(CLOSE.astype(np.float32)), r"close must be a numpy float64 .* float32"),
    (lambda: ind.sma(CLOSE.reshape(5, 10)), r"close must be 1-D; found shape \(5, 10\)"),
    (lambda: ind.ema(np.array([np.nan, 1.0, np.nan, 2.0])), r"found nan at index 2"),
    (lambda: ind.ema(np.array([1.0, np.inf])), r"close must be finite .* found inf at index 1"),
    (lambda: ind.sma(CLOSE, timeperiod=0), r"timeperiod must be an integer from 1 .* found 0"),
    (lambda: ind.sma(CLOSE, timeperiod=True), r"timeperiod must be an integer .* found True"),
    (lambda: ind.sma(CLOSE, timeperiod=2.5), r"timeperiod must be an integer .* found 2.5"),  # type: ignore[arg-type]
    (lambda: ind.ema(CLOSE, timeperiod=100_001), r"to 100000; found 100001"),
    (lambda: ind.rsi(CLOSE, timeperiod=1), r"from 2 \(TA-Lib refuses less\) .* found 1"),
    (lambda: ind.macd(CLOSE, fastperiod=26, slowperiod=12), r"fastperiod must be < slowperiod"),
    (lambda: ind.macd(CLOSE, signalperiod=0), r"signalperiod must be an integer from 1"),
    (lambda: ind.bollinger(CLOSE, nbdevup=-1.0), r"nbdevup must be finite and >= 0.0; found -1"),
    (lambda: ind.bollinger(CLOSE, nbdevdn=float("nan")), r"nbdevdn must be finite"),
    (lambda: ind.bollinger(CLOSE, matype=9), r"matype must be a TA-Lib MA type 0..8 .* found 9"),
    (lambda: ind.stochastic(CLOSE, CLOSE, CLOSE, slowd_matype=-1), r"slowd_matype must be"),
    (lambda: ind.atr(CLOSE, CLOSE[:-1], CLOSE), r"same length; found high=50, low=49, close=50"),
    (lambda: ind.adx(CLOSE, CLOSE, CLOSE, timeperiod=1), r"timeperiod must be an integer from 2"),
    (lambda: ind.obv(CLOSE, -CLOSE), r"volume must be >= 0; found -1.0 at index 0"),
    (lambda: ind.mfi(CLOSE, CLOSE, CLOSE, CLOSE, timeperiod=1), r"from 2"),
    (lambda: ind.cci(CLOSE, CLOSE, CLOSE, timeperiod=1), r"from 2"),
    (lambda: ind.natr(CLOSE, CLOSE, "close"), r"close must be a 1-D .* found str"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("call", "message"), BAD_CALLS, ids=[m.split()[0] for _, m in BAD_CALLS])
def test_bad_input_names_the_argument_and_value(call: Callable[[], object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        call()


def test_numpy_integer_periods_are_accepted() -> None:
    five = np.int64(5)
    np.testing.assert_array_equal(ind.sma(CLOSE, five), ind.sma(CLOSE, 5))  # type: ignore[arg-type]

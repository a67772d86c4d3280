from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest

from tests.strategy.conftest import synthetic
from xraybot.model.candles import Candles
from xraybot.model.errors import StrategyError
from xraybot.strategy.base import FeatureCache, Params, Signals, Strategy
from xraybot.strategy.guard import compute_signals


class Scripted(Strategy):
    """Returns whatever the test hands it, or raises."""

    name: ClassVar[str] = "scripted"

    def __init__(self, make: object) -> None:
        self.make = make

    def signals(
        self, candles: Candles, params: Params, cache: FeatureCache | None = None
    ) -> Signals:
        assert callable(self.make)
        result = self.make(len(candles))
        assert isinstance(result, Signals)
        return result


CANDLES = synthetic(np.linspace(100.0, 110.0, 20), symbol="SOL/USDT")


def run(make: object) -> Signals:
    return compute_signals(Scripted(make), CANDLES, {})


def flags(n: int) -> np.ndarray:
    return np.zeros(n, dtype=np.bool_)


def test_well_formed_signals_pass_through_unchanged() -> None:
    made: list[Signals] = []

    def make(n: int) -> Signals:
        made.append(Signals(flags(n), flags(n), flags(n), flags(n), np.full(n, 0.5)))
        return made[0]

    assert run(make) is made[0]


def test_exception_becomes_strategy_error_naming_strategy_symbol_and_cause() -> None:
    def make(n: int) -> Signals:
        raise ZeroDivisionError("division by zero")

    with pytest.raises(StrategyError) as info:
        run(make)
    message = str(info.value)
    assert "'scripted'" in message
    assert "SOL/USDT" in message
    assert "ZeroDivisionError: division by zero" in message
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_wrong_length_is_refused_with_both_lengths() -> None:
    with pytest.raises(
        StrategyError, match=r"entry_long must be 1-D .*\(20\); found shape \(19,\)"
    ):
        run(lambda n: Signals(flags(n - 1), flags(n)))
    with pytest.raises(StrategyError, match=r"exit_long .*found shape \(20, 1\)"):
        run(lambda n: Signals(flags(n), flags(n).reshape(n, 1)))


def test_float_flags_are_refused_but_zero_one_integers_are_converted() -> None:
    with pytest.raises(StrategyError, match="entry_long must be a bool array; found dtype float64"):
        run(lambda n: Signals(np.zeros(n), flags(n)))  # type: ignore[arg-type]
    with pytest.raises(StrategyError, match="found the integer 2"):
        run(lambda n: Signals(np.full(n, 2), flags(n)))
    ints = np.zeros(20, dtype=np.int64)
    ints[3] = 1
    got = run(lambda n: Signals(ints, flags(n)))  # type: ignore[arg-type]
    assert got.entry_long.dtype == np.bool_
    assert np.flatnonzero(got.entry_long).tolist() == [3]


def test_strength_outside_unit_interval_is_refused_nan_allowed() -> None:
    strength = np.full(20, np.nan)
    strength[5:] = 0.25
    assert run(lambda n: Signals(flags(n), flags(n), strength=strength)).strength is strength
    strength2 = strength.copy()
    strength2[7] = 1.5
    with pytest.raises(StrategyError, match=r"strength must lie in \[0, 1\].*1.5 at index 7"):
        run(lambda n: Signals(flags(n), flags(n), strength=strength2))


def test_half_a_short_pair_is_refused() -> None:
    with pytest.raises(StrategyError, match="entry_short is set but exit_short is None"):
        run(lambda n: Signals(flags(n), flags(n), entry_short=flags(n)))
    with pytest.raises(StrategyError, match="exit_short is set but entry_short is None"):
        run(lambda n: Signals(flags(n), flags(n), exit_short=flags(n)))


def test_features_must_align_and_be_numeric() -> None:
    with pytest.raises(StrategyError, match=r"feature 'rsi' must be 1-D"):
        run(lambda n: Signals(flags(n), flags(n), features={"rsi": np.zeros(n + 1)}))
    got = run(lambda n: Signals(flags(n), flags(n), features={"k": np.arange(n)}))  # type: ignore[dict-item]
    assert got.features["k"].dtype == np.float64


def test_non_signals_result_is_refused() -> None:
    class ReturnsTuple(Strategy):
        name: ClassVar[str] = "tuple_maker"

        def signals(
            self, candles: Candles, params: Params, cache: FeatureCache | None = None
        ) -> Signals:
            return (candles.close > 0, candles.close < 0)  # type: ignore[return-value]

    with pytest.raises(StrategyError, match=r"'tuple_maker' on SOL/USDT: .*found tuple"):
        compute_signals(ReturnsTuple(), CANDLES, {})

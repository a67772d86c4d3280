"""Bias checks: planted lookahead and warm-up leaks are caught, clean strategies pass, and the
report says where and by how much."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.backtest import leaky_strategies as leaky
from tests.indicators.series import from_columns, random_walk
from xraybot.backtest.bias import (
    DEFAULT_TOLERANCE,
    check_bias,
    check_lookahead,
    check_warmup,
    default_offsets,
    lookahead_points,
)
from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError, StrategyError
from xraybot.strategy.base import FeatureCache, Params, Signals, Strategy

ROWS = 4000


@cache
def walk() -> Candles:
    return random_walk(ROWS, seed=11)


def tick_candles(rows: int = 3000) -> Candles:
    """Prices on a 0.1 tick grid: a close often equals a short average in exact arithmetic."""
    rng = np.random.default_rng(3)
    close = (5000 + np.cumsum(rng.integers(-2, 3, rows))) * 0.1
    ts = 1_700_000_000_000 + 3_600_000 * np.arange(rows, dtype=np.int64)
    return from_columns(ts, close, close * 1.001, close * 0.999, close, np.ones(rows))


# -- lookahead ------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", leaky.LEAKS_LOOKAHEAD, ids=lambda c: c.name)
def test_lookahead_leaks_are_caught(cls: type[Strategy]) -> None:
    report = check_bias(cls(), walk())
    assert not report.passed
    assert not report.lookahead.passed
    assert report.lookahead.failing
    assert report.to_dict()["lookahead"]["passed"] is False


def test_peeking_one_candle_ahead_is_reported_where_it_shows() -> None:
    strategy, candles = leaky.PeekAhead(), walk()
    full = strategy.signals(candles, {})
    report = check_lookahead(strategy, candles, {}, max_points=120)
    by_name = {a.name: a for a in report.arrays}
    entry = by_name["entry_long"]
    assert entry.kind == "decision"
    assert 0 < entry.differing <= entry.checked == report.points == 120
    assert 0 < len(entry.first_indices) <= 10
    assert list(entry.first_indices) == sorted(entry.first_indices)
    for t in entry.first_indices:
        cut = strategy.signals(candles.between(None, int(candles.ts_ms[t]) + 1), {})
        assert cut.entry_long[t] != full.entry_long[t]
    # The looked-ahead close differs at every cut; only the decisions that depend on it flip.
    assert by_name["features.next_close"].differing == report.points
    assert by_name["features.next_close"].max_deviation > 0.0


def test_shift_minus_one_shows_as_nan_against_a_number() -> None:
    report = check_lookahead(leaky.PeekAheadShift(), walk(), {}, max_points=60)
    change = next(a for a in report.arrays if a.name == "features.next_change")
    assert change.nan_mismatches == change.differing == 60


def test_a_leak_in_the_features_alone_fails_while_decisions_pass() -> None:
    report = check_lookahead(leaky.LeakyFeatureOnly(), walk(), {}, max_points=80)
    failing = {a.name for a in report.failing}
    assert failing == {"features.scaled_close"}
    assert "scaled_close" in report.describe()


def test_signal_candles_are_checked_first_within_the_budget() -> None:
    signal = np.zeros(1000, dtype=np.bool_)
    signal[100:110] = True  # one onset, nine held
    signal[500] = True  # another onset
    onset = signal & ~np.concatenate(([False], signal[:-1]))
    points, signalling = lookahead_points(signal, onset, start=50, max_points=40)
    assert signalling == 11
    assert set(np.flatnonzero(signal)) <= set(points.tolist())
    assert points.size == 40
    assert points.min() == 50  # quiet candles from the warm-up on
    assert 999 not in points  # cutting after the last candle changes nothing
    tight, signalling = lookahead_points(signal, onset, start=0, max_points=4)
    assert signalling == 3  # a quarter kept for quiet candles; onsets before held candles
    assert {100, 500} <= set(tight.tolist())


def test_every_signal_is_checked_when_the_budget_allows() -> None:
    strategy, candles = leaky.CleanSmaCross(), walk().tail(600)
    report = check_lookahead(strategy, candles, strategy.defaults(), max_points=10_000)
    assert report.passed
    assert report.signal_points_checked == report.signal_points
    # Every candle but the last, except quiet ones inside the warm-up (SMA still NaN).
    assert report.points == len(candles) - 1 - strategy.warmup(strategy.defaults())
    assert "no lookahead" in report.describe()


# -- recursive / warm-up --------------------------------------------------------------------


def test_an_ema_with_a_short_declared_warmup_is_caught_and_the_fix_suggested() -> None:
    strategy, candles = leaky.ShortWarmupEma(), walk()
    report = check_bias(strategy, candles)
    assert report.lookahead.passed
    warm = report.warmup
    assert not warm.passed
    assert warm.declared == 5
    suggested = warm.suggested_warmup
    assert suggested is not None
    assert 200 < suggested < 3000  # EMA(200): NaN for 199 candles, then its seed decays
    ema = next(a for a in warm.arrays if a.name == "features.ema")
    assert ema.nan_mismatches > 0
    assert ema.max_deviation > DEFAULT_TOLERANCE
    assert ema.first_indices[0] >= min(warm.offsets) + warm.declared  # only after the warm-up
    assert f"a warm-up of {suggested} would pass" in warm.describe()

    needed: int = suggested

    class Declared(leaky.ShortWarmupEma):
        def warmup(self, params: Params) -> int:
            return needed

    assert check_warmup(Declared(), candles, Declared.defaults(), offsets=warm.offsets).passed


def test_an_expanding_mean_needs_all_history() -> None:
    report = check_bias(leaky.ExpandingMean(), walk())
    assert report.lookahead.passed
    assert not report.warmup.passed
    assert report.warmup.suggested_warmup is None
    mean = next(a for a in report.warmup.arrays if a.name == "features.expanding_mean")
    assert mean.stable_after is None
    assert "no warm-up suffices" in report.warmup.describe()
    assert report.to_dict()["recursive"]["suggested_warmup"] is None


def test_differences_before_the_declared_warmup_are_not_failures() -> None:
    strategy = leaky.CleanSmaCross()
    report = check_warmup(strategy, walk(), strategy.defaults(), offsets=[1, 7, 333])
    assert report.passed
    slow = next(a for a in report.arrays if a.name == "features.slow")
    assert slow.stable_after == 29  # NaN for the first 29 candles of a shortened run
    assert report.suggested_warmup is not None
    assert report.suggested_warmup <= report.declared == 29
    assert report.offsets == (1, 7, 333)


def test_a_looser_tolerance_needs_a_shorter_warmup() -> None:
    strategy = leaky.CleanLongShort()
    strict = check_warmup(strategy, walk(), strategy.defaults(), tolerance=1e-9)
    loose = check_warmup(strategy, walk(), strategy.defaults(), tolerance=1e-3)
    assert strict.suggested_warmup is not None
    assert loose.suggested_warmup is not None
    assert loose.suggested_warmup < strict.suggested_warmup


def test_decision_flips_at_rounding_ties_are_failures_and_labelled_so() -> None:
    report = check_warmup(leaky.TieProne(), tick_candles(), {})
    assert not report.passed
    flips = [a for a in report.failing if a.kind == "decision"]
    assert flips
    assert all(a.ties == a.differing for a in flips)
    sma = next(a for a in report.arrays if a.name == "features.sma")
    assert sma.passed
    assert sma.max_deviation < 1e-12
    assert report.describe().startswith("decisions flip only at ties")


def test_default_offsets_leave_candles_to_compare() -> None:
    assert default_offsets(10_000, 300) == (1, 1000, 2500)
    assert default_offsets(1000, 800) == (1, 100)
    assert default_offsets(100, 99) == ()


# -- both checks, the report, and refusals --------------------------------------------------


@pytest.mark.parametrize("cls", leaky.CLEAN, ids=lambda c: c.name)
def test_clean_strategies_pass_both_checks(cls: type[Strategy]) -> None:
    report = check_bias(cls(), walk())
    assert report.passed, (report.lookahead.describe(), report.warmup.describe())
    assert report.lookahead.signal_points > 0


def test_the_report_is_json_and_names_what_was_run() -> None:
    report = check_bias(leaky.CleanSmaCross(), walk(), {"fast": 5}, max_points=50)
    data: dict[str, Any] = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["strategy"] == "clean_sma_cross"
    assert data["symbol"] == "BTC/USDT"
    assert data["timeframe"] == "1h"
    assert data["candles"] == ROWS
    assert data["params"] == {"fast": 5, "slow": 30}
    assert data["passed"] is True
    assert data["lookahead"]["points"] == 50
    names = [a["name"] for a in data["lookahead"]["arrays"]]
    assert names == ["entry_long", "exit_long", "features.fast", "features.slow"]
    recursive = data["recursive"]
    assert recursive["declared_warmup"] == 29
    assert recursive["offsets"] == [1, 400, 1000]
    assert {"stable_after", "ties", "first_indices", "max_deviation"} <= set(recursive["arrays"][0])


def test_progress_counts_every_recomputation() -> None:
    calls: list[tuple[int, int]] = []
    check_bias(
        leaky.CleanSmaCross(), walk(), max_points=30, offsets=[1, 50],
        progress=lambda done, total: calls.append((done, total)),
    )  # fmt: skip
    assert calls[-1] == (33, 33)  # the full run, 30 cuts, 2 shortened runs
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_points": 0}, "max_points"),
        ({"offsets": [0]}, "offsets"),
        ({"offsets": []}, "at least one"),
        ({"offsets": [ROWS]}, "warm-up check needs candles"),
        ({"tolerance": float("nan")}, "tolerance"),
        ({"params": {"fast": 1}}, "fast"),
        ({"params": {"nope": 1}}, "no parameter"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        check_bias(leaky.CleanSmaCross(), walk(), **kwargs)


class Raises(Strategy):
    name = "raises_on_short_series"

    def signals(
        self, candles: Candles, params: Params, cache: FeatureCache | None = None
    ) -> Signals:
        if len(candles) < ROWS:
            raise ValueError("needs the whole file")
        return Signals(np.zeros(len(candles), bool), np.zeros(len(candles), bool))


def test_a_strategy_failing_on_a_cut_series_is_a_strategy_error() -> None:
    with pytest.raises(StrategyError, match="raises_on_short_series"):
        check_bias(Raises(), walk())


# -- property: any centered window leaks, any trailing one does not -------------------------


class Rolling(Strategy):
    name = "rolling"

    def __init__(self, window: int, ahead: int) -> None:
        self.window, self.ahead = window, ahead

    def warmup(self, params: Params) -> int:
        return self.window

    def signals(
        self, candles: Candles, params: Params, cache: FeatureCache | None = None
    ) -> Signals:
        close = np.asarray(candles.close)
        kernel = np.ones(self.window) / self.window
        mean = np.full(close.size, np.nan)
        valid = np.convolve(close, kernel, mode="valid")  # mean of close[i : i + window]
        # Placed at the window's last candle minus `ahead`: ahead > 0 reads the future.
        end = np.arange(self.window - 1, close.size) - self.ahead
        keep = end >= 0
        mean[end[keep]] = valid[keep]
        with np.errstate(invalid="ignore"):
            return Signals(close > mean, close < mean, features={"mean": mean})


@settings(max_examples=20, deadline=None)
@given(window=st.integers(2, 60), ahead=st.integers(0, 5))
def test_a_window_reaching_ahead_is_caught_and_a_trailing_one_passes(
    window: int, ahead: int
) -> None:
    candles = walk().tail(800)
    report = check_bias(Rolling(window, ahead), candles, max_points=60)
    assert report.lookahead.passed == (ahead == 0)
    if ahead == 0:
        assert report.warmup.passed

"""Metrics against hand-computed figures on tiny curves, edge cases and JSON safety."""

from __future__ import annotations

import json
import math
import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xraybot.backtest.metrics import (
    Metrics,
    aggregate_metrics,
    buy_and_hold,
    compute_metrics,
    metrics_from_arrays,
)
from xraybot.backtest.results import BacktestResult, BacktestSettings, TradeRecords
from xraybot.matching.rules import EXIT_SIGNAL
from xraybot.model.errors import InvalidInputError

H = 3_600_000
D = 86_400_000


def trades_from(
    pnl: list[float],
    *,
    entry_ts: list[int] | None = None,
    exit_ts: list[int] | None = None,
    notional: float = 1000.0,
    fee: float = 1.0,
) -> TradeRecords:
    n = len(pnl)
    entries = np.array(entry_ts if entry_ts is not None else [i * H for i in range(n)], np.int64)
    exits = np.array(exit_ts if exit_ts is not None else [(i + 1) * H for i in range(n)], np.int64)
    index = np.arange(n, dtype=np.int64)
    return TradeRecords(
        entry_ts=entries,
        exit_ts=exits,
        direction=np.ones(n, np.int8),
        entry_price=np.full(n, 100.0),
        exit_price=np.full(n, 100.0),
        amount=np.full(n, notional / 100.0),
        fee=np.full(n, fee),
        funding=np.zeros(n),
        pnl=np.array(pnl, np.float64),
        exit_reason=np.full(n, EXIT_SIGNAL, np.int8),
        entry_index=index,
        exit_index=index,
    )


def metrics(
    equity: list[float],
    *,
    initial: float = 100.0,
    timeframe_ms: int = H,
    trades: TradeRecords | None = None,
    close: list[float] | None = None,
    exposure: list[float] | None = None,
) -> Metrics:
    n = len(equity)
    return metrics_from_arrays(
        np.arange(n, dtype=np.int64) * timeframe_ms,
        np.array(equity, np.float64),
        np.array(exposure if exposure is not None else [0.0] * n, np.float64),
        trades if trades is not None else TradeRecords.empty(),
        np.array(close if close is not None else [], np.float64),
        timeframe_ms,
        initial,
    )


def test_drawdown_depth_and_duration_are_measured_separately() -> None:
    # Timeline: 100 @0h, 110 @1h, 99 @2h, 105 @3h, 110 @4h (recovered), 120 @5h, 90 @6h.
    m = metrics([110, 99, 105, 110, 120, 90])
    assert m.max_drawdown == pytest.approx(0.25)  # 120 -> 90, the deepest
    assert m.max_drawdown_duration_ms == 3 * H  # 110 @1h back to 110 @4h, the longest
    assert m.total_return == pytest.approx(-0.10)
    assert m.start_ms == 0
    assert m.end_ms == 6 * H


def test_a_drawdown_never_recovered_lasts_to_the_end() -> None:
    # 100 @0h, 100 @1h (still at the peak), then under water until the end at 5h.
    m = metrics([100, 90, 95, 95, 95])
    assert m.max_drawdown == pytest.approx(0.10)
    assert m.max_drawdown_duration_ms == 4 * H


def test_sharpe_sortino_and_volatility_of_a_known_series() -> None:
    returns = [0.01, -0.005, 0.02, 0.0]
    equity = list(100.0 * np.cumprod(1 + np.array(returns)))
    m = metrics(equity, timeframe_ms=D)
    mean, stdev = statistics.mean(returns), statistics.stdev(returns)
    assert m.sharpe == pytest.approx(mean / stdev * math.sqrt(365))
    assert m.volatility == pytest.approx(stdev * math.sqrt(365))
    # Downside deviation sqrt(mean(min(r, 0)^2)) = sqrt(0.005^2 / 4) = 0.0025.
    assert m.sortino == pytest.approx(0.00625 / 0.0025 * math.sqrt(365))


def test_cagr_and_calmar_over_one_year_of_daily_candles() -> None:
    equity = [100.0] * 364 + [110.0]
    equity[100] = 95.0
    m = metrics(equity, timeframe_ms=D)
    assert m.cagr == pytest.approx(0.10)
    assert m.max_drawdown == pytest.approx(0.05)
    assert m.calmar == pytest.approx(2.0)
    two_years = metrics([100.0] * 729 + [121.0], timeframe_ms=D)
    assert two_years.cagr == pytest.approx(0.10)


def test_trade_statistics_by_hand() -> None:
    trades = trades_from(
        [10, -5, 20, -5, 0], entry_ts=[0, 0, 0, 0, 0], exit_ts=[H, 2 * H, 3 * H, 4 * H, 5 * H]
    )
    m = metrics([100.0] * 48, trades=trades)  # two days of 1h candles
    assert (m.trades, m.wins, m.losses) == (5, 2, 2)
    assert m.win_rate == pytest.approx(0.4)
    assert m.gross_profit == pytest.approx(30)
    assert m.gross_loss == pytest.approx(10)
    assert m.profit_factor == pytest.approx(3.0)
    assert m.expectancy == pytest.approx(4.0)
    assert m.expectancy_pct == pytest.approx(0.004)  # of a 1,000 notional
    assert m.avg_win == pytest.approx(15)
    assert m.avg_loss == pytest.approx(-5)
    assert m.fees == pytest.approx(5.0)
    assert m.avg_trade_duration_ms == pytest.approx(3 * H)
    assert m.trades_per_day == pytest.approx(2.5)


def test_exposure_counts_candles_in_a_position_long_or_short() -> None:
    m = metrics([100.0] * 4, exposure=[0.0, 1.0, -0.5, 0.0])
    assert m.exposure == pytest.approx(0.5)
    assert m.mean_exposure == pytest.approx(0.375)


def test_buy_and_hold_over_the_same_candles() -> None:
    close = [100.0, 120.0, 90.0, 110.0]
    m = metrics([100.0, 101.0, 102.0, 103.0], close=close)
    assert m.buy_and_hold_return == pytest.approx(0.10)
    assert m.buy_and_hold_max_drawdown == pytest.approx(0.25)
    returns = [0.0, 0.2, -0.25, 110 / 90 - 1]  # bought at the first close: first return 0
    expected = statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(8760)
    assert m.buy_and_hold_sharpe == pytest.approx(expected)
    assert m.excess_return == pytest.approx(0.03 - 0.10)
    assert m.buy_and_hold_cagr == pytest.approx(1.1 ** (8760 / 4) - 1, rel=1e-9)
    given_once = metrics_from_arrays(
        np.arange(4, dtype=np.int64) * H,
        np.array([100.0, 101.0, 102.0, 103.0]),
        np.zeros(4),
        TradeRecords.empty(),
        np.empty(0),
        H,
        100.0,
        benchmark=buy_and_hold(close, H),
    )
    assert given_once == m


def test_without_closes_buy_and_hold_is_missing() -> None:
    m = metrics([100.0, 101.0])
    assert math.isnan(m.buy_and_hold_return)
    assert math.isnan(m.excess_return)
    assert m.to_dict()["buy_and_hold_return"] is None


def test_flat_equity_without_trades_is_neutral_and_json_safe() -> None:
    m = metrics([100.0] * 10, close=[5.0] * 10)
    assert (m.sharpe, m.sortino, m.calmar, m.volatility) == (0.0, 0.0, 0.0, 0.0)
    assert (m.max_drawdown, m.max_drawdown_duration_ms, m.total_return, m.cagr) == (0, 0, 0, 0)
    assert m.trades == 0
    assert m.trades_per_day == 0
    assert m.fees == 0
    assert math.isnan(m.win_rate)
    assert math.isnan(m.profit_factor)
    assert math.isnan(m.expectancy)
    data = m.to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert data["win_rate"] is None
    assert data["profit_factor"] is None
    assert data["sharpe"] == 0.0
    assert data["trades"] == 0


def test_one_candle() -> None:
    m = metrics([101.0], close=[7.0])
    assert m.candles == 1
    assert m.total_return == pytest.approx(0.01)
    assert math.isnan(m.sharpe)
    assert math.isnan(m.sortino)
    assert math.isnan(m.volatility)
    assert m.max_drawdown == 0
    assert m.buy_and_hold_return == 0
    assert json.dumps(m.to_dict(), allow_nan=False)


def test_no_losing_trade_or_candle_gives_infinite_ratios_written_as_null() -> None:
    m = metrics([101.0, 102.0, 104.0], trades=trades_from([1.0, 2.0]))
    assert m.profit_factor == math.inf
    assert m.sortino == math.inf
    assert math.isnan(m.avg_loss)
    data = m.to_dict()
    assert data["profit_factor"] is None
    assert data["sortino"] is None
    json.dumps(data, allow_nan=False)


def test_an_account_wiped_out_stays_at_zero_without_breaking_the_figures() -> None:
    m = metrics([120.0, 0.0, 0.0, 0.0])
    assert m.max_drawdown == pytest.approx(1.0)
    assert m.total_return == pytest.approx(-1.0)
    assert m.cagr == -1.0
    assert math.isfinite(m.sharpe)
    assert m.max_drawdown_duration_ms == 3 * H


def test_bad_input_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="at least one candle"):
        metrics([])
    with pytest.raises(InvalidInputError, match="one value per candle"):
        metrics([100.0, 100.0], exposure=[0.0])
    with pytest.raises(InvalidInputError, match="close must have one value"):
        metrics([100.0, 100.0], close=[1.0])
    with pytest.raises(InvalidInputError, match="finite"):
        metrics([100.0, math.nan])
    with pytest.raises(InvalidInputError, match="initial equity"):
        metrics([100.0], initial=0.0)


def make_result(
    symbol: str, equity: list[float], close: list[float], pnl: list[float], initial: float = 100.0
) -> BacktestResult:
    n = len(equity)
    return BacktestResult(
        exchange="binance",
        symbol=symbol,
        timeframe="1h",
        strategy="test",
        params={},
        settings=BacktestSettings(equity=initial),
        ts_ms=np.arange(n, dtype=np.int64) * H,
        equity=np.array(equity, np.float64),
        exposure=np.zeros(n),
        trades=trades_from(pnl),
        close=np.array(close, np.float64),
    )


def test_compute_metrics_reads_a_result() -> None:
    result = make_result("BTC/USDT", [100.0, 110.0, 105.0], [10.0, 11.0, 12.0], [5.0])
    m = compute_metrics(result)
    assert m == metrics([100.0, 110.0, 105.0], trades=trades_from([5.0]), close=[10.0, 11.0, 12.0])
    assert m.total_return == pytest.approx(0.05)
    assert m.buy_and_hold_return == pytest.approx(0.2)


def test_metrics_round_trip_through_json() -> None:
    m = metrics([101.0, 99.0, 103.0], trades=trades_from([3.0, -1.0]), close=[1.0, 2.0, 3.0])
    back = Metrics.from_dict(json.loads(json.dumps(m.to_dict())))
    assert back.to_dict() == m.to_dict()
    assert isinstance(back.trades, int)
    with pytest.raises(InvalidInputError, match="sharpe"):
        Metrics.from_dict({k: v for k, v in m.to_dict().items() if k != "sharpe"})


def test_aggregate_sums_pools_and_averages() -> None:
    a = make_result("A/USDT", [100.0, 120.0], [1.0, 1.5], [30.0, -10.0])
    b = make_result("B/USDT", [100.0, 90.0, 95.0], [1.0, 1.0, 1.0], [-5.0])
    agg = aggregate_metrics([a, compute_metrics(b)])
    assert agg.symbols == 2
    assert agg.trades == 3
    assert agg.initial_equity == 200
    assert agg.final_equity == pytest.approx(215)
    assert agg.net_profit == pytest.approx(15)
    assert agg.total_return == pytest.approx(0.075)
    assert agg.mean_return == pytest.approx((0.20 - 0.05) / 2)
    assert agg.median_return == pytest.approx(0.075)
    assert agg.positive_share == 0.5
    assert agg.win_rate == pytest.approx(1 / 3)
    assert agg.profit_factor == pytest.approx(30 / 15)
    assert agg.expectancy == pytest.approx(15 / 3)
    assert agg.worst_max_drawdown == pytest.approx(0.10)
    assert agg.mean_buy_and_hold_return == pytest.approx(0.25)
    json.dumps(agg.to_dict(), allow_nan=False)
    with pytest.raises(InvalidInputError, match="at least one"):
        aggregate_metrics([])


def _brute_force_drawdown(curve: list[float]) -> tuple[float, int]:
    """O(n^2) reference: for every point, how deep below the peak and since when."""
    deepest, longest = 0.0, 0
    for j, value in enumerate(curve):
        peak = max(curve[: j + 1])
        deepest = max(deepest, 1 - value / peak)
        if value < peak:
            last_peak = max(i for i in range(j) if curve[i] == peak)
            back = next((k for k in range(j, len(curve)) if curve[k] >= peak), len(curve) - 1)
            longest = max(longest, back - last_peak)
    return deepest, longest


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=8), min_size=1, max_size=30))
def test_drawdown_matches_a_brute_force_reference(levels: list[int]) -> None:
    # Small integer levels make ties (a recovery exactly to the peak) common.
    equity = [float(v) for v in levels]
    m = metrics(equity, initial=4.0)
    deepest, longest = _brute_force_drawdown([4.0, *equity])
    assert m.max_drawdown == pytest.approx(deepest)
    assert m.max_drawdown_duration_ms == longest * H
    assert 0 <= m.max_drawdown < 1
    assert m.total_return == pytest.approx(equity[-1] / 4.0 - 1)

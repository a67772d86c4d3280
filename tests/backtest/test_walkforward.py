"""Walk-forward runs: warm-up before each out-of-sample range, stitching, and real candles."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import replace
from typing import ClassVar

import numpy as np
import pytest

from tests.support.shared import REFERENCE_DIR, needs_reference
from xraybot.backtest.engine import run_backtest
from xraybot.backtest.metrics import compute_metrics
from xraybot.backtest.results import BacktestResult, BacktestSettings
from xraybot.backtest.walkforward import (
    WalkForwardReport,
    oos_backtest,
    stitch,
    walk_forward,
    warmup_candles,
)
from xraybot.backtest.walkforward_stats import annual_log_return
from xraybot.data.import_names import recognise
from xraybot.data.importers import load
from xraybot.data.sample import sample_dir
from xraybot.data.series import load_series
from xraybot.model.candles import Candles
from xraybot.risk.exits import ExitRules
from xraybot.strategy.base import FeatureCache, Param, Params, Signals, Strategy
from xraybot.strategy.guard import compute_signals
from xraybot.strategy.registry import load_strategy

H = 3_600_000
SETTINGS = BacktestSettings(equity=10_000.0, fee_rate=0.001)


def sample(base: str) -> Candles:
    return load(recognise(sample_dir() / "binance" / f"{base}_USDT-1h.csv.gz"))


@pytest.fixture(scope="module")
def btc() -> Candles:
    return sample("BTC")


class AtTimes(Strategy):
    """Enters and exits at given candle times: signals under the test's full control."""

    name: ClassVar[str] = "at_times"
    parameters: ClassVar[tuple[Param, ...]] = (Param("warm", 0, 0, 100, 1),)

    def __init__(self, entries: Sequence[int], exits: Sequence[int] = ()) -> None:
        self.entries = np.array(entries, dtype=np.int64)
        self.exits = np.array(exits, dtype=np.int64)

    def signals(
        self, candles: Candles, params: Params, cache: FeatureCache | None = None
    ) -> Signals:
        return Signals(np.isin(candles.ts_ms, self.entries), np.isin(candles.ts_ms, self.exits))

    def warmup(self, params: Params) -> int:
        return int(params["warm"])


class SmaCross(Strategy):
    """Long while the close is above its simple moving average: needs ``period`` candles."""

    name: ClassVar[str] = "sma_cross"
    parameters: ClassVar[tuple[Param, ...]] = (Param("period", 20, 5, 60, 1),)

    def signals(
        self, candles: Candles, params: Params, cache: FeatureCache | None = None
    ) -> Signals:
        period = int(params["period"])
        close = candles.close
        sma = np.full(close.shape[0], np.nan)
        if close.shape[0] >= period:
            sums = np.cumsum(np.insert(close, 0, 0.0))
            sma[period - 1 :] = (sums[period:] - sums[:-period]) / period
        above = close > sma
        below = close < sma
        return Signals(above, below, features={"sma": sma})

    def warmup(self, params: Params) -> int:
        return int(params["period"])

    def exit_rules(self, params: Params) -> ExitRules:
        return ExitRules(stop_loss_pct=0.02)


# -- warm-up: trades and equity only inside the OOS range ---------------------------------


def test_the_last_in_sample_candle_is_the_first_decision(btc: Candles) -> None:
    start, end = int(btc.ts_ms[1000]), int(btc.ts_ms[1100])
    strategy = AtTimes(entries=[start - 5 * H, start - H], exits=[start + 10 * H])
    result = oos_backtest(btc, strategy, {"warm": 50}, SETTINGS, start, end)
    assert result is not None
    assert np.array_equal(result.ts_ms, btc.ts_ms[1000:1100])
    assert np.array_equal(result.close, btc.close[1000:1100])
    (trade,) = result.trades.to_dicts()
    # The signal of the last IS candle fills at the first OOS open; the earlier one (in the
    # warm-up) is ignored, though it would have had a position open at the OOS start.
    assert trade["entry_ts"] == start
    assert trade["entry_price"] == btc.open[1000]
    assert trade["exit_ts"] == start + 11 * H
    assert result.trades.entry_index[0] == 0
    assert result.trades.exit_index[0] == 11
    # Equity starts from the account's equity at the OOS open (the metrics' initial point).
    assert compute_metrics(result).initial_equity == SETTINGS.equity


def test_warm_up_signals_never_trade_and_the_range_end_closes(btc: Candles) -> None:
    start, end = int(btc.ts_ms[1000]), int(btc.ts_ms[1100])
    only_warmup = AtTimes(entries=[start - 30 * H, start - 2 * H], exits=[])
    result = oos_backtest(btc, only_warmup, {"warm": 50}, SETTINGS, start, end)
    assert result is not None
    assert len(result.trades) == 0
    assert (result.equity == SETTINGS.equity).all()
    assert (result.exposure == 0).all()

    late = AtTimes(entries=[end - 3 * H, end - H], exits=[])
    result = oos_backtest(btc, late, {"warm": 0}, SETTINGS, start, end)
    assert result is not None
    (trade,) = result.trades.to_dicts()  # the last candle's signal has no open to fill at
    assert trade["entry_ts"] == end - 2 * H
    assert trade["exit_ts"] == end - H
    assert trade["exit_reason"] == "end"
    assert trade["exit_price"] == btc.close[1099]
    assert oos_backtest(btc, late, {"warm": 0}, SETTINGS, end + 10**12, end + 2 * 10**12) is None


def test_warmed_up_signals_match_the_full_history(btc: Candles) -> None:
    """The OOS run equals a run on the full series' signals started flat at the OOS open."""
    strategy = SmaCross()
    params = {"period": 48}
    i0, i1 = 3000, 3400
    start, end = int(btc.ts_ms[i0]), int(btc.ts_ms[i1])
    result = oos_backtest(btc, strategy, params, SETTINGS, start, end)
    assert result is not None
    full = compute_signals(strategy, btc, params)
    tail = Signals(full.entry_long[i0 - 1 : i1], full.exit_long[i0 - 1 : i1])
    expected = run_backtest(
        btc.between(int(btc.ts_ms[i0 - 1]), end), strategy, params, SETTINGS, signals=tail
    )
    assert len(result.trades) > 3
    assert result.trades.to_dicts() == expected.trades.to_dicts()
    assert np.array_equal(result.equity, expected.equity[1:])
    assert expected.equity[0] == SETTINGS.equity
    # Without the warm-up the first 47 OOS candles would have no moving average at all.
    cold = compute_signals(strategy, btc.between(start, end), params)
    assert not cold.entry_long[:47].any()


def test_warm_up_covers_the_kernels_atr() -> None:
    strategy = SmaCross()
    assert warmup_candles(strategy, {"period": 48}, SETTINGS) == 48
    atr = replace(SETTINGS, exits=ExitRules(stop_loss_atr=2.0, atr_period=14))
    assert warmup_candles(strategy, {"period": 48}, atr) == 325
    assert warmup_candles(strategy, {"period": 48}, replace(SETTINGS, slippage_atr=0.1)) == 325


def test_stitch_joins_ranges_and_renumbers_trades(btc: Candles) -> None:
    strategy = SmaCross()
    ranges = [(2000, 2200), (2200, 2500)]
    parts: list[BacktestResult] = []
    equity = SETTINGS.equity
    for a, b in ranges:
        account = replace(SETTINGS, equity=equity)
        part = oos_backtest(
            btc, strategy, {"period": 24}, account, int(btc.ts_ms[a]), int(btc.ts_ms[b])
        )
        assert part is not None
        parts.append(part)
        equity = float(part.equity[-1])
    joined = stitch(parts, SETTINGS)
    assert np.array_equal(joined.ts_ms, btc.ts_ms[2000:2500])
    assert len(joined.trades) == sum(len(p.trades) for p in parts)
    assert np.array_equal(joined.ts_ms[joined.trades.entry_index], joined.trades.entry_ts)
    assert np.array_equal(joined.ts_ms[joined.trades.exit_index], joined.trades.exit_ts)
    metrics = compute_metrics(joined)
    assert metrics.initial_equity == SETTINGS.equity
    assert metrics.final_equity == equity
    # Each part starts with what the previous ended with: returns compound across the seam.
    growth = math.prod(compute_metrics(p).total_return + 1 for p in parts)
    assert metrics.total_return == pytest.approx(growth - 1, rel=1e-12)


# -- whole runs ---------------------------------------------------------------------------


def check_report(report: WalkForwardReport, series: Sequence[Candles]) -> None:
    ws = [w.window for w in report.windows]
    for a, b in itertools.pairwise(ws):
        assert a.oos_end_ms == b.oos_start_ms
    for w in report.windows:
        for _symbol, m in w.oos_metrics.items():
            assert m.start_ms >= w.window.oos_start_ms
            assert m.end_ms <= w.window.oos_end_ms
        for _symbol, m in w.is_metrics.items():
            assert m.start_ms >= w.window.is_start_ms
            assert m.end_ms <= w.window.is_end_ms
    for candles in series:
        joined = report.combined[candles.symbol]
        inside = candles.between(ws[0].oos_start_ms, ws[-1].oos_end_ms)
        assert np.array_equal(joined.ts_ms, inside.ts_ms)
        for trade in joined.trades.to_dicts():
            window = next(w for w in ws if w.oos_start_ms <= trade["entry_ts"] < w.oos_end_ms)
            assert trade["exit_ts"] < window.oos_end_ms  # closed inside its own window
        # The windows chain: each starts with the equity the previous one ended with.
        chain = [w.oos_metrics[candles.symbol] for w in report.windows]
        assert chain[0].initial_equity == report.settings.equity
        for before, after in itertools.pairwise(chain):
            assert after.initial_equity == before.final_equity
        assert report.combined_metrics[candles.symbol].final_equity == chain[-1].final_equity
    for w in report.windows:
        if w.is_rate > 0:
            assert w.efficiency == pytest.approx(w.oos_rate / w.is_rate)
        else:
            assert w.efficiency is None
    text = json.dumps(report.to_dict(), allow_nan=False)  # NaN/inf written as null
    data = json.loads(text)
    assert set(data) >= {"strategy", "mode", "windows", "combined", "efficiency", "stability"}
    assert len(data["windows"]) == len(report.windows)
    window = data["windows"][0]
    assert set(window) >= {
        "index", "in_sample", "out_of_sample", "best_params", "in_sample_metrics",
        "out_of_sample_metrics", "in_sample_annual_log_return",
        "out_of_sample_annual_log_return", "efficiency", "warmup_candles",
    }  # fmt: skip
    assert set(window["in_sample"]) == {"start_ms", "end_ms", "candles"}
    assert set(data["combined"]["by_symbol"]) == {c.symbol for c in series}
    first = data["combined"]["by_symbol"][series[0].symbol]
    assert set(first) == {"metrics", "trades", "ts_ms", "equity"}
    assert len(first["ts_ms"]) == len(first["equity"])


def test_rolling_walk_forward_on_real_candles(btc: Candles) -> None:
    strategy = load_strategy("rsi_reversion")
    space = {"rsi_period": {"low": 7, "high": 21}, "entry_level": {"low": 20, "high": 35}}
    ticks: list[tuple[str, int]] = []

    class Bar:
        def stage(self, description: str, total: int) -> None:
            ticks.append((description, total))

        def advance(self, steps: int = 1) -> None:
            ticks.append(("advance", steps))

    report = walk_forward(
        strategy, [btc], SETTINGS, mode="rolling", windows=3, is_fraction=0.7,
        space=space, trials=4, seed=3, exchange="binance", progress=Bar(),
    )  # fmt: skip
    assert len(report.windows) == 3
    check_report(report, [btc])
    assert ticks[0] == ("walk-forward: 3 windows x 4 trials", 12)
    assert sum(n for what, n in ticks[1:] if what == "advance") == 12
    for w in report.windows:
        assert 7 <= int(w.params["rsi_period"]) <= 21
        assert w.params["exit_level"] == 70.0  # not searched: the default
        assert w.warmup == warmup_candles(strategy, w.params, SETTINGS)
        assert w.window.is_candles == report.windows[0].window.is_candles
    assert [p.name for p in report.stability.parameters] == ["rsi_period", "entry_level"]
    assert report.stability.score is not None
    assert 0.0 <= report.stability.score <= 1.0
    # The overall OOS rate is the stitched curve's, as the rates are additive over time.
    m = report.combined_metrics["BTC/USDT"]
    span = report.windows[-1].window.oos_end_ms - report.windows[0].window.oos_start_ms
    assert report.oos_rate == pytest.approx(
        annual_log_return(m.initial_equity, m.final_equity, span), rel=1e-9
    )
    again = walk_forward(
        strategy, [btc], SETTINGS, mode="rolling", windows=3, is_fraction=0.7,
        space=space, trials=4, seed=3, exchange="binance",
    )  # fmt: skip
    assert [w.params for w in again.windows] == [w.params for w in report.windows]
    assert again.to_dict() == report.to_dict()


@needs_reference
def test_anchored_walk_forward_by_durations_on_two_reference_symbols() -> None:
    series = load_series(REFERENCE_DIR / "data", "binance", ["BTC/USDT", "ETH/USDT"], "1h")
    report = walk_forward(
        load_strategy("rsi_reversion"), series, SETTINGS, mode="anchored",
        is_period="120d", oos_period="60d", windows=3, trials=3, space={"rsi_period": [10, 14, 20]},
        exchange="binance",
    )  # fmt: skip
    assert len(report.windows) == 3
    check_report(report, series)
    first = min(int(c.ts_ms[0]) for c in series)
    assert all(w.window.is_start_ms == first for w in report.windows)
    assert all(
        w.window.oos_end_ms - w.window.oos_start_ms == 60 * 86_400_000 for w in report.windows
    )
    assert set(report.windows[0].oos_metrics) == {"BTC/USDT", "ETH/USDT"}
    for w in report.windows:
        rates = [
            annual_log_return(m.initial_equity, m.final_equity, m.end_ms - m.start_ms)
            for m in w.oos_metrics.values()
        ]
        assert w.oos_rate == pytest.approx(sum(rates) / 2)
    assert report.aggregate.symbols == 2
    (stab,) = report.stability.parameters
    assert stab.name == "rsi_period"
    assert stab.cv is None  # a list in the space is searched as categories

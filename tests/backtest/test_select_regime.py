"""The recommendation: best OOS trades in the symbol's current regime, or a named fallback;
and the cache counts of a selection (served, computed, recomputed with the reason)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from tests.support.select_data import (
    HOUR,
    T0,
    EveryTenth,
    Idle,
    RangeTrader,
    TrendTrader,
    range_then_trend,
    spec,
)
from xraybot.backtest.cache import BacktestCache
from xraybot.backtest.engine import run_backtest
from xraybot.backtest.results import BacktestSettings
from xraybot.backtest.select import SelectionConfig, select_config_from, select_symbols
from xraybot.backtest.select_regime import recommend, regime_view
from xraybot.backtest.select_run import CacheStatus, StrategyRun, oos_start, run_oos
from xraybot.storage.backtests import MemoryBacktestResults

SETTINGS = BacktestSettings(fee_rate=0.0)
OOS = 0.5  # the OOS period holds 50 flat candles, then the trend


def runs(candles: Any = None) -> dict[str, StrategyRun]:
    candles = candles if candles is not None else range_then_trend()
    start = oos_start(len(candles), OOS)
    found = {}
    for cls in (RangeTrader, TrendTrader, Idle):
        strategy = cls()
        found[cls.name] = run_oos(candles, strategy, cls.name, strategy.resolve(), SETTINGS, start)
    return found


def test_the_best_in_the_current_regime_wins_over_the_best_overall() -> None:
    found = runs()
    view = regime_view(range_then_trend(), "trend")
    # range_trader earned far more over the whole OOS period, but in the range regime.
    assert found["range_trader"].metrics.total_return > 1.0
    assert found["trend_trader"].metrics.total_return < 0.1
    rec = recommend(found, view, min_trades=2)
    assert (rec.strategy, rec.regime, rec.fell_back) == ("trend_trader", "up", False)
    assert [s.strategy for s in rec.scores] == ["trend_trader", "range_trader", "idle"]
    best = rec.scores[0]
    assert (best.trades, best.oos_trades, best.win_rate) == (2, 2, 1.0)
    assert best.regime_return == pytest.approx(
        float(found["trend_trader"].trades.pnl.sum()) / SETTINGS.equity
    )
    assert rec.scores[1].trades == 0
    assert rec.scores[1].oos_trades == 1
    assert rec.reason.startswith(
        "best of 1 in the current trend regime 'up': 2 OOS trades entered in it returned +"
    )
    assert "2 with fewer than 2 trades in it not ranked" in rec.reason


def test_with_too_few_trades_in_the_regime_it_falls_back_and_says_so() -> None:
    rec = recommend(runs(), regime_view(range_then_trend(), "trend"), min_trades=3)
    assert (rec.strategy, rec.regime, rec.fell_back) == ("range_trader", "up", True)
    assert rec.reason.startswith(
        "no candidate has 3 OOS trades entered in the current trend regime 'up' (the most: 2); "
        "fell back to the best whole-OOS return: +"
    )
    assert [s.strategy for s in rec.scores] == ["range_trader", "trend_trader", "idle"]


def test_an_unknown_regime_falls_back_with_the_reason() -> None:
    candles = range_then_trend(n=70, switch=10)  # the regime needs 74 candles
    start = oos_start(len(candles), OOS)
    run = run_oos(candles, Idle(), "idle", Idle().resolve(), SETTINGS, start)
    view = regime_view(candles, "trend")
    assert view.current is None
    assert set(view.labels) == {""}
    rec = recommend({"idle": run}, view, min_trades=1)
    assert (rec.strategy, rec.regime, rec.fell_back, rec.detail) == ("idle", None, True, None)
    assert rec.reason.startswith(
        "the current regime is unknown (the regime needs 74 gap-free closed candles before "
        "the last one; TEST/USDT has 70 candles); fell back"
    )


def test_trend_and_volatility_labels_must_both_match() -> None:
    view = regime_view(range_then_trend(), "trend_volatility")
    assert view.current is not None
    assert view.current.startswith("up/")
    assert view.detail is not None
    assert view.current == f"up/{view.detail.volatility}"
    rec = recommend(runs(), view, min_trades=1)
    assert rec.regime == view.current
    assert rec.regime_by == "trend_volatility"


def test_no_candidate_backtested_gives_no_recommendation_and_the_reasons() -> None:
    view = regime_view(range_then_trend(), "trend")
    rec = recommend({}, view, 1, {"long_warmup": "too little data: needs 500"})
    assert rec.strategy is None
    assert not rec.fell_back
    assert rec.reason == "no candidate could be backtested: long_warmup: too little data: needs 500"


def selection(**changes: Any) -> SelectionConfig:
    base: dict[str, Any] = {
        "strategy": "auto",
        "candidates": [spec(RangeTrader), spec(TrendTrader), spec(Idle)],
        "oos_fraction": OOS,
        "min_regime_trades": 2,
        "min_sharpe": "off",
        "min_trades": 1,
        "backtest": {"fee_rate": 0.0},
    }
    return select_config_from({**base, **changes})


def test_auto_judges_each_symbol_with_its_recommended_strategy() -> None:
    report = select_symbols({"UP/USDT": range_then_trend(symbol="UP/USDT")}, selection())
    (verdict,) = report.symbols
    assert verdict.strategy == spec(TrendTrader)
    assert verdict.selected
    assert verdict.recommendation is not None
    assert verdict.recommendation.regime == "up"
    assert verdict.run is not None
    assert verdict.run.strategy == spec(TrendTrader)
    assert report.notes
    assert "flatters the verdict" in report.notes[0]


# -- the result cache -------------------------------------------------------------------------


class SyncCache:
    """BacktestCache over memory for synchronous callers (as BlockingBacktestCache is over SQL)."""

    def __init__(self) -> None:
        self.repository = MemoryBacktestResults()
        self.cache = BacktestCache(self.repository)

    def get_or_run(self, *args: Any, **kwargs: Any) -> Any:
        return asyncio.run(self.cache.get_or_run(*args, **kwargs))


def verdicts(report: Any) -> list[dict[str, Any]]:
    return [{k: v for k, v in s.items() if k != "cache"} for s in report.to_dict()["selected"]]


def test_a_second_selection_is_served_from_the_cache_and_a_corrupt_entry_recomputed() -> None:
    candles = {"UP/USDT": range_then_trend(symbol="UP/USDT")}
    cache = SyncCache()
    first = select_symbols(candles, selection(), cache=cache)
    assert (first.cache.hits, first.cache.computed, first.cache.recomputed) == (0, 3, ())
    assert len(cache.repository.rows) == 3

    second = select_symbols(candles, selection(), cache=cache)
    assert (second.cache.hits, second.cache.computed) == (3, 0)
    assert verdicts(second) == verdicts(first)
    (verdict,) = second.symbols
    assert verdict.run is not None
    assert verdict.run.cache is CacheStatus.HIT

    key = next(iter(cache.repository.rows))
    cache.repository.rows[key] = replace(cache.repository.rows[key], payload=b"XBRC garbage")
    third = select_symbols(candles, selection(), cache=cache)
    assert (third.cache.hits, third.cache.computed) == (2, 0)
    ((symbol, strategy, reason),) = third.cache.recomputed
    assert symbol == "UP/USDT"
    assert strategy in (selection().candidates or ())
    assert reason  # the cache's own words: why the stored copy could not be used
    assert third.to_dict()["cache"]["recomputed_reasons"] == [
        {"symbol": "UP/USDT", "strategy": strategy, "reason": reason}
    ]
    assert verdicts(third) == verdicts(first)


def test_masked_oos_runs_do_not_share_keys_with_plain_backtests() -> None:
    # The OOS run drops the entry decided on the last warm-up candle (140); a plain backtest
    # of the same slice keeps it, so the cache must not serve one for the other.
    candles = range_then_trend(n=200)
    cache = SyncCache()
    strategy = EveryTenth()
    params = strategy.resolve({"hold": 3})
    masked = run_oos(candles, strategy, "every_tenth", params, SETTINGS, 141, cache=cache)
    piece = candles.tail(200 - 141 + strategy.warmup(params))

    def run() -> Any:
        return run_backtest(piece, strategy, params, SETTINGS)

    plain, outcome = cache.get_or_run(piece, strategy, params, SETTINGS, run)
    assert outcome.status == "miss"
    assert T0 + 141 * HOUR in {int(t) for t in plain.trades.entry_ts}
    assert T0 + 141 * HOUR not in {int(t) for t in masked.trades.entry_ts}

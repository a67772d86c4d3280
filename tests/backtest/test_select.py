"""Selection: thresholds, the OOS slice and its warm-up, data too short, the JSON shape."""

from __future__ import annotations

import functools
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.select_data import (
    HOUR,
    T0,
    Broken,
    EveryTenth,
    Idle,
    LongWarmup,
    RangeTrader,
    TrendTrader,
    range_then_trend,
    spec,
)
from xraybot.backtest.engine import run_backtest
from xraybot.backtest.metrics import Metrics, compute_metrics
from xraybot.backtest.results import BacktestSettings
from xraybot.backtest.select import (
    SelectionConfig,
    check_thresholds,
    load_select_config,
    select_config_from,
    select_symbols,
)
from xraybot.backtest.select_run import oos_start, run_oos
from xraybot.model.errors import ConfigError, InvalidInputError

SETTINGS = BacktestSettings(fee_rate=0.0)


def config(**changes: Any) -> SelectionConfig:
    base: dict[str, Any] = {
        "strategy": spec(Idle),
        "recommend": False,
        "backtest": {"fee_rate": 0.0},
    }
    return select_config_from({**base, **changes})


@functools.cache
def idle_metrics() -> Metrics:
    return compute_metrics(run_backtest(range_then_trend(n=50), Idle(), settings=SETTINGS))


def metrics(**values: float) -> Metrics:
    return replace(idle_metrics(), **values)  # type: ignore[arg-type]


# -- thresholds ---------------------------------------------------------------------------


def test_every_failed_threshold_is_named_with_its_number() -> None:
    found = metrics(total_return=-0.032, sharpe=0.4, max_drawdown=0.3, trades=2)
    checks = check_thresholds(found, config(min_return=0.0, min_sharpe=0.5))
    assert [c.name for c in checks if not c.passed] == [
        "min_return",
        "min_sharpe",
        "max_drawdown",
        "min_trades",
    ]
    assert [c.describe() for c in checks] == [
        "return -3.20% < 0.00%",
        "Sharpe 0.40 < 0.50",
        "max drawdown 30.00% > 25.00%",
        "trades 2 < 5",
    ]


def test_limits_are_inclusive_and_off_switches_a_threshold_off() -> None:
    found = metrics(total_return=0.05, sharpe=1.0, max_drawdown=0.25, trades=5)
    limits = config(min_return=0.05, min_sharpe=1.0, max_drawdown=0.25, min_trades=5)
    assert all(c.passed for c in check_thresholds(found, limits))
    off = config(min_return="off", min_sharpe="off", max_drawdown="OFF", min_trades="off")
    assert check_thresholds(metrics(total_return=-0.9), off) == ()
    assert off.thresholds() == dict.fromkeys(
        ("min_return", "min_sharpe", "max_drawdown", "min_trades")
    )


def test_an_undefined_sharpe_never_passes() -> None:
    (check,) = check_thresholds(
        metrics(sharpe=math.nan),
        config(min_return="off", max_drawdown="off", min_trades="off", min_sharpe=-100),
    )
    assert not check.passed
    assert check.describe() == "Sharpe n/a < -100.00"


finite = st.floats(-5, 5, allow_nan=False)


@given(finite, finite, st.floats(0, 1), st.integers(0, 50), finite, finite, st.floats(0.01, 1))
def test_a_symbol_passes_exactly_when_each_figure_is_within_its_limit(
    ret: float, sharpe: float, dd: float, trades: int, min_ret: float, min_sh: float, max_dd: float
) -> None:
    limits = config(
        min_return=max(min_ret, -0.99), min_sharpe=min_sh, max_drawdown=max_dd, min_trades=10
    )
    checks = check_thresholds(
        metrics(total_return=ret, sharpe=sharpe, max_drawdown=dd, trades=trades), limits
    )
    expected = ret >= max(min_ret, -0.99) and sharpe >= min_sh and dd <= max_dd and trades >= 10
    assert all(c.passed for c in checks) == expected


def test_bad_config_values_are_named() -> None:
    with pytest.raises(ConfigError) as caught:
        select_config_from(
            {"min_sharpe": "high", "max_drawdown": 2, "oos_fraction": 1.5, "colour": "red"}
        )
    text = str(caught.value)
    assert "select.min_sharpe: expected" in text
    assert "'high'" in text
    assert "select.max_drawdown: expected" in text
    assert "select.oos_fraction: expected" in text
    assert "select.colour: unknown key" in text
    with pytest.raises(ConfigError, match='params only with a named strategy: "auto"'):
        select_config_from({"strategy": "auto", "params": {"hold": 2}})
    with pytest.raises(ConfigError, match="spot cannot sell short"):
        select_config_from({"backtest": {"directions": "short"}})


def test_the_example_config_documents_the_defaults() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "select.toml"
    assert load_select_config(example) == SelectionConfig()


# -- the OOS slice --------------------------------------------------------------------------


def test_oos_start_takes_the_last_fraction_rounded_half_up() -> None:
    assert oos_start(1000, 0.3) == 700
    assert oos_start(10, 0.25) == 7
    assert oos_start(7, 0.1) == 6


def test_the_strategy_gets_its_warmup_and_only_oos_decisions_trade() -> None:
    candles = range_then_trend(n=200)
    start = oos_start(len(candles), 0.3)  # 140: a multiple of 10, so an entry is decided on it
    EveryTenth.seen.clear()
    run = run_oos(candles, EveryTenth(), "every_tenth", {"hold": 3}, SETTINGS, start)
    # Given exactly its 7 warm-up candles before the OOS start, and nothing earlier.
    assert EveryTenth.seen == [(200 - start + 7, T0 + (start - 7) * HOUR)]
    result = run.result
    assert (run.warmup, run.oos_start_ms, run.oos_end_ms) == (7, T0 + start * HOUR, T0 + 199 * HOUR)
    assert result.candles == 60
    assert int(result.ts_ms[0]) == T0 + start * HOUR
    # Decisions on candles 140, 150, ..., 190 fill at the next open; 130 (in sample) does not.
    entries = [int(t) for t in result.trades.entry_ts]
    assert entries == [T0 + (i + 1) * HOUR for i in range(140, 200, 10)]
    assert list(result.trades.entry_index) == [1, 11, 21, 31, 41, 51]
    assert float(result.equity[0]) == SETTINGS.equity  # nothing was open at the OOS start
    assert run.metrics == compute_metrics(result)
    assert run.metrics.trades == 6
    assert run.metrics.start_ms == T0 + start * HOUR


def test_an_entry_on_the_last_warmup_candle_does_not_leak_into_the_oos() -> None:
    candles = range_then_trend(n=200)
    start = 141  # the decision on candle 140 belongs to the warm-up now
    run = run_oos(candles, EveryTenth(), "every_tenth", {"hold": 3}, SETTINGS, start)
    assert int(run.result.trades.entry_ts[0]) == T0 + 151 * HOUR
    unmasked = run_backtest(candles.tail(200 - start + 7), EveryTenth(), {"hold": 3}, SETTINGS)
    assert T0 + 141 * HOUR in {int(t) for t in unmasked.trades.entry_ts}  # what was dropped


# -- too little data, failing strategies ------------------------------------------------------


def test_too_few_candles_for_the_oos_period_is_a_named_rejection() -> None:
    report = select_symbols(
        {"SHORT/USDT": range_then_trend(n=120, symbol="SHORT/USDT")},
        config(strategy=spec(EveryTenth), min_oos_candles=50),
    )
    (verdict,) = report.rejected
    assert (verdict.selected, verdict.stage, verdict.candles, verdict.oos_candles) == (
        False,
        "data",
        120,
        36,
    )
    assert verdict.reasons == (
        "too little data: 120 closed 1h candles give 36 OOS candles (oos_fraction 0.3) < "
        "min_oos_candles 50; read more history (history_days) or lower min_oos_candles",
    )


def test_too_little_in_sample_history_for_the_warmup_is_a_named_rejection() -> None:
    report = select_symbols({"TEST/USDT": range_then_trend()}, config(strategy=spec(LongWarmup)))
    (verdict,) = report.rejected
    assert verdict.stage == "data"
    assert verdict.reasons == (
        "too little data: long_warmup needs 500 warm-up candles before the OOS start; "
        "only 420 in-sample candles",
    )


def test_a_strategy_raising_rejects_the_symbol_with_its_error() -> None:
    report = select_symbols({"TEST/USDT": range_then_trend()}, config(strategy=spec(Broken)))
    (verdict,) = report.rejected
    assert verdict.stage == "strategy"
    assert "strategy 'broken' failed on TEST/USDT" in verdict.reasons[0]
    assert "planted failure" in verdict.reasons[0]


def test_an_unknown_strategy_is_refused_before_any_backtest() -> None:
    with pytest.raises(InvalidInputError, match="unknown strategy 'nope'"):
        select_symbols({"TEST/USDT": range_then_trend()}, config(strategy="nope"))


# -- verdicts and JSON ------------------------------------------------------------------------


def two_symbols() -> dict[str, Any]:
    return {
        "UP/USDT": range_then_trend(symbol="UP/USDT"),
        "TINY/USDT": range_then_trend(n=60, symbol="TINY/USDT"),
    }


def test_every_symbol_ends_selected_or_rejected_in_order() -> None:
    limits = {"min_sharpe": "off", "min_trades": 1, "oos_fraction": 0.5}
    report = select_symbols(two_symbols(), config(strategy=spec(RangeTrader), **limits))
    assert [s.symbol for s in report.symbols] == ["UP/USDT", "TINY/USDT"]
    assert [s.symbol for s in report.selected] == ["UP/USDT"]
    assert [s.symbol for s in report.rejected] == ["TINY/USDT"]
    chosen = report.selected[0]
    assert chosen.run is not None
    assert chosen.run.metrics.total_return > 1.0
    assert chosen.failed == ()
    assert chosen.reasons == ()


def test_the_json_holds_selected_rejected_recommendations_and_cache() -> None:
    candidates = [spec(c) for c in (RangeTrader, TrendTrader, Idle, LongWarmup)]
    chosen = config(
        strategy=spec(TrendTrader),
        recommend=True,
        candidates=candidates,
        min_regime_trades=1,
        min_trades=1,
        oos_fraction=0.5,
    )
    data = json.loads(json.dumps(select_symbols(two_symbols(), chosen).to_dict(), allow_nan=False))
    assert {"selected", "rejected", "recommendations", "cache", "config", "thresholds"} <= set(data)
    assert data["cache"] == {
        "enabled": False,
        "hits": 0,
        "computed": 3,  # UP/USDT: three candidates ran (long_warmup had too little data)
        "recomputed": 0,
        "recomputed_reasons": [],
        "uncached": 0,
        "uncached_reasons": [],
    }
    (tiny,) = [s for s in data["rejected"] if s["symbol"] == "TINY/USDT"]
    assert tiny["stage"] == "data"
    assert tiny["reasons"][0].startswith("too little data")
    rows = data["selected"] + data["rejected"]
    up = next(s for s in rows if s["symbol"] == "UP/USDT")
    assert up["strategy"] == spec(TrendTrader)
    assert up["metrics"]["trades"] == 2
    assert up["oos_start_ms"] == T0 + 300 * HOUR
    assert {c["name"] for c in up["checks"]} == {"min_return", "min_sharpe", "max_drawdown",
                                                  "min_trades"}  # fmt: skip
    rec = data["recommendations"]["UP/USDT"]
    assert (rec["strategy"], rec["regime"], rec["fell_back"]) == (spec(TrendTrader), "up", False)
    assert rec["skipped"] == {
        spec(LongWarmup): "too little data: long_warmup needs 500 warm-up candles before the "
        "OOS start; only 300 in-sample candles"
    }
    assert "TINY/USDT" not in data["recommendations"]
    assert np.isfinite([s["oos_return"] for s in rec["scores"]]).all()

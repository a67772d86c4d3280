"""The demo's backtest step on the real bundled sample: real candles, the real kernel."""

from __future__ import annotations

import json
import math

import pytest

from xraybot.data.sample import SAMPLE_SYMBOLS
from xraybot.model.errors import InvalidInputError
from xraybot.services.demo_backtest import (
    DEMO_BACKTEST_SYMBOLS,
    DEMO_STRATEGIES,
    DemoBacktest,
    sample_backtest,
)


@pytest.fixture(scope="module")
def backtest() -> DemoBacktest:
    return sample_backtest()


def test_every_strategy_runs_on_every_symbol_with_the_default_settings(
    backtest: DemoBacktest,
) -> None:
    pairs = [(r.result.strategy, r.result.symbol) for r in backtest.runs]
    assert pairs == [(s, sym) for s in DEMO_STRATEGIES for sym in DEMO_BACKTEST_SYMBOLS]
    assert {"rsi_reversion", "ema_cross"} <= set(DEMO_STRATEGIES)
    assert set(DEMO_BACKTEST_SYMBOLS) <= set(SAMPLE_SYMBOLS)
    assert backtest.settings.fee_rate == 0.001
    assert backtest.settings.stake == "all"
    for run in backtest.runs:
        assert run.result.exchange == "binance"
        assert run.result.timeframe == "1h"
        assert run.result.candles == 8760  # all of 2025
        assert run.metrics.trades == len(run.result.trades)
        for value in (
            run.metrics.total_return,
            run.metrics.buy_and_hold_return,
            run.metrics.sharpe,
            run.metrics.max_drawdown,
        ):
            assert math.isfinite(value)
    assert all(run.metrics.trades > 0 for run in backtest.runs)
    # Each symbol has one buy-and-hold, whatever the strategy.
    hold = {(r.result.symbol, r.metrics.buy_and_hold_return) for r in backtest.runs}
    assert len(hold) == len(DEMO_BACKTEST_SYMBOLS)


def test_the_walk_forward_picks_parameters_in_sample_and_trades_them_out_of_sample(
    backtest: DemoBacktest,
) -> None:
    wf = backtest.walk_forward
    assert wf is not None
    assert wf.report.strategy == DEMO_STRATEGIES[0]
    assert wf.symbol == DEMO_BACKTEST_SYMBOLS[0]
    assert len(wf.report.windows) == 2
    for window in wf.report.windows:
        assert window.window.is_end_ms <= window.window.oos_start_ms
        assert set(window.params) >= {"rsi_period", "entry_level"}
    oos = wf.oos_metrics
    assert oos is not None
    assert math.isfinite(oos.total_return)
    assert oos.trades > 0


def test_the_walk_forward_is_optional_and_the_inputs_are_checked() -> None:
    quick = sample_backtest(["TRX/USDT"], ["ema_cross"], walk_forward_trials=0)
    assert quick.walk_forward is None
    assert [r.result.symbol for r in quick.runs] == ["TRX/USDT"]
    with pytest.raises(InvalidInputError, match="bundled sample"):
        sample_backtest(["PEPE/USDT"])
    with pytest.raises(InvalidInputError, match="strategies"):
        sample_backtest(strategies=[])


def test_the_json_holds_the_figures(backtest: DemoBacktest) -> None:
    data = json.loads(json.dumps(backtest.as_dict(), allow_nan=False, default=str))
    assert data["exchange"] == "binance"
    assert data["settings"]["fee_rate"] == 0.001
    runs = data["runs"]
    assert len(runs) == len(DEMO_STRATEGIES) * len(DEMO_BACKTEST_SYMBOLS)
    for run in runs:
        assert isinstance(run["total_return"], float)
        assert run["trades"] == run["metrics"]["trades"]
        assert run["params"]
    assert max(run["trades"] for run in runs) > 0
    wf = data["walk_forward"]
    assert len(wf["windows"]) == 2
    assert all(w["best_params"] for w in wf["windows"])
    assert isinstance(wf["out_of_sample_metrics"]["total_return"], float)

from __future__ import annotations

import json
import math
import threading
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from xraybot.backtest.engine import run_backtest
from xraybot.backtest.metrics import compute_metrics, metrics_from_arrays
from xraybot.backtest.results import BacktestSettings, TradeRecords
from xraybot.backtest.sweep import SweepResult, equity_figures, grid_combinations, sweep
from xraybot.data.sample import SAMPLE_EXCHANGE, SAMPLE_TIMEFRAME, sample_dir
from xraybot.data.series import load_series
from xraybot.indicators import talib_
from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError
from xraybot.strategy.base import FeatureCache, Params, Signals, feature
from xraybot.strategy.builtin.rsi_reversion import RsiReversion
from xraybot.strategy.registry import load_strategy

GRID = {"rsi_period": [7, 14, 21], "entry_level": [25.0, 30.0, 35.0]}


@pytest.fixture(scope="module")
def sample() -> list[Candles]:
    loaded = load_series(
        sample_dir(), SAMPLE_EXCHANGE, ["BTC/USDT", "ETH/USDT", "DOGE/USDT"], SAMPLE_TIMEFRAME
    )
    return [c.tail(3000) for c in loaded]


class CountingRsi(RsiReversion):
    """rsi_reversion that records every RSI it actually computes."""

    name: ClassVar[str] = "counting_rsi"
    computed: ClassVar[list[tuple[str, int]]] = []

    def signals(
        self, candles: Candles, params: Params, cache: FeatureCache | None = None
    ) -> Signals:
        period = int(params["rsi_period"])

        def compute() -> np.ndarray:
            CountingRsi.computed.append((candles.symbol, period))
            return talib_.rsi(candles.close, period)

        rsi = feature(cache, ("rsi", period), compute)
        entry = rsi < float(params["entry_level"])
        exit_ = rsi > float(params["exit_level"])
        return Signals(entry_long=entry, exit_long=exit_, features={"rsi": rsi})


def test_each_figure_matches_a_full_backtest(sample: list[Candles]) -> None:
    strategy = RsiReversion()
    config = BacktestSettings(fee_rate=0.001)
    result = sweep(strategy, sample, GRID, config)
    assert result.combinations == 9
    assert result.symbols == tuple(c.symbol for c in sample)
    assert result.total_return.shape == (9, 3)
    for i, params in enumerate(result.params):
        for j, candles in enumerate(sample):
            metrics = compute_metrics(run_backtest(candles, strategy, params, config))
            assert result.total_return[i, j] == pytest.approx(metrics.total_return, rel=1e-12)
            assert result.sharpe[i, j] == pytest.approx(metrics.sharpe, rel=1e-9)
            assert result.max_drawdown[i, j] == pytest.approx(metrics.max_drawdown, rel=1e-12)
            assert result.trades[i, j] == metrics.trades
    assert result.trades.sum() > 0


def test_features_are_computed_once_per_period_per_series(sample: list[Candles]) -> None:
    CountingRsi.computed.clear()
    sweep(CountingRsi(), sample[:2], GRID)
    expected = {(c.symbol, p) for c in sample[:2] for p in GRID["rsi_period"]}
    assert sorted(CountingRsi.computed) == sorted(expected)


def test_two_workers_give_the_figures_of_one(sample: list[Candles]) -> None:
    one = sweep("rsi_reversion", sample, GRID)
    two = sweep("rsi_reversion", sample, GRID, workers=2)
    assert two.workers == 2
    np.testing.assert_array_equal(one.total_return, two.total_return)
    np.testing.assert_array_equal(one.sharpe, two.sharpe)
    np.testing.assert_array_equal(one.max_drawdown, two.max_drawdown)
    np.testing.assert_array_equal(one.trades, two.trades)


def test_spawned_workers_load_a_user_strategy_file(sample: list[Candles], tmp_path: Path) -> None:
    # A live thread makes the pool spawn fresh processes instead of forking; they must
    # import the user's file themselves before unpickling its strategy.
    path = tmp_path / "my_rsi.py"
    path.write_text(
        "from xraybot.strategy.builtin.rsi_reversion import RsiReversion\n\n\n"
        "class FileRsi(RsiReversion):\n    name = 'file_rsi'\n"
    )
    strategy = load_strategy(str(path))
    grid = {"rsi_period": [10, 20]}
    stop = threading.Event()
    helper = threading.Thread(target=stop.wait, daemon=True)
    helper.start()
    try:
        spawned = sweep(strategy, sample[:2], grid, workers=2)
    finally:
        stop.set()
        helper.join()
    assert spawned.strategy == "file_rsi"
    np.testing.assert_array_equal(
        spawned.total_return, sweep(strategy, sample[:2], grid).total_return
    )


def test_progress_counts_every_backtest(sample: list[Candles]) -> None:
    class Recorder:
        def __init__(self) -> None:
            self.total = 0
            self.done = 0

        def stage(self, description: str, total: int) -> None:
            self.total = total

        def advance(self, steps: int = 1) -> None:
            self.done += steps

    for workers in (1, 2):
        recorder = Recorder()
        sweep(RsiReversion(), sample[:2], {"rsi_period": [10, 20]}, workers=workers,
              progress=recorder)  # fmt: skip
        assert recorder.total == recorder.done == 4


def test_grid_is_validated_against_the_params() -> None:
    strategy = RsiReversion()
    combos = grid_combinations(strategy, {"rsi_period": [7, 8], "entry_level": [20, 25.0]})
    assert [(c["rsi_period"], c["entry_level"]) for c in combos] == [
        (7, 20.0), (7, 25.0), (8, 20.0), (8, 25.0),
    ]  # fmt: skip
    assert all(c["exit_level"] == 70.0 for c in combos)
    with pytest.raises(InvalidInputError, match="no parameter 'period'"):
        grid_combinations(strategy, {"period": [7]})
    with pytest.raises(InvalidInputError, match=r"must lie in \[2, 50\]"):
        grid_combinations(strategy, {"rsi_period": [1, 7]})
    with pytest.raises(InvalidInputError, match="non-empty list"):
        grid_combinations(strategy, {"rsi_period": []})


def test_best_and_aggregate_rank_the_combinations() -> None:
    result = SweepResult(
        strategy="s",
        params=({"a": 1}, {"a": 2}, {"a": 3}),
        symbols=("X/USDT", "Y/USDT"),
        total_return=np.array([[0.1, 0.3], [0.5, -0.1], [0.0, 0.0]]),
        sharpe=np.array([[1.0, 2.0], [0.5, 0.1], [0.0, 0.0]]),
        max_drawdown=np.array([[0.2, 0.1], [0.3, 0.4], [0.0, 0.0]]),
        trades=np.array([[3, 4], [1, 1], [0, 0]]),
        candles=100,
        workers=1,
        elapsed_s=0.1,
    )
    table = result.aggregate()
    np.testing.assert_allclose(table["mean_return"], [0.2, 0.2, 0.0])
    np.testing.assert_allclose(table["worst_max_drawdown"], [0.2, 0.4, 0.0])
    assert list(table["trades"]) == [7, 2, 0]
    assert result.best()[0] == {"a": 1}
    assert result.best("mean_max_drawdown")[0] == {"a": 3}
    with pytest.raises(InvalidInputError, match="ranks by one of"):
        result.best("nope")
    payload = json.loads(json.dumps(result.to_dict()))
    assert payload["best"]["params"] == {"a": 1}
    assert payload["results"][1]["per_symbol"]["Y/USDT"]["trades"] == 1


curves = arrays(
    np.float64,
    st.integers(1, 60),
    # Equity is 0 (wiped out) or a sane amount; denormal balances only overflow numpy.
    elements=st.one_of(st.floats(1e-3, 1e6), st.sampled_from([0.0, 1000.0, 1000.0])),
)


@settings(max_examples=300, deadline=None)
@given(curve=curves, start=st.floats(1.0, 1e5))
def test_equity_figures_follow_the_metrics_conventions(curve: np.ndarray, start: float) -> None:
    n = curve.shape[0]
    ts = 1_700_000_000_000 + np.arange(n, dtype=np.int64) * 3_600_000
    expected = metrics_from_arrays(
        ts, curve, np.zeros(n), TradeRecords.empty(), np.empty(0), 3_600_000, start
    )
    total, sharpe, drawdown = equity_figures(curve, start)
    assert total == pytest.approx(expected.total_return, rel=1e-12, abs=1e-12)
    assert drawdown == pytest.approx(expected.max_drawdown, rel=1e-12, abs=1e-12)
    annual = sharpe * math.sqrt(8760)
    if math.isnan(expected.sharpe) or math.isinf(expected.sharpe):
        assert annual == expected.sharpe or (math.isnan(annual) and math.isnan(expected.sharpe))
    else:
        assert annual == pytest.approx(expected.sharpe, rel=1e-7, abs=1e-9)

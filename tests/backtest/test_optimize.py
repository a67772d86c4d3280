from __future__ import annotations

import math
from pathlib import Path
from typing import ClassVar

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from xraybot.backtest.engine import simulate
from xraybot.backtest.metrics import metrics_from_arrays
from xraybot.backtest.optimize import objective_direction, optimize
from xraybot.backtest.optimize_trials import pruning_checkpoints
from xraybot.backtest.results import BacktestSettings
from xraybot.data.sample import SAMPLE_EXCHANGE, SAMPLE_TIMEFRAME, sample_dir
from xraybot.data.series import load_series
from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError, StrategyError
from xraybot.strategy.base import FeatureCache, Param, Params, Signals, Strategy
from xraybot.strategy.guard import compute_signals
from xraybot.strategy.registry import load_strategy

NO_FEES = BacktestSettings(fee_rate=0.0)
PEAK = 40


class ExitAt(Strategy):
    """Buys on the first candle and sells once candle ``exit_at`` has closed: on a price
    that rises to candle PEAK and falls after it, ``exit_at = PEAK`` is the one optimum."""

    name: ClassVar[str] = "exit_at"
    parameters: ClassVar[tuple[Param, ...]] = (Param("exit_at", 5, 1, 79, 1),)

    def signals(
        self, candles: Candles, params: Params, cache: FeatureCache | None = None
    ) -> Signals:
        n = len(candles)
        entry = np.zeros(n, dtype=np.bool_)
        entry[0] = True
        exit_ = np.zeros(n, dtype=np.bool_)
        at = int(params["exit_at"])
        if at < n:
            exit_[at] = True
        return Signals(entry_long=entry, exit_long=exit_)


def triangle(symbol: str = "TRI/USDT", n: int = 100) -> Candles:
    t = np.arange(n, dtype=np.float64)
    close = np.where(t <= PEAK, 100.0 + t, 100.0 + 2 * PEAK - t)
    open_ = np.concatenate([[100.0], close[:-1]])
    ts = 1_700_000_000_000 + np.arange(n, dtype=np.int64) * 3_600_000
    return Candles(symbol, "1h", ts, open_, np.maximum(open_, close), np.minimum(open_, close),
                   close, np.ones(n))  # fmt: skip


@pytest.fixture(scope="module")
def sample() -> list[Candles]:
    loaded = load_series(
        sample_dir(),
        SAMPLE_EXCHANGE,
        ["BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT"],
        SAMPLE_TIMEFRAME,
    )
    return [c.tail(2500) for c in loaded]


RSI_SPACE = {"rsi_period": {"low": 5, "high": 30}, "entry_level": {"low": 15, "high": 40}}


def test_tpe_finds_the_known_optimum() -> None:
    report = optimize(
        ExitAt(), [triangle()], NO_FEES, trials=60, objectives=("return",), oos_fraction=0.2,
        pruning=False,
    )  # fmt: skip
    assert report.sampler == "tpe"
    assert report.trials == report.completed == 60
    assert report.best_params["exit_at"] == PEAK
    # Bought at the open of candle 1 (100), sold at the open of PEAK + 1 (the peak close).
    assert report.best[0].values[0] == pytest.approx((100.0 + PEAK) / 100.0 - 1.0)


def test_grid_visits_every_point_once() -> None:
    report = optimize(
        ExitAt(), [triangle()], NO_FEES, trials=500, objectives=("return",), sampler="grid",
        space={"exit_at": {"low": 30, "high": 50, "step": 2}}, oos_fraction=0.0,
    )  # fmt: skip
    assert report.completed == 11  # 30, 32, ..., 50: the grid is exhausted, not 500 trials
    assert report.best_params["exit_at"] == PEAK
    assert report.best[0].out_of_sample is None  # nothing held out


class FailsLate(ExitAt):
    name: ClassVar[str] = "fails_late"

    def signals(
        self, candles: Candles, params: Params, cache: FeatureCache | None = None
    ) -> Signals:
        if int(params["exit_at"]) > 50:
            raise ValueError("exit_at above 50 is not supported")
        return super().signals(candles, params, cache)


def test_failed_trials_are_counted_and_explained() -> None:
    report = optimize(
        FailsLate(), [triangle()], NO_FEES, trials=10, objectives=("return",), sampler="grid",
        space={"exit_at": [30, 40, 50, 60]}, oos_fraction=0.0,
    )  # fmt: skip
    assert (report.completed, report.failed) == (3, 1)
    assert report.best_params["exit_at"] == PEAK
    assert "1 trial(s) failed" in report.warnings[0]
    assert "exit_at above 50 is not supported" in report.warnings[0]
    with pytest.raises(StrategyError, match=r"no trial .* completed; the first failure: .*50"):
        optimize(FailsLate(), [triangle()], NO_FEES, trials=2, sampler="grid",
                 space={"exit_at": [60, 70]}, oos_fraction=0.0)  # fmt: skip


def test_nsga2_returns_a_non_dominated_front(sample: list[Candles], tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    report = optimize(
        "rsi_reversion", sample[:2], trials=40, objectives=("return", "max_drawdown"),
        sampler="nsga2", space=RSI_SPACE, storage=storage, study_name="front", seed=3,
    )  # fmt: skip
    assert report.directions == ("maximize", "minimize")
    assert not report.pruning  # Optuna prunes single-objective studies only
    study = optuna.load_study(study_name="front", storage=storage)
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 40
    front = [c.values for c in report.best]
    assert front

    def dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
        return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])

    for point in front:
        assert not any(dominates(tuple(t.values), point) for t in complete)
    # Every candidate carries both evaluations; the IS objectives are the trial's values.
    for candidate in report.best:
        assert candidate.in_sample.objectives["return"] == pytest.approx(candidate.values[0])
        assert candidate.in_sample.objectives["max_drawdown"] == pytest.approx(candidate.values[1])
        assert candidate.out_of_sample is not None


def test_pruning_prunes_and_can_be_switched_off(sample: list[Candles]) -> None:
    pieces = [part for c in sample for part in (c.between(None, int(c.ts_ms[-1250])), c.tail(1250))]
    pruned = optimize("rsi_reversion", pieces, trials=30, space=RSI_SPACE, seed=1)
    assert pruned.pruning
    assert pruned.pruned > 0
    assert pruned.completed + pruned.pruned + pruned.failed == pruned.trials == 30
    unpruned = optimize("rsi_reversion", pieces, trials=12, space=RSI_SPACE, seed=1, pruning=False)
    assert unpruned.pruned == 0
    assert unpruned.completed == 12


def test_trials_report_at_quarters_never_after_the_last_series() -> None:
    assert pruning_checkpoints(1) == frozenset()
    assert pruning_checkpoints(2) == {0}
    assert pruning_checkpoints(4) == {0, 1, 2}
    assert pruning_checkpoints(30) == {6, 14, 21}


def test_out_of_sample_is_the_held_out_slice_only(sample: list[Candles]) -> None:
    settings = BacktestSettings(fee_rate=0.001)
    report = optimize(
        "rsi_reversion", sample[:2], settings, trials=3, sampler="grid",
        space={"rsi_period": [10, 14, 20]}, oos_fraction=0.3,
    )  # fmt: skip
    candidate = report.best[0]
    assert candidate.out_of_sample is not None
    strategy = load_strategy("rsi_reversion")
    params = strategy.resolve(candidate.params)
    for i, candles in enumerate(sample[:2]):
        n = len(candles)
        cut = n - math.floor(n * 0.3)
        held_out = candles.between(int(candles.ts_ms[cut]), None)
        full = compute_signals(strategy, candles, params)
        tail = Signals(full.entry_long[cut:], full.exit_long[cut:])
        equity, exposure, trades = simulate(held_out, tail, strategy.exit_rules(params), settings)
        expected = metrics_from_arrays(
            held_out.ts_ms, equity, exposure, trades, held_out.close, 3_600_000, 10_000.0
        )
        oos = candidate.out_of_sample.per_symbol[i]
        assert oos.candles == n - cut
        assert oos.start_ms == int(candles.ts_ms[cut])
        assert oos.total_return == pytest.approx(expected.total_return, rel=1e-12)
        assert oos.trades == expected.trades
        in_sample = candidate.in_sample.per_symbol[i]
        assert in_sample.candles == cut
        assert in_sample.end_ms == int(candles.ts_ms[cut])  # IS ends where OOS starts
    assert candidate.in_sample.candles + candidate.out_of_sample.candles == sum(
        len(c) for c in sample[:2]
    )
    assert candidate.in_sample.objectives["sharpe"] == pytest.approx(candidate.values[0])
    payload = report.to_dict()
    assert payload["best"][0]["out_of_sample"]["per_symbol"][0]["symbol"] == sample[0].symbol


def test_two_workers_share_one_study(sample: list[Candles]) -> None:
    report = optimize(
        "rsi_reversion", sample[:2], trials=6, space=RSI_SPACE, workers=2, pruning=False
    )
    assert report.workers == 2
    assert report.storage == "journal file (temporary)"
    assert report.trials == report.completed == report.study_trials == 6
    assert report.best[0].out_of_sample is not None


@pytest.mark.services
def test_two_calls_join_one_postgresql_study(sample: list[Candles], postgres_url: object) -> None:
    url = postgres_url.render_as_string(hide_password=False)  # type: ignore[attr-defined]
    first = optimize(
        "rsi_reversion", sample[:1], trials=4, space=RSI_SPACE, storage=url,
        study_name="shared", seed=1,
    )  # fmt: skip
    second = optimize(
        "rsi_reversion", sample[:1], trials=4, space=RSI_SPACE, storage=url,
        study_name="shared", seed=2, workers=2,
    )  # fmt: skip
    assert first.study_trials == first.trials == 4
    assert second.trials == 4
    assert second.study_trials == 8
    assert second.best[0].values[0] >= first.best[0].values[0]  # it sees the first's trials


def test_arguments_are_checked(sample: list[Candles]) -> None:
    with pytest.raises(InvalidInputError, match="unknown objective 'sharp'"):
        optimize("rsi_reversion", sample[:1], objectives=("sharp",))
    with pytest.raises(InvalidInputError, match="sampler must be one of"):
        optimize("rsi_reversion", sample[:1], sampler="cmaes")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="oos_fraction"):
        optimize("rsi_reversion", sample[:1], oos_fraction=0.95)
    with pytest.raises(InvalidInputError, match="needs a step"):
        optimize("rsi_reversion", sample[:1], sampler="grid", space={"stop_loss": {"step": None}})
    with pytest.raises(InvalidInputError, match="too few"):
        optimize("rsi_reversion", [sample[0].tail(2)], oos_fraction=0.3)
    assert objective_direction("return") == "maximize"
    assert objective_direction("max_drawdown") == "minimize"
    assert objective_direction("worst_max_drawdown") == "minimize"

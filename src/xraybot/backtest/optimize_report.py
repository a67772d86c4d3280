"""What an optimization found: the best parameter sets with in- and out-of-sample figures.

Also the objectives themselves: ``Metrics`` field names averaged over the series (NaN
ignored; ``return`` is ``total_return``), or ``AggregateMetrics`` names; drawdowns,
volatility, fees and losses are minimized, everything else maximized.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from xraybot.backtest.engine import simulate
from xraybot.backtest.metrics import (
    AggregateMetrics,
    Metrics,
    aggregate_metrics,
    json_safe,
    metrics_from_arrays,
)
from xraybot.backtest.optimize_space import SearchSpace
from xraybot.backtest.results import BacktestSettings
from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError, StrategyError
from xraybot.strategy.base import ParamValue, Signals, Strategy
from xraybot.strategy.guard import compute_signals

__all__ = [
    "Candidate",
    "Evaluation",
    "OptimizationReport",
    "best_candidates",
    "objective_direction",
    "objective_key",
    "objective_value",
    "run_metrics",
]

_ALIASES = {"return": "total_return"}
_METRIC_NAMES = frozenset(f.name for f in fields(Metrics))
_AGGREGATE_NAMES = frozenset(f.name for f in fields(AggregateMetrics))
_MINIMIZE = frozenset(
    {
        "max_drawdown",
        "max_drawdown_duration_ms",
        "mean_max_drawdown",
        "worst_max_drawdown",
        "volatility",
        "fees",
        "losses",
        "gross_loss",
        "avg_trade_duration_ms",
    }
)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One parameter set on one part (in- or out-of-sample) of every series."""

    objectives: Mapping[str, float]
    aggregate: AggregateMetrics
    per_symbol: tuple[Metrics, ...]
    candles: int

    def to_dict(self, symbols: Sequence[str]) -> dict[str, Any]:
        return {
            "candles": self.candles,
            "objectives": {k: json_safe(v) for k, v in self.objectives.items()},
            "aggregate": self.aggregate.to_dict(),
            "per_symbol": [
                {"symbol": s, **m.to_dict()} for s, m in zip(symbols, self.per_symbol, strict=True)
            ],
        }


@dataclass(frozen=True, slots=True)
class Candidate:
    """A best parameter set (the best trial, or one point of the Pareto front)."""

    trial: int
    params: Mapping[str, ParamValue]
    values: tuple[float, ...]
    in_sample: Evaluation
    out_of_sample: Evaluation | None


@dataclass(frozen=True, slots=True)
class OptimizationReport:
    strategy: str
    study_name: str
    storage: str
    sampler: str
    objectives: tuple[str, ...]
    directions: tuple[str, ...]
    space: Mapping[str, str]
    fixed: Mapping[str, ParamValue]
    symbols: tuple[str, ...]
    oos_fraction: float
    pruning: bool
    workers: int
    trials: int  # finished by this call
    completed: int
    pruned: int
    failed: int
    study_trials: int  # finished in the whole study (other calls and machines included)
    best: tuple[Candidate, ...]
    elapsed_s: float
    warnings: tuple[str, ...] = field(default=())

    @property
    def best_params(self) -> Mapping[str, ParamValue]:
        """The parameters of the best trial (the first point of a Pareto front)."""
        return self.best[0].params

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "study_name": self.study_name,
            "storage": self.storage,
            "sampler": self.sampler,
            "objectives": list(self.objectives),
            "directions": list(self.directions),
            "space": dict(self.space),
            "fixed": dict(self.fixed),
            "symbols": list(self.symbols),
            "oos_fraction": self.oos_fraction,
            "pruning": self.pruning,
            "workers": self.workers,
            "trials": self.trials,
            "completed": self.completed,
            "pruned": self.pruned,
            "failed": self.failed,
            "study_trials": self.study_trials,
            "elapsed_s": self.elapsed_s,
            "warnings": list(self.warnings),
            "best": [
                {
                    "trial": c.trial,
                    "params": dict(c.params),
                    "values": [json_safe(v) for v in c.values],
                    "in_sample": c.in_sample.to_dict(self.symbols),
                    "out_of_sample": (
                        None if c.out_of_sample is None else c.out_of_sample.to_dict(self.symbols)
                    ),
                }
                for c in self.best
            ],
        }


def objective_direction(name: str) -> Literal["minimize", "maximize"]:
    """``minimize`` for drawdowns, volatility and costs, ``maximize`` for everything else."""
    key = objective_key(name)
    return "minimize" if key in _MINIMIZE else "maximize"


def objective_key(name: str) -> str:
    key = _ALIASES.get(name, name)
    if key not in _METRIC_NAMES and key not in _AGGREGATE_NAMES:
        known = ", ".join(sorted(_METRIC_NAMES | _AGGREGATE_NAMES | set(_ALIASES)))
        raise InvalidInputError(f"unknown objective {name!r}; choose from: {known}.")
    return key


def objective_value(name: str, metrics: Sequence[Metrics]) -> float:
    """The value of objective ``name`` over the per-series ``metrics``."""
    key = objective_key(name)
    if key in _METRIC_NAMES:
        column = np.array([getattr(m, key) for m in metrics], dtype=np.float64)
        finite = column[~np.isnan(column)]
        return float(finite.mean()) if finite.size else math.nan
    return float(getattr(aggregate_metrics(list(metrics)), key))


def run_metrics(
    strategy: Strategy,
    candles: Candles,
    signals: Signals,
    params: Mapping[str, ParamValue],
    settings: BacktestSettings,
) -> Metrics:
    exits = settings.exits or strategy.exit_rules(params)
    equity, exposure, trades = simulate(candles, signals, exits, settings)
    return metrics_from_arrays(
        candles.ts_ms,
        equity,
        exposure,
        trades,
        candles.close,
        candles.timeframe_ms,
        settings.equity,
    )


# -- the report ---------------------------------------------------------------------------


def best_candidates(
    study: optuna.Study,
    strategy: Strategy,
    space: SearchSpace,
    series: Sequence[Candles],
    settings: BacktestSettings,
    cuts: Sequence[int],
    objectives: tuple[str, ...],
) -> tuple[Candidate, ...]:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise StrategyError(
            f"no trial of study {study.study_name!r} completed; "
            f"{_failure_hint(study.get_trials(deepcopy=False))}"
        )
    if len(objectives) == 1:
        chosen = [study.best_trial]
    else:  # the front, best first by the first objective
        first_up = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
        chosen = sorted(study.best_trials, key=lambda t: t.values[0], reverse=first_up)
    held_out = any(cut < len(c) for c, cut in zip(series, cuts, strict=True))
    out = []
    for trial in chosen:
        params = strategy.resolve({**space.fixed, **trial.params})
        out.append(
            Candidate(
                trial=trial.number,
                params=params,
                values=tuple(float(v) for v in trial.values),
                in_sample=_evaluate(strategy, series, cuts, params, settings, objectives, False),
                out_of_sample=(
                    _evaluate(strategy, series, cuts, params, settings, objectives, True)
                    if held_out
                    else None
                ),
            )
        )
    return tuple(out)


def _evaluate(
    strategy: Strategy,
    series: Sequence[Candles],
    cuts: Sequence[int],
    params: Mapping[str, ParamValue],
    settings: BacktestSettings,
    objectives: tuple[str, ...],
    held_out: bool,
) -> Evaluation:
    metrics = []
    candles_used = 0
    for candles, cut in zip(series, cuts, strict=True):
        if held_out:
            signals = _tail(compute_signals(strategy, candles, params), cut)
            part = candles.between(int(candles.ts_ms[cut]), None)
        else:
            part = (
                candles if cut >= len(candles) else candles.between(None, int(candles.ts_ms[cut]))
            )
            signals = compute_signals(strategy, part, params)
        metrics.append(run_metrics(strategy, part, signals, params, settings))
        candles_used += len(part)
    return Evaluation(
        objectives={o: objective_value(o, metrics) for o in objectives},
        aggregate=aggregate_metrics(metrics),
        per_symbol=tuple(metrics),
        candles=candles_used,
    )


def _tail(signals: Signals, start: int) -> Signals:
    def cut(values: Any) -> Any:
        return None if values is None else values[start:]

    return Signals(
        signals.entry_long[start:],
        signals.exit_long[start:],
        cut(signals.entry_short),
        cut(signals.exit_short),
        cut(signals.strength),
        {name: values[start:] for name, values in signals.features.items()},
    )


def _failure_hint(trials: Sequence[FrozenTrial]) -> str:
    for trial in trials:
        error = trial.user_attrs.get("error")
        if error:
            return f"the first failure: {error}"
    pruned = sum(1 for t in trials if t.state == TrialState.PRUNED)
    return f"{pruned} were pruned; run more trials or pass pruning=False."

"""Parameter optimization with Optuna: TPE, NSGA-II fronts, pruning, parallel and distributed.

What a search optimizes is the **in-sample** part of every series, the first
``1 - oos_fraction`` of its candles; the rest is held out. The report shows the best
parameter sets with their in-sample metrics *and* their out-of-sample metrics, so a fit
that only memorised the past is visible at once.

- ``sampler="tpe"``: Optuna's TPE (one objective or several).
- ``sampler="nsga2"``: NSGA-II, the genetic search, for multi-objective fronts such as
  ``objectives=("return", "max_drawdown")``; the report holds the whole Pareto front.
- ``sampler="grid"``: every point of the space (each numeric range needs a step).
- **Pruning** (one objective only, as Optuna requires): after each series a trial reports
  the running mean of its objective, and ``MedianPruner`` stops trials that fall below the
  median of earlier trials at the same step.
- **Objectives** are ``Metrics`` field names (``sharpe``, ``total_return`` or its alias
  ``return``, ``max_drawdown``, ``sortino``, ``calmar``, ``profit_factor``, ...) averaged
  over the series (NaN ignored), or ``AggregateMetrics`` names (``worst_max_drawdown``,
  ``median_return``, ...). Drawdowns, volatility and fees are minimized, the rest maximized.
- **Parallel**: ``workers > 1`` runs that many processes on one Optuna storage (a journal
  file in a temporary folder unless ``storage`` is given), each mapping the same read-only
  copy of the candles (``shared_data.SharedSeries``) instead of holding its own.
- **Distributed**: ``storage="postgresql://host/db"`` plus the same ``study_name`` on any
  number of machines joins one study (Optuna's RDB storage); each call runs ``trials`` more.

Out-of-sample signals are computed on the whole series and the kernel runs on the held-out
part only, starting flat with fresh equity: indicators arrive warmed up, as they would in
live trading, and no held-out candle ever reaches the search.
"""

from __future__ import annotations

import math
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path

import optuna
from optuna.trial import TrialState

from xraybot.backtest.optimize_report import (
    Candidate,
    Evaluation,
    OptimizationReport,
    best_candidates,
    objective_direction,
    objective_key,
)
from xraybot.backtest.optimize_space import SpaceSpec, search_space
from xraybot.backtest.optimize_trials import (
    FINISHED,
    Job,
    Sampler,
    counts,
    describe_storage,
    first_error,
    init_worker,
    open_storage,
    run_parallel,
    run_trials,
)
from xraybot.backtest.results import BacktestSettings
from xraybot.backtest.shared_data import SharedSeries
from xraybot.backtest.sweep import StrategyRef, SweepProgress, process_pool, warm_kernel
from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError
from xraybot.strategy.base import Strategy

__all__ = [
    "SAMPLERS",
    "Candidate",
    "Evaluation",
    "OptimizationReport",
    "Sampler",
    "objective_direction",
    "optimize",
]

SAMPLERS = ("tpe", "nsga2", "grid")


def optimize(
    strategy: Strategy | str,
    series: Sequence[Candles],
    settings: BacktestSettings | None = None,
    *,
    space: Mapping[str, SpaceSpec] | None = None,
    trials: int = 100,
    objectives: Sequence[str] = ("sharpe",),
    sampler: Sampler = "tpe",
    workers: int = 1,
    storage: str | None = None,
    study_name: str | None = None,
    seed: int = 0,
    oos_fraction: float = 0.3,
    pruning: bool = True,
    progress: SweepProgress | None = None,
) -> OptimizationReport:
    """Search ``strategy``'s parameters on the in-sample part of ``series`` (see the module
    docstring); return the best sets with in- and out-of-sample metrics."""
    started = time.perf_counter()
    settings = settings or BacktestSettings()
    ref = StrategyRef.of(strategy)
    resolved = ref.load()
    objectives = tuple(objectives)
    _check_args(series, objectives, sampler, trials, workers, oos_fraction)
    space_ = search_space(resolved, space)
    if sampler == "grid":
        space_.grid()  # a range without a step fails here, before any work
    notes = []
    if pruning and len(objectives) > 1:
        notes.append("pruning is off: Optuna prunes single-objective studies only.")
    pruning = pruning and len(objectives) == 1
    directions = tuple(objective_direction(o) for o in objectives)
    cuts = tuple(_cut(c, oos_fraction) for c in series)
    workers = min(workers, trials)
    name = study_name or f"{resolved.name}-{uuid.uuid4().hex[:8]}"
    # Failed trials are counted and the first error is reported; Optuna need not print each.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="xraybot-optimize-") as folder, ExitStack() as stack:
        location = storage or (f"journal:{Path(folder) / 'study.log'}" if workers > 1 else None)
        job = Job(ref, settings, space_, objectives, sampler, seed, pruning, location, name, cuts)
        pool = None
        if workers > 1:
            shared = (
                series if isinstance(series, SharedSeries) else SharedSeries.create(series, folder)
            )
            # Started before the study opens a database or the progress bar starts its
            # thread, so that the workers can be forked (see sweep.process_pool).
            pool = stack.enter_context(
                process_pool(workers, init_worker, (job, shared), warm_kernel)
            )
        try:
            study = optuna.create_study(
                storage=open_storage(location),
                study_name=name,
                directions=list(directions),
                load_if_exists=True,
            )
        except ValueError as e:  # joining a study created with other objectives
            raise InvalidInputError(f"cannot join study {name!r}: {e}") from e
        before = counts(study)
        if progress is not None:
            progress.stage(f"optimize {resolved.name}", trials)
        if pool is None:
            run_trials(job, study, list(series), trials, 0, progress)
        else:
            run_parallel(job, study, pool, trials, workers, before, progress)
        after = counts(study)
        if after[TrialState.FAIL] > before[TrialState.FAIL]:
            failed = after[TrialState.FAIL] - before[TrialState.FAIL]
            notes.append(f"{failed} trial(s) failed; the first: {first_error(study)}")
        best = best_candidates(study, resolved, space_, list(series), settings, cuts, objectives)
    done = {state: after[state] - before[state] for state in FINISHED}
    return OptimizationReport(
        strategy=resolved.name,
        study_name=name,
        storage=describe_storage(storage, workers),
        sampler=sampler,
        objectives=objectives,
        directions=directions,
        space=space_.describe(),
        fixed=dict(space_.fixed),
        symbols=tuple(c.symbol for c in series),
        oos_fraction=oos_fraction,
        pruning=pruning,
        workers=workers,
        trials=sum(done.values()),
        completed=done[TrialState.COMPLETE],
        pruned=done[TrialState.PRUNED],
        failed=done[TrialState.FAIL],
        study_trials=sum(after.values()),
        best=best,
        elapsed_s=time.perf_counter() - started,
        warnings=tuple(notes),
    )


# -- arguments ----------------------------------------------------------------------------


def _cut(candles: Candles, oos_fraction: float) -> int:
    n = len(candles)
    cut = n - math.floor(n * oos_fraction)
    if cut < 2 or (oos_fraction > 0 and n - cut < 2):
        raise InvalidInputError(
            f"{candles.symbol} {candles.timeframe} has {n} candles, too few to hold out "
            f"{oos_fraction:.0%} for out-of-sample; load more history or lower the fraction."
        )
    return cut


def _check_args(
    series: Sequence[Candles],
    objectives: tuple[str, ...],
    sampler: str,
    trials: int,
    workers: int,
    oos_fraction: float,
) -> None:
    if not series:
        raise InvalidInputError("optimize needs at least one candle series; found none.")
    if not objectives:
        raise InvalidInputError("give at least one objective, e.g. ('sharpe',).")
    for name in objectives:
        objective_key(name)
    if len(set(objectives)) != len(objectives):
        raise InvalidInputError(f"objectives repeat a name; found {list(objectives)}.")
    if sampler not in SAMPLERS:
        raise InvalidInputError(f"sampler must be one of {', '.join(SAMPLERS)}; found {sampler!r}.")
    if trials < 1:
        raise InvalidInputError(f"trials must be >= 1; found {trials}.")
    if workers < 1:
        raise InvalidInputError(f"workers must be >= 1; found {workers}.")
    if not (0.0 <= oos_fraction <= 0.9):
        raise InvalidInputError(
            f"oos_fraction must be in [0, 0.9] (0.3 holds out the last 30 %); "
            f"found {oos_fraction!r}."
        )

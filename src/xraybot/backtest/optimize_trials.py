"""Running the trials: the objective, Optuna's samplers and pruner, storages, workers.

A trial evaluates one parameter set on the in-sample part of every series, one series per
step (the step a pruner judges). Workers are processes on one machine that each open the
shared study and map the shared candles (``shared_data.SharedSeries``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Literal

import optuna
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState
from sqlalchemy.engine import make_url

from xraybot.backtest.metrics import Metrics
from xraybot.backtest.optimize_report import objective_value, run_metrics
from xraybot.backtest.optimize_space import SearchSpace
from xraybot.backtest.results import BacktestSettings
from xraybot.backtest.shared_data import SharedSeries
from xraybot.backtest.sweep import StrategyRef, SweepProgress, watch_parent
from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError, StrategyError
from xraybot.strategy.base import FeatureCache, Strategy
from xraybot.strategy.guard import compute_signals

__all__ = [
    "FINISHED",
    "Job",
    "counts",
    "describe_storage",
    "first_error",
    "init_worker",
    "open_storage",
    "pruning_checkpoints",
    "run_parallel",
    "run_trials",
]

Sampler = Literal["tpe", "nsga2", "grid"]
# Features cached across trials, per process: a repeated parameter value (TPE repeats the
# good ones) skips its indicator, but the caches of every series together may not grow past
# this, or each worker would hold more than the candles themselves.
FEATURE_BUDGET_BYTES = 64 * 1024 * 1024
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


@dataclass(frozen=True, slots=True)
class Job:
    """Everything a worker process needs besides the candles (which it maps itself)."""

    ref: StrategyRef
    settings: BacktestSettings
    space: SearchSpace
    objectives: tuple[str, ...]
    sampler: Sampler
    seed: int
    pruning: bool
    storage: str | None
    study_name: str
    cuts: tuple[int, ...]


class _Objective:
    """Evaluates one trial on the in-sample part of every series, one series per step."""

    def __init__(self, job: Job, strategy: Strategy, series: Sequence[Candles]) -> None:
        self._job = job
        self._strategy = strategy
        self._series = [
            c if cut >= len(c) else c.between(None, int(c.ts_ms[cut]))
            for c, cut in zip(series, job.cuts, strict=True)
        ]
        self._caches = [FeatureCache() for _ in self._series]
        self._candles = sum(len(c) for c in self._series)
        self._checkpoints = pruning_checkpoints(len(self._series))

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, ...]:
        try:
            return self._evaluate(trial)
        except StrategyError as e:  # failed trial: keep why, for the report
            trial.set_user_attr("error", str(e))
            raise

    def _evaluate(self, trial: optuna.Trial) -> float | tuple[float, ...]:
        # Features are float64 arrays of one value per candle: estimate, and start afresh
        # once over budget.
        entries = max((len(cache) for cache in self._caches), default=0)
        if entries * self._candles * 8 > FEATURE_BUDGET_BYTES:
            self._caches = [FeatureCache() for _ in self._series]
        job = self._job
        params = self._strategy.resolve(job.space.suggest(trial))
        done: list[Metrics] = []
        checkpoints = self._checkpoints if job.pruning else frozenset()
        for step, candles in enumerate(self._series):
            signals = compute_signals(self._strategy, candles, params, self._caches[step])
            done.append(run_metrics(self._strategy, candles, signals, params, job.settings))
            if step in checkpoints:
                trial.report(objective_value(job.objectives[0], done), step)
                if trial.should_prune():
                    raise optuna.TrialPruned()
        values = tuple(objective_value(o, done) for o in job.objectives)
        return values[0] if len(values) == 1 else values


def run_trials(
    job: Job,
    study: optuna.Study,
    series: Sequence[Candles],
    trials: int,
    worker: int,
    progress: SweepProgress | None,
) -> None:
    strategy = job.ref.load()
    study.sampler = _sampler(job, worker)
    study.pruner = _pruner(job)
    callbacks = [] if progress is None else [lambda _s, _t: progress.advance()]
    objective = _Objective(job, strategy, series)
    study.optimize(objective, n_trials=trials, catch=(StrategyError,), callbacks=callbacks)


# -- parallel workers ---------------------------------------------------------------------


def run_parallel(
    job: Job,
    study: optuna.Study,
    pool: ProcessPoolExecutor,
    trials: int,
    workers: int,
    before: Mapping[TrialState, int],
    progress: SweepProgress | None,
) -> None:
    shares = [trials // workers + (1 if i < trials % workers else 0) for i in range(workers)]
    futures = [pool.submit(_worker_trials, share, i) for i, share in enumerate(shares)]
    shown = 0
    pending = set(futures)
    while pending:
        _, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
        if progress is not None:
            now = min(trials, sum(counts(study).values()) - sum(before.values()))
            progress.advance(max(0, now - shown))
            shown = max(shown, now)
    for future in futures:
        future.result()  # raise a worker's failure here


_worker: dict[str, Any] = {}  # per worker process, set by the pool's initializer


def init_worker(job: Job, shared: SharedSeries) -> None:
    watch_parent()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    _worker.update(job=job, series=shared)


def _worker_trials(trials: int, worker: int) -> int:
    job: Job = _worker["job"]
    storage = open_storage(job.storage)
    assert storage is not None  # parallel runs always have a shared storage
    study = optuna.load_study(study_name=job.study_name, storage=storage)
    run_trials(job, study, list(_worker["series"]), trials, worker, None)
    return trials


# -- Optuna pieces ------------------------------------------------------------------------


def _sampler(job: Job, worker: int) -> optuna.samplers.BaseSampler:
    seed = job.seed + worker  # distinct streams per worker, reproducible per seed
    if job.sampler == "grid":
        return optuna.samplers.GridSampler(job.space.grid(), seed=seed)
    if job.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=20, seed=seed)
    return optuna.samplers.TPESampler(seed=seed, multivariate=True)


def pruning_checkpoints(steps: int) -> frozenset[int]:
    """The steps (series indices) after which a trial reports its running objective: a
    quarter, half and three quarters of the way, never the last (a finished trial is
    worth keeping). Few reports, because each is a write to the shared storage and each
    pruning decision a read of every trial."""
    return frozenset(q * steps // 4 - 1 for q in (1, 2, 3) if 0 < q * steps // 4 < steps)


def _pruner(job: Job) -> optuna.pruners.BasePruner:
    if not job.pruning:
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=5)


def open_storage(location: str | None) -> optuna.storages.BaseStorage | None:
    if location is None:
        return None
    if location.startswith("journal:"):
        backend = JournalFileBackend(location.removeprefix("journal:"))
        return optuna.storages.JournalStorage(backend)
    url = location
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):  # SQLAlchemy's default driver is psycopg2; we ship psycopg 3
            url = "postgresql+psycopg://" + url.removeprefix(prefix)
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
    except Exception as e:
        raise InvalidInputError(
            f"cannot open the Optuna storage {_redacted(location)}: {type(e).__name__}: {e}. "
            "Give a database URL such as postgresql://user@host/db or sqlite:///study.db."
        ) from e


def describe_storage(storage: str | None, workers: int) -> str:
    if storage:
        return _redacted(storage)
    return "journal file (temporary)" if workers > 1 else "memory"


def _redacted(location: str) -> str:
    try:
        return make_url(location).render_as_string(hide_password=True)
    except Exception:
        return location.split("@")[-1] if "@" in location else location


def first_error(study: optuna.Study) -> str | None:
    """Why the first failed trial of the study failed, if one did."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        error = trial.user_attrs.get("error")
        if error:
            return str(error)
    return None


def counts(study: optuna.Study) -> dict[TrialState, int]:
    trials = study.get_trials(deepcopy=False, states=FINISHED)
    return {state: sum(1 for t in trials if t.state == state) for state in FINISHED}

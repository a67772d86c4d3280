"""Selection: keep the symbols whose out-of-sample backtest passes the thresholds.

For every symbol given (the screener's survivors), :func:`select_symbols` backtests the
configured strategy on the most recent ``oos_fraction`` of its candles, with the strategy's
warm-up taken from the in-sample part before it (:mod:`.select_run`), and judges the OOS
metrics against ``min_return``, ``min_sharpe``, ``max_drawdown`` and ``min_trades``
(:mod:`.select_config`). It also recommends, per symbol, the candidate strategy with the best
OOS trades in the symbol's current regime (:mod:`.select_regime`).

Nothing is dropped silently: every symbol ends ``selected`` or ``rejected`` with its reasons,
at the stage that decided it — ``data`` (too few candles for the OOS period or the warm-up),
``strategy`` (the strategy raised on this symbol) or ``thresholds`` (each failed one named,
with the number found). When a result cache is given, each backtest says whether it was
served from the cache, computed, or recomputed because the cached copy was unusable (and why);
the report counts them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from xraybot.backtest.select_config import (
    AUTO,
    EXCLUDED_CANDIDATES,
    SelectionConfig,
    load_select_config,
    select_config_from,
)
from xraybot.backtest.select_regime import Recommendation, RegimeView, recommend, regime_view
from xraybot.backtest.select_report import (
    CacheCounts,
    SelectionReport,
    Stage,
    SymbolSelection,
    ThresholdCheck,
    check_thresholds,
)
from xraybot.backtest.select_run import (
    CacheStatus,
    ResultCache,
    StrategyRun,
    oos_start,
    run_oos,
    warmup_shortfall,
)
from xraybot.model.candles import Candles
from xraybot.model.errors import StrategyError
from xraybot.strategy.base import ParamValue, Strategy

__all__ = [
    "AUTO",
    "CacheCounts",
    "CacheStatus",
    "Recommendation",
    "ResultCache",
    "SelectProgress",
    "SelectionConfig",
    "SelectionReport",
    "StrategyRun",
    "SymbolSelection",
    "ThresholdCheck",
    "check_thresholds",
    "load_select_config",
    "select_config_from",
    "select_symbols",
]


class SelectProgress(Protocol):
    """Told what the selection is doing, for a progress bar (the screen's bar fits)."""

    def stage(self, description: str, total: int) -> None: ...

    def advance(self, steps: int = 1) -> None: ...


class _Quiet:
    def stage(self, description: str, total: int) -> None:
        pass

    def advance(self, steps: int = 1) -> None:
        pass


@dataclass(slots=True)
class _Tally:
    hits: int = 0
    computed: int = 0
    recomputed: list[tuple[str, str, str]] = field(default_factory=list)
    uncached: list[tuple[str, str, str]] = field(default_factory=list)

    def count(self, symbol: str, run: StrategyRun) -> None:
        if run.cache is CacheStatus.HIT:
            self.hits += 1
        elif run.cache is CacheStatus.RECOMPUTED:
            self.recomputed.append((symbol, run.strategy, run.cache_reason))
        elif run.cache is CacheStatus.UNCACHED:
            self.uncached.append((symbol, run.strategy, run.cache_reason))
        else:
            self.computed += 1


def select_symbols(
    candles_by_symbol: Mapping[str, Candles],
    config: SelectionConfig,
    *,
    exchange: str = "",
    cache: ResultCache | None = None,
    progress: SelectProgress | None = None,
) -> SelectionReport:
    """Backtest each symbol out of sample and keep those that pass (see the module doc).

    ``candles_by_symbol`` holds closed candles, oldest first. ``cache`` serves unchanged
    backtests from storage. An unknown strategy name raises ``InvalidInputError`` before any
    backtest; a strategy raising on one symbol rejects that symbol, with the error.
    """
    from xraybot.strategy.registry import builtin_names, load_strategy

    started = time.monotonic()
    lineup: dict[str, tuple[Strategy, dict[str, ParamValue]]] = {}
    if not config.is_auto:
        main = load_strategy(config.strategy)
        lineup[config.strategy] = (main, main.resolve(config.params))
    names: tuple[str, ...] = ()
    if config.recommend:
        names = config.candidates or tuple(
            n for n in builtin_names() if n not in EXCLUDED_CANDIDATES
        )
        for name in names:
            if name not in lineup:
                strategy = load_strategy(name)
                lineup[name] = (strategy, strategy.resolve())
    progress = progress or _Quiet()
    progress.stage(
        f"OOS backtests: {len(candles_by_symbol)} symbols × {len(lineup)} strategies",
        len(candles_by_symbol) * len(lineup),
    )
    tally = _Tally()
    verdicts = []
    for symbol, candles in candles_by_symbol.items():
        verdict, runs = _select_one(
            symbol, candles, config, lineup, names, exchange, cache, progress
        )
        for run in runs:
            tally.count(symbol, run)
        verdicts.append(verdict)
    counts = CacheCounts(
        cache is not None,
        tally.hits,
        tally.computed,
        tuple(tally.recomputed),
        tuple(tally.uncached),
    )
    notes: tuple[str, ...] = ()
    if config.is_auto:
        notes = (
            'strategy "auto": each symbol is judged with the strategy recommended on the same '
            "OOS candles, which flatters the verdict; name one strategy for the stricter test",
        )
    return SelectionReport(config, tuple(verdicts), counts, time.monotonic() - started, notes)


def _select_one(
    symbol: str,
    candles: Candles,
    config: SelectionConfig,
    lineup: Mapping[str, tuple[Strategy, dict[str, ParamValue]]],
    candidates: tuple[str, ...],
    exchange: str,
    cache: ResultCache | None,
    progress: SelectProgress,
) -> tuple[SymbolSelection, tuple[StrategyRun, ...]]:
    n = len(candles)
    start = oos_start(n, config.oos_fraction)
    oos = n - start
    if oos < config.min_oos_candles:
        progress.advance(len(lineup))
        reason = (
            f"too little data: {n} closed {candles.timeframe} candles give {oos} OOS candles "
            f"(oos_fraction {config.oos_fraction:g}) < min_oos_candles {config.min_oos_candles}; "
            "read more history (history_days) or lower min_oos_candles"
        )
        judged = None if config.is_auto else config.strategy
        return SymbolSelection(symbol, False, "data", (reason,), judged, n, oos), ()
    runs: dict[str, StrategyRun] = {}
    skipped: dict[str, str] = {}
    errors: dict[str, str] = {}
    for spec, (strategy, params) in lineup.items():
        short = warmup_shortfall(strategy, params, start)
        if short is not None:
            skipped[spec] = f"too little data: {short}"
        else:
            try:
                runs[spec] = run_oos(
                    candles, strategy, spec, params, config.settings, start,
                    exchange=exchange, cache=cache,
                )  # fmt: skip
            except StrategyError as e:
                errors[spec] = f"strategy error: {e}"
                skipped[spec] = errors[spec]
        progress.advance()

    recommendation = None
    if config.recommend:
        view: RegimeView = regime_view(candles, config.regime_by)
        recommendation = recommend(
            {k: v for k, v in runs.items() if k in candidates},
            view,
            config.min_regime_trades,
            {k: v for k, v in skipped.items() if k in candidates},
        )
    if config.is_auto:
        judged = None if recommendation is None else recommendation.strategy
    else:
        judged = config.strategy
    run = runs.get(judged) if judged is not None else None
    verdict = _verdict(symbol, config, n, oos, judged, run, skipped, errors, recommendation)
    return verdict, tuple(runs.values())


def _verdict(
    symbol: str,
    config: SelectionConfig,
    n: int,
    oos: int,
    judged: str | None,
    run: StrategyRun | None,
    skipped: Mapping[str, str],
    errors: Mapping[str, str],
    recommendation: Recommendation | None,
) -> SymbolSelection:
    def reject(stage: Stage, reason: str) -> SymbolSelection:
        return SymbolSelection(
            symbol, False, stage, (reason,), judged, n, oos, run=run, recommendation=recommendation
        )

    if judged is None:
        reason = recommendation.reason if recommendation is not None else "no strategy"
        stage: Stage = "strategy" if errors and len(errors) == len(skipped) else "data"
        return reject(stage, reason)
    if run is None:
        why = skipped.get(judged, "not backtested")
        return reject("strategy" if judged in errors else "data", why)
    checks = check_thresholds(run.metrics, config)
    failed = tuple(c.describe() for c in checks if not c.passed)
    if failed:
        return SymbolSelection(
            symbol, False, "thresholds", failed, judged, n, oos, checks, run, recommendation
        )
    return SymbolSelection(symbol, True, "", (), judged, n, oos, checks, run, recommendation)

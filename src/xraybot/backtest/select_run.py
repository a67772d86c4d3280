"""One strategy's out-of-sample backtest on one symbol, warm-up included, OOS counted only.

The candles split at ``oos_start``: ``[0, oos_start)`` is in-sample, ``[oos_start, n)`` the
out-of-sample (OOS) period that is judged. The strategy is run on the slice that begins
``warmup(params)`` candles before ``oos_start``, so its indicators are settled when the OOS
period opens, and only decisions taken on OOS candles count: entry signals on the warm-up
candles are dropped before the kernel sees them. A decision on candle ``t`` fills at the open
of ``t + 1``, so no position is open at the close of ``oos_start`` and the result, trimmed to
the OOS candles, starts from the settings' equity exactly. Exits are untouched: a trade that
opens in the OOS period closes by its own rules, or at the last candle.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from typing import Any, Protocol

from xraybot.backtest.metrics import Metrics, compute_metrics
from xraybot.backtest.results import BacktestResult, BacktestSettings, TradeRecords
from xraybot.model.candles import Candles
from xraybot.model.errors import OperationalError
from xraybot.strategy.base import BoolArray, FeatureCache, Params, Signals, Strategy
from xraybot.strategy.guard import compute_signals


class CacheStatus(StrEnum):
    HIT = "hit"  # served from the result cache
    COMPUTED = "computed"  # run now: not cached yet (then stored), or no cache given
    RECOMPUTED = "recomputed"  # cached but unusable (corrupt, missing payload): run again
    UNCACHED = "uncached"  # run and not stored: the cache could not key it safely


class ResultCache(Protocol):
    """What selection needs of a result cache: the CLI's synchronous face of
    ``backtest.cache.BacktestCache`` (``cli.backtest_cache.open_cache``) is one."""

    def get_or_run(
        self,
        candles: Candles,
        strategy: Strategy,
        params: Mapping[str, Any] | None,
        settings: BacktestSettings,
        run: Callable[[], BacktestResult],
        *,
        exchange: str = "",
        variant: str = "",
    ) -> tuple[BacktestResult, Any]:
        """Return the stored result or ``run()`` it; the second item has ``status``/``reason``."""
        ...


_STATUS = {
    "hit": CacheStatus.HIT,
    "miss": CacheStatus.COMPUTED,
    "recomputed": CacheStatus.RECOMPUTED,
    "uncached": CacheStatus.UNCACHED,
}


@dataclass(frozen=True, slots=True)
class StrategyRun:
    """One strategy's OOS backtest on one symbol: the trimmed result and its metrics."""

    strategy: str  # the spec it was loaded from ("rsi_reversion", "my.py:Mine")
    params: Mapping[str, Any]
    warmup: int  # candles of in-sample history it was given before the OOS start
    oos_start_ms: int
    oos_end_ms: int  # the last OOS candle's open time
    result: BacktestResult  # the OOS candles only
    metrics: Metrics
    cache: CacheStatus
    cache_reason: str = ""

    @property
    def trades(self) -> TradeRecords:
        return self.result.trades


def oos_start(n: int, oos_fraction: float) -> int:
    """Return the index of the first OOS candle of ``n``: the last ``oos_fraction`` of them,
    rounded half up (10 candles at 0.25 give 3 OOS candles, from index 7)."""
    return n - math.floor(n * oos_fraction + 0.5)


def warmup_shortfall(strategy: Strategy, params: Params, start: int) -> str | None:
    """Say why ``start`` in-sample candles are too few for ``strategy``'s warm-up, or None."""
    need = strategy.warmup(params)
    if need <= start:
        return None
    return (
        f"{strategy.name} needs {need} warm-up candles before the OOS start; "
        f"only {start} in-sample candles"
    )


def run_oos(
    candles: Candles,
    strategy: Strategy,
    spec: str,
    params: Params,
    settings: BacktestSettings,
    start: int,
    *,
    exchange: str = "",
    cache: ResultCache | None = None,
) -> StrategyRun:
    """Backtest ``strategy`` on ``candles[start:]`` after its warm-up (see the module doc).

    Check :func:`warmup_shortfall` first; a strategy that raises is a ``StrategyError``.
    """
    warmup = strategy.warmup(params)
    if not 0 <= warmup <= start < len(candles):
        raise OperationalError(
            f"run_oos needs 0 <= warmup ({warmup}) <= start ({start}) < candles "
            f"({len(candles)}); check warmup_shortfall and the OOS size first."
        )
    piece = candles.tail(len(candles) - start + warmup)
    signals = _oos_only(compute_signals(strategy, piece, params, FeatureCache()), warmup)
    from xraybot.backtest.engine import run_backtest  # numba: imported when needed

    def run() -> BacktestResult:
        return run_backtest(piece, strategy, params, settings, exchange=exchange, signals=signals)

    status, reason = CacheStatus.COMPUTED, ""
    if cache is None:
        full = run()
    else:
        # The masked entries make this run differ from a plain backtest of the same slice.
        full, outcome = cache.get_or_run(
            piece, strategy, params, settings, run, exchange=exchange, variant=f"oos-from:{warmup}"
        )
        status = _STATUS.get(str(getattr(outcome, "status", outcome)), CacheStatus.COMPUTED)
        reason = str(getattr(outcome, "reason", None) or "")
    result = _trim(full, warmup)
    return StrategyRun(
        strategy=spec,
        params=dict(params),
        warmup=warmup,
        oos_start_ms=int(candles.ts_ms[start]),
        oos_end_ms=int(candles.ts_ms[-1]),
        result=result,
        metrics=compute_metrics(result),
        cache=status,
        cache_reason=reason,
    )


def _oos_only(signals: Signals, start: int) -> Signals:
    """Drop the entries decided on warm-up candles (their indicators are not trusted)."""

    def cut(flags: BoolArray) -> BoolArray:
        if not flags[:start].any():
            return flags
        kept = flags.copy()
        kept[:start] = False
        return kept

    short = None if signals.entry_short is None else cut(signals.entry_short)
    return replace(signals, entry_long=cut(signals.entry_long), entry_short=short)


def _trim(result: BacktestResult, start: int) -> BacktestResult:
    """Return ``result`` from candle ``start`` on, trade indices shifted to match."""
    trades = result.trades
    first_ms = int(result.ts_ms[start])
    if len(trades) and int(trades.entry_ts.min()) < first_ms:
        raise OperationalError(
            f"{result.symbol} {result.strategy}: the backtest entered a trade at "
            f"{int(trades.entry_ts.min())}, before the OOS start ({first_ms}) whose earlier "
            "entries were masked; the engine did not honour the signals it was given."
        )
    columns = {f.name: getattr(trades, f.name) for f in fields(trades)}
    columns["entry_index"] = trades.entry_index - start
    columns["exit_index"] = trades.exit_index - start
    close = result.close[start:] if result.close.shape[0] else result.close
    return replace(
        result,
        ts_ms=result.ts_ms[start:],
        equity=result.equity[start:],
        exposure=result.exposure[start:],
        close=close,
        trades=TradeRecords(**columns),
    )

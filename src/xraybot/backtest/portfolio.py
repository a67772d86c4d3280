"""Backtest several symbols as one account: shared cash and a cap on open trades.

The candles of all symbols are walked on the union of their timestamps. At each time, with the
per-position steps of ``backtest.kernel`` (so every rule is the single-symbol one):

1. each symbol with a candle then pays funding and takes its open exits (signal, time);
2. entries follow, best signal ``strength`` first, then in the order the symbols were given,
   while fewer than ``max_open_trades`` positions are open; a symbol that exited at this open
   does not re-enter at it. Stake ``all`` commits the free cash divided by the open slots left,
   ``fraction`` that share of the equity marked at the last closes, ``fixed`` that amount;
   always capped by the free cash;
3. stops and targets are checked within each symbol's candle, then everything is marked to
   market; a symbol whose data ends closes its position at its last close (``end``).

A symbol without a candle at some time just waits; its position is marked at its last close.
With the risk layer on (``BacktestSettings.risk``/``risk_rules``), step 2 also sizes, protects
and limits each entry against the account as it stands (``backtest.portfolio_kernel``): a
candidate the rules refuse is recorded and skipped, and the next one is still considered.
The compiled loop lives in ``backtest.portfolio_kernel``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from xraybot.backtest.engine import prepare, trade_records
from xraybot.backtest.kernel_layout import I_SYMBOL
from xraybot.backtest.portfolio_kernel import run_portfolio_kernel, simulate_portfolio
from xraybot.backtest.results import BacktestResult, BacktestSettings, TradeRecords
from xraybot.backtest.risk_inputs import joined as joined_risk
from xraybot.backtest.risk_inputs import risk_report
from xraybot.backtest.risk_results import RiskReport
from xraybot.model.candles import Candles, FloatArray, IntArray
from xraybot.model.errors import InvalidInputError
from xraybot.risk.exits import ExitRules
from xraybot.strategy.base import Signals, Strategy

__all__ = ["PortfolioResult", "kernel_arguments", "run_portfolio", "simulate_portfolio"]


@dataclass(frozen=True, slots=True)
class PortfolioResult:
    """One shared account over several symbols.

    ``ts_ms`` is the union of the symbols' candle times; ``equity``, ``exposure`` (open
    notional / equity) and ``cash`` (free cash) are taken at each of those closes. ``results``
    holds one view per symbol: its trades, and as equity the account's starting equity plus
    that symbol's contribution (realized and unrealized profit), so a view's total return is
    the symbol's share of the portfolio's. ``risk`` is what the risk layer did across the
    account (each view holds its own symbol's part); None when it was off.
    """

    exchange: str
    timeframe: str
    strategy: str
    params: Mapping[str, Any]
    settings: BacktestSettings
    symbols: tuple[str, ...]
    ts_ms: IntArray
    equity: FloatArray
    exposure: FloatArray
    cash: FloatArray
    results: tuple[BacktestResult, ...]
    risk: RiskReport | None = None

    @property
    def trades(self) -> dict[str, TradeRecords]:
        return {result.symbol: result.trades for result in self.results}

    @property
    def blocked(self) -> dict[str, int]:
        """Entries the risk layer skipped across the account, per reason; empty when off."""
        return {} if self.risk is None else self.risk.blocked()

    def combined(self) -> BacktestResult:
        """The whole account as one ``BacktestResult`` (symbol ``"portfolio"``), trades of every
        symbol merged by entry time with indices into ``ts_ms``; no closes, so no buy-and-hold."""
        return BacktestResult(
            exchange=self.exchange,
            symbol="portfolio",
            timeframe=self.timeframe,
            strategy=self.strategy,
            params=self.params,
            settings=self.settings,
            ts_ms=self.ts_ms,
            equity=self.equity,
            exposure=self.exposure,
            trades=_merge([r.trades for r in self.results], self.ts_ms),
            risk=self.risk,
        )

    def summary(self) -> dict[str, Any]:
        """JSON-ready account figures: equity, trades per symbol and the combined metrics."""
        from xraybot.backtest.metrics import compute_metrics

        final = float(self.equity[-1]) if self.equity.size else self.settings.equity
        return {
            "symbols": list(self.symbols),
            "timeframe": self.timeframe,
            "candles": int(self.ts_ms.size),
            "max_open_trades": self.settings.max_open_trades,
            "initial_equity": self.settings.equity,
            "final_equity": final,
            "trades": {r.symbol: len(r.trades) for r in self.results},
            "metrics": compute_metrics(self.combined()).to_dict(),
            "risk": None if self.risk is None else self.risk.to_dict(),
        }


def run_portfolio(
    series: Sequence[Candles],
    strategy: Strategy,
    params: Mapping[str, object] | None,
    settings: BacktestSettings,
    *,
    exchange: str = "",
) -> PortfolioResult:
    """Backtest ``strategy`` on every series of ``series`` sharing one account."""
    from xraybot.strategy.guard import compute_signals

    _check_series(series)
    resolved = strategy.resolve(params)
    exits = settings.exits if settings.exits is not None else strategy.exit_rules(resolved)
    signals = [compute_signals(strategy, candles, resolved) for candles in series]
    out = run_portfolio_kernel(*kernel_arguments(series, signals, exits, settings))
    equity, exposure, cash, value, held_exposure, tf, ti, count = out[:8]
    events, n_events, entries, n_entries = out[8:]
    report = None
    if settings.risk_layer is not None:
        report = risk_report(
            events[:n_events],
            entries[:n_entries],
            [c.ts_ms for c in series],
            tuple(c.symbol for c in series),
            rules=settings.risk_rules,
        )
    starts = _starts(series)
    symbol_of = ti[:count, I_SYMBOL]
    results = []
    for index, candles in enumerate(series):
        lo, hi = int(starts[index]), int(starts[index + 1])
        mine = np.flatnonzero(symbol_of == index)
        results.append(
            BacktestResult(
                exchange=exchange,
                symbol=candles.symbol,
                timeframe=candles.timeframe,
                strategy=strategy.name,
                params=resolved,
                settings=settings,
                ts_ms=candles.ts_ms,
                equity=settings.equity + value[lo:hi],
                exposure=held_exposure[lo:hi],
                trades=trade_records(tf[mine], ti[mine], mine.size, candles.ts_ms),
                close=candles.close,
                risk=None if report is None else report.for_symbol(index),
            )
        )
    return PortfolioResult(
        exchange=exchange,
        timeframe=series[0].timeframe,
        strategy=strategy.name,
        params=resolved,
        settings=settings,
        symbols=tuple(c.symbol for c in series),
        ts_ms=np.unique(np.concatenate([c.ts_ms for c in series])),
        equity=equity,
        exposure=exposure,
        cash=cash,
        results=tuple(results),
        risk=report,
    )


def kernel_arguments(
    series: Sequence[Candles],
    signals: Sequence[Signals],
    exits: ExitRules,
    settings: BacktestSettings,
) -> tuple[Any, ...]:
    """``run_portfolio_kernel``'s arguments for these series (a fresh protection state)."""
    prepared = [
        prepare(candles, drawn, exits, settings)
        for candles, drawn in zip(series, signals, strict=True)
    ]
    strengths = [
        np.nan_to_num(np.ones(len(c)) if s.strength is None else s.strength, nan=0.0)
        for c, s in zip(series, signals, strict=True)
    ]

    def joined(name: str) -> Any:
        return np.concatenate([getattr(c, name) for c in series])

    def joined_input(name: str) -> Any:
        return np.concatenate([getattr(p, name) for p in prepared])

    ts = joined("ts_ms")
    risk = joined_risk([p.risk for p in prepared])
    layer = settings.risk_layer
    symbols = [c.symbol for c in series]
    clusters = (
        np.full(len(symbols), -1, dtype=np.int64) if layer is None else layer.cluster_of(symbols)
    )
    return (
        np.unique(ts),
        _starts(series),
        ts,
        joined("open"),
        joined("high"),
        joined("low"),
        joined("close"),
        joined_input("entry_long"),
        joined_input("exit_long"),
        joined_input("entry_short"),
        joined_input("exit_short"),
        np.concatenate(strengths),
        joined_input("atr"),
        joined_input("rates"),
        prepared[0].rules,
        prepared[0].partials,
        settings.equity,
        risk.vector,
        risk.params,
        risk.fresh_state(),
        risk.volatility,
        risk.volatility_ratio,
        clusters,
    )


def _starts(series: Sequence[Candles]) -> IntArray:
    starts = np.zeros(len(series) + 1, dtype=np.int64)
    starts[1:] = np.cumsum([len(c) for c in series])
    return starts


def _check_series(series: Sequence[Candles]) -> None:
    if not series:
        raise InvalidInputError("a portfolio needs at least one candle series; found none.")
    timeframes = sorted({c.timeframe for c in series})
    if len(timeframes) > 1:
        raise InvalidInputError(
            f"a portfolio's series must share one timeframe; found {', '.join(timeframes)}. "
            "Resample them or run them separately."
        )
    symbols = [c.symbol for c in series]
    twice = sorted({s for s in symbols if symbols.count(s) > 1})
    if twice:
        raise InvalidInputError(
            f"a portfolio holds each symbol once; found {', '.join(twice)} more than once."
        )


def _merge(parts: Sequence[TradeRecords], timeline: IntArray) -> TradeRecords:
    """Concatenate trade records, ordered by entry then exit time, indices into ``timeline``."""
    if not parts or sum(len(p) for p in parts) == 0:
        return TradeRecords.empty()

    def cat(name: str) -> Any:
        return np.concatenate([getattr(p, name) for p in parts])

    entry_ts, exit_ts = cat("entry_ts"), cat("exit_ts")
    order = np.lexsort((exit_ts, entry_ts))
    entry_ts, exit_ts = entry_ts[order], exit_ts[order]
    return TradeRecords(
        entry_ts=entry_ts,
        exit_ts=exit_ts,
        direction=cat("direction")[order],
        entry_price=cat("entry_price")[order],
        exit_price=cat("exit_price")[order],
        amount=cat("amount")[order],
        fee=cat("fee")[order],
        funding=cat("funding")[order],
        pnl=cat("pnl")[order],
        exit_reason=cat("exit_reason")[order],
        entry_index=np.searchsorted(timeline, entry_ts).astype(np.int64),
        exit_index=np.searchsorted(timeline, exit_ts).astype(np.int64),
    )

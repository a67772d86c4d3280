"""Backtest one symbol on the compiled kernel.

``run_backtest`` goes from a strategy to a ``BacktestResult``; ``simulate`` starts from signals
already computed (sweeps, selection). Both hand flat arrays to ``backtest.kernel``, whose
docstring states the trading semantics; ``risk_inputs`` lays out the risk layer's settings
(``BacktestSettings.risk``/``risk_rules``) for it. What the kernel cannot express is refused
here with an ``InvalidInputError`` before any candle is simulated. Importing this module
imports numba.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from xraybot.backtest import kernel
from xraybot.backtest import kernel_layout as lay
from xraybot.backtest.results import BacktestResult, BacktestSettings, TradeRecords
from xraybot.backtest.risk_inputs import RiskInputs, risk_inputs, risk_report
from xraybot.backtest.risk_results import RiskReport
from xraybot.model.candles import Candles, FloatArray, IntArray
from xraybot.model.errors import InvalidInputError
from xraybot.risk.exits import ExitRules
from xraybot.strategy.base import BoolArray, FeatureCache, Signals, Strategy

__all__ = [
    "DEFAULT_SETTINGS",
    "KernelInputs",
    "kernel_rules",
    "partial_targets",
    "prepare",
    "run_backtest",
    "simulate",
    "simulate_detailed",
    "trade_records",
    "volatility",
]

DEFAULT_SETTINGS = BacktestSettings()

_STAKE_MODES = {"all": lay.STAKE_ALL, "fraction": lay.STAKE_FRACTION}


def run_backtest(
    candles: Candles,
    strategy: Strategy,
    params: Mapping[str, object] | None = None,
    settings: BacktestSettings = DEFAULT_SETTINGS,
    *,
    exchange: str = "",
    cache: FeatureCache | None = None,
    signals: Signals | None = None,
) -> BacktestResult:
    """Backtest ``strategy`` on one series as one account.

    ``params`` are overrides of the strategy's defaults (validated by ``strategy.resolve``).
    ``signals``, when given, are used as they are instead of calling the strategy. The
    strategy's ``exit_rules(params)`` apply unless ``settings.exits`` is set.
    """
    resolved = strategy.resolve(params)
    if signals is None:
        from xraybot.strategy.guard import compute_signals

        signals = compute_signals(strategy, candles, resolved, cache)
    exits = settings.exits if settings.exits is not None else strategy.exit_rules(resolved)
    equity, exposure, trades, risk = simulate_detailed(candles, signals, exits, settings)
    return BacktestResult(
        exchange=exchange,
        symbol=candles.symbol,
        timeframe=candles.timeframe,
        strategy=strategy.name,
        params=resolved,
        settings=settings,
        ts_ms=candles.ts_ms,
        equity=equity,
        exposure=exposure,
        trades=trades,
        close=candles.close,
        risk=risk,
    )


def simulate(
    candles: Candles, signals: Signals, exits: ExitRules, settings: BacktestSettings
) -> tuple[FloatArray, FloatArray, TradeRecords]:
    """Run the kernel on signals already computed; return (equity, exposure, trades)."""
    equity, exposure, trades, _ = simulate_detailed(candles, signals, exits, settings)
    return equity, exposure, trades


def simulate_detailed(
    candles: Candles, signals: Signals, exits: ExitRules, settings: BacktestSettings
) -> tuple[FloatArray, FloatArray, TradeRecords, RiskReport | None]:
    """``simulate`` plus what the risk layer did (None when it was off)."""
    inputs = prepare(candles, signals, exits, settings)
    risk = inputs.risk
    out = kernel.run_symbol(
        candles.ts_ms,
        candles.open,
        candles.high,
        candles.low,
        candles.close,
        inputs.entry_long,
        inputs.exit_long,
        inputs.entry_short,
        inputs.exit_short,
        inputs.atr,
        inputs.rates,
        inputs.rules,
        inputs.partials,
        settings.equity,
        risk.vector,
        risk.params,
        risk.fresh_state(),
        risk.volatility,
        risk.volatility_ratio,
    )
    equity, exposure, tf, ti, count, events, n_events, entries, n_entries = out
    trades = trade_records(tf, ti, count, candles.ts_ms)
    report = None
    if risk.active:
        report = risk_report(
            events[:n_events],
            entries[:n_entries],
            [candles.ts_ms],
            (candles.symbol,),
            rules=settings.risk_rules,
        )
    return equity, exposure, trades, report


# -- from settings to kernel arrays -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KernelInputs:
    """One series' arrays as the kernel takes them (shorts all-False when not traded)."""

    entry_long: BoolArray
    exit_long: BoolArray
    entry_short: BoolArray
    exit_short: BoolArray
    atr: FloatArray
    rates: FloatArray
    rules: FloatArray
    partials: FloatArray
    risk: RiskInputs


def prepare(
    candles: Candles, signals: Signals, exits: ExitRules, settings: BacktestSettings
) -> KernelInputs:
    """Check one series' inputs against what the kernel can express and lay them out."""
    n = len(candles)
    where = f"backtest of {candles.symbol} {candles.timeframe}"
    if len(signals) != n:
        raise InvalidInputError(
            f"{where}: signals must have one value per candle ({n}); found {len(signals)}. "
            "Compute them on the same candles."
        )
    _check_prices(candles, where)
    if settings.directions == "short" and not signals.has_short:
        raise InvalidInputError(
            f"{where}: directions='short' but the strategy gives no short signals, so it "
            "would never trade; use directions='long' or a strategy with short signals."
        )
    trade_short = signals.has_short and settings.directions != "long"
    entry_long = _flags(signals.entry_long)
    exit_long = _flags(signals.exit_long)
    if trade_short and signals.entry_short is not None and signals.exit_short is not None:
        entry_short = _flags(signals.entry_short)
        exit_short = _flags(signals.exit_short)
    else:
        entry_short = exit_short = np.zeros(n, dtype=np.bool_)
    atr, rates = volatility(candles, exits, settings, where)
    risk = risk_inputs(candles, exits, settings, where=where)
    return KernelInputs(
        entry_long,
        exit_long,
        entry_short,
        exit_short,
        atr,
        rates,
        kernel_rules(exits, settings),
        partial_targets(exits),
        risk,
    )


def kernel_rules(exits: ExitRules, settings: BacktestSettings) -> FloatArray:
    """The kernel's settings vector (``kernel.R_*``); NaN switches a level off."""

    def level(value: float | None) -> float:
        return math.nan if value is None else float(value)

    swap = settings.market == "swap"
    rules = np.full(lay.N_RULES, math.nan)
    rules[lay.R_FEE] = settings.fee_rate
    rules[lay.R_LEVERAGE] = settings.leverage
    rules[lay.R_MMR] = settings.maintenance_margin_rate if swap else math.nan
    rules[lay.R_STOP_PCT] = level(exits.stop_loss_pct)
    rules[lay.R_TARGET_PCT] = level(exits.take_profit_pct)
    rules[lay.R_STOP_ATR] = level(exits.stop_loss_atr)
    rules[lay.R_TARGET_ATR] = level(exits.take_profit_atr)
    rules[lay.R_TRAIL_PCT] = level(exits.trailing_pct)
    rules[lay.R_TRAIL_ACTIVATION] = exits.trailing_activation_pct
    rules[lay.R_BREAKEVEN_PCT] = level(exits.breakeven_at_pct)
    rules[lay.R_TIME_CANDLES] = exits.time_exit_candles or 0
    rules[lay.R_FUNDING_RATE] = settings.funding_rate if swap else 0.0
    rules[lay.R_FUNDING_MS] = settings.funding_interval_ms
    rules[lay.R_STAKE_MODE] = _STAKE_MODES.get(settings.stake, lay.STAKE_FIXED)
    rules[lay.R_STAKE_AMOUNT] = settings.stake_amount
    rules[lay.R_ALLOW_LONG] = 1.0 if settings.directions in ("long", "both") else 0.0
    rules[lay.R_ALLOW_SHORT] = 1.0 if settings.directions in ("short", "both") else 0.0
    rules[lay.R_MAX_OPEN] = settings.max_open_trades
    return rules


def partial_targets(exits: ExitRules) -> FloatArray:
    """``(level, fraction)`` rows, ascending by level; shape (0, 2) when there are none."""
    return np.array(exits.partial_targets, dtype=np.float64).reshape(-1, 2)


def volatility(
    candles: Candles, exits: ExitRules, settings: BacktestSettings, where: str = "backtest"
) -> tuple[FloatArray, FloatArray]:
    """ATR per candle (NaN when no rule uses it) and the slippage rate of fills after it."""
    n = len(candles)
    atr = np.full(n, math.nan)
    rates = np.full(n, settings.slippage_bps / 10_000.0)
    if n == 0:
        return atr, rates
    from xraybot.indicators import talib_

    columns = (candles.high, candles.low, candles.close)
    if exits.uses_atr:
        atr = talib_.atr(*columns, exits.atr_period)
    if settings.slippage_atr > 0.0:
        natr = np.nan_to_num(talib_.natr(*columns, exits.atr_period), nan=0.0)
        rates = rates + settings.slippage_atr * natr / 100.0
        worst = int(np.argmax(rates))
        if not rates[worst] < 1.0:
            raise InvalidInputError(
                f"{where}: slippage reaches {rates[worst]:.1%} of the price after candle "
                f"{int(candles.ts_ms[worst])} (NATR {natr[worst]:.2f} %); slippage must stay "
                "below 100 %, lower slippage_atr or slippage_bps."
            )
    return atr, rates


def trade_records(
    tf: FloatArray, ti: npt.NDArray[np.int64], count: int, ts_ms: IntArray
) -> TradeRecords:
    """Columnar ``TradeRecords`` from the kernel's first ``count`` trade rows of one series."""
    if count == 0:
        return TradeRecords.empty()
    f = tf[:count]
    i = ti[:count]
    entry_index = np.ascontiguousarray(i[:, lay.I_ENTRY])
    exit_index = np.ascontiguousarray(i[:, lay.I_EXIT])
    return TradeRecords(
        entry_ts=ts_ms[entry_index],
        exit_ts=ts_ms[exit_index],
        direction=i[:, lay.I_DIR].astype(np.int8),
        entry_price=np.ascontiguousarray(f[:, lay.F_ENTRY_PRICE]),
        exit_price=np.ascontiguousarray(f[:, lay.F_EXIT_PRICE]),
        amount=np.ascontiguousarray(f[:, lay.F_AMOUNT]),
        fee=np.ascontiguousarray(f[:, lay.F_FEE]),
        funding=np.ascontiguousarray(f[:, lay.F_FUNDING]),
        pnl=np.ascontiguousarray(f[:, lay.F_PNL]),
        exit_reason=i[:, lay.I_REASON].astype(np.int8),
        entry_index=entry_index,
        exit_index=exit_index,
    )


def _flags(values: npt.NDArray[Any]) -> BoolArray:
    # A fresh writable bool array: one numba specialization whatever the strategy returned.
    return np.array(values, dtype=np.bool_)


def _check_prices(candles: Candles, where: str) -> None:
    for name in ("open", "high", "low", "close"):
        column: FloatArray = getattr(candles, name)
        ok = np.isfinite(column) & (column > 0.0)
        if not ok.all():
            bad = int(np.argmin(ok))
            raise InvalidInputError(
                f"{where}: {name} must be a finite price > 0; found {column[bad]!r} at "
                f"{int(candles.ts_ms[bad])}. Drop or repair that candle first."
            )

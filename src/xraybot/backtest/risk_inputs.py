"""From ``BacktestSettings``' risk layer to the arrays the compiled loops read, and back.

``risk_inputs`` checks the risk settings against the exit rules and lays them out: the
``K_*`` vector of ``backtest.kernel_layout``, the protections' params (``risk.protections``),
and per candle the volatility (ATR / close over ``volatility_period``, a fraction per candle
as ``risk.sizing`` and ``risk.leverage`` take it) and its ratio to its own average over ten
times that period (``risk_scale``'s volatility regime). ``risk_report`` turns the loops'
records into a ``RiskReport``. Plain Python and numpy: no numba here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from xraybot.backtest import kernel_layout as lay
from xraybot.backtest.results import BacktestSettings
from xraybot.backtest.risk_results import RiskEvents, RiskReport, RiskSettings, SizedEntries
from xraybot.model.candles import Candles, FloatArray, IntArray
from xraybot.model.errors import InvalidInputError
from xraybot.risk import protections
from xraybot.risk.exits import ExitRules
from xraybot.risk.sizing import MODE_CODES

__all__ = ["REGIME_SPAN", "RiskInputs", "joined", "risk_inputs", "risk_report", "risk_vector"]

# The volatility regime compares the current volatility with its average over this many
# volatility periods.
REGIME_SPAN = 10


@dataclass(frozen=True, slots=True)
class RiskInputs:
    """The risk layer of one run as the loops take it (all empty when it is off)."""

    vector: FloatArray  # K_*
    params: FloatArray  # risk.protections P_*
    volatility: FloatArray  # per candle row
    volatility_ratio: FloatArray
    symbols: int
    history: int

    @property
    def active(self) -> bool:
        return bool(self.vector[lay.K_ACTIVE] > 0.0)

    def fresh_state(self) -> FloatArray:
        """A new protection state for one run (the loops update it in place)."""
        if not self.vector[lay.K_RULES] > 0.0:
            return np.empty(0)
        state: FloatArray = protections.protection_state(self.symbols, self.history)
        protections.configure(state, self.params)
        return state


def risk_vector(settings: BacktestSettings, exits: ExitRules, timeframe_ms: int) -> FloatArray:
    """The ``K_*`` vector of ``settings``' risk layer (``K_ACTIVE`` 0 when it is off)."""
    vector = np.full(lay.N_RISK, math.nan)
    layer = settings.risk_layer
    if layer is None:
        vector[lay.K_ACTIVE] = 0.0
        vector[lay.K_RULES] = 0.0
        return vector
    vector[lay.K_ACTIVE] = 1.0
    vector[lay.K_RULES] = 1.0 if settings.risk_rules else 0.0
    vector[lay.K_SIZING] = lay.SIZING_STAKE if layer.sizing == "stake" else MODE_CODES[layer.sizing]
    vector[lay.K_AMOUNT] = layer.risk_per_trade
    vector[lay.K_TARGET_VOL] = layer.target_volatility
    vector[lay.K_KELLY_CAP] = layer.kelly_cap
    vector[lay.K_KELLY_MIN_TRADES] = layer.kelly_min_trades
    vector[lay.K_AUTO_LEVERAGE] = 1.0 if layer.auto_leverage else 0.0
    vector[lay.K_LEVERAGE_SAFETY] = layer.leverage_safety
    vector[lay.K_MIN_NOTIONAL] = layer.min_notional
    max_open, per_symbol, total, cluster, margin = layer.limits.vector()
    # The portfolio's slots bound the open positions too: the tighter of the two binds.
    slots = float(settings.max_open_trades)
    vector[lay.K_MAX_OPEN] = slots if math.isnan(max_open) else min(slots, max_open)
    vector[lay.K_MAX_SYMBOL] = per_symbol
    vector[lay.K_MAX_TOTAL] = total
    vector[lay.K_MAX_CLUSTER] = cluster
    vector[lay.K_MARGIN_MULTIPLIER] = margin
    vector[lay.K_SHRINK] = 1.0 if layer.shrink_to_limits else 0.0
    vector[lay.K_CLOSE_MS] = timeframe_ms - 1
    vector[lay.K_KILL_AT] = math.nan if layer.kill_at_ms is None else float(layer.kill_at_ms)
    return vector


def risk_inputs(
    candles: Candles,
    exits: ExitRules,
    settings: BacktestSettings,
    *,
    where: str = "backtest",
) -> RiskInputs:
    """Check the risk layer against the exit rules and lay it out for one series (``joined``
    makes one account of several)."""
    layer = settings.risk_layer
    if layer is None:
        empty = np.empty(0)
        return RiskInputs(risk_vector(settings, exits, 1), empty, empty, empty, 0, 1)
    _check(layer, exits, where)
    params = np.array(layer.protections.params(), dtype=np.float64)
    rules = settings.risk_rules
    # Only what a rule reads is measured: the volatility by volatility targeting and auto
    # leverage (its buffer beyond the stop), the regime by dynamic risk.
    wants_vol = layer.sizing == "vol_target" or layer.auto_leverage
    wants_ratio = rules and not math.isnan(params[protections.P_SCALE_VOL_FULL])
    if wants_vol or wants_ratio:
        vol, ratio = regime(candles, layer.volatility_period)
        if not wants_vol:
            vol = np.full(len(candles), math.nan)
    else:
        vol = ratio = np.full(len(candles), math.nan)
    return RiskInputs(
        risk_vector(settings, exits, candles.timeframe_ms),
        params,
        vol,
        ratio,
        1,
        protections.history_needed(params),
    )


def joined(parts: Sequence[RiskInputs]) -> RiskInputs:
    """One series' inputs per symbol as one account's (volatility rows concatenated)."""
    first = parts[0]
    if not first.active:
        return first

    def cat(name: str) -> FloatArray:
        return np.concatenate([getattr(p, name) for p in parts])

    return RiskInputs(
        first.vector,
        first.params,
        cat("volatility"),
        cat("volatility_ratio"),
        len(parts),
        first.history,
    )


def regime(candles: Candles, period: int) -> tuple[FloatArray, FloatArray]:
    """Volatility per candle (ATR / close) and its ratio to its ``REGIME_SPAN``-period mean."""
    from xraybot.indicators import talib_

    n = len(candles)
    if n == 0:
        return np.empty(0), np.empty(0)
    vol = talib_.natr(candles.high, candles.low, candles.close, period) / 100.0
    span = REGIME_SPAN * period
    mean = np.full(n, math.nan)
    valid = np.flatnonzero(np.isfinite(vol))
    if valid.size and n - valid[0] >= span:
        start = int(valid[0])
        sums = np.concatenate(([0.0], np.cumsum(vol[start:])))
        mean[start + span - 1 :] = (sums[span:] - sums[:-span]) / span
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(mean > 0.0, vol / mean, math.nan)
    return vol, ratio


def _check(layer: RiskSettings, exits: ExitRules, where: str) -> None:
    has_stop = exits.stop_loss_pct is not None or exits.stop_loss_atr is not None
    if layer.sizing == "risk" and not has_stop:
        raise InvalidInputError(
            f"{where}: sizing 'risk' sizes from the stop distance, but the exit rules have "
            "no stop; set a stop_loss_pct (e.g. 0.03) or stop_loss_atr (e.g. 2), or size "
            "another way."
        )


def risk_report(
    events: npt.NDArray[np.int64],
    entries: FloatArray,
    ts_ms: Sequence[IntArray],
    symbols: tuple[str, ...],
    *,
    rules: bool,
) -> RiskReport:
    """A ``RiskReport`` from the loops' event and entry rows (indices per symbol)."""

    def times(symbol: npt.NDArray[np.int64], index: npt.NDArray[np.int64]) -> IntArray:
        out = np.empty(symbol.shape[0], dtype=np.int64)
        for s, stamps in enumerate(ts_ms):
            mine = symbol == s
            out[mine] = stamps[index[mine]]
        return out

    ev_symbol = np.ascontiguousarray(events[:, lay.E_SYMBOL])
    found = RiskEvents(
        ts_ms=times(ev_symbol, events[:, lay.E_INDEX]),
        symbol=ev_symbol,
        kind=events[:, lay.E_KIND].astype(np.int8),
        code=events[:, lay.E_CODE].astype(np.int8),
    )
    en_symbol = entries[:, lay.EN_SYMBOL].astype(np.int64)

    def column(index: int) -> FloatArray:
        return np.ascontiguousarray(entries[:, index])

    sized = SizedEntries(
        ts_ms=times(en_symbol, entries[:, lay.EN_INDEX].astype(np.int64)),
        symbol=en_symbol,
        equity=column(lay.EN_EQUITY),
        cash=column(lay.EN_CASH),
        open_notional=column(lay.EN_OPEN_NOTIONAL),
        cluster_notional=column(lay.EN_CLUSTER_NOTIONAL),
        notional=column(lay.EN_NOTIONAL),
        cost=column(lay.EN_COST),
        leverage=column(lay.EN_LEVERAGE),
        scale=column(lay.EN_SCALE),
    )
    return RiskReport(symbols, rules, found, sized)

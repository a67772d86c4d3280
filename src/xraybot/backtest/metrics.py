"""Performance figures of a backtest, beside the same figures for buy-and-hold.

Conventions, used by every figure here:

- **Timeline.** The equity curve has n + 1 points: the initial equity at the open of the first
  candle, then ``equity[t]`` at the close of candle t (time ``ts_ms[t] + timeframe``). Returns
  are per candle, ``r[t] = equity[t] / equity[t-1] - 1``, the first against the initial equity.
- **Annualization.** Crypto trades every day: a year is 365 days, so a 1h series has 8,760
  periods a year. CAGR uses the span the candles cover (n x timeframe).
- **Sharpe** is ``mean(r) / std(r, ddof=1) x sqrt(periods per year)`` with a risk-free rate of
  0; **Sortino** divides by the downside deviation ``sqrt(mean(min(r, 0)^2))`` (target 0, over
  every candle); **Calmar** is CAGR / max drawdown. When the risk is zero, the ratio is 0 if the
  return is 0 too (flat equity: a strategy that never trades ranks as neutral in a sweep, not
  as missing) and +inf (-inf) if the return is positive (negative). Sharpe and Sortino need two
  candles or more; with one they are NaN.
- **Drawdown** is a positive fraction below the running peak (the initial equity counts as the
  first peak). Its duration runs from the last point at the peak to the first point back at
  or above it, or to the end of the series if equity never recovered.
- **Trades.** A win has pnl > 0, a loss pnl < 0 (a trade at exactly 0 is neither, but counts
  in ``trades``). ``profit_factor`` = gross profit / gross loss: +inf without a losing trade,
  NaN without trades or when every trade is exactly 0. ``expectancy`` is the mean pnl per trade
  in quote currency, ``expectancy_pct`` the mean pnl as a fraction of the entry notional. Trade
  statistics are NaN without trades, except the counts, sums and ``trades_per_day`` (0).
- **Exposure.** ``exposure`` is the share of candles ending with a position open,
  ``mean_exposure`` the mean of |notional| / equity over all candles.
- **Buy-and-hold** holds the symbol from the first candle's close to the last one's, without
  fees: its first return is 0, like a strategy that has not traded yet. NaN without closes.

Floats stay floats (NaN and inf included) so sweeps can sort them; ``to_dict`` writes NaN and
+-inf as ``None`` for JSON.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from xraybot.backtest.results import BacktestResult, TradeRecords
from xraybot.model.candles import FloatArray, IntArray, timeframe_to_ms
from xraybot.model.errors import InvalidInputError

DAY_MS = 86_400_000
YEAR_MS = 365 * DAY_MS
NAN = math.nan


def json_safe(value: Any) -> Any:
    """Return ``value`` with NaN and +-inf floats as ``None`` (numpy scalars as Python ones)."""
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


@dataclass(frozen=True, slots=True)
class Metrics:
    """One backtest's figures; fractions are plain (0.12 = 12 %), durations in ms."""

    # -- period -----------------------------------------------------------------------
    candles: int
    start_ms: int
    end_ms: int
    initial_equity: float
    final_equity: float
    # -- return and risk --------------------------------------------------------------
    net_profit: float
    total_return: float
    cagr: float
    volatility: float
    sharpe: float
    sortino: float
    calmar: float
    max_drawdown: float
    max_drawdown_duration_ms: int
    # -- trades -----------------------------------------------------------------------
    trades: int
    wins: int
    losses: int
    win_rate: float
    profit_factor: float
    expectancy: float
    expectancy_pct: float
    avg_win: float
    avg_loss: float
    gross_profit: float
    gross_loss: float
    fees: float
    funding: float
    avg_trade_duration_ms: float
    trades_per_day: float
    exposure: float
    mean_exposure: float
    # -- against buy-and-hold ---------------------------------------------------------
    buy_and_hold_return: float
    buy_and_hold_cagr: float
    buy_and_hold_max_drawdown: float
    buy_and_hold_sharpe: float
    excess_return: float

    def to_dict(self) -> dict[str, Any]:
        """Every field by name, JSON-safe (NaN and +-inf become ``None``)."""
        return {f.name: json_safe(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Metrics:
        """Rebuild from ``to_dict`` output; ``None`` comes back as NaN (an inf is not kept)."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                raise InvalidInputError(
                    f"metrics need the key {f.name!r}; found only {sorted(data)}."
                )
            raw = data[f.name]
            values[f.name] = int(raw) if f.type == "int" else (NAN if raw is None else float(raw))
        return cls(**values)


def compute_metrics(result: BacktestResult) -> Metrics:
    """Compute the figures of one backtest result (against its own closes for buy-and-hold)."""
    return metrics_from_arrays(
        result.ts_ms,
        result.equity,
        result.exposure,
        result.trades,
        result.close,
        timeframe_to_ms(result.timeframe),
        result.settings.equity,
    )


def metrics_from_arrays(
    ts_ms: npt.ArrayLike,
    equity: npt.ArrayLike,
    exposure: npt.ArrayLike,
    trades: TradeRecords,
    close: npt.ArrayLike,
    timeframe_ms: int,
    initial_equity: float,
    *,
    benchmark: BuyAndHold | None = None,
) -> Metrics:
    """Compute the figures from the curves themselves (a sweep has no ``BacktestResult``).

    ``close`` may be empty: the buy-and-hold figures are then NaN. A sweep over one series
    can pass ``benchmark=buy_and_hold(close, timeframe_ms)`` once instead of the closes.
    """
    ts = np.asarray(ts_ms, dtype=np.int64)
    eq = np.asarray(equity, dtype=np.float64)
    expo = np.abs(np.asarray(exposure, dtype=np.float64))
    px = np.asarray(close, dtype=np.float64)
    n = int(ts.shape[0])
    _check_inputs(n, eq, expo, px, timeframe_ms, initial_equity)

    span_ms = n * timeframe_ms
    periods_per_year = YEAR_MS / timeframe_ms
    curve = np.empty(n + 1, dtype=np.float64)
    curve[0] = initial_equity
    curve[1:] = eq
    growth = float(eq[-1] / initial_equity)
    returns = _returns(curve)
    max_dd, dd_ms = drawdown_stats(curve, ts, timeframe_ms)
    cagr = _cagr(growth, span_ms)
    volatility = float(np.std(returns, ddof=1)) * math.sqrt(periods_per_year) if n > 1 else NAN
    bh = benchmark if benchmark is not None else buy_and_hold(px, timeframe_ms)

    pnl = trades.pnl
    count = len(trades)
    wins = pnl > 0
    losses = pnl < 0
    gross_profit = float(pnl[wins].sum())
    gross_loss = float(-pnl[losses].sum())
    if count:
        notional = trades.entry_price * trades.amount
        with np.errstate(divide="ignore", invalid="ignore"):
            pct = np.where(notional > 0, pnl / notional, np.nan)
        expectancy_pct = float(np.nanmean(pct)) if np.isfinite(pct).any() else NAN
        duration = float(np.mean(trades.exit_ts - trades.entry_ts))
        expectancy = float(pnl.mean())
        win_rate = float(wins.mean())
        profit_factor = (
            NAN if gross_profit == 0 and gross_loss == 0 else _ratio(gross_profit, gross_loss)
        )
    else:
        expectancy_pct = duration = expectancy = win_rate = profit_factor = NAN
    total_return = growth - 1.0
    return Metrics(
        candles=n,
        start_ms=int(ts[0]),
        end_ms=int(ts[-1]) + timeframe_ms,
        initial_equity=float(initial_equity),
        final_equity=float(eq[-1]),
        net_profit=float(eq[-1] - initial_equity),
        total_return=total_return,
        cagr=cagr,
        volatility=volatility,
        sharpe=sharpe_ratio(returns, periods_per_year),
        sortino=sortino_ratio(returns, periods_per_year),
        calmar=_ratio(cagr, max_dd),
        max_drawdown=max_dd,
        max_drawdown_duration_ms=dd_ms,
        trades=count,
        wins=int(wins.sum()),
        losses=int(losses.sum()),
        win_rate=win_rate,
        profit_factor=profit_factor,
        expectancy=expectancy,
        expectancy_pct=expectancy_pct,
        avg_win=float(pnl[wins].mean()) if wins.any() else NAN,
        avg_loss=float(pnl[losses].mean()) if losses.any() else NAN,
        gross_profit=gross_profit,
        gross_loss=gross_loss,
        fees=float(trades.fee.sum()),
        funding=float(trades.funding.sum()),
        avg_trade_duration_ms=duration,
        trades_per_day=count / (span_ms / DAY_MS),
        exposure=float(np.mean(expo > 0)),
        mean_exposure=float(np.mean(expo)),
        buy_and_hold_return=bh.total_return,
        buy_and_hold_cagr=bh.cagr,
        buy_and_hold_max_drawdown=bh.max_drawdown,
        buy_and_hold_sharpe=bh.sharpe,
        excess_return=total_return - bh.total_return,
    )


def _check_inputs(
    n: int,
    eq: FloatArray,
    expo: FloatArray,
    px: FloatArray,
    timeframe_ms: int,
    initial_equity: float,
) -> None:
    if n == 0:
        raise InvalidInputError("metrics need at least one candle; found none.")
    if eq.shape != (n,) or expo.shape != (n,):
        raise InvalidInputError(
            f"equity and exposure must have one value per candle ({n}); "
            f"found shapes {eq.shape} and {expo.shape}."
        )
    if px.shape not in ((n,), (0,)):
        raise InvalidInputError(
            f"close must have one value per candle ({n}) or be empty; found shape {px.shape}."
        )
    if timeframe_ms <= 0:
        raise InvalidInputError(f"timeframe_ms must be > 0; found {timeframe_ms}.")
    if not (math.isfinite(initial_equity) and initial_equity > 0):
        raise InvalidInputError(f"initial equity must be > 0; found {initial_equity!r}.")
    if not np.isfinite(eq).all():
        raise InvalidInputError(
            f"equity must be finite; found NaN or inf at candle {int(np.argmin(np.isfinite(eq)))}."
        )


def _returns(curve: FloatArray) -> FloatArray:
    """Per-period returns of a curve; once the account is wiped out, it earns nothing."""
    prev = curve[:-1]
    if prev.min() > 0:
        return curve[1:] / prev - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(prev > 0, curve[1:] / prev - 1.0, 0.0)


def _ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, with x/0 = 0 for x = 0 and +-inf otherwise."""
    if math.isnan(numerator) or math.isnan(denominator):
        return NAN
    if denominator == 0:
        return 0.0 if numerator == 0 else math.copysign(math.inf, numerator)
    return numerator / denominator


def _cagr(growth: float, span_ms: int) -> float:
    if math.isnan(growth):
        return NAN
    if growth <= 0:
        return -1.0
    try:
        return math.exp(math.log(growth) * YEAR_MS / span_ms) - 1.0
    except OverflowError:  # a big gain over a few candles: the annual rate is unbounded
        return math.inf


def sharpe_ratio(returns: FloatArray, periods_per_year: float) -> float:
    """Annualized Sharpe ratio of per-period returns, risk-free 0 (see the module notes)."""
    if returns.shape[0] < 2:
        return NAN
    return _ratio(float(returns.mean()), float(returns.std(ddof=1))) * math.sqrt(periods_per_year)


def sortino_ratio(returns: FloatArray, periods_per_year: float) -> float:
    """Annualized Sortino ratio: mean return over the downside deviation below 0."""
    if returns.shape[0] < 2:
        return NAN
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    return _ratio(float(returns.mean()), downside) * math.sqrt(periods_per_year)


def drawdown_curve(curve: FloatArray) -> FloatArray:
    """Drawdown at each point as a positive fraction below the running peak (curve[0] > 0)."""
    return 1.0 - curve / np.maximum.accumulate(curve)


def drawdown_stats(curve: FloatArray, ts_ms: IntArray, timeframe_ms: int) -> tuple[float, int]:
    """Return the max drawdown and the longest time from a peak to its recovery (or the end).

    ``curve`` is on the timeline of the module notes: ``curve[0] > 0`` at the open of the first
    candle, ``curve[i]`` at the close of candle ``i - 1``.
    """
    peak = np.maximum.accumulate(curve)
    max_dd = float(1.0 - (curve / peak).min())
    under = curve < peak
    flips = np.flatnonzero(under[1:] != under[:-1]) + 1  # under[0] is False: start, end, ...
    if flips.size == 0:
        return max_dd, 0
    starts = flips[0::2]  # first point under water; starts - 1 is the peak
    ends = flips[1::2]  # first point back at the peak
    if ends.size < starts.size:  # never recovered: the drawdown lasts to the end
        ends = np.append(ends, curve.shape[0] - 1)
    peaks = starts - 1
    # Point i > 0 is the close of candle i - 1; point 0 the open of candle 0.
    peak_ms = np.where(peaks > 0, ts_ms[np.maximum(peaks - 1, 0)] + timeframe_ms, ts_ms[0])
    end_ms = ts_ms[ends - 1] + timeframe_ms
    return max_dd, int((end_ms - peak_ms).max())


@dataclass(frozen=True, slots=True)
class BuyAndHold:
    """Holding the symbol from the first close to the last, frictionless."""

    total_return: float
    cagr: float
    max_drawdown: float
    sharpe: float


NO_BENCHMARK = BuyAndHold(NAN, NAN, NAN, NAN)


def buy_and_hold(close: npt.ArrayLike, timeframe_ms: int) -> BuyAndHold:
    """Return, CAGR, max drawdown and Sharpe of holding the symbol over these candles.

    NaN throughout without closes or with a missing or non-positive one.
    """
    px = np.asarray(close, dtype=np.float64)
    if px.shape[0] == 0 or not (np.isfinite(px).all() and px.min() > 0):
        return NO_BENCHMARK
    curve = np.empty(px.shape[0] + 1, dtype=np.float64)
    curve[0] = px[0]
    curve[1:] = px
    growth = float(px[-1] / px[0])
    max_dd = float(drawdown_curve(curve).max())
    return BuyAndHold(
        total_return=growth - 1.0,
        cagr=_cagr(growth, px.shape[0] * timeframe_ms),
        max_drawdown=max_dd,
        sharpe=sharpe_ratio(_returns(curve), YEAR_MS / timeframe_ms),
    )


# -- several symbols --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AggregateMetrics:
    """A multi-symbol run summed up, each symbol an independent account of its own capital.

    Sums: ``initial_equity``, ``final_equity``, ``net_profit``, ``trades``, ``fees``;
    ``total_return`` is the book's (summed final / summed initial - 1). Pooled over every
    trade of every symbol: ``win_rate``, ``profit_factor``, ``expectancy`` (quote per trade).
    Across symbols: ``mean_return`` and ``median_return`` of the per-symbol total returns,
    ``positive_share`` (symbols with a gain), ``mean_sharpe`` (NaN ignored), ``mean_max_drawdown``
    and ``worst_max_drawdown``, ``mean_exposure`` (share of candles in a position),
    ``mean_buy_and_hold_return`` and ``mean_excess_return``. Sharpe and drawdown are not
    computed on a combined curve because the symbols' candles need not line up.
    """

    symbols: int
    trades: int
    initial_equity: float
    final_equity: float
    net_profit: float
    total_return: float
    mean_return: float
    median_return: float
    positive_share: float
    mean_sharpe: float
    mean_max_drawdown: float
    worst_max_drawdown: float
    win_rate: float
    profit_factor: float
    expectancy: float
    fees: float
    mean_exposure: float
    mean_buy_and_hold_return: float
    mean_excess_return: float

    def to_dict(self) -> dict[str, Any]:
        """Every field by name, JSON-safe (NaN and +-inf become ``None``)."""
        return {f.name: json_safe(getattr(self, f.name)) for f in fields(self)}


def aggregate_metrics(items: Sequence[BacktestResult | Metrics]) -> AggregateMetrics:
    """Sum up several symbols' results (or their already computed metrics)."""
    if not items:
        raise InvalidInputError("aggregate_metrics needs at least one result; found none.")
    ms = [m if isinstance(m, Metrics) else compute_metrics(m) for m in items]

    def column(name: str) -> FloatArray:
        return np.array([getattr(m, name) for m in ms], dtype=np.float64)

    def nanmean(values: FloatArray) -> float:
        finite = values[~np.isnan(values)]
        return float(finite.mean()) if finite.size else NAN

    returns = column("total_return")
    initial = float(column("initial_equity").sum())
    final = float(column("final_equity").sum())
    trades = sum(m.trades for m in ms)
    gross_profit = float(column("gross_profit").sum())
    gross_loss = float(column("gross_loss").sum())
    no_pnl = gross_profit == 0 and gross_loss == 0
    return AggregateMetrics(
        symbols=len(ms),
        trades=trades,
        initial_equity=initial,
        final_equity=final,
        net_profit=final - initial,
        total_return=final / initial - 1.0,
        mean_return=float(returns.mean()),
        median_return=float(np.median(returns)),
        positive_share=float(np.mean(returns > 0)),
        mean_sharpe=nanmean(column("sharpe")),
        mean_max_drawdown=float(column("max_drawdown").mean()),
        worst_max_drawdown=float(column("max_drawdown").max()),
        win_rate=sum(m.wins for m in ms) / trades if trades else NAN,
        profit_factor=NAN if no_pnl else _ratio(gross_profit, gross_loss),
        expectancy=(gross_profit - gross_loss) / trades if trades else NAN,
        fees=float(column("fees").sum()),
        mean_exposure=float(column("exposure").mean()),
        mean_buy_and_hold_return=nanmean(column("buy_and_hold_return")),
        mean_excess_return=nanmean(column("excess_return")),
    )

"""Market regimes: trend and volatility per symbol, and the BTC-led market regime.

Per symbol, as of each closed candle (every value uses only that candle and earlier ones):

- **trend** from the EMA's slope and ADX. ``ema_slope`` is the EMA's mean change per bar over
  the last ``slope_bars`` bars as a fraction of its level (0.001 = 0.1 % per bar).
  ``trend_strength`` divides it by the per-bar realized volatility, so one threshold means
  the same on 1m and 1d candles: a fixed slope threshold would call every daily chart a
  trend and no minute chart one. The trend is ``up`` when ``trend_strength >= 0.15`` and
  ``ADX >= 20`` (Wilder's line between trending and not), ``down`` when
  ``trend_strength <= -0.15`` and ``ADX >= 20``, ``range`` otherwise (defaults of
  :class:`RegimeParams`). On simulated random walks these call about a quarter of the bars
  a trend (a walk does drift for a while); a drift of 0.2 volatilities per bar is called
  ``up`` on about 60 % of its bars and never ``down``.
- **volatility**: the realized volatility (standard deviation of log returns over
  ``vol_window`` bars) is ranked within its own history up to that bar; its percentile is
  ``low`` below 20, ``high`` above 80 and ``normal`` between.

Candles are split on gaps (a missing candle restarts every warm-up), as the data layer's
merged files have holes. The market regime is led by BTC: its trend is BTC's unless the
breadth (the share of the other symbols in an uptrend or a downtrend) decisively disagrees;
its volatility is BTC's. See :func:`combine_market`.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields

import numpy as np
import numpy.typing as npt

from xraybot import indicators as ind
from xraybot.model.candles import Candles, FloatArray
from xraybot.model.errors import DataValidationError, InvalidInputError

UP, DOWN, RANGE = "up", "down", "range"
LOW, NORMAL, HIGH = "low", "normal", "high"
DEFAULT_LEADER = "BTC/USDT"
_TREND_NAMES = {1: UP, -1: DOWN, 0: RANGE}


@dataclass(frozen=True, slots=True)
class RegimeParams:
    """Periods and thresholds of the regime rules (defaults documented in the module)."""

    ema_period: int = 50
    slope_bars: int = 10
    adx_period: int = 14
    adx_trend: float = 20.0  # ADX at or above this: the move is directional enough
    slope_threshold: float = 0.15  # |ema_slope| / per-bar volatility needed for a trend
    vol_window: int = 24
    vol_low_pct: float = 20.0
    vol_high_pct: float = 80.0
    min_vol_history: int = 50  # realized-volatility values needed before ranking the latest
    breadth_decisive: float = 0.6  # share of symbols that overrides or sets the market trend

    def __post_init__(self) -> None:
        for name in ("ema_period", "slope_bars", "adx_period", "vol_window", "min_vol_history"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 2:
                raise InvalidInputError(
                    f"RegimeParams.{name} must be an int >= 2 bars; found {value!r}."
                )
        if not 0.0 <= self.vol_low_pct < self.vol_high_pct <= 100.0:
            raise InvalidInputError(
                "RegimeParams needs 0 <= vol_low_pct < vol_high_pct <= 100; found "
                f"{self.vol_low_pct} and {self.vol_high_pct}."
            )
        if not 0.5 < self.breadth_decisive <= 1.0:
            raise InvalidInputError(
                "RegimeParams.breadth_decisive must be a share in (0.5, 1] so that only a "
                f"majority decides; found {self.breadth_decisive}."
            )
        if self.slope_threshold < 0 or self.adx_trend < 0:
            raise InvalidInputError(
                "RegimeParams.slope_threshold and adx_trend must be >= 0; found "
                f"{self.slope_threshold} and {self.adx_trend}."
            )

    @property
    def min_candles(self) -> int:
        """Return the gap-free closed candles needed before the first regime is known."""
        trend = max(self.ema_period + self.slope_bars, 2 * self.adx_period)
        volatility = self.vol_window + self.min_vol_history
        return max(trend, volatility)


DEFAULT_PARAMS = RegimeParams()


@dataclass(frozen=True, slots=True)
class Regime:
    """One symbol's regime as of one closed candle."""

    symbol: str
    trend: str  # "up" | "down" | "range"
    ema_slope: float  # fraction of price per bar
    adx: float
    volatility_percentile: float  # 0..100 within the symbol's own history
    volatility: str  # "low" | "normal" | "high"
    ts_ms: int | None = field(default=None, kw_only=True)  # the candle it is as of
    trend_strength: float = field(default=math.nan, kw_only=True)  # ema_slope / volatility
    realized_volatility: float = field(default=math.nan, kw_only=True)  # per bar

    def as_dict(self) -> dict[str, object]:
        """Return the regime as JSON-ready data (NaN as None)."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class MarketRegime(Regime):
    """The market's regime: the leader's, adjusted by breadth (``symbol`` is the leader)."""

    leader_trend: str = field(kw_only=True)
    breadth_up: float = field(kw_only=True)  # share of the other symbols trending up
    breadth_down: float = field(kw_only=True)
    breadth_symbols: int = field(kw_only=True)  # how many symbols the breadth counts


@dataclass(frozen=True, slots=True)
class RegimeSeries:
    """Regime inputs and labels for every candle; ``ready`` is False during warm-up."""

    symbol: str
    ts_ms: npt.NDArray[np.int64]
    ema_slope: FloatArray
    trend_strength: FloatArray
    adx: FloatArray
    realized_volatility: FloatArray
    volatility_percentile: FloatArray
    trend: npt.NDArray[np.int8]  # +1 up, -1 down, 0 range (0 during warm-up too)
    ready: npt.NDArray[np.bool_]

    def at(self, index: int, params: RegimeParams = DEFAULT_PARAMS) -> Regime:
        """Return the regime as of candle ``index`` (negative counts from the end)."""
        i = range(len(self.ts_ms))[index]
        if not self.ready[i]:
            raise DataValidationError(
                f"{self.symbol}: no regime yet at candle {i} ({int(self.ts_ms[i])}); a regime "
                f"needs {params.min_candles} gap-free closed candles before it. Fetch more "
                "history or use a shorter timeframe."
            )
        percentile = float(self.volatility_percentile[i])
        return Regime(
            symbol=self.symbol,
            trend=_TREND_NAMES[int(self.trend[i])],
            ema_slope=float(self.ema_slope[i]),
            adx=float(self.adx[i]),
            volatility_percentile=percentile,
            volatility=volatility_label(percentile, params),
            ts_ms=int(self.ts_ms[i]),
            trend_strength=float(self.trend_strength[i]),
            realized_volatility=float(self.realized_volatility[i]),
        )


def volatility_label(percentile: float, params: RegimeParams = DEFAULT_PARAMS) -> str:
    """Name the volatility regime of a percentile: low, normal or high."""
    if percentile < params.vol_low_pct:
        return LOW
    if percentile > params.vol_high_pct:
        return HIGH
    return NORMAL


def regime_series(candles: Candles, params: RegimeParams = DEFAULT_PARAMS) -> RegimeSeries:
    """Return the regime as of every candle, each from that candle and earlier ones only."""
    n = len(candles)
    slope = np.full(n, np.nan)
    adx = np.full(n, np.nan)
    vol = np.full(n, np.nan)
    for part in gap_free_runs(candles):
        close = np.asarray(candles.close[part])
        ema = ind.ema(close, timeperiod=params.ema_period)
        k = params.slope_bars
        if close.shape[0] > k:
            with np.errstate(divide="ignore", invalid="ignore"):
                slope[part][k:] = (ema[k:] / ema[:-k] - 1.0) / k
        adx[part] = ind.adx(
            np.asarray(candles.high[part]),
            np.asarray(candles.low[part]),
            close,
            timeperiod=params.adx_period,
        )
        vol[part] = ind.realized_volatility(close, params.vol_window)
    with np.errstate(divide="ignore", invalid="ignore"):
        strength = np.where(vol > 0, slope / vol, 0.0)
    strength[~np.isfinite(slope) | ~np.isfinite(vol)] = np.nan
    percentile = expanding_percentile(vol, params.min_vol_history)
    ready = np.isfinite(strength) & np.isfinite(adx) & np.isfinite(percentile)
    directional = np.nan_to_num(adx) >= params.adx_trend
    filled = np.nan_to_num(strength)
    trend = np.zeros(n, dtype=np.int8)
    trend[ready & directional & (filled >= params.slope_threshold)] = 1
    trend[ready & directional & (filled <= -params.slope_threshold)] = -1
    return RegimeSeries(
        symbol=candles.symbol,
        ts_ms=np.asarray(candles.ts_ms),
        ema_slope=slope,
        trend_strength=strength,
        adx=adx,
        realized_volatility=vol,
        volatility_percentile=percentile,
        trend=trend,
        ready=ready,
    )


def symbol_regime(candles: Candles, params: RegimeParams = DEFAULT_PARAMS) -> Regime:
    """Return the symbol's regime as of its last candle (pass closed candles only)."""
    if len(candles) == 0:
        raise DataValidationError(
            f"{candles.symbol}: no candles to take a regime from; a regime needs "
            f"{params.min_candles} gap-free closed candles."
        )
    # Only the last gap-free run matters for the last row: skip computing the others.
    last = gap_free_runs(candles)[-1]
    return regime_series(candles.tail(last.stop - last.start), params).at(-1, params)


def market_regime(
    candles_by_symbol: Mapping[str, Candles],
    leader: str = DEFAULT_LEADER,
    params: RegimeParams = DEFAULT_PARAMS,
) -> MarketRegime:
    """Return the BTC-led market regime; symbols too short for a regime stay out of breadth."""
    if leader not in candles_by_symbol:
        raise InvalidInputError(
            f"the market regime is led by {leader}, which is not among the "
            f"{len(candles_by_symbol)} symbols given; add its candles or name another leader."
        )
    others: list[Regime] = []
    for symbol, candles in candles_by_symbol.items():
        if symbol == leader:
            continue
        try:
            others.append(symbol_regime(candles, params))
        except DataValidationError:
            continue
    return combine_market(symbol_regime(candles_by_symbol[leader], params), others, params)


def combine_market(
    leader: Regime, others: Sequence[Regime], params: RegimeParams = DEFAULT_PARAMS
) -> MarketRegime:
    """Combine the leader's regime with the breadth of the others into the market's.

    The leader's trend stands unless at least ``breadth_decisive`` of the others trend the
    opposite way (then the market is ``range``: it is split); when the leader ranges, such a
    majority sets the trend. Volatility is the leader's.
    """
    counted = [r for r in others if r.symbol != leader.symbol]
    n = len(counted)
    up = sum(r.trend == UP for r in counted) / n if n else math.nan
    down = sum(r.trend == DOWN for r in counted) / n if n else math.nan
    trend = leader.trend
    if n:
        decisive = params.breadth_decisive
        if (leader.trend == UP and down >= decisive) or (leader.trend == DOWN and up >= decisive):
            trend = RANGE
        elif leader.trend == RANGE and up >= decisive:
            trend = UP
        elif leader.trend == RANGE and down >= decisive:
            trend = DOWN
    return MarketRegime(
        symbol=leader.symbol,
        trend=trend,
        ema_slope=leader.ema_slope,
        adx=leader.adx,
        volatility_percentile=leader.volatility_percentile,
        volatility=leader.volatility,
        ts_ms=leader.ts_ms,
        trend_strength=leader.trend_strength,
        realized_volatility=leader.realized_volatility,
        leader_trend=leader.trend,
        breadth_up=up,
        breadth_down=down,
        breadth_symbols=n,
    )


def gap_free_runs(candles: Candles) -> list[slice]:
    """Return the slices of ``candles`` with no missing candle inside (at least one)."""
    if len(candles) == 0:
        return [slice(0, 0)]
    breaks = np.flatnonzero(np.diff(candles.ts_ms) != candles.timeframe_ms) + 1
    edges = [0, *breaks.tolist(), len(candles)]
    return [slice(a, b) for a, b in itertools.pairwise(edges)]


def expanding_percentile(values: FloatArray, min_history: int) -> FloatArray:
    """Rank each value among the finite values up to it, in percent (ties count half).

    NaN until ``min_history`` finite values have been seen. Ties count half so that a
    constant series sits at 50 (normal), not at 100.
    """
    out = np.full(values.shape[0], np.nan)
    seen: list[float] = []
    for i, value in enumerate(values.tolist()):
        if not math.isfinite(value):
            continue
        bisect.insort(seen, value)
        if len(seen) < min_history:
            continue
        below = bisect.bisect_left(seen, value)
        at_or_below = bisect.bisect_right(seen, value)
        out[i] = 100.0 * (below + at_or_below) / (2 * len(seen))
    return out


def _plain(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value

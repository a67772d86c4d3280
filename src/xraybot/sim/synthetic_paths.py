"""Synthetic price paths, generated top-down so any range costs only what it touches.

Three levels, each a pure function of ``(seed, symbol index, time)``:

1. a daily grid per symbol (:func:`daily_grid`): a random walk of the log price from the
   listing day to the horizon, with Markov regimes (ranging / trending up / trending down /
   volatile, switching every couple of weeks), clustered volatility (a smoothed AR(1) of
   log-volatility), jumps of 10–40% about every seven weeks (a third of that for the
   majors), and wilder first days after a listing. The walk is pinned at the reference
   day to the symbol's reference price and reflected inside a band around it, so ticks
   chosen from that price stay meaningful.
   The grid also fixes each day's high, low and base volume;
2. a day's 24 hours (:func:`split`), seeded by (seed, symbol, day);
3. an hour's 60 minutes (:func:`split`), seeded by (seed, symbol, day, hour).

:func:`split` draws a Brownian bridge from the parent's open to its close with wicks,
then bends the parts above max(open, close) and below min(open, close) monotonically so
the children's extremes land exactly on the parent's high and low; volumes are shares of
the parent's volume, larger where the path moves. Children therefore aggregate exactly
to their parent: 1m → 1h → 1d candles agree, however they are asked for.
All values here are natural logs of prices; the market rounds ``exp`` to the tick.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from xraybot.model.candles import FloatArray
from xraybot.sim.bars import DAY_MS, HOUR_MS, MINUTE_MS
from xraybot.sim.synthetic_universe import SymbolParams

# Regimes: ranging, trending up, trending down, volatile.
_REGIME_DRIFT = np.array([0.0, 0.22, -0.22, 0.0])  # daily drift, in units of daily vol
_REGIME_VOL = np.array([0.7, 1.0, 1.0, 1.8])
_REGIME_DAYS = 14.0  # mean regime length
_JUMP_CHANCE = 1.0 / 50.0  # per day
_VOL_MEMORY = 0.85  # AR(1) coefficient of daily log-volatility
_VOL_NOISE = 0.2
_KERNEL = _VOL_MEMORY ** np.arange(40, dtype=np.float64)  # 0.85**40 < 0.002
_SMOOTH = np.ones(4)


@dataclass(frozen=True, slots=True)
class Level:
    """Rows of one level, logs of prices: row k opens at ``ts0 + k * step_ms``."""

    ts0: int
    step_ms: int
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray  # base units
    sd: FloatArray  # per-row volatility of the log price, for the next level down

    def __len__(self) -> int:
        return int(self.open.shape[0])

    def index_of(self, ts_ms: int) -> int:
        """Return the row holding ``ts_ms`` (may be < 0 or >= len when outside)."""
        return (ts_ms - self.ts0) // self.step_ms


def _reflect(x: FloatArray, center: float, band: float) -> FloatArray:
    # Triangle-wave reflection keeps the walk inside [center - band, center + band].
    lo, width = center - band, 2.0 * band
    if float(x.min()) >= lo and float(x.max()) <= lo + width:
        return x
    y = np.mod(x - lo, 2.0 * width)
    return lo + np.where(y > width, 2.0 * width - y, y)


def _regimes(rng: np.random.Generator, n: int) -> np.ndarray:
    count = max(8, n // 4 + 8)
    lengths = rng.geometric(1.0 / _REGIME_DAYS, count)
    # Each regime differs from the one before it.
    states = (int(rng.integers(0, 4)) + np.cumsum(rng.integers(1, 4, count))) % 4
    days = np.repeat(states, lengths)
    if days.shape[0] < n:
        days = np.concatenate((days, np.full(n - days.shape[0], states[-1])))
    return days[:n]


def daily_grid(seed: int, params: SymbolParams, ref_day: int, end_day: int) -> Level:
    """Return the symbol's days from its listing day to ``end_day`` (exclusive)."""
    first_day = params.listed_ms // DAY_MS
    n = end_day - first_day
    rng = np.random.default_rng([seed, params.index, 1])
    regime = _regimes(rng, n)
    shocks = rng.standard_normal(n + _KERNEL.shape[0])
    log_vol = np.convolve(shocks, _KERNEL)[_KERNEL.shape[0] : _KERNEL.shape[0] + n] * _VOL_NOISE
    log_vol -= 0.5 * _VOL_NOISE**2 / (1.0 - _VOL_MEMORY**2)  # mean-one volatility factor
    age = np.arange(n, dtype=np.float64)
    sigma = params.daily_vol * _REGIME_VOL[regime] * np.exp(log_vol)
    sigma *= 1.0 + 1.5 * np.exp(-age / 5.0)  # fresh listings swing hardest
    # The listing day is partial: it starts at the listing hour.
    first_share = 1.0 - (params.listed_ms - first_day * DAY_MS) / DAY_MS
    sigma[0] *= math.sqrt(first_share)
    jumps = rng.random(n) < _JUMP_CHANCE
    jump_size = rng.uniform(0.10, 0.40, n) * params.jump_scale
    jump_log = np.where(rng.random(n) < 0.5, np.log1p(jump_size), np.log1p(-jump_size))
    steps = _REGIME_DRIFT[regime] * sigma + sigma * rng.standard_normal(n)
    steps += np.where(jumps, jump_log, 0.0)
    level = np.concatenate(([0.0], np.cumsum(steps)))
    center = math.log(params.ref_price)
    level += center - level[min(max(ref_day - first_day, 0), n)]
    level = _reflect(level, center, params.band)
    opens, closes = level[:-1], level[1:]
    high = np.maximum(opens, closes) + sigma * (0.08 + 0.55 * rng.standard_exponential(n))
    low = np.minimum(opens, closes) - sigma * (0.08 + 0.55 * rng.standard_exponential(n))
    quote = params.quote_volume * (sigma / params.daily_vol) * np.exp(0.35 * rng.standard_normal(n))
    quote *= np.where(jumps, 3.0, 1.0)
    quote[0] *= first_share
    volume = quote / np.exp(0.5 * (opens + closes))
    return Level(first_day * DAY_MS, DAY_MS, opens, high, low, closes, volume, sigma)


def split(
    rng: np.random.Generator,
    parent: Level,
    row: int,
    ts0: int,
    count: int,
    step_ms: int,
    unit_share: float,
) -> Level:
    """Split ``parent`` row ``row`` into ``count`` children of ``step_ms`` from ``ts0``.

    ``unit_share`` is the share of the parent's variance one full child carries (1/24 for
    hours of a day); a partial parent (a listing day) has fewer children.
    """
    o, c = float(parent.open[row]), float(parent.close[row])
    hi, lo = float(parent.high[row]), float(parent.low[row])
    normals = rng.standard_normal(3 * count + 3)
    wicks = 0.05 + 0.5 * rng.standard_exponential(2 * count)
    # Volatility clusters within the parent too: a smoothed random multiplier per child.
    bumps = np.exp(0.175 * np.convolve(normals[: count + 3], _SMOOTH, "valid"))
    scale = float(parent.sd[row]) * math.sqrt(unit_share * count / float(np.dot(bumps, bumps)))
    sd = bumps * scale
    walk = np.cumsum(sd * normals[count + 3 : 2 * count + 3])
    weight = np.cumsum(sd * sd)
    weight /= weight[-1]
    path = np.empty(count + 1)
    path[0] = o
    path[1:] = o + walk - weight * (float(walk[-1]) - (c - o))
    path[-1] = c
    opens, closes = path[:-1], path[1:]
    highs = np.maximum(opens, closes) + sd * wicks[:count]
    lows = np.minimum(opens, closes) - sd * wicks[count:]
    top, bottom = max(o, c), min(o, c)
    peak, trough = int(np.argmax(highs)), int(np.argmin(lows))
    # Bend what lies above max(open, close) and below min(open, close), monotonically, so
    # the extremes land on the parent's high and low; open and close stay put.
    up = (hi - top) / (float(highs[peak]) - top) - 1.0
    down = (bottom - lo) / (bottom - float(lows[trough])) - 1.0

    def bend(x: FloatArray) -> FloatArray:
        result: FloatArray = x + np.maximum(x - top, 0.0) * up - np.maximum(bottom - x, 0.0) * down
        return result

    path = bend(path)
    path[0], path[-1] = o, c
    highs = np.minimum(bend(highs), hi)
    lows = np.maximum(bend(lows), lo)
    highs[peak], lows[trough] = hi, lo
    opens, closes = path[:-1], path[1:]
    activity = 0.3 + (np.abs(closes - opens) + 0.5 * (highs - lows)) / sd
    weights = activity * np.exp(0.5 * normals[2 * count + 3 :])
    volume = weights * (float(parent.volume[row]) / float(weights.sum()))
    return Level(ts0, step_ms, opens, highs, lows, closes, volume, sd)


def day_hours(seed: int, params: SymbolParams, grid: Level, day: int) -> Level:
    """Return the hours of absolute day ``day`` (from the listing hour on the listing day)."""
    day_ms = day * DAY_MS
    first_hour = max(0, (params.listed_ms - day_ms) // HOUR_MS)
    rng = np.random.default_rng([seed, params.index, 2, day])
    return split(
        rng, grid, grid.index_of(day_ms), day_ms + first_hour * HOUR_MS, 24 - first_hour,
        HOUR_MS, 1.0 / (24 - first_hour),
    )  # fmt: skip


def hour_minutes(seed: int, params: SymbolParams, hours: Level, hour_ms: int) -> Level:
    """Return the 60 minutes of the hour opening at ``hour_ms`` (a row of ``hours``)."""
    day, hour = divmod(hour_ms, DAY_MS)
    rng = np.random.default_rng([seed, params.index, 3, day, hour // HOUR_MS])
    return split(rng, hours, hours.index_of(hour_ms), hour_ms, 60, MINUTE_MS, 1.0 / 60.0)

"""Small pieces the built-ins share: crossover events and Wilder-smoothing warm-up."""

from __future__ import annotations

import math

import numpy as np

from xraybot.model.candles import FloatArray
from xraybot.strategy.base import BoolArray

# How far a recursive (exponential/Wilder) average's starting value must have decayed before
# its values count as history-independent. Decaying the seed to 1e-10 of its weight keeps
# RSI within 1e-6 relative of the infinite-history value even where one of its two averages
# is ~1000x smaller than the other (RSI near 0 or 100 — common for short periods); measured
# on the sample and reference candles, the worst case was 5e-8 (period 2).
SEED_DECAY = 1e-10


def decay_candles(alpha: float, tolerance: float = SEED_DECAY) -> int:
    """Candles after which a recursive average's seed weight ``(1-alpha)**k`` is < tolerance."""
    if alpha >= 1.0:
        return 0
    return math.ceil(math.log(tolerance) / math.log(1.0 - alpha))


def wilder_warmup(period: int) -> int:
    """Warm-up of a Wilder average (alpha 1/period) seeded by an SMA of ``period`` values."""
    return period + decay_candles(1.0 / period)


def ema_warmup(period: int) -> int:
    """Warm-up of TA-Lib's EMA (alpha 2/(period+1)) seeded by an SMA of ``period`` values."""
    return period + decay_candles(2.0 / (period + 1.0))


def cross_above(a: FloatArray, b: FloatArray | float) -> BoolArray:
    """True at t when ``a`` went from <= ``b`` at t-1 to > ``b`` at t; False where NaN."""
    above = a > b
    below_or_at = a <= b
    out = np.zeros(a.shape[0], dtype=np.bool_)
    out[1:] = above[1:] & below_or_at[:-1]
    return out


def cross_below(a: FloatArray, b: FloatArray | float) -> BoolArray:
    """True at t when ``a`` went from >= ``b`` at t-1 to < ``b`` at t; False where NaN."""
    below = a < b
    above_or_at = a >= b
    out = np.zeros(a.shape[0], dtype=np.bool_)
    out[1:] = below[1:] & above_or_at[:-1]
    return out


def rising_edge(state: BoolArray) -> BoolArray:
    """True at t when ``state`` is True at t and was False at t-1 (never at t = 0)."""
    out = np.zeros(state.shape[0], dtype=np.bool_)
    out[1:] = state[1:] & ~state[:-1]
    return out

"""The loops TA-Lib lacks, compiled by numba on first call and cached on disk.

Importing this module imports numba (~0.3 s), so ``extra`` and ``profile`` import it inside
the functions that need it, never at module level. Every loop runs forward in time and sums
each window afresh in index order (no running sums that subtract), so a value depends only on
the inputs up to its index and is bit-identical however many candles follow it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np
from numba import njit

from xraybot.model.candles import FloatArray, IntArray

_F = TypeVar("_F", bound=Callable[..., Any])


def _compile(fn: _F) -> _F:
    """Wrap a plain function in a lazily compiling, disk-cached numba dispatcher."""
    return cast(_F, njit(cache=True)(fn))


def _session_vwap(session: IntArray, price: FloatArray, volume: FloatArray) -> FloatArray:
    out = np.full(price.shape[0], np.nan)
    pv = 0.0
    vol = 0.0
    for i in range(price.shape[0]):
        if i == 0 or session[i] != session[i - 1]:
            pv = 0.0
            vol = 0.0
        pv += price[i] * volume[i]
        vol += volume[i]
        if vol > 0.0:
            out[i] = pv / vol
    return out


def _rolling_vwap(price: FloatArray, volume: FloatArray, window: int) -> FloatArray:
    out = np.full(price.shape[0], np.nan)
    for i in range(window - 1, price.shape[0]):
        pv = 0.0
        vol = 0.0
        for j in range(i - window + 1, i + 1):
            pv += price[j] * volume[j]
            vol += volume[j]
        if vol > 0.0:
            out[i] = pv / vol
    return out


def _realized_volatility(close: FloatArray, window: int) -> FloatArray:
    n = close.shape[0]
    out = np.full(n, np.nan)
    returns = np.full(n, np.nan)
    for i in range(1, n):
        returns[i] = math.log(close[i] / close[i - 1])
    for i in range(window, n):
        total = 0.0
        for j in range(i - window + 1, i + 1):
            total += returns[j]
        mean = total / window
        squares = 0.0
        for j in range(i - window + 1, i + 1):
            squares += (returns[j] - mean) ** 2
        # NaN returns (a NaN close in the warm-up) leave the value NaN, as they should.
        out[i] = math.sqrt(squares / (window - 1))
    return out


def _spread_volume(
    low: FloatArray, high: FloatArray, volume: FloatArray, edges: FloatArray
) -> FloatArray:
    bins = edges.shape[0] - 1
    bottom = edges[0]
    width = (edges[bins] - bottom) / bins
    out = np.zeros(bins)
    for i in range(low.shape[0]):
        lo = low[i]
        hi = high[i]
        if hi > lo:
            # Only the bins the candle's range touches; one either side absorbs rounding.
            first = max(int((lo - bottom) / width) - 1, 0)
            last = min(int((hi - bottom) / width) + 1, bins - 1)
            for b in range(first, last + 1):
                overlap = min(hi, edges[b + 1]) - max(lo, edges[b])
                if overlap > 0.0:
                    out[b] += volume[i] * overlap / (hi - lo)
        else:
            b = min(max(int((lo - bottom) / width), 0), bins - 1)
            out[b] += volume[i]
    return out


session_vwap = _compile(_session_vwap)
rolling_vwap = _compile(_rolling_vwap)
realized_volatility = _compile(_realized_volatility)
spread_volume = _compile(_spread_volume)

"""The final ranking: a score in [0, 1] per survivor, from weighted ranks within the run.

Ranks, not raw values, so that one weight means the same whatever the metric's unit, and
so that the score follows the market the way percentile thresholds do. An unknown value
(no spread as of a past time) ranks in the middle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from xraybot.model.candles import FloatArray
from xraybot.xray.config import ScreenConfig
from xraybot.xray.screen_result import SymbolMetrics


def _ranks(values: Sequence[float | None], *, higher_is_better: bool = True) -> FloatArray:
    """Return each value's rank among the known ones, 0 (worst) to 1 (best); unknown: 0.5."""
    array = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    out = np.full(array.shape, 0.5)
    known = np.isfinite(array)
    n = int(known.sum())
    if n > 1:
        signed = array[known] if higher_is_better else -array[known]
        order = np.argsort(np.argsort(signed, kind="stable"), kind="stable")
        out[known] = order / (n - 1)
    return out


def score(rows: Sequence[SymbolMetrics], config: ScreenConfig) -> tuple[SymbolMetrics, ...]:
    """Return the rows with a score in [0, 1]: weighted ranks within this run."""
    if not rows:
        return ()
    w = config.score
    volume = _ranks([r.quote_volume_24h for r in rows])
    spread = _ranks([r.spread_pct for r in rows], higher_is_better=False)
    volatility = _ranks([r.volatility_pct for r in rows])
    trends = [r.trend for r in rows]
    if config.trend == "down":
        trend = _ranks(trends, higher_is_better=False)
    elif config.trend == "up":
        trend = _ranks(trends)
    else:
        trend = _ranks([None if t is None else abs(t) for t in trends])
    breakout = np.array([1.0 if r.breakout else 0.0 for r in rows])
    total = w.volume + w.spread + w.volatility + w.trend + w.breakout
    scores = (
        w.volume * volume
        + w.spread * spread
        + w.volatility * volatility
        + w.trend * trend
        + w.breakout * breakout
    ) / total
    return tuple(replace(r, score=float(s)) for r, s in zip(rows, scores, strict=True))

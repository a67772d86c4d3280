"""What a screen returns: one row of metrics per candidate, a reason per rejection, the tally."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

DISTRIBUTION_PERCENTILES = (5, 10, 25, 50, 75, 90, 95)


@dataclass(frozen=True, slots=True)
class SymbolMetrics:
    """One candidate as the chain has measured it so far (None: not measured, or unknown)."""

    symbol: str
    last: float
    quote_volume_24h: float
    spread_pct: float | None
    listed_days: float | None
    volatility_pct: float | None
    rsi: float | None
    trend: float | None  # EMA(fast) / EMA(slow) - 1, in percent
    breakout: bool | None
    score: float | None
    signals: tuple[str, ...]
    depth_quote: float | None = None  # quote within depth_pct of the mid, thinner side

    def as_dict(self) -> dict[str, Any]:
        """Return the row as JSON-ready values (the names the issue's JSON asks for)."""
        return {
            "symbol": self.symbol,
            "quote_volume": self.quote_volume_24h,
            "volatility": self.volatility_pct,
            "spread": self.spread_pct,
            "score": self.score,
            "signals": list(self.signals),
            "last": self.last,
            "listed_days": self.listed_days,
            "rsi": self.rsi,
            "trend": self.trend,
            "breakout": self.breakout,
            "depth_quote": self.depth_quote,
        }


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why one symbol left the chain: the filter, and the value against the threshold."""

    symbol: str
    filter: str
    reason: str


def _frozen_map(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@dataclass(frozen=True, slots=True, kw_only=True)
class ScreenResult:
    """The survivors, every rejection by filter (in chain order), and what it cost."""

    passed: tuple[SymbolMetrics, ...]
    rejected: Mapping[str, tuple[Rejection, ...]]
    emptied_by: str | None
    distributions: Mapping[str, Mapping[str, float]]
    requests: int
    elapsed_s: float
    as_of_ms: int | None
    universe_size: int
    exchange: str = ""
    rules: Mapping[str, str] = field(default_factory=dict)  # filter -> rule as resolved
    notes: tuple[str, ...] = ()
    regime: tuple[str, ...] = ()  # market regime labels the thresholds followed

    def __post_init__(self) -> None:
        object.__setattr__(self, "rejected", _frozen_map(self.rejected))
        object.__setattr__(self, "distributions", _frozen_map(self.distributions))
        object.__setattr__(self, "rules", _frozen_map(self.rules))

    @property
    def rejected_count(self) -> int:
        return sum(len(r) for r in self.rejected.values())

    def as_dict(self) -> dict[str, Any]:
        """Return the result as JSON: passed, rejected per filter, requests, elapsed_s …"""
        return {
            "exchange": self.exchange,
            "as_of_ms": self.as_of_ms,
            "universe_size": self.universe_size,
            "passed": [row.as_dict() for row in self.passed],
            "rejected": {
                name: {
                    "count": len(rejections),
                    "rule": self.rules.get(name, ""),
                    "symbols": [{"symbol": r.symbol, "reason": r.reason} for r in rejections],
                }
                for name, rejections in self.rejected.items()
            },
            "emptied_by": self.emptied_by,
            "distributions": {k: dict(v) for k, v in self.distributions.items()},
            "requests": self.requests,
            "elapsed_s": self.elapsed_s,
            "regime": list(self.regime),
            "notes": list(self.notes),
        }


def distribution(values: Iterable[float]) -> dict[str, float]:
    """Return count, min, p5 … p95 and max of ``values`` (NaN and None left out)."""
    array = np.asarray([v for v in values if v is not None], dtype=np.float64)
    array = array[np.isfinite(array)]
    if array.size == 0:
        return {"count": 0.0}
    quantiles = np.percentile(array, DISTRIBUTION_PERCENTILES)
    out = {"count": float(array.size), "min": float(array.min())}
    out.update(
        {f"p{q}": float(v) for q, v in zip(DISTRIBUTION_PERCENTILES, quantiles, strict=True)}
    )
    out["max"] = float(array.max())
    return out

"""What a selection run found: per-symbol verdicts with reasons, threshold checks, cache counts."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from xraybot.backtest.metrics import Metrics, json_safe
from xraybot.backtest.select_config import SelectionConfig
from xraybot.backtest.select_regime import Recommendation
from xraybot.backtest.select_run import StrategyRun

Stage = Literal["", "data", "strategy", "thresholds"]


@dataclass(frozen=True, slots=True)
class ThresholdCheck:
    """One threshold against the OOS figure it limits."""

    name: str  # min_return | min_sharpe | max_drawdown | min_trades
    limit: float
    value: float
    passed: bool

    def describe(self) -> str:
        """Say what was compared, e.g. ``return -3.20% < 0.00%``."""
        label, fmt, op = _LABELS[self.name]
        sign = op if self.passed else _NEGATED[op]
        return f"{label} {_fmt(self.value, fmt)} {sign} {_fmt(self.limit, fmt)}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "limit": json_safe(self.limit),
            "value": json_safe(self.value),
            "passed": self.passed,
            "text": self.describe(),
        }


_LABELS = {
    "min_return": ("return", "pct", ">="),
    "min_sharpe": ("Sharpe", "ratio", ">="),
    "max_drawdown": ("max drawdown", "pct", "<="),
    "min_trades": ("trades", "count", ">="),
}
_NEGATED = {">=": "<", "<=": ">"}


def _fmt(value: float, kind: str) -> str:
    if math.isnan(value):
        return "n/a"
    if kind == "pct":
        return f"{value:.2%}"
    if kind == "count":
        return f"{value:.0f}"
    return f"{value:.2f}"


def check_thresholds(metrics: Metrics, config: SelectionConfig) -> tuple[ThresholdCheck, ...]:
    """Compare the OOS metrics with every threshold that is on (NaN never passes)."""
    values = {
        "min_return": metrics.total_return,
        "min_sharpe": metrics.sharpe,
        "max_drawdown": metrics.max_drawdown,
        "min_trades": float(metrics.trades),
    }
    checks = []
    for name, limit in config.thresholds().items():
        if limit is None:
            continue
        value = values[name]
        passed = value <= limit if name == "max_drawdown" else value >= limit
        checks.append(ThresholdCheck(name, float(limit), float(value), bool(passed)))
    return tuple(checks)


@dataclass(frozen=True, slots=True)
class SymbolSelection:
    """One symbol's verdict, the reasons for it, and what it rests on."""

    symbol: str
    selected: bool
    stage: Stage  # what decided a rejection ("" when selected)
    reasons: tuple[str, ...]
    strategy: str | None  # the strategy judged (for "auto": the recommended one)
    candles: int
    oos_candles: int
    checks: tuple[ThresholdCheck, ...] = ()
    run: StrategyRun | None = None
    recommendation: Recommendation | None = None

    @property
    def failed(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.checks if not c.passed)

    def to_dict(self) -> dict[str, Any]:
        run = self.run
        rec = self.recommendation
        return {
            "symbol": self.symbol,
            "verdict": "selected" if self.selected else "rejected",
            "stage": self.stage or None,
            "reasons": list(self.reasons),
            "failed": list(self.failed),
            "checks": [c.to_dict() for c in self.checks],
            "strategy": self.strategy,
            "params": None if run is None else dict(run.params),
            "candles": self.candles,
            "oos_candles": self.oos_candles,
            "oos_start_ms": None if run is None else run.oos_start_ms,
            "oos_end_ms": None if run is None else run.oos_end_ms,
            "warmup": None if run is None else run.warmup,
            "metrics": None if run is None else run.metrics.to_dict(),
            "cache": None if run is None else run.cache.value,
            "regime": None if rec is None else rec.regime,
            "recommended": None if rec is None else rec.strategy,
        }


@dataclass(frozen=True, slots=True)
class CacheCounts:
    """How the backtests were served; the reasons are (symbol, strategy, reason) triples.

    ``computed`` counts runs not found in the cache (then stored) or run without a cache.
    """

    enabled: bool
    hits: int = 0
    computed: int = 0
    recomputed: tuple[tuple[str, str, str], ...] = ()  # cached copy unusable: run again
    uncached: tuple[tuple[str, str, str], ...] = ()  # run, not stored: could not be keyed

    def to_dict(self) -> dict[str, Any]:
        def rows(items: tuple[tuple[str, str, str], ...]) -> list[dict[str, str]]:
            return [{"symbol": s, "strategy": k, "reason": r} for s, k, r in items]

        return {
            "enabled": self.enabled,
            "hits": self.hits,
            "computed": self.computed,
            "recomputed": len(self.recomputed),
            "recomputed_reasons": rows(self.recomputed),
            "uncached": len(self.uncached),
            "uncached_reasons": rows(self.uncached),
        }


@dataclass(frozen=True, slots=True)
class SelectionReport:
    """Every symbol's verdict, in the order given, and how the backtests were served."""

    config: SelectionConfig
    symbols: tuple[SymbolSelection, ...]
    cache: CacheCounts
    elapsed_s: float = 0.0
    notes: tuple[str, ...] = field(default=())

    @property
    def selected(self) -> tuple[SymbolSelection, ...]:
        return tuple(s for s in self.symbols if s.selected)

    @property
    def rejected(self) -> tuple[SymbolSelection, ...]:
        return tuple(s for s in self.symbols if not s.selected)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data (NaN as None)."""
        return {
            "selected": [s.to_dict() for s in self.selected],
            "rejected": [s.to_dict() for s in self.rejected],
            "recommendations": {
                s.symbol: s.recommendation.to_dict()
                for s in self.symbols
                if s.recommendation is not None
            },
            "cache": self.cache.to_dict(),
            "config": self.config.model_dump(mode="json"),
            "thresholds": self.config.thresholds(),
            "elapsed_s": round(self.elapsed_s, 3),
            "notes": list(self.notes),
        }

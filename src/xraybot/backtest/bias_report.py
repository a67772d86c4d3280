"""What the bias checks found, as plain data: per array, per check, per series.

``ArrayDiff`` counts where one array of a strategy's signals differed from the full run;
``LookaheadReport`` and ``WarmupReport`` gather them per check and say what to fix;
``BiasReport`` holds both checks of one strategy on one series. ``to_dict`` gives JSON.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

from xraybot.strategy.base import ParamValue

__all__ = ["ArrayDiff", "BiasReport", "Kind", "LookaheadReport", "WarmupDiff", "WarmupReport"]

Kind = Literal["decision", "value"]
_LISTED = 10  # differing indices an ArrayDiff lists (bias.FIRST_INDICES)


@dataclass(frozen=True, slots=True)
class ArrayDiff:
    """How one array compared: ``differing`` of ``checked`` candles (NaN mismatches included).

    ``first_indices`` are full-series candle indices, earliest first (at most ten). The warm-up
    check sums ``checked`` and ``differing`` over its offsets, so one candle can count once per
    offset. ``max_deviation`` is the largest relative deviation between two numbers (0 for
    decisions).
    """

    name: str
    kind: Kind
    checked: int
    differing: int
    first_indices: tuple[int, ...]
    max_deviation: float = 0.0
    nan_mismatches: int = 0

    @property
    def passed(self) -> bool:
        return self.differing == 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["first_indices"] = list(self.first_indices)
        out["max_deviation"] = self.max_deviation if math.isfinite(self.max_deviation) else None
        out["passed"] = self.passed
        return out

    def describe(self) -> str:
        where = ", ".join(str(i) for i in self.first_indices)
        more = ", …" if len(self.first_indices) >= _LISTED else ""
        text = f"{self.name}: {self.differing} of {self.checked} differ (at candles {where}{more})"
        if self.kind == "value" and self.max_deviation > 0.0:
            text += f", max deviation {self.max_deviation:.3g}"
        if self.nan_mismatches:
            text += f", {self.nan_mismatches} NaN against a number"
        return text


@dataclass(frozen=True, slots=True)
class WarmupDiff(ArrayDiff):
    """An ``ArrayDiff`` of the warm-up check, with the warm-up this array needs.

    ``stable_after``: candles after a shortened series' start from which this array matched
    the full run at every checked offset; ``None`` when it still differed at the last candle.
    ``ties``: decision flips where every number of the signals agreed within tolerance (at
    t and t-1): a threshold compared with a value equal to it up to rounding.
    """

    stable_after: int | None = 0
    ties: int = 0

    def describe(self) -> str:
        text = ArrayDiff.describe(self)
        if self.ties:
            text += f", {self.ties} of them ties (every number agrees within tolerance)"
        return text


@dataclass(frozen=True, slots=True)
class LookaheadReport:
    """Values at ``points`` candles recomputed on the series cut right after each."""

    points: int
    signal_points: int
    signal_points_checked: int
    tolerance: float
    arrays: tuple[ArrayDiff, ...]

    @property
    def passed(self) -> bool:
        return all(a.passed for a in self.arrays)

    @property
    def failing(self) -> tuple[ArrayDiff, ...]:
        return tuple(a for a in self.arrays if not a.passed)

    def describe(self) -> str:
        if self.passed:
            return (
                f"no lookahead at {self.points} candles checked ({self.signal_points_checked} "
                f"of {self.signal_points} signal candles)"
            )
        return "lookahead: " + "; ".join(a.describe() for a in self.failing)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "points": self.points,
            "signal_points": self.signal_points,
            "signal_points_checked": self.signal_points_checked,
            "tolerance": self.tolerance,
            "arrays": [a.to_dict() for a in self.arrays],
        }


@dataclass(frozen=True, slots=True)
class WarmupReport:
    """Signals recomputed without the first k candles (each of ``offsets``), compared from
    k + ``declared`` on. ``suggested_warmup`` is the smallest warm-up with which this check
    passes on these offsets; ``None`` when none does (values depend on all earlier history).
    """

    declared: int
    offsets: tuple[int, ...]
    tolerance: float
    arrays: tuple[WarmupDiff, ...]

    @property
    def passed(self) -> bool:
        return all(a.passed for a in self.arrays)

    @property
    def failing(self) -> tuple[WarmupDiff, ...]:
        return tuple(a for a in self.arrays if not a.passed)

    @property
    def suggested_warmup(self) -> int | None:
        needed = [a.stable_after for a in self.arrays]
        if any(n is None for n in needed):
            return None
        return max((n for n in needed if n is not None), default=0)

    def describe(self) -> str:
        starts = ", ".join(str(k) for k in self.offsets)
        if self.passed:
            return f"warm-up {self.declared} holds from starts {starts}"
        detail = "; ".join(a.describe() for a in self.failing)
        if all(a.kind == "decision" and a.differing == a.ties for a in self.failing):
            return (
                "decisions flip only at ties: a value equal to its threshold up to rounding, "
                f"and the rounding depends on where the series starts: {detail}"
            )
        suggested = self.suggested_warmup
        fix = (
            "no warm-up suffices: values depend on all earlier history"
            if suggested is None
            else f"a warm-up of {suggested} would pass"
        )
        return f"warm-up {self.declared} is too short ({fix}): {detail}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "declared_warmup": self.declared,
            "suggested_warmup": self.suggested_warmup,
            "offsets": list(self.offsets),
            "tolerance": self.tolerance,
            "arrays": [a.to_dict() for a in self.arrays],
        }


@dataclass(frozen=True, slots=True)
class BiasReport:
    """Both checks of one strategy on one series."""

    strategy: str
    symbol: str
    timeframe: str
    candles: int
    params: Mapping[str, ParamValue]
    lookahead: LookaheadReport
    warmup: WarmupReport

    @property
    def passed(self) -> bool:
        return self.lookahead.passed and self.warmup.passed

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "candles": self.candles,
            "params": dict(self.params),
            "passed": self.passed,
            "lookahead": self.lookahead.to_dict(),
            "recursive": self.warmup.to_dict(),
        }

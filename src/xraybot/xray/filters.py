"""The screener's filters: small, pure, one protocol; each explains every symbol it drops.

A filter sees the rows that reached it and returns what it kept, a :class:`Rejection` per
dropped symbol whose reason names the value and the threshold ("quote volume 12,300 <
50,000 (p60)"), and the metric it compared over all the rows it saw, so a filter that
drops everything can show the distribution that made it do so. Dynamic thresholds
(``"p60"``) are resolved here, over the rows the filter sees.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

import numpy as np

from xraybot.data.download_symbols import is_leveraged_token, is_stablecoin
from xraybot.xray.config import percentile_of
from xraybot.xray.screen_result import Rejection, SymbolMetrics

Getter = Callable[[SymbolMetrics], float | None]
Format = Callable[[float], str]


@dataclass(frozen=True, slots=True)
class FilterOutcome:
    """What one filter did: kept rows, a rejection per dropped row, what it measured."""

    kept: tuple[SymbolMetrics, ...]
    rejected: tuple[Rejection, ...]
    rule: str = ""  # the rule as applied, dynamic thresholds resolved
    metric: str | None = None  # the quantity compared, for distributions
    values: tuple[float, ...] = ()  # that quantity over every row the filter saw


class Filter(Protocol):
    """One link of the chain."""

    @property
    def name(self) -> str: ...

    def apply(self, rows: Sequence[SymbolMetrics]) -> FilterOutcome:
        """Return the rows kept and a reason for each row dropped."""
        ...


# -- formatting --------------------------------------------------------------------------


def fmt_amount(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.4g}"


def fmt_price(value: float) -> str:
    return f"{value:.6g}"


def fmt_pct(value: float) -> str:
    return f"{value:.3g}%"


def fmt_days(value: float) -> str:
    return f"{value:.1f} days"


def fmt_plain(value: float) -> str:
    return f"{value:.1f}"


# -- thresholds --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resolved:
    """A threshold as applied: its value (None if a percentile had no data) and its origin."""

    value: float | None
    spec: float | str

    @property
    def suffix(self) -> str:
        return f" ({self.spec})" if isinstance(self.spec, str) else ""


def resolve(spec: float | str, values: Sequence[float]) -> Resolved:
    """Return a fixed threshold as is, or the percentile a dynamic one names over ``values``."""
    q = percentile_of(spec)
    if q is None:
        return Resolved(float(spec), spec)
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return Resolved(None, spec)
    return Resolved(float(np.percentile(finite, q)), spec)


def _resolved(spec: float | str | Resolved | None, values: Sequence[float]) -> Resolved | None:
    if spec is None or isinstance(spec, Resolved):
        return spec
    return resolve(spec, values)


# -- filters -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KnownProblems:
    """Drops symbols already known to be unusable (no ticker, failed fetch, delisted …)."""

    name: str
    problems: Mapping[str, str]  # symbol -> reason
    rule: str = ""

    def apply(self, rows: Sequence[SymbolMetrics]) -> FilterOutcome:
        kept = tuple(r for r in rows if r.symbol not in self.problems)
        rejected = tuple(
            Rejection(r.symbol, self.name, self.problems[r.symbol])
            for r in rows
            if r.symbol in self.problems
        )
        return FilterOutcome(kept, rejected, self.rule)


@dataclass(frozen=True, slots=True)
class Blacklist:
    """Drops listed symbols, base patterns (``*DOWN``), leveraged tokens and stablecoins."""

    patterns: tuple[str, ...]
    leveraged_tokens: bool
    stablecoins: bool
    bases: frozenset[str]  # every base the exchange lists: BTCUP is a token only if BTC is
    name: str = "blacklist"

    def apply(self, rows: Sequence[SymbolMetrics]) -> FilterOutcome:
        kept: list[SymbolMetrics] = []
        rejected: list[Rejection] = []
        for row in rows:
            reason = self._reason(row)
            if reason is None:
                kept.append(row)
            else:
                rejected.append(Rejection(row.symbol, self.name, reason))
        return FilterOutcome(tuple(kept), tuple(rejected), self._rule())

    def _reason(self, row: SymbolMetrics) -> str | None:
        base = row.symbol.split("/", 1)[0]
        for pattern in self.patterns:
            target = row.symbol if "/" in pattern else base
            if fnmatch.fnmatchcase(target, pattern):
                return f"blacklisted by {pattern!r}"
        if self.leveraged_tokens and is_leveraged_token(base, self.bases):
            return f"leveraged token ({base})"
        if self.stablecoins and is_stablecoin(base, Decimal(repr(row.last))):
            return f"stablecoin ({base} at {fmt_price(row.last)})"
        return None

    def _rule(self) -> str:
        parts = [f"not {', '.join(self.patterns)}"] if self.patterns else []
        if self.leveraged_tokens:
            parts.append("no leveraged tokens")
        if self.stablecoins:
            parts.append("no stablecoins")
        return "; ".join(parts) or "off"


@dataclass(frozen=True, slots=True)
class Bounds:
    """Keeps rows whose metric lies within [low, high]; either bound may be dynamic."""

    name: str
    label: str  # how reasons call the metric: "quote volume"
    get: Getter
    low: float | str | Resolved | None = None  # Resolved: a threshold already resolved
    high: float | str | Resolved | None = None
    fmt: Format = fmt_plain
    unknown: str = "unknown"  # why a row may lack the metric, for its reason

    def apply(self, rows: Sequence[SymbolMetrics]) -> FilterOutcome:
        measured = [self.get(r) for r in rows]
        values = tuple(v for v in measured if v is not None and np.isfinite(v))
        low = _resolved(self.low, values)
        high = _resolved(self.high, values)
        kept: list[SymbolMetrics] = []
        rejected: list[Rejection] = []
        for row, value in zip(rows, measured, strict=True):
            reason = self._reason(value, low, high)
            if reason is None:
                kept.append(row)
            else:
                rejected.append(Rejection(row.symbol, self.name, reason))
        return FilterOutcome(tuple(kept), tuple(rejected), self._rule(low, high), self.name, values)

    def _reason(
        self, value: float | None, low: Resolved | None, high: Resolved | None
    ) -> str | None:
        if value is None or not np.isfinite(value):
            return f"{self.label} {self.unknown}"
        for bound, below in ((low, True), (high, False)):
            if bound is None:
                continue
            if bound.value is None:
                return f"{self.label} threshold {bound.spec} undefined: no values to take it of"
            if (value < bound.value) if below else (value > bound.value):
                op = "<" if below else ">"
                return f"{self.label} {self.fmt(value)} {op} {self.fmt(bound.value)}{bound.suffix}"
        return None

    def _rule(self, low: Resolved | None, high: Resolved | None) -> str:
        parts = []
        for bound, op in ((low, ">="), (high, "<=")):
            if bound is not None:
                shown = "undefined" if bound.value is None else self.fmt(bound.value)
                parts.append(f"{self.label} {op} {shown}{bound.suffix}")
        return " and ".join(parts) or "off"


@dataclass(frozen=True, slots=True)
class Trend:
    """Keeps rows whose EMA(fast) is above (up) or below (down) EMA(slow)."""

    direction: str  # "up" | "down"
    fast: int
    slow: int
    name: str = "trend"

    def apply(self, rows: Sequence[SymbolMetrics]) -> FilterOutcome:
        kept: list[SymbolMetrics] = []
        rejected: list[Rejection] = []
        for row in rows:
            trend = row.trend
            if trend is None or not np.isfinite(trend):
                rejected.append(Rejection(row.symbol, self.name, "trend unknown"))
            elif (trend > 0) if self.direction == "up" else (trend < 0):
                kept.append(row)
            else:
                side = "above" if trend > 0 else "below" if trend < 0 else "at"
                reason = (
                    f"trend {trend:+.2f}% (EMA{self.fast} {side} EMA{self.slow}), "
                    f"wanted {self.direction}"
                )
                rejected.append(Rejection(row.symbol, self.name, reason))
        values = tuple(r.trend for r in rows if r.trend is not None and np.isfinite(r.trend))
        rule = f"EMA{self.fast} {'above' if self.direction == 'up' else 'below'} EMA{self.slow}"
        return FilterOutcome(tuple(kept), tuple(rejected), rule, self.name, values)


@dataclass(frozen=True, slots=True)
class Breakout:
    """Keeps rows whose last close broke above the high of the previous N candles."""

    bars: int
    name: str = "breakout"

    def apply(self, rows: Sequence[SymbolMetrics]) -> FilterOutcome:
        kept = tuple(r for r in rows if r.breakout)
        rejected = tuple(
            Rejection(
                r.symbol,
                self.name,
                "breakout unknown"
                if r.breakout is None
                else f"no breakout of the {self.bars}-candle high",
            )
            for r in rows
            if not r.breakout
        )
        return FilterOutcome(kept, rejected, f"close above the {self.bars}-candle high")


@dataclass(frozen=True, slots=True)
class TopN:
    """Keeps the ``top`` rows by score (ties: more volume, then symbol)."""

    top: int
    name: str = "top_n"

    def apply(self, rows: Sequence[SymbolMetrics]) -> FilterOutcome:
        ranked = rank(rows)
        kept = tuple(ranked[: self.top])
        floor = kept[-1].score if kept else None
        rejected = tuple(
            Rejection(
                row.symbol,
                self.name,
                f"rank {i} of {len(ranked)} (score {row.score or 0:.3f}) is below the top "
                f"{self.top} (last kept {floor or 0:.3f})",
            )
            for i, row in enumerate(ranked[self.top :], start=self.top + 1)
        )
        values = tuple(r.score for r in rows if r.score is not None)
        return FilterOutcome(kept, rejected, f"best {self.top} by score", "score", values)


def rank(rows: Sequence[SymbolMetrics]) -> list[SymbolMetrics]:
    """Return rows best first: score, then 24h quote volume, then symbol."""
    return sorted(rows, key=lambda r: (-(r.score or 0.0), -r.quote_volume_24h, r.symbol))

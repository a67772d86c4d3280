"""The X-ray report's facts: regimes, correlation, clusters, anomalies, movers and the screen.

:func:`build_report` is a pure function of a :class:`MarketSnapshot` (and, optionally, a
screen result): it computes everything the HTML page (:mod:`xraybot.xray.report_html`) and
the JSON show, so the two can never disagree. A part that cannot be computed (too little
history, a leader that did not answer) is left empty with a note saying why, and the rest
of the report still stands.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import numpy as np

from xraybot.model.candles import Candles, FloatArray, IntArray
from xraybot.model.errors import DataValidationError, InvalidInputError
from xraybot.xray.anomalies import Anomaly, scan
from xraybot.xray.clusters import DEFAULT_MIN_CORRELATION, Clustering, cluster_symbols
from xraybot.xray.correlation import Correlation, align_returns, correlation_of
from xraybot.xray.correlation import rolling_mean_correlation as rolling_mean
from xraybot.xray.regime import (
    DEFAULT_LEADER,
    DEFAULT_PARAMS,
    MarketRegime,
    Regime,
    RegimeParams,
    combine_market,
    symbol_regime,
)
from xraybot.xray.screen_result import ScreenResult
from xraybot.xray.snapshot import MarketSnapshot

DAY_MS = 86_400_000
ROLLING_WINDOW = 72  # bars in each point of the rolling mean correlation
MOVERS_SHOWN = 10


@dataclass(frozen=True, slots=True)
class Mover:
    """One symbol's 24h change (the ticker's, or from candles where the ticker has none)."""

    symbol: str
    change_pct_24h: float
    last: float
    quote_volume_24h: float | None
    source: str  # "ticker" | "candles"

    def as_dict(self) -> dict[str, object]:
        """Return the mover as JSON-ready data."""
        return {
            "symbol": self.symbol,
            "change_pct_24h": round(self.change_pct_24h, 4),
            "last": self.last,
            "quote_volume_24h": self.quote_volume_24h,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class XrayReport:
    """Everything the X-ray found; ``notes`` says what could not be computed and why."""

    exchange: str
    timeframe: str
    until_ms: int
    symbols: tuple[str, ...]
    leader: str
    market: MarketRegime | None
    regimes: Mapping[str, Regime]
    no_regime: Mapping[str, str]  # symbol -> why it has no regime
    correlation: Correlation | None
    rolling_correlation: tuple[IntArray, FloatArray]
    clustering: Clustering | None
    anomalies: tuple[Anomaly, ...]  # largest |z| first
    movers: tuple[Mover, ...]  # every symbol, largest 24h gain first
    screen: ScreenResult | None
    candles: Mapping[str, Candles]  # for the figures; not in the JSON
    failed: Mapping[str, str] = field(default_factory=dict)
    excluded: tuple[str, ...] = ()
    added_leader: str | None = None
    notes: Mapping[str, str] = field(default_factory=dict)  # section -> why it is empty
    requests: int = 0
    elapsed_s: float = 0.0

    @property
    def gainers(self) -> tuple[Mover, ...]:
        """Return the largest 24h gains (positive ones only)."""
        return tuple(m for m in self.movers if m.change_pct_24h > 0)[:MOVERS_SHOWN]

    @property
    def losers(self) -> tuple[Mover, ...]:
        """Return the largest 24h losses (negative ones only), worst first."""
        falling = [m for m in reversed(self.movers) if m.change_pct_24h < 0]
        return tuple(falling[:MOVERS_SHOWN])

    def as_dict(self) -> dict[str, Any]:
        """Return every fact as JSON-ready data (the candles themselves are left out)."""
        ts, means = self.rolling_correlation
        facts = {
            "exchange": self.exchange,
            "timeframe": self.timeframe,
            "until_ms": self.until_ms,
            "symbols": list(self.symbols),
            "leader": self.leader,
            "added_leader": self.added_leader,
            "market_regime": None if self.market is None else self.market.as_dict(),
            "regimes": {s: r.as_dict() for s, r in self.regimes.items()},
            "no_regime": dict(self.no_regime),
            "correlation": None if self.correlation is None else self.correlation.as_dict(),
            "rolling_mean_correlation": {
                "window": ROLLING_WINDOW,
                "ts_ms": [int(t) for t in ts],
                "mean": [_finite(float(m)) for m in means],
            },
            "clusters": None if self.clustering is None else self.clustering.as_dict(),
            "anomalies": [a.as_dict() for a in self.anomalies],
            "top_movers": {
                "gainers": [m.as_dict() for m in self.gainers],
                "losers": [m.as_dict() for m in self.losers],
                "all": [m.as_dict() for m in self.movers],
            },
            "screen": None if self.screen is None else self.screen.as_dict(),
            "failed": dict(self.failed),
            "excluded": list(self.excluded),
            "notes": dict(self.notes),
            "requests": self.requests,
            "elapsed_s": round(self.elapsed_s, 3),
        }
        clean: dict[str, Any] = plain_json(facts)
        return clean


def build_report(
    snapshot: MarketSnapshot,
    *,
    screen: ScreenResult | None = None,
    screen_note: str = "",
    leader: str = DEFAULT_LEADER,
    params: RegimeParams = DEFAULT_PARAMS,
    min_correlation: float = DEFAULT_MIN_CORRELATION,
) -> XrayReport:
    """Compute the whole X-ray of ``snapshot`` (``screen_note`` explains a missing screen)."""
    notes: dict[str, str] = {}
    candles = dict(snapshot.candles)
    regimes: dict[str, Regime] = {}
    no_regime: dict[str, str] = {}
    for symbol, series in candles.items():
        try:
            regimes[symbol] = symbol_regime(series, params)
        except (DataValidationError, InvalidInputError) as e:
            no_regime[symbol] = str(e)
    for symbol, reason in snapshot.failed.items():
        no_regime.setdefault(symbol, f"no candles: {reason}")
    market = None
    if leader in regimes:
        others = [r for s, r in regimes.items() if s != leader]
        market = combine_market(regimes[leader], others, params)
    else:
        notes["market"] = (
            f"no market regime: the leader {leader} has none "
            f"({no_regime.get(leader, 'it was not fetched')})."
        )
    correlation, rolling = None, (np.empty(0, np.int64), np.empty(0))
    clustering = None
    try:
        aligned = align_returns(candles)
        correlation = correlation_of(aligned)
        rolling = rolling_mean(aligned, ROLLING_WINDOW, step=max(1, ROLLING_WINDOW // 12))
        clustering = cluster_symbols(correlation, min_correlation=min_correlation)
    except (DataValidationError, InvalidInputError) as e:
        notes["correlation"] = f"no correlation or clusters: {e}"
    report = XrayReport(
        exchange=snapshot.exchange,
        timeframe=snapshot.timeframe,
        until_ms=snapshot.until_ms,
        symbols=snapshot.symbols,
        leader=leader,
        market=market,
        regimes=regimes,
        no_regime=no_regime,
        correlation=correlation,
        rolling_correlation=rolling,
        clustering=clustering,
        anomalies=tuple(scan(candles)),
        movers=movers(snapshot),
        screen=None,
        candles=candles,
        failed=dict(snapshot.failed),
        excluded=snapshot.excluded,
        added_leader=snapshot.added_leader,
        notes=notes,
        requests=snapshot.requests,
        elapsed_s=snapshot.elapsed_s,
    )
    return with_screen(report, screen, screen_note)


def with_screen(report: XrayReport, screen: ScreenResult | None, note: str = "") -> XrayReport:
    """Return ``report`` with the screener's result (or ``note`` saying why there is none)."""
    notes = {k: v for k, v in report.notes.items() if k != "screen"}
    if screen is None:
        notes["screen"] = note or "the screener was not run."
        return replace(report, screen=None, notes=notes)
    return replace(
        report,
        screen=screen,
        notes=notes,
        requests=report.requests + screen.requests,
        elapsed_s=report.elapsed_s + screen.elapsed_s,
    )


def movers(snapshot: MarketSnapshot) -> tuple[Mover, ...]:
    """Return every symbol's 24h change, largest gain first."""
    found = []
    for symbol in snapshot.symbols:
        ticker = snapshot.tickers.get(symbol)
        series = snapshot.candles.get(symbol)
        volume = _float(ticker.quote_volume_24h) if ticker is not None else None
        if ticker is not None and ticker.change_pct_24h is not None:
            found.append(
                Mover(
                    symbol,
                    float(ticker.change_pct_24h),
                    float(ticker.last),
                    volume,
                    "ticker",
                )
            )
            continue
        change = _change_from_candles(series) if series is not None else None
        if change is not None and series is not None:
            found.append(Mover(symbol, change, float(series.close[-1]), volume, "candles"))
    found.sort(key=lambda m: (-m.change_pct_24h, m.symbol))
    return tuple(found)


def _change_from_candles(candles: Candles) -> float | None:
    if len(candles) < 2 or candles.timeframe_ms > DAY_MS:
        return None
    end = int(candles.ts_ms[-1]) + candles.timeframe_ms
    start = int(np.searchsorted(candles.ts_ms, end - DAY_MS, side="left"))
    if start >= len(candles) or int(candles.ts_ms[start]) != end - DAY_MS:
        return None  # the candle 24h back is missing: no honest 24h change
    return float(candles.close[-1] / candles.open[start] - 1.0) * 100.0


def plain_json(value: Any) -> Any:
    """Return ``value`` with NaN and infinities as None and Decimals as floats (strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return plain_json(float(value))
    if isinstance(value, Mapping):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_json(v) for v in value]
    return value


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _finite(value: float) -> float | None:
    return round(value, 6) if math.isfinite(value) else None

"""The X-ray report from a constructed snapshot: facts, JSON, and one self-contained HTML page."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]

from tests.support.xray import (
    HOUR_MS,
    NAMES,
    T0,
    candles_from_close,
    external_references,
    two_groups,
    universe,
    walk,
)
from xraybot.exchange.port import Ticker
from xraybot.xray.report import XrayReport, build_report, with_screen
from xraybot.xray.report_html import figures, render_html
from xraybot.xray.screen_result import Rejection, ScreenResult, SymbolMetrics
from xraybot.xray.snapshot import MarketSnapshot

SECTIONS = (
    "market",
    "performance",
    "regimes",
    "movers",
    "correlation",
    "clusters",
    "anomalies",
    "screen",
    "notes",
)


def snapshot(n: int = 300) -> MarketSnapshot:
    """Seven symbols in two co-moving groups plus BTC/USDT rising; one jump in F2."""
    closes = two_groups(n)
    closes[200:, 1] *= 1.25  # a jump the anomaly scan must find
    candles = universe(closes, NAMES)
    candles["BTC/USDT"] = candles_from_close(walk(n, 0.002, seed=9, start=60_000.0), "BTC/USDT")
    until = T0 + n * HOUR_MS
    tickers = {
        symbol: Ticker(
            symbol=symbol,
            ts_ms=until,
            last=Decimal(str(round(float(c.close[-1]), 6))),
            bid=None,
            ask=None,
            base_volume_24h=Decimal(1000),
            quote_volume_24h=Decimal(1_000_000 - 1000 * i),
            change_pct_24h=None if symbol == "G3/USDT" else Decimal(str(5 - 2 * i)),
        )
        for i, (symbol, c) in enumerate(candles.items())
    }
    return MarketSnapshot(
        exchange="test",
        timeframe="1h",
        until_ms=until,
        symbols=("BTC/USDT", *NAMES, "GONE/USDT"),
        candles={"BTC/USDT": candles.pop("BTC/USDT"), **candles},
        tickers=tickers,
        failed={"GONE/USDT": "UnknownSymbolError: delisted"},
        requests=10,
        elapsed_s=0.5,
    )


def screen_result() -> ScreenResult:
    row = SymbolMetrics(
        symbol="F1/USDT",
        last=12.5,
        quote_volume_24h=1e6,
        spread_pct=0.02,
        listed_days=400.0,
        volatility_pct=2.1,
        rsi=55.0,
        trend=1.2,
        breakout=False,
        score=0.87,
        signals=("uptrend",),
    )
    return ScreenResult(
        passed=(row,),
        rejected={"quote_volume": (Rejection("TINY/USDT", "quote_volume", "volume 5 < 100"),)},
        emptied_by=None,
        distributions={},
        requests=4,
        elapsed_s=0.25,
        as_of_ms=None,
        universe_size=2,
        rules={"quote_volume": "quote volume >= 100"},
    )


@pytest.fixture(scope="module")
def report() -> XrayReport:
    return build_report(snapshot(), screen=screen_result())


def test_the_facts(report: XrayReport) -> None:
    assert report.market is not None
    assert report.market.symbol == "BTC/USDT"
    assert report.market.leader_trend == "up"
    assert set(report.regimes) == {"BTC/USDT", *NAMES}
    assert "GONE/USDT" in report.no_regime
    assert report.correlation is not None
    assert report.clustering is not None
    groups = {frozenset(c.members) for c in report.clustering.clusters}
    assert frozenset(NAMES[:4]) in groups
    assert frozenset(NAMES[4:]) in groups
    assert (T0 + 200 * HOUR_MS, "F2/USDT") in {(a.ts_ms, a.symbol) for a in report.anomalies}
    assert report.gainers[0].symbol == "F1/USDT"  # +5%, the largest ticker change
    assert report.losers[0].change_pct_24h == min(m.change_pct_24h for m in report.movers)
    g3 = next(m for m in report.movers if m.symbol == "G3/USDT")
    assert g3.source == "candles"  # its ticker had no change: taken from the candles
    closes = report.candles["G3/USDT"].close
    assert g3.change_pct_24h == pytest.approx(
        (closes[-1] / report.candles["G3/USDT"].open[-24] - 1) * 100
    )
    assert report.requests == 10 + 4  # the snapshot's and the screen's
    assert report.notes == {}


def test_json_has_the_same_facts_and_is_strict(report: XrayReport) -> None:
    data = report.as_dict()
    text = json.dumps(data, allow_nan=False)  # no NaN anywhere
    assert json.loads(text) == data
    assert data["market_regime"]["symbol"] == "BTC/USDT"
    assert data["correlation"]["symbols"] == list(report.correlation.symbols)  # type: ignore[union-attr]
    assert data["screen"]["passed"][0]["symbol"] == "F1/USDT"
    assert data["screen"]["rejected"]["quote_volume"]["count"] == 1
    assert data["failed"] == {"GONE/USDT": "UnknownSymbolError: delisted"}
    assert {"gainers", "losers", "all"} <= set(data["top_movers"])
    assert len(data["anomalies"]) == len(report.anomalies)


def test_missing_parts_are_explained_not_fatal() -> None:
    base = snapshot()
    no_btc = MarketSnapshot(
        exchange=base.exchange,
        timeframe=base.timeframe,
        until_ms=base.until_ms,
        symbols=("F1/USDT",),
        candles={"F1/USDT": base.candles["F1/USDT"]},
        tickers={},
    )
    report = build_report(no_btc, screen_note="the screener is on its way.")
    assert report.market is None
    assert "leader BTC/USDT has none" in report.notes["market"]
    assert report.correlation is not None
    assert report.notes["screen"] == "the screener is on its way."
    html = render_html(report)
    assert "Screener result: not in this report." in html
    assert "the screener is on its way." in html
    assert "leader BTC/USDT has none" in html
    added = with_screen(report, screen_result())
    assert "screen" not in added.notes
    assert added.requests == report.requests + 4


def _plot_data(html: str, div_id: str) -> list[dict[str, Any]]:
    """Return the data array a figure div is drawn with (parsed from Plotly.newPlot)."""
    start = html.index(f'Plotly.newPlot(                        "{div_id}",')
    start = html.index("[", start)
    data, _ = json.JSONDecoder().raw_decode(html[start:])
    return data  # type: ignore[no-any-return]


def test_the_html_is_self_contained_and_carries_every_section(report: XrayReport) -> None:
    html = render_html(report)
    assert external_references('<script src="https://cdn.plot.ly/p.js"></script>') != []
    assert external_references(html) == []  # nothing to fetch: no script src, no links out
    assert not re.search(r"@import|url\(\s*[\"']?https?:", html.split("<script>")[0])  # css
    assert get_plotlyjs()[:300] in html  # plotly.js inlined, no CDN
    for section in SECTIONS:
        assert f'<section id="{section}">' in html
    built = figures(report)
    assert set(built) == {
        "performance",
        "regimes",
        "movers",
        "correlation",
        "rolling",
        "anomalies",
        "screen",
    }
    for name in built:
        assert f'id="fig-{name}"' in html
    heatmap = _plot_data(html, "fig-correlation")[0]
    assert heatmap["type"] == "heatmap"
    order = list(report.clustering.order())  # type: ignore[union-attr]
    assert heatmap["x"] == order
    corr = report.correlation
    assert corr is not None
    i, j = corr.symbols.index(order[0]), corr.symbols.index(order[-1])
    assert heatmap["z"][0][-1] == pytest.approx(corr.matrix[i, j], abs=1e-3)
    movers = _plot_data(html, "fig-movers")[0]
    assert movers["y"][-1] == report.movers[0].symbol  # largest gain drawn on top
    facts = re.search(r'<script type="application/json" id="xray-data">(.*?)</script>', html, re.S)
    assert facts is not None
    assert json.loads(facts.group(1)) == json.loads(json.dumps(report.as_dict()))
    assert "F1/USDT" in html  # the screener's row
    assert "uptrend" in html
    assert "GONE/USDT" in html  # the failure is named


def test_symbols_are_escaped(report: XrayReport) -> None:
    evil = snapshot()
    candles = dict(evil.candles)
    candles["<B>/USDT"] = candles.pop("G3/USDT")
    tricky = MarketSnapshot(
        exchange="<script>alert(1)</script>",
        timeframe="1h",
        until_ms=evil.until_ms,
        symbols=tuple(candles),
        candles=candles,
        tickers={},
    )
    html = render_html(build_report(tricky))
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<B>/USDT" not in html  # tables escaped, JSON with \\u003c, plotly's too
    assert "&lt;B&gt;/USDT" in html
    assert np.isfinite(report.correlation.matrix).all()  # type: ignore[union-attr]

"""The X-ray report as ONE self-contained HTML file: plotly figures, tables, the facts as JSON.

plotly.js is inlined once in the page's head (no CDN, no other request: the file renders
offline and can be mailed). Figures are built from plain lists rather than numpy arrays so
their numbers stay readable in the file (plotly would otherwise base64-encode them). The
page also carries the report's JSON in a ``<script type="application/json" id="xray-data">``
block, the same facts ``--json`` writes. The template ships in the package
(``xray/templates/xray_report.html.j2``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import plotly.graph_objects as go
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from xraybot.xray.regime import DEFAULT_PARAMS, DOWN, UP, RegimeParams
from xraybot.xray.report import XrayReport

TEMPLATE = "xray_report.html.j2"
_TREND_COLORS = {UP: "#1a9850", DOWN: "#d73027", "range": "#7f7f7f"}
_KIND_COLORS = {
    "price_up": "#1a9850",
    "price_down": "#d73027",
    "volume": "#4575b4",
    "isolated": "#984ea3",
}
_CONFIG = {"displaylogo": False, "responsive": True}
_LAYOUT: dict[str, Any] = {
    "template": "plotly_white",
    "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
    "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12},
}


def iso(ms: int | None) -> str:
    """Format epoch milliseconds as ``2025-11-13 08:00 UTC``."""
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _times(ms: Sequence[int] | np.ndarray[Any, Any]) -> list[str]:
    return [datetime.fromtimestamp(int(t) / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M") for t in ms]


def _r(value: float, digits: int = 4) -> float | None:
    return round(float(value), digits) if math.isfinite(value) else None


def figures(report: XrayReport, params: RegimeParams = DEFAULT_PARAMS) -> dict[str, go.Figure]:
    """Return the report's figures by section id (a figure is absent when it has no data)."""
    built = {
        "performance": performance_figure(report),
        "regimes": regime_figure(report, params),
        "movers": movers_figure(report),
        "correlation": heatmap_figure(report),
        "rolling": rolling_figure(report),
        "anomalies": anomaly_figure(report),
        "screen": screen_figure(report),
    }
    return {name: fig for name, fig in built.items() if fig is not None}


def performance_figure(report: XrayReport) -> go.Figure | None:
    """Every symbol rebased to 100 at the window's start; the leader drawn thick."""
    if not report.candles:
        return None
    fig = go.Figure()
    for symbol, candles in report.candles.items():
        close = np.asarray(candles.close)
        lead = symbol == report.leader
        fig.add_trace(
            go.Scatter(
                x=_times(candles.ts_ms),
                y=[_r(v, 3) for v in (100.0 * close / close[0]).tolist()],
                name=symbol,
                mode="lines",
                line={"width": 3 if lead else 1, "color": "#111111" if lead else None},
                opacity=1.0 if lead else 0.6,
            )
        )
    fig.update_layout(
        _LAYOUT,
        title="Close, rebased to 100 at the first candle",
        yaxis_title="index",
        height=460,
        legend={"font": {"size": 10}},
    )
    return fig


def regime_figure(report: XrayReport, params: RegimeParams = DEFAULT_PARAMS) -> go.Figure | None:
    """Trend strength against volatility percentile, one dot per symbol, coloured by trend."""
    if not report.regimes:
        return None
    fig = go.Figure()
    for trend in (UP, "range", DOWN):
        rows = [r for r in report.regimes.values() if r.trend == trend]
        if not rows:
            continue
        fig.add_trace(
            go.Scatter(
                x=[_r(r.trend_strength, 3) for r in rows],
                y=[_r(r.volatility_percentile, 1) for r in rows],
                text=[r.symbol for r in rows],
                customdata=[[_r(r.adx, 1), _r(r.ema_slope * 100, 4)] for r in rows],
                mode="markers+text",
                textposition="top center",
                name=trend,
                marker={
                    "size": [16 if r.symbol == report.leader else 10 for r in rows],
                    "color": _TREND_COLORS[trend],
                    "line": {"width": 1, "color": "#333"},
                },
                hovertemplate="%{text}<br>trend strength %{x}<br>volatility pct %{y}"
                "<br>ADX %{customdata[0]}<br>EMA slope %{customdata[1]}%/bar<extra></extra>",
            )
        )
    for x in (-params.slope_threshold, params.slope_threshold):
        fig.add_vline(x=x, line={"dash": "dot", "color": "#999"})
    for y in (params.vol_low_pct, params.vol_high_pct):
        fig.add_hline(y=y, line={"dash": "dot", "color": "#999"})
    fig.update_layout(
        _LAYOUT,
        title="Regimes: trend strength (EMA slope / volatility) and volatility percentile",
        xaxis_title="trend strength",
        yaxis_title="volatility percentile",
        yaxis_range=[-6, 112],  # room for the labels above the top dots
        height=480,
    )
    return fig


def movers_figure(report: XrayReport) -> go.Figure | None:
    """Every symbol's 24h change as a bar, largest gain on top."""
    if not report.movers:
        return None
    rows = list(reversed(report.movers))  # plotly draws the first bar at the bottom
    fig = go.Figure(
        go.Bar(
            x=[_r(m.change_pct_24h, 2) for m in rows],
            y=[m.symbol for m in rows],
            orientation="h",
            marker_color=["#1a9850" if m.change_pct_24h >= 0 else "#d73027" for m in rows],
            hovertemplate="%{y}: %{x}%<extra></extra>",
        )
    )
    fig.update_layout(
        _LAYOUT,
        title="24h change, %",
        height=max(300, 22 * len(rows) + 100),
        xaxis_title="%",
    )
    return fig


def heatmap_figure(report: XrayReport) -> go.Figure | None:
    """The correlation matrix, symbols grouped by cluster, cluster blocks outlined."""
    corr = report.correlation
    if corr is None or len(corr.symbols) < 2:
        return None
    order = list(report.clustering.order()) if report.clustering else list(corr.symbols)
    index = [corr.symbols.index(s) for s in order]
    matrix = corr.matrix[np.ix_(index, index)]
    n = len(order)
    fig = go.Figure(
        go.Heatmap(
            z=[[_r(v, 3) for v in row] for row in matrix.tolist()],
            x=order,
            y=order,
            zmin=-1,
            zmax=1,
            zmid=0,
            colorscale="RdBu_r",
            colorbar={"title": {"text": "ρ"}},
            texttemplate="%{z:.2f}" if n <= 16 else None,
            hovertemplate="%{y} / %{x}: %{z}<extra></extra>",
        )
    )
    start = 0
    for cluster in report.clustering.clusters if report.clustering else ():
        size = len(cluster.members)
        if size > 1:
            fig.add_shape(
                type="rect",
                x0=start - 0.5,
                x1=start + size - 0.5,
                y0=start - 0.5,
                y1=start + size - 0.5,
                line={"color": "#111", "width": 2},
            )
        start += size
    side = min(900, max(520, 26 * n + 160))
    fig.update_layout(
        _LAYOUT,
        title=f"Correlation of log returns, {corr.rows} bars",
        height=side,
        width=side + 140,  # the colour bar; wide enough that the title clears the mode bar
        yaxis={"autorange": "reversed", "scaleanchor": "x"},
        xaxis={"tickangle": -45},
    )
    return fig


def rolling_figure(report: XrayReport) -> go.Figure | None:
    """The mean pairwise correlation over a trailing window, along the grid."""
    ts, means = report.rolling_correlation
    if ts.shape[0] == 0:
        return None
    fig = go.Figure(
        go.Scatter(x=_times(ts), y=[_r(v, 4) for v in means.tolist()], mode="lines", name="mean ρ")
    )
    fig.update_layout(
        _LAYOUT,
        title="Mean pairwise correlation, trailing window",
        yaxis_title="mean ρ",
        height=320,
    )
    return fig


def anomaly_figure(report: XrayReport) -> go.Figure | None:
    """Each spike at its candle's time, sized by |z|, coloured by kind."""
    if not report.anomalies:
        return None
    fig = go.Figure()
    for kind, color in _KIND_COLORS.items():
        rows = [a for a in report.anomalies if a.kind == kind]
        if not rows:
            continue
        fig.add_trace(
            go.Scatter(
                x=_times([a.ts_ms for a in rows]),
                y=[a.symbol for a in rows],
                mode="markers",
                name=kind,
                marker={
                    "color": color,
                    "size": [min(40.0, 6.0 + 1.5 * abs(a.z)) for a in rows],
                    "opacity": 0.75,
                    "line": {"width": 1, "color": "#333"},
                },
                customdata=[[_r(a.z, 2), _r(a.value, 3)] for a in rows],
                hovertemplate="%{y} %{x}<br>z %{customdata[0]}<br>value %{customdata[1]}"
                "<extra>" + kind + "</extra>",
            )
        )
    symbols = {a.symbol for a in report.anomalies}
    fig.update_layout(
        _LAYOUT,
        title="Anomalies: robust z-score spikes (marker size ~ |z|)",
        height=max(300, 24 * len(symbols) + 140),
    )
    return fig


def screen_figure(report: XrayReport) -> go.Figure | None:
    """How many symbols each screener filter rejected, in chain order."""
    screen = report.screen
    if screen is None or not screen.rejected:
        return None
    names = list(screen.rejected)
    counts = [len(screen.rejected[n]) for n in names]
    fig = go.Figure(go.Bar(x=names, y=counts, marker_color="#4575b4"))
    fig.update_layout(
        _LAYOUT,
        title=f"Screener: rejected per filter ({len(screen.passed)} of "
        f"{screen.universe_size} passed)",
        yaxis_title="symbols rejected",
        height=340,
    )
    return fig


def render_html(report: XrayReport, params: RegimeParams = DEFAULT_PARAMS) -> str:
    """Return the report as one self-contained HTML page."""
    env = Environment(
        loader=PackageLoader("xraybot.xray", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["iso"] = iso
    env.filters["num"] = _num
    env.filters["price"] = _price
    plots = {
        name: Markup(  # noqa: S704 - plotly's own markup, built from our numbers and symbols
            fig.to_html(
                full_html=False,
                include_plotlyjs=False,
                div_id=f"fig-{name}",
                config=_CONFIG,
            )
        )
        for name, fig in figures(report, params).items()
    }
    facts = json.dumps(report.as_dict(), allow_nan=False, default=str)
    clusters = report.clustering.clusters if report.clustering else ()
    return env.get_template(TEMPLATE).render(
        report=report,
        cluster_groups=[c for c in clusters if len(c.members) > 1],
        singles=[c for c in clusters if len(c.members) == 1],
        params=params,
        plots=plots,
        plotlyjs=Markup(get_plotlyjs()),  # noqa: S704 - the bundled library itself
        facts=Markup(_script_safe(facts)),  # noqa: S704 - JSON with <, > and & escaped
        generated=iso(int(datetime.now(tz=UTC).timestamp() * 1000)),
    )


def _script_safe(text: str) -> str:
    """Escape what could end a script block (JSON stays equal: these are JSON escapes)."""
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _num(value: float | None, digits: int = 2) -> str:
    """Format a number for a table cell; a missing one is a dash."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if abs(value) >= 1e5:
        return f"{value:,.0f}"
    if round(value, digits) == 0:
        value = 0.0  # no "-0.00"
    return f"{value:,.{digits}f}"


def _price(value: float | None) -> str:
    """Format a price with six significant digits (64,123.5 and 0.0000112 alike)."""
    if value is None or not math.isfinite(value) or value == 0:
        return "-" if value is None or not math.isfinite(value) else "0"
    digits = max(0, 5 - math.floor(math.log10(abs(value))))
    return f"{value:,.{digits}f}"

"""The backtest report's plotly figures: trades on price, equity against buy-and-hold,
drawdown, and an overview of several symbols' equity.

Figures are built from plain lists so their numbers stay readable in the page, with time as
epoch milliseconds on date axes (the shortest exact form; an even grid of candles goes as its
start and step). Curves longer than ``MAX_POINTS`` are thinned for plotting only, keeping
every bucket's first, last, lowest and highest point, so spikes and the deepest drawdown
survive; trades are never thinned.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from xraybot.backtest.metrics import drawdown_curve
from xraybot.backtest.results import BacktestResult
from xraybot.matching.rules import exit_reason_name
from xraybot.model.candles import FloatArray, IntArray

MAX_POINTS = 20_000  # per curve in the page; more adds megabytes and no visible detail
REASON_COLORS = {
    "signal": "#4575b4",
    "stop_loss": "#d73027",
    "take_profit": "#1a9850",
    "trailing": "#f46d43",
    "liquidation": "#111111",
    "time": "#984ea3",
    "end": "#7f7f7f",
    "none": "#bbbbbb",
}
_LAYOUT: dict[str, Any] = {
    "template": "plotly_white",
    "margin": {"l": 70, "r": 20, "t": 40, "b": 40},
    "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12},
    "hovermode": "closest",
}


def symbol_figure(result: BacktestResult) -> go.Figure:
    """Trades on price, equity against buy-and-hold, and drawdown, on one shared time axis."""
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.05,
        row_heights=[0.45, 0.33, 0.22],
        subplot_titles=("Price and trades", "Equity", "Drawdown"),
    )
    ts = result.ts_ms
    close = result.close
    initial = result.settings.equity
    if close.shape[0]:
        fig.add_trace(
            go.Scatter(
                **thin(ts, close),
                name="close",
                mode="lines",
                line={"color": "#8c96a8", "width": 1},
            ),
            row=1,
            col=1,
        )
    for trace in trade_traces(result):
        fig.add_trace(trace, row=1, col=1)
    fig.add_trace(
        go.Scatter(
            **thin(ts, result.equity),
            name="strategy",
            mode="lines",
            line={"color": "#2c5fa8", "width": 1.6},
        ),
        row=2,
        col=1,
    )
    if close.shape[0] and close[0] > 0:
        fig.add_trace(
            go.Scatter(
                **thin(ts, initial * close / close[0]),
                name="buy & hold",
                mode="lines",
                line={"color": "#999999", "width": 1, "dash": "dot"},
            ),
            row=2,
            col=1,
        )
    curve = np.concatenate(([initial], result.equity))
    fig.add_trace(
        go.Scatter(
            **thin(ts, -100.0 * drawdown_curve(curve)[1:], digits=5),
            name="drawdown",
            mode="lines",
            fill="tozeroy",
            line={"color": "#d73027", "width": 1},
            fillcolor="rgba(215,48,39,0.25)",
            showlegend=False,
        ),
        row=3,
        col=1,
    )
    fig.update_layout(
        _LAYOUT,
        height=860,
        legend={"font": {"size": 11}, "x": 1.01, "y": 1, "yanchor": "top"},
    )
    fig.update_xaxes(type="date")
    fig.update_yaxes(title_text="price", row=1, col=1)
    fig.update_yaxes(title_text="equity", row=2, col=1)
    fig.update_yaxes(title_text="% below peak", row=3, col=1)
    return fig


def trade_traces(result: BacktestResult) -> list[go.Scatter]:
    """Entry markers by side, exit markers by reason, and a line from each entry to its exit."""
    t = result.trades
    if len(t) == 0:
        return []
    traces: list[go.Scatter] = []
    pnl = t.pnl.tolist()
    for won, color, name in (
        (True, "#1a9850", "winning trade"),
        (False, "#d73027", "losing trade"),
    ):
        picked = [i for i, p in enumerate(pnl) if (p > 0) == won]
        if not picked:
            continue
        xs: list[int | None] = []
        ys: list[float | None] = []
        for i in picked:
            xs += [int(t.entry_ts[i]), int(t.exit_ts[i]), None]
            ys += [float(t.entry_price[i]), float(t.exit_price[i]), None]
        traces.append(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                name=name,
                line={"color": color, "width": 1.5},
                opacity=0.7,
                hoverinfo="skip",
                legendgroup="paths",
            )
        )
    for direction, symbol, name in (
        (1, "triangle-up", "entry long"),
        (-1, "triangle-down", "entry short"),
    ):
        picked_idx = np.flatnonzero(t.direction == direction)
        if picked_idx.size == 0:
            continue
        traces.append(
            go.Scatter(
                x=t.entry_ts[picked_idx].tolist(),
                y=_sig(t.entry_price[picked_idx]),
                mode="markers",
                name=name,
                marker={"symbol": symbol, "size": 9, "color": "#2c5fa8", "line": {"width": 0}},
                hovertemplate="%{x|%Y-%m-%d %H:%M}<br>" + name + " at %{y}<extra></extra>",
            )
        )
    for code in sorted(set(t.exit_reason.tolist())):
        reason = exit_reason_name(int(code))
        picked_idx = np.flatnonzero(t.exit_reason == code)
        traces.append(
            go.Scatter(
                x=t.exit_ts[picked_idx].tolist(),
                y=_sig(t.exit_price[picked_idx]),
                mode="markers",
                name=f"exit: {reason}",
                marker={
                    "symbol": "x" if reason in ("stop_loss", "liquidation") else "circle",
                    "size": 8,
                    "color": REASON_COLORS.get(reason, "#bbbbbb"),
                    "line": {"width": 1, "color": "#ffffff"},
                },
                customdata=[[round(p, 2)] for p in t.pnl[picked_idx].tolist()],
                hovertemplate="%{x|%Y-%m-%d %H:%M}<br>exit "
                + reason
                + " at %{y}<br>pnl %{customdata[0]}"
                "<extra></extra>",
            )
        )
    return traces


def overview_figure(
    results: Sequence[BacktestResult], labels: Sequence[str] | None = None
) -> go.Figure:
    """Every run's equity as a return in %, one line each, named by ``labels`` (or symbol)."""
    fig = go.Figure()
    names = labels if labels is not None else [r.symbol for r in results]
    for r, name in zip(results, names, strict=True):
        curve = thin(r.ts_ms, 100.0 * (r.equity / r.settings.equity - 1.0), digits=5)
        fig.add_trace(go.Scatter(**curve, name=name, mode="lines", line={"width": 1.2}))
    fig.update_layout(_LAYOUT, title="Equity of each run, return in %", height=420, yaxis_title="%")
    fig.update_xaxes(type="date")
    return fig


def thin_indices(values: FloatArray, max_points: int = MAX_POINTS) -> IntArray:
    """Indices to plot: all of them, or per bucket the first, last, lowest and highest."""
    n = int(values.shape[0])
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    buckets = max(1, max_points // 4)
    size = -(-n // buckets)
    grid = np.full(buckets * size, values[-1], dtype=np.float64)
    grid[:n] = values
    grid2 = grid.reshape(buckets, size)
    base = np.arange(buckets, dtype=np.int64) * size
    picked = np.concatenate(
        (base, base + size - 1, base + np.nanargmin(grid2, 1), base + np.nanargmax(grid2, 1))
    )
    return np.unique(np.minimum(np.append(picked, n - 1), n - 1))


def thin(ts_ms: IntArray, values: FloatArray, digits: int = 7) -> dict[str, Any]:
    """Scatter arguments for a curve: ``x`` (ms) or, on an even grid, ``x0`` + ``dx``; ``y``.

    Beyond ``MAX_POINTS`` the curve is thinned; an even grid of candles (no gaps, not
    thinned) is sent as its start and step, which halves the page's size.
    """
    index = thin_indices(values)
    y = _sig(values[index], digits)
    steps = np.diff(ts_ms)
    if index.shape[0] == ts_ms.shape[0] and steps.size and (steps == steps[0]).all():
        return {"x0": int(ts_ms[0]), "dx": int(steps[0]), "y": y}
    return {"x": ts_ms[index].tolist(), "y": y}


def _sig(values: FloatArray, digits: int = 7) -> list[float | None]:
    """Round each value to ``digits`` significant digits (a short number in the page)."""
    spec = f".{digits}g"
    # Parsing the short text back gives the float whose shortest repr is that text.
    return [float(format(v, spec)) if math.isfinite(v) else None for v in values.tolist()]

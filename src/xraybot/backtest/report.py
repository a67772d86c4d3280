"""The backtest report as ONE self-contained HTML file: per symbol, trades on price, equity
against buy-and-hold, drawdown (``report_figures``), and the metrics; a summary on top.

plotly.js is inlined once in the page's head (no CDN: the file renders offline and can be
mailed). The page also carries the metrics as JSON in ``<script type="application/json"
id="backtest-data">``. The template ships in the package (``backtest/templates``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from xraybot.backtest.metrics import AggregateMetrics, Metrics, aggregate_metrics, compute_metrics
from xraybot.backtest.report_figures import overview_figure, symbol_figure
from xraybot.backtest.results import BacktestResult
from xraybot.backtest.robustness import MonteCarloSummary, quantile_label
from xraybot.model.errors import InvalidInputError

TEMPLATE = "backtest_report.html.j2"
MAX_TRADE_ROWS = 500  # per symbol in the trade table; --json has them all
_CONFIG = {"displaylogo": False, "responsive": True}

# (field, label, kind) in display order; kind picks the cell format.
HEADLINE = (
    ("total_return", "return", "pct"),
    ("buy_and_hold_return", "buy & hold", "pct"),
    ("excess_return", "excess", "pct"),
    ("cagr", "CAGR", "pct"),
    ("sharpe", "Sharpe", "ratio"),
    ("sortino", "Sortino", "ratio"),
    ("max_drawdown", "max DD", "dd"),
    ("max_drawdown_duration_ms", "longest DD", "duration"),
    ("trades", "trades", "int"),
    ("win_rate", "win rate", "share"),
    ("profit_factor", "profit factor", "ratio"),
    ("exposure", "time in market", "share"),
)
METRIC_GROUPS = (
    (
        "Return and risk",
        (
            ("initial_equity", "initial equity", "money"),
            ("final_equity", "final equity", "money"),
            ("net_profit", "net profit", "pnl"),
            ("total_return", "total return", "pct"),
            ("cagr", "CAGR", "pct"),
            ("volatility", "volatility (annual)", "share"),
            ("sharpe", "Sharpe", "ratio"),
            ("sortino", "Sortino", "ratio"),
            ("calmar", "Calmar", "ratio"),
            ("max_drawdown", "max drawdown", "dd"),
            ("max_drawdown_duration_ms", "longest drawdown", "duration"),
        ),
    ),
    (
        "Trades",
        (
            ("trades", "trades", "int"),
            ("trades_per_day", "trades per day", "ratio"),
            ("win_rate", "win rate", "share"),
            ("profit_factor", "profit factor", "ratio"),
            ("expectancy", "expectancy (quote)", "pnl"),
            ("expectancy_pct", "expectancy (of notional)", "pct"),
            ("avg_win", "average win", "pnl"),
            ("avg_loss", "average loss", "pnl"),
            ("avg_trade_duration_ms", "average duration", "duration"),
            ("fees", "fees paid", "money"),
            ("funding", "funding received", "pnl"),
        ),
    ),
    (
        "Exposure and buy-and-hold",
        (
            ("exposure", "time in market", "share"),
            ("mean_exposure", "mean exposure", "share"),
            ("buy_and_hold_return", "buy & hold return", "pct"),
            ("buy_and_hold_cagr", "buy & hold CAGR", "pct"),
            ("buy_and_hold_sharpe", "buy & hold Sharpe", "ratio"),
            ("buy_and_hold_max_drawdown", "buy & hold max DD", "dd"),
            ("excess_return", "excess return", "pct"),
        ),
    ),
)
AGGREGATE = (
    ("symbols", "symbols", "int"),
    ("total_return", "book return", "pct"),
    ("mean_return", "mean return", "pct"),
    ("median_return", "median return", "pct"),
    ("positive_share", "symbols with a gain", "share"),
    ("mean_excess_return", "mean excess over buy & hold", "pct"),
    ("mean_sharpe", "mean Sharpe", "ratio"),
    ("worst_max_drawdown", "worst max DD", "dd"),
    ("trades", "trades", "int"),
    ("win_rate", "win rate (pooled)", "share"),
    ("profit_factor", "profit factor (pooled)", "ratio"),
    ("fees", "fees paid", "money"),
)


def write_report(
    results: Sequence[BacktestResult],
    metrics: Sequence[Metrics] | None,
    path: str | Path,
    *,
    title: str = "Backtest report",
    robustness: Sequence[MonteCarloSummary | None] | None = None,
) -> Path:
    """Write the report for these results (metrics computed when not given); return the path.

    ``robustness`` adds a Monte Carlo table to each symbol, aligned with ``results``.
    """
    html = render_report(results, metrics, title=title, robustness=robustness)
    target = Path(path).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(html, encoding="utf-8")
    return target


def render_report(
    results: Sequence[BacktestResult],
    metrics: Sequence[Metrics] | None = None,
    *,
    title: str = "Backtest report",
    robustness: Sequence[MonteCarloSummary | None] | None = None,
) -> str:
    """Return the report as one self-contained HTML page."""
    if not results:
        raise InvalidInputError("a backtest report needs at least one result; found none.")
    ms = list(metrics) if metrics is not None else [compute_metrics(r) for r in results]
    mc = list(robustness) if robustness is not None else [None] * len(results)
    if len(ms) != len(results) or len(mc) != len(results):
        raise InvalidInputError(
            f"one metrics and one Monte Carlo entry per result ({len(results)}); "
            f"found {len(ms)} and {len(mc)}."
        )
    aggregate = aggregate_metrics(ms) if len(results) > 1 else None
    strategies = list(dict.fromkeys(r.strategy for r in results))
    # Several strategies on one symbol need the strategy in every label to tell them apart.
    labels = [f"{r.symbol} · {r.strategy}" if len(strategies) > 1 else r.symbol for r in results]
    sections = [
        _section(i, result, m, summary, label)
        for i, (result, m, summary, label) in enumerate(zip(results, ms, mc, labels, strict=True))
    ]
    data = {
        "title": title,
        "results": [
            {
                "exchange": r.exchange,
                "symbol": r.symbol,
                "timeframe": r.timeframe,
                "strategy": r.strategy,
                "params": dict(r.params),
                "candles": r.candles,
                "metrics": m.to_dict(),
                "monte_carlo": s.to_dict() if s is not None else None,
            }
            for r, m, s in zip(results, ms, mc, strict=True)
        ],
        "aggregate": aggregate.to_dict() if aggregate is not None else None,
    }
    overview = overview_figure(results, labels) if len(results) > 1 else None
    env = Environment(
        loader=PackageLoader("xraybot.backtest", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["iso"] = iso
    env.filters["cell"] = cell
    env.filters["tone"] = tone
    return env.get_template(TEMPLATE).render(
        title=title,
        sections=sections,
        strategies=strategies,
        symbols=len({r.symbol for r in results}),
        headline=HEADLINE,
        aggregate=_aggregate_cells(aggregate),
        overview=_plot(overview, "fig-overview") if overview is not None else None,
        plotlyjs=Markup(get_plotlyjs()),  # noqa: S704 - the bundled library itself
        facts=Markup(_script_safe(json.dumps(data, allow_nan=False, default=str))),  # noqa: S704
        generated=iso(int(datetime.now(tz=UTC).timestamp() * 1000)),
        max_trade_rows=MAX_TRADE_ROWS,
        start_ms=min(m.start_ms for m in ms),
        end_ms=max(m.end_ms for m in ms),
    )


def _section(
    index: int,
    result: BacktestResult,
    m: Metrics,
    summary: MonteCarloSummary | None,
    label: str,
) -> dict[str, Any]:
    trades = result.trades.to_dicts()
    for row in trades:
        notional = row["entry_price"] * row["amount"]
        row["return"] = row["pnl"] / notional if notional > 0 else math.nan
    s = result.settings
    return {
        "anchor": f"s{index}",
        "label": label,
        "result": result,
        "metrics": m,
        "headline": [(label, kind, getattr(m, name)) for name, label, kind in HEADLINE],
        "groups": [
            (group, [(label, kind, getattr(m, name)) for name, label, kind in rows])
            for group, rows in METRIC_GROUPS
        ],
        "params": json.dumps(dict(result.params), default=str, sort_keys=True),
        "settings": (
            f"{s.market}, {s.directions}, stake {s.stake}"
            + (f" {s.stake_amount:g}" if s.stake != "all" else "")
            + f", fee {s.fee_rate * 100:g} %, slippage {s.slippage_bps:g} bps"
            + (f", leverage {s.leverage:g}x" if s.leverage != 1 else "")
        ),
        "trades": trades[:MAX_TRADE_ROWS],
        "trade_count": len(trades),
        "monte_carlo": _monte_carlo_rows(summary) if summary is not None else None,
        "mc": summary,
        "plot": _plot(symbol_figure(result), f"fig-{index}"),
    }


def _aggregate_cells(aggregate: AggregateMetrics | None) -> list[tuple[str, str, Any]] | None:
    if aggregate is None:
        return None
    return [(label, kind, getattr(aggregate, name)) for name, label, kind in AGGREGATE]


def _monte_carlo_rows(summary: MonteCarloSummary) -> list[tuple[str, float, float]]:
    return [
        (quantile_label(q), r, d)
        for q, r, d in zip(
            summary.quantiles,
            summary.return_quantiles,
            summary.max_drawdown_quantiles,
            strict=True,
        )
    ]


def _plot(fig: go.Figure, div_id: str) -> Markup:
    html = fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=_CONFIG)
    return Markup(html)  # noqa: S704 - plotly's own markup, built from our numbers and names


# -- formatting -------------------------------------------------------------------------


def iso(ms: int | None) -> str:
    """Format epoch milliseconds as ``2025-11-13 08:00 UTC``."""
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def duration(ms: float) -> str:
    """``90061000`` → ``1d 1h``; short spans in hours and minutes."""
    minutes = round(ms / 60_000)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days:,}d {hours}h"
    return f"{hours}h {mins:02d}m" if hours else f"{mins}m"


def cell(value: Any, kind: str) -> str:
    """Format one metric for a table cell by its kind; a missing value is a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    number = float(value)
    if math.isinf(number):
        return "∞" if number > 0 else "−∞"
    if kind == "duration":
        return duration(number)
    if kind == "int":
        return f"{int(number):,}"
    if kind in ("pct", "share", "dd"):
        text = f"{number * 100:,.2f} %"
    elif kind in ("money", "pnl") and abs(number) >= 1e6:
        text = f"{number:,.0f}"
    else:
        text = f"{number:,.2f}"
    return text[1:] if text.startswith("-") and not text.strip("-0.,% ") else text  # no "-0.00"


def tone(value: Any, kind: str) -> str:
    """CSS class for a signed figure (kinds pct, pnl): gains green, losses red; drawdown red."""
    if value is None or not isinstance(value, int | float) or not math.isfinite(value):
        return ""
    if kind == "dd":
        return "neg" if value > 0 else ""
    if kind in ("pct", "pnl"):
        return "pos" if value > 0 else "neg" if value < 0 else ""
    return ""


def _script_safe(text: str) -> str:
    """Escape what could end a script block (JSON stays equal: these are JSON escapes)."""
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")

"""The HTML backtest report: self-contained, carries the plotted data and the metrics."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from plotly.offline import get_plotlyjs

from xraybot.backtest.metrics import compute_metrics
from xraybot.backtest.report import cell, duration, render_report, write_report
from xraybot.backtest.report_figures import MAX_POINTS, thin_indices
from xraybot.backtest.results import BacktestResult, BacktestSettings, TradeRecords
from xraybot.backtest.robustness import monte_carlo
from xraybot.matching.rules import EXIT_END, EXIT_SIGNAL, EXIT_STOP_LOSS, EXIT_TAKE_PROFIT
from xraybot.model.errors import InvalidInputError

H = 3_600_000
T0 = 1_735_689_600_000  # 2025-01-01 00:00 UTC


def make_result(
    symbol: str = "BTC/USDT",
    n: int = 200,
    *,
    trades: TradeRecords | None = None,
    ts_ms: np.ndarray | None = None,
    settings: BacktestSettings | None = None,
) -> BacktestResult:
    rng = np.random.default_rng(len(symbol) + n)
    close = (100.0 * np.cumprod(1 + rng.normal(0, 0.01, n))).astype(np.float64)
    equity = (10_000.0 * np.cumprod(1 + rng.normal(0, 0.005, n))).astype(np.float64)
    return BacktestResult(
        exchange="binance",
        symbol=symbol,
        timeframe="1h",
        strategy="rsi_reversion",
        params={"rsi_period": 14},
        settings=settings or BacktestSettings(),
        ts_ms=ts_ms if ts_ms is not None else T0 + np.arange(n, dtype=np.int64) * H,
        equity=equity,
        exposure=(rng.random(n) > 0.5).astype(np.float64),
        trades=trades if trades is not None else TradeRecords.empty(),
        close=close,
    )


def some_trades() -> TradeRecords:
    entry_index = np.array([5, 40, 90, 150], np.int64)
    exit_index = np.array([20, 60, 120, 199], np.int64)
    return TradeRecords(
        entry_ts=T0 + entry_index * H,
        exit_ts=T0 + exit_index * H,
        direction=np.array([1, -1, 1, 1], np.int8),
        entry_price=np.array([101.0, 99.5, 98.0, 103.0]),
        exit_price=np.array([104.0, 101.0, 95.1, 104.5]),
        amount=np.array([10.0, 10.0, 10.0, 10.0]),
        fee=np.array([2.0, 2.0, 1.9, 2.1]),
        funding=np.zeros(4),
        pnl=np.array([28.0, -17.0, -30.9, 12.9]),
        exit_reason=np.array([EXIT_TAKE_PROFIT, EXIT_SIGNAL, EXIT_STOP_LOSS, EXIT_END], np.int8),
        entry_index=entry_index,
        exit_index=exit_index,
    )


class _References(HTMLParser):
    """Collects what a page would load: script src and every src/href not an #anchor."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if tag == "script" and name == "src":
                self.found.append(f"<script src={value}>")
            elif name in ("src", "href", "data") and value and not value.startswith("#"):
                self.found.append(f"<{tag} {name}={value}>")


def external_references(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    parser.close()
    return parser.found


def plot_data(html: str, div_id: str) -> list[dict[str, Any]]:
    """The data array a figure div is drawn with (parsed from its Plotly.newPlot call)."""
    start = re.search(r'Plotly\.newPlot\(\s*"' + re.escape(div_id) + '",', html)
    assert start is not None, f"no figure {div_id}"
    data, _ = json.JSONDecoder().raw_decode(html[html.index("[", start.end()) :])
    return data  # type: ignore[no-any-return]


def trace(data: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(t for t in data if t.get("name") == name)


def facts(html: str) -> dict[str, Any]:
    block = re.search(
        r'<script type="application/json" id="backtest-data">(.*?)</script>', html, re.S
    )
    assert block is not None
    return json.loads(block.group(1))  # type: ignore[no-any-return]


def test_the_report_file_is_self_contained(tmp_path: Path) -> None:
    results = [make_result(trades=some_trades()), make_result("ETH/USDT", 150)]
    path = write_report(results, None, tmp_path / "out" / "report.html", title="My run")
    html = path.read_text(encoding="utf-8")
    assert external_references('<script src="https://cdn.plot.ly/p.js"></script>') != []
    assert external_references(html) == []
    assert not re.search(r"""<script[^>]+src=["']?https?:""", html)
    assert not re.search(r"@import|url\(\s*[\"']?https?:", html.split("<script>")[0])
    assert get_plotlyjs()[:300] in html  # plotly.js inlined once, no CDN
    assert html.count(get_plotlyjs()[:300]) == 1
    assert "<title>My run</title>" in html
    for section in ('id="summary"', 'id="s0"', 'id="s1"', 'id="fig-0"', 'id="fig-overview"'):
        assert section in html


def test_the_figures_carry_price_equity_drawdown_and_trades() -> None:
    result = make_result(trades=some_trades())
    data = plot_data(render_report([result]), "fig-0")
    close = trace(data, "close")
    assert close["x0"] == T0  # an even grid of candles goes as start and step
    assert close["dx"] == H
    np.testing.assert_allclose(close["y"], result.close, rtol=1e-6)
    np.testing.assert_allclose(trace(data, "strategy")["y"], result.equity, rtol=1e-6)
    hold = np.array(trace(data, "buy & hold")["y"])
    np.testing.assert_allclose(hold, 10_000 * result.close / result.close[0], rtol=1e-6)
    curve = np.concatenate(([10_000.0], result.equity))
    peak = np.maximum.accumulate(curve)[1:]
    expected_dd = -100 * (1 - result.equity / peak)
    np.testing.assert_allclose(trace(data, "drawdown")["y"], expected_dd, rtol=1e-4, atol=1e-9)
    longs = trace(data, "entry long")
    assert longs["x"] == [T0 + i * H for i in (5, 90, 150)]
    assert longs["y"] == [101.0, 98.0, 103.0]
    assert trace(data, "entry short")["x"] == [T0 + 40 * H]
    for reason, exit_index in (("take_profit", 20), ("signal", 60), ("stop_loss", 120)):
        assert trace(data, f"exit: {reason}")["x"] == [T0 + exit_index * H]
    assert trace(data, "exit: end")["y"] == [104.5]
    assert trace(data, "exit: stop_loss")["customdata"] == [[-30.9]]


def test_the_page_carries_the_metrics_as_json_and_in_tables() -> None:
    results = [make_result(trades=some_trades()), make_result("ETH/USDT", 150)]
    metrics = [compute_metrics(r) for r in results]
    mc = [monte_carlo(results[0].trades, 10_000.0, runs=100), None]
    html = render_report(results, metrics, robustness=mc)
    data = facts(html)
    assert [r["symbol"] for r in data["results"]] == ["BTC/USDT", "ETH/USDT"]
    assert data["results"][0]["metrics"] == json.loads(json.dumps(metrics[0].to_dict()))
    assert data["results"][0]["monte_carlo"]["runs"] == 100
    assert data["results"][1]["monte_carlo"] is None
    assert data["aggregate"]["symbols"] == 2
    assert cell(metrics[0].total_return, "pct") in html
    assert "Monte Carlo of the trade sequence" in html
    assert "4 trades" in html
    assert "take_profit" in html
    assert "No trades." in html  # ETH has none


def test_long_curves_are_thinned_but_keep_their_extremes() -> None:
    n = 3 * MAX_POINTS
    rng = np.random.default_rng(3)
    ts = T0 + np.arange(n, dtype=np.int64) * H
    ts[n // 2 :] += 7 * H  # a gap in the candles
    result = make_result("SOL/USDT", n, ts_ms=ts)
    data = plot_data(render_report([result]), "fig-0")
    close = trace(data, "close")
    assert len(close["x"]) == len(close["y"]) <= MAX_POINTS + 1
    assert close["x"][0] == ts[0]
    assert close["x"][-1] == ts[-1]
    assert max(close["y"]) == pytest.approx(result.close.max(), rel=1e-6)
    assert min(close["y"]) == pytest.approx(result.close.min(), rel=1e-6)
    values = rng.normal(size=n)
    index = thin_indices(values)
    assert index[0] == 0
    assert index[-1] == n - 1
    assert int(np.argmax(values)) in index
    assert int(np.argmin(values)) in index
    assert (np.diff(index) > 0).all()
    np.testing.assert_array_equal(thin_indices(values[:100]), np.arange(100))


def test_names_are_escaped() -> None:
    result = make_result("<script>alert(1)</script>")
    html = render_report([result], title="a & b")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<title>a &amp; b</title>" in html
    assert facts(html)["results"][0]["symbol"] == "<script>alert(1)</script>"


def test_cells_format_missing_infinite_and_durations() -> None:
    assert cell(math.nan, "ratio") == "–"
    assert cell(None, "pct") == "–"
    assert cell(math.inf, "ratio") == "∞"
    assert cell(0.1234, "pct") == "12.34 %"
    assert cell(-0.00001, "pct") == "0.00 %"
    assert cell(-1234.5, "pnl") == "-1,234.50"
    assert cell(12345, "int") == "12,345"
    assert duration(90_061_000) == "1d 1h"
    assert duration(3 * H + 5 * 60_000) == "3h 05m"
    assert duration(0) == "0m"


def test_bad_input_is_refused() -> None:
    result = make_result()
    with pytest.raises(InvalidInputError, match="at least one result"):
        render_report([])
    with pytest.raises(InvalidInputError, match="one metrics"):
        render_report([result, result], [compute_metrics(result)])


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on this machine (apt-get install chromium)"
)
def test_a_real_browser_draws_every_figure_without_errors(tmp_path: Path) -> None:
    results = [make_result(trades=some_trades()), make_result("ETH/USDT", 150)]
    path = write_report(results, None, tmp_path / "report.html")
    run = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=10000",
            "--dump-dom",
            path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    dom = run.stdout
    for div_id in ("fig-0", "fig-1", "fig-overview"):
        drawn = re.search(f'id="{div_id}"[^>]*class="[^"]*js-plotly-plot', dom) or re.search(
            f'class="[^"]*js-plotly-plot[^"]*"[^>]*id="{div_id}"', dom
        )
        assert drawn, f"{div_id} was not drawn"
    assert dom.count('class="main-svg"') >= 6
    assert "Uncaught" not in run.stderr


def test_runs_of_several_strategies_are_labelled_by_symbol_and_strategy() -> None:
    from dataclasses import replace

    first = make_result("BTC/USDT")
    second = replace(first, strategy="ema_cross")
    html = render_report([first, second], None)
    assert "BTC/USDT · rsi_reversion" in html
    assert "BTC/USDT · ema_cross" in html
    assert "rsi_reversion, ema_cross" in html
    assert "1 symbol ·" in html
    single = render_report([make_result("BTC/USDT"), make_result("ETH/USDT")], None)
    assert "· rsi_reversion</a>" not in single

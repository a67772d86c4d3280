"""The demo's backtest step as the terminal and the browser see it (bundled sample, real kernel)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from rich.console import Console

from xraybot.cli.demo import backtest_step, print_backtest
from xraybot.services.demo_backtest import DemoBacktest, sample_backtest


@pytest.fixture(scope="module")
def backtest() -> DemoBacktest:
    return sample_backtest()


def test_the_table_shows_each_run(backtest: DemoBacktest) -> None:
    console = Console(record=True, width=160)
    print_backtest(backtest, console)
    text = console.export_text()
    for run in backtest.runs:
        m = run.metrics
        row = re.compile(
            rf"{re.escape(run.result.symbol)}\s*│\s*{run.result.strategy}\s*│\s*{m.trades}\s*│"
            rf"\s*{m.total_return:+.1%}\s*│\s*{m.buy_and_hold_return:+.1%}"
        )
        assert row.search(text), text
    assert "walk-forward of rsi_reversion on BTC/USDT: 2 rolling windows" in text
    assert "out-of-sample overall" in text


def test_the_step_writes_the_html_report(tmp_path: Path) -> None:
    console = Console(record=True, width=160)
    path = tmp_path / "out" / "backtest-report.html"
    backtest = backtest_step(path, console)
    html = path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    facts = re.search(
        r'<script type="application/json" id="backtest-data">(.*?)</script>', html, re.S
    )
    assert facts is not None
    data = json.loads(facts.group(1))
    reported = [(r["strategy"], r["symbol"], r["metrics"]["trades"]) for r in data["results"]]
    assert reported == [
        (r.result.strategy, r.result.symbol, r.metrics.trades) for r in backtest.runs
    ]
    assert f"backtest report written to {path.resolve()}" in console.export_text().replace("\n", "")

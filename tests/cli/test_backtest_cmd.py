"""``xraybot backtest`` from the command line: the issue's golden command, the cache, the
portfolio, the report, and clear refusals of bad input."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import pytest

from tests.support.cli import golden_command, run
from tests.support.shared import REFERENCE_DIR, needs_reference

GOLDEN = REFERENCE_DIR / "golden"


@pytest.fixture(autouse=True)
def private_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The result cache lives in the journal; keep it out of the user's data folder.
    monkeypatch.setenv("XRAYBOT_STORAGE__DATA_DIR", str(tmp_path / "journal"))
    monkeypatch.delenv("XRAYBOT_CONFIG", raising=False)


@needs_reference
def test_the_issues_command_reproduces_the_golden_trades_and_caches_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json = tmp_path / "out.json"
    code, out, _ = run(golden_command(out_json), capsys)
    assert code == 0, out
    payload = json.loads(out_json.read_text())
    assert [r["symbol"] for r in payload["results"]] == ["BTC/USDT", "ETH/USDT"]
    for result in payload["results"]:
        safe = result["symbol"].replace("/", "_")
        with (GOLDEN / "binance" / f"{safe}-1h.trades.csv").open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert result["exchange"] == "binance"
        assert result["timeframe"] == "1h"
        assert result["candles"] > 12_000
        assert len(result["trades"]) == len(rows)
        for trade, row in zip(result["trades"], rows, strict=True):
            assert trade["entry_ts"] == int(row["entry_ts"])
            assert trade["exit_ts"] == int(row["exit_ts"])
            assert trade["exit_reason"] == row["exit_reason"]
            assert trade["side"] == "long"
            assert trade["entry_price"] == pytest.approx(float(row["entry_price"]), rel=1e-9)
            assert trade["exit_price"] == pytest.approx(float(row["exit_price"]), rel=1e-9)
            assert set(trade) >= {"amount", "fee", "pnl"}
        assert result["cache"] == "miss"
        assert result["metrics"]["trades"] == len(rows)
    assert "BTC/USDT" in out

    again = tmp_path / "again.json"
    code, out, _ = run(golden_command(again), capsys)
    assert code == 0
    repeated = json.loads(again.read_text())
    assert [r["cache"] for r in repeated["results"]] == ["hit", "hit"]
    assert [r["trades"] for r in repeated["results"]] == [r["trades"] for r in payload["results"]]
    assert "cache: hit 2" in out


@needs_reference
def test_portfolio_report_and_monte_carlo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json, report = tmp_path / "p.json", tmp_path / "p.html"
    argv = golden_command(out_json, "--portfolio", "--max-open-trades", "1")
    argv += ["--report", str(report), "--monte-carlo", "200"]
    code, out, _ = run(argv, capsys)
    assert code == 0, out
    payload = json.loads(out_json.read_text())
    portfolio = payload["portfolio"]
    assert portfolio["max_open_trades"] == 1
    assert portfolio["symbols"] == ["BTC/USDT", "ETH/USDT"]
    # One shared account, one trade at a time: the two symbols' trades never overlap.
    spans = sorted((t["entry_ts"], t["exit_ts"]) for r in payload["results"] for t in r["trades"])
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    assert all("p50" in str(r["monte_carlo"]) for r in payload["results"])
    assert "portfolio (1 open at most" in out
    assert report.stat().st_size > 100_000
    assert "BTC/USDT" in report.read_text()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--params", "{not json"], "--params must be a JSON object"),
        (["--params", '{"rsi_period": 1}'], "rsi_period"),
        (["--params", '{"no_such": 1}'], "no parameter 'no_such'"),
        (["--stake", "half"], "--stake must be all, fraction or fixed"),
        (["--leverage", "3"], "spot trades without leverage"),
        (["--strategy", "no_such_strategy"], "no_such_strategy"),
    ],
)
@needs_reference
def test_bad_input_is_refused_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    code, _, err = run([*golden_command(tmp_path / "x.json"), "--no-cache", *extra], capsys)
    assert code == 2
    assert message in " ".join(err.split())
    assert not (tmp_path / "x.json").exists()


def test_missing_candles_say_how_to_get_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["backtest", "--strategy", "rsi_reversion", "--data-dir", str(tmp_path)]
    argv += ["--exchange", "binance", "--symbols", "BTC/USDT", "--no-cache"]
    code, _, err = run(argv, capsys)
    assert code == 2
    assert "xraybot data download" in " ".join(err.split())

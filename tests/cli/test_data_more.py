from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run


def test_watch_hands_out_each_pairs_closed_window(
    sim_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XRAYBOT_EXCHANGE__SIM_URL", sim_url)
    out_path = tmp_path / "watch.json"
    argv = ["data", "watch", "--symbols", "BTC/USDT,ETH/USDT", "--candles", "0"]
    code, out, err = run([*argv, "--timeframe", "1m", "--json", str(out_path)], capsys)
    assert code == 0, err
    events = json.loads(out_path.read_text())["events"]
    assert {(e["symbol"], e["kind"]) for e in events} == {
        ("BTC/USDT", "snapshot"),
        ("ETH/USDT", "snapshot"),
    }
    assert all(e["window"] == 400 for e in events)
    assert "window of 400 closed candles" in out


def test_watch_refuses_a_bad_timeframe(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["data", "watch", "--symbols", "BTC/USDT", "--timeframe", "7x"], capsys)
    assert code == 2
    assert "7x" in err


def test_the_universe_as_of_a_date_knows_only_what_was_listed_then(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = str(tmp_path / "data")
    code, _, err = run(["data", "import", "--sample", "--data-dir", data_dir], capsys)
    assert code == 0, err
    mid_year = tmp_path / "mid.json"
    argv = ["data", "universe", "--exchange", "binance", "--data-dir", data_dir]
    code, _, err = run([*argv, "--as-of", "2025-06-01", "--json", str(mid_year)], capsys)
    assert code == 0, err
    symbols = json.loads(mid_year.read_text())["symbols"]
    assert len(symbols) == 10
    volumes = [s["quote_volume_24h"] for s in symbols]
    assert volumes == sorted(volumes, reverse=True)
    before = tmp_path / "before.json"
    code, _, _ = run([*argv, "--as-of", "2024-12-15", "--json", str(before)], capsys)
    assert code == 0
    assert json.loads(before.read_text())["symbols"] == []

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run


def test_exchange_check_against_the_simulator(
    sim_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XRAYBOT_EXCHANGE__SIM_URL", sim_url)
    report_path = tmp_path / "check.json"
    code, out, err = run(["exchange", "check", "--json", str(report_path)], capsys)
    assert code == 0, err
    report = json.loads(report_path.read_text())
    assert report["exchange"] == "sim"
    assert report["reachable"] is True
    assert report["spot_markets"] >= 20
    assert report["swap_markets"] >= 1
    assert report["tickers"] == report["spot_markets"]
    assert abs(report["clock_offset_ms"]) < 10 * 365 * 86_400_000  # a number, sign either way
    headroom = {h["name"]: h for h in report["headroom"]}
    assert headroom["spot klines"]["capacity"] == 500
    assert headroom["spot klines"]["window_s"] == 10
    # The bulk ticker call just spent 40 of its endpoint's 500.
    assert headroom["spot tickers"]["remaining"] == 460
    assert headroom["swap ticker"]["capacity"] == 20
    assert "markets (spot / swap)" in out


def test_an_unreachable_simulator_is_a_temporary_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.servers import free_port

    monkeypatch.setenv("XRAYBOT_EXCHANGE__SIM_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("XRAYBOT_EXCHANGE__TIMEOUT_MS", "1000")
    code, _, err = run(["exchange", "check"], capsys)
    assert code == 75
    assert "sim" in err
    assert "Traceback" not in err


def test_an_unknown_exchange_is_named(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(["exchange", "check", "--exchange", "notanexchange"], capsys)
    assert code == 2
    assert "notanexchange" in err

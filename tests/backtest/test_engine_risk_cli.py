"""``xraybot backtest`` with the risk layer: its options, its ``risk`` JSON section, refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import golden_command, run
from tests.support.shared import needs_reference

KILL_AT = "2025-06-01"
KILL_AT_MS = 1_748_736_000_000


@pytest.fixture(autouse=True)
def private_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XRAYBOT_STORAGE__DATA_DIR", str(tmp_path / "journal"))
    monkeypatch.delenv("XRAYBOT_CONFIG", raising=False)


def backtest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[dict[str, Any], str, str]:
    out_json = tmp_path / "risk.json"
    code, out, err = run(golden_command(out_json, *extra), capsys)
    assert code == 0, err
    return json.loads(out_json.read_text()), out, err


@needs_reference
def test_protections_and_limits_report_what_they_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = ("--cooldown", "1d", "--daily-loss", "0.03", "--max-exposure", "0.5")
    payload, out, err = backtest(tmp_path, capsys, *extra)
    settings = payload["settings"]
    # A protection option switches the rules on by itself.
    assert settings["risk_rules"] is True
    assert settings["risk"]["protections"]["cooldown"] == 86_400_000
    assert settings["risk"]["limits"]["max_total_exposure"] == 0.5
    for result in payload["results"]:
        risk = result["risk"]
        assert risk["rules"] is True
        assert risk["blocked"]["cooldown"] > 0
        assert risk["shrunk"]["max_total_exposure"] > 0
        assert len(risk["events"]) == sum(risk["blocked"].values()) + sum(risk["shrunk"].values())
        assert "cache" not in result
        assert len(result["trades"]) > 10
    assert "risk BTC/USDT: entries blocked: cooldown" in " ".join(out.split())
    assert "cache: skipped" in err


@needs_reference
def test_sizing_runs_without_the_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    payload, _, _ = backtest(tmp_path, capsys, "--sizing", "risk", "--risk-per-trade", "0.01")
    assert payload["settings"]["risk_rules"] is False
    for result in payload["results"]:
        assert result["risk"]["rules"] is False
        assert result["risk"]["blocked"] == {}
        stops = [t for t in result["trades"] if t["exit_reason"] == "stop_loss"]
        assert stops
        # The reference stop is 3 %: a stop costs about 1 % of the equity before it.
        worst = min(t["pnl"] for t in stops)
        assert -0.02 * 10_000 < worst < 0


@needs_reference
def test_the_kill_switch_and_the_portfolio_slots(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = ("--portfolio", "--max-open-trades", "1", "--risk-rules", "--kill-at", KILL_AT)
    payload, out, _ = backtest(tmp_path, capsys, *extra)
    assert payload["settings"]["risk"]["kill_at_ms"] == KILL_AT_MS
    blocked = payload["portfolio"]["risk"]["blocked"]
    assert blocked["kill_switch"] > 0
    assert blocked["max_open_positions"] > 0
    for result in payload["results"]:
        assert all(t["entry_ts"] < KILL_AT_MS for t in result["trades"])
    assert "risk portfolio: entries blocked:" in " ".join(out.split())


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--sizing", "yolo"], "--sizing must be stake, risk, vol_target or kelly"),
        (["--cooldown", "soon"], "protections.cooldown"),
        (["--daily-loss", "2"], "protections.daily_loss"),
        (["--max-exposure", "0"], "--max-exposure must be > 0"),
        (["--auto-leverage"], "auto_leverage"),
        (["--sizing", "risk", "--risk-per-trade", "0.9"], "risk_per_trade"),
        (["--kill-at", "someday"], "--kill-at"),
    ],
)
@needs_reference
def test_bad_risk_options_are_refused_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    code, _, err = run([*golden_command(tmp_path / "x.json"), *extra], capsys)
    assert code == 2
    assert message in " ".join(err.split())
    assert not (tmp_path / "x.json").exists()

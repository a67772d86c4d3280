"""``xraybot xray`` end to end: the real ccxt client against the simulator on 127.0.0.1."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import typer

from tests.support.logs import restored_logging
from tests.support.sim import serve_sim
from tests.support.xray import external_references
from xraybot.cli import app as cli_app
from xraybot.cli import xray_cmd
from xraybot.sim.config import RateLimits, SimConfig

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    # Each invocation is a new process's pool that loads the markets again, and MEXC allows
    # one contract-detail call per 5 s: these tests are about the report, not that limit.
    config = SimConfig(match_interval_ms=0, rate_limits=RateLimits(enabled=False))
    with serve_sim(config, n_symbols=12) as url:
        yield url


@pytest.fixture
def run(sim_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    monkeypatch.setenv("XRAYBOT_EXCHANGE__SIM_URL", sim_url)
    monkeypatch.setenv("XRAYBOT_EXCHANGE__EXCHANGE", "sim")
    monkeypatch.setenv("COLUMNS", "200")
    if "xray" not in {c.name for c in cli_app.app.registered_commands}:
        # Until cli/app.py registers it: the real root app plus `xray`.
        root = typer.Typer(
            name="xraybot", no_args_is_help=True, add_completion=False,
            pretty_exceptions_enable=False,
        )  # fmt: skip
        root.registered_callback = cli_app.app.registered_callback
        root.registered_commands = list(cli_app.app.registered_commands)
        root.registered_groups = list(cli_app.app.registered_groups)
        root.command("xray")(xray_cmd.xray)
        monkeypatch.setattr(cli_app, "app", root)

    def invoke(*argv: str) -> tuple[int, str, str]:
        with restored_logging(), pytest.raises(SystemExit) as caught:
            cli_app.main(["xray", *argv])
        out = capsys.readouterr()
        code = caught.value.code
        return (code if isinstance(code, int) else 1), out.out, out.err

    return invoke


def test_the_report_for_a_small_simulator_universe(run: Run, tmp_path: Path) -> None:
    html_path = tmp_path / "out" / "xray.html"
    json_path = tmp_path / "out" / "xray.json"
    code, out, err = run(
        "--top", "8", "--candles", "200", "--report", str(html_path), "--json", str(json_path)
    )
    assert code == 0, err
    assert "market regime:" in out
    assert f"report written to {html_path}" in out
    facts = json.loads(json_path.read_text())
    assert facts["exchange"] == "sim"
    assert len(facts["symbols"]) == 8
    assert "BTC/USDT" in facts["symbols"]
    assert facts["market_regime"]["symbol"] == "BTC/USDT"
    assert facts["correlation"] is not None
    assert facts["clusters"]["clusters"]
    assert facts["screen"]["universe_size"] == 12
    assert facts["requests"] >= 1 + 1 + 8  # tickers, clock, one candle call per symbol
    html = html_path.read_text()
    assert external_references(html) == []
    for section in ("market", "correlation", "clusters", "anomalies", "movers", "screen"):
        assert f'<section id="{section}">' in html
    for figure in ("regimes", "correlation", "movers", "performance"):
        assert f'id="fig-{figure}"' in html
    assert "Screener result: not in this report." not in html
    embedded = re.search(r'id="xray-data">(.*?)</script>', html, re.S)
    assert embedded is not None
    assert json.loads(embedded.group(1))["symbols"] == facts["symbols"]


def test_named_symbols_get_the_leader_added(run: Run, tmp_path: Path) -> None:
    json_path = tmp_path / "x.json"
    code, _, err = run(
        "--symbols",
        "eth/usdt,sol/usdt",
        "--candles",
        "120",
        "--no-screen",
        "--json",
        str(json_path),
    )
    assert code == 0, err
    facts = json.loads(json_path.read_text())
    assert facts["symbols"] == ["ETH/USDT", "SOL/USDT", "BTC/USDT"]
    assert facts["added_leader"] == "BTC/USDT"
    assert facts["screen"] is None
    assert "switched off" in facts["notes"]["screen"]


def test_refusals_name_the_problem(run: Run, tmp_path: Path) -> None:
    code, _, err = run("--symbols", "NOPE/USDT")
    assert code == 2
    assert "NOPE/USDT" in err
    code, _, err = run("--symbols", "BTC/USDT", "--top", "3")
    assert code == 2
    assert "not both" in err
    code, _, err = run("--top", "3", "--report", str(tmp_path / "x.pdf"))
    assert code == 2
    assert "x.pdf" in err
    code, _, err = run("--candles", "1")
    assert code == 2
    assert "--candles" in err

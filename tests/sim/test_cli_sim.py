"""``xraybot sim``: options become a SimConfig and a market source; the server is started."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from xraybot.cli import sim as sim_cli
from xraybot.model.errors import ConfigError
from xraybot.sim.replay import ReplayMarket
from xraybot.sim.synthetic import SyntheticMarket

HOUR_MS = 3_600_000


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, Any]]:
    calls: list[tuple[Any, Any]] = []
    monkeypatch.setattr(sim_cli, "serve", lambda config, market: calls.append((config, market)))
    return calls


def invoke(*args: str) -> Any:
    app = typer.Typer()
    app.command("sim")(sim_cli.sim)
    app.command("other")(lambda: None)  # two commands: Typer keeps "sim" as a subcommand
    return CliRunner().invoke(app, ["sim", *args])


def test_synthetic_by_default(served: list[tuple[Any, Any]]) -> None:
    result = invoke(
        "--port",
        "8899",
        "--symbols",
        "40",
        "--seed",
        "3",
        "--latency-ms",
        "50",
        "--faults",
        "timeout=0.02,partial_fill=0.2",
        "--no-rate-limits",
        "--speed",
        "0",
    )
    assert result.exit_code == 0, result.output
    [(config, market)] = served
    assert (config.port, config.latency_ms, config.seed) == (8899, 50, 3)
    assert (config.faults.timeout, config.faults.partial_fill) == (0.02, 0.2)
    assert config.rate_limits.enabled is False
    assert isinstance(market, SyntheticMarket)
    assert len(market.symbols()) <= 40
    assert "http://127.0.0.1:8899" in result.output
    assert "sim-demo-key" in result.output
    assert "sim-demo-secret" in result.output


def test_replay_when_a_data_dir_is_given(served: list[tuple[Any, Any]], tmp_path: Path) -> None:
    folder = tmp_path / "ohlcv" / "binance"
    folder.mkdir(parents=True)
    start = 1_700_000_000_000 // HOUR_MS * HOUR_MS
    rows = "".join(f"{start + i * HOUR_MS},100,101,99,100.5,10\n" for i in range(72))
    with gzip.open(folder / "BTC_USDT-1h.csv.gz", "wt") as handle:
        handle.write("timestamp,open,high,low,close,volume\n" + rows)
    result = invoke("--data-dir", str(tmp_path), "--demo-key", "mine", "--demo-secret", "shh")
    assert result.exit_code == 0, result.output
    [(config, market)] = served
    assert isinstance(market, ReplayMarket)
    assert [s.spot_id for s in market.symbols()] == ["BTCUSDT"]
    assert start <= market.clock.now_ms() <= start + 72 * HOUR_MS
    assert config.demo_api_key == "mine"
    assert config.demo_secret.get_secret_value() == "shh"


def test_a_bad_fault_spec_is_a_config_error(served: list[tuple[Any, Any]]) -> None:
    result = invoke("--faults", "timeout=lots")
    assert isinstance(result.exception, ConfigError)
    assert "timeout" in str(result.exception)
    assert served == []

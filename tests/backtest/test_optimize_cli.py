from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from xraybot.cli import optimize_cmd
from xraybot.data.sample import sample_dir
from xraybot.model.errors import InvalidInputError


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    built = typer.Typer()
    built.callback()(lambda: None)  # keep `optimize` a subcommand, as in the real CLI
    optimize_cmd.register(built)
    return built


def base_args() -> list[str]:
    return [
        "optimize",
        "--strategy", "rsi_reversion",
        "--data-dir", str(sample_dir()),
        "--exchange", "binance",
        "--symbols", "BTC/USDT,ETH/USDT",
        "--start", "2025-07-01",
        "--space", '{"rsi_period": {"low": 8, "high": 20}, "entry_level": [25, 30]}',
    ]  # fmt: skip


def test_optimize_prints_in_and_out_of_sample_and_writes_json(
    app: typer.Typer, tmp_path: Path
) -> None:
    out = tmp_path / "out.json"
    result = CliRunner().invoke(
        app, [*base_args(), "--trials", "6", "--oos", "0.25", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "best parameters" in result.output
    assert "OOS" in result.output
    assert "rsi_period=" in result.output
    assert "per symbol" in result.output
    payload = json.loads(out.read_text())
    assert payload["objectives"] == ["sharpe"]
    assert payload["trials"] == 6
    assert payload["oos_fraction"] == 0.25
    best = payload["best"][0]
    assert set(best["params"]) == {
        "rsi_period", "entry_level", "exit_level", "stop_loss", "take_profit"
    }  # fmt: skip
    assert best["out_of_sample"]["candles"] > 0
    assert [s["symbol"] for s in best["out_of_sample"]["per_symbol"]] == ["BTC/USDT", "ETH/USDT"]


def test_a_pareto_front_with_nsga2(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "front.json"
    result = CliRunner().invoke(
        app,
        [*base_args(), "--trials", "12", "--objectives", "return,max_drawdown",
         "--sampler", "nsga2", "--json", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Pareto front" in result.output
    payload = json.loads(out.read_text())
    assert payload["directions"] == ["maximize", "minimize"]
    assert payload["best"]
    assert all(len(b["values"]) == 2 for b in payload["best"])


def test_workers_share_a_study(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "two.json"
    result = CliRunner().invoke(
        app, [*base_args(), "--trials", "4", "--workers", "2", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["workers"] == 2
    assert payload["trials"] == 4


def test_bad_options_are_refused(app: typer.Typer) -> None:
    runner = CliRunner()
    both = runner.invoke(app, [*base_args(), "--objective", "sharpe", "--objectives", "return"])
    assert isinstance(both.exception, InvalidInputError)
    assert "not both" in str(both.exception)
    sampler = runner.invoke(app, [*base_args(), "--sampler", "random"])
    assert isinstance(sampler.exception, InvalidInputError)
    space = runner.invoke(app, [*base_args()[:-2], "--space", "{rsi_period: 3}"])
    assert isinstance(space.exception, InvalidInputError)
    assert "--space must be a JSON object" in str(space.exception)

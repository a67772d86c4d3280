"""``xraybot strategies``: the table people read and the JSON programs read."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from xraybot.cli.strategy_cmd import register
from xraybot.model.errors import InvalidInputError
from xraybot.strategy.registry import builtin_names


def app() -> typer.Typer:
    built = typer.Typer()
    built.callback()(lambda: None)
    register(built)
    return built


def test_lists_every_builtin_with_parameters(tmp_path: Path) -> None:
    out = tmp_path / "strategies.json"
    result = CliRunner().invoke(app(), ["strategies", "--json", str(out)], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    for name in builtin_names():
        assert name in result.output
    assert "rsi_period" in result.output
    assert "2 … 50" in result.output
    payload = json.loads(out.read_text())
    by_name = {s["name"]: s for s in payload["strategies"]}
    assert list(by_name) == builtin_names()
    rsi = by_name["rsi_reversion"]
    period = next(p for p in rsi["parameters"] if p["name"] == "rsi_period")
    assert period == {
        "name": "rsi_period",
        "type": "int",
        "default": 14,
        "low": 2,
        "high": 50,
        "step": 1,
        "choices": [],
        "searchable": True,
        "doc": period["doc"],
    }
    assert rsi["exit_rules"]["stop_loss_pct"] == 0.03
    assert rsi["warmup"] == 325


def test_describes_a_user_strategy_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.py"
    path.write_text(
        "from typing import ClassVar\n"
        "from xraybot.strategy.base import Param, Signals, Strategy\n"
        "class Mine(Strategy):\n"
        "    name: ClassVar[str] = 'mine'\n"
        "    parameters = (Param('mode', 'fast', choices=('fast', 'slow')),)\n"
        "    def signals(self, candles, params, cache=None):\n"
        "        return Signals(candles.close > 0, candles.close < 0)\n",
        encoding="utf-8",
    )
    out = tmp_path / "one.json"
    result = CliRunner().invoke(app(), ["strategies", str(path), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "fast | slow" in result.output
    assert [s["name"] for s in json.loads(out.read_text())["strategies"]] == ["mine"]


def test_unknown_strategy_is_an_input_error() -> None:
    result = CliRunner().invoke(app(), ["strategies", "nope"])
    assert isinstance(result.exception, InvalidInputError)

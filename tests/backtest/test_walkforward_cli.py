"""``xraybot walkforward`` end to end on the bundled sample, and its refusals."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.support.logs import restored_logging
from xraybot.cli import app as cli_app
from xraybot.cli.walkforward_cmd import register
from xraybot.data.sample import sample_dir

Run = Callable[..., tuple[int, str, str]]
BASE = ("--data-dir", str(sample_dir()), "--exchange", "binance", "--timeframe", "1h")


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    monkeypatch.setenv("COLUMNS", "240")  # Rich tables: no wrapped cells
    monkeypatch.setitem(cli_app.COMMANDS, "walkforward", register)

    def invoke(*argv: str) -> tuple[int, str, str]:
        with restored_logging(), pytest.raises(SystemExit) as caught:
            cli_app.main(["walkforward", *argv])
        out = capsys.readouterr()
        code = caught.value.code
        return (code if isinstance(code, int) else 1), out.out, out.err

    return invoke


def test_walkforward_prints_windows_and_writes_json(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "wf.json"
    code, out, err = run(
        "--strategy", "rsi_reversion", "--symbols", "BTC/USDT,ETH/USDT", *BASE,
        "--start", "2025-03-01", "--windows", "2", "--is-fraction", "0.6", "--trials", "3",
        "--space", '{"rsi_period": {"low": 8, "high": 20}}', "--seed", "7",
        "--fee", "0.001", "--equity", "5000", "--json", str(path),
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(path.read_text())
    assert data["strategy"] == "rsi_reversion"
    assert data["mode"] == "rolling"
    assert data["trials"] == 3
    assert data["seed"] == 7
    assert len(data["windows"]) == 2
    for window in data["windows"]:
        assert set(window["out_of_sample_metrics"]) == {"BTC/USDT", "ETH/USDT"}
        assert 8 <= window["best_params"]["rsi_period"] <= 20
    by_symbol = data["combined"]["by_symbol"]
    assert by_symbol["BTC/USDT"]["metrics"]["initial_equity"] == 5000
    assert list(data["stability"]["parameters"]) == ["rsi_period"]
    assert "walk-forward rsi_reversion (rolling, 2 windows x 3 trials" in out
    assert "out-of-sample, stitched" in out
    assert "walk-forward efficiency:" in out
    assert "parameter stability:" in out
    assert "rsi_period=" in out
    assert "walk-forward: 2 windows x 3 trials" in err  # the progress bar


def test_walkforward_by_days_anchored(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "wf.json"
    code, _, err = run(
        "--strategy", "rsi_reversion", "--symbols", "SOL/USDT", *BASE, "--mode", "anchored",
        "--is-days", "120", "--oos-days", "60", "--trials", "2",
        "--space", '{"entry_level": [25, 30]}', "--json", str(path),
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(path.read_text())
    windows = data["windows"]
    assert len(windows) == 4  # (365 - 120) // 60 days
    assert {w["in_sample"]["start_ms"] for w in windows} == {1_735_689_600_000}
    assert all(
        w["out_of_sample"]["end_ms"] - w["out_of_sample"]["start_ms"] == 60 * 86_400_000
        for w in windows
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--is-days", "90"), "--is-days and --oos-days together"),
        (("--is-days", "90", "--oos-days", "30", "--is-fraction", "0.7"), "one or the other"),
        (("--mode", "sliding"), "rolling or anchored"),
        (("--sampler", "random"), "tpe, nsga2 or grid"),
        (("--space", "[1, 2]"), "--space must be a JSON object"),
        (("--space", '{"nope": [1, 2]}'), "has no parameter 'nope'"),
        (("--trials", "0"), "trials must be at least 1"),
        (("--windows", "10000"), "too few for 10000 windows"),
    ],
)
def test_bad_options_exit_2_with_the_reason(run: Run, extra: tuple[str, ...], message: str) -> None:
    code, _, err = run("--strategy", "rsi_reversion", "--symbols", "BTC/USDT", *BASE, *extra)
    assert code == 2
    assert message in " ".join(err.split())


def test_register_adds_the_command() -> None:
    import typer

    app = typer.Typer()
    app.callback()(cli_app.root)
    register(app)
    result = CliRunner().invoke(app, ["walkforward", "--help"])
    assert result.exit_code == 0
    for option in ("--mode", "--windows", "--is-fraction", "--is-days", "--oos-days",
                   "--trials", "--objective", "--seed", "--workers", "--fee", "--equity",
                   "--stake", "--json"):  # fmt: skip
        assert option in result.output

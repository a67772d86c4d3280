"""``xraybot risk explain`` end to end against the simulator, and its refusals."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import typer

from tests.support.logs import restored_logging
from tests.support.sim import serve_sim
from xraybot.cli import app as cli_app
from xraybot.cli import risk_cmd
from xraybot.data.config import DATA_DIR_ENV
from xraybot.sim.config import RateLimits, SimConfig

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "risk.toml"
Run = Callable[..., tuple[int, str, str]]


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    """Rate limits off: each command loads the markets afresh (MEXC's contract detail endpoint
    allows that once per 5 s)."""
    config = SimConfig(match_interval_ms=0, rate_limits=RateLimits(enabled=False))
    with serve_sim(config, n_symbols=30) as url:
        yield url


@pytest.fixture
def run(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    sim_url: str,
) -> Run:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "user-data"))
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("COLUMNS", "220")  # Rich tables: no wrapped cells
    monkeypatch.setenv("XRAYBOT_EXCHANGE__SIM_URL", sim_url)
    monkeypatch.setenv("XRAYBOT_EXCHANGE__EXCHANGE", "sim")
    root = typer.Typer(
        name="xraybot", no_args_is_help=True, add_completion=False,
        pretty_exceptions_enable=False,
    )  # fmt: skip
    root.callback()(cli_app.root)
    risk_cmd.register(root)
    # main() builds the app for the command named; here: the root plus `risk` only.
    monkeypatch.setattr(cli_app, "build_app", lambda only=None: root)

    def invoke(*argv: str) -> tuple[int, str, str]:
        with restored_logging(), pytest.raises(SystemExit) as caught:
            cli_app.main(["risk", "explain", *argv])
        out = capsys.readouterr()
        code = caught.value.code
        return (code if isinstance(code, int) else 1), out.out, out.err

    return invoke


def test_explains_the_next_entry_on_the_simulator(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "explain.json"
    code, out, err = run(
        "--config", str(EXAMPLE), "--exchange", "sim", "--symbol", "BTC/USDT",
        "--equity", "2500", "--json", str(path),
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(path.read_text())
    assert data["exchange"] == "sim"
    assert data["symbol"] == "BTC/USDT:USDT"
    assert data["equity"] == 2500.0
    assert data["market"]["kind"] == "swap"
    assert data["market"]["max_leverage"] >= 1
    entry = data["entry"]
    assert entry["source"] == "exchange"
    assert entry["candles"] >= 15
    assert 0 < entry["volatility"] < 1
    assert entry["stop_price"] < entry["price"]
    leverage = data["leverage"]
    assert 1 <= leverage["value"] <= min(20, data["market"]["max_leverage"])
    assert leverage["decision"]["bound_by"] in (
        "user_cap", "market_max_leverage", "liquidation_beyond_stop",
    )  # fmt: skip
    assert leverage["decision"]["reasons"]
    assert data["sizing"]["mode"] == "risk"
    assert data["sizing"]["ok"] is True
    assert [c["name"] for c in data["limits"]["checks"]] == [
        "max_open_positions", "max_symbol_exposure", "max_total_exposure",
        "max_cluster_exposure", "margin_multiplier",
    ]  # fmt: skip
    assert data["limits"]["room"] == pytest.approx(2500.0)  # max_symbol_exposure 1 x equity
    names = [r["protection"] for r in data["protections"]["reasons"]]
    assert {"kill_switch", "cooldown", "daily_loss", "stoploss_guard"} <= set(names)
    assert data["protections"]["allowed"] is True
    assert data["dynamic_risk"]["scale"] == 1.0
    assert data["deposit"]["ok"] is True
    assert data["allowed"] is True
    assert float(data["notional"]) > 0
    assert data["verdict"][0].startswith("may open")
    # The same story for people.
    assert "BTC/USDT:USDT (swap), long, equity 2,500.00 USDT" in out
    assert "leverage:" in out
    assert "max_cluster_exposure" in out
    assert "ALLOWED" in out


def test_short_on_a_spot_profile_is_refused(run: Run, tmp_path: Path) -> None:
    config = tmp_path / "spot.toml"
    config.write_text('[risk]\nmarket = "spot"\n[risk.exits]\nstop_loss_pct = 0.02\n')
    code, out, _ = run("--config", str(config), "--symbol", "ETH/USDT")
    assert code == 0
    assert "ETH/USDT (spot)" in out
    code, _, err = run("--config", str(config), "--symbol", "ETH/USDT", "--direction", "short")
    assert code == 2
    assert "only long entries" in err


def test_a_configuration_that_can_never_trade_is_refused_naming_the_fix(
    run: Run, tmp_path: Path
) -> None:
    config = tmp_path / "tight.toml"
    config.write_text("[risk]\n[risk.leverage]\nmax = 20\n[risk.exits]\nstop_loss_pct = 0.0001\n")
    code, _, err = run("--config", str(config), "--symbol", "BTC/USDT")
    assert code == 2
    assert "configuration error" in err
    assert "risk.exits.stop_loss_pct: 0.0001 is no wider than the round-trip taker fee" in err
    code, _, err = run("--symbol", "BTC/USDT", "--equity", "0.5")
    assert code == 2
    assert "a deposit of at least" in err


def test_bad_config_and_unknown_symbol_exit_2(run: Run, tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[risk]\n[risk.sizing]\nmode = "yolo"\n')
    code, _, err = run("--config", str(config))
    assert code == 2
    assert "risk.sizing.mode" in err
    code, _, err = run("--symbol", "NOPE/USDT")
    assert code == 2
    assert "NOPE/USDT" in err

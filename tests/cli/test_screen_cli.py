"""``xraybot screen`` end to end: against the simulator, as of a stored past, and refusals."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import typer

from tests.support.logs import restored_logging
from tests.support.sim import serve_sim
from tests.support.xray import MIDDLE, fill
from xraybot.cli import app as cli_app
from xraybot.cli.screen import screen
from xraybot.data.config import DATA_DIR_ENV
from xraybot.sim.config import RateLimits, SimConfig

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "screen.toml"
Run = Callable[..., tuple[int, str, str]]


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    """30 synthetic symbols, rate limits off: each command loads the markets afresh, and
    MEXC's contract detail endpoint allows that once per 5 s."""
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
    if "screen" not in {c.name for c in cli_app.app.registered_commands}:
        # Until cli/app.py registers it: the real root app plus `screen`.
        root = typer.Typer(
            name="xraybot", no_args_is_help=True, add_completion=False,
            pretty_exceptions_enable=False,
        )  # fmt: skip
        root.registered_callback = cli_app.app.registered_callback
        root.registered_commands = list(cli_app.app.registered_commands)
        root.registered_groups = list(cli_app.app.registered_groups)
        root.command("screen")(screen)
        monkeypatch.setattr(cli_app, "app", root)

    def invoke(*argv: str) -> tuple[int, str, str]:
        with restored_logging(), pytest.raises(SystemExit) as caught:
            cli_app.main(["screen", *argv])
        out = capsys.readouterr()
        code = caught.value.code
        return (code if isinstance(code, int) else 1), out.out, out.err

    return invoke


def test_screens_the_simulator_and_writes_json(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "screen.json"
    code, out, err = run("--exchange", "sim", "--top", "3", "--json", str(path))
    assert code == 0, err
    data = json.loads(path.read_text())
    assert {"passed", "rejected", "requests", "elapsed_s"} <= set(data)
    assert 0 < len(data["passed"]) <= 3
    for row in data["passed"]:
        assert {"symbol", "quote_volume", "volatility", "spread", "score", "signals"} <= set(row)
    for name, entry in data["rejected"].items():
        assert entry["count"] == len(entry["symbols"]), name
        assert all(s["reason"] for s in entry["symbols"])
    total = len(data["passed"]) + sum(e["count"] for e in data["rejected"].values())
    assert total == data["universe_size"] == 30
    assert data["requests"] >= 2
    assert f"{len(data['passed'])} passed" in out
    assert "quote_volume" in out
    assert f"{data['requests']} requests in" in out
    assert "1h candles of" in err  # the progress bar


def test_the_example_config_runs(run: Run) -> None:
    code, out, err = run("--config", str(EXAMPLE))
    assert code == 0, err
    # The dynamic volume threshold, resolved: p40, or p60 while BTC's volatility is high.
    regime = re.search(r"note: regime from BTC/USDT: trend \w+, volatility (\w+)", out)
    assert regime, out
    assert ("(p60)" if regime.group(1) == "high" else "(p40)") in out


def test_an_all_rejecting_config_shows_the_distribution(run: Run, tmp_path: Path) -> None:
    config = tmp_path / "strict.toml"
    config.write_text("[screen]\nmin_volatility_pct = 500\nmax_volatility_pct = 1000\n")
    path = tmp_path / "out.json"
    code, out, err = run("--config", str(config), "--json", str(path))
    assert code == 0, err
    assert "The volatility filter rejected every symbol that reached it" in out
    assert "what the volatility filter saw" in out
    data = json.loads(path.read_text())
    assert data["emptied_by"] == "volatility"
    assert data["passed"] == []
    assert {"min", "p5", "p50", "p95", "max"} <= set(data["distributions"]["volatility"])


def test_as_of_reads_the_store_and_asks_no_exchange(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(tmp_path / "market", MIDDLE)
    monkeypatch.setenv("XRAYBOT_EXCHANGE__SIM_URL", "http://127.0.0.1:9")  # nothing listens
    config = tmp_path / "asof.toml"
    config.write_text('[screen]\ncandles = 60\nmin_listing_days = 2\nmin_quote_volume = "p30"\n')
    path = tmp_path / "out.json"
    argv = ["--exchange", "sim", "--config", str(config), "--as-of", str(MIDDLE)]
    code, out, err = run(*argv, "--data-dir", str(tmp_path / "market"), "--json", str(path))
    assert code == 0, err
    data = json.loads(path.read_text())
    assert (data["as_of_ms"], data["requests"], data["universe_size"]) == (MIDDLE, 0, 7)
    assert data["passed"]
    assert "as of 2025-01-21 07:00Z" in out


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--top", "0"], "--top must be at least 1; found 0"),
        (["--as-of", "yesterday"], "found 'yesterday'"),
        (["--exchange", "nosuchexchange"], "'nosuchexchange'"),
    ],
)
def test_bad_arguments_are_named(run: Run, argv: list[str], named: str) -> None:
    code, _, err = run(*argv)
    assert code == 2
    assert named in " ".join(err.split())


def test_bad_config_keys_are_named(run: Run, tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[screen]\nmin_volume = 5\nmax_spread_pct = "tight"\n')
    code, _, err = run("--config", str(config))
    assert code == 2
    flat = " ".join(err.split())
    assert "screen.min_volume: unknown key" in flat
    assert "screen.max_spread_pct: expected a number or a percentile" in flat

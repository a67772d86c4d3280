"""``xraybot run`` end to end on the simulator: paper users trade, live users need --allow-live."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.logs import restored_logging
from tests.support.sim import START_MS, serve_sim
from xraybot.cli import app as cli_app
from xraybot.cli import run_cmd
from xraybot.model.users import TradingMode, UserProfile
from xraybot.sim.config import RateLimits, SimConfig
from xraybot.storage import StorageConfig, create_engine, migrate
from xraybot.storage.users import SqlUserRepository

Run = Callable[..., tuple[int, str, str]]

STRATEGY = """
from typing import ClassVar

import numpy as np

from xraybot.strategy.base import Param, Signals, Strategy


class AlwaysTrade(Strategy):
    name: ClassVar[str] = "always_trade"
    parameters: ClassVar[tuple[Param, ...]] = ()

    def signals(self, candles, params, cache=None):
        yes = np.ones(len(candles), dtype=bool)
        return Signals(entry_long=yes, exit_long=yes.copy())

    def warmup(self, params):
        return 1
"""


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    config = SimConfig(match_interval_ms=0, rate_limits=RateLimits(enabled=False))
    with serve_sim(config, n_symbols=12) as url:
        yield url


@pytest.fixture
def journal_dir(tmp_path: Path) -> Path:
    data_dir = tmp_path / "journal"
    migrate.upgrade(StorageConfig(data_dir=data_dir).sqlalchemy_url())
    return data_dir


@pytest.fixture
def run(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    journal_dir: Path,
    sim_url: str,
) -> Run:
    monkeypatch.setenv("XRAYBOT_STORAGE__DATA_DIR", str(journal_dir))
    monkeypatch.delenv("XRAYBOT_STORAGE__DATABASE_URL", raising=False)
    monkeypatch.setenv("XRAYBOT_EXCHANGE__SIM_URL", sim_url)
    monkeypatch.setenv("COLUMNS", "250")
    if "run" not in cli_app.COMMANDS:  # until cli/app.py registers it
        monkeypatch.setitem(cli_app.COMMANDS, "run", run_cmd.register)

    def invoke(*argv: str) -> tuple[int, str, str]:
        with restored_logging(), pytest.raises(SystemExit) as caught:
            cli_app.main(list(argv))
        out = capsys.readouterr()
        code = caught.value.code
        return (code if isinstance(code, int) else 1), out.out, out.err

    return invoke


def add_users(journal_dir: Path, strategy: Path, users: dict[str, str]) -> None:
    async def go() -> None:
        engine = create_engine(StorageConfig(data_dir=journal_dir))
        try:
            repo = SqlUserRepository(engine)
            for user_id, mode in users.items():
                profile = UserProfile(
                    user_id=user_id,
                    name=user_id,
                    created_ts_ms=START_MS,
                    exchange="sim",
                    mode=TradingMode(mode),
                )
                settings = {
                    "exchange": "sim",
                    "market": "spot",
                    "mode": mode,
                    "leverage_cap": 1,
                    "selection": {"symbols": ["BTC/USDT"]},
                    "strategy": {"name": f"{strategy}:AlwaysTrade", "timeframe": "1m"},
                }
                await repo.create(profile, settings)
        finally:
            await engine.dispose()

    asyncio.run(go())


@pytest.fixture
def strategy_file(tmp_path: Path) -> Path:
    path = tmp_path / "always.py"
    path.write_text(STRATEGY)
    return path


def test_live_user_is_refused_while_paper_users_run(
    run: Run, journal_dir: Path, strategy_file: Path, tmp_path: Path
) -> None:
    add_users(journal_dir, strategy_file, {"alice": "paper", "bob": "live"})
    out_json = tmp_path / "run.json"
    code, out, err = run("run", "--seconds", "2", "--json", str(out_json))
    assert code == 0, err
    data = json.loads(out_json.read_text())
    assert set(data["refused"]) == {"bob"}
    assert data["live_refused"] == ["bob"]
    assert "--allow-live" in data["refused"]["bob"]
    assert data["decisions"].get("alice BTC/USDT", 0) >= 1
    assert "refused bob" in out


def test_only_live_users_without_allow_live_is_an_error(
    run: Run, journal_dir: Path, strategy_file: Path
) -> None:
    add_users(journal_dir, strategy_file, {"bob": "live"})
    code, _out, err = run("run", "--seconds", "1")
    assert code != 0
    assert "LiveTradingRefusedError" in err
    assert "bob" in err
    assert "--allow-live" in err

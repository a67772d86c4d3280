"""Fixtures of the embedded-runtime tests: a frozen synthetic simulator, a migrated SQLite
journal and the always-trading strategy file.

A module whose tests need another simulator or journal defines its own fixture of the same
name; one that needs the same simulator on other prices overrides ``sim_seed``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.embedded import MINUTE, STRATEGY, Sim
from tests.support.servers import serve_asgi
from tests.support.sim import START_MS
from xraybot.sim.app import create_app
from xraybot.sim.clock import SimClock
from xraybot.sim.config import RateLimits, SimConfig
from xraybot.sim.synthetic import SyntheticMarket
from xraybot.storage import StorageConfig, create_engine, migrate


@pytest.fixture(scope="module")
def sim_seed() -> int:
    return 7


@pytest.fixture(scope="module")
def sim(sim_seed: int) -> Iterator[Sim]:
    clock = SimClock(START_MS - START_MS % MINUTE + 30_000, speed=0)
    market = SyntheticMarket(clock, n_symbols=12, seed=sim_seed)
    config = SimConfig(match_interval_ms=0, rate_limits=RateLimits(enabled=False))
    with serve_asgi(create_app(config, market)) as url:
        yield Sim(url, clock)


@pytest.fixture
def storage(tmp_path: Path) -> StorageConfig:
    config = StorageConfig(data_dir=tmp_path / "data")
    migrate.upgrade(config.sqlalchemy_url())
    return config


@pytest.fixture
def strategy_file(tmp_path: Path) -> Path:
    path = tmp_path / "always.py"
    path.write_text(STRATEGY)
    return path


@pytest.fixture
async def engine(storage: StorageConfig) -> AsyncIterator[Any]:
    eng = create_engine(storage)
    yield eng
    await eng.dispose()

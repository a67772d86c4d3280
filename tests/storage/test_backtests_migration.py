"""Revision 0002 turns an existing 0001 journal into the result cache without losing rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import URL

from tests.support import services
from tests.support.migrations import schema_differences
from xraybot.storage import migrate, tables
from xraybot.storage.backtests import SqlBacktestResults, StoredBacktest
from xraybot.storage.db import engine_from_url

# backtest_results as revision 0001 created it.
OLD = sa.Table(
    "backtest_results",
    sa.MetaData(),
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("strategy", sa.String(128)),
    sa.Column("params", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")),
    sa.Column("symbol", sa.String(64)),
    sa.Column("timeframe", sa.String(8)),
    sa.Column("metrics", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")),
    sa.Column("created_ts_ms", sa.BigInteger()),
)
OLD_ROW = {
    "strategy": "rsi_reversion",
    "params": {"period": 14, "entry": 30.0},
    "symbol": "BTC/USDT",
    "timeframe": "1h",
    "metrics": {"sharpe": 1.25, "trades": 12},
    "created_ts_ms": 1_700_000_000_000,
}
NEW_COLUMNS = ("cache_key", "exchange", "data_hash", "code_version", "settings", "payload")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'journal.sqlite3'}"


@pytest.fixture
def postgres_fresh_url(postgres_url: URL) -> Iterator[str]:
    with services.fresh_postgres_database() as url:
        yield url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)],
)
def database_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_fresh_url"
    url: str = request.getfixturevalue(fixture)
    return url


async def insert_old_row(url: str) -> None:
    engine = engine_from_url(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.insert(OLD).values(OLD_ROW))
    finally:
        await engine.dispose()


async def all_rows(url: str) -> list[dict[str, object]]:
    engine = engine_from_url(url)
    try:
        async with engine.connect() as connection:
            # Reflected, so the test reads whatever columns the revision left.
            reflected = await connection.run_sync(
                lambda sync: sa.Table("backtest_results", sa.MetaData(), autoload_with=sync)
            )
            result = await connection.execute(sa.select(reflected).order_by(reflected.c.id))
            return [dict(row) for row in result.mappings()]
    finally:
        await engine.dispose()


async def test_upgrading_a_0001_journal_keeps_its_rows(database_url: str) -> None:
    await migrate.upgrade_async(database_url, "0001")
    await insert_old_row(database_url)

    assert await migrate.upgrade_async(database_url) == migrate.head_revision()

    assert await schema_differences(database_url) == []
    (row,) = await all_rows(database_url)
    assert {k: row[k] for k in OLD_ROW} == OLD_ROW
    assert all(row[column] is None for column in NEW_COLUMNS)


async def test_after_the_upgrade_the_cache_works_beside_the_old_row(database_url: str) -> None:
    await migrate.upgrade_async(database_url, "0001")
    await insert_old_row(database_url)
    await migrate.upgrade_async(database_url)
    stored = StoredBacktest(
        cache_key="a" * 64,
        exchange="binance",
        symbol="BTC/USDT",
        timeframe="1h",
        strategy="rsi_reversion",
        params={"period": 14},
        settings={"fee_rate": 0.001},
        data_hash="b" * 64,
        code_version="0.1.0/c",
        metrics={},
        payload=b"\x00payload\xff",
        created_ts_ms=1_700_000_000_001,
    )
    engine = engine_from_url(database_url)
    try:
        repository = SqlBacktestResults(engine)
        await repository.put(stored)
        await repository.put(stored)  # the old row's NULL key conflicts with nothing
        assert await repository.get("a" * 64) == stored
    finally:
        await engine.dispose()

    assert len(await all_rows(database_url)) == 2


async def test_downgrading_to_0001_drops_the_cache_and_keeps_the_rows(database_url: str) -> None:
    await migrate.upgrade_async(database_url, "0001")
    await insert_old_row(database_url)
    await migrate.upgrade_async(database_url)

    assert await migrate.downgrade_async(database_url, "0001") == "0001"

    (row,) = await all_rows(database_url)
    assert set(row) == {"id", *OLD_ROW}
    assert {k: row[k] for k in OLD_ROW} == OLD_ROW
    assert await migrate.upgrade_async(database_url) == migrate.head_revision()
    assert await schema_differences(database_url) == []


def test_the_cache_key_is_unique_and_indexed() -> None:
    (index,) = [i for i in tables.backtest_results.indexes if "cache_key" in i.columns]
    assert index.unique
    assert index.name == "ix_backtest_results_cache_key"

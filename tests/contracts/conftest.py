"""The repository backends the contract suite runs against: memory, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.engine import URL

from xraybot.storage import (
    MemoryJournal,
    MemoryOrderRepository,
    MemoryStore,
    MemoryUserRepository,
    SqlJournal,
    SqlOrderRepository,
    SqlUserRepository,
    StorageConfig,
    create_engine,
    migrate,
    tables,
)

BACKENDS = ("memory", "sqlite", "postgres")


@dataclass
class Backend:
    """One backend's repositories plus a way to count stored rows behind their back."""

    name: str
    journal: SqlJournal | MemoryJournal
    orders: SqlOrderRepository | MemoryOrderRepository
    users: SqlUserRepository | MemoryUserRepository
    count_rows: Callable[[str, dict[str, Any]], Awaitable[int]]


def asyncpg_url(url: URL) -> str:
    return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def migrated_postgres_url(postgres_url: URL) -> str:
    """The session's PostgreSQL database, migrated once to head with the blocking API."""
    url = asyncpg_url(postgres_url)
    migrate.upgrade(url)
    return url


def _memory_counter(store: MemoryStore) -> Callable[[str, dict[str, Any]], Awaitable[int]]:
    collections: dict[str, Callable[[], list[Any]]] = {
        "order_intents": lambda: [intent for intent, _ in store.intents.values()],
        "orders": lambda: list(store.orders.values()),
        "fills": lambda: list(store.fills.values()),
        "trades": lambda: list(store.trades.values()),
        "positions": lambda: list(store.positions.values()),
    }

    async def count(table: str, where: dict[str, Any]) -> int:
        rows = collections[table]()
        return sum(all(getattr(r, k) == v for k, v in where.items()) for r in rows)

    return count


@pytest.fixture(params=BACKENDS)
def backend_config(request: pytest.FixtureRequest, tmp_path: Path) -> StorageConfig | None:
    """The storage configuration of one backend (None: memory), its schema at head.

    A plain fixture so the blocking migrate.upgrade runs outside the test's event loop.
    """
    if request.param == "memory":
        return None
    if request.param == "sqlite":
        config = StorageConfig(data_dir=tmp_path / "data")
        migrate.upgrade(config.sqlalchemy_url())
        return config
    url = request.getfixturevalue("migrated_postgres_url")
    return StorageConfig(database_url=SecretStr(url), pool_size=4)


@pytest.fixture
async def backend(backend_config: StorageConfig | None) -> AsyncIterator[Backend]:
    """Every contract test runs once per backend."""
    if backend_config is None:
        store = MemoryStore()
        yield Backend(
            "memory",
            MemoryJournal(store),
            MemoryOrderRepository(store),
            MemoryUserRepository(store),
            _memory_counter(store),
        )
        return
    name = "sqlite" if backend_config.database_url is None else "postgres"
    engine = create_engine(backend_config)

    async def count(table: str, where: dict[str, Any]) -> int:
        target = tables.metadata.tables[table]
        query = sa.select(sa.func.count()).select_from(target)
        for column, value in where.items():
            query = query.where(target.c[column] == value)
        async with engine.connect() as connection:
            return int((await connection.execute(query)).scalar_one())

    try:
        yield Backend(
            name,
            SqlJournal(engine),
            SqlOrderRepository(engine),
            SqlUserRepository(engine),
            count,
        )
    finally:
        await engine.dispose()

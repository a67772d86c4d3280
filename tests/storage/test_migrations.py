"""The shipped migrations build exactly tables.py, on SQLite and PostgreSQL, both ways."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from tests.support import services
from tests.support.migrations import schema_differences
from xraybot.model.errors import InvalidInputError
from xraybot.storage import migrate, tables
from xraybot.storage.db import engine_from_url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    # A folder that does not exist yet: upgrade must create it.
    return f"sqlite+aiosqlite:///{tmp_path / 'not' / 'yet' / 'journal.sqlite3'}"


@pytest.fixture
def postgres_fresh_url(postgres_url: URL) -> Iterator[str]:
    """A database of its own: these tests drop every table, the contract suite needs them."""
    with services.fresh_postgres_database() as url:
        yield url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_fresh_url"
    url: str = request.getfixturevalue(fixture)
    return url


async def table_names(url: str) -> set[str]:
    engine = engine_from_url(url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def test_upgraded_database_matches_tables_exactly(database_url: str) -> None:
    assert await migrate.upgrade_async(database_url) == migrate.head_revision()

    assert await schema_differences(database_url) == []
    assert await table_names(database_url) == {*tables.metadata.tables, tables.VERSION_TABLE}


async def test_the_comparison_notices_a_table_changed_without_a_migration(
    database_url: str,
) -> None:
    await migrate.upgrade_async(database_url)
    changed = sa.MetaData()
    for table in tables.metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["orders"].append_column(sa.Column("note", sa.Text()))
    changed.tables["trades"].c.fees.type = sa.Float()

    kinds = {
        diff[0] if isinstance(diff, tuple) else diff[0][0]
        for diff in await schema_differences(database_url, changed)
    }

    assert kinds == {"add_column", "modify_type"}


async def test_downgrade_to_base_and_upgrade_again(database_url: str) -> None:
    head = await migrate.upgrade_async(database_url)

    assert await migrate.downgrade_async(database_url, "base") is None
    assert await migrate.current_revision_async(database_url) is None
    assert await table_names(database_url) == {tables.VERSION_TABLE}

    assert await migrate.upgrade_async(database_url) == head
    assert await migrate.current_revision_async(database_url) == head
    assert await schema_differences(database_url) == []


def test_the_blocking_api_reports_revisions(sqlite_url: str) -> None:
    assert migrate.current_revision(sqlite_url) is None
    head = migrate.upgrade(sqlite_url)
    assert head == migrate.head_revision()
    assert migrate.upgrade(sqlite_url) == head  # already there: nothing to do
    assert migrate.current_revision(sqlite_url) == head
    assert migrate.downgrade(sqlite_url, "base") is None
    assert migrate.upgrade(sqlite_url, head) == head


async def test_the_blocking_api_refuses_a_running_loop(sqlite_url: str) -> None:
    with pytest.raises(RuntimeError, match="upgrade_async"):
        migrate.upgrade(sqlite_url)


def test_an_unknown_revision_is_refused_with_the_known_head(sqlite_url: str) -> None:
    with pytest.raises(InvalidInputError, match=migrate.head_revision()):
        migrate.upgrade(sqlite_url, "9999")


def test_migrations_ship_inside_the_package() -> None:
    folder = migrate.MIGRATIONS_DIR
    assert (folder / "env.py").is_file()
    assert (folder / "script.py.mako").is_file()
    assert list((folder / "versions").glob("0001_*.py"))


async def test_another_tools_alembic_revision_in_the_same_database_is_left_alone(
    database_url: str,
) -> None:
    # Optuna's RDB storage (xraybot optimize --storage) keeps its revision in alembic_version.
    engine = engine_from_url(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
            )
            await connection.execute(sa.text("INSERT INTO alembic_version VALUES ('v3.2.0.a')"))
    finally:
        await engine.dispose()

    assert await migrate.upgrade_async(database_url) == migrate.head_revision()
    assert "alembic_version" in await table_names(database_url)

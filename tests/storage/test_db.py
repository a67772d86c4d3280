"""Engines and errors: SQLite pragmas, folders, and messages that never leak a password."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.engine import URL

from xraybot.model.errors import StorageError
from xraybot.storage import (
    SqlOrderRepository,
    StorageConfig,
    create_engine,
    engine_from_url,
    migrate,
    ping,
)

PASSWORD = "S3cretPw"


async def test_sqlite_engine_creates_its_folder_and_sets_pragmas(tmp_path: Path) -> None:
    config = StorageConfig(data_dir=tmp_path / "fresh" / "data")
    engine = create_engine(config)
    try:
        async with engine.connect() as connection:
            journal_mode = (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar()
            foreign_keys = (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar()
    finally:
        await engine.dispose()

    assert (tmp_path / "fresh" / "data").is_dir()
    assert journal_mode == "wal"
    assert foreign_keys == 1


async def test_a_closed_port_raises_storage_error_without_the_password() -> None:
    config = StorageConfig(database_url=SecretStr(f"postgresql://user:{PASSWORD}@127.0.0.1:1/x"))
    engine = create_engine(config)
    try:
        with pytest.raises(StorageError) as raised:
            await SqlOrderRepository(engine).get("xb-anything")
    finally:
        await engine.dispose()

    message = str(raised.value)
    assert PASSWORD not in message
    assert "127.0.0.1:1" in message
    assert "reading order xb-anything" in message
    assert "user:***@" in message


def test_migrating_a_closed_port_raises_storage_error_without_the_password() -> None:
    with pytest.raises(StorageError) as raised:
        migrate.upgrade(f"postgresql+asyncpg://user:{PASSWORD}@127.0.0.1:1/x")

    assert PASSWORD not in str(raised.value)
    assert "upgrading the database schema" in str(raised.value)


async def test_a_refused_login_raises_storage_error_without_the_password(
    postgres_url: URL,
) -> None:
    url = postgres_url.set(
        drivername="postgresql+asyncpg", username="no_such_role", password=PASSWORD
    )
    engine = create_engine(
        StorageConfig(database_url=SecretStr(url.render_as_string(hide_password=False)))
    )
    try:
        with pytest.raises(StorageError) as raised:
            await ping(engine)
    finally:
        await engine.dispose()

    assert PASSWORD not in str(raised.value)
    assert "no_such_role" in str(raised.value)
    assert "user name and password" in str(raised.value)


async def test_a_missing_schema_says_to_run_db_upgrade(tmp_path: Path) -> None:
    engine = create_engine(StorageConfig(data_dir=tmp_path))
    try:
        with pytest.raises(StorageError, match="xraybot db upgrade"):
            await SqlOrderRepository(engine).open_orders("alice")
    finally:
        await engine.dispose()


def test_an_unsupported_backend_is_refused_without_the_password() -> None:
    with pytest.raises(StorageError, match="not supported") as raised:
        engine_from_url(f"mysql+aiomysql://root:{PASSWORD}@localhost/x")
    assert PASSWORD not in str(raised.value)


async def test_ping_answers_on_a_working_database(tmp_path: Path) -> None:
    engine = create_engine(StorageConfig(data_dir=tmp_path))
    try:
        await ping(engine)
        async with engine.connect() as connection:
            assert (await connection.execute(sa.text("SELECT 1"))).scalar() == 1
    finally:
        await engine.dispose()

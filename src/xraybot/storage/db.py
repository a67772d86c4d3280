"""Engines, transactions and error translation for the SQL repositories.

Every database call in ``storage`` runs inside :func:`transaction` or :func:`reading`, which
turn driver and SQLAlchemy errors into :class:`StorageError` with a message that names the
operation, the database (password hidden) and what to do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from xraybot.model.errors import StorageError
from xraybot.storage.config import StorageConfig

# An execution option read by the SQLite "begin" hook below.
_WRITE_OPTION = "xraybot_write"
_SQLITE_BUSY_TIMEOUT_MS = 5_000


def describe_url(url: str | URL) -> str:
    """Render a database URL for messages and logs, with the password masked."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        return "<unparseable database URL>"
    return parsed.render_as_string(hide_password=True)


def create_engine(config: StorageConfig) -> AsyncEngine:
    """Create the async engine the repositories share, from the storage configuration."""
    if config.database_url is None:
        config.data_dir.expanduser().mkdir(parents=True, exist_ok=True)
    return engine_from_url(
        config.sqlalchemy_url(), echo=config.echo_sql, pool_size=config.pool_size
    )


def engine_from_url(url: str | URL, *, echo: bool = False, pool_size: int = 5) -> AsyncEngine:
    """Create an async engine for a ``sqlite+aiosqlite`` or ``postgresql+asyncpg`` URL."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError as e:
        raise StorageError(
            "the database URL could not be parsed; use sqlite+aiosqlite:///PATH or "
            "postgresql+asyncpg://USER:PASSWORD@HOST:PORT/DB."
        ) from e
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        _ensure_sqlite_folder(parsed)
        engine = create_async_engine(parsed, echo=echo)
        _install_sqlite_hooks(engine)
        return engine
    if backend == "postgresql":
        return create_async_engine(
            parsed, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
        )
    raise StorageError(
        f"database backend {backend!r} is not supported (URL {describe_url(parsed)}); "
        "use sqlite+aiosqlite:// or postgresql+asyncpg://."
    )


def _ensure_sqlite_folder(url: URL) -> None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    try:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StorageError(
            f"could not create the folder for the SQLite journal {database!r} "
            f"({type(e).__name__}: {e.strerror}); choose a writable data_dir."
        ) from e


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so "begin" below decides how to BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # A deferred transaction that reads and then writes fails at once with
        # "database is locked" when another writer got in between; IMMEDIATE takes
        # the write lock up front and waits busy_timeout for it instead.
        write = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


@contextmanager
def storage_errors(url: URL, action: str) -> Iterator[None]:
    """Translate database errors raised inside the block into StorageError naming ``action``."""
    try:
        yield
    except IntegrityError as e:
        raise StorageError(
            f"{action} failed on {describe_url(url)}: the database refused a row that "
            f"conflicts with one already stored or lacks its parent row "
            f"({_reason(e, url)}). Nothing was written; check the ids you passed."
        ) from e
    except SQLAlchemyError as e:
        raise StorageError(
            f"{action} failed on {describe_url(url)}: {_reason(e, url)}. {_advice(e)}"
        ) from e
    except OSError as e:
        raise StorageError(
            f"{action} failed: could not reach the database at {describe_url(url)} "
            f"({_scrub(f'{type(e).__name__}: {e}', url)}). Check that the server is running "
            "and that database_url names the right host and port."
        ) from e


def _reason(error: SQLAlchemyError, url: URL) -> str:
    # The wrapped driver error, first line only: SQLAlchemy's own text carries the
    # statement and its parameters, which may include encrypted credentials.
    original = getattr(error, "orig", None)
    source: BaseException = original if isinstance(original, BaseException) else error
    # asyncpg errors arrive inside SQLAlchemy's generic adapter "Error"; name the real one.
    named = source.__cause__ if isinstance(source.__cause__, Exception) else source
    first_line = (str(source).strip().splitlines() or [""])[0]
    return _scrub(f"{type(named).__name__}: {first_line}", url)


def _advice(error: SQLAlchemyError) -> str:
    text = str(getattr(error, "orig", error)).lower()
    if "no such table" in text or ("relation" in text and "does not exist" in text):
        return "The schema is missing or old: run `xraybot db upgrade`."
    if "password authentication" in text or ("role" in text and "does not exist" in text):
        return "Check the user name and password in database_url."
    if "database" in text and "does not exist" in text:
        return "Create that database first, or fix the database name in database_url."
    if "locked" in text or "busy" in text:
        return "Another writer holds the SQLite journal: retry, or move to PostgreSQL."
    return (
        "Check that the database is running and reachable, that database_url is right, "
        "and that the schema is current (`xraybot db upgrade`)."
    )


def _scrub(text: str, url: URL) -> str:
    password = url.password
    if isinstance(password, str) and password:
        text = text.replace(password, "***")
    return text


@asynccontextmanager
async def transaction(engine: AsyncEngine, action: str) -> AsyncIterator[AsyncConnection]:
    """Open a write transaction: commit on success, roll back on any exception."""
    with storage_errors(engine.url, action):
        async with engine.connect() as connection:
            await connection.execution_options(**{_WRITE_OPTION: True})
            async with connection.begin():
                yield connection


@asynccontextmanager
async def reading(engine: AsyncEngine, action: str) -> AsyncIterator[AsyncConnection]:
    """Open a read-only unit of work (a transaction that is never committed)."""
    with storage_errors(engine.url, action):
        async with engine.connect() as connection:
            yield connection


def upsert_statement(
    connection: AsyncConnection, table: sa.Table
) -> postgresql.Insert | sqlite.Insert:
    """Return an INSERT for ``table`` that supports ON CONFLICT on this connection's backend."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


async def ping(engine: AsyncEngine) -> None:
    """Check that the database answers; raise StorageError saying what to fix if not."""
    async with reading(engine, "connecting to the database") as connection:
        await connection.execute(sa.text("SELECT 1"))


__all__ = [
    "create_engine",
    "describe_url",
    "engine_from_url",
    "ping",
    "reading",
    "storage_errors",
    "transaction",
    "upsert_statement",
]

"""Bring a journal database's schema up to date with Alembic, without an alembic.ini.

The plain functions (:func:`upgrade`, :func:`downgrade`, :func:`current_revision`) are
synchronous for the CLI and run their own event loop with ``asyncio.run``; from async code
await the ``*_async`` forms instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import URL, Connection

from xraybot.model.errors import InvalidInputError
from xraybot.storage.db import engine_from_url, reading, transaction
from xraybot.storage.tables import VERSION_TABLE

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

_T = TypeVar("_T")


def alembic_config() -> Config:
    """Build the Alembic configuration pointing at the migrations shipped in this package."""
    config = Config()
    # configparser interpolates '%': escape it in case the install path contains one.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    return config


def head_revision() -> str:
    """Return the newest revision this version of xraybot ships."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise InvalidInputError(
            f"no migrations found in {MIGRATIONS_DIR}; the package is incomplete. Reinstall it."
        )
    return head


@contextmanager
def _alembic_errors(action: str) -> Iterator[None]:
    try:
        yield
    except CommandError as e:
        raise InvalidInputError(
            f"{action} failed: {e}. This xraybot ships migrations up to {head_revision()!r}; "
            "name one of its revisions (or 'head'/'base'), or, if the database was migrated "
            "by a newer xraybot, upgrade xraybot."
        ) from e


def _revision_of(connection: Connection) -> str | None:
    return MigrationContext.configure(
        connection, opts={"version_table": VERSION_TABLE}
    ).get_current_revision()


def _run_command(connection: Connection, run: Callable[[Config], None], action: str) -> str | None:
    config = alembic_config()
    config.attributes["connection"] = connection
    with _alembic_errors(action):
        run(config)
    return _revision_of(connection)


async def upgrade_async(sqlalchemy_url: str | URL, revision: str = "head") -> str:
    """Upgrade the schema to ``revision``; return the revision now current."""
    action = f"upgrading the database schema to {revision}"
    engine = engine_from_url(sqlalchemy_url)
    try:
        async with transaction(engine, action) as connection:
            current = await connection.run_sync(
                _run_command, lambda config: command.upgrade(config, revision), action
            )
    finally:
        await engine.dispose()
    return current or "base"


async def downgrade_async(sqlalchemy_url: str | URL, revision: str) -> str | None:
    """Downgrade the schema to ``revision`` ("base" drops everything); return the current one."""
    action = f"downgrading the database schema to {revision}"
    engine = engine_from_url(sqlalchemy_url)
    try:
        async with transaction(engine, action) as connection:
            return await connection.run_sync(
                _run_command, lambda config: command.downgrade(config, revision), action
            )
    finally:
        await engine.dispose()


async def current_revision_async(sqlalchemy_url: str | URL) -> str | None:
    """Return the database's schema revision, or None if it was never migrated."""
    engine = engine_from_url(sqlalchemy_url)
    try:
        async with reading(engine, "reading the database schema revision") as connection:
            return await connection.run_sync(_revision_of)
    finally:
        await engine.dispose()


def _run(factory: Callable[[], Coroutine[Any, Any, _T]], name: str) -> _T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    raise RuntimeError(
        f"{name}() runs its own event loop and was called inside a running one; "
        f"await {name}_async() instead."
    )


def upgrade(sqlalchemy_url: str | URL, revision: str = "head") -> str:
    """Upgrade the schema to ``revision`` (blocking); return the revision now current."""
    return _run(lambda: upgrade_async(sqlalchemy_url, revision), "upgrade")


def downgrade(sqlalchemy_url: str | URL, revision: str) -> str | None:
    """Downgrade the schema to ``revision`` (blocking); return the revision now current."""
    return _run(lambda: downgrade_async(sqlalchemy_url, revision), "downgrade")


def current_revision(sqlalchemy_url: str | URL) -> str | None:
    """Return the database's schema revision (blocking), or None if never migrated."""
    return _run(lambda: current_revision_async(sqlalchemy_url), "current_revision")


__all__ = [
    "MIGRATIONS_DIR",
    "alembic_config",
    "current_revision",
    "current_revision_async",
    "downgrade",
    "downgrade_async",
    "head_revision",
    "upgrade",
    "upgrade_async",
]

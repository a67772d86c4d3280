"""Alembic environment for the xraybot journal (async engines, SQLite batch mode).

``xraybot.storage.migrate`` passes an open connection in ``config.attributes``. Run by hand,
for a new revision, name the database with ``-x url=...``::

    alembic -c src/xraybot/storage/migrations/alembic.ini \\
        -x url=sqlite+aiosqlite:///scratch.sqlite3 revision --autogenerate -m "what changed"
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from xraybot.storage.db import engine_from_url, transaction
from xraybot.storage.tables import VERSION_TABLE, metadata

config = context.config
target_metadata = metadata


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit(
            "no database named; found neither -x url=... nor sqlalchemy.url. Pass "
            "-x url=sqlite+aiosqlite:///PATH or -x url=postgresql+asyncpg://..."
        )
    return url


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        version_table=VERSION_TABLE,
        # SQLite cannot ALTER most things: batch mode recreates the table instead.
        render_as_batch=True,
        **kwargs,  # type: ignore[arg-type]
    )


def run_migrations_offline() -> None:
    """Emit the migration SQL to stdout instead of running it."""
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    """Run the pending migrations on an open (sync-facing) connection."""
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    """Open our own engine, so the SQLite pragmas and error messages apply here too."""
    engine = engine_from_url(_url())
    try:
        async with transaction(engine, "running migrations") as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    """Run migrations on the connection we were handed, or on a new engine."""
    connection = config.attributes.get("connection")
    if connection is None:
        asyncio.run(run_async_migrations())
    else:
        do_run_migrations(connection)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

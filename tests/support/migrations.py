"""Compare a migrated schema with the declared tables."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from xraybot.storage import tables
from xraybot.storage.db import engine_from_url


async def schema_differences(url: str, metadata: sa.MetaData = tables.metadata) -> list[Any]:
    engine = engine_from_url(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(
                        sync,
                        opts={"compare_type": True, "version_table": tables.VERSION_TABLE},
                    ),
                    metadata,
                )
            )
    finally:
        await engine.dispose()

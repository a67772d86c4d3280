"""Turn backtest_results into the result cache: a unique cache key and the stored result.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

Rows from 0001 keep their values and get NULL in every new column: they carry no data hash
or payload, so no cache key ever matches them and they are never served as a result.
Types are spelled out here, not imported from ``tables.py`` (see 0001).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_backtest_results_cache_key"
_COLUMNS = ("cache_key", "exchange", "data_hash", "code_version", "settings", "payload")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Add the cache columns and the unique index on the cache key."""
    with op.batch_alter_table("backtest_results") as batch:
        batch.add_column(sa.Column("cache_key", sa.String(64), nullable=True))
        batch.add_column(sa.Column("exchange", sa.String(32), nullable=True))
        batch.add_column(sa.Column("data_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("code_version", sa.String(255), nullable=True))
        batch.add_column(sa.Column("settings", _json(), nullable=True))
        batch.add_column(sa.Column("payload", sa.LargeBinary(), nullable=True))
        batch.create_index(_INDEX, ["cache_key"], unique=True)


def downgrade() -> None:
    """Drop the cache columns (cached results are lost; 0001's columns stay)."""
    with op.batch_alter_table("backtest_results") as batch:
        batch.drop_index(_INDEX)
        for column in reversed(_COLUMNS):
            batch.drop_column(column)

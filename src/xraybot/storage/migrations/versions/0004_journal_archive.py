"""The journal archive: orders_archive, fills_archive and trades_archive.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24

Old closed orders, their fills and old trades move here instead of being deleted. Each
archive table has its live table's columns plus ``archived_ts_ms`` and no foreign keys.
Types are spelled out here, not imported (see 0001).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _money() -> sa.types.TypeEngine[Any]:
    # tables.Money: exact NUMERIC on PostgreSQL, decimal text on SQLite.
    return sa.Numeric().with_variant(sa.Text(), "sqlite")


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the three archive tables."""
    op.create_table(
        "orders_archive",
        sa.Column("client_order_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("strategy", sa.String(128), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("side", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("order_type", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("amount", _money(), nullable=False),
        sa.Column("filled", _money(), nullable=False),
        sa.Column("price", _money(), nullable=True),
        sa.Column("stop_price", _money(), nullable=True),
        sa.Column("average_price", _money(), nullable=True),
        sa.Column("exchange_order_id", sa.String(128), nullable=True),
        sa.Column("reduce_only", sa.Boolean(), nullable=False),
        sa.Column("leverage", sa.Integer(), nullable=False),
        sa.Column("signal_ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("created_ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("archived_ts_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("client_order_id", name="pk_orders_archive"),
    )
    op.create_index("ix_orders_archive_user_id_status", "orders_archive", ["user_id", "status"])
    op.create_table(
        "fills_archive",
        sa.Column("id", _id(), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("fill_id", sa.String(128), nullable=False),
        sa.Column("client_order_id", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("side", sa.String(32), nullable=False),
        sa.Column("price", _money(), nullable=False),
        sa.Column("amount", _money(), nullable=False),
        sa.Column("fee", _money(), nullable=False),
        sa.Column("fee_currency", sa.String(32), nullable=False),
        sa.Column("is_maker", sa.Boolean(), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("archived_ts_ms", sa.BigInteger(), nullable=False),
        # Not the live row id: SQLite may hand a deleted row's id out again.
        sa.PrimaryKeyConstraint("user_id", "fill_id", name="pk_fills_archive"),
    )
    op.create_index("ix_fills_archive_client_order_id", "fills_archive", ["client_order_id"])
    op.create_table(
        "trades_archive",
        sa.Column("trade_id", sa.String(128), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("strategy", sa.String(128), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("direction", sa.String(32), nullable=False),
        sa.Column("amount", _money(), nullable=False),
        sa.Column("entry_price", _money(), nullable=False),
        sa.Column("exit_price", _money(), nullable=False),
        sa.Column("fees", _money(), nullable=False),
        sa.Column("exit_reason", sa.Text(), nullable=False),
        sa.Column("leverage", sa.Integer(), nullable=False),
        sa.Column("entry_ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("exit_ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("archived_ts_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("trade_id", name="pk_trades_archive"),
    )
    op.create_index(
        "ix_trades_archive_user_id_exit_ts_ms", "trades_archive", ["user_id", "exit_ts_ms"]
    )


def downgrade() -> None:
    """Drop the archive tables; archived rows are lost, so move them back first if needed."""
    op.drop_table("trades_archive")
    op.drop_table("fills_archive")
    op.drop_table("orders_archive")

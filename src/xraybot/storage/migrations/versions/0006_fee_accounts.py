"""Performance-fee accounting: fee_accounts, fee_cash_flows and fee_statements.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21

One fee account per user (rate, high-water mark, fees charged, last settled month), the
user's cash flows, and each settled month's statement stored whole as JSON. No foreign keys
to users: fee history outlives a removed user, like the journal. Types are spelled out
here, not imported (see 0001).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _money() -> sa.types.TypeEngine[Any]:
    # tables.Money: exact NUMERIC on PostgreSQL, decimal text on SQLite.
    return sa.Numeric().with_variant(sa.Text(), "sqlite")


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Create the fee tables."""
    op.create_table(
        "fee_accounts",
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("rate", _money(), nullable=False),
        sa.Column("opening_equity", _money(), nullable=False),
        sa.Column("high_water_mark", _money(), nullable=False),
        sa.Column("fees_charged", _money(), nullable=False),
        sa.Column("net_deposits", _money(), nullable=False),
        sa.Column("opened_ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("settled_ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("settled_month", sa.String(7), nullable=True),
        sa.Column("updated_ts_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_fee_accounts"),
    )
    op.create_table(
        "fee_cash_flows",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("amount", _money(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recorded_ts_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_fee_cash_flows"),
    )
    op.create_index("ix_fee_cash_flows_user_id_ts_ms", "fee_cash_flows", ["user_id", "ts_ms"])
    op.create_table(
        "fee_statements",
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("month", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("performance_fee", _money(), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("issued_ts_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "year", "month", name="pk_fee_statements"),
    )


def downgrade() -> None:
    """Drop the fee tables: accounts, flows and issued statements are lost."""
    op.drop_table("fee_statements")
    op.drop_index("ix_fee_cash_flows_user_id_ts_ms", table_name="fee_cash_flows")
    op.drop_table("fee_cash_flows")
    op.drop_table("fee_accounts")

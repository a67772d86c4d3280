"""The operators' kill switch: kill_switches.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21

One row per pulled switch, keyed by user id (``*``: every user). Types are spelled out here,
not imported (see 0001).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the kill_switches table."""
    op.create_table(
        "kill_switches",
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("set_ts_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_kill_switches"),
    )


def downgrade() -> None:
    """Drop the kill switches; a pulled switch is released with it."""
    op.drop_table("kill_switches")

"""Per-user trading settings and envelope encryption: user_settings and user_keys.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

``user_keys`` holds each user's data key wrapped by the operator's master key (the
credentials table keeps the API keys, now encrypted by that data key). Types are spelled
out here, not imported (see 0001).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Create the settings and data-key tables."""
    op.create_table(
        "user_settings",
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("settings", _json(), nullable=False),
        sa.Column("updated_ts_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.user_id"],
            name="fk_user_settings_user_id_users",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name="pk_user_settings"),
    )
    op.create_table(
        "user_keys",
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("master_key_id", sa.String(16), nullable=False),
        sa.Column("key_mask", sa.String(16), nullable=False),
        sa.Column("created_ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("rotated_ts_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.user_id"],
            name="fk_user_keys_user_id_users",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name="pk_user_keys"),
    )
    op.create_index("ix_user_keys_master_key_id", "user_keys", ["master_key_id"])


def downgrade() -> None:
    """Drop them (settings and wrapped data keys are lost; stored credentials stay)."""
    op.drop_table("user_keys")
    op.drop_table("user_settings")

"""Create the journal: users, credentials, intents, orders, fills, trades, positions and more.

Revision ID: 0001
Revises:
Create Date: 2026-11-21

Types are spelled out here instead of imported from ``tables.py`` so this revision keeps
meaning what it meant when it shipped; the migration test proves they still match.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
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
    """Create every table of the first schema."""
    op.create_table(
        "users",
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("created_ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("exchange", sa.String(32), nullable=False),
        sa.Column("mode", sa.String(32), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("telegram_chat_id", sa.String(64), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("max_open_positions", sa.Integer(), nullable=False),
        sa.Column("max_position_quote", _money(), nullable=False),
        sa.Column("max_total_exposure_quote", _money(), nullable=False),
        sa.Column("max_leverage", sa.Integer(), nullable=False),
        sa.Column("max_daily_loss_quote", _money(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_users"),
    )
    op.create_table(
        "credentials",
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("exchange", sa.String(32), nullable=False),
        sa.Column("api_key_token", sa.LargeBinary(), nullable=False),
        sa.Column("secret_token", sa.LargeBinary(), nullable=False),
        sa.Column("passphrase_token", sa.LargeBinary(), nullable=True),
        sa.Column("key_hint", sa.String(16), nullable=False),
        sa.Column("created_ts_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.user_id"],
            name="fk_credentials_user_id_users",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "exchange", name="pk_credentials"),
    )
    op.create_table(
        "order_intents",
        sa.Column("client_order_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("strategy", sa.String(128), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("side", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("order_type", sa.String(32), nullable=False),
        sa.Column("amount", _money(), nullable=False),
        sa.Column("price", _money(), nullable=True),
        sa.Column("stop_price", _money(), nullable=True),
        sa.Column("reduce_only", sa.Boolean(), nullable=False),
        sa.Column("leverage", sa.Integer(), nullable=False),
        sa.Column("leg", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("signal_ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("recorded_ts_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("client_order_id", name="pk_order_intents"),
    )
    op.create_index(
        "ix_order_intents_user_id_signal_ts_ms", "order_intents", ["user_id", "signal_ts_ms"]
    )
    op.create_table(
        "orders",
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
        sa.ForeignKeyConstraint(
            ["client_order_id"],
            ["order_intents.client_order_id"],
            name="fk_orders_client_order_id_order_intents",
        ),
        sa.PrimaryKeyConstraint("client_order_id", name="pk_orders"),
    )
    op.create_index("ix_orders_user_id_status", "orders", ["user_id", "status"])
    op.create_index("ix_orders_exchange_order_id", "orders", ["exchange_order_id"])
    op.create_table(
        "fills",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
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
        sa.ForeignKeyConstraint(
            ["client_order_id"],
            ["orders.client_order_id"],
            name="fk_fills_client_order_id_orders",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_fills"),
        sa.UniqueConstraint("user_id", "fill_id", name="uq_fills_user_id_fill_id"),
    )
    op.create_index("ix_fills_client_order_id", "fills", ["client_order_id"])
    op.create_table(
        "trades",
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
        sa.PrimaryKeyConstraint("trade_id", name="pk_trades"),
    )
    op.create_index("ix_trades_user_id_exit_ts_ms", "trades", ["user_id", "exit_ts_ms"])
    op.create_table(
        "positions",
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("strategy", sa.String(128), nullable=False),
        sa.Column("direction", sa.String(32), nullable=False),
        sa.Column("amount", _money(), nullable=False),
        sa.Column("entry_price", _money(), nullable=False),
        sa.Column("stop_price", _money(), nullable=True),
        sa.Column("target_price", _money(), nullable=True),
        sa.Column("realized_pnl", _money(), nullable=False),
        sa.Column("fees_paid", _money(), nullable=False),
        sa.Column("leverage", sa.Integer(), nullable=False),
        sa.Column("opened_ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ts_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "symbol", name="pk_positions"),
    )
    op.create_table(
        "backtest_results",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("strategy", sa.String(128), nullable=False),
        sa.Column("params", _json(), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("timeframe", sa.String(8), nullable=False),
        sa.Column("metrics", _json(), nullable=False),
        sa.Column("created_ts_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_backtest_results"),
    )
    op.create_index(
        "ix_backtest_results_strategy_symbol_timeframe",
        "backtest_results",
        ["strategy", "symbol", "timeframe"],
    )
    op.create_table(
        "model_registry",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("metrics", _json(), nullable=False),
        sa.Column("artifact_uri", sa.Text(), nullable=False),
        sa.Column("created_ts_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_model_registry"),
        sa.UniqueConstraint("name", "version", name="uq_model_registry_name_version"),
    )
    op.create_table(
        "notification_outbox",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("dedupe_key", sa.String(255), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("sent_ts_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_notification_outbox"),
        sa.UniqueConstraint("dedupe_key", name="uq_notification_outbox_dedupe_key"),
    )
    op.create_index(
        "ix_notification_outbox_status_created_ts_ms",
        "notification_outbox",
        ["status", "created_ts_ms"],
    )


def downgrade() -> None:
    """Drop every table, children before parents (indexes go with their tables)."""
    for table in (
        "notification_outbox",
        "model_registry",
        "backtest_results",
        "positions",
        "trades",
        "fills",
        "orders",
        "order_intents",
        "credentials",
        "users",
    ):
        op.drop_table(table)

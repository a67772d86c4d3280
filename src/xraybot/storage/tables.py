"""The journal's schema: SQLAlchemy Core tables on one MetaData.

Conventions: money is :class:`Money` (exact Decimal on every backend), timestamps are
BigInteger milliseconds UTC named ``*_ts_ms``, enums are stored as their string values.
A change here needs a new Alembic revision in ``migrations/versions``; the migration test
compares the migrated database with this metadata and fails on any difference.
"""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

# Enough digits to turn any Decimal we accept into plain notation without rounding.
_PLAIN = decimal.Context(prec=1000, traps=[decimal.InvalidOperation, decimal.Inexact])


class Money(sa.TypeDecorator[Decimal]):
    """Store a Decimal exactly: NUMERIC on PostgreSQL, canonical ``str(Decimal)`` TEXT on SQLite."""

    impl = sa.Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        # SQLite has no decimal type and Numeric goes through float there: keep the text.
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Text())
        return dialect.type_descriptor(sa.Numeric(asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal) or not value.is_finite():
            raise TypeError(
                f"money columns take a finite Decimal; found {value!r} "
                f"({type(value).__name__}). Pass Decimal(str(x)), never a float."
            )
        # NUMERIC has no exponent: write 1E+3 as 1000 on both backends so they agree.
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent > 0:
            value = value.quantize(Decimal(1), context=_PLAIN)
        if dialect.name == "sqlite":
            return str(value)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if isinstance(value, Decimal):
            # asyncpg builds Decimals from base-10000 groups and drops trailing zero groups:
            # 488281250000 arrives as 4.8828125E+11. Give back the plain form we wrote.
            exponent = value.as_tuple().exponent
            if isinstance(exponent, int) and exponent > 0:
                return value.quantize(Decimal(1), context=_PLAIN)
            return value
        if isinstance(value, str):
            return Decimal(value)
        raise TypeError(
            f"a money column held {value!r} ({type(value).__name__}); expected decimal text. "
            "The row was written outside xraybot; repair it to a decimal string."
        )


def _ts() -> sa.BigInteger:
    return sa.BigInteger()


# Autoincrement ids: BIGINT on PostgreSQL; SQLite only autoincrements INTEGER PRIMARY KEY.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# JSONB on PostgreSQL so documents can be indexed and queried later.
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

_ENUM_LENGTH = 32
_USER_ID_LENGTH = 32
_CLIENT_ORDER_ID_LENGTH = 64
_SYMBOL_LENGTH = 64
_NAME_LENGTH = 128
_HASH_LENGTH = 64  # a sha256 or blake2b-256 digest in hex

# Alembic's revision table under our own name: Optuna's RDB storage (``xraybot optimize
# --storage``) keeps its own Alembic revision in ``alembic_version``, and pointing it at the
# journal's database must not make our migrations read Optuna's revision.
VERSION_TABLE = "xraybot_schema_version"

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("user_id", sa.String(_USER_ID_LENGTH), primary_key=True),
    sa.Column("name", sa.String(_NAME_LENGTH), nullable=False),
    sa.Column("created_ts_ms", _ts(), nullable=False),
    sa.Column("exchange", sa.String(_ENUM_LENGTH), nullable=False),
    sa.Column("mode", sa.String(_ENUM_LENGTH), nullable=False),
    sa.Column("email", sa.String(320), nullable=True),
    sa.Column("telegram_chat_id", sa.String(64), nullable=True),
    sa.Column("active", sa.Boolean(), nullable=False),
    sa.Column("max_open_positions", sa.Integer(), nullable=False),
    sa.Column("max_position_quote", Money(), nullable=False),
    sa.Column("max_total_exposure_quote", Money(), nullable=False),
    sa.Column("max_leverage", sa.Integer(), nullable=False),
    sa.Column("max_daily_loss_quote", Money(), nullable=False),
)

credentials = sa.Table(
    "credentials",
    metadata,
    sa.Column(
        "user_id",
        sa.String(_USER_ID_LENGTH),
        sa.ForeignKey("users.user_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("exchange", sa.String(_ENUM_LENGTH), primary_key=True),
    sa.Column("api_key_token", sa.LargeBinary(), nullable=False),
    sa.Column("secret_token", sa.LargeBinary(), nullable=False),
    sa.Column("passphrase_token", sa.LargeBinary(), nullable=True),
    sa.Column("key_hint", sa.String(16), nullable=False),
    sa.Column("created_ts_ms", _ts(), nullable=False),
)

order_intents = sa.Table(
    "order_intents",
    metadata,
    sa.Column("client_order_id", sa.String(_CLIENT_ORDER_ID_LENGTH), primary_key=True),
    sa.Column("user_id", sa.String(_USER_ID_LENGTH), nullable=False),
    sa.Column("strategy", sa.String(_NAME_LENGTH), nullable=False),
    sa.Column("symbol", sa.String(_SYMBOL_LENGTH), nullable=False),
    sa.Column("side", sa.String(_ENUM_LENGTH), nullable=False),
    sa.Column("kind", sa.String(_ENUM_LENGTH), nullable=False),
    sa.Column("order_type", sa.String(_ENUM_LENGTH), nullable=False),
    sa.Column("amount", Money(), nullable=False),
    sa.Column("price", Money(), nullable=True),
    sa.Column("stop_price", Money(), nullable=True),
    sa.Column("reduce_only", sa.Boolean(), nullable=False),
    sa.Column("leverage", sa.Integer(), nullable=False),
    sa.Column("leg", sa.Integer(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("signal_ts_ms", _ts(), nullable=False),
    sa.Column("recorded_ts_ms", _ts(), nullable=False),
    sa.Index(None, "user_id", "signal_ts_ms"),
)

orders = sa.Table(
    "orders",
    metadata,
    sa.Column(
        "client_order_id",
        sa.String(_CLIENT_ORDER_ID_LENGTH),
        sa.ForeignKey("order_intents.client_order_id"),
        primary_key=True,
    ),
    sa.Column("user_id", sa.String(_USER_ID_LENGTH), nullable=False),
    sa.Column("strategy", sa.String(_NAME_LENGTH), nullable=False),
    sa.Column("symbol", sa.String(_SYMBOL_LENGTH), nullable=False),
    sa.Column("side", sa.String(_ENUM_LENGTH), nullable=False),
    sa.Column("kind", sa.String(_ENUM_LENGTH), nullable=False),
    sa.Column("order_type", sa.String(_ENUM_LENGTH), nullable=False),
    sa.Column("status", sa.String(_ENUM_LENGTH), nullable=False),
    sa.Column("amount", Money(), nullable=False),
    sa.Column("filled", Money(), nullable=False),
    sa.Column("price", Money(), nullable=True),
    sa.Column("stop_price", Money(), nullable=True),
    sa.Column("average_price", Money(), nullable=True),
    sa.Column("exchange_order_id", sa.String(_NAME_LENGTH), nullable=True),
    sa.Column("reduce_only", sa.Boolean(), nullable=False),
    sa.Column("leverage", sa.Integer(), nullable=False),
    sa.Column("signal_ts_ms", _ts(), nullable=False),
    sa.Column("created_ts_ms", _ts(), nullable=False),
    sa.Column("updated_ts_ms", _ts(), nullable=False),
    sa.Index(None, "user_id", "status"),
    sa.Index(None, "exchange_order_id"),
)

fills = sa.Table(
    "fills",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.String(_USER_ID_LENGTH), nullable=False),
    sa.Column("fill_id", sa.String(_NAME_LENGTH), nullable=False),
    sa.Column(
        "client_order_id",
        sa.String(_CLIENT_ORDER_ID_LENGTH),
        sa.ForeignKey("orders.client_order_id"),
        nullable=False,
    ),
    sa.Column("symbol", sa.String(_SYMBOL_LENGTH), nullable=False),
    sa.Column("side", sa.String(_ENUM_LENGTH), nullable=False),
    sa.Column("price", Money(), nullable=False),
    sa.Column("amount", Money(), nullable=False),
    sa.Column("fee", Money(), nullable=False),
    sa.Column("fee_currency", sa.String(_ENUM_LENGTH), nullable=False),
    sa.Column("is_maker", sa.Boolean(), nullable=False),
    sa.Column("ts_ms", _ts(), nullable=False),
    sa.UniqueConstraint("user_id", "fill_id"),
    sa.Index(None, "client_order_id"),
)

trades = sa.Table(
    "trades",
    metadata,
    sa.Column("trade_id", sa.String(_NAME_LENGTH), primary_key=True),
    sa.Column("user_id", sa.String(_USER_ID_LENGTH), nullable=False),
    sa.Column("strategy", sa.String(_NAME_LENGTH), nullable=False),
    sa.Column("symbol", sa.String(_SYMBOL_LENGTH), nullable=False),
    sa.Column("direction", sa.String(_ENUM_LENGTH), nullable=False),
    sa.Column("amount", Money(), nullable=False),
    sa.Column("entry_price", Money(), nullable=False),
    sa.Column("exit_price", Money(), nullable=False),
    sa.Column("fees", Money(), nullable=False),
    sa.Column("exit_reason", sa.Text(), nullable=False),
    sa.Column("leverage", sa.Integer(), nullable=False),
    sa.Column("entry_ts_ms", _ts(), nullable=False),
    sa.Column("exit_ts_ms", _ts(), nullable=False),
    sa.Index(None, "user_id", "exit_ts_ms"),
)

positions = sa.Table(
    "positions",
    metadata,
    sa.Column("user_id", sa.String(_USER_ID_LENGTH), primary_key=True),
    sa.Column("symbol", sa.String(_SYMBOL_LENGTH), primary_key=True),
    sa.Column("strategy", sa.String(_NAME_LENGTH), nullable=False),
    sa.Column("direction", sa.String(_ENUM_LENGTH), nullable=False),
    sa.Column("amount", Money(), nullable=False),
    sa.Column("entry_price", Money(), nullable=False),
    sa.Column("stop_price", Money(), nullable=True),
    sa.Column("target_price", Money(), nullable=True),
    sa.Column("realized_pnl", Money(), nullable=False),
    sa.Column("fees_paid", Money(), nullable=False),
    sa.Column("leverage", sa.Integer(), nullable=False),
    sa.Column("opened_ts_ms", _ts(), nullable=False),
    sa.Column("updated_ts_ms", _ts(), nullable=False),
)

backtest_results = sa.Table(
    "backtest_results",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("strategy", sa.String(_NAME_LENGTH), nullable=False),
    sa.Column("params", _JSON, nullable=False),
    sa.Column("symbol", sa.String(_SYMBOL_LENGTH), nullable=False),
    sa.Column("timeframe", sa.String(8), nullable=False),
    sa.Column("metrics", _JSON, nullable=False),
    sa.Column("created_ts_ms", _ts(), nullable=False),
    # The result cache (revision 0002). NULL only on rows written before it, which no
    # cache key matches; the payload is the whole result, the JSON columns are for queries.
    sa.Column("cache_key", sa.String(_HASH_LENGTH), nullable=True),
    sa.Column("exchange", sa.String(_ENUM_LENGTH), nullable=True),
    sa.Column("data_hash", sa.String(_HASH_LENGTH), nullable=True),
    sa.Column("code_version", sa.String(255), nullable=True),
    sa.Column("settings", _JSON, nullable=True),
    sa.Column("payload", sa.LargeBinary(), nullable=True),
    sa.Index(None, "strategy", "symbol", "timeframe"),
    sa.Index(None, "cache_key", unique=True),
)

model_registry = sa.Table(
    "model_registry",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(_NAME_LENGTH), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("stage", sa.String(_ENUM_LENGTH), nullable=False),
    sa.Column("metrics", _JSON, nullable=False),
    sa.Column("artifact_uri", sa.Text(), nullable=False),
    sa.Column("created_ts_ms", _ts(), nullable=False),
    sa.UniqueConstraint("name", "version"),
)

notification_outbox = sa.Table(
    "notification_outbox",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.String(_USER_ID_LENGTH), nullable=False),
    sa.Column("channel", sa.String(_ENUM_LENGTH), nullable=False),
    sa.Column("dedupe_key", sa.String(255), nullable=False),
    sa.Column("payload", _JSON, nullable=False),
    sa.Column("status", sa.String(_ENUM_LENGTH), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("created_ts_ms", _ts(), nullable=False),
    sa.Column("sent_ts_ms", _ts(), nullable=True),
    sa.UniqueConstraint("dedupe_key"),
    sa.Index(None, "status", "created_ts_ms"),
)

# Revision 0003: per-user trading settings and the envelope's wrapped data keys.
user_settings = sa.Table(
    "user_settings",
    metadata,
    sa.Column(
        "user_id",
        sa.String(_USER_ID_LENGTH),
        sa.ForeignKey("users.user_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("settings", _JSON, nullable=False),
    sa.Column("updated_ts_ms", _ts(), nullable=False),
)

# One data key per user, wrapped by the master key whose fingerprint is ``master_key_id``.
user_keys = sa.Table(
    "user_keys",
    metadata,
    sa.Column(
        "user_id",
        sa.String(_USER_ID_LENGTH),
        sa.ForeignKey("users.user_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
    sa.Column("master_key_id", sa.String(16), nullable=False),
    sa.Column("key_mask", sa.String(16), nullable=False),
    sa.Column("created_ts_ms", _ts(), nullable=False),
    sa.Column("rotated_ts_ms", _ts(), nullable=False),
    sa.Index(None, "master_key_id"),
)


# Revision 0004: the archive. Old closed orders, their fills and old trades move here in one
# transaction (never deleted). Same columns as the live table plus when the row moved; no
# foreign keys, so an archived fill does not pin its order to either table.
def _archive_of(table: sa.Table, *indexes: tuple[str, ...], key: tuple[str, ...] = ()) -> sa.Table:
    primary = key or tuple(c.name for c in table.primary_key.columns)
    columns = [
        sa.Column(c.name, c.type, primary_key=c.name in primary, nullable=c.nullable)
        for c in table.columns
    ]
    return sa.Table(
        f"{table.name}_archive",
        metadata,
        *columns,
        sa.Column("archived_ts_ms", _ts(), nullable=False),
        *(sa.Index(None, *names) for names in indexes),
    )


orders_archive = _archive_of(orders, ("user_id", "status"))
# Keyed by (user, fill id), not the live row id: SQLite may hand a deleted row's id out again.
fills_archive = _archive_of(fills, ("client_order_id",), key=("user_id", "fill_id"))
trades_archive = _archive_of(trades, ("user_id", "exit_ts_ms"))

# Revision 0005: the operators' kill switch, read by ``xraybot run`` on every candle. One row
# per switch that is pulled: ``user_id`` is the user, or ``*`` for every user at once.
kill_switches = sa.Table(
    "kill_switches",
    metadata,
    sa.Column("user_id", sa.String(_USER_ID_LENGTH), primary_key=True),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("set_ts_ms", _ts(), nullable=False),
)

# Revision 0006: performance-fee accounting (no money moves). One account per user; the
# cash flows in and out; each settled month's statement stored whole (money as exact decimal
# strings in the JSON). No foreign key to users: like the journal, fee history outlives them.
fee_accounts = sa.Table(
    "fee_accounts",
    metadata,
    sa.Column("user_id", sa.String(_USER_ID_LENGTH), primary_key=True),
    sa.Column("rate", Money(), nullable=False),
    sa.Column("opening_equity", Money(), nullable=False),
    sa.Column("high_water_mark", Money(), nullable=False),
    sa.Column("fees_charged", Money(), nullable=False),
    sa.Column("net_deposits", Money(), nullable=False),
    sa.Column("opened_ts_ms", _ts(), nullable=False),
    sa.Column("settled_ts_ms", _ts(), nullable=False),
    # "YYYY-MM" of the last settled month; NULL until the first is settled.
    sa.Column("settled_month", sa.String(7), nullable=True),
    sa.Column("updated_ts_ms", _ts(), nullable=False),
)

fee_cash_flows = sa.Table(
    "fee_cash_flows",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.String(_USER_ID_LENGTH), nullable=False),
    sa.Column("ts_ms", _ts(), nullable=False),
    sa.Column("amount", Money(), nullable=False),
    sa.Column("note", sa.Text(), nullable=False),
    sa.Column("recorded_ts_ms", _ts(), nullable=False),
    sa.Index(None, "user_id", "ts_ms"),
)

fee_statements = sa.Table(
    "fee_statements",
    metadata,
    sa.Column("user_id", sa.String(_USER_ID_LENGTH), primary_key=True),
    sa.Column("year", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("month", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("performance_fee", Money(), nullable=False),
    sa.Column("payload", _JSON, nullable=False),
    sa.Column("issued_ts_ms", _ts(), nullable=False),
)

__all__ = [
    "Money",
    "backtest_results",
    "credentials",
    "fee_accounts",
    "fee_cash_flows",
    "fee_statements",
    "fills",
    "fills_archive",
    "kill_switches",
    "metadata",
    "model_registry",
    "notification_outbox",
    "order_intents",
    "orders",
    "orders_archive",
    "positions",
    "trades",
    "trades_archive",
    "user_keys",
    "user_settings",
    "users",
]

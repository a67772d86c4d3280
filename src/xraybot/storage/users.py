"""SqlUserRepository: user profiles and their encrypted exchange credentials.

Credentials arrive already encrypted (``users/credentials.py`` does that); this module
stores the tokens as opaque bytes and never sees a plaintext key.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from xraybot.model.errors import InvalidInputError
from xraybot.model.users import StoredCredentials, TradingMode, UserLimits, UserProfile
from xraybot.storage import tables
from xraybot.storage.db import reading, transaction, upsert_statement

user_settings = tables.user_settings
user_keys = tables.user_keys


@dataclass(frozen=True, slots=True, kw_only=True)
class WrappedKey:
    """A user's data key as stored: wrapped by a master key, plus the API key's mask."""

    user_id: str
    wrapped_key: bytes
    master_key_id: str
    key_mask: str  # e.g. "sim-…key": the only form of the API key ever shown
    created_ts_ms: int
    rotated_ts_ms: int

    def __repr__(self) -> str:
        return (
            f"WrappedKey(user_id={self.user_id!r}, master_key_id={self.master_key_id!r}, "
            f"key_mask={self.key_mask!r})"
        )


def _key_from_row(row: sa.RowMapping) -> WrappedKey:
    return WrappedKey(
        user_id=row["user_id"],
        wrapped_key=bytes(row["wrapped_key"]),
        master_key_id=row["master_key_id"],
        key_mask=row["key_mask"],
        created_ts_ms=row["created_ts_ms"],
        rotated_ts_ms=row["rotated_ts_ms"],
    )


def _credential_values(creds: StoredCredentials) -> dict[str, Any]:
    return {
        "user_id": creds.user_id,
        "exchange": creds.exchange,
        "api_key_token": creds.api_key_token,
        "secret_token": creds.secret_token,
        "passphrase_token": creds.passphrase_token,
        "key_hint": creds.key_hint,
        "created_ts_ms": creds.created_ts_ms,
    }


def duplicate_user(user_id: str) -> InvalidInputError:
    """Build the error for adding a user id that already exists."""
    return InvalidInputError(
        f"user {user_id!r} already exists; found it in the user store. "
        "Choose another id, or call update() to change that user."
    )


def unknown_user(user_id: str, action: str) -> InvalidInputError:
    """Build the error for ``action`` on a user id that does not exist."""
    return InvalidInputError(
        f"cannot {action}: user {user_id!r} does not exist; found no such id. Add the user first."
    )


def _user_values(profile: UserProfile) -> dict[str, Any]:
    limits = profile.limits
    return {
        "user_id": profile.user_id,
        "name": profile.name,
        "created_ts_ms": profile.created_ts_ms,
        "exchange": profile.exchange,
        "mode": profile.mode.value,
        "email": profile.email,
        "telegram_chat_id": profile.telegram_chat_id,
        "active": profile.active,
        "max_open_positions": limits.max_open_positions,
        "max_position_quote": limits.max_position_quote,
        "max_total_exposure_quote": limits.max_total_exposure_quote,
        "max_leverage": limits.max_leverage,
        "max_daily_loss_quote": limits.max_daily_loss_quote,
    }


def _user_from_row(row: sa.RowMapping) -> UserProfile:
    return UserProfile(
        user_id=row["user_id"],
        name=row["name"],
        created_ts_ms=row["created_ts_ms"],
        exchange=row["exchange"],
        mode=TradingMode(row["mode"]),
        email=row["email"],
        telegram_chat_id=row["telegram_chat_id"],
        active=bool(row["active"]),
        limits=UserLimits(
            max_open_positions=row["max_open_positions"],
            max_position_quote=row["max_position_quote"],
            max_total_exposure_quote=row["max_total_exposure_quote"],
            max_leverage=row["max_leverage"],
            max_daily_loss_quote=row["max_daily_loss_quote"],
        ),
    )


def _credentials_from_row(row: sa.RowMapping) -> StoredCredentials:
    passphrase = row["passphrase_token"]
    return StoredCredentials(
        user_id=row["user_id"],
        exchange=row["exchange"],
        # Drivers may hand back memoryview or bytearray; the model speaks bytes.
        api_key_token=bytes(row["api_key_token"]),
        secret_token=bytes(row["secret_token"]),
        passphrase_token=None if passphrase is None else bytes(passphrase),
        key_hint=row["key_hint"],
        created_ts_ms=row["created_ts_ms"],
    )


class SqlUserRepository:
    """Users and their credentials in SQL (the UserRepository port)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, profile: UserProfile) -> None:
        """Add a new user; raise InvalidInputError if the id is taken."""
        async with transaction(self._engine, f"adding user {profile.user_id}") as connection:
            inserted = await connection.execute(
                upsert_statement(connection, tables.users)
                .values(_user_values(profile))
                .on_conflict_do_nothing(index_elements=["user_id"])
            )
        if inserted.rowcount == 0:
            raise duplicate_user(profile.user_id)

    async def get(self, user_id: str) -> UserProfile | None:
        """Return the user with this id, or None."""
        query = sa.select(tables.users).where(tables.users.c.user_id == user_id)
        async with reading(self._engine, f"reading user {user_id}") as connection:
            row = (await connection.execute(query)).mappings().first()
        return None if row is None else _user_from_row(row)

    async def list(self, active_only: bool = False) -> builtins.list[UserProfile]:
        """Return all users (or only active ones), by id."""
        query = sa.select(tables.users).order_by(tables.users.c.user_id)
        if active_only:
            query = query.where(tables.users.c.active.is_(True))
        async with reading(self._engine, "listing users") as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [_user_from_row(row) for row in rows]

    async def update(self, profile: UserProfile) -> None:
        """Replace a stored user's profile; raise InvalidInputError if the id is unknown."""
        values = _user_values(profile)
        del values["user_id"]
        async with transaction(self._engine, f"updating user {profile.user_id}") as connection:
            result = await connection.execute(
                sa.update(tables.users)
                .where(tables.users.c.user_id == profile.user_id)
                .values(values)
            )
        if result.rowcount == 0:
            raise unknown_user(profile.user_id, "update the profile")

    async def set_credentials(self, creds: StoredCredentials) -> None:
        """Store a user's encrypted keys for one exchange, replacing earlier ones."""
        values = _credential_values(creds)
        action = f"storing {creds.exchange} credentials of user {creds.user_id}"
        async with transaction(self._engine, action) as connection:
            # Checked here rather than left to the foreign key so every backend raises
            # the same InvalidInputError.
            exists = await connection.execute(
                sa.select(tables.users.c.user_id).where(tables.users.c.user_id == creds.user_id)
            )
            if exists.first() is None:
                raise unknown_user(creds.user_id, f"store {creds.exchange} credentials")
            await connection.execute(
                upsert_statement(connection, tables.credentials)
                .values(values)
                .on_conflict_do_update(
                    index_elements=["user_id", "exchange"],
                    set_={k: v for k, v in values.items() if k not in ("user_id", "exchange")},
                )
            )

    async def get_credentials(self, user_id: str, exchange: str) -> StoredCredentials | None:
        """Return the user's stored (encrypted) keys for ``exchange``, or None."""
        creds = tables.credentials
        query = sa.select(creds).where(creds.c.user_id == user_id, creds.c.exchange == exchange)
        action = f"reading {exchange} credentials of user {user_id}"
        async with reading(self._engine, action) as connection:
            row = (await connection.execute(query)).mappings().first()
        return None if row is None else _credentials_from_row(row)

    # -- settings, data keys, removal (revision 0003) ------------------------------------

    async def create(
        self,
        profile: UserProfile,
        settings: dict[str, Any],
        key: WrappedKey | None = None,
        creds: StoredCredentials | None = None,
    ) -> None:
        """Add a user with settings (and keys) in one transaction: all of it or nothing."""
        async with transaction(self._engine, f"adding user {profile.user_id}") as connection:
            inserted = await connection.execute(
                upsert_statement(connection, tables.users)
                .values(_user_values(profile))
                .on_conflict_do_nothing(index_elements=["user_id"])
            )
            if inserted.rowcount == 0:
                raise duplicate_user(profile.user_id)
            await connection.execute(
                sa.insert(user_settings).values(
                    user_id=profile.user_id,
                    settings=settings,
                    updated_ts_ms=profile.created_ts_ms,
                )
            )
            if key is not None:
                await connection.execute(sa.insert(user_keys).values(_key_values(key)))
            if creds is not None:
                await connection.execute(
                    sa.insert(tables.credentials).values(_credential_values(creds))
                )

    async def get_settings(self, user_id: str) -> dict[str, Any] | None:
        """Return the user's settings document, or None."""
        query = sa.select(user_settings.c.settings).where(user_settings.c.user_id == user_id)
        async with reading(self._engine, f"reading settings of user {user_id}") as connection:
            found = (await connection.execute(query)).scalar_one_or_none()
        return None if found is None else dict(found)

    async def set_settings(self, user_id: str, settings: dict[str, Any], ts_ms: int) -> None:
        """Replace the user's settings document; raise InvalidInputError if the id is unknown."""
        async with transaction(self._engine, f"storing settings of user {user_id}") as connection:
            exists = await connection.execute(
                sa.select(tables.users.c.user_id).where(tables.users.c.user_id == user_id)
            )
            if exists.first() is None:
                raise unknown_user(user_id, "store settings")
            await connection.execute(
                upsert_statement(connection, user_settings)
                .values(user_id=user_id, settings=settings, updated_ts_ms=ts_ms)
                .on_conflict_do_update(
                    index_elements=["user_id"],
                    set_={"settings": settings, "updated_ts_ms": ts_ms},
                )
            )

    async def get_key(self, user_id: str) -> WrappedKey | None:
        """Return the user's wrapped data key, or None."""
        query = sa.select(user_keys).where(user_keys.c.user_id == user_id)
        async with reading(self._engine, f"reading the data key of user {user_id}") as connection:
            row = (await connection.execute(query)).mappings().first()
        return None if row is None else _key_from_row(row)

    async def keys(self, not_under: str | None = None) -> builtins.list[WrappedKey]:
        """Return every wrapped data key (or those not wrapped by master key ``not_under``)."""
        query = sa.select(user_keys).order_by(user_keys.c.user_id)
        if not_under is not None:
            query = query.where(user_keys.c.master_key_id != not_under)
        async with reading(self._engine, "listing data keys") as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [_key_from_row(row) for row in rows]

    async def set_keys(self, key: WrappedKey, creds: StoredCredentials) -> None:
        """Store a user's data key and their credentials sealed under it, together."""
        action = f"storing the keys of user {key.user_id}"
        async with transaction(self._engine, action) as connection:
            exists = await connection.execute(
                sa.select(tables.users.c.user_id).where(tables.users.c.user_id == key.user_id)
            )
            if exists.first() is None:
                raise unknown_user(key.user_id, "store keys")
            values = _key_values(key)
            await connection.execute(
                upsert_statement(connection, user_keys)
                .values(values)
                .on_conflict_do_update(
                    index_elements=["user_id"],
                    set_={k: v for k, v in values.items() if k != "user_id"},
                )
            )
            cred_values = _credential_values(creds)
            await connection.execute(
                upsert_statement(connection, tables.credentials)
                .values(cred_values)
                .on_conflict_do_update(
                    index_elements=["user_id", "exchange"],
                    set_={k: v for k, v in cred_values.items() if k not in ("user_id", "exchange")},
                )
            )

    async def rewrap_key(
        self, user_id: str, expected: bytes, wrapped: bytes, master_key_id: str, ts_ms: int
    ) -> bool:
        """Swap in a re-wrapped data key if the stored one is still ``expected``.

        Compare-and-swap: a concurrent rotation or key change wins, this one reports False.
        """
        async with transaction(self._engine, f"re-wrapping the key of user {user_id}") as c:
            result = await c.execute(
                sa.update(user_keys)
                .where(user_keys.c.user_id == user_id, user_keys.c.wrapped_key == expected)
                .values(wrapped_key=wrapped, master_key_id=master_key_id, rotated_ts_ms=ts_ms)
            )
        return bool(result.rowcount == 1)

    async def remove(self, user_id: str) -> None:
        """Delete a user, their settings and keys; journal rows (orders, trades) stay."""
        async with transaction(self._engine, f"removing user {user_id}") as connection:
            # Children first: SQLite enforces ON DELETE CASCADE only with a pragma.
            for table in (tables.credentials, user_keys, user_settings):
                await connection.execute(sa.delete(table).where(table.c.user_id == user_id))
            result = await connection.execute(
                sa.delete(tables.users).where(tables.users.c.user_id == user_id)
            )
        if result.rowcount == 0:
            raise unknown_user(user_id, "remove the user")


def _key_values(key: WrappedKey) -> dict[str, Any]:
    return {
        "user_id": key.user_id,
        "wrapped_key": key.wrapped_key,
        "master_key_id": key.master_key_id,
        "key_mask": key.key_mask,
        "created_ts_ms": key.created_ts_ms,
        "rotated_ts_ms": key.rotated_ts_ms,
    }


__all__ = [
    "SqlUserRepository",
    "WrappedKey",
    "duplicate_user",
    "unknown_user",
    "user_keys",
    "user_settings",
]

"""The operators' kill switch, stored in the journal's database (table ``kill_switches``).

``xraybot kill`` pulls a switch for one user or for everyone (``GLOBAL``); the running
runtime reads the switches on every candle, so a switch pulled from another process takes
effect on the next candle. Clearing removes the row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from xraybot.model.errors import InvalidInputError
from xraybot.storage import tables
from xraybot.storage.db import reading, transaction, upsert_statement

GLOBAL = "*"  # the row that stops every user

_table = tables.kill_switches


@dataclass(frozen=True, slots=True)
class KillSwitches:
    """The switches pulled right now: the global reason (if any) and one reason per user."""

    global_reason: str | None = None
    users: dict[str, str] = field(default_factory=dict)

    def reason_for(self, user_id: str) -> str | None:
        """Why ``user_id`` must not trade, or None: the global switch wins."""
        if self.global_reason is not None:
            return self.global_reason
        return self.users.get(user_id)


class SqlKillSwitch:
    """Pull, clear and read the kill switches."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def pull(self, user_id: str | None, reason: str, now_ms: int) -> None:
        """Pull the switch for ``user_id`` (None: every user); pulling again updates it."""
        key = _key(user_id)
        async with transaction(self._engine, "pulling the kill switch") as connection:
            insert = upsert_statement(connection, _table)
            values = {"user_id": key, "reason": reason, "set_ts_ms": now_ms}
            await connection.execute(
                insert.values(**values).on_conflict_do_update(
                    index_elements=["user_id"], set_={"reason": reason, "set_ts_ms": now_ms}
                )
            )

    async def clear(self, user_id: str | None) -> bool:
        """Release the switch for ``user_id`` (None: the global one); False if it was not set."""
        async with transaction(self._engine, "clearing the kill switch") as connection:
            result = await connection.execute(
                sa.delete(_table).where(_table.c.user_id == _key(user_id))
            )
            return bool(result.rowcount)

    async def read(self) -> KillSwitches:
        """Every switch pulled right now."""
        async with reading(self._engine, "reading the kill switches") as connection:
            rows = (await connection.execute(sa.select(_table.c.user_id, _table.c.reason))).all()
        reasons = {row.user_id: row.reason for row in rows}
        global_reason = reasons.pop(GLOBAL, None)
        return KillSwitches(global_reason=global_reason, users=reasons)


def _key(user_id: str | None) -> str:
    if user_id is None:
        return GLOBAL
    if not user_id or user_id == GLOBAL:
        raise InvalidInputError(
            f"the kill switch takes a user id; found {user_id!r}. "
            "Leave --user out to stop every user."
        )
    return user_id


__all__ = ["GLOBAL", "KillSwitches", "SqlKillSwitch"]

"""Stored backtest results by cache key: SQL (SQLite or PostgreSQL) and a memory twin.

The repository keeps opaque rows. It neither builds cache keys nor reads payloads:
``backtest.cache`` does both and decides whether a stored payload can be trusted.
``put`` is an upsert on the cache key where the last write wins, so a recomputed result
replaces a corrupt one in place.

JSON columns (params, settings, metrics) are for queries, the payload is the result. JSON
has no NaN or infinity and PostgreSQL's JSONB refuses them, so both backends store a
non-finite float as null.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from xraybot.model.errors import InvalidInputError
from xraybot.storage import tables
from xraybot.storage.db import reading, transaction, upsert_statement

_KEY_LENGTH = 64


@dataclass(frozen=True, slots=True)
class StoredBacktest:
    """One cached backtest: who asked for what, on which data, with which code, and the result.

    ``payload`` is the encoded result (``backtest.cache`` owns the format); None means the
    row lost it. ``metrics`` summarises it for queries.
    """

    cache_key: str
    exchange: str
    symbol: str
    timeframe: str
    strategy: str
    params: Mapping[str, Any]
    settings: Mapping[str, Any]
    data_hash: str
    code_version: str
    metrics: Mapping[str, Any]
    payload: bytes | None
    created_ts_ms: int


class BacktestResults(Protocol):
    """The port the result cache uses: rows by cache key, last write wins."""

    async def get(self, cache_key: str) -> StoredBacktest | None:
        """Return the result stored under ``cache_key``, or None."""
        ...

    async def put(self, stored: StoredBacktest) -> None:
        """Store a result under its cache key, replacing whatever was stored there."""
        ...


def json_document(value: Any, where: str = "value") -> Any:
    """Return ``value`` as plain JSON data (dicts, lists, str, int, float, bool, None).

    Non-finite floats become None; numpy scalars become Python numbers. Anything else
    raises InvalidInputError naming where it was found.
    """
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return json_document(value.item(), where)
    if isinstance(value, Mapping):
        document: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInputError(
                    f"{where} must have text keys; found key {key!r} ({type(key).__name__})."
                )
            document[key] = json_document(item, f"{where}.{key}")
        return document
    if isinstance(value, list | tuple):
        return [json_document(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise InvalidInputError(
        f"{where} must be JSON data (numbers, text, booleans, lists, mappings); found "
        f"{type(value).__name__} {value!r}."
    )


def _checked(stored: StoredBacktest) -> StoredBacktest:
    """Validate a row before writing and return it with plain JSON documents."""
    key = stored.cache_key
    if not (isinstance(key, str) and 0 < len(key) <= _KEY_LENGTH):
        raise InvalidInputError(
            f"a stored backtest needs a cache key of 1 to {_KEY_LENGTH} characters; found "
            f"{key!r}. Build it with xraybot.backtest.cache.cache_key()."
        )
    payload = stored.payload
    if payload is not None and not isinstance(payload, bytes | bytearray | memoryview):
        raise InvalidInputError(
            f"backtest {key}: payload must be bytes or None; found {type(payload).__name__}."
        )
    return StoredBacktest(
        cache_key=key,
        exchange=stored.exchange,
        symbol=stored.symbol,
        timeframe=stored.timeframe,
        strategy=stored.strategy,
        params=json_document(stored.params, "params"),
        settings=json_document(stored.settings, "settings"),
        data_hash=stored.data_hash,
        code_version=stored.code_version,
        metrics=json_document(stored.metrics, "metrics"),
        payload=None if payload is None else bytes(payload),
        created_ts_ms=int(stored.created_ts_ms),
    )


def _values(stored: StoredBacktest) -> dict[str, Any]:
    return {
        "cache_key": stored.cache_key,
        "exchange": stored.exchange,
        "symbol": stored.symbol,
        "timeframe": stored.timeframe,
        "strategy": stored.strategy,
        "params": stored.params,
        "settings": stored.settings,
        "data_hash": stored.data_hash,
        "code_version": stored.code_version,
        "metrics": stored.metrics,
        "payload": stored.payload,
        "created_ts_ms": stored.created_ts_ms,
    }


def _from_row(row: sa.RowMapping) -> StoredBacktest:
    payload = row["payload"]
    return StoredBacktest(
        cache_key=row["cache_key"],
        exchange=row["exchange"] or "",
        symbol=row["symbol"],
        timeframe=row["timeframe"],
        strategy=row["strategy"],
        params=row["params"],
        settings=row["settings"] if row["settings"] is not None else {},
        data_hash=row["data_hash"] or "",
        code_version=row["code_version"] or "",
        metrics=row["metrics"],
        # Drivers may hand back memoryview or bytearray; the model speaks bytes.
        payload=None if payload is None else bytes(payload),
        created_ts_ms=row["created_ts_ms"],
    )


class SqlBacktestResults:
    """Cached backtest results in the journal database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get(self, cache_key: str) -> StoredBacktest | None:
        """Return the result stored under ``cache_key``, or None."""
        table = tables.backtest_results
        query = sa.select(table).where(table.c.cache_key == cache_key)
        action = f"reading cached backtest {cache_key}"
        async with reading(self._engine, action) as connection:
            row = (await connection.execute(query)).mappings().first()
        return None if row is None else _from_row(row)

    async def put(self, stored: StoredBacktest) -> None:
        """Store a result under its cache key, replacing whatever was stored there."""
        values = _values(_checked(stored))
        action = f"storing cached backtest {stored.cache_key}"
        async with transaction(self._engine, action) as connection:
            await connection.execute(
                upsert_statement(connection, tables.backtest_results)
                .values(values)
                .on_conflict_do_update(
                    index_elements=["cache_key"],
                    set_={k: v for k, v in values.items() if k != "cache_key"},
                )
            )


class MemoryBacktestResults:
    """The same repository in process memory, for tests and throw-away runs."""

    def __init__(self) -> None:
        self.rows: dict[str, StoredBacktest] = {}

    async def get(self, cache_key: str) -> StoredBacktest | None:
        """Return the result stored under ``cache_key``, or None."""
        return self.rows.get(cache_key)

    async def put(self, stored: StoredBacktest) -> None:
        """Store a result under its cache key, replacing whatever was stored there."""
        checked = _checked(stored)
        self.rows[checked.cache_key] = checked


__all__ = [
    "BacktestResults",
    "MemoryBacktestResults",
    "SqlBacktestResults",
    "StoredBacktest",
    "json_document",
]

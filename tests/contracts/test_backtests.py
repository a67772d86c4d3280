"""Backtest result repository contract: memory, SQLite and PostgreSQL behave alike."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from xraybot.model.errors import InvalidInputError
from xraybot.storage import StorageConfig, create_engine, tables
from xraybot.storage.backtests import MemoryBacktestResults, SqlBacktestResults, StoredBacktest


@dataclass
class Results:
    repository: SqlBacktestResults | MemoryBacktestResults
    count: Callable[[str], Awaitable[int]]


@pytest.fixture
async def results(backend_config: StorageConfig | None) -> AsyncIterator[Results]:
    """One repository per backend (the contract suite's ``backend_config``)."""
    if backend_config is None:
        memory = MemoryBacktestResults()

        async def count_memory(key: str) -> int:
            return int(key in memory.rows)

        yield Results(memory, count_memory)
        return
    engine = create_engine(backend_config)
    table = tables.backtest_results

    async def count_sql(key: str) -> int:
        query = sa.select(sa.func.count()).select_from(table).where(table.c.cache_key == key)
        async with engine.connect() as connection:
            return int((await connection.execute(query)).scalar_one())

    try:
        yield Results(SqlBacktestResults(engine), count_sql)
    finally:
        await engine.dispose()


def stored(**change: object) -> StoredBacktest:
    row = StoredBacktest(
        cache_key=os.urandom(32).hex(),  # the PostgreSQL database is shared by the session
        exchange="binance",
        symbol="BTC/USDT",
        timeframe="1h",
        strategy="rsi_reversion",
        params={"period": 14, "entry": 30.0, "long": True, "mode": "close"},
        settings={"equity": 10_000.0, "exits": {"partial_targets": [[0.02, 0.5]]}},
        data_hash="d" * 64,
        code_version="0.1.0/0123456789abcdef",
        metrics={"sharpe": 1.5, "trades": 7, "max_drawdown": -0.125},
        payload=bytes(range(256)) * 40,
        created_ts_ms=1_700_000_000_000,
    )
    return dataclasses.replace(row, **change)  # type: ignore[arg-type]


async def test_an_unknown_key_is_none(results: Results) -> None:
    assert await results.repository.get("0" * 64) is None


async def test_a_stored_result_comes_back_equal(results: Results) -> None:
    row = stored()

    await results.repository.put(row)

    assert await results.repository.get(row.cache_key) == row


async def test_put_twice_keeps_one_row_and_the_last_write(results: Results) -> None:
    first = stored()
    second = dataclasses.replace(
        first, payload=b"recomputed", metrics={"sharpe": 2.0}, created_ts_ms=1_700_000_000_999
    )

    await results.repository.put(first)
    await results.repository.put(second)

    assert await results.repository.get(first.cache_key) == second
    assert await results.count(first.cache_key) == 1


async def test_concurrent_puts_of_one_key_make_one_row(results: Results) -> None:
    row = stored()

    await asyncio.gather(*[results.repository.put(row) for _ in range(5)])

    assert await results.count(row.cache_key) == 1
    assert await results.repository.get(row.cache_key) == row


async def test_a_missing_payload_is_stored_as_missing(results: Results) -> None:
    row = stored(payload=None)

    await results.repository.put(row)

    found = await results.repository.get(row.cache_key)
    assert found is not None
    assert found.payload is None


async def test_bytes_like_payloads_come_back_as_bytes(results: Results) -> None:
    row = stored(payload=memoryview(b"\x00\x01binary\xff"))

    await results.repository.put(row)

    found = await results.repository.get(row.cache_key)
    assert found is not None
    assert found.payload == b"\x00\x01binary\xff"
    assert type(found.payload) is bytes


async def test_non_finite_metrics_are_stored_as_null_everywhere(results: Results) -> None:
    row = stored(metrics={"profit_factor": float("inf"), "sharpe": float("nan"), "n": 3})

    await results.repository.put(row)

    found = await results.repository.get(row.cache_key)
    assert found is not None
    assert found.metrics == {"profit_factor": None, "sharpe": None, "n": 3}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cache_key": ""}, "cache key"),
        ({"cache_key": "x" * 65}, "cache key"),
        ({"metrics": {"when": object()}}, "metrics.when"),
        ({"params": {1: "a"}}, "text keys"),
        ({"payload": "text"}, "payload must be bytes"),
    ],
)
async def test_a_bad_row_is_refused_and_nothing_is_written(
    results: Results, change: dict[str, object], message: str
) -> None:
    row = stored(**change)

    with pytest.raises(InvalidInputError, match=message):
        await results.repository.put(row)

    if isinstance(row.cache_key, str) and row.cache_key:
        assert await results.count(row.cache_key) == 0

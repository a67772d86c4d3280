"""Serve an unchanged backtest from the database instead of running it again.

A result is keyed by everything that decides it (``cache_keys``): the candles, exchange,
strategy, resolved params, settings and code version. Changing any of them changes the
key, so a stale entry is never found, only left behind. A found entry is still checked
before it is served: a missing payload, a foreign or truncated one, a checksum mismatch or
arrays that do not fit together make the cache run the backtest again, overwrite the entry
and log a warning with the reason (``cache_payload`` holds the format).

``BacktestCache`` is async, over any BacktestResults repository; ``BlockingBacktestCache``
wraps it with its own event loop and engine for synchronous callers such as the CLI.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from xraybot.backtest.cache_keys import (
    cache_key,
    code_version,
    data_hash,
    settings_document,
    strategy_version,
)
from xraybot.backtest.cache_payload import UnusablePayloadError, decode_result, encode_result
from xraybot.backtest.results import BacktestResult, BacktestSettings
from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError, StorageError
from xraybot.storage import tables
from xraybot.storage.backtests import BacktestResults, SqlBacktestResults, StoredBacktest
from xraybot.storage.config import StorageConfig
from xraybot.storage.db import create_engine, describe_url, reading
from xraybot.strategy.base import Strategy

log = structlog.get_logger(__name__)

CacheStatus = Literal["hit", "miss", "recomputed", "uncached"]


@dataclass(frozen=True, slots=True)
class CacheOutcome:
    """How a result was served.

    ``hit``: from the cache; ``miss``: not stored yet, run and stored; ``recomputed``: the
    stored entry was unusable (``reason`` says why), so it was run and overwritten;
    ``uncached``: run and not stored, because ``reason`` makes it impossible to key safely.
    """

    status: CacheStatus
    cache_key: str | None
    reason: str | None = None


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class BacktestCache:
    """Results in a BacktestResults repository, keyed by everything that decides them.

    ``metrics`` turns a result into the JSON summary stored beside it (for queries; a hit
    returns the result, not the metrics). ``code_version`` pins the code part of the key;
    by default it is :func:`code_version`, plus the user's strategy file.
    """

    def __init__(
        self,
        repository: BacktestResults,
        *,
        metrics: Callable[[BacktestResult], Mapping[str, Any]] | None = None,
        code_version: str | None = None,
        now_ms: Callable[[], int] = _now_ms,
    ) -> None:
        self._repository = repository
        self._metrics = metrics
        self._code_version = code_version
        self._now_ms = now_ms

    def _version(self, strategy: Strategy) -> str | None:
        base = self._code_version if self._code_version is not None else code_version()
        user = strategy_version(strategy)
        if user is None:
            return None
        return f"{base}/{user}" if user else base

    async def get_or_run(
        self,
        candles: Candles,
        strategy: Strategy,
        params: Mapping[str, Any] | None,
        settings: BacktestSettings,
        run: Callable[[], BacktestResult],
        *,
        exchange: str = "",
        variant: str = "",
    ) -> tuple[BacktestResult, CacheOutcome]:
        """Return the stored result of this request, or ``run()`` it and store it.

        ``run`` must backtest exactly these candles, strategy, params and settings; the
        result it returns is checked against them before it is stored.
        """
        resolved = strategy.resolve(params)
        version = self._version(strategy)
        where = {
            "strategy": strategy.name,
            "exchange": exchange,
            "symbol": candles.symbol,
            "timeframe": candles.timeframe,
        }
        if version is None:
            why = (
                f"the source file of strategy {type(strategy).__qualname__} cannot be found, "
                "so an edit to it could not invalidate a cached result"
            )
            log.warning("backtest not cached", reason=why, **where)
            return run(), CacheOutcome("uncached", None, why)
        candles_hash = data_hash(candles)
        key = cache_key(
            candles_hash,
            strategy.name,
            resolved,
            settings,
            version,
            exchange=exchange,
            variant=variant,
        )
        stored = await self._repository.get(key)
        reason: str | None = None
        if stored is not None:
            try:
                cached = decode_result(stored.payload)
                if (stored.data_hash, stored.code_version) != (candles_hash, version):
                    raise UnusablePayloadError(
                        f"the stored row names data {stored.data_hash} and code "
                        f"{stored.code_version}, not the request's"
                    )
                wrong = _mismatches(cached, strategy, resolved, settings, candles, exchange)
                if wrong:
                    raise UnusablePayloadError(
                        f"the stored result is a backtest of {'; '.join(wrong)}"
                    )
            except UnusablePayloadError as e:
                reason = str(e)
            else:
                log.debug("backtest cache hit", cache_key=key, **where)
                return cached, CacheOutcome("hit", key)
            log.warning(
                "cached backtest unusable, recomputing", cache_key=key, reason=reason, **where
            )
        result = run()
        wrong = _mismatches(result, strategy, resolved, settings, candles, exchange)
        if wrong:
            raise InvalidInputError(
                f"run() returned a backtest of {'; '.join(wrong)}; the cache was asked for "
                f"{_request(strategy, resolved, candles, exchange)}. Pass the same request to "
                "run() and to get_or_run(), or the cache would serve the wrong result."
            )
        await self._repository.put(
            StoredBacktest(
                cache_key=key,
                exchange=exchange,
                symbol=candles.symbol,
                timeframe=candles.timeframe,
                strategy=strategy.name,
                params=resolved,
                settings=settings_document(settings),
                data_hash=candles_hash,
                code_version=version,
                metrics=self._metrics(result) if self._metrics is not None else {},
                payload=encode_result(result),
                created_ts_ms=self._now_ms(),
            )
        )
        if reason is None:
            log.debug("backtest cache miss", cache_key=key, **where)
            return result, CacheOutcome("miss", key)
        return result, CacheOutcome("recomputed", key, reason)


def _mismatches(
    result: BacktestResult,
    strategy: Strategy,
    resolved: Mapping[str, Any],
    settings: BacktestSettings,
    candles: Candles,
    exchange: str,
) -> list[str]:
    found = []
    if result.exchange != exchange:
        found.append(f"exchange {result.exchange!r}")
    if (result.symbol, result.timeframe) != (candles.symbol, candles.timeframe):
        found.append(f"candles {result.symbol} {result.timeframe}")
    if result.strategy != strategy.name:
        found.append(f"strategy {result.strategy!r}")
    if strategy.resolve(result.params) != resolved:
        found.append(f"params {dict(result.params)!r}")
    if result.settings != settings:
        found.append(f"settings {result.settings!r}")
    return found


def _request(
    strategy: Strategy, resolved: Mapping[str, Any], candles: Candles, exchange: str
) -> str:
    return (
        f"{strategy.name!r} on {exchange!r} {candles.symbol} {candles.timeframe} "
        f"with params {dict(resolved)!r}"
    )


# -- for synchronous callers ------------------------------------------------------------------


class BlockingBacktestCache:
    """A BacktestCache on the SQL journal for synchronous code, with its own event loop.

    Open it once per command and close it (or use ``with``). The database must hold the
    cache's columns (revision 0002 or later): with ``upgrade=True`` an older schema is
    migrated to head, otherwise StorageError says to run ``xraybot db upgrade``.
    """

    def __init__(
        self,
        config: StorageConfig,
        *,
        metrics: Callable[[BacktestResult], Mapping[str, Any]] | None = None,
        upgrade: bool = False,
    ) -> None:
        self._runner = asyncio.Runner()
        self._engine = create_engine(config)
        try:
            self._runner.run(_ensure_schema(self._engine, upgrade))
        except BaseException:
            self.close()
            raise
        self.cache = BacktestCache(SqlBacktestResults(self._engine), metrics=metrics)

    def get_or_run(
        self,
        candles: Candles,
        strategy: Strategy,
        params: Mapping[str, Any] | None,
        settings: BacktestSettings,
        run: Callable[[], BacktestResult],
        *,
        exchange: str = "",
        variant: str = "",
    ) -> tuple[BacktestResult, CacheOutcome]:
        """See :meth:`BacktestCache.get_or_run`."""
        return self._runner.run(
            self.cache.get_or_run(
                candles, strategy, params, settings, run, exchange=exchange, variant=variant
            )
        )

    def close(self) -> None:
        """Release the database connections and the event loop."""
        try:
            self._runner.run(self._engine.dispose())
        finally:
            self._runner.close()

    def __enter__(self) -> BlockingBacktestCache:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


async def _ensure_schema(engine: AsyncEngine, upgrade: bool) -> None:
    # Probing the columns keeps Alembic (a slow import) out of every run but the first.
    probe = sa.select(tables.backtest_results).limit(0)
    try:
        async with reading(engine, "checking the backtest cache table") as connection:
            await connection.execute(probe)
        return
    except StorageError as e:
        if not upgrade:
            raise StorageError(
                f"the backtest cache cannot use {describe_url(engine.url)}: {e} "
                "Or pass --no-cache to run without the cache."
            ) from e
    from xraybot.storage import migrate

    await migrate.upgrade_async(engine.url)


__all__ = [
    "BacktestCache",
    "BlockingBacktestCache",
    "CacheOutcome",
    "CacheStatus",
    "UnusablePayloadError",
    "cache_key",
    "code_version",
    "data_hash",
    "decode_result",
    "encode_result",
    "strategy_version",
]

"""The result cache: an unchanged request is served without running; anything else runs.

Results are built by hand (the kernel is tested elsewhere); ``Runs`` counts how often the
cache asked for one, which is what "served from the cache" means.
"""

from __future__ import annotations

import dataclasses
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from tests.support.logs import restored_logging
from tests.support.result_cache import Probe, assert_identical, flip, make_candles
from xraybot.backtest.cache import BacktestCache, BlockingBacktestCache, CacheOutcome
from xraybot.backtest.cache_keys import code_version
from xraybot.backtest.results import BacktestResult, BacktestSettings, TradeRecords
from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError, StorageError
from xraybot.risk.exits import ExitRules
from xraybot.runtime.config import LoggingConfig
from xraybot.runtime.logging import configure_logging
from xraybot.storage import StorageConfig, create_engine, migrate, tables
from xraybot.storage.backtests import MemoryBacktestResults, SqlBacktestResults
from xraybot.strategy.base import Strategy
from xraybot.strategy.registry import load_strategy
from xraybot.users.redaction import Redactor


class Runs:
    """A stand-in for run_backtest that builds a result from the request and counts calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(
        self,
        candles: Candles,
        strategy: Strategy,
        params: dict[str, Any] | None,
        settings: BacktestSettings,
        exchange: str = "binance",
    ) -> Any:
        def run() -> BacktestResult:
            self.calls += 1
            n = len(candles)
            pnl = np.array([1.5, -0.25])
            return BacktestResult(
                exchange=exchange,
                symbol=candles.symbol,
                timeframe=candles.timeframe,
                strategy=strategy.name,
                params=strategy.resolve(params),
                settings=settings,
                ts_ms=np.array(candles.ts_ms),
                equity=settings.equity + np.cumsum(candles.close - candles.open[0]) / 1e3,
                exposure=np.linspace(0.0, 1.0, n),
                trades=TradeRecords(
                    entry_ts=candles.ts_ms[[1, 5]].copy(),
                    exit_ts=candles.ts_ms[[3, 9]].copy(),
                    direction=np.array([1, 1], dtype=np.int8),
                    entry_price=candles.open[[2, 6]].copy(),
                    exit_price=candles.open[[4, 10]].copy(),
                    amount=np.array([1.0, 2.0]),
                    fee=np.array([0.2, 0.4]),
                    funding=np.zeros(2),
                    pnl=pnl,
                    exit_reason=np.array([0, 1], dtype=np.int8),
                    entry_index=np.array([2, 6]),
                    exit_index=np.array([4, 10]),
                ),
                close=np.array(candles.close),
            )

        return run


@pytest.fixture
def runs() -> Runs:
    return Runs()


@pytest.fixture
def repository() -> MemoryBacktestResults:
    return MemoryBacktestResults()


@pytest.fixture
def log_lines() -> Iterator[Any]:
    """The cache's lines as the real logging pipeline writes them, parsed."""
    with restored_logging() as buffer:
        configure_logging(LoggingConfig(level="DEBUG", format="json"), Redactor(), buffer)

        def lines() -> list[dict[str, Any]]:
            parsed = [json.loads(line) for line in buffer.getvalue().splitlines() if line]
            return [line for line in parsed if line.get("logger") == "xraybot.backtest.cache"]

        yield lines


async def serve(
    cache: BacktestCache,
    runs: Runs,
    candles: Candles,
    strategy: Strategy | None = None,
    params: dict[str, Any] | None = None,
    settings: BacktestSettings | None = None,
    *,
    exchange: str = "binance",
    variant: str = "",
) -> tuple[BacktestResult, CacheOutcome]:
    strategy = strategy if strategy is not None else Probe()
    settings = settings if settings is not None else BacktestSettings()
    run = runs(candles, strategy, params, settings, exchange)
    return await cache.get_or_run(
        candles, strategy, params, settings, run, exchange=exchange, variant=variant
    )


# -- hits and misses ----------------------------------------------------------------------------


async def test_an_unchanged_request_is_served_without_running(
    repository: MemoryBacktestResults, runs: Runs
) -> None:
    cache = BacktestCache(repository)
    candles = make_candles()

    first, miss = await serve(cache, runs, candles, params={"period": 7})
    again, hit = await serve(cache, runs, make_candles(), params={"period": 7})

    assert runs.calls == 1
    assert miss.status == "miss"
    assert hit == CacheOutcome("hit", miss.cache_key)
    assert_identical(first, again)
    assert len(repository.rows) == 1


async def test_defaults_given_or_omitted_share_an_entry(
    repository: MemoryBacktestResults, runs: Runs
) -> None:
    cache = BacktestCache(repository)
    candles = make_candles()

    await serve(cache, runs, candles, params=None, settings=BacktestSettings(equity=10_000))
    _, outcome = await serve(
        cache, runs, candles, params={"period": 5.0, "level": 0.5}, settings=BacktestSettings()
    )

    assert outcome.status == "hit"
    assert runs.calls == 1


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"candles": make_candles(seed=2)}, id="other-candles"),
        pytest.param({"candles": make_candles(symbol="ETH/USDT")}, id="other-symbol"),
        pytest.param({"candles": make_candles(59)}, id="one-candle-less"),
        pytest.param({"params": {"period": 8}}, id="params"),
        pytest.param({"params": {"level": 0.5000000000000001}}, id="params-last-bit"),
        pytest.param({"settings": BacktestSettings(fee_rate=0.002)}, id="fee"),
        pytest.param(
            {"settings": BacktestSettings(exits=ExitRules(stop_loss_pct=0.05))}, id="exits"
        ),
        pytest.param({"exchange": "okx"}, id="exchange"),
        pytest.param({"variant": "oos-from-40"}, id="variant"),
    ],
)
async def test_any_change_to_the_request_runs_again(
    repository: MemoryBacktestResults, runs: Runs, change: dict[str, Any]
) -> None:
    cache = BacktestCache(repository)
    await serve(cache, runs, make_candles())

    request: dict[str, Any] = {"candles": make_candles()} | change
    _, outcome = await serve(cache, runs, **request)

    assert outcome.status == "miss"
    assert runs.calls == 2
    assert len(repository.rows) == 2


async def test_one_changed_price_is_a_different_dataset(
    repository: MemoryBacktestResults, runs: Runs
) -> None:
    cache = BacktestCache(repository)
    candles = make_candles()
    high = np.array(candles.high)
    high[30] = np.nextafter(high[30], np.inf)
    edited = dataclasses.replace(candles, high=high)

    await serve(cache, runs, candles)
    _, outcome = await serve(cache, runs, edited)

    assert outcome.status == "miss"


async def test_a_new_code_version_runs_again(repository: MemoryBacktestResults, runs: Runs) -> None:
    candles = make_candles()
    await serve(BacktestCache(repository, code_version="0.1.0/aaaa"), runs, candles)

    _, same = await serve(BacktestCache(repository, code_version="0.1.0/aaaa"), runs, candles)
    _, newer = await serve(BacktestCache(repository, code_version="0.1.0/bbbb"), runs, candles)

    assert (same.status, newer.status) == ("hit", "miss")
    assert runs.calls == 2


async def test_the_row_records_what_the_key_was_built_from(
    repository: MemoryBacktestResults, runs: Runs
) -> None:
    cache = BacktestCache(
        repository,
        metrics=lambda r: {"trades": len(r.trades), "profit_factor": float("inf")},
        now_ms=lambda: 1_700_000_000_000,
    )
    _, outcome = await serve(cache, runs, make_candles(), params={"period": 9})

    row = repository.rows[outcome.cache_key or ""]
    assert (row.exchange, row.symbol, row.timeframe, row.strategy) == (
        "binance",
        "BTC/USDT",
        "1h",
        "cache_probe",
    )
    assert row.params == {"period": 9, "level": 0.5}
    assert row.settings["fee_rate"] == 0.001
    assert row.metrics == {"trades": 2, "profit_factor": None}  # JSON has no infinity
    assert row.code_version.startswith(code_version() + "/")  # plus this file's hash
    assert len(row.data_hash) == 64
    assert row.created_ts_ms == 1_700_000_000_000


# -- unusable entries ---------------------------------------------------------------------------


def damage_row(repository: MemoryBacktestResults, key: str, payload: bytes | None) -> None:
    repository.rows[key] = dataclasses.replace(repository.rows[key], payload=payload)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda p: flip(p, len(p) - 100), "checksum mismatch"),
        (lambda p: p[: len(p) // 2], "checksum mismatch"),
        (lambda p: None, "no payload"),
        (lambda p: b"\x00" * 64, "not a cached result"),
    ],
    ids=["flipped-bit", "truncated", "missing", "zeroed"],
)
async def test_a_corrupt_entry_is_recomputed_overwritten_and_logged(
    repository: MemoryBacktestResults, runs: Runs, log_lines: Any, damage: Any, reason: str
) -> None:
    cache = BacktestCache(repository)
    candles = make_candles()
    first, miss = await serve(cache, runs, candles)
    key = miss.cache_key or ""
    damage_row(repository, key, damage(repository.rows[key].payload))

    again, outcome = await serve(cache, runs, candles)
    _, healed = await serve(cache, runs, candles)

    assert outcome.status == "recomputed"
    assert outcome.cache_key == key
    assert reason in (outcome.reason or "")
    assert runs.calls == 2
    assert_identical(first, again)
    assert healed.status == "hit"
    warnings = [line for line in log_lines() if line["level"] == "warning"]
    assert len(warnings) == 1
    assert warnings[0]["event"] == "cached backtest unusable, recomputing"
    assert reason in warnings[0]["reason"]
    assert warnings[0]["cache_key"] == key
    assert (warnings[0]["symbol"], warnings[0]["strategy"]) == ("BTC/USDT", "cache_probe")


async def test_a_payload_copied_from_another_request_is_not_served(
    repository: MemoryBacktestResults, runs: Runs, log_lines: Any
) -> None:
    cache = BacktestCache(repository)
    _, btc = await serve(cache, runs, make_candles())
    _, eth = await serve(cache, runs, make_candles(symbol="ETH/USDT"))
    foreign = repository.rows[eth.cache_key or ""].payload
    damage_row(repository, btc.cache_key or "", foreign)

    result, outcome = await serve(cache, runs, make_candles())

    assert outcome.status == "recomputed"
    assert "ETH/USDT" in (outcome.reason or "")
    assert result.symbol == "BTC/USDT"
    (warning,) = [line for line in log_lines() if line["level"] == "warning"]
    assert "ETH/USDT" in warning["reason"]


async def test_a_run_that_answers_another_request_is_refused_and_not_stored(
    repository: MemoryBacktestResults, runs: Runs
) -> None:
    cache = BacktestCache(repository)
    candles = make_candles()
    wrong = runs(candles, Probe(), {"period": 9}, BacktestSettings(), "binance")

    with pytest.raises(InvalidInputError, match="params"):
        await cache.get_or_run(
            candles, Probe(), {"period": 8}, BacktestSettings(), wrong, exchange="binance"
        )
    assert repository.rows == {}


# -- user strategies ----------------------------------------------------------------------------

STRATEGY_FILE = """
import numpy as np
from xraybot.strategy.base import Param, Signals, Strategy


class FileProbe(Strategy):
    name = "file_probe"
    parameters = (Param("period", 5, low=2, high=50),)

    def signals(self, candles, params, cache=None):
        up = candles.close > candles.open  # RULE
        return Signals(entry_long=up, exit_long=~up)
"""


async def test_editing_a_user_strategy_file_runs_again(
    tmp_path: Path, repository: MemoryBacktestResults, runs: Runs
) -> None:
    path = tmp_path / "file_probe.py"
    path.write_text(textwrap.dedent(STRATEGY_FILE))
    cache = BacktestCache(repository)
    candles = make_candles()

    _, first = await serve(cache, runs, candles, load_strategy(str(path)))
    _, reloaded = await serve(cache, runs, candles, load_strategy(str(path)))
    path.write_text(STRATEGY_FILE.replace("candles.close > candles.open", "candles.close > 0"))
    _, edited = await serve(cache, runs, candles, load_strategy(str(path)))

    assert (first.status, reloaded.status, edited.status) == ("miss", "hit", "miss")
    assert runs.calls == 2


async def test_a_strategy_without_a_source_file_is_run_and_not_cached(
    repository: MemoryBacktestResults, runs: Runs, log_lines: Any
) -> None:
    namespace: dict[str, Any] = {}
    exec(textwrap.dedent(STRATEGY_FILE), namespace)  # noqa: S102 - a class with no file
    strategy = namespace["FileProbe"]()
    cache = BacktestCache(repository)

    _, first = await serve(cache, runs, make_candles(), strategy)
    _, second = await serve(cache, runs, make_candles(), strategy)

    assert first.status == second.status == "uncached"
    assert "source file" in (first.reason or "")
    assert runs.calls == 2
    assert repository.rows == {}
    assert log_lines()[0]["event"] == "backtest not cached"


# -- on the SQL journal -------------------------------------------------------------------------


@pytest.fixture
def sqlite_config(tmp_path: Path) -> StorageConfig:
    config = StorageConfig(data_dir=tmp_path / "data")
    migrate.upgrade(config.sqlalchemy_url())
    return config


async def test_on_sqlite_a_hit_survives_the_process_and_corruption_heals(
    sqlite_config: StorageConfig, runs: Runs, log_lines: Any
) -> None:
    candles = make_candles(500)
    engine = create_engine(sqlite_config)
    try:
        _, miss = await serve(BacktestCache(SqlBacktestResults(engine)), runs, candles)
    finally:
        await engine.dispose()

    engine = create_engine(sqlite_config)  # a new engine: nothing held in memory
    try:
        cache = BacktestCache(SqlBacktestResults(engine))
        _, hit = await serve(cache, runs, candles)
        table = tables.backtest_results
        async with engine.begin() as connection:
            await connection.execute(
                sa.update(table).where(table.c.cache_key == miss.cache_key).values(payload=b"junk")
            )
        _, recomputed = await serve(cache, runs, candles)
        _, healed = await serve(cache, runs, candles)
        async with engine.connect() as connection:
            rows = (
                await connection.execute(sa.select(sa.func.count()).select_from(table))
            ).scalar()
    finally:
        await engine.dispose()

    assert (miss.status, hit.status, recomputed.status, healed.status) == (
        "miss",
        "hit",
        "recomputed",
        "hit",
    )
    assert "truncated" in (recomputed.reason or "")
    assert runs.calls == 2
    assert rows == 1
    assert any("truncated" in line.get("reason", "") for line in log_lines())


def test_the_blocking_cache_serves_synchronous_callers(tmp_path: Path, runs: Runs) -> None:
    config = StorageConfig(data_dir=tmp_path / "fresh")
    candles, strategy, settings = make_candles(), Probe(), BacktestSettings()
    run = runs(candles, strategy, None, settings, "binance")

    with pytest.raises(StorageError, match="xraybot db upgrade"):
        BlockingBacktestCache(config)
    with BlockingBacktestCache(config, upgrade=True) as cache:
        _, first = cache.get_or_run(candles, strategy, None, settings, run, exchange="binance")
    with BlockingBacktestCache(config) as cache:
        _, second = cache.get_or_run(candles, strategy, None, settings, run, exchange="binance")

    assert (first.status, second.status) == ("miss", "hit")
    assert runs.calls == 1

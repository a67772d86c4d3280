"""The backtest result cache for commands: the SQL journal named by the configuration."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from xraybot.cli.state import state_of

if TYPE_CHECKING:
    from xraybot.backtest.cache import BlockingBacktestCache


def open_cache(ctx: typer.Context) -> BlockingBacktestCache:
    """Open the cache; the default SQLite journal is migrated on first use so a fresh
    machine needs no set-up, while a configured database must be upgraded explicitly."""
    from xraybot.backtest.cache import BlockingBacktestCache
    from xraybot.backtest.metrics import compute_metrics

    storage = state_of(ctx).context().config.storage
    return BlockingBacktestCache(
        storage,
        metrics=lambda result: compute_metrics(result).to_dict(),
        upgrade=storage.database_url is None,
    )

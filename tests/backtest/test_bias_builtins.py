"""Every built-in strategy passes both bias checks at its defaults, on a random walk and on
real candles, and declares a warm-up at least as long as the one it measurably needs."""

from __future__ import annotations

from functools import cache

import pytest

from tests.indicators.series import random_walk, read_csv
from tests.support.shared import REFERENCE_DIR, needs_reference
from xraybot.backtest.bias import check_bias
from xraybot.model.candles import Candles
from xraybot.strategy.registry import builtin_names, load_strategy


@cache
def series(source: str) -> Candles:
    if source == "walk":
        return random_walk(6000, seed=5)
    return read_csv(REFERENCE_DIR / "data" / "binance" / f"{source}.csv.gz", 1_000_000)


def check(name: str, source: str) -> None:
    report = check_bias(load_strategy(name), series(source))
    assert report.lookahead.passed, report.lookahead.describe()
    assert report.warmup.passed, report.warmup.describe()
    suggested = report.warmup.suggested_warmup
    assert suggested is not None
    assert suggested <= report.warmup.declared


@pytest.mark.parametrize("name", builtin_names())
def test_builtin_has_no_bias_on_a_random_walk(name: str) -> None:
    check(name, "walk")


@needs_reference
@pytest.mark.parametrize("name", builtin_names())
# TRUMP and WLD hold closes that sit exactly on a Bollinger middle band: bands whose last
# bits depended on the start flipped crossings there.
@pytest.mark.parametrize("source", ["BTC_USDT-1h", "ETH_USDT-1h", "TRUMP_USDT-1h", "WLD_USDT-1h"])
def test_builtin_has_no_bias_on_real_candles(name: str, source: str) -> None:
    check(name, source)

"""Screening as of a past time: stored data only, and nothing stored after that time used.

The proof: a store holding the whole history, whose candles after ``as_of`` are wild
(prices ×1000, volumes ×10⁶), must screen exactly like a store that was only ever given
the candles closed by ``as_of``.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.xray import DAY, HOUR, LISTINGS, MIDDLE, T0, fill
from xraybot.data.store import CandleStore
from xraybot.data.universe import UniverseStore
from xraybot.model.errors import InvalidInputError
from xraybot.xray.config import ScreenConfig
from xraybot.xray.screen_result import ScreenResult
from xraybot.xray.screener import run_screen

CONFIG = ScreenConfig(candles=60, min_listing_days=2, min_quote_volume="p30", top=5)


def screen(root: Path, as_of_ms: int, source: Any = "sim", **kwargs: Any) -> ScreenResult:
    return asyncio.run(
        run_screen(
            source,
            kwargs.pop("config", CONFIG),
            store=CandleStore(root),
            universe=UniverseStore(root),
            as_of_ms=as_of_ms,
            **kwargs,
        )
    )


def comparable(result: ScreenResult) -> dict[str, Any]:
    data = result.as_dict()
    del data["elapsed_s"]
    return data


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("full")
    fill(root, None)
    return root


class NoExchange:
    """An exchange that fails the test if anything but its name is used."""

    exchange_id = "sim"

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the as-of screen asked the exchange for {name}")


def test_as_of_screens_stored_data_only(full: Path) -> None:
    result = screen(full, MIDDLE, NoExchange())
    assert result.requests == 0
    assert result.as_of_ms == MIDDLE
    symbols = [r.symbol for r in result.passed] + [
        r.symbol for rs in result.rejected.values() for r in rs
    ]
    # GGG was not listed yet, the swap is no spot market: neither is a candidate.
    assert sorted(symbols) == sorted(s for s in LISTINGS if s not in ("GGG/USDT", "HHH/USDT:USDT"))
    assert result.universe_size == 7
    market = {r.symbol: r.reason for r in result.rejected["market"]}
    assert market == {"FFF/USDT": "delisted: no candle after 2025-01-13 00:00Z"}
    blacklisted = {r.symbol: r.reason for r in result.rejected["blacklist"]}
    assert list(blacklisted) == ["USDC/USDT"]
    assert re.fullmatch(r"stablecoin \(USDC at (0\.99|1\.00)\d*\)", blacklisted["USDC/USDT"])
    assert "spread" not in result.rejected
    assert any("no spread filter" in note for note in result.notes)
    listing = {r.symbol: r.reason for r in result.rejected["listing_age"]}
    assert listing == {"EEE/USDT": "listed 1.3 days < 2.0 days"}
    assert result.passed
    for row in result.passed:
        assert row.spread_pct is None
        assert row.last < 100  # never a price from after as_of (those are ×1000)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(offset_h=st.integers(min_value=4 * 24, max_value=39 * 24))
def test_nothing_after_as_of_is_used(full: Path, offset_h: int) -> None:
    # The full store is wild after MIDDLE only; the truncated one is built for this as_of.
    as_of = T0 + offset_h * HOUR + 17 * 60_000  # not on a candle boundary either
    if as_of > MIDDLE:
        as_of = MIDDLE - (as_of - MIDDLE) % (15 * DAY)
    with tempfile.TemporaryDirectory() as tmp:
        fill(Path(tmp), as_of)
        expected = comparable(screen(Path(tmp), as_of))
    assert expected["passed"]  # something to compare, not an empty screen twice
    assert comparable(screen(full, as_of)) == expected


def test_the_same_chain_reports_an_emptying_filter(full: Path) -> None:
    config = ScreenConfig(candles=60, min_listing_days=2, min_quote_volume=1e12)
    result = screen(full, MIDDLE, config=config)
    assert result.emptied_by == "quote_volume"
    assert result.distributions["quote_volume"]["max"] < 1e12


def test_as_of_needs_both_stores_and_live_needs_a_gateway(full: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"pass store .* and universe"):
        asyncio.run(run_screen("sim", CONFIG, store=CandleStore(full), as_of_ms=MIDDLE))
    with pytest.raises(InvalidInputError, match="a live screen needs an exchange gateway"):
        asyncio.run(run_screen("sim", CONFIG))


def test_an_empty_store_screens_an_empty_universe(tmp_path: Path) -> None:
    result = screen(tmp_path, MIDDLE)
    assert result.universe_size == 0
    assert result.passed == ()
    assert "the universe is empty" in result.notes

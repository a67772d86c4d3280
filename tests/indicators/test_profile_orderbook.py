"""Volume profile and order-book imbalance against values worked out by hand."""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal

import numpy as np
import pytest

from tests.indicators.series import HOUR_MS, from_columns, real_candles
from xraybot.indicators import orderbook_imbalance, volume_profile
from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError


def candles(rows: Sequence[tuple[float, float, float]]) -> Candles:
    """Hourly candles from (low, high, volume) rows; open and close at the midpoint."""
    low, high, volume = (np.array(col, dtype=np.float64) for col in zip(*rows, strict=True))
    mid = (low + high) / 2
    ts = HOUR_MS * np.arange(1, len(rows) + 1, dtype=np.int64)
    return from_columns(ts, mid, high, low, mid, volume)


# Prices 10..14 in 4 bins of 1. A candle's volume spreads evenly over its own range:
# 10-12 ×2 → 1, 1; 11-14 ×3 → 0, 1, 1, 1; a doji at 12.5 ×4 → bin 2; 13-14 ×0.5 → bin 3.
HAND = candles([(10, 12, 2), (11, 14, 3), (12.5, 12.5, 4), (13, 14, 0.5)])


def test_volume_spreads_over_each_candles_range() -> None:
    profile = volume_profile(HAND, bins=4)
    np.testing.assert_array_equal(profile.bin_edges, [10, 11, 12, 13, 14])
    np.testing.assert_array_equal(profile.volumes, [1, 2, 5, 1.5])
    assert profile.poc == 12.5


@pytest.mark.parametrize(
    ("share", "low", "high"),
    [
        # 5 of 9.5 in the POC bin alone covers 50 %.
        (0.5, 12, 13),
        # 70 % = 6.65: bins 1-2 hold 7, bins 2-3 only 6.5, so the area extends down.
        (0.7, 11, 13),
        # 80 % = 7.6: no pair is enough; 1-3 holds 8.5 and 0-2 holds 8; both are three bins
        # wide, and the one holding more wins.
        (0.8, 11, 14),
        (1.0, 10, 14),
    ],
)
def test_value_area_is_the_narrowest_run_around_the_poc(
    share: float, low: float, high: float
) -> None:
    profile = volume_profile(HAND, bins=4, value_area=share)
    assert (profile.value_area_low, profile.value_area_high) == (low, high)


def test_value_area_of_exactly_the_share_is_not_lost_to_rounding() -> None:
    # Bins 1-2 hold exactly 55 of 100, but 0.55 * 100 is 55.00000000000001 in floats.
    rows = [(10, 11, 30), (11, 12, 15), (12, 13, 40), (13, 14, 10), (14, 15, 5)]
    profile = volume_profile(candles(rows), bins=5, value_area=0.55)
    assert 0.55 * 100 > 55
    assert (profile.value_area_low, profile.value_area_high) == (11, 13)


def test_flat_and_silent_markets() -> None:
    flat = volume_profile(candles([(5, 5, 1), (5, 5, 2)]), bins=3)
    assert (flat.poc, flat.value_area_low, flat.value_area_high) == (5, 5, 5)
    np.testing.assert_array_equal(flat.volumes, [3, 0, 0])
    silent = volume_profile(candles([(5, 6, 0), (6, 7, 0)]), bins=2)
    assert math.isnan(silent.poc)
    assert math.isnan(silent.value_area_high)
    np.testing.assert_array_equal(silent.volumes, [0, 0])
    flat_silent = volume_profile(candles([(5, 5, 0)]))
    assert math.isnan(flat_silent.poc)


def test_profile_of_real_candles_keeps_the_volume_and_brackets_the_poc() -> None:
    c = real_candles()
    for start in range(0, len(c) - 200, 300):
        window = c.tail(len(c) - start).between(None, int(c.ts_ms[start + 200]))
        profile = volume_profile(window, bins=24, value_area=0.7)
        assert profile.volumes.sum() == pytest.approx(window.volume.sum(), rel=1e-9)
        assert profile.bin_edges[0] == window.low.min()
        assert profile.bin_edges[-1] == window.high.max()
        assert profile.value_area_low <= profile.poc <= profile.value_area_high
        inside = (profile.bin_edges[:-1] >= profile.value_area_low) & (
            profile.bin_edges[1:] <= profile.value_area_high
        )
        assert profile.volumes[inside].sum() >= 0.7 * profile.volumes.sum() * (1 - 1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bins": 0}, r"bins must be an integer from 1 .* found 0"),
        ({"value_area": 0.0}, r"value_area must be in \(0, 1\]; found 0.0"),
        ({"value_area": 1.5}, r"value_area must be in \(0, 1\]; found 1.5"),
        ({"value_area": "70%"}, r"value_area must be a real number; found '70%'"),
    ],
)
def test_profile_arguments_are_checked(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        volume_profile(HAND, **kwargs)  # type: ignore[arg-type]


def test_profile_needs_a_candle() -> None:
    with pytest.raises(InvalidInputError, match=r"at least one candle .* found 0"):
        volume_profile(Candles.empty("BTC/USDT", "1h"))


# -- order-book imbalance -------------------------------------------------------------------

BIDS = [(100.0, 2.0), (99.0, 3.0), (98.0, 10.0)]
ASKS = [(101.0, 1.0), (102.0, 4.0)]


def test_imbalance_by_hand() -> None:
    assert orderbook_imbalance(BIDS, ASKS, depth=1) == pytest.approx(1 / 3)  # (2 - 1) / 3
    assert orderbook_imbalance(BIDS, ASKS, depth=2) == 0.0  # (5 - 5) / 10
    assert orderbook_imbalance(BIDS, ASKS) == pytest.approx(10 / 20)  # (15 - 5) / 20
    assert orderbook_imbalance(BIDS, []) == 1.0
    assert orderbook_imbalance([], ASKS) == -1.0
    assert math.isnan(orderbook_imbalance([], []))
    assert math.isnan(orderbook_imbalance([(1.0, 0.0)], [(2.0, 0.0)]))


def test_imbalance_takes_decimal_pairs_and_ccxt_lists() -> None:
    bids = ((Decimal("100"), Decimal("2")), (Decimal("99"), Decimal("3")))
    asks = ((Decimal("101"), Decimal("1")),)
    assert orderbook_imbalance(bids, asks) == pytest.approx(4 / 6)
    # ccxt levels are lists and may carry a third field.
    assert orderbook_imbalance([[100.0, 2.0, 7]], [[101.0, 2.0, 8]]) == 0.0
    as_array = orderbook_imbalance(np.array(BIDS), np.array(ASKS), depth=1)  # type: ignore[arg-type]
    assert as_array == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    ("bids", "asks", "depth", "message"),
    [
        (BIDS, ASKS, 0, r"depth must be an integer from 1 .* found 0"),
        (BIDS[::-1], ASKS, 10, r"bids must be best first \(descending prices\); found 99.0 after"),
        (BIDS, ASKS[::-1], 10, r"asks must be best first \(ascending prices\); found 101.0 after"),
        ([(100.0, -1.0)], ASKS, 10, r"bids\[0\] amount must be finite and >= 0; found -1.0"),
        (BIDS, [(0.0, 1.0)], 10, r"asks\[0\] price must be finite and > 0; found 0.0"),
        (BIDS, [(101.0,)], 10, r"asks\[0\] must be a \(price, amount\) pair; found \(101.0,\)"),
        (BIDS, [("a", 1)], 10, r"asks\[0\] must be a \(price, amount\) pair"),
        ("bids", ASKS, 10, r"bids must be a sequence of \(price, amount\) pairs.* found str"),
        ({"a": 1}, ASKS, 10, r"found dict"),
    ],
)
def test_imbalance_input_is_checked(bids: object, asks: object, depth: int, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        orderbook_imbalance(bids, asks, depth)  # type: ignore[arg-type]


def test_levels_beyond_depth_are_not_checked_or_counted() -> None:
    unsorted_tail = [(100.0, 1.0), (99.0, 1.0), (120.0, -5.0)]
    assert orderbook_imbalance(unsorted_tail, ASKS, depth=2) == pytest.approx((2 - 5) / 7)

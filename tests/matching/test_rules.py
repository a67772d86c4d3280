"""rules.py: market, limit and stop fills, and the intrabar stop-loss / take-profit exit."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xraybot.matching import rules
from xraybot.matching.rules import (
    BUY,
    EXIT_NONE,
    EXIT_STOP_LOSS,
    EXIT_TAKE_PROFIT,
    LONG,
    SELL,
    SHORT,
    bar_limit_fill,
    bar_stop_fill,
    intrabar_exit,
    limit_fill_on_arrival,
    limit_fill_resting,
    market_fill_price,
    stop_triggered,
)
from xraybot.model.errors import InvalidInputError
from xraybot.model.signals import Direction, Side

NAN = math.nan
SL, TP = EXIT_STOP_LOSS, EXIT_TAKE_PROFIT

prices = st.floats(min_value=1e-6, max_value=1e9, allow_nan=False, allow_infinity=False)
rates = st.floats(min_value=0.0, max_value=0.5, exclude_max=True)


@st.composite
def candles(draw: st.DrawFn) -> tuple[float, float, float]:
    """A consistent candle ``(open, high, low)`` with ``low <= open <= high``."""
    a, b, c = sorted(draw(st.lists(prices, min_size=3, max_size=3)))
    return b, c, a


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


# --------------------------------------------------------------------------- codes


def test_exit_reason_names_round_trip_and_match_the_journal() -> None:
    for code, name in rules.EXIT_REASON_NAMES.items():
        assert rules.exit_reason_code(name) == code
        assert rules.exit_reason_name(code) == name
    assert rules.exit_reason_name(EXIT_STOP_LOSS) == "stop_loss"
    assert rules.exit_reason_name(EXIT_TAKE_PROFIT) == "take_profit"
    assert rules.exit_reason_name(rules.EXIT_END) == "end"


def test_unknown_exit_reasons_are_refused_naming_the_value() -> None:
    with pytest.raises(InvalidInputError, match="found 99"):
        rules.exit_reason_name(99)
    with pytest.raises(InvalidInputError, match="found 'stoploss'"):
        rules.exit_reason_code("stoploss")


def test_model_sides_and_directions_map_to_codes() -> None:
    assert (rules.side_code(Side.BUY), rules.side_code(Side.SELL)) == (BUY, SELL)
    assert (rules.direction_code(Direction.LONG), rules.direction_code(Direction.SHORT)) == (
        LONG,
        SHORT,
    )


# --------------------------------------------------------------------------- market


@pytest.mark.parametrize(
    ("side", "bid", "ask", "slip", "expected"),
    [
        (BUY, 99.0, 101.0, 0.0, 101.0),
        (SELL, 99.0, 101.0, 0.0, 99.0),
        (BUY, 99.0, 100.0, 0.01, 101.0),
        (SELL, 100.0, 101.0, 0.01, 99.0),
        (BUY, 99.0, NAN, 0.0, NAN),  # empty ask side
        (BUY, 99.0, 0.0, 0.0, NAN),
        (SELL, NAN, 101.0, 0.0, NAN),
        (SELL, 99.0, NAN, 0.0, 99.0),  # a sell reads only the bid
        (BUY, 99.0, 101.0, -0.01, NAN),  # slippage never improves a price
        (SELL, 99.0, 101.0, 1.0, NAN),
        (BUY, 99.0, 101.0, NAN, NAN),
        (0, 99.0, 101.0, 0.0, NAN),
    ],
)
def test_market_fill_price(side: int, bid: float, ask: float, slip: float, expected: float) -> None:
    assert market_fill_price(side, bid, ask, slip) == pytest.approx(expected, nan_ok=True)


@given(bid=prices, ask=prices, slip=rates)
def test_market_buys_pay_at_least_the_ask_and_sells_get_at_most_the_bid(
    bid: float, ask: float, slip: float
) -> None:
    assert market_fill_price(BUY, bid, ask, slip) >= ask
    assert market_fill_price(SELL, bid, ask, slip) <= bid


# --------------------------------------------------------------------------- limit on quotes


@pytest.mark.parametrize(
    ("side", "limit", "bid", "ask", "arrival", "resting"),
    [
        (BUY, 100.0, 98.0, 99.0, 99.0, 100.0),  # crosses: taker at the ask; resting: at limit
        (BUY, 100.0, 99.0, 100.0, 100.0, 100.0),  # touch counts
        (BUY, 100.0, 100.5, 101.0, NAN, NAN),
        (SELL, 100.0, 101.0, 102.0, 101.0, 100.0),
        (SELL, 100.0, 100.0, 101.0, 100.0, 100.0),
        (SELL, 100.0, 99.0, 99.5, NAN, NAN),
        (BUY, 100.0, 98.0, NAN, NAN, NAN),  # no asks: rests
        (BUY, 100.0, 98.0, 0.0, NAN, NAN),
        (SELL, 100.0, NAN, 102.0, NAN, NAN),
        (BUY, NAN, 98.0, 99.0, NAN, NAN),
        (2, 100.0, 98.0, 99.0, NAN, NAN),
    ],
)
def test_limit_fills_on_quotes(
    side: int, limit: float, bid: float, ask: float, arrival: float, resting: float
) -> None:
    assert same(limit_fill_on_arrival(side, limit, bid, ask), arrival)
    assert same(limit_fill_resting(side, limit, bid, ask), resting)


@given(limit=prices, bid=prices, ask=prices)
def test_limit_orders_never_fill_beyond_their_limit(limit: float, bid: float, ask: float) -> None:
    for fill in (
        limit_fill_on_arrival(BUY, limit, bid, ask),
        limit_fill_resting(BUY, limit, bid, ask),
    ):
        assert math.isnan(fill) or fill <= limit
        assert math.isnan(fill) == (ask > limit)
    for fill in (
        limit_fill_on_arrival(SELL, limit, bid, ask),
        limit_fill_resting(SELL, limit, bid, ask),
    ):
        assert math.isnan(fill) or fill >= limit
        assert math.isnan(fill) == (bid < limit)


# --------------------------------------------------------------------------- limit on candles


@pytest.mark.parametrize(
    ("side", "limit", "o", "h", "lo", "expected"),
    [
        (BUY, 95.0, 100.0, 105.0, 94.0, 95.0),  # reached intrabar: at the limit
        (BUY, 95.0, 100.0, 105.0, 95.0, 95.0),  # touch counts
        (BUY, 95.0, 100.0, 105.0, 95.5, NAN),
        (BUY, 95.0, 93.0, 96.0, 92.0, 93.0),  # gapped below: at the open
        (SELL, 105.0, 100.0, 106.0, 99.0, 105.0),
        (SELL, 105.0, 100.0, 104.9, 99.0, NAN),
        (SELL, 105.0, 107.0, 108.0, 106.0, 107.0),  # gapped above: at the open
        (BUY, 95.0, NAN, 105.0, 94.0, NAN),
        (BUY, 95.0, 100.0, 105.0, NAN, NAN),
        (BUY, NAN, 100.0, 105.0, 94.0, NAN),
        (0, 95.0, 100.0, 105.0, 94.0, NAN),
    ],
)
def test_bar_limit_fill(
    side: int, limit: float, o: float, h: float, lo: float, expected: float
) -> None:
    assert same(bar_limit_fill(side, limit, o, h, lo), expected)


@given(limit=prices, candle=candles())
def test_bar_limit_fills_within_the_candle_and_never_beyond_the_limit(
    limit: float, candle: tuple[float, float, float]
) -> None:
    o, h, lo = candle
    buy = bar_limit_fill(BUY, limit, o, h, lo)
    assert math.isnan(buy) == (lo > limit)
    assert math.isnan(buy) or lo <= buy <= min(limit, h)
    sell = bar_limit_fill(SELL, limit, o, h, lo)
    assert math.isnan(sell) == (h < limit)
    assert math.isnan(sell) or max(limit, lo) <= sell <= h


# --------------------------------------------------------------------------- stops


@pytest.mark.parametrize(
    ("side", "stop", "last", "expected"),
    [
        (BUY, 100.0, 100.0, True),
        (BUY, 100.0, 99.9, False),
        (SELL, 100.0, 100.0, True),
        (SELL, 100.0, 100.1, False),
        (BUY, 100.0, NAN, False),
        (SELL, NAN, 50.0, False),
        (0, 100.0, 100.0, False),
    ],
)
def test_stop_triggered(side: int, stop: float, last: float, expected: bool) -> None:
    assert stop_triggered(side, stop, last) is expected


@pytest.mark.parametrize(
    ("side", "stop", "o", "h", "lo", "expected"),
    [
        (BUY, 105.0, 100.0, 106.0, 99.0, 105.0),
        (BUY, 105.0, 100.0, 104.0, 99.0, NAN),
        (BUY, 105.0, 107.0, 108.0, 106.0, 107.0),  # gapped above: at the open
        (SELL, 95.0, 100.0, 101.0, 94.0, 95.0),
        (SELL, 95.0, 100.0, 101.0, 95.0, 95.0),
        (SELL, 95.0, 100.0, 101.0, 96.0, NAN),
        (SELL, 95.0, 90.0, 92.0, 89.0, 90.0),  # gapped below: at the open
        (SELL, 95.0, NAN, 101.0, 94.0, NAN),
        (SELL, NAN, 100.0, 101.0, 94.0, NAN),
        (-2, 95.0, 100.0, 101.0, 94.0, NAN),
    ],
)
def test_bar_stop_fill(
    side: int, stop: float, o: float, h: float, lo: float, expected: float
) -> None:
    assert same(bar_stop_fill(side, stop, o, h, lo), expected)


@given(stop=prices, candle=candles())
def test_bar_stops_fill_within_the_candle_at_or_beyond_the_stop(
    stop: float, candle: tuple[float, float, float]
) -> None:
    o, h, lo = candle
    buy = bar_stop_fill(BUY, stop, o, h, lo)
    assert math.isnan(buy) == (h < stop)
    assert math.isnan(buy) or max(stop, lo) <= buy <= h
    sell = bar_stop_fill(SELL, stop, o, h, lo)
    assert math.isnan(sell) == (lo > stop)
    assert math.isnan(sell) or lo <= sell <= min(stop, h)


# --------------------------------------------------------------------------- intrabar exit


@pytest.mark.parametrize(
    ("direction", "o", "h", "lo", "stop", "target", "price", "reason"),
    [
        # long, stop 97, target 106
        (LONG, 100.0, 101.0, 98.0, 97.0, 106.0, NAN, EXIT_NONE),
        (LONG, 100.0, 101.0, 97.0, 97.0, 106.0, 97.0, SL),  # touch counts
        (LONG, 100.0, 101.0, 96.0, 97.0, 106.0, 97.0, SL),
        (LONG, 95.0, 96.0, 94.0, 97.0, 106.0, 95.0, SL),  # gapped below the stop
        (LONG, 100.0, 106.0, 98.0, 97.0, 106.0, 106.0, TP),
        (LONG, 108.0, 109.0, 107.0, 97.0, 106.0, 108.0, TP),  # gapped above the target
        (LONG, 100.0, 107.0, 96.0, 97.0, 106.0, 97.0, SL),  # both touched: the stop
        (LONG, 100.0, 101.0, 90.0, NAN, 106.0, NAN, EXIT_NONE),  # no stop
        (LONG, 100.0, 110.0, 90.0, 97.0, NAN, 97.0, SL),
        (LONG, 100.0, 110.0, 99.0, 97.0, NAN, NAN, EXIT_NONE),  # no target
        (LONG, 100.0, 110.0, 90.0, NAN, NAN, NAN, EXIT_NONE),
        # short, stop 103, target 94
        (SHORT, 100.0, 102.0, 95.0, 103.0, 94.0, NAN, EXIT_NONE),
        (SHORT, 100.0, 103.0, 95.0, 103.0, 94.0, 103.0, SL),
        (SHORT, 105.0, 106.0, 104.0, 103.0, 94.0, 105.0, SL),  # gapped above the stop
        (SHORT, 100.0, 102.0, 94.0, 103.0, 94.0, 94.0, TP),
        (SHORT, 92.0, 93.0, 91.0, 103.0, 94.0, 92.0, TP),  # gapped below the target
        (SHORT, 100.0, 104.0, 93.0, 103.0, 94.0, 103.0, SL),  # both touched: the stop
        (SHORT, 100.0, 110.0, 90.0, NAN, 94.0, 94.0, TP),
        # bad input
        (LONG, NAN, 101.0, 96.0, 97.0, 106.0, NAN, EXIT_NONE),
        (LONG, 100.0, NAN, 96.0, 97.0, 106.0, NAN, EXIT_NONE),
        (SHORT, 100.0, 104.0, NAN, 103.0, 94.0, NAN, EXIT_NONE),
        (0, 100.0, 110.0, 90.0, 97.0, 106.0, NAN, EXIT_NONE),
    ],
)
def test_intrabar_exit(
    direction: int,
    o: float,
    h: float,
    lo: float,
    stop: float,
    target: float,
    price: float,
    reason: int,
) -> None:
    found_price, found_reason = intrabar_exit(direction, o, h, lo, stop, target)
    assert found_reason == reason
    assert same(found_price, price)


optional_levels = st.one_of(st.just(NAN), prices)


@given(candle=candles(), stop=optional_levels, target=optional_levels)
def test_intrabar_exit_invariants_long(
    candle: tuple[float, float, float], stop: float, target: float
) -> None:
    o, h, lo = candle
    price, reason = intrabar_exit(LONG, o, h, lo, stop, target)
    if lo <= stop:  # the stop wins whenever it is touched, whatever the target
        assert reason == SL
        assert lo <= price <= stop
        assert price == min(stop, o)
    elif h >= target:
        assert reason == TP
        assert target <= price <= h
        assert price == max(target, o)
    else:
        assert (reason, math.isnan(price)) == (EXIT_NONE, True)


@given(candle=candles(), stop=optional_levels, target=optional_levels)
def test_intrabar_exit_invariants_short(
    candle: tuple[float, float, float], stop: float, target: float
) -> None:
    o, h, lo = candle
    price, reason = intrabar_exit(SHORT, o, h, lo, stop, target)
    if h >= stop:
        assert reason == SL
        assert stop <= price <= h
        assert price == max(stop, o)
    elif lo <= target:
        assert reason == TP
        assert lo <= price <= target
        assert price == min(target, o)
    else:
        assert (reason, math.isnan(price)) == (EXIT_NONE, True)


@given(candle=candles(), stop=optional_levels, target=optional_levels)
def test_a_short_exit_is_the_long_exit_of_the_mirrored_candle(
    candle: tuple[float, float, float], stop: float, target: float
) -> None:
    o, h, lo = candle
    long_price, long_reason = intrabar_exit(LONG, o, h, lo, stop, target)
    short_price, short_reason = intrabar_exit(SHORT, -o, -lo, -h, -stop, -target)
    assert short_reason == long_reason
    assert same(short_price, -long_price)

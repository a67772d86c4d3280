"""fills.py: the simulator's Decimal prices and fees come from matching.rules and matching.costs."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xraybot.matching import costs, rules
from xraybot.model.errors import InvalidInputError
from xraybot.model.market import Rounding, round_to_tick
from xraybot.sim import fills
from xraybot.sim.book import Top

D = Decimal
TICKS = [D(1).scaleb(-places) for places in range(9)]


def top(bid: str | int, ask: str | int) -> Top:
    return Top(ts_ms=1, last=D(bid), bid=D(bid), ask=D(ask))


@st.composite
def books(draw: st.DrawFn) -> tuple[Top, Decimal]:
    """A quote on a tick, ``0 < bid < ask``, as ``top_of_book`` makes them; and the tick."""
    tick = draw(st.sampled_from(TICKS))
    bid = tick * draw(st.integers(1, 10**8))
    ask = bid + tick * draw(st.integers(1, 1_000))
    return Top(ts_ms=1, last=bid, bid=bid, ask=ask), tick


slippages = st.sampled_from([D(0), D("0.0005"), D("0.001"), D("0.01"), D("0.1"), D("0.5")])


# -- market orders ---------------------------------------------------------------------


def test_market_orders_take_the_far_side_moved_by_slippage_and_rounded_against_the_taker() -> None:
    book = top(99, 101)
    assert fills.market_fill_price(True, book, D("0.01"), D(1)) == 103  # 102.01 up
    assert fills.market_fill_price(False, book, D("0.01"), D(1)) == 98  # 98.01 down
    assert fills.market_fill_price(True, book, D(0), D(1)) == 101


def test_a_market_sell_never_fills_below_one_tick() -> None:
    assert fills.market_fill_price(False, top("0.01", "0.02"), D("0.5"), D("0.01")) == D("0.01")


@given(books(), slippages, st.booleans())
def test_market_price_is_the_exact_decimal_rule_on_the_tick(
    book: tuple[Top, Decimal], slippage: Decimal, is_buy: bool
) -> None:
    quote, tick = book
    if is_buy:
        exact = round_to_tick(quote.ask * (1 + slippage), tick, Rounding.UP)
    else:
        exact = max(tick, round_to_tick(quote.bid * (1 - slippage), tick, Rounding.DOWN))
    assert fills.market_fill_price(is_buy, quote, slippage, tick) == exact


def test_float_noise_does_not_cost_a_tick() -> None:
    # 3 * 1.01 is 3.0300000000000002 in floats; rounded up as it stands it would be 3.04.
    assert repr(rules.market_fill_price(rules.BUY, 3.0, 3.0, 0.01)) == "3.0300000000000002"
    assert fills.market_fill_price(True, top("2.99", "3.00"), D("0.01"), D("0.01")) == D("3.03")


def test_a_market_order_outside_the_rules_domain_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="found an input outside its domain"):
        fills.market_fill_price(True, top(99, 101), D(1), D(1))  # slippage must be < 1


# -- limit orders ----------------------------------------------------------------------


def test_limit_on_arrival_fills_at_the_book_when_the_quote_reaches_it_touching_included() -> None:
    book = top(99, 101)
    assert fills.limit_fill_on_arrival(True, D(105), book, D(1)) == 101
    assert fills.limit_fill_on_arrival(True, D(101), book, D(1)) == 101  # touching the ask
    assert fills.limit_fill_on_arrival(True, D(100), book, D(1)) is None
    assert fills.limit_fill_on_arrival(False, D(95), book, D(1)) == 99
    assert fills.limit_fill_on_arrival(False, D(99), book, D(1)) == 99  # touching the bid
    assert fills.limit_fill_on_arrival(False, D(100), book, D(1)) is None


def test_a_resting_limit_fills_at_its_own_price_once_reached_touching_included() -> None:
    book = top(99, 101)
    assert fills.limit_fill_resting(True, D(102), book, D(1)) == 102
    assert fills.limit_fill_resting(True, D(101), book, D(1)) == 101
    assert fills.limit_fill_resting(True, D(100), book, D(1)) is None
    assert fills.limit_fill_resting(False, D(98), book, D(1)) == 98
    assert fills.limit_fill_resting(False, D(99), book, D(1)) == 99
    assert fills.limit_fill_resting(False, D(100), book, D(1)) is None


@given(books(), st.integers(-1_000, 1_000), st.booleans())
def test_limit_fills_agree_with_the_matching_rules(
    book: tuple[Top, Decimal], offset: int, is_buy: bool
) -> None:
    quote, tick = book
    limit = (quote.ask if is_buy else quote.bid) + tick * offset
    if limit <= 0:
        return
    side = rules.BUY if is_buy else rules.SELL
    bid, ask = float(quote.bid), float(quote.ask)
    arrival = fills.limit_fill_on_arrival(is_buy, limit, quote, tick)
    resting = fills.limit_fill_resting(is_buy, limit, quote, tick)
    assert (arrival is None) == math.isnan(
        rules.limit_fill_on_arrival(side, float(limit), bid, ask)
    )
    assert (resting is None) == math.isnan(rules.limit_fill_resting(side, float(limit), bid, ask))
    # the same test the simulator used before it shared the rules: touching fills
    reached = quote.ask <= limit if is_buy else quote.bid >= limit
    assert (arrival is not None) == reached == (resting is not None)
    if arrival is not None:
        assert arrival == (quote.ask if is_buy else quote.bid)  # the book, never worse
        assert resting == limit  # exactly the limit, on its tick


# -- fees ------------------------------------------------------------------------------


def test_fees_are_notional_times_rate() -> None:
    assert fills.fee(D(1000), D("0.002")) == 2
    assert fills.fee(D(1000), D(0)) == 0
    assert fills.fee(D(1000), D("-0.0001")) == D("-0.1")  # a maker rebate


@given(
    st.integers(1, 10**9),
    st.integers(0, 8),
    st.sampled_from([D("0.001"), D("0.002"), D("0.0002"), D("0.0005"), D("0.0001"), D(0)]),
)
def test_fees_are_the_exact_decimal_product(units: int, places: int, rate: Decimal) -> None:
    notional = D(units).scaleb(-places)
    assert costs.fee(float(notional), float(rate)) == pytest.approx(float(notional * rate))
    assert fills.fee(notional, rate) == notional * rate


def test_from_float_keeps_the_reliable_digits_only() -> None:
    assert repr(costs.fee(490.05, 0.001)) == "0.49005000000000004"
    assert fills.fee(D("490.05"), D("0.001")) == D("0.49005")
    assert fills.from_float(0.49005000000000004) == D("0.49005")
    assert fills.from_float(0.0) == 0
    assert fills.from_float(1e20) == D("1E+20")
    with pytest.raises(InvalidInputError, match="returned nan"):
        fills.from_float(math.nan)

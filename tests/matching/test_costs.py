"""costs.py: fees, slippage, isolated-perpetual liquidation, funding and profit."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from xraybot.matching.costs import fee, funding_payment, liquidation_price, pnl, slippage_price
from xraybot.matching.rules import BUY, LONG, SELL, SHORT, market_fill_price

NAN = math.nan
prices = st.floats(min_value=1e-6, max_value=1e9)
amounts = st.floats(min_value=0.0, max_value=1e9)
rates = st.floats(min_value=0.0, max_value=0.5)
leverages = st.floats(min_value=1.0, max_value=200.0)


def test_fee_is_charged_on_the_absolute_notional() -> None:
    assert fee(10_000.0, 0.001) == pytest.approx(10.0)
    assert fee(-10_000.0, 0.001) == pytest.approx(10.0)
    assert fee(10_000.0, -0.0001) == pytest.approx(-1.0)  # maker rebate
    assert fee(10_000.0, 0.0) == 0.0
    assert math.isnan(fee(NAN, 0.001))


@given(notional=st.floats(min_value=-1e12, max_value=1e12), rate=rates)
def test_fee_is_never_negative_for_a_non_negative_rate(notional: float, rate: float) -> None:
    assert fee(notional, rate) >= 0.0


@pytest.mark.parametrize(
    ("side", "price", "rate", "expected"),
    [
        (BUY, 100.0, 0.001, 100.1),
        (SELL, 100.0, 0.001, 99.9),
        (BUY, 100.0, 0.0, 100.0),
        (BUY, 100.0, -0.001, NAN),
        (SELL, 100.0, 1.0, NAN),
        (BUY, 0.0, 0.001, NAN),
        (SELL, NAN, 0.001, NAN),
        (0, 100.0, 0.001, NAN),
    ],
)
def test_slippage_price(side: int, price: float, rate: float, expected: float) -> None:
    assert slippage_price(side, price, rate) == pytest.approx(expected, nan_ok=True)


@given(bid=prices, ask=prices, rate=st.floats(min_value=0.0, max_value=1.0, exclude_max=True))
def test_a_market_fill_is_the_slipped_quote_and_slippage_only_hurts(
    bid: float, ask: float, rate: float
) -> None:
    assert market_fill_price(BUY, bid, ask, rate) == slippage_price(BUY, ask, rate) >= ask
    assert market_fill_price(SELL, bid, ask, rate) == slippage_price(SELL, bid, rate) <= bid


@pytest.mark.parametrize(
    ("direction", "entry", "leverage", "mmr", "expected"),
    [
        (LONG, 100.0, 10.0, 0.005, 90.5),
        (SHORT, 100.0, 10.0, 0.005, 109.5),
        (LONG, 1217.3, 100.0, 0.005, 1211.2135),  # MEXC's docs example shows 1211.2
        (LONG, 100.0, 1.0, 0.0, 0.0),  # unleveraged long without maintenance: never
        (LONG, 100.0, 1.0, 0.005, 0.5),
        (SHORT, 100.0, 1.0, 0.0, 200.0),
        (LONG, 100.0, 0.5, 0.005, NAN),
        (LONG, 100.0, NAN, 0.005, NAN),
        (SHORT, 0.0, 10.0, 0.005, NAN),
        (SHORT, 100.0, 10.0, -0.005, NAN),
        (0, 100.0, 10.0, 0.005, NAN),
    ],
)
def test_liquidation_price(
    direction: int, entry: float, leverage: float, mmr: float, expected: float
) -> None:
    found = liquidation_price(direction, entry, leverage, mmr)
    assert found == pytest.approx(expected, nan_ok=True)


@given(entry=prices, leverage=leverages, mmr=st.floats(min_value=0.0, max_value=0.5))
def test_liquidation_is_below_a_long_entry_and_above_a_short_one(
    entry: float, leverage: float, mmr: float
) -> None:
    assume(mmr < 1.0 / leverage)  # exchanges cap leverage so the margin covers maintenance
    long_liq = liquidation_price(LONG, entry, leverage, mmr)
    short_liq = liquidation_price(SHORT, entry, leverage, mmr)
    assert 0.0 <= long_liq < entry < short_liq


@given(entry=prices, mmr=st.floats(min_value=0.0, max_value=0.01))
def test_more_leverage_brings_liquidation_closer(entry: float, mmr: float) -> None:
    longs = [liquidation_price(LONG, entry, lev, mmr) for lev in (2.0, 5.0, 20.0)]
    shorts = [liquidation_price(SHORT, entry, lev, mmr) for lev in (2.0, 5.0, 20.0)]
    assert longs == sorted(longs)
    assert shorts == sorted(shorts, reverse=True)


def test_positive_funding_makes_longs_pay_and_shorts_receive() -> None:
    assert funding_payment(LONG, 10_000.0, 0.0001) == pytest.approx(-1.0)
    assert funding_payment(SHORT, 10_000.0, 0.0001) == pytest.approx(1.0)
    assert funding_payment(LONG, 10_000.0, -0.0001) == pytest.approx(1.0)
    assert funding_payment(SHORT, -10_000.0, 0.0001) == pytest.approx(1.0)  # sign ignored
    assert math.isnan(funding_payment(0, 10_000.0, 0.0001))


@given(notional=st.floats(min_value=-1e12, max_value=1e12), rate=st.floats(-0.01, 0.01))
def test_funding_moves_cash_from_one_side_to_the_other(notional: float, rate: float) -> None:
    long_flow = funding_payment(LONG, notional, rate)
    assert long_flow == -funding_payment(SHORT, notional, rate)
    if rate > 0.0:
        assert long_flow <= 0.0
    if rate < 0.0:
        assert long_flow >= 0.0


def test_pnl() -> None:
    assert pnl(LONG, 100.0, 110.0, 2.0) == pytest.approx(20.0)
    assert pnl(LONG, 100.0, 90.0, 2.0) == pytest.approx(-20.0)
    assert pnl(SHORT, 100.0, 90.0, 2.0) == pytest.approx(20.0)
    assert pnl(SHORT, 100.0, 110.0, 2.0) == pytest.approx(-20.0)
    assert math.isnan(pnl(2, 100.0, 110.0, 2.0))


@given(entry=prices, exit_price=prices, amount=amounts)
def test_long_and_short_pnl_are_opposite_and_signed_by_the_move(
    entry: float, exit_price: float, amount: float
) -> None:
    gain = pnl(LONG, entry, exit_price, amount)
    assert gain == -pnl(SHORT, entry, exit_price, amount)
    if amount > 0.0 and exit_price != entry:
        assert (gain > 0.0) == (exit_price > entry) or gain == 0.0  # gain may underflow to 0

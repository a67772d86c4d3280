"""market.py: the one rounding rule, Market validation and order-size checks."""

from __future__ import annotations

import dataclasses
from decimal import Decimal, localcontext
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.model import strategies as gen
from xraybot.model import Market, MarketKind, Rounding, round_to_tick
from xraybot.model.errors import InvalidInputError, InvalidOrderError

D = Decimal


def spot(**overrides: Any) -> Market:
    fields: dict[str, Any] = {
        "exchange": "mexc",
        "symbol": "BTC/USDT",
        "base": "BTC",
        "quote": "USDT",
        "price_tick": D("0.01"),
        "amount_tick": D("0.000001"),
        "min_amount": D("0.0001"),
        "min_cost": D("5"),
    }
    fields.update(overrides)
    return Market(**fields)


def swap(**overrides: Any) -> Market:
    fields: dict[str, Any] = {
        "exchange": "mexc",
        "symbol": "BTC/USDT:USDT",
        "base": "BTC",
        "quote": "USDT",
        "kind": MarketKind.SWAP,
        "price_tick": D("0.1"),
        "amount_tick": D("1"),
        "min_amount": D("1"),
        "min_cost": D("5"),
        "contract_size": D("0.0001"),
        "max_leverage": 125,
    }
    fields.update(overrides)
    return Market(**fields)


def is_multiple(value: Decimal, tick: Decimal) -> bool:
    return value % tick == 0


# --------------------------------------------------------------------------- round_to_tick


@gen.FAST
@given(value=gen.decimals(), tick=gen.ticks(), mode=st.sampled_from(Rounding))
def test_round_to_tick_gives_a_multiple_of_the_tick_within_one_tick(
    value: Decimal, tick: Decimal, mode: Rounding
) -> None:
    result = round_to_tick(value, tick, mode)
    assert is_multiple(result, tick), (value, tick, mode, result)
    assert abs(result - value) < tick
    assert result.as_tuple().exponent == tick.as_tuple().exponent


@gen.FAST
@given(value=gen.decimals(), tick=gen.ticks())
def test_round_down_never_goes_above_the_input(value: Decimal, tick: Decimal) -> None:
    result = round_to_tick(value, tick, Rounding.DOWN)
    assert result <= value
    assert value - result < tick


@gen.FAST
@given(value=gen.decimals(), tick=gen.ticks())
def test_round_up_never_goes_below_the_input(value: Decimal, tick: Decimal) -> None:
    result = round_to_tick(value, tick, Rounding.UP)
    assert result >= value
    assert result - value < tick


@gen.FAST
@given(value=gen.decimals(), tick=gen.ticks())
def test_round_toward_zero_never_grows_the_magnitude(value: Decimal, tick: Decimal) -> None:
    result = round_to_tick(value, tick, Rounding.TOWARD_ZERO)
    assert abs(result) <= abs(value)
    assert abs(value) - abs(result) < tick
    if value > 0:
        assert result <= value
    if value < 0:
        assert result >= value


@gen.FAST
@given(value=gen.decimals(), tick=gen.ticks())
def test_round_nearest_is_within_half_a_tick_and_ties_go_to_even(
    value: Decimal, tick: Decimal
) -> None:
    result = round_to_tick(value, tick, Rounding.NEAREST)
    assert abs(result - value) * 2 <= tick
    if abs(result - value) * 2 == tick:
        assert (result / tick) % 2 == 0, f"tie {value} on tick {tick} went to odd {result}"


@pytest.mark.parametrize(
    ("value", "tick", "mode", "expected"),
    [
        ("1.005", "0.01", Rounding.NEAREST, "1.00"),  # tie to even
        ("1.015", "0.01", Rounding.NEAREST, "1.02"),  # tie to even
        ("1.019", "0.01", Rounding.DOWN, "1.01"),
        ("-1.011", "0.01", Rounding.DOWN, "-1.02"),
        ("1.011", "0.01", Rounding.UP, "1.02"),
        ("-1.019", "0.01", Rounding.UP, "-1.01"),
        ("-1.019", "0.01", Rounding.TOWARD_ZERO, "-1.01"),
        ("1.019", "0.01", Rounding.TOWARD_ZERO, "1.01"),
        ("17", "5", Rounding.NEAREST, "15"),
        ("0.123456789", "0.00000025", Rounding.DOWN, "0.12345675"),
        ("2", "0.5", Rounding.UP, "2.0"),
    ],
)
def test_round_to_tick_examples(value: str, tick: str, mode: Rounding, expected: str) -> None:
    result = round_to_tick(D(value), D(tick), mode)
    assert result == D(expected)
    assert str(result) == expected  # the tick's exponent, not the input's


@gen.FAST
@given(value=gen.decimals(), tick=gen.ticks(), mode=st.sampled_from(Rounding))
def test_round_to_tick_is_idempotent(value: Decimal, tick: Decimal, mode: Rounding) -> None:
    once = round_to_tick(value, tick, mode)
    for again_mode in Rounding:
        assert round_to_tick(once, tick, again_mode) == once


@gen.FAST
@given(a=gen.decimals(), b=gen.decimals(), tick=gen.ticks(), mode=st.sampled_from(Rounding))
def test_round_to_tick_is_monotonic(a: Decimal, b: Decimal, tick: Decimal, mode: Rounding) -> None:
    low, high = sorted((a, b))
    assert round_to_tick(low, tick, mode) <= round_to_tick(high, tick, mode)


@pytest.mark.parametrize("tick", ["0", "-0.01"])
def test_round_to_tick_refuses_a_non_positive_tick(tick: str) -> None:
    with pytest.raises(InvalidInputError, match=rf"tick must be a finite number > 0; found {tick}"):
        round_to_tick(D("1.23"), D(tick))


# Regression: the quotient value / tick is computed in the ambient decimal
# context (28 significant digits by default), so it is *rounded* before the directed
# rounding is applied. An input with more digits than the context holds can come out
# above the input for DOWN / TOWARD_ZERO, i.e. an amount rounded "down" exceeds the balance.
@pytest.mark.parametrize(
    ("value", "tick", "mode"),
    [
        ("2.9999999999999999999999999999", "1", Rounding.DOWN),
        # a balance in wei precision (18 places) rounded to whole units
        ("99999999999.999999999999999999", "1", Rounding.TOWARD_ZERO),
        ("0.29999999999999999999999999999", "0.1", Rounding.TOWARD_ZERO),
    ],
)
def test_round_to_tick_directed_rounding_is_exact_for_high_precision_inputs(
    value: str, tick: str, mode: Rounding
) -> None:
    result = round_to_tick(D(value), D(tick), mode)
    assert result <= D(value), f"{value} rounded {mode} to {tick} gave {result}, above the input"


# Regression: the same properties, for inputs with more significant digits than
# the default decimal context (28) holds: 18-decimal token balances, or prices computed
# by dividing Decimals.
@st.composite
def near_multiples(draw: st.DrawFn) -> tuple[Decimal, Decimal]:
    """A value a hair (1E-20 .. 1E-35) off a multiple of the tick, and that tick."""
    tick = draw(gen.ticks(-12, 2))
    steps = draw(st.integers(-(10**12), 10**12))
    hair = Decimal(draw(st.sampled_from([1, -1, 5, -5]))).scaleb(-draw(st.integers(20, 35)))
    with localcontext() as ctx:
        ctx.prec = 100  # build the value exactly
        return steps * tick + hair, tick


@gen.QUICK
@given(case=near_multiples(), mode=st.sampled_from(Rounding))
def test_round_to_tick_properties_hold_at_any_precision(
    case: tuple[Decimal, Decimal], mode: Rounding
) -> None:
    value, tick = case
    result = round_to_tick(value, tick, mode)  # in the default context
    with localcontext() as ctx:
        ctx.prec = 100  # check exactly
        check_exact_rounding(value, tick, mode, result)


def check_exact_rounding(value: Decimal, tick: Decimal, mode: Rounding, result: Decimal) -> None:
    assert result % tick == 0
    assert abs(result - value) < tick
    if mode is Rounding.DOWN or (mode is Rounding.TOWARD_ZERO and value >= 0):
        assert result <= value
    if mode is Rounding.UP or (mode is Rounding.TOWARD_ZERO and value <= 0):
        assert result >= value
    if mode is Rounding.NEAREST:
        assert abs(result - value) * 2 <= tick


# Regression: same root cause; the decimal context is thread-wide mutable state,
# so any code that lowers its precision silently changes every price and amount rounded.
def test_round_to_tick_does_not_depend_on_the_ambient_decimal_context() -> None:
    expected = round_to_tick(D("12345.678912345"), D("0.00000001"), Rounding.DOWN)
    assert expected == D("12345.67891234")
    with localcontext() as ctx:
        ctx.prec = 9
        assert round_to_tick(D("12345.678912345"), D("0.00000001"), Rounding.DOWN) == expected


# --------------------------------------------------------------------------- Market rounding


@gen.FAST
@given(market=gen.markets(), amount=gen.decimals(0, 10**6, 12))
def test_round_amount_never_exceeds_the_input(market: Market, amount: Decimal) -> None:
    rounded = market.round_amount(amount)
    assert rounded <= amount
    assert amount - rounded < market.amount_tick
    assert is_multiple(rounded, market.amount_tick)


@gen.FAST
@given(market=gen.markets(), price=gen.prices(), mode=st.sampled_from(Rounding))
def test_round_price_keeps_the_tick_exponent(
    market: Market, price: Decimal, mode: Rounding
) -> None:
    rounded = market.round_price(price, mode)
    assert rounded.as_tuple().exponent == market.price_tick.as_tuple().exponent
    assert is_multiple(rounded, market.price_tick)
    assert rounded == round_to_tick(price, market.price_tick, mode)


def test_round_price_defaults_to_nearest() -> None:
    market = spot(price_tick=D("0.5"))
    assert market.round_price(D("10.74")) == D("10.5")
    assert market.round_price(D("10.76")) == D("11.0")
    assert market.round_price(D("10.76"), Rounding.DOWN) == D("10.5")


# --------------------------------------------------------------------------- Market validation


@pytest.mark.parametrize("field", ["price_tick", "amount_tick", "contract_size"])
@pytest.mark.parametrize("bad", [D(0), D("-0.01"), 0.01, D("NaN"), D("Infinity"), None], ids=repr)
def test_market_refuses_a_bad_tick_naming_field_and_value(field: str, bad: object) -> None:
    with pytest.raises(InvalidInputError) as caught:
        swap(**{field: bad})
    message = str(caught.value)
    assert f"Market('BTC/USDT:USDT').{field}" in message
    assert str(bad) in message


@pytest.mark.parametrize("field", ["min_amount", "min_cost"])
def test_market_refuses_negative_minimums(field: str) -> None:
    with pytest.raises(InvalidInputError, match=rf"\.{field} must be >= 0; found -1"):
        spot(**{field: D(-1)})


@pytest.mark.parametrize("field", ["maker_fee_rate", "taker_fee_rate"])
@pytest.mark.parametrize("percent", ["0.1", "0.011", "0.2", "0.5", "1", "20", "-0.02"])
def test_market_refuses_a_percent_given_as_fee_fraction(field: str, percent: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        spot(**{field: D(percent)})
    message = str(caught.value)
    assert f"Market('BTC/USDT').{field}" in message
    assert f"found {percent}" in message
    assert "fraction" in message


@pytest.mark.parametrize("field", ["maker_fee_rate", "taker_fee_rate"])
def test_market_refuses_a_float_fee(field: str) -> None:
    with pytest.raises(InvalidInputError, match=rf"{field} must be a finite Decimal.*float"):
        spot(**{field: 0.001})


@pytest.mark.parametrize("rate", ["0", "0.001", "0.0002", "-0.0001", "-0.01", "0.01"])
def test_market_accepts_fractions_and_maker_rebates(rate: str) -> None:
    market = spot(maker_fee_rate=D(rate), taker_fee_rate=D(rate).copy_abs())
    assert market.maker_fee_rate == D(rate)


@pytest.mark.parametrize("leverage", [2, 10, 125])
def test_spot_market_refuses_leverage(leverage: int) -> None:
    with pytest.raises(InvalidInputError) as caught:
        spot(max_leverage=leverage)
    message = str(caught.value)
    assert "Market('BTC/USDT').max_leverage" in message
    assert "spot" in message
    assert f"found {leverage}" in message


@pytest.mark.parametrize("leverage", [0, -3])
@pytest.mark.parametrize("make", [spot, swap])
def test_market_refuses_leverage_below_one(make: Any, leverage: int) -> None:
    with pytest.raises(InvalidInputError, match=rf"max_leverage must be >= 1; found {leverage}"):
        make(max_leverage=leverage)


def test_swap_market_takes_leverage() -> None:
    assert swap(max_leverage=50).max_leverage == 50


@pytest.mark.parametrize("field", ["exchange", "symbol", "base", "quote"])
def test_market_refuses_blank_names(field: str) -> None:
    with pytest.raises(InvalidInputError, match=rf"\.{field} must be a non-empty string"):
        spot(**{field: "  "})


def test_market_is_frozen() -> None:
    market = spot()
    with pytest.raises(dataclasses.FrozenInstanceError):
        market.price_tick = D("1")  # type: ignore[misc]


# --------------------------------------------------------------------------- order size


def test_check_order_size_refuses_below_min_amount_naming_symbol_and_minimum() -> None:
    market = spot(min_amount=D("0.0001"), min_cost=D(0))
    with pytest.raises(InvalidOrderError) as caught:
        market.check_order_size(D("0.00005"), D("60000"))
    message = str(caught.value)
    assert message.startswith("BTC/USDT:")
    assert "0.0001" in message
    assert "0.00005" in message


def test_check_order_size_refuses_below_min_cost_naming_symbol_and_minimum() -> None:
    market = spot(min_amount=D(0), min_cost=D("5"))
    with pytest.raises(InvalidOrderError) as caught:
        market.check_order_size(D("0.0001"), D("40000"))  # notional 4 USDT
    message = str(caught.value)
    assert message.startswith("BTC/USDT:")
    assert "minimum 5 USDT" in message
    assert "4.0000 USDT" in message


@pytest.mark.parametrize("amount", [D(0), D("-1")])
def test_check_order_size_refuses_non_positive_amounts(amount: Decimal) -> None:
    with pytest.raises(InvalidOrderError, match=r"BTC/USDT: order amount must be > 0"):
        spot(min_amount=D(0), min_cost=D(0)).check_order_size(amount, D(100))


def test_check_order_size_accepts_exactly_the_minimums() -> None:
    market = spot(min_amount=D("0.0001"), min_cost=D("5"))
    market.check_order_size(D("0.0001"), D("50000"))  # notional exactly 5


@gen.FAST
@given(market=gen.markets(), amount=gen.amounts(), price=gen.prices())
def test_check_order_size_refuses_exactly_what_is_below_a_minimum(
    market: Market, amount: Decimal, price: Decimal
) -> None:
    below = amount < market.min_amount or amount * market.contract_size * price < market.min_cost
    if below:
        with pytest.raises(InvalidOrderError, match=rf"^{market.symbol}: "):
            market.check_order_size(amount, price)
    else:
        market.check_order_size(amount, price)


def test_swap_notional_counts_contracts_times_contract_size() -> None:
    market = swap(contract_size=D("0.0001"))
    assert market.notional(D(10), D(60000)) == D(60)
    # 1 contract of 0.0001 BTC at 40,000 is 4 USDT, below the 5 USDT minimum, although
    # amount * price alone (40,000) would look large.
    with pytest.raises(InvalidOrderError, match=r"BTC/USDT:USDT: notional 4\.0000 USDT"):
        market.check_order_size(D(1), D(40000))
    market.check_order_size(D(2), D(40000))


@gen.FAST
@given(market=gen.markets(MarketKind.SWAP), amount=gen.amounts(), price=gen.prices())
def test_notional_is_amount_times_contract_size_times_price(
    market: Market, amount: Decimal, price: Decimal
) -> None:
    assume(market.contract_size != 1)
    assert market.notional(amount, price) == amount * market.contract_size * price
    assert market.notional(amount, price) != amount * price

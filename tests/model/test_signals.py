"""signals.py: OrderIntent validation, Signal bounds, sides and directions."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.model import strategies as gen
from xraybot.model import (
    Direction,
    IntentKind,
    OrderIntent,
    OrderType,
    Side,
    Signal,
    SignalKind,
)
from xraybot.model.errors import InvalidInputError

D = Decimal


def intent(**overrides: Any) -> OrderIntent:
    fields: dict[str, Any] = {
        "user_id": "alice",
        "strategy": "ema_cross",
        "symbol": "BTC/USDT",
        "side": Side.BUY,
        "kind": IntentKind.OPEN,
        "order_type": OrderType.MARKET,
        "amount": D("0.01"),
        "signal_ts_ms": 1_700_000_040_000,
    }
    fields.update(overrides)
    return OrderIntent(**fields)


def test_limit_order_needs_a_price() -> None:
    with pytest.raises(InvalidInputError, match=r"a limit order needs a price; found none"):
        intent(order_type=OrderType.LIMIT)
    assert intent(order_type=OrderType.LIMIT, price=D("60000")).price == D("60000")


def test_stop_order_needs_a_stop_price() -> None:
    with pytest.raises(InvalidInputError, match=r"a stop order needs a stop_price; found none"):
        intent(order_type=OrderType.STOP_MARKET)
    # a price alone does not make a stop order
    with pytest.raises(InvalidInputError, match=r"stop_price"):
        intent(order_type=OrderType.STOP_MARKET, price=D("60000"))
    made = intent(order_type=OrderType.STOP_MARKET, stop_price=D("59000"))
    assert made.stop_price == D("59000")


def test_market_order_needs_neither() -> None:
    made = intent(order_type=OrderType.MARKET)
    assert (made.price, made.stop_price) == (None, None)


@gen.FAST
@given(amount=st.floats(min_value=1e-8, max_value=1e6, allow_nan=False))
def test_a_float_amount_is_refused_with_a_hint_to_use_decimal(amount: float) -> None:
    with pytest.raises(InvalidInputError) as caught:
        intent(amount=amount)
    message = str(caught.value)
    assert "OrderIntent('alice', 'BTC/USDT').amount must be a finite Decimal" in message
    assert f"found {amount!r} (float)" in message
    assert "Decimal(str(x))" in message


@pytest.mark.parametrize(
    "amount", [D(0), D("-0.01"), D("NaN"), D("Infinity"), 1, "0.01", None], ids=repr
)
def test_amount_must_be_a_positive_finite_decimal(amount: object) -> None:
    with pytest.raises(InvalidInputError, match=r"\.amount must be"):
        intent(amount=amount)


@gen.FAST
@given(amount=gen.amounts())
def test_any_positive_decimal_amount_is_accepted(amount: Decimal) -> None:
    assert intent(amount=amount).amount == amount


@pytest.mark.parametrize("field", ["price", "stop_price"])
@pytest.mark.parametrize("value", [D(0), D("-1"), 60000.0], ids=repr)
def test_prices_must_be_positive_decimals(field: str, value: object) -> None:
    with pytest.raises(InvalidInputError, match=rf"\.{field} must be"):
        intent(order_type=OrderType.LIMIT, **{"price": D(1), "stop_price": D(1), field: value})


@pytest.mark.parametrize(
    ("field", "value", "pattern"),
    [
        ("user_id", "", r"\.user_id must be a non-empty string"),
        ("strategy", "  ", r"\.strategy must be a non-empty string"),
        ("symbol", None, r"\.symbol must be a non-empty string; found None"),
        ("signal_ts_ms", 1_700_000_040.5, r"signal_ts_ms must be a non-negative int"),
        ("signal_ts_ms", -1, r"signal_ts_ms must be a non-negative int"),
        ("signal_ts_ms", True, r"signal_ts_ms must be a non-negative int"),
        ("leverage", 0, r"\.leverage must be a whole number >= 1; found 0"),
        ("leverage", 1.5, r"\.leverage must be a whole number >= 1; found 1\.5"),
        ("leg", -1, r"\.leg must be >= 0; found -1"),
    ],
)
def test_intent_validation(field: str, value: object, pattern: str) -> None:
    with pytest.raises(InvalidInputError, match=pattern):
        intent(**{field: value})


def test_direction_sides() -> None:
    assert Direction.LONG.entry_side is Side.BUY
    assert Direction.LONG.exit_side is Side.SELL
    assert Direction.SHORT.entry_side is Side.SELL
    assert Direction.SHORT.exit_side is Side.BUY


@pytest.mark.parametrize("direction", list(Direction))
def test_exit_side_is_the_opposite_of_entry(direction: Direction) -> None:
    assert direction.exit_side is direction.entry_side.opposite
    assert direction.entry_side is not direction.exit_side
    assert direction.exit_side.opposite is direction.entry_side


def test_entry_sides_differ_between_directions() -> None:
    assert {d.entry_side for d in Direction} == set(Side)


@pytest.mark.parametrize("strength", [-0.01, 1.01, float("nan")])
def test_signal_strength_must_be_in_unit_interval(strength: float) -> None:
    with pytest.raises(InvalidInputError, match=r"strength must be in \[0, 1\]"):
        Signal(strategy="s", symbol="BTC/USDT", ts_ms=0, kind=SignalKind.ENTRY, strength=strength)


@gen.FAST
@given(strength=st.floats(0.0, 1.0), ts=st.integers(0, 2**45))
def test_signal_accepts_valid_values(strength: float, ts: int) -> None:
    made = Signal(
        strategy="s", symbol="BTC/USDT", ts_ms=ts, kind=SignalKind.EXIT, strength=strength
    )
    assert made.direction is Direction.LONG
    assert made.ts_ms == ts


@pytest.mark.parametrize(
    ("field", "value"), [("strategy", ""), ("symbol", " "), ("ts_ms", 1.5), ("ts_ms", -5)]
)
def test_signal_validation(field: str, value: object) -> None:
    fields: dict[str, Any] = {"strategy": "s", "symbol": "BTC/USDT", "ts_ms": 0}
    fields[field] = value
    with pytest.raises(InvalidInputError, match=rf"Signal\(.*\)\.{field} must be"):
        Signal(kind=SignalKind.ENTRY, **fields)

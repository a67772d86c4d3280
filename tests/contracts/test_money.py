"""Money round-trips exactly through every backend."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.contracts.builders import (
    BTC,
    T0,
    D,
    make_fill,
    make_intent,
    make_position,
    make_trade,
    new_user_id,
)
from tests.contracts.conftest import Backend
from xraybot.model import (
    OrderStatus,
)

# -- money -------------------------------------------------------------------------------


def _money(min_value: str, max_value: str) -> st.SearchStrategy[Decimal]:
    return st.integers(0, 18).flatmap(
        lambda places: st.decimals(
            min_value=D(min_value),
            max_value=D(max_value),
            places=places,
            allow_nan=False,
            allow_infinity=False,
        )
    )


POSITIVE_MONEY = _money("1e-18", "1e15").filter(lambda d: d > 0)
SIGNED_MONEY = _money("-1e15", "1e15")


def decimal_digits(value: object) -> dict[str, str]:
    """Each Decimal field as text, so 1.50 and 1.5 count as different."""
    return {
        f.name: str(getattr(value, f.name))
        for f in dataclasses.fields(value)  # type: ignore[arg-type]
        if isinstance(getattr(value, f.name), Decimal)
    }


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(price=POSITIVE_MONEY, amount=POSITIVE_MONEY, fee=SIGNED_MONEY, pnl=SIGNED_MONEY)
async def test_money_round_trips_exactly(
    backend: Backend, price: Decimal, amount: Decimal, fee: Decimal, pnl: Decimal
) -> None:
    user = new_user_id()
    intent = make_intent(user, amount=amount, price=price)
    order = await backend.journal.record_intent(intent, T0)
    done = order.transition(OrderStatus.FILLED, T0 + 1, filled=amount, average_price=price)
    fill = dataclasses.replace(make_fill(order, "f", amount, T0 + 1, price), fee=fee)
    position = dataclasses.replace(
        make_position(order, amount, T0 + 1),
        entry_price=price,
        target_price=price,
        realized_pnl=pnl,
        fees_paid=fee,
    )
    trade = dataclasses.replace(
        make_trade(user, BTC, f"t-{user}", T0 + 1),
        amount=amount,
        entry_price=price,
        exit_price=price,
        fees=fee,
    )
    assert await backend.journal.record_fill(fill, done, position, trade)

    stored_order = await backend.orders.get(order.client_order_id)
    stored_intent = await backend.journal.intent(order.client_order_id)
    [stored_fill] = await backend.journal.fills(order.client_order_id)
    stored_position = await backend.journal.position(user, BTC)
    [stored_trade] = await backend.journal.trades(user)
    for original, stored in [
        (done, stored_order),
        (intent, stored_intent),
        (fill, stored_fill),
        (position, stored_position),
        (trade, stored_trade),
    ]:
        assert stored == original
        assert decimal_digits(stored) == decimal_digits(original)


@pytest.mark.parametrize("value", ["488281250000", "1000", "120000000000000"])
async def test_whole_amounts_with_trailing_zeros_come_back_plain(
    backend: Backend, value: str
) -> None:
    # Found by hypothesis on PostgreSQL: asyncpg returned 488281250000 as 4.8828125E+11.
    amount = D(value)
    user = new_user_id()
    order = await backend.journal.record_intent(make_intent(user, amount=amount), T0)
    stored = await backend.orders.get(order.client_order_id)
    assert stored is not None
    assert stored.amount == amount
    assert str(stored.amount) == value

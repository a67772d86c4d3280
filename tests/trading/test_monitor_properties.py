"""Properties of the monitor's money arithmetic: target sizes and the stop in force."""

from __future__ import annotations

import math
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from xraybot.model.market import Market
from xraybot.model.signals import Direction, IntentKind, OrderIntent, OrderType, Side
from xraybot.risk.exits import ExitRules
from xraybot.trading.monitor_types import ProtectionPlan, sized_targets, stop_now

MARKET = Market(
    exchange="sim",
    symbol="BTC/USDT",
    base="BTC",
    quote="USDT",
    price_tick=Decimal("0.01"),
    amount_tick=Decimal("0.0001"),
)
TS = 1_700_000_000_000


def intent(kind: IntentKind, amount: Decimal, leg: int = 0, price: str = "1") -> OrderIntent:
    opening = kind is IntentKind.OPEN
    return OrderIntent(
        user_id="u",
        strategy="s",
        symbol=MARKET.symbol,
        side=Side.BUY if opening else Side.SELL,
        kind=kind,
        order_type=OrderType.MARKET if opening else OrderType.LIMIT,
        amount=amount,
        signal_ts_ms=TS,
        price=None if opening else Decimal(price),
        leg=leg,
    )


ticks = st.integers(min_value=1, max_value=10**6).map(lambda n: n * MARKET.amount_tick)


@given(
    opened=ticks,
    fill_pct=st.integers(min_value=0, max_value=100),
    fractions=st.lists(st.integers(min_value=1, max_value=100), max_size=4),
    final=st.booleans(),
)
def test_targets_never_exceed_the_filled_amount(
    opened: Decimal, fill_pct: int, fractions: list[int], final: bool
) -> None:
    filled = MARKET.round_amount(opened * fill_pct / 100)
    total = sum(fractions) or 1
    targets = [
        intent(IntentKind.TAKE_PROFIT, max(MARKET.amount_tick, opened * f / total / 2), leg=i + 1)
        for i, f in enumerate(fractions)
    ]
    if final:
        targets.append(intent(IntentKind.TAKE_PROFIT, opened))
    plan = ProtectionPlan.from_intents([intent(IntentKind.OPEN, opened), *targets], ExitRules())
    sized = sized_targets(plan, filled, MARKET)
    amounts = [t.amount for t in sized]
    assert all(a > 0 for a in amounts)
    assert all(a % MARKET.amount_tick == 0 for a in amounts)
    assert sum(amounts, Decimal(0)) <= filled
    if final and filled > 0:
        assert sum(amounts, Decimal(0)) == filled
    assert len({t.client_order_id for t in sized}) == len(sized)


prices = st.floats(min_value=1.0, max_value=1e6, allow_nan=False, allow_infinity=False)


@given(
    entry=prices,
    moves=st.lists(st.floats(min_value=0.0, max_value=0.5), min_size=1, max_size=20),
    trail=st.floats(min_value=0.001, max_value=0.5),
    stop_pct=st.floats(min_value=0.001, max_value=0.5),
    breakeven=st.one_of(st.none(), st.floats(min_value=0.001, max_value=0.5)),
)
def test_a_long_stop_only_rises_and_stays_under_the_best_price(
    entry: float, moves: list[float], trail: float, stop_pct: float, breakeven: float | None
) -> None:
    plan = ProtectionPlan(
        user_id="u",
        strategy="s",
        symbol=MARKET.symbol,
        direction=Direction.LONG,
        signal_ts_ms=TS,
        opened_amount=Decimal(1),
        stop_price=Decimal(repr(entry * (1 - stop_pct))),
        exits=ExitRules(trailing_pct=trail, breakeven_at_pct=breakeven),
    )
    best = entry
    previous = -math.inf
    for move in moves:
        best = max(best, entry * (1 + move))
        level = stop_now(plan, entry, best, 0.001)
        assert level.active
        assert level.price >= previous
        assert level.price >= float(plan.stop_price or 0)
        if level.trailing:
            assert level.price < best
        previous = level.price

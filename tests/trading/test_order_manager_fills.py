"""Position bookkeeping of the order manager: what each fill does to the journal's position."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xraybot.model.fills import Fill, Position, Trade
from xraybot.model.market import Market, MarketKind
from xraybot.model.orders import Order, OrderStatus
from xraybot.model.signals import Direction, IntentKind, OrderType, Side
from xraybot.trading.order_fills import fee_in_quote, position_after_fill

T0 = 1_763_000_000_000
SPOT_MARKET = Market(
    exchange="sim",
    symbol="BTC/USDT",
    base="BTC",
    quote="USDT",
    price_tick=Decimal("0.01"),
    amount_tick=Decimal("0.000001"),
)
SWAP_MARKET = Market(
    exchange="sim",
    symbol="BTC/USDT:USDT",
    base="BTC",
    quote="USDT",
    kind=MarketKind.SWAP,
    price_tick=Decimal("0.1"),
    amount_tick=Decimal(1),
    max_leverage=100,
    contract_size=Decimal("0.0001"),  # the simulator's BTC swap
)


def order(market: Market, side: Side, kind: IntentKind = IntentKind.OPEN) -> Order:
    return Order(
        client_order_id=f"xb-{side}-{kind}",
        user_id="u1",
        strategy="test",
        symbol=market.symbol,
        side=side,
        kind=kind,
        order_type=OrderType.MARKET,
        amount=Decimal(1000),
        status=OrderStatus.OPEN,
        created_ts_ms=T0,
        updated_ts_ms=T0,
    )


def fill(
    market: Market,
    side: Side,
    amount: str,
    price: str,
    n: int = 0,
    fee: str = "0.1",
    fee_currency: str = "USDT",
) -> Fill:
    return Fill(
        fill_id=f"f{n}",
        client_order_id=f"xb-{side}",
        user_id="u1",
        symbol=market.symbol,
        side=side,
        price=Decimal(price),
        amount=Decimal(amount),
        fee=Decimal(fee),
        fee_currency=fee_currency,
        ts_ms=T0 + n,
    )


def apply(
    market: Market, position: Position | None, done: Fill, kind: IntentKind = IntentKind.OPEN
) -> tuple[Position | None, Trade | None]:
    return position_after_fill(position, done, order(market, done.side, kind), market)


def test_buys_open_then_add_at_a_weighted_entry() -> None:
    opened, trade = apply(SPOT_MARKET, None, fill(SPOT_MARKET, Side.BUY, "1", "100"))
    assert trade is None
    assert opened is not None
    assert (opened.direction, opened.amount, opened.entry_price) == (
        Direction.LONG,
        Decimal(1),
        Decimal(100),
    )
    added, _ = apply(SPOT_MARKET, opened, fill(SPOT_MARKET, Side.BUY, "3", "200", 1))
    assert added is not None
    assert (added.amount, added.entry_price, added.fees_paid) == (
        Decimal(4),
        Decimal(175),
        Decimal("0.2"),
    )


def test_a_partial_close_makes_a_trade_and_keeps_the_rest() -> None:
    opened, _ = apply(SPOT_MARKET, None, fill(SPOT_MARKET, Side.BUY, "2", "100", fee="0.2"))
    sell = fill(SPOT_MARKET, Side.SELL, "0.5", "120", 1, fee="0.06")
    left, trade = apply(SPOT_MARKET, opened, sell, IntentKind.REDUCE)
    assert left is not None
    assert trade is not None
    assert left.amount == Decimal("1.5")
    assert left.fees_paid == Decimal("0.15")  # a quarter of the entry fee left with the trade
    assert (trade.amount, trade.entry_price, trade.exit_price) == (
        Decimal("0.5"),
        Decimal(100),
        Decimal(120),
    )
    assert trade.fees == Decimal("0.11")
    assert trade.exit_reason == "reduce"
    assert trade.net_pnl == Decimal("9.89")
    assert left.realized_pnl == trade.net_pnl


def test_a_full_close_leaves_an_empty_position() -> None:
    opened, _ = apply(SPOT_MARKET, None, fill(SPOT_MARKET, Side.BUY, "1", "100"))
    closed, trade = apply(
        SPOT_MARKET, opened, fill(SPOT_MARKET, Side.SELL, "1", "90", 1), IntentKind.STOP_LOSS
    )
    assert closed is not None
    assert closed.amount == 0
    assert trade is not None
    assert trade.exit_reason == "stop_loss"
    assert trade.gross_pnl == Decimal(-10)


def test_a_spot_sell_without_a_position_changes_nothing() -> None:
    assert apply(SPOT_MARKET, None, fill(SPOT_MARKET, Side.SELL, "1", "100")) == (None, None)


def test_a_swap_fill_through_the_position_flips_it() -> None:
    short, _ = apply(SWAP_MARKET, None, fill(SWAP_MARKET, Side.SELL, "2", "100"))
    assert short is not None
    assert short.direction is Direction.SHORT
    flipped, trade = apply(SWAP_MARKET, short, fill(SWAP_MARKET, Side.BUY, "5", "90", 1))
    assert trade is not None
    # The trade is in base units (2 contracts of 0.0001 BTC); the position stays in contracts.
    assert (trade.direction, trade.amount, trade.gross_pnl) == (
        Direction.SHORT,
        Decimal("0.0002"),
        Decimal("0.002"),
    )
    # Fees in quote: the whole entry fee and 2/5 of the exit fee, on a 0.02 USDT notional.
    assert trade.fees == Decimal("0.14")
    assert trade.return_pct == (Decimal("0.002") - Decimal("0.14")) / Decimal("0.02") * 100
    assert flipped is not None
    assert (flipped.direction, flipped.amount, flipped.entry_price) == (
        Direction.LONG,
        Decimal(3),
        Decimal(90),
    )
    assert flipped.unrealized_pnl(Decimal(100), SWAP_MARKET.contract_size) == Decimal("0.003")


def test_a_swap_partial_close_realizes_pnl_in_quote() -> None:
    opened, _ = apply(SWAP_MARKET, None, fill(SWAP_MARKET, Side.BUY, "40", "50000", fee="0.2"))
    sell = fill(SWAP_MARKET, Side.SELL, "10", "51000", 1, fee="0.05")
    left, trade = apply(SWAP_MARKET, opened, sell, IntentKind.REDUCE)
    assert left is not None
    assert trade is not None
    assert (left.amount, trade.amount) == (Decimal(30), Decimal("0.001"))
    assert trade.gross_pnl == Decimal(1)  # 1000 USDT a BTC on 0.001 BTC
    assert trade.fees == Decimal("0.1")
    assert left.realized_pnl == trade.net_pnl == Decimal("0.9")


@pytest.mark.parametrize("market", [SPOT_MARKET, SWAP_MARKET])
def test_a_fee_in_the_base_currency_is_valued_at_the_fill_price(market: Market) -> None:
    done = fill(market, Side.BUY, "1", "100", fee="0.002", fee_currency="BTC")
    assert fee_in_quote(done, market) == Decimal("0.2")  # BTC, not contracts


@pytest.mark.properties
@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(Side), st.integers(1, 50), st.integers(50, 150)),
        min_size=1,
        max_size=12,
    )
)
def test_swap_positions_net_every_fill_and_trades_close_only_what_was_open(
    fills: list[tuple[Side, int, int]],
) -> None:
    position: Position | None = None
    net = 0
    for n, (side, amount, price) in enumerate(fills):
        before = Decimal(0) if position is None else position.amount
        done = fill(SWAP_MARKET, side, str(amount), str(price), n)
        position, trade = position_after_fill(position, done, order(SWAP_MARKET, side), SWAP_MARKET)
        net += amount if side is Side.BUY else -amount
        held = Decimal(0) if position is None else position.amount
        signed = held if position is None or position.direction is Direction.LONG else -held
        assert signed == net
        if trade is not None:
            size = SWAP_MARKET.contract_size
            assert trade.amount <= before * size  # a trade closes only what was open
            sign = 1 if trade.direction is Direction.LONG else -1
            closed = trade.amount / size
            assert trade.gross_pnl == sign * (Decimal(price) - trade.entry_price) * closed * size
        if position is not None and position.amount == 0:
            position = None  # the journal deletes an empty position

"""Restoring a paper account from its fills gives back the account that made them."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.paper import SPOT, SWAP, FixedMarketData
from xraybot.exchange.paper import PaperGateway
from xraybot.matching.ledger import Ledger, LedgerFill, LedgerPosition
from xraybot.model import Fill, Market, MarketKind, OrderType, Side
from xraybot.model.errors import InsufficientFundsError, InvalidOrderError, UnknownSymbolError

D = Decimal
START = {"USDT": D(10_000)}
MARKETS: dict[str, Market] = {SPOT.symbol: SPOT, SWAP.symbol: SWAP}


def journal_fill(fill: LedgerFill) -> Fill:
    """The ledger's fill as the journal stores it."""
    return Fill(
        fill_id=fill.fill_id,
        client_order_id=fill.client_order_id or fill.exchange_order_id,
        user_id="u1",
        symbol=fill.symbol,
        side=fill.side,
        price=fill.price,
        amount=fill.amount,
        fee=fill.fee,
        fee_currency=fill.fee_currency,
        ts_ms=fill.ts_ms,
        is_maker=fill.is_maker,
    )


def unmarked(positions: list[LedgerPosition]) -> list[LedgerPosition]:
    return [dataclasses.replace(p, unrealized_pnl=None) for p in positions]


# One step: (symbol, side, market-or-limit, amount ticks, reduce_only, mid price, limit offset).
steps = st.lists(
    st.tuples(
        st.sampled_from([SPOT.symbol, SWAP.symbol]),
        st.sampled_from([Side.BUY, Side.SELL]),
        st.booleans(),
        st.integers(min_value=1, max_value=40),
        st.booleans(),
        st.integers(min_value=45_000, max_value=55_000),
        st.integers(min_value=-300, max_value=300),
    ),
    min_size=1,
    max_size=30,
)


def trade(
    ledger: Ledger, script: list[tuple[str, Side, bool, int, bool, int, int]], lev: int
) -> int:
    """Run ``script`` on ``ledger``; return the last ts used."""
    ts = 1_000
    for symbol, side, is_market, ticks, reduce_only, mid, offset in script:
        ts += 1_000
        market = MARKETS[symbol]
        bid, ask = D(mid), D(mid) + market.price_tick
        ledger.on_quote(market, bid, ask, ts)
        amount = D(ticks) * (D("0.001") if market.kind is MarketKind.SPOT else D(1))
        try:
            ledger.place(
                market,
                side=side,
                order_type=OrderType.MARKET if is_market else OrderType.LIMIT,
                amount=amount,
                price=None if is_market else D(mid + offset),
                client_order_id=f"c{ts}",
                bid=bid,
                ask=ask,
                ts_ms=ts,
                reduce_only=reduce_only and market.kind is MarketKind.SWAP,
                leverage=lev if market.kind is MarketKind.SWAP else None,
            )
        except (InvalidOrderError, InsufficientFundsError):
            continue  # a refused call changes nothing
    ts += 1
    for order in ledger.open_orders():
        ledger.cancel(order.symbol, exchange_order_id=order.exchange_order_id, ts_ms=ts)
    return ts


def fills_of(ledger: Ledger) -> list[Fill]:
    fills = [f for symbol in MARKETS for f in ledger.trades(symbol)]
    return [journal_fill(f) for f in sorted(fills, key=lambda f: f.ts_ms)]  # stable


@pytest.mark.properties
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=steps, lev=st.integers(min_value=1, max_value=3))
def test_replaying_the_fills_rebuilds_the_ledger_exactly(
    script: list[tuple[str, Side, bool, int, bool, int, int]], lev: int
) -> None:
    original = Ledger(START)
    trade(original, script, lev)
    assert not any(f.liquidation for s in MARKETS for f in original.trades(s))
    gateway = PaperGateway(FixedMarketData(), balances=START)
    leverage = {p.symbol: p.leverage for p in original.positions()}
    gateway.replay_fills(MARKETS, fills_of(original), leverage)
    restored = gateway.ledger
    nonzero = {a: b for a, b in original.balances().items() if b.free or b.used}
    assert {a: b for a, b in restored.balances().items() if b.free or b.used} == nonzero
    assert unmarked(restored.positions()) == unmarked(original.positions())
    for symbol in leverage:
        assert restored.leverage(symbol) == original.leverage(symbol)


def test_a_restored_swap_position_trades_on_and_closes_to_the_same_cash() -> None:
    original = Ledger(START)
    for ledger in (original,):
        ledger.place(
            SWAP,
            side=Side.SELL,
            order_type=OrderType.MARKET,
            amount=D(30),
            price=None,
            client_order_id="open",
            bid=D(50_000),
            ask=D("50000.1"),
            ts_ms=2_000,
            leverage=5,
        )
    gateway = PaperGateway(FixedMarketData(), balances=START)
    gateway.replay_fills(MARKETS, fills_of(original), {SWAP.symbol: 5})
    restored = gateway.ledger
    assert unmarked(restored.positions()) == unmarked(original.positions())
    for ledger in (original, restored):
        ledger.place(
            SWAP,
            side=Side.BUY,
            order_type=OrderType.MARKET,
            amount=D(30),
            price=None,
            client_order_id="close",
            bid=D(49_000),
            ask=D("49000.1"),
            ts_ms=3_000,
            reduce_only=True,
        )
    assert restored.positions() == original.positions() == []
    assert restored.balances() == original.balances()
    assert restored.balances()["USDT"].free > START["USDT"]


def test_a_fill_of_an_unknown_market_is_refused() -> None:
    gateway = PaperGateway(FixedMarketData(), balances=START)
    fill = Fill(
        fill_id="f1",
        client_order_id="c1",
        user_id="u1",
        symbol="ETH/USDT",
        side=Side.BUY,
        price=D(2_000),
        amount=D(1),
        fee=D(2),
        fee_currency="USDT",
        ts_ms=1_000,
    )
    with pytest.raises(UnknownSymbolError, match="ETH/USDT"):
        gateway.replay_fills(MARKETS, [fill])

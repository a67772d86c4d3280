"""ledger.py: the simulated account's orders, fills, balances and swap positions."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from tests.support.ledger import SPOT, SWAP, D, state
from xraybot.matching import costs, rules
from xraybot.matching.ledger import Ledger, LedgerOrder
from xraybot.model import Direction, Market, OrderStatus, OrderType, Side
from xraybot.model.errors import InsufficientFundsError, InvalidInputError, InvalidOrderError
from xraybot.model.market import Rounding

BID, ASK = D("50000"), D("50010")
SLIP = D("0.0005")


def make(usdt: str = "100000", btc: str = "0") -> Ledger:
    return Ledger({"USDT": D(usdt), "BTC": D(btc)}, slippage_rate=SLIP)


def place(
    ledger: Ledger,
    market: Market = SPOT,
    side: Side = Side.BUY,
    amount: str = "0.1",
    price: str | None = None,
    cid: str | None = None,
    bid: Decimal = BID,
    ask: Decimal = ASK,
    **kw: object,
) -> LedgerOrder:
    return ledger.place(
        market,
        side=side,
        order_type=OrderType.MARKET if price is None else OrderType.LIMIT,
        amount=D(amount),
        price=None if price is None else D(price),
        client_order_id=cid,
        bid=bid,
        ask=ask,
        ts_ms=1_000,
        **kw,  # type: ignore[arg-type]
    )


def fee(notional: Decimal, rate: Decimal) -> Decimal:
    return D(str(costs.fee(float(notional), float(rate)))).quantize(D("1e-10"))


def free(ledger: Ledger, asset: str) -> Decimal:
    return ledger.balances()[asset].free


def used(ledger: Ledger, asset: str) -> Decimal:
    return ledger.balances()[asset].used


# -- spot ---------------------------------------------------------------------------------


def test_a_market_buy_fills_at_the_slipped_ask_rounded_against_the_taker() -> None:
    ledger = make()
    order = place(ledger, cid="c1")
    rule = rules.market_fill_price(rules.BUY, float(BID), float(ASK), float(SLIP))
    expected = SPOT.round_price(D(str(rule)), Rounding.UP)
    assert order.status is OrderStatus.FILLED
    assert order.average_price == expected == D("50035.01")  # 50035.005 rounded up
    assert order.filled == D("0.1")
    taker_fee = fee(expected * D("0.1"), SPOT.taker_fee_rate)
    assert order.fee == taker_fee
    assert free(ledger, "USDT") == D(100000) - expected * D("0.1") - taker_fee
    assert free(ledger, "BTC") == D("0.1")
    [fill] = ledger.trades("BTC/USDT")
    assert (fill.client_order_id, fill.is_maker, fill.fee_currency) == ("c1", False, "USDT")


def test_a_market_sell_fills_at_the_slipped_bid_and_pays_the_fee_from_the_proceeds() -> None:
    ledger = make(usdt="0", btc="1")
    order = place(ledger, side=Side.SELL, amount="0.5")
    assert order.average_price == D("49975")  # 50000 * (1 - 0.0005)
    proceeds = D("49975") * D("0.5")
    assert free(ledger, "USDT") == proceeds - fee(proceeds, SPOT.taker_fee_rate)
    assert free(ledger, "BTC") == D("0.5")


def test_a_limit_that_crosses_on_arrival_fills_as_taker_at_the_book() -> None:
    ledger = make()
    order = place(ledger, price="50100")
    assert order.status is OrderStatus.FILLED
    assert order.average_price == ASK
    assert order.fee == fee(ASK * D("0.1"), SPOT.taker_fee_rate)


def test_a_resting_buy_reserves_cost_and_fee_and_fills_once_at_its_limit_as_maker() -> None:
    ledger = make()
    order = place(ledger, price="49000.009", cid="rest")  # rounds down to 49000.00
    assert order.status is OrderStatus.OPEN
    assert order.price == D("49000.00")
    reserve = D("4900") + fee(D("4900"), SPOT.maker_fee_rate)
    assert used(ledger, "USDT") == reserve
    assert free(ledger, "USDT") == D(100000) - reserve
    assert ledger.on_quote(SPOT, D("49050"), D("49060"), 2_000) == []
    [fill] = ledger.on_quote(SPOT, D("48900"), D("48990"), 3_000)
    assert (fill.price, fill.amount, fill.is_maker) == (D("49000.00"), D("0.1"), True)
    assert fill.fee == fee(D("4900"), SPOT.maker_fee_rate)
    assert ledger.on_quote(SPOT, D("48000"), D("48010"), 4_000) == []
    assert used(ledger, "USDT") == 0
    assert free(ledger, "USDT") == D(100000) - reserve
    final = ledger.order("BTC/USDT", client_order_id="rest")
    assert final is not None
    assert (final.status, final.updated_ts_ms, final.created_ts_ms) == (
        OrderStatus.FILLED,
        3_000,
        1_000,
    )
    assert ledger.open_orders() == []


def test_a_resting_sell_reserves_its_base_amount() -> None:
    ledger = make(btc="1")
    order = place(ledger, side=Side.SELL, price="60000.001", amount="0.3")
    assert order.price == D("60000.01")  # a sell limit rounds up, never selling for less
    assert (free(ledger, "BTC"), used(ledger, "BTC")) == (D("0.7"), D("0.3"))
    [fill] = ledger.on_quote(SPOT, D("60000.01"), D("60001"), 2_000)
    assert fill.price == D("60000.01")
    assert (free(ledger, "BTC"), used(ledger, "BTC")) == (D("0.7"), D(0))


def test_cancel_releases_the_reservation_and_reports_a_finished_order_as_it_is() -> None:
    ledger = make()
    order = place(ledger, price="40000", cid="c")
    canceled = ledger.cancel("BTC/USDT", exchange_order_id=order.exchange_order_id, ts_ms=5_000)
    assert canceled.status is OrderStatus.CANCELED
    assert canceled.updated_ts_ms == 5_000
    assert (free(ledger, "USDT"), used(ledger, "USDT")) == (D(100000), D(0))
    assert ledger.cancel("BTC/USDT", client_order_id="c", ts_ms=6) == canceled
    filled = place(ledger, cid="m")
    assert ledger.cancel("BTC/USDT", client_order_id="m", ts_ms=7) == filled
    with pytest.raises(InvalidOrderError, match="'nope'"):
        ledger.cancel("BTC/USDT", client_order_id="nope", ts_ms=6)
    assert ledger.on_quote(SPOT, D("30000"), D("30001"), 7) == []


def test_orders_are_found_by_either_id_within_their_symbol_only() -> None:
    ledger = make()
    order = place(ledger, price="40000", cid="abc")
    oid = order.exchange_order_id
    assert ledger.order("BTC/USDT", exchange_order_id=oid) == order
    assert ledger.order("BTC/USDT", client_order_id="abc") == order
    assert ledger.order("BTC/USDT", exchange_order_id=oid, client_order_id="other") is None
    assert ledger.order("ETH/USDT", client_order_id="abc") is None
    assert ledger.order("BTC/USDT", exchange_order_id="P999") is None
    assert ledger.open_orders("ETH/USDT") == []
    assert ledger.open_orders("BTC/USDT") == ledger.open_orders() == [order]
    with pytest.raises(InvalidInputError, match="found neither"):
        ledger.order("BTC/USDT")


def test_a_duplicate_client_order_id_is_refused_naming_it_and_changes_nothing() -> None:
    ledger = make()
    place(ledger, cid="dup")
    before = state(ledger)
    with pytest.raises(InvalidOrderError, match="'dup'"):
        place(ledger, cid="dup", price="40000")
    assert state(ledger) == before


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"amount": "0.00009"}, InvalidOrderError, "must be > 0 after rounding"),
        (
            {"amount": "0.0001", "price": "40000"},
            InvalidOrderError,
            "notional 4.000000 USDT is below the market minimum 5",
        ),
        ({"amount": "3"}, InsufficientFundsError, "needs 150405.24006 USDT; found 95996 USDT"),
        ({"amount": "3", "price": "45000"}, InsufficientFundsError, "USDT"),
        ({"side": Side.SELL}, InsufficientFundsError, "needs 0.1 BTC; found 0 BTC"),
        ({"side": Side.SELL, "price": "60000"}, InsufficientFundsError, "BTC"),
        ({"reduce_only": True}, InvalidOrderError, "needs an open position"),
        ({"leverage": 2}, InvalidOrderError, "maximum 1; found 2"),
        ({"price": "0.001"}, InvalidOrderError, "at least one tick"),
        ({"price": "-1"}, InvalidOrderError, "price > 0"),
        ({"ask": D(0)}, InvalidOrderError, "needs a ask > 0"),
        ({"bid": D("-1")}, InvalidInputError, "bid must be"),
    ],
)
def test_a_refused_order_raises_a_specific_error_and_changes_nothing(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    ledger = make()
    place(ledger, price="40000", cid="resting")
    before = state(ledger)
    with pytest.raises(error, match=match):
        place(ledger, **kwargs)  # type: ignore[arg-type]
    assert state(ledger) == before


def test_stop_orders_and_inactive_markets_are_refused() -> None:
    ledger = make()
    with pytest.raises(InvalidOrderError, match="found stop_market"):
        ledger.place(
            SPOT,
            side=Side.BUY,
            order_type=OrderType.STOP_MARKET,
            amount=D("0.1"),
            price=None,
            client_order_id=None,
            bid=BID,
            ask=ASK,
            ts_ms=1,
        )
    closed = dataclasses.replace(SPOT, active=False)
    with pytest.raises(InvalidOrderError, match="not active"):
        place(ledger, closed)
    with pytest.raises(InvalidInputError, match="ts_ms"):
        ledger.on_quote(SPOT, BID, ASK, -1)


def test_the_ledger_refuses_bad_construction() -> None:
    with pytest.raises(InvalidInputError, match="found Decimal\\('-1'\\)"):
        Ledger({"USDT": D(-1)})
    with pytest.raises(InvalidInputError, match="slippage_rate"):
        Ledger({}, slippage_rate=D(1))


# -- swap ---------------------------------------------------------------------------------


def test_a_swap_market_buy_opens_a_long_with_margin_and_a_liquidation_price() -> None:
    ledger = make(usdt="1000")
    order = place(ledger, SWAP, amount="100", leverage=10)  # 100 contracts = 0.01 BTC
    price = order.average_price
    assert price == D("50035.1")  # 50035.005 rounded up to the 0.1 tick
    notional = D("100") * SWAP.contract_size * price
    margin = notional / 10
    assert used(ledger, "USDT") == margin.quantize(D("1e-10"))
    assert free(ledger, "USDT") == D(1000) - margin - fee(notional, SWAP.taker_fee_rate)
    [position] = ledger.positions()
    assert (position.direction, position.contracts, position.leverage) == (
        Direction.LONG,
        D(100),
        10,
    )
    raw = costs.liquidation_price(rules.LONG, float(price), 10.0, 0.004)
    assert position.liquidation_price == SWAP.round_price(D(str(raw)), Rounding.DOWN)
    assert position.liquidation_price < price
    assert ledger.leverage(SWAP.symbol) == 10


def test_partial_closes_realize_pnl_pro_rata_and_the_full_close_frees_the_margin() -> None:
    ledger = make(usdt="10000")
    place(ledger, SWAP, amount="1000", price="50010", leverage=5)  # crosses: long at 50010
    [position] = ledger.positions()
    assert position.entry_price == D("50010")
    up_bid, up_ask = D("51010"), D("51020")
    first = place(ledger, SWAP, Side.SELL, amount="400", price="51010", bid=up_bid, ask=up_ask)
    [fill] = ledger.trades(SWAP.symbol)[1:]
    assert fill.realized_pnl == D("1000") * D("0.04")  # 400 contracts x 0.0001 BTC x 1000
    assert first.status is OrderStatus.FILLED
    [position] = ledger.positions()
    assert position.contracts == 600
    assert position.realized_pnl == D(40)
    place(ledger, SWAP, Side.SELL, amount="600", reduce_only=True, bid=up_bid, ask=up_ask)
    assert ledger.positions() == []
    fills = ledger.trades(SWAP.symbol)
    exit_price = fills[-1].price
    assert fills[-1].realized_pnl == (exit_price - D("50010")) * D("0.06")
    assert used(ledger, "USDT") == 0
    realized = sum((f.realized_pnl for f in fills), D(0))
    fees = sum((f.fee for f in fills), D(0))
    assert free(ledger, "USDT") == D(10000) + realized - fees


def test_a_short_profits_when_the_price_falls_and_an_opposite_order_can_flip_it() -> None:
    ledger = make(usdt="10000")
    place(ledger, SWAP, Side.SELL, amount="100", price="50000", leverage=2)  # short at the bid
    [short] = ledger.positions()
    assert (short.direction, short.entry_price) == (Direction.SHORT, D(50000))
    assert short.liquidation_price is not None
    assert short.liquidation_price > D(50000)
    place(ledger, SWAP, Side.BUY, amount="300", price="40000", bid=D("39990"), ask=D("40000"))
    [long] = ledger.positions()
    assert (long.direction, long.contracts, long.entry_price) == (Direction.LONG, D(200), D(40000))
    assert ledger.trades(SWAP.symbol)[-1].realized_pnl == D(10000) * D("0.01")


def test_reduce_only_needs_a_position_it_reduces_and_no_more_than_it() -> None:
    ledger = make(usdt="10000")
    with pytest.raises(InvalidOrderError, match="found none"):
        place(ledger, SWAP, Side.SELL, amount="10", reduce_only=True)
    place(ledger, SWAP, amount="10")
    with pytest.raises(InvalidOrderError, match="found a long position"):
        place(ledger, SWAP, Side.BUY, amount="10", reduce_only=True)
    with pytest.raises(InvalidOrderError, match="send at most 10"):
        place(ledger, SWAP, Side.SELL, amount="11", reduce_only=True)


def test_a_resting_reduce_only_order_never_outgrows_the_position() -> None:
    ledger = make(usdt="10000")
    place(ledger, SWAP, amount="10")
    target = place(ledger, SWAP, Side.SELL, amount="10", price="52000", reduce_only=True)
    assert used(ledger, "USDT") == ledger.positions()[0].margin  # reserves nothing
    place(ledger, SWAP, Side.SELL, amount="4", reduce_only=True)
    [fill] = ledger.on_quote(SWAP, D("52000"), D("52001"), 9_000)
    assert (fill.amount, fill.price, fill.is_maker) == (D(6), D(52000), True)
    final = ledger.order(SWAP.symbol, exchange_order_id=target.exchange_order_id)
    assert final is not None
    assert (final.status, final.filled) == (OrderStatus.CANCELED, D(6))
    assert ledger.positions() == []


def test_leverage_is_per_symbol_bounded_and_not_changed_under_open_orders() -> None:
    ledger = make(usdt="10000")
    with pytest.raises(InvalidOrderError, match="maximum 200; found 201"):
        ledger.set_leverage(SWAP, 201)
    with pytest.raises(InvalidOrderError, match="swap markets only"):
        ledger.set_leverage(SPOT, 2)
    ledger.set_leverage(SWAP, 20)
    resting = place(ledger, SWAP, amount="10", price="40000")
    assert resting.leverage == 20
    with pytest.raises(InvalidOrderError, match="Cancel them first"):
        ledger.set_leverage(SWAP, 10)
    with pytest.raises(InvalidOrderError, match="Cancel them first"):
        place(ledger, SWAP, amount="10", leverage=3)
    ledger.cancel(SWAP.symbol, exchange_order_id=resting.exchange_order_id, ts_ms=2)
    place(ledger, SWAP, amount="10", leverage=3)
    with pytest.raises(InvalidOrderError, match="position is at leverage 3"):
        place(ledger, SWAP, amount="10", leverage=4)


def test_set_leverage_re_margins_an_open_position() -> None:
    ledger = make(usdt="10000")
    place(ledger, SWAP, amount="1000", leverage=10)
    [before] = ledger.positions()
    ledger.set_leverage(SWAP, 2)
    [after] = ledger.positions()
    assert after.margin == before.margin * 5
    assert used(ledger, "USDT") == after.margin
    assert after.liquidation_price is not None
    assert before.liquidation_price is not None
    assert after.liquidation_price < before.liquidation_price
    poor = make(usdt="60")
    place(poor, SWAP, amount="100", leverage=100)
    snapshot = state(poor)
    with pytest.raises(InsufficientFundsError, match="USDT"):
        poor.set_leverage(SWAP, 1)
    assert state(poor) == snapshot


def test_a_quote_through_the_liquidation_price_closes_the_position_and_takes_the_margin() -> None:
    ledger = make(usdt="1000")
    place(ledger, SWAP, amount="1000", leverage=20)
    [position] = ledger.positions()
    stop = place(ledger, SWAP, Side.SELL, amount="1000", price="60000", reduce_only=True)
    assert position.liquidation_price is not None
    cash_before = free(ledger, "USDT")
    above = position.liquidation_price + 1
    assert ledger.on_quote(SWAP, above, above + 1, 5_000) == []
    [fill] = ledger.on_quote(SWAP, position.liquidation_price - 100, position.liquidation_price, 6)
    assert fill.liquidation
    assert (fill.price, fill.amount, fill.side) == (position.liquidation_price, D(1000), Side.SELL)
    assert fill.realized_pnl - fill.fee == -position.margin  # the whole margin is gone
    assert ledger.positions() == []
    assert (free(ledger, "USDT"), used(ledger, "USDT")) == (cash_before, D(0))
    canceled = ledger.order(SWAP.symbol, exchange_order_id=stop.exchange_order_id)
    assert canceled is not None
    assert canceled.status is OrderStatus.CANCELED


def test_positions_carry_unrealized_pnl_at_the_last_mid_price() -> None:
    ledger = make(usdt="10000")
    place(ledger, SWAP, amount="100", price="50010")
    ledger.on_quote(SWAP, D("51000"), D("51020"), 2_000)
    [position] = ledger.positions()
    assert position.unrealized_pnl == (D("51010") - D("50010")) * D("0.01")

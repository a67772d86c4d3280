"""ledger.py properties: money is conserved, nothing goes negative, refusals change nothing."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.ledger import SPOT, SWAP, state
from xraybot.matching import costs, rules
from xraybot.matching.ledger import Ledger, LedgerFill, LedgerOrder
from xraybot.model import Direction, OrderStatus, OrderType, Side
from xraybot.model.errors import InvalidInputError
from xraybot.model.market import Market

D = Decimal
FAST = settings(max_examples=80, deadline=None)
SIDES = st.sampled_from([Side.BUY, Side.SELL])
MIDS = st.integers(20_000_00, 80_000_00).map(lambda cents: D(cents) / 100)
SPOT_AMOUNTS = st.integers(1, 20_000).map(lambda n: D(n) / 10_000)  # 0.0001 .. 2 BTC
CONTRACTS = st.integers(1, 5_000).map(D)
OFFSETS = st.integers(-300, 300).map(lambda bp: D(bp) / 10_000)  # limit within +-3% of mid
CLIENT_IDS = st.sampled_from([None, "a", "b", "c", "d"])


def quote(mid: Decimal, market: Market) -> tuple[Decimal, Decimal]:
    half = market.price_tick * 5
    return mid - half, mid + half


op = st.one_of(
    st.tuples(st.just("quote"), MIDS),
    st.tuples(st.just("market"), SIDES, SPOT_AMOUNTS, CLIENT_IDS),
    st.tuples(st.just("limit"), SIDES, SPOT_AMOUNTS, OFFSETS, CLIENT_IDS),
    st.tuples(st.just("cancel"), st.integers(0, 5)),
)
swap_op = st.one_of(
    st.tuples(st.just("quote"), MIDS),
    st.tuples(st.just("market"), SIDES, CONTRACTS, st.integers(1, 50), st.booleans()),
    st.tuples(st.just("limit"), SIDES, CONTRACTS, OFFSETS, st.integers(1, 50)),
    st.tuples(st.just("cancel"), st.integers(0, 5)),
)


def run(ledger: Ledger, market: Market, step: tuple[object, ...], mid: Decimal, ts: int) -> Decimal:
    """Apply one random step; check that a refused one changed nothing; return the mid."""
    bid, ask = quote(mid, market)
    before = state(ledger)
    try:
        match step:
            case ("quote", Decimal() as new_mid):
                ledger.on_quote(market, *quote(new_mid, market), ts)
                return new_mid
            case ("market", Side() as side, Decimal() as amount, *extra):
                ledger.place(
                    market,
                    side=side,
                    order_type=OrderType.MARKET,
                    amount=amount,
                    price=None,
                    client_order_id=extra[0] if market is SPOT else None,  # type: ignore[arg-type]
                    bid=bid,
                    ask=ask,
                    ts_ms=ts,
                    leverage=None if market is SPOT else extra[0],  # type: ignore[arg-type]
                    reduce_only=market is SWAP and bool(extra[1]),
                )
            case ("limit", Side() as side, Decimal() as amount, Decimal() as offset, extra):
                ledger.place(
                    market,
                    side=side,
                    order_type=OrderType.LIMIT,
                    amount=amount,
                    price=mid * (1 + offset),
                    client_order_id=extra if market is SPOT else None,  # type: ignore[arg-type]
                    bid=bid,
                    ask=ask,
                    ts_ms=ts,
                    leverage=None if market is SPOT else extra,  # type: ignore[arg-type]
                )
            case ("cancel", int() as index):
                orders = ledger.open_orders()
                if orders:
                    chosen = orders[index % len(orders)]
                    ledger.cancel(
                        market.symbol, exchange_order_id=chosen.exchange_order_id, ts_ms=ts
                    )
    except InvalidInputError:
        assert state(ledger) == before, f"refused {step} changed the ledger"
    return mid


def check_nothing_negative(ledger: Ledger) -> None:
    for balance in ledger.balances().values():
        assert balance.free >= 0, balance
        assert balance.used >= 0, balance


def fills(ledger: Ledger, market: Market) -> list[LedgerFill]:
    return ledger.trades(market.symbol)


@FAST
@given(steps=st.lists(op, max_size=25))
def test_spot_value_changes_only_by_fill_prices_and_fees(steps: list[tuple[object, ...]]) -> None:
    ledger = Ledger({"USDT": D(50_000), "BTC": D(1)})
    reference = D(50_000)  # any fixed price: the identity holds for every one
    start = D(50_000) + D(1) * reference
    mid = D(50_000)
    for ts, step in enumerate(steps):
        mid = run(ledger, SPOT, step, mid, ts)
        check_nothing_negative(ledger)
        balances = ledger.balances()
        value = balances["USDT"].total + balances["BTC"].total * reference
        expected = start
        for fill in fills(ledger, SPOT):
            sign = 1 if fill.side is Side.BUY else -1
            expected += sign * (reference - fill.price) * fill.amount - fill.fee
        assert value == expected
        reserved_quote = sum(
            (o.price * o.remaining * (1 + SPOT.maker_fee_rate) for o in ledger.open_orders()
             if o.side is Side.BUY and o.price is not None),
            D(0),
        )  # fmt: skip
        reserved_base = sum(
            (o.remaining for o in ledger.open_orders() if o.side is Side.SELL), D(0)
        )
        assert balances["USDT"].used == reserved_quote
        assert balances["BTC"].used == reserved_base


@FAST
@given(
    mid=MIDS,
    orders=st.lists(
        st.tuples(SIDES, st.integers(10, 20_000).map(lambda n: D(n) / 10_000)),
        min_size=1,
        max_size=10,
    ),
)
def test_at_a_fixed_quote_market_orders_only_lose_fees_and_slippage(
    mid: Decimal, orders: list[tuple[Side, Decimal]]
) -> None:
    ledger = Ledger({"USDT": D(2_000_000), "BTC": D(40)}, slippage_rate=D("0.001"))
    bid, ask = quote(mid, SPOT)
    start = D(2_000_000) + D(40) * mid
    for ts, (side, amount) in enumerate(orders):
        ledger.place(
            SPOT,
            side=side,
            order_type=OrderType.MARKET,
            amount=amount,
            price=None,
            client_order_id=None,
            bid=bid,
            ask=ask,
            ts_ms=ts,
        )
    balances = ledger.balances()
    value = balances["USDT"].free + balances["BTC"].free * mid
    paid = fills(ledger, SPOT)
    fees = sum((f.fee for f in paid), D(0))
    slippage = sum((abs(f.price - mid) * f.amount for f in paid), D(0))
    assert fees > 0
    assert slippage > 0
    assert value == start - fees - slippage


@FAST
@given(steps=st.lists(op, max_size=25))
def test_client_order_ids_stay_unique(steps: list[tuple[object, ...]]) -> None:
    ledger = Ledger({"USDT": D(50_000), "BTC": D(1)})
    mid = D(50_000)
    for ts, step in enumerate(steps):
        mid = run(ledger, SPOT, step, mid, ts)
    seen = [o.client_order_id for o in _all_orders(ledger) if o.client_order_id is not None]
    assert len(seen) == len(set(seen))


def _all_orders(ledger: Ledger) -> list[LedgerOrder]:
    orders: dict[str, LedgerOrder] = vars(vars(ledger)["_log"])["_orders"]
    return list(orders.values())


@FAST
@given(
    side=SIDES,
    offset=st.integers(1, 300).map(lambda bp: D(bp) / 10_000),
    path=st.lists(MIDS, min_size=1, max_size=12),
)
def test_a_resting_limit_fills_exactly_once_at_its_limit_as_maker(
    side: Side, offset: Decimal, path: list[Decimal]
) -> None:
    ledger = Ledger({"USDT": D(10_000_000), "BTC": D(100)})
    mid = D(50_000)
    bid, ask = quote(mid, SPOT)
    limit = mid * (1 - offset) if side is Side.BUY else mid * (1 + offset)
    order = ledger.place(
        SPOT,
        side=side,
        order_type=OrderType.LIMIT,
        amount=D("0.5"),
        price=limit,
        client_order_id="x",
        bid=bid,
        ask=ask,
        ts_ms=0,
    )
    assert order.status is OrderStatus.OPEN
    limit_price = order.price
    assert limit_price is not None

    def crosses(m: Decimal) -> bool:
        bid, ask = quote(m, SPOT)
        return ask <= limit_price if side is Side.BUY else bid >= limit_price

    crossed = [i for i, m in enumerate(path, start=1) if crosses(m)]
    got = [
        (i, f)
        for i, m in enumerate(path, start=1)
        for f in ledger.on_quote(SPOT, *quote(m, SPOT), i)
    ]
    if not crossed:
        assert got == []
        assert ledger.open_orders() == [order]
        return
    [(when, fill)] = got
    assert when == crossed[0]
    assert (fill.price, fill.amount, fill.is_maker) == (limit_price, D("0.5"), True)
    expected_fee = D(str(costs.fee(float(limit_price * D("0.5")), float(SPOT.maker_fee_rate))))
    assert fill.fee == expected_fee.quantize(D("1e-10"))
    assert ledger.balances()["USDT"].used == ledger.balances()["BTC"].used == 0


@FAST
@given(steps=st.lists(swap_op, max_size=30))
def test_swap_cash_changes_only_by_realized_pnl_and_fees(steps: list[tuple[object, ...]]) -> None:
    ledger = Ledger({"USDT": D(20_000)})
    mid = D(50_000)
    for ts, step in enumerate(steps):
        mid = run(ledger, SWAP, step, mid, ts)
        check_nothing_negative(ledger)
        usdt = ledger.balances()["USDT"]
        made = sum((f.realized_pnl - f.fee for f in fills(ledger, SWAP)), D(0))
        assert usdt.total == D(20_000) + made
        margins = sum((p.margin for p in ledger.positions()), D(0))
        assert usdt.used >= margins  # the rest is held by resting orders
        if not ledger.open_orders():
            assert usdt.used == margins
        for position in ledger.positions():
            assert position.contracts > 0
            assert position.margin > 0


@FAST
@given(
    direction=st.sampled_from([Direction.LONG, Direction.SHORT]),
    entry=MIDS,
    # Exits within +-50% of the entry: a 1x short loses no more than its margin there.
    chunks=st.lists(
        st.tuples(st.integers(1, 300), st.integers(-50, 50).map(lambda pct: 1 + D(pct) / 100)),
        min_size=1,
        max_size=6,
    ),
)
def test_partial_closes_realize_the_profit_of_each_part(
    direction: Direction, entry: Decimal, chunks: list[tuple[int, Decimal]]
) -> None:
    ledger = Ledger({"USDT": D(10_000_000)})
    total = D(sum(n for n, _ in chunks))
    entry = SWAP.round_price(entry)
    ledger.place(
        SWAP,
        side=direction.entry_side,
        order_type=OrderType.MARKET,
        amount=total,
        price=None,
        client_order_id=None,
        bid=entry,
        ask=entry,
        ts_ms=0,
        leverage=1,
    )
    opened = ledger.positions()[0].entry_price
    left = total
    for ts, (n, move) in enumerate(chunks, start=1):
        exit_price = SWAP.round_price(entry * move)
        ledger.place(
            SWAP,
            side=direction.exit_side,
            order_type=OrderType.MARKET,
            amount=D(n),
            price=None,
            client_order_id=None,
            bid=exit_price,
            ask=exit_price,
            ts_ms=ts,
            reduce_only=True,
        )
        left -= n
        fill = fills(ledger, SWAP)[-1]
        code = rules.direction_code(direction)
        gross = costs.pnl(code, float(opened), float(fill.price), float(D(n) * SWAP.contract_size))
        assert fill.realized_pnl == D(str(gross)).quantize(D("1e-10"))
        positions = ledger.positions()
        if left:
            assert positions[0].contracts == left
            assert positions[0].entry_price == opened
        else:
            assert positions == []
    assert ledger.balances()["USDT"].used == 0


@FAST
@given(leverage=st.integers(2, SWAP.max_leverage), entry=MIDS)
def test_a_leveraged_long_liquidates_below_its_entry_and_a_short_above(
    leverage: int, entry: Decimal
) -> None:
    for side in (Side.BUY, Side.SELL):
        ledger = Ledger({"USDT": D(1_000_000)})
        bid, ask = quote(entry, SWAP)
        ledger.place(
            SWAP,
            side=side,
            order_type=OrderType.MARKET,
            amount=D(10),
            price=None,
            client_order_id=None,
            bid=bid,
            ask=ask,
            ts_ms=0,
            leverage=leverage,
        )
        [position] = ledger.positions()
        assert position.liquidation_price is not None
        if side is Side.BUY:
            assert 0 < position.liquidation_price < position.entry_price
        else:
            assert position.liquidation_price > position.entry_price

"""The pure reconciliation diff over hand-built journal and exchange views, one category each."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from decimal import Decimal

from tests.support.markets import swap_market
from xraybot.exchange.port import OrderReport, PositionReport, TradeReport
from xraybot.model.fills import Position
from xraybot.model.ids import derive_client_order_id
from xraybot.model.orders import Order, OrderStatus
from xraybot.model.signals import Direction, IntentKind, OrderType, Side
from xraybot.trading.reconcile_plan import ExchangeView, JournalView, ReconcilePlan, diff_state

S = OrderStatus
T0 = 1_763_000_000_000
HOUR = 3_600_000
NOW = T0 + HOUR
USER = "u1"
SWAP = "BTC/USDT:USDT"


def cid(n: int) -> str:
    return derive_client_order_id(USER, "test", SWAP, T0, "open", n)


def order(
    n: int,
    *,
    status: OrderStatus = S.OPEN,
    amount: str = "2",
    filled: str = "0",
    side: Side = Side.BUY,
    exchange_id: str | None = "auto",
    created: int = T0,
    kind: IntentKind = IntentKind.OPEN,
) -> Order:
    return Order(
        client_order_id=cid(n),
        user_id=USER,
        strategy="test",
        symbol=SWAP,
        side=side,
        kind=kind,
        order_type=OrderType.LIMIT,
        amount=Decimal(amount),
        status=status,
        created_ts_ms=created,
        updated_ts_ms=created,
        price=Decimal(100),
        filled=Decimal(filled),
        average_price=Decimal(100) if Decimal(filled) > 0 else None,
        exchange_order_id=f"E{n}" if exchange_id == "auto" else exchange_id,
    )


def report(
    n: int | str | None,
    *,
    status: OrderStatus = S.OPEN,
    amount: str = "2",
    filled: str = "0",
    side: Side = Side.BUY,
) -> OrderReport:
    client_id = cid(n) if isinstance(n, int) else n
    return OrderReport(
        symbol=SWAP,
        exchange_order_id=f"E{n}",
        client_order_id=client_id,
        status=status,
        side=side,
        amount=Decimal(amount),
        filled=Decimal(filled),
        average_price=Decimal(100) if Decimal(filled) > 0 else None,
        price=Decimal(100),
        fee=None,
        fee_currency=None,
        ts_ms=T0,
    )


def trade(
    n: int, fill_id: str, amount: str, *, side: Side = Side.BUY, price: str = "100", ts: int = 1
) -> TradeReport:
    return TradeReport(
        symbol=SWAP,
        fill_id=fill_id,
        exchange_order_id=f"E{n}",
        client_order_id=cid(n),
        side=side,
        price=Decimal(price),
        amount=Decimal(amount),
        fee=Decimal("0.01"),
        fee_currency="USDT",
        ts_ms=T0 + ts,
        is_maker=False,
    )


def position(amount: str, direction: Direction = Direction.LONG) -> Position:
    return Position(
        user_id=USER,
        strategy="test",
        symbol=SWAP,
        direction=direction,
        amount=Decimal(amount),
        entry_price=Decimal(100),
        opened_ts_ms=T0,
        updated_ts_ms=T0,
    )


def held(signed: str) -> PositionReport:
    amount = Decimal(signed)
    return PositionReport(
        symbol=SWAP,
        direction=Direction.LONG if amount > 0 else Direction.SHORT,
        contracts=abs(amount),
        entry_price=Decimal(100),
        leverage=1,
        liquidation_price=None,
        unrealized_pnl=None,
        ts_ms=T0,
    )


def diff(
    orders: Iterable[Order] = (),
    *,
    fill_ids: Iterable[str] = (),
    positions: Iterable[Position] = (),
    open_orders: Iterable[OrderReport] = (),
    trades: Iterable[TradeReport] = (),
    held_positions: Iterable[PositionReport] = (),
    lookups: Mapping[str, OrderReport | None] | None = None,
    stale_after_ms: int = 24 * HOUR,
) -> ReconcilePlan:
    journal = JournalView(
        user_id=USER,
        orders={o.client_order_id: o for o in orders},
        fill_ids=frozenset(fill_ids),
        positions={p.symbol: p for p in positions},
    )
    exchange = ExchangeView(
        open_orders=tuple(open_orders),
        trades=tuple(trades),
        positions=tuple(held_positions),
        position_symbols=frozenset({SWAP}),
        lookups=dict(lookups or {}),
        markets={SWAP: swap_market(SWAP)},
    )
    return diff_state(journal, exchange, now_ms=NOW, stale_after_ms=stale_after_ms)


def reasons(plan: ReconcilePlan) -> str:
    return " | ".join(c.describe() for c in plan.conflicts)


# -- agreement and adoption ----------------------------------------------------------------


def test_states_that_agree_give_an_empty_plan() -> None:
    plan = diff([order(1)], open_orders=[report(1)])
    assert plan.ok
    assert not plan.has_actions
    assert plan.foreign == ()


def test_an_order_whose_answer_was_lost_is_adopted_as_the_exchange_reports_it() -> None:
    lost = order(1, status=S.UNKNOWN, exchange_id=None)
    plan = diff([lost], open_orders=[report(1)])
    assert plan.ok
    [adoption] = plan.adopt
    assert adoption.before == lost
    assert adoption.after.status is S.OPEN
    assert adoption.after.exchange_order_id == "E1"


def test_a_journal_open_order_missing_from_the_open_list_is_adopted_from_its_lookup() -> None:
    plan = diff([order(1)], lookups={cid(1): report(1, status=S.CANCELED)})
    assert plan.ok
    assert [a.after.status for a in plan.adopt] == [S.CANCELED]


# -- fills that happened while the bot was down -------------------------------------------


def test_fills_missed_while_down_are_recorded_once_with_order_and_position() -> None:
    trades = [trade(1, "t1", "1", ts=5), trade(1, "t2", "1", ts=9), trade(1, "t2", "1", ts=9)]
    plan = diff(
        [order(1, status=S.PARTIALLY_FILLED, filled="0.5", amount="2.5")],
        fill_ids=["t0"],
        positions=[position("0.5")],
        trades=[trade(1, "t0", "0.5"), *trades],
        lookups={cid(1): report(1, status=S.FILLED, amount="2.5", filled="2.5")},
        held_positions=[held("2.5")],
    )
    assert plan.ok, reasons(plan)
    assert [r.fill.fill_id for r in plan.record] == ["t1", "t2"]  # t0 journaled, t2 deduped
    last = plan.record[-1]
    assert last.order.status is S.FILLED
    assert last.order.filled == Decimal("2.5")
    assert last.position is not None
    assert last.position.amount == Decimal("2.5")
    assert plan.adopt == ()  # the fills already brought the order to FILLED


def test_a_closing_fill_closes_the_position_into_a_trade() -> None:
    close = order(2, side=Side.SELL, kind=IntentKind.CLOSE)
    plan = diff(
        [close],
        positions=[position("2")],
        trades=[trade(2, "t9", "2", side=Side.SELL, price="110")],
        lookups={cid(2): report(2, status=S.FILLED, side=Side.SELL, filled="2")},
    )
    assert plan.ok, reasons(plan)
    [record] = plan.record
    assert record.position is not None
    assert record.position.amount == 0  # the journal deletes a closed position
    assert record.closed_trade is not None
    assert record.closed_trade.gross_pnl == Decimal(20)


# -- stale orders the bot owns, foreign orders ----------------------------------------------


def test_a_bot_order_unknown_to_the_journal_is_cancelled() -> None:
    plan = diff(open_orders=[report(7)])
    assert plan.ok
    [cancel] = plan.cancel
    assert cancel.client_order_id == cid(7)
    assert cancel.journaled is None
    assert "unknown to the journal" in cancel.reason


def test_a_bot_order_the_journal_closed_or_meant_to_cancel_is_cancelled() -> None:
    plan = diff(
        [order(1, status=S.CANCELED), order(2, status=S.PENDING_CANCEL)],
        open_orders=[report(1), report(2)],
    )
    assert plan.ok
    assert [(c.client_order_id, c.journaled is None) for c in plan.cancel] == [
        (cid(1), True),
        (cid(2), False),
    ]


def test_a_bot_order_open_too_long_is_adopted_then_cancelled() -> None:
    old = order(1, status=S.UNKNOWN, created=T0 - 48 * HOUR)
    plan = diff([old], open_orders=[report(1)])
    assert plan.ok
    [cancel] = plan.cancel
    assert cancel.journaled is not None
    assert cancel.journaled.status is S.OPEN
    assert "longer than" in cancel.reason


def test_a_resting_protective_order_is_never_cancelled_for_its_age() -> None:
    stop = order(1, side=Side.SELL, kind=IntentKind.STOP_LOSS, created=T0 - 48 * HOUR)
    plan = diff([stop], open_orders=[report(1, side=Side.SELL)])
    assert plan.ok
    assert not plan.has_actions


def test_foreign_orders_are_left_alone() -> None:
    plan = diff(open_orders=[report("manual-42"), report(None), report("xb-short")])
    assert plan.ok
    assert not plan.has_actions
    assert [f.client_order_id for f in plan.foreign] == ["manual-42", None, "xb-short"]


def test_an_order_that_never_reached_the_exchange_is_rejected_only_once_stale() -> None:
    pending = order(1, status=S.PENDING_SUBMIT, exchange_id=None, created=T0 - 2 * HOUR)
    in_flight = diff([pending], lookups={cid(1): None}, stale_after_ms=4 * HOUR)
    assert in_flight.ok
    assert not in_flight.has_actions
    stale = diff([pending], lookups={cid(1): None}, stale_after_ms=HOUR)
    assert [a.after.status for a in stale.adopt] == [S.REJECTED]


# -- conflicts: refuse instead of guessing --------------------------------------------------


def test_an_order_the_journal_marks_filled_but_the_exchange_shows_open_conflicts() -> None:
    plan = diff([order(1, status=S.FILLED, filled="2")], open_orders=[report(1, filled="0")])
    assert not plan.ok
    assert "marks it filled" in reasons(plan)


def test_a_position_the_journal_cannot_explain_conflicts() -> None:
    plan = diff(positions=[position("1")], held_positions=[held("3")])
    assert not plan.ok
    assert "position" in reasons(plan)
    assert "holds 3" in reasons(plan)


def test_amounts_that_disagree_conflict() -> None:
    plan = diff([order(1)], open_orders=[report(1, amount="3")])
    assert "amount: journal 2, exchange 3" in reasons(plan)
    unexplained = diff([order(1)], open_orders=[report(1, status=S.PARTIALLY_FILLED, filled="1")])
    assert "filled: journal 0, exchange 1" in reasons(unexplained)


def test_a_trade_of_ours_the_journal_never_recorded_conflicts() -> None:
    plan = diff(trades=[trade(3, "t1", "1")], held_positions=[held("1")])
    assert "never recorded" in reasons(plan)


def test_a_fill_on_an_order_the_journal_closed_conflicts() -> None:
    plan = diff(
        [order(1, status=S.CANCELED)],
        trades=[trade(1, "t1", "1")],
        held_positions=[held("1")],
    )
    assert "does not fit the journal" in reasons(plan)


def test_an_acknowledged_order_the_exchange_does_not_know_conflicts() -> None:
    plan = diff([order(1)], lookups={cid(1): None})
    assert "has no such order" in reasons(plan)
    unlooked = diff([order(1)])
    assert "never looked up" in reasons(unlooked)


def test_a_trade_without_client_id_is_matched_by_its_exchange_order_id() -> None:
    lost = order(1, status=S.UNKNOWN, exchange_id=None)
    anonymous = dataclasses.replace(trade(1, "t1", "2"), client_order_id=None)
    plan = diff(
        [lost],
        trades=[anonymous],
        lookups={cid(1): report(1, status=S.FILLED, filled="2")},
        held_positions=[held("2")],
    )
    assert plan.ok, reasons(plan)
    [record] = plan.record
    assert record.fill.client_order_id == cid(1)
    assert record.order.exchange_order_id == "E1"

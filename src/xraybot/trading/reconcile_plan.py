"""Reconciliation, the pure part: compare the journal's and the exchange's view of one user.

``diff_state`` reads two plain views and returns a ReconcilePlan; it never guesses. What
matches is adopted, trades that happened while the bot was down become fills, orders the
bot owns but no longer wants are cancelled, other people's orders are left alone, and
anything the journal cannot explain becomes a Conflict with a reason, which makes the
whole plan refused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from xraybot.exchange.port import OrderReport, PositionReport, TradeReport
from xraybot.model.errors import IllegalTransitionError, InvalidInputError
from xraybot.model.fills import Fill, Position, Trade
from xraybot.model.market import Market
from xraybot.model.orders import Order, OrderStatus
from xraybot.model.signals import IntentKind, OrderType
from xraybot.trading.order_fills import fill_from_trade, position_after_fill
from xraybot.trading.reconcile_fills import (
    is_bot_order,
    order_after_fill,
    position_signed,
    signed_amount,
)

S = OrderStatus
_IN_FLIGHT = frozenset({S.PENDING_SUBMIT, S.UNKNOWN})
_RESTING_KINDS = frozenset({IntentKind.STOP_LOSS, IntentKind.TAKE_PROFIT})


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalView:
    """What the journal knows of one user."""

    user_id: str
    orders: Mapping[str, Order]  # open orders, plus every order the exchange view names
    fill_ids: frozenset[str]  # fills already journaled for those orders
    positions: Mapping[str, Position]  # by symbol


@dataclass(frozen=True, slots=True, kw_only=True)
class ExchangeView:
    """What the exchange reports for the same user."""

    open_orders: tuple[OrderReport, ...] = ()
    trades: tuple[TradeReport, ...] = ()
    positions: tuple[PositionReport, ...] = ()
    # Symbols whose exchange position is authoritative (swaps): spot balances are shared
    # with whatever else the user holds, so they cannot be compared with the journal.
    position_symbols: frozenset[str] = frozenset()
    # Journal-open orders absent from ``open_orders``, looked up by client id (None: no such
    # order on the exchange).
    lookups: Mapping[str, OrderReport | None] = field(default_factory=dict)
    markets: Mapping[str, Market] = field(default_factory=dict)  # for every traded symbol


@dataclass(frozen=True, slots=True, kw_only=True)
class Adoption:
    """A journaled order moved to the state the exchange reports."""

    before: Order
    after: Order
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FillRecord:
    """A trade that happened while the bot was down, with everything it changes."""

    fill: Fill
    order: Order
    position: Position | None
    closed_trade: Trade | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StaleCancel:
    """An open exchange order the bot owns but does not want any more."""

    symbol: str
    exchange_order_id: str
    client_order_id: str
    journaled: Order | None  # its journal state to move on once cancelled; None: leave as is
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ForeignOrder:
    """An open order the bot did not place: never touched."""

    symbol: str
    exchange_order_id: str
    client_order_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Conflict:
    symbol: str
    subject: str  # a client order id, a trade id or "position"
    reason: str

    def describe(self) -> str:
        return f"{self.symbol} {self.subject}: {self.reason}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconcilePlan:
    user_id: str
    record: tuple[FillRecord, ...] = ()
    adopt: tuple[Adoption, ...] = ()
    cancel: tuple[StaleCancel, ...] = ()
    foreign: tuple[ForeignOrder, ...] = ()
    conflicts: tuple[Conflict, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.conflicts

    @property
    def has_actions(self) -> bool:
        return bool(self.record or self.adopt or self.cancel)


@dataclass
class _Work:
    """The diff's running state: orders and positions as the plan so far leaves them."""

    view: JournalView
    now_ms: int
    orders: dict[str, Order]
    positions: dict[str, Position]
    record: list[FillRecord] = field(default_factory=list)
    adopt: list[Adoption] = field(default_factory=list)
    cancel: list[StaleCancel] = field(default_factory=list)
    foreign: list[ForeignOrder] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)

    def conflict(self, symbol: str, subject: str, reason: str) -> None:
        self.conflicts.append(Conflict(symbol=symbol, subject=subject, reason=reason))

    def moved(self, before: Order, after: Order, reason: str) -> None:
        self.adopt.append(Adoption(before=before, after=after, reason=reason))
        self.orders[after.client_order_id] = after


def _record_trades(
    work: _Work, trades: tuple[TradeReport, ...], markets: Mapping[str, Market]
) -> None:
    seen: set[str] = set()
    for report in sorted(trades, key=lambda t: (t.ts_ms, t.fill_id)):
        if report.fill_id in work.view.fill_ids or report.fill_id in seen:
            continue
        seen.add(report.fill_id)
        cid = report.client_order_id
        if cid is None or not is_bot_order(cid):
            continue  # not ours; what it did to a position shows in the position check
        order = work.orders.get(cid)
        subject = f"trade {report.fill_id} of order {cid}"
        if order is None:
            work.conflict(report.symbol, subject, "a trade of ours the journal never recorded")
            continue
        if (order.user_id, order.symbol, order.side) != (
            work.view.user_id,
            report.symbol,
            report.side,
        ):
            work.conflict(
                report.symbol,
                subject,
                f"the journal has this order as {order.user_id} {order.side} {order.symbol}; "
                f"the exchange traded {report.side} {report.symbol}",
            )
            continue
        market = markets.get(report.symbol)
        if market is None:
            work.conflict(report.symbol, subject, "no market details to value the fill")
            continue
        fill = fill_from_trade(report, order)
        try:
            moved = order_after_fill(order, fill, report.exchange_order_id)
        except (IllegalTransitionError, InvalidInputError) as e:
            work.conflict(report.symbol, subject, f"the fill does not fit the journal: {e}")
            continue
        position, closed = position_after_fill(work.positions.get(fill.symbol), fill, moved, market)
        if position is not None and position.amount == 0:
            work.positions.pop(fill.symbol, None)
        elif position is not None:
            work.positions[fill.symbol] = position
        # (None, None): a spot sell of holdings the bot never bought leaves positions alone.
        work.orders[cid] = moved
        work.record.append(
            FillRecord(fill=fill, order=moved, position=position, closed_trade=closed)
        )


def _status_of(report: OrderReport) -> OrderStatus:
    # Adapters normalise this already; a live order with fills is partially filled.
    if report.status is S.OPEN and report.filled > 0:
        return S.PARTIALLY_FILLED
    return report.status


def _adopt(work: _Work, order: Order, report: OrderReport) -> Order | None:
    """Move ``order`` to the reported state; return it, or None after a conflict."""
    cid = order.client_order_id
    mismatch = [
        f"{name}: journal {ours}, exchange {theirs}"
        for name, ours, theirs in (
            ("symbol", order.symbol, report.symbol),
            ("side", order.side, report.side),
            ("amount", order.amount, report.amount),
            ("filled", order.filled, report.filled),
        )
        if ours != theirs
    ]
    if order.user_id != work.view.user_id:
        mismatch.append(f"user: journal {order.user_id}, reconciling {work.view.user_id}")
    if mismatch:
        work.conflict(order.symbol, cid, "the orders disagree (" + "; ".join(mismatch) + ")")
        return None
    # A resting stop (swap trigger order) reads, once fired, as the order it placed: its
    # exchange id changes from the trigger's to that order's (exchange.ordering_triggers).
    fired = order.order_type is OrderType.STOP_MARKET
    if order.exchange_order_id not in (None, report.exchange_order_id) and not fired:
        work.conflict(
            order.symbol,
            cid,
            f"exchange order id differs: journal {order.exchange_order_id}, exchange "
            f"{report.exchange_order_id}",
        )
        return None
    status = _status_of(report)
    eid = report.exchange_order_id if fired else order.exchange_order_id or report.exchange_order_id
    if status is order.status and (eid == order.exchange_order_id or order.is_terminal):
        return order  # a fired stop whose fills were just recorded: nothing left to move
    try:
        after = order.transition(
            status,
            max(work.now_ms, order.updated_ts_ms),
            exchange_order_id=eid,
            average_price=report.average_price or order.average_price,
        )
    except (IllegalTransitionError, InvalidInputError) as e:
        work.conflict(order.symbol, cid, f"cannot adopt the exchange's state: {e}")
        return None
    work.moved(order, after, f"exchange reports {status} with {report.filled} filled")
    return after


def _stale(work: _Work, report: OrderReport, journaled: Order | None, reason: str) -> None:
    work.cancel.append(
        StaleCancel(
            symbol=report.symbol,
            exchange_order_id=report.exchange_order_id,
            client_order_id=report.client_order_id or "",
            journaled=journaled,
            reason=reason,
        )
    )


def _exchange_open(work: _Work, reports: tuple[OrderReport, ...], stale_after_ms: int) -> None:
    for report in reports:
        cid = report.client_order_id
        if cid is None or not is_bot_order(cid):
            work.foreign.append(
                ForeignOrder(
                    symbol=report.symbol,
                    exchange_order_id=report.exchange_order_id,
                    client_order_id=cid,
                )
            )
            continue
        order = work.orders.get(cid)
        if order is None:
            _stale(work, report, None, "ours by client id but unknown to the journal")
        elif order.status is S.FILLED:
            work.conflict(
                report.symbol, cid, "the journal marks it filled; the exchange shows it open"
            )
        elif order.status.is_terminal:
            _stale(work, report, None, f"the journal marks it {order.status}")
        elif order.status is S.PENDING_CANCEL:
            _stale(work, report, order, "the bot had asked to cancel it")
        else:
            adopted = _adopt(work, order, report)
            too_old = work.now_ms - order.created_ts_ms > stale_after_ms
            # Protective orders rest on purpose, so the position stays covered while down.
            if adopted is not None and too_old and order.kind not in _RESTING_KINDS:
                _stale(work, report, adopted, f"open for longer than {stale_after_ms} ms")


def _journal_open(
    work: _Work,
    open_ids: set[str],
    lookups: Mapping[str, OrderReport | None],
    stale_after_ms: int,
) -> None:
    for cid in sorted(work.view.orders):
        order = work.orders[cid]
        # An order the missed fills just closed is still checked against the exchange.
        if work.view.orders[cid].status.is_terminal or cid in open_ids:
            continue
        if cid not in lookups:
            work.conflict(order.symbol, cid, "open in the journal but never looked up")
            continue
        report = lookups[cid]
        if report is not None:
            _adopt(work, order, report)
        elif order.status not in _IN_FLIGHT:
            work.conflict(
                order.symbol,
                cid,
                f"the journal has it {order.status}; the exchange has no such order",
            )
        elif work.now_ms - order.updated_ts_ms >= stale_after_ms:
            # Not found long after it was journaled: it never reached the exchange.
            try:
                rejected = order.transition(S.REJECTED, max(work.now_ms, order.updated_ts_ms))
            except IllegalTransitionError as e:
                work.conflict(order.symbol, cid, str(e))
                continue
            work.moved(order, rejected, "never reached the exchange")
        # else: still in flight; the order manager owns it until it is known.


def _positions(work: _Work, reports: tuple[PositionReport, ...], symbols: frozenset[str]) -> None:
    exchange: dict[str, Decimal] = {}
    for report in reports:
        net = exchange.get(report.symbol, Decimal(0))
        exchange[report.symbol] = net + signed_amount(report.direction, report.contracts)
    for symbol in sorted(symbols | exchange.keys()):
        theirs = exchange.get(symbol, Decimal(0))
        ours = position_signed(work.positions.get(symbol))
        if ours != theirs:
            work.conflict(
                symbol,
                "position",
                f"the exchange holds {theirs} (signed), the journal explains {ours} after "
                "recording the missed fills",
            )


def _with_client_ids(journal: JournalView, exchange: ExchangeView) -> tuple[TradeReport, ...]:
    """Return the trades with client ids filled in from their exchange order ids.

    Some venues (MEXC swaps) report trades without the client id; the order it belongs to
    is known from the journal, the open orders or the lookups.
    """
    by_exchange_id = {
        o.exchange_order_id: o.client_order_id
        for o in journal.orders.values()
        if o.exchange_order_id is not None
    }
    for report in (*exchange.open_orders, *exchange.lookups.values()):
        if report is not None and report.client_order_id is not None:
            by_exchange_id.setdefault(report.exchange_order_id, report.client_order_id)
    return tuple(
        t
        if t.client_order_id is not None
        else dataclasses.replace(t, client_order_id=by_exchange_id.get(t.exchange_order_id))
        for t in exchange.trades
    )


def diff_state(
    journal: JournalView, exchange: ExchangeView, *, now_ms: int, stale_after_ms: int
) -> ReconcilePlan:
    """Compare the two views; return what to do, or the conflicts that forbid trading."""
    work = _Work(
        view=journal,
        now_ms=now_ms,
        orders=dict(journal.orders),
        positions=dict(journal.positions),
    )
    _record_trades(work, _with_client_ids(journal, exchange), exchange.markets)
    _exchange_open(work, exchange.open_orders, stale_after_ms)
    open_ids = {r.client_order_id for r in exchange.open_orders if r.client_order_id is not None}
    _journal_open(work, open_ids, exchange.lookups, stale_after_ms)
    _positions(work, exchange.positions, exchange.position_symbols)
    return ReconcilePlan(
        user_id=journal.user_id,
        record=tuple(work.record),
        adopt=tuple(work.adopt),
        cancel=tuple(work.cancel),
        foreign=tuple(work.foreign),
        conflicts=tuple(work.conflicts),
    )


__all__ = [
    "Adoption",
    "Conflict",
    "ExchangeView",
    "FillRecord",
    "ForeignOrder",
    "JournalView",
    "ReconcilePlan",
    "StaleCancel",
    "diff_state",
]

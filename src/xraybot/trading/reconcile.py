"""Reconciliation at start-up and periodically: gather both views, diff them, act or refuse.

The diff itself is pure (``reconcile_plan``). This module reads the journal and the
exchange into plain views, then executes a plan: fills first (each with the order,
position and trade it produced, in one journal transaction), then adopted order states,
then cancels of stale orders the bot owns. A plan with conflicts is not executed at all:
the user is refused with an alert naming every conflict, and an operator decides.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from xraybot.exchange.port import ExchangeGateway, OrderReport, TradeReport
from xraybot.model.errors import IllegalTransitionError, InvalidOrderError
from xraybot.model.orders import Order, OrderStatus
from xraybot.trading.crashpoints import crash_point
from xraybot.trading.ports import Journal, OrderRepository
from xraybot.trading.reconcile_fills import is_bot_order
from xraybot.trading.reconcile_plan import (
    Adoption,
    Conflict,
    ExchangeView,
    FillRecord,
    ForeignOrder,
    JournalView,
    ReconcilePlan,
    StaleCancel,
    diff_state,
)

DEFAULT_STALE_AFTER_MS = 24 * 3_600_000


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconcileReport:
    """The outcome for one user: ``ok``, or refused with the reasons and an alert text."""

    user_id: str
    ok: bool
    reasons: tuple[str, ...] = ()
    recorded: int = 0
    adopted: int = 0
    canceled: int = 0
    foreign: int = 0
    notes: tuple[str, ...] = ()  # things done that the next pass must finish

    @classmethod
    def refused(cls, user_id: str, reasons: Iterable[str]) -> ReconcileReport:
        return cls(user_id=user_id, ok=False, reasons=tuple(reasons))

    @property
    def alert(self) -> str | None:
        """The message for the user's alert channel when trading is refused."""
        if self.ok:
            return None
        lines = "\n".join(f"- {reason}" for reason in self.reasons)
        return (
            f"Trading for user {self.user_id} is stopped: the journal and the exchange "
            f"disagree and the bot will not guess.\n{lines}\n"
            "Check the account on the exchange, fix the journal or the account, then "
            "restart reconciliation."
        )


async def _cancel(
    cancel: StaleCancel, journal: Journal, gateway: ExchangeGateway, now_ms: int
) -> str | None:
    """Cancel one stale order; return a note when its journal state is left unfinished."""
    try:
        report = await gateway.cancel_order(
            cancel.symbol,
            exchange_order_id=cancel.exchange_order_id,
            client_order_id=cancel.client_order_id,
        )
    except InvalidOrderError as e:
        # Gone since the views were read (filled or cancelled): the next pass adopts it.
        return f"{cancel.client_order_id}: not cancelled ({e}); the next reconciliation adopts it"
    order = cancel.journaled
    if order is None:
        return None
    ts_ms = max(now_ms, order.updated_ts_ms)
    if report.status is OrderStatus.CANCELED and report.filled == order.filled:
        await journal.record_order_update(order.transition(OrderStatus.CANCELED, ts_ms))
        return None
    # It filled (partly) before the cancel landed: the fills come in on the next pass.
    if order.status is not OrderStatus.PENDING_CANCEL:
        try:
            pending = order.transition(OrderStatus.PENDING_CANCEL, ts_ms)
        except IllegalTransitionError:
            pending = None
        if pending is not None:
            await journal.record_order_update(pending)
    return (
        f"{cancel.client_order_id}: cancel answered {report.status} with {report.filled} "
        "filled; the next reconciliation records the rest"
    )


async def apply_plan(
    plan: ReconcilePlan, journal: Journal, gateway: ExchangeGateway, *, now_ms: int
) -> ReconcileReport:
    """Execute ``plan``, or refuse the user when it has conflicts (nothing is done then)."""
    if not plan.ok:
        return ReconcileReport.refused(plan.user_id, (c.describe() for c in plan.conflicts))
    recorded = 0
    for record in plan.record:
        written = await journal.record_fill(
            record.fill, record.order, record.position, record.closed_trade
        )
        recorded += int(written)
        crash_point("during_reconcile")
    for adoption in plan.adopt:
        await journal.record_order_update(adoption.after)
    notes = []
    for cancel in plan.cancel:
        note = await _cancel(cancel, journal, gateway, now_ms)
        if note is not None:
            notes.append(note)
    return ReconcileReport(
        user_id=plan.user_id,
        ok=True,
        recorded=recorded,
        adopted=len(plan.adopt),
        canceled=len(plan.cancel),
        foreign=len(plan.foreign),
        notes=tuple(notes),
    )


async def gather_views(
    user_id: str,
    gateway: ExchangeGateway,
    journal: Journal,
    orders: OrderRepository,
    *,
    symbols: Iterable[str],
    since_ms: int | None = None,
) -> tuple[JournalView, ExchangeView]:
    """Read the journal and the exchange for ``symbols`` (plus any the journal has open)."""
    open_orders = await orders.open_orders(user_id)
    positions = {p.symbol: p for p in await journal.positions(user_id)}
    wanted = sorted(set(symbols) | {o.symbol for o in open_orders} | positions.keys())
    exchange_open: list[OrderReport] = []
    trades: list[TradeReport] = []
    for symbol in wanted:
        exchange_open += await gateway.fetch_open_orders(symbol)
        trades += await gateway.fetch_my_trades(symbol, since_ms=since_ms)
    # ccxt's unified swap symbols carry the settle currency after a colon.
    swaps = frozenset(s for s in wanted if ":" in s)
    exchange_positions = await gateway.fetch_positions(sorted(swaps)) if swaps else []
    markets = {s: m for s, m in (await gateway.markets()).items() if s in wanted}
    known: dict[str, Order] = {o.client_order_id: o for o in open_orders}
    named = {r.client_order_id for r in exchange_open} | {t.client_order_id for t in trades}
    for cid in sorted(c for c in named if c is not None and c not in known):
        if is_bot_order(cid):
            found = await orders.get(cid)
            if found is not None:
                known[cid] = found
    fill_ids = frozenset([f.fill_id for cid in sorted(known) for f in await journal.fills(cid)])
    listed = {r.client_order_id for r in exchange_open}
    lookups: dict[str, OrderReport | None] = {}
    for order in open_orders:
        if order.client_order_id not in listed:
            lookups[order.client_order_id] = await gateway.fetch_order(
                order.symbol, client_order_id=order.client_order_id
            )
    journal_view = JournalView(
        user_id=user_id, orders=known, fill_ids=fill_ids, positions=positions
    )
    exchange_view = ExchangeView(
        open_orders=tuple(exchange_open),
        trades=tuple(trades),
        positions=tuple(exchange_positions),
        position_symbols=swaps,
        lookups=lookups,
        markets=markets,
    )
    return journal_view, exchange_view


async def reconcile_user(
    user_id: str,
    gateway: ExchangeGateway,
    journal: Journal,
    orders: OrderRepository,
    *,
    symbols: Iterable[str],
    now_ms: int,
    stale_after_ms: int = DEFAULT_STALE_AFTER_MS,
    since_ms: int | None = None,
) -> ReconcileReport:
    """Gather both views, diff them and execute the plan (or refuse the user)."""
    journal_view, exchange_view = await gather_views(
        user_id, gateway, journal, orders, symbols=symbols, since_ms=since_ms
    )
    plan = diff_state(journal_view, exchange_view, now_ms=now_ms, stale_after_ms=stale_after_ms)
    return await apply_plan(plan, journal, gateway, now_ms=now_ms)


__all__ = [
    "DEFAULT_STALE_AFTER_MS",
    "Adoption",
    "Conflict",
    "ExchangeView",
    "FillRecord",
    "ForeignOrder",
    "JournalView",
    "ReconcilePlan",
    "ReconcileReport",
    "StaleCancel",
    "apply_plan",
    "diff_state",
    "gather_views",
    "reconcile_user",
]

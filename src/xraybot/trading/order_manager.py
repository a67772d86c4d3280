"""The order manager: every order journaled before it is sent, and never placed twice.

An intent is rounded to the market's ticks and checked against its minimums, then
written to the journal (PENDING_SUBMIT) and only then sent under its deterministic client
order id. When an answer is lost the order is looked up by that id; only an order the
exchange proves it does not have is sent again, under the same id (the exchange refuses a
repeated id, so even a late duplicate cannot become a second order). An order still
unaccounted for is kept UNKNOWN in the journal and looked up again by
:meth:`OrderManager.resolve_unknown`, never resent blindly.

Exchange reports move the journaled order through the model's transition table; each
execution is recorded once, deduplicated by the exchange's trade id.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TypeVar

import structlog

from xraybot.exchange.port import ExchangeGateway, OrderReport, TradeReport
from xraybot.exchange.retry import with_retries
from xraybot.model.errors import (
    ExchangeUnavailableError,
    InvalidInputError,
    InvalidOrderError,
    OrderStatusUnknownError,
    TemporaryError,
    UnknownSymbolError,
)
from xraybot.model.market import Market, Rounding
from xraybot.model.orders import Order, OrderStatus
from xraybot.model.signals import OrderIntent, OrderType, Side
from xraybot.trading.crashpoints import crash_point
from xraybot.trading.order_fills import fill_from_trade, position_after_fill
from xraybot.trading.ports import Clock, Journal, OrderRepository

log = structlog.get_logger(__name__)
_T = TypeVar("_T")

MarketLookup = Callable[[str], Awaitable[Market]]
S = OrderStatus
_UNSETTLED = frozenset({S.PENDING_SUBMIT, S.UNKNOWN})
_TRADE_LOOKBACK_MS = 60_000  # exchange and local clocks may disagree by this much


class _AnswerLostError(ExchangeUnavailableError):
    """The gateway's own lookups found nothing: worth another attempt, lookup first."""


class OrderManager:
    """Places, tracks and cancels one exchange account's orders through the journal.

    ``markets`` returns the Market of a symbol (default: the gateway's markets). Retries
    use ``exchange.retry.with_retries`` (``attempts`` tries, backoff up to ``max_wait_s``);
    ``sleep`` is its sleep, replaceable in tests. An order the exchange still does not have
    ``resend_window_ms`` after it was journaled is marked REJECTED instead of being sent
    late at a stale price.
    """

    def __init__(
        self,
        gateway: ExchangeGateway,
        journal: Journal,
        orders: OrderRepository,
        clock: Clock,
        markets: MarketLookup | None = None,
        *,
        attempts: int = 4,
        max_wait_s: float = 30.0,
        resend_window_ms: int = 60_000,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if attempts < 1:
            raise InvalidInputError(f"attempts must be at least 1; found {attempts}.")
        if resend_window_ms < 0:
            raise InvalidInputError(f"resend_window_ms must be >= 0; found {resend_window_ms}.")
        self._gateway = gateway
        self._journal = journal
        self._orders = orders
        self._clock = clock
        self._markets = markets or self._gateway_market
        self._attempts = attempts
        self._max_wait_s = max_wait_s
        self._resend_window_ms = resend_window_ms
        self._sleep = sleep
        self._locks: dict[str, asyncio.Lock] = {}

    # -- public ---------------------------------------------------------------------------

    async def submit(self, intent: OrderIntent) -> Order:
        """Journal ``intent`` and place it once; return the order as the journal now has it.

        Raise InvalidOrderError (journaling nothing) when the rounded amount or notional is
        under the market's minimum. Submitting an intent again never places a second order:
        a journaled order is looked up (and sent only if the exchange proves it absent).
        The result may be UNKNOWN: then ``resolve_unknown`` finds it later.
        """
        cid = intent.client_order_id
        async with self._lock(cid):
            stored = await self._orders.get(cid)
            if stored is None:
                market = await self._retrying(lambda: self._markets(intent.symbol))
                checked = await self._checked(intent, market)
                now = self._clock.now_ms()
                fresh = Order.from_intent(checked, now)
                stored = await self._journal.record_intent(checked, now)
                crash_point("after_intent")
                if stored == fresh:
                    return await self._send(stored, may_exist=False)
            if stored.status in _UNSETTLED:
                return await self._resolve(stored)
            return stored

    async def refresh(self, client_order_id: str) -> Order:
        """Apply the exchange's current view of one journaled order and return the result."""
        async with self._lock(client_order_id):
            return await self._refresh(await self._stored(client_order_id))

    async def poll_open(self, user_id: str, symbol: str | None = None) -> list[Order]:
        """Refresh every non-terminal order of ``user_id``; one failing lookup skips one order."""
        out: list[Order] = []
        for order in await self._orders.open_orders(user_id, symbol):
            try:
                out.append(await self.refresh(order.client_order_id))
            except TemporaryError as e:
                log.warning(
                    "order refresh failed; kept for the next poll",
                    client_order_id=order.client_order_id,
                    error=str(e),
                )
                out.append(order)
        return out

    async def resolve_unknown(self, user_id: str, symbol: str | None = None) -> list[Order]:
        """Look up every UNKNOWN or unsent (PENDING_SUBMIT) order of ``user_id`` again."""
        out: list[Order] = []
        for order in await self._orders.open_orders(user_id, symbol):
            if order.status not in _UNSETTLED:
                continue
            async with self._lock(order.client_order_id):
                current = await self._stored(order.client_order_id)
                # Another task may have settled it while this one waited for the lock.
                settled = current.status not in _UNSETTLED
                out.append(current if settled else await self._resolve(current))
        return out

    async def cancel(self, client_order_id: str) -> Order:
        """Cancel a journaled order; return it as it ends up (it may have filled meanwhile).

        An order the exchange does not have is never sent: it is marked REJECTED. If the
        cancel's answer is lost the order stays PENDING_CANCEL: cancel again, or let the
        next refresh show whether it went through.
        """
        async with self._lock(client_order_id):
            order = await self._stored(client_order_id)
            if order.status in _UNSETTLED:
                report = await self._lookup(order)
                if report is None:
                    # Not on the exchange: it never will be, since it is never sent now.
                    return await self._update(order.transition(S.REJECTED, self._now(order)))
                order = await self._adopt(order, report)
            if order.is_terminal:
                return order
            pending = order
            if order.status is not S.PENDING_CANCEL:
                pending = await self._update(order.transition(S.PENDING_CANCEL, self._now(order)))
            # else an earlier cancel's answer was lost: asking again is harmless
            try:
                report = await self._retrying(
                    lambda: self._gateway.cancel_order(
                        pending.symbol,
                        exchange_order_id=pending.exchange_order_id,
                        client_order_id=None if pending.exchange_order_id else client_order_id,
                    )
                )
            except TemporaryError as e:
                log.warning(
                    "cancel answer lost; the next refresh settles it",
                    client_order_id=client_order_id,
                    error=str(e),
                )
                return pending
            return await self._adopt(pending, report)

    # -- sending --------------------------------------------------------------------------

    async def _checked(self, intent: OrderIntent, market: Market) -> OrderIntent:
        refused = f"order {intent.client_order_id} on {market.symbol} refused before sending"
        amount = market.round_amount(intent.amount)
        stop = intent.stop_price
        if intent.order_type is OrderType.STOP_MARKET and stop is not None:
            # A resting stop (swap trigger order; the gateway refuses it where there are
            # none): on the tick, never firing later than asked.
            stop = market.round_price(
                stop, Rounding.UP if intent.side is Side.SELL else Rounding.DOWN
            )
            if stop <= 0:
                raise InvalidOrderError(
                    f"{refused}: stop price {intent.stop_price} is below one tick "
                    f"({market.price_tick})."
                )
        price = intent.price
        if price is not None:
            # A rounded limit price must never be worse than the one asked for.
            mode = Rounding.DOWN if intent.side is Side.BUY else Rounding.UP
            price = market.round_price(price, mode)
            if price <= 0:
                raise InvalidOrderError(
                    f"{refused}: price {intent.price} is below one tick ({market.price_tick})."
                )
        reference = price if intent.order_type is not OrderType.STOP_MARKET else stop
        if reference is None and market.min_cost > 0:
            # A market order's notional needs a price; the last trade is the honest estimate.
            ticker = await self._retrying(lambda: self._gateway.fetch_ticker(market.symbol))
            reference = ticker.last
        try:
            market.check_order_size(amount, reference or Decimal(0))
        except InvalidOrderError as e:
            raise InvalidOrderError(
                f"{refused}: {e} Found amount {intent.amount} (rounded to {amount}, step "
                f"{market.amount_tick}) at price {reference}; the market minimums are amount "
                f"{market.min_amount} and notional {market.min_cost} {market.quote}."
            ) from None
        return dataclasses.replace(intent, amount=amount, price=price, stop_price=stop)

    async def _send(self, order: Order, *, may_exist: bool) -> Order:
        cid = order.client_order_id

        async def attempt() -> OrderReport:
            nonlocal may_exist
            if may_exist:
                found = await self._gateway.fetch_order(order.symbol, client_order_id=cid)
                if found is not None:
                    return found
            # From here on a failure may hide a placed order: every later try looks first.
            may_exist = True
            try:
                return await self._gateway.create_order(order)
            except OrderStatusUnknownError as e:
                raise _AnswerLostError(str(e)) from e

        try:
            report = await self._retrying(attempt)
        except TemporaryError as e:
            return await self._mark_unknown(order, e)
        except InvalidOrderError as e:
            log.warning("order refused by the exchange", client_order_id=cid, error=str(e))
            await self._update(order.transition(S.REJECTED, self._now(order)))
            raise
        crash_point("after_send")
        return await self._adopt(order, report)

    async def _resolve(self, order: Order) -> Order:
        """Settle a PENDING_SUBMIT or UNKNOWN order: adopt it, send it, or keep it UNKNOWN."""
        try:
            report = await self._lookup(order)
        except TemporaryError as e:
            return await self._mark_unknown(order, e)
        if report is not None:
            return await self._adopt(order, report)
        now = self._now(order)
        if now - order.created_ts_ms > self._resend_window_ms:
            log.warning(
                "order never reached the exchange; too late to send it now",
                client_order_id=order.client_order_id,
                age_ms=now - order.created_ts_ms,
            )
            return await self._update(order.transition(S.REJECTED, now))
        if order.status is S.UNKNOWN:
            # Proven absent: back to PENDING_SUBMIT, resent under the same client id.
            order = await self._update(order.transition(S.PENDING_SUBMIT, now))
        return await self._send(order, may_exist=True)

    async def _lookup(self, order: Order) -> OrderReport | None:
        return await self._retrying(
            lambda: self._gateway.fetch_order(order.symbol, client_order_id=order.client_order_id)
        )

    async def _mark_unknown(self, order: Order, error: Exception) -> Order:
        log.warning(
            "order outcome unknown; tracked until a lookup settles it",
            client_order_id=order.client_order_id,
            error=str(error),
        )
        if order.status is S.UNKNOWN:
            return order
        return await self._update(order.transition(S.UNKNOWN, self._now(order)))

    # -- applying reports -----------------------------------------------------------------

    async def _refresh(self, order: Order) -> Order:
        if order.status in _UNSETTLED:
            return await self._resolve(order)
        if order.is_terminal:
            return order
        report = await self._retrying(
            lambda: self._gateway.fetch_order(
                order.symbol,
                exchange_order_id=order.exchange_order_id,
                client_order_id=None if order.exchange_order_id else order.client_order_id,
            )
        )
        if report is None:
            log.warning(
                "a journaled live order is missing on the exchange; reconciliation decides",
                client_order_id=order.client_order_id,
            )
            return order
        return await self._adopt(order, report)

    async def _adopt(self, order: Order, report: OrderReport) -> Order:
        """Move ``order`` to the state ``report`` shows, recording each new execution once."""
        current = order
        eid = report.exchange_order_id or current.exchange_order_id
        if report.filled > current.filled:
            current = await self._record_fills(current, report, eid)
        target = self._target(current, report)
        if target is current.status and current.exchange_order_id == eid:
            return current
        if target is current.status and target is not S.PARTIALLY_FILLED:
            return current  # only the exchange id would change; X -> X is not a move
        return await self._update(
            current.transition(target, self._now(current), exchange_order_id=eid)
        )

    @staticmethod
    def _target(current: Order, report: OrderReport) -> OrderStatus:
        if current.status is S.FILLED:
            return S.FILLED
        live = S.PARTIALLY_FILLED if current.filled > 0 else S.OPEN
        status = report.status
        if status in _UNSETTLED or status is S.PENDING_CANCEL:
            return current.status
        if status.is_terminal and (status is S.FILLED or current.filled < report.filled):
            # Executions the trade list does not show yet: stay live, the next refresh
            # records them, and a terminal order could no longer take them.
            return live
        if status in (S.OPEN, S.PARTIALLY_FILLED):
            if current.status is S.PENDING_CANCEL and current.filled == 0:
                return S.OPEN
            return live
        return status

    async def _record_fills(self, order: Order, report: OrderReport, eid: str | None) -> Order:
        cid = order.client_order_id
        known = {f.fill_id for f in await self._journal.fills(cid)}
        since = order.created_ts_ms - _TRADE_LOOKBACK_MS
        trades = await self._retrying(lambda: self._gateway.fetch_my_trades(order.symbol, since))
        mine = sorted(
            (t for t in trades if self._belongs(t, cid, eid) and t.fill_id not in known),
            key=lambda t: (t.ts_ms, t.fill_id),
        )
        if not mine:
            return order
        market = await self._retrying(lambda: self._markets(order.symbol))
        current = order
        for trade in mine:
            filled = current.filled + trade.amount
            if filled > current.amount:
                log.error(
                    "execution beyond the order amount ignored",
                    client_order_id=cid,
                    fill_id=trade.fill_id,
                    filled=str(filled),
                    amount=str(current.amount),
                )
                continue
            paid = (current.average_price or Decimal(0)) * current.filled
            status = S.FILLED if filled == current.amount else S.PARTIALLY_FILLED
            fill = fill_from_trade(trade, current)
            nxt = current.transition(
                status,
                self._now(current),
                filled=filled,
                average_price=(paid + trade.price * trade.amount) / filled,
                exchange_order_id=eid,
            )
            position = await self._journal.position(current.user_id, current.symbol)
            new_position, closed = position_after_fill(position, fill, nxt, market)
            crash_point("after_fill")
            if await self._journal.record_fill(fill, nxt, new_position, closed):
                current = nxt
            else:
                current = await self._stored(cid)  # recorded by someone else meanwhile
        return current

    @staticmethod
    def _belongs(trade: TradeReport, cid: str, eid: str | None) -> bool:
        return trade.client_order_id == cid or (eid is not None and trade.exchange_order_id == eid)

    # -- plumbing -------------------------------------------------------------------------

    async def _retrying(self, call: Callable[[], Awaitable[_T]]) -> _T:
        # tenacity awaits only coroutine functions; a lambda's coroutine would come back raw.
        async def attempt() -> _T:
            return await call()

        return await with_retries(
            attempt, attempts=self._attempts, max_wait_s=self._max_wait_s, sleep=self._sleep
        )

    async def _update(self, order: Order) -> Order:
        return await self._journal.record_order_update(order)

    async def _stored(self, client_order_id: str) -> Order:
        order = await self._orders.get(client_order_id)
        if order is None:
            raise InvalidInputError(
                f"order {client_order_id} is not in the journal; found no such client order "
                "id. Submit its intent first."
            )
        return order

    async def _gateway_market(self, symbol: str) -> Market:
        market = (await self._gateway.markets()).get(symbol)
        if market is None:
            raise UnknownSymbolError(
                f"{self._gateway.exchange_id} lists no market {symbol!r}; check the symbol."
            )
        return market

    def _now(self, order: Order) -> int:
        # Journal updates must not go back in time, even if the clock does.
        return max(self._clock.now_ms(), order.updated_ts_ms)

    def _lock(self, client_order_id: str) -> asyncio.Lock:
        return self._locks.setdefault(client_order_id, asyncio.Lock())


__all__ = ["MarketLookup", "OrderManager"]

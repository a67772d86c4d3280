"""The simulated account's orders and fills: ids, the client-id index, open orders, reservations.

Bookkeeping only: ``matching.ledger`` decides what fills and moves the money; this keeps
the record of it, as frozen ``LedgerOrder``/``LedgerFill`` snapshots replaced on change.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from xraybot.matching.accounting import LedgerFill, LedgerOrder, order_after_fill
from xraybot.model.errors import InvalidInputError
from xraybot.model.orders import OrderStatus


class OrderLog:
    """Every order an account ever placed and every fill, with ids from one sequence."""

    def __init__(self, id_prefix: str) -> None:
        self._prefix = id_prefix
        self._orders: dict[str, LedgerOrder] = {}  # by exchange order id, in placement order
        self._rank: dict[str, int] = {}
        self._by_client_id: dict[str, str] = {}
        self._open: dict[str, dict[str, None]] = {}  # symbol -> open order ids, oldest first
        self._reserved: dict[str, tuple[str, Decimal]] = {}  # order id -> (asset, amount)
        self._fills: list[LedgerFill] = []
        self._order_seq = 0
        self._fill_seq = 0

    def next_order_id(self) -> str:
        """Return the id the next order will get (taking it is ``add``'s job)."""
        return f"{self._prefix}{self._order_seq + 1}"

    def owner_of(self, client_order_id: str) -> str | None:
        """Return the exchange order id that already uses ``client_order_id``, if any."""
        return self._by_client_id.get(client_order_id)

    def get(
        self, symbol: str, *, exchange_order_id: str | None, client_order_id: str | None
    ) -> LedgerOrder | None:
        """Return the order of ``symbol`` with the given id(s), or None."""
        if exchange_order_id is None and client_order_id is None:
            raise InvalidInputError(
                f"{symbol}: an order lookup needs exchange_order_id or client_order_id; "
                "found neither."
            )
        order_id = exchange_order_id
        if order_id is None and client_order_id is not None:
            order_id = self._by_client_id.get(client_order_id)
        found = self._orders.get(order_id) if order_id is not None else None
        if found is None or found.symbol != symbol:
            return None
        if client_order_id is not None and found.client_order_id != client_order_id:
            return None
        return found

    def open_orders(self, symbol: str | None = None) -> list[LedgerOrder]:
        """Return open orders of ``symbol`` (or of every symbol), oldest first."""
        symbols = [symbol] if symbol is not None else list(self._open)
        ids = sorted(
            (i for s in symbols for i in self._open.get(s, {})), key=self._rank.__getitem__
        )
        return [self._orders[i] for i in ids]

    def by_id(self, order_id: str) -> LedgerOrder:
        """Return the order with exchange id ``order_id`` (one this log handed out)."""
        return self._orders[order_id]

    def fills(self, symbol: str) -> list[LedgerFill]:
        """Return the fills of ``symbol``, oldest first."""
        return [fill for fill in self._fills if fill.symbol == symbol]

    def reserved(self, order_id: str) -> tuple[str, Decimal] | None:
        """Return ``(asset, amount)`` the open order still holds back, if anything."""
        return self._reserved.get(order_id)

    def add(
        self,
        order: LedgerOrder,
        *,
        rests: bool = False,
        reserved: tuple[str, Decimal] | None = None,
    ) -> None:
        """Record a new order under the next id; a resting one joins the open orders."""
        self._order_seq += 1
        order_id = order.exchange_order_id
        self._orders[order_id] = order
        self._rank[order_id] = self._order_seq
        if order.client_order_id is not None:
            self._by_client_id[order.client_order_id] = order_id
        if rests:
            self._open.setdefault(order.symbol, {})[order_id] = None
            if reserved is not None and reserved[1]:
                self._reserved[order_id] = reserved

    def record_fill(
        self,
        order: LedgerOrder,
        amount: Decimal,
        price: Decimal,
        fee: Decimal,
        realized_pnl: Decimal,
        ts_ms: int,
        *,
        is_maker: bool,
        liquidation: bool = False,
    ) -> LedgerFill:
        """Record a fill of ``order``; a filled order leaves the open orders."""
        self._fill_seq += 1
        fill = LedgerFill(
            fill_id=f"{self._prefix}T{self._fill_seq}",
            exchange_order_id=order.exchange_order_id,
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            price=price,
            amount=amount,
            fee=fee,
            fee_currency=order.fee_currency,
            ts_ms=ts_ms,
            is_maker=is_maker,
            realized_pnl=realized_pnl,
            liquidation=liquidation,
        )
        self._fills.append(fill)
        updated = order_after_fill(order, fill)
        self._orders[order.exchange_order_id] = updated
        if updated.status is OrderStatus.FILLED:
            self._drop_open(updated)
        return fill

    def release(self, order_id: str, amount: Decimal) -> None:
        """Note that ``amount`` of an open order's reservation went back (or was spent)."""
        asset, held = self._reserved[order_id]
        if held - amount:
            self._reserved[order_id] = (asset, held - amount)
        else:
            del self._reserved[order_id]

    def close(
        self, order: LedgerOrder, status: OrderStatus, ts_ms: int
    ) -> tuple[LedgerOrder, tuple[str, Decimal] | None]:
        """Take an open order out as ``status``; return it and the reservation it freed."""
        freed = self._reserved.get(order.exchange_order_id)
        self._drop_open(order)
        current = self._orders[order.exchange_order_id]
        closed = dataclasses.replace(
            current, status=status, updated_ts_ms=max(ts_ms, current.updated_ts_ms)
        )
        self._orders[order.exchange_order_id] = closed
        return closed, freed

    def _drop_open(self, order: LedgerOrder) -> None:
        self._reserved.pop(order.exchange_order_id, None)
        open_ids = self._open.get(order.symbol, {})
        open_ids.pop(order.exchange_order_id, None)
        if not open_ids:
            self._open.pop(order.symbol, None)

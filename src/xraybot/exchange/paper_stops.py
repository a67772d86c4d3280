"""The paper gateway's resting stops: swap STOP_MARKET orders fired on its price feed.

The ledger (``matching.ledger``) fills market and limit orders only. A stop waits here
until a quote the paper gateway fetches has its last price at or through the stop
(``matching.rules.stop_triggered``); it then becomes a reduce-only market order in the
ledger under the same client id, and from then on is reported as that order. As on the
exchange (``exchange.ordering_triggers``) only swaps take resting stops; a restarted paper
account gets its open stops back from the journal (``PaperGateway.restore_stops``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from xraybot.exchange.port import OrderReport
from xraybot.matching.rules import BUY, SELL, stop_triggered
from xraybot.model.errors import InvalidOrderError
from xraybot.model.market import Market, MarketKind
from xraybot.model.orders import Order, OrderStatus
from xraybot.model.signals import OrderType, Side


@dataclass(frozen=True, slots=True)
class PaperStop:
    """A stop resting in the paper account; ``status`` OPEN until fired or cancelled."""

    order: Order  # as placed (amount, side, stop price, leverage)
    exchange_order_id: str
    status: OrderStatus = OrderStatus.OPEN
    ts_ms: int = 0

    def report(self) -> OrderReport:
        return OrderReport(
            symbol=self.order.symbol,
            exchange_order_id=self.exchange_order_id,
            client_order_id=self.order.client_order_id,
            status=self.status,
            side=self.order.side,
            amount=self.order.amount,
            filled=Decimal(0),
            average_price=None,
            price=None,
            fee=None,
            fee_currency=None,
            ts_ms=self.ts_ms,
        )


def takes_resting_stops(market: Market) -> bool:
    return market.kind is MarketKind.SWAP


class PaperStops:
    """Every resting stop of one paper account, by client order id."""

    def __init__(self, id_prefix: str) -> None:
        self._prefix = id_prefix
        self._by_cid: dict[str, PaperStop] = {}
        self._count = 0

    def place(self, order: Order, market: Market, ts_ms: int) -> PaperStop:
        """Rest ``order`` (a retried place returns the stop already there)."""
        if not takes_resting_stops(market):
            raise InvalidOrderError(
                f"paper: order {order.client_order_id} on {market.symbol} refused: "
                f"{market.kind} markets take no resting stop orders; the position monitor "
                "watches the stop. Send a market or limit order."
            )
        if order.order_type is not OrderType.STOP_MARKET or order.stop_price is None:
            raise InvalidOrderError(
                f"paper: order {order.client_order_id} is not a stop order with a stop price."
            )
        return self.restore(order, ts_ms)

    def restore(self, order: Order, ts_ms: int | None = None) -> PaperStop:
        """Rest ``order`` under its journaled exchange id (or a new one); once per client id."""
        found = self._by_cid.get(order.client_order_id)
        if found is not None:
            return found
        if ts_ms is None:
            ts_ms = order.updated_ts_ms
        self._count += 1
        eid = order.exchange_order_id or f"{self._prefix}S{self._count}"
        stop = PaperStop(order, eid, ts_ms=ts_ms)
        self._by_cid[order.client_order_id] = stop
        return stop

    def get(self, exchange_order_id: str | None, client_order_id: str | None) -> PaperStop | None:
        if client_order_id is not None and client_order_id in self._by_cid:
            return self._by_cid[client_order_id]
        for stop in self._by_cid.values():
            if exchange_order_id is not None and stop.exchange_order_id == exchange_order_id:
                return stop
        return None

    def end(self, stop: PaperStop, status: OrderStatus, ts_ms: int) -> PaperStop:
        """Mark ``stop`` fired (FILLED: the ledger has its order), cancelled or refused."""
        ended = replace(stop, status=status, ts_ms=max(ts_ms, stop.ts_ms))
        self._by_cid[stop.order.client_order_id] = ended
        return ended

    def open(self, symbol: str | None = None) -> list[PaperStop]:
        return [
            s
            for s in self._by_cid.values()
            if s.status is OrderStatus.OPEN and (symbol is None or s.order.symbol == symbol)
        ]

    def due(self, symbol: str, last: Decimal) -> list[PaperStop]:
        """The open stops of ``symbol`` that ``last`` reaches (a sell stop: at or below it)."""
        out = []
        for stop in self.open(symbol):
            side = BUY if stop.order.side is Side.BUY else SELL
            assert stop.order.stop_price is not None
            if stop_triggered(side, float(stop.order.stop_price), float(last)):
                out.append(stop)
        return out

"""From an exchange execution to what the journal stores: the fill, the position, the trade.

Positions are one-way (netted) per user and symbol, in the market's own unit (base on
spot, contracts on swaps), so reconciliation compares them with the exchange's as they
are. A fill on the position's side adds to it at a weighted entry price; a fill against it
closes it first, producing one closed ``Trade`` per fill, and whatever is left opens the
other way (swaps only: a spot sell never opens a short).

A closed ``Trade`` is converted to base units here (contracts × ``Market.contract_size``),
the one place that knows the market, so its PnL is ``Δprice × amount`` on every market.
Fees are converted to quote here too.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from xraybot.exchange.port import TradeReport
from xraybot.model.fills import Fill, Position, Trade
from xraybot.model.market import Market, MarketKind
from xraybot.model.orders import Order
from xraybot.model.signals import Direction, Side

_ZERO = Decimal(0)


def fill_from_trade(trade: TradeReport, order: Order) -> Fill:
    """Return the model Fill of one exchange execution of ``order``."""
    return Fill(
        fill_id=trade.fill_id,
        client_order_id=order.client_order_id,
        user_id=order.user_id,
        symbol=order.symbol,
        side=trade.side,
        price=trade.price,
        amount=trade.amount,
        fee=trade.fee,
        fee_currency=trade.fee_currency,
        ts_ms=trade.ts_ms,
        is_maker=trade.is_maker,
    )


def fee_in_quote(fill: Fill, market: Market) -> Decimal:
    """Return the fill's fee in the quote currency (a base-currency fee valued at the fill).

    A fee is charged in a currency, never in contracts: a base-currency fee is worth
    ``fee × price`` whatever the contract size.
    """
    if fill.fee_currency == market.base:
        return fill.fee * fill.price
    return fill.fee


def position_after_fill(
    position: Position | None, fill: Fill, order: Order, market: Market
) -> tuple[Position | None, Trade | None]:
    """Return the position after ``fill`` (amount 0 when closed) and the trade it closed.

    The position is in the market's unit like the fill; the trade is in base units.

    ``(None, None)`` means the fill leaves the journal's positions as they are: a spot
    sell with no long position sells holdings the bot never bought.
    """
    fee = fee_in_quote(fill, market)
    if position is None or position.amount == 0:
        if market.kind is MarketKind.SPOT and fill.side is Side.SELL:
            return None, None
        return _opened(fill, order, fill.amount, fee), None
    if position.direction.entry_side is fill.side:
        total = position.amount + fill.amount
        entry = (position.entry_price * position.amount + fill.price * fill.amount) / total
        added = dataclasses.replace(
            position,
            amount=total,
            entry_price=entry,
            updated_ts_ms=max(position.updated_ts_ms, fill.ts_ms),
            fees_paid=position.fees_paid + fee,
        )
        return added, None
    closing = min(fill.amount, position.amount)
    remainder = fill.amount - closing
    exit_fee = fee * closing / fill.amount
    entry_fee = position.fees_paid * closing / position.amount
    trade = Trade(
        trade_id=f"{fill.client_order_id}:{fill.fill_id}",
        user_id=position.user_id,
        strategy=position.strategy,
        symbol=position.symbol,
        direction=position.direction,
        amount=closing * market.contract_size,  # base units: the trade's PnL needs no market
        entry_price=position.entry_price,
        exit_price=fill.price,
        entry_ts_ms=position.opened_ts_ms,
        exit_ts_ms=max(fill.ts_ms, position.opened_ts_ms),
        fees=entry_fee + exit_fee,
        exit_reason=order.kind.value,
        leverage=position.leverage,
    )
    left = position.amount - closing
    if left > 0:
        reduced = dataclasses.replace(
            position,
            amount=left,
            updated_ts_ms=max(position.updated_ts_ms, fill.ts_ms),
            realized_pnl=position.realized_pnl + trade.net_pnl,
            fees_paid=position.fees_paid - entry_fee,
        )
        return reduced, trade
    if remainder > 0 and market.kind is MarketKind.SWAP:
        return _opened(fill, order, remainder, fee - exit_fee), trade
    return dataclasses.replace(position, amount=_ZERO, updated_ts_ms=fill.ts_ms), trade


def _opened(fill: Fill, order: Order, amount: Decimal, fee: Decimal) -> Position:
    return Position(
        user_id=fill.user_id,
        strategy=order.strategy,
        symbol=fill.symbol,
        direction=Direction.LONG if fill.side is Side.BUY else Direction.SHORT,
        amount=amount,
        entry_price=fill.price,
        opened_ts_ms=fill.ts_ms,
        updated_ts_ms=fill.ts_ms,
        leverage=order.leverage,
        fees_paid=fee,
    )


__all__ = ["fee_in_quote", "fill_from_trade", "position_after_fill"]

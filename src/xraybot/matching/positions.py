"""Linear swap position arithmetic: fills against a position, liquidation, unrealized pnl.

One-way mode (one position per symbol) with isolated margin, as ``matching.ledger`` runs
it. Pure functions: they return the new position and the balance flows, and never touch
the ledger's state. Profit and liquidation prices come from ``matching.costs``.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from xraybot.matching import costs, rules
from xraybot.matching.accounting import (
    CASH_QUANTUM,
    Flows,
    LedgerOrder,
    LedgerPosition,
    cash,
    from_float,
    margin_for,
    spot_flows,
)
from xraybot.model.errors import InvalidOrderError
from xraybot.model.market import Market, MarketKind, Rounding
from xraybot.model.orders import OrderStatus
from xraybot.model.signals import Direction, OrderType, Side

_ZERO = Decimal(0)


def with_liquidation_price(
    market: Market, position: LedgerPosition, mmr: Decimal
) -> LedgerPosition:
    """Return ``position`` with its liquidation price (``costs.liquidation_price``) updated."""
    raw = costs.liquidation_price(
        rules.direction_code(position.direction),
        float(position.entry_price),
        float(position.leverage),
        float(mmr),
    )
    long = position.direction is Direction.LONG
    # Rounded away from the entry: never liquidates before the rule says, and a price the
    # rule puts below a long's entry (above a short's) stays there after rounding.
    price = market.round_price(from_float(raw), Rounding.DOWN if long else Rounding.UP)
    return dataclasses.replace(position, liquidation_price=price if price > 0 else None)


def position_after_fill(
    market: Market,
    position: LedgerPosition | None,
    *,
    side: Side,
    amount: Decimal,
    price: Decimal,
    leverage: int,
    mmr: Decimal,
    ts_ms: int,
) -> tuple[Flows, LedgerPosition | None, Decimal]:
    """Return the quote flows (fee excluded), the new position and the realized pnl of a fill.

    One-way mode: a fill against the position closes it first (releasing its margin
    pro rata and realizing profit, a loss capped at that margin); what is left opens or
    adds to a position in the fill's direction, reserving ``notional / leverage``.
    """
    flows = Flows()
    realized = _ZERO
    opening = amount
    new = position
    if position is not None and position.direction.exit_side is side:
        closing = min(amount, position.contracts)
        opening = amount - closing
        if closing == position.contracts:
            released = position.margin
        else:
            released = (position.margin * closing / position.contracts).quantize(CASH_QUANTUM)
        gross = gross_pnl(position, price, closing, market.contract_size)
        realized = max(gross, -released)  # isolated: a loss never exceeds its margin
        flows.release(market.quote, released)
        flows.credit(market.quote, realized)
        left = position.contracts - closing
        new = None
        if left > 0:
            new = dataclasses.replace(
                position,
                contracts=left,
                margin=position.margin - released,
                realized_pnl=position.realized_pnl + realized,
                updated_ts_ms=ts_ms,
            )
    if opening > 0:
        # Adding to a position keeps its leverage; only a new position takes the order's.
        leverage = new.leverage if new is not None else leverage
        margin = margin_for(market, opening, price, leverage)
        flows.move_to_used(market.quote, margin)
        if new is None:
            new = LedgerPosition(
                symbol=market.symbol,
                direction=Direction.LONG if side is Side.BUY else Direction.SHORT,
                contracts=opening,
                entry_price=price,
                leverage=leverage,
                margin=margin,
                liquidation_price=None,
                realized_pnl=_ZERO,
                opened_ts_ms=ts_ms,
                updated_ts_ms=ts_ms,
            )
        else:
            contracts = new.contracts + opening
            new = dataclasses.replace(
                new,
                contracts=contracts,
                entry_price=(new.entry_price * new.contracts + price * opening) / contracts,
                margin=new.margin + margin,
                updated_ts_ms=ts_ms,
            )
        new = with_liquidation_price(market, new, mmr)
    return flows, new, realized


def gross_pnl(
    position: LedgerPosition, price: Decimal, contracts: Decimal, contract_size: Decimal
) -> Decimal:
    """Return the gross profit of closing ``contracts`` of ``position`` at ``price``."""
    return cash(
        costs.pnl(
            rules.direction_code(position.direction),
            float(position.entry_price),
            float(price),
            float(contracts * contract_size),
        )
    )


def liquidation_crossed(position: LedgerPosition, bid: Decimal, ask: Decimal) -> bool:
    """Tell whether the quote reached the position's liquidation price.

    Liquidation is a stop on the exit side, so it triggers by ``rules.stop_triggered``:
    a long's at the bid, a short's at the ask.
    """
    if position.liquidation_price is None:
        return False
    long = position.direction is Direction.LONG
    return rules.stop_triggered(
        rules.side_code(position.direction.exit_side),
        float(position.liquidation_price),
        float(bid if long else ask),
    )


def liquidation_outcome(market: Market, position: LedgerPosition) -> tuple[Decimal, Decimal]:
    """Return ``(realized pnl, fee)`` of a liquidation at the position's liquidation price.

    The whole margin is lost: the pnl at the liquidation price (capped at the margin), and
    what the margin still held as the exchange's liquidation fee.
    """
    assert position.liquidation_price is not None
    gross = gross_pnl(
        position, position.liquidation_price, position.contracts, market.contract_size
    )
    realized = max(gross, -position.margin)
    return realized, position.margin + realized


def check_reduce_only(
    market: Market, side: Side, amount: Decimal, position: LedgerPosition | None
) -> None:
    """Refuse a reduce-only order that has no position to reduce or would outgrow it."""
    symbol = market.symbol
    if position is None or position.direction.exit_side is not side:
        held = "none" if position is None else f"a {position.direction} position"
        raise InvalidOrderError(
            f"{symbol}: a reduce-only {side} needs an open position it reduces; found "
            f"{held}. Drop reduce_only or skip the order."
        )
    if amount <= 0:
        raise InvalidOrderError(
            f"{symbol}: order amount must be > 0 after rounding to {market.amount_tick}; "
            f"found {amount}."
        )
    if amount > position.contracts:
        raise InvalidOrderError(
            f"{symbol}: a reduce-only order of {amount} exceeds the position of "
            f"{position.contracts}; send at most {position.contracts}."
        )


def fill_effects(
    market: Market,
    order: LedgerOrder,
    position: LedgerPosition | None,
    *,
    amount: Decimal,
    price: Decimal,
    fee_rate: Decimal,
    mmr: Decimal,
    ts_ms: int,
) -> tuple[Flows, LedgerPosition | None, Decimal, Decimal]:
    """Return the flows, new position (swaps), realized pnl and fee of filling ``order``."""
    fee = cash(costs.fee(float(market.notional(amount, price)), float(fee_rate)))
    if market.kind is MarketKind.SPOT:
        return spot_flows(market, order.side, amount, price, fee), None, _ZERO, fee
    flows, new, realized = position_after_fill(
        market,
        position,
        side=order.side,
        amount=amount,
        price=price,
        leverage=order.leverage,
        mmr=mmr,
        ts_ms=ts_ms,
    )
    flows.spend(market.quote, fee)
    return flows, new, realized, fee


def order_leverage(market: Market, leverage: int | None, current: int) -> int:
    """Return the leverage an order asks for (``current`` when it names none), checked."""
    if leverage is None:
        return current
    if not isinstance(leverage, int) or not 1 <= leverage <= market.max_leverage:
        raise InvalidOrderError(
            f"{market.symbol}: leverage must be a whole number from 1 to the market's "
            f"maximum {market.max_leverage}; found {leverage!r}."
        )
    return leverage


def check_leverage_change(
    symbol: str, *, current: int, wanted: int, has_position: bool, has_orders: bool
) -> None:
    """Refuse to change a symbol's leverage under an open position or resting orders."""
    if wanted == current:
        return
    if has_position:
        raise InvalidOrderError(
            f"{symbol}: the open position is at leverage {current}; found an order at "
            f"leverage {wanted}. Send it at {current}, or close the position first."
        )
    if has_orders:
        raise InvalidOrderError(
            f"{symbol}: open orders rest at leverage {current}; found a change to "
            f"{wanted}. Cancel them first, or keep leverage {current}."
        )


def liquidation_order(
    market: Market, position: LedgerPosition, order_id: str, ts_ms: int
) -> LedgerOrder:
    """Return the exchange's own order that closes ``position`` at liquidation."""
    return LedgerOrder(
        exchange_order_id=order_id,
        client_order_id=None,
        symbol=market.symbol,
        side=position.direction.exit_side,
        order_type=OrderType.MARKET,
        status=OrderStatus.OPEN,
        amount=position.contracts,
        price=None,
        fee_currency=market.quote,
        reduce_only=True,
        leverage=position.leverage,
        created_ts_ms=ts_ms,
        updated_ts_ms=ts_ms,
    )

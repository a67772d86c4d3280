"""The ledger's value types, order intake (checks and pricing) and balance flows.

Pure functions over Decimal and ``model`` types; ``matching.ledger`` keeps the state and
``matching.positions`` does the swap position arithmetic. Float results of the shared rules
enter through ``from_float`` (15 significant digits), then prices are rounded to the
market's tick and cash quantized to ``CASH_QUANTUM``.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from xraybot.matching import costs, rules
from xraybot.model.errors import InsufficientFundsError, InvalidInputError, InvalidOrderError
from xraybot.model.market import Market, MarketKind, Rounding
from xraybot.model.orders import OrderStatus
from xraybot.model.signals import Direction, OrderType, Side

# Cash (fees, pnl, margin) is kept to 1e-10 of the quote currency: finer than any exchange
# reports, coarse enough to drop the float noise of the cost rules (5.000000000000001).
CASH_QUANTUM = Decimal("1e-10")
_ZERO = Decimal(0)

# A double carries 15 reliable significant decimal digits (DBL_DIG); the digits after them are
# binary noise, and rounding them off recovers exact prices and fees such as 3.03 from
# 3 * 1.01 == 3.0300000000000002, which rounded up to a 0.01 tick would cost a whole tick.
_FLOAT_DIGITS = 15


def from_float(value: float) -> Decimal:
    """Return a rule's float result as a Decimal of its 15 reliable significant digits."""
    exact = Decimal(repr(value))
    if not exact.is_finite():
        raise InvalidInputError(
            f"a matching rule returned {value!r}; found an input outside its domain (a quote "
            "<= 0, a slippage rate outside [0, 1) or an unknown side). Check the quote and "
            "the settings."
        )
    if exact.is_zero():
        return exact
    quantum = Decimal(1).scaleb(exact.adjusted() - (_FLOAT_DIGITS - 1))
    return exact.quantize(quantum, rounding=ROUND_HALF_EVEN).normalize()


def cash(value: float) -> Decimal:
    """Convert a float cost-rule result to a cash Decimal; NaN means a rule was misused."""
    if value != value:
        raise InvalidInputError(
            "a cost rule returned NaN; found an input outside its domain (price <= 0, "
            "leverage < 1 or an unknown side). Check the order and the quote."
        )
    return from_float(value).quantize(CASH_QUANTUM)


def check_ts_ms(symbol: str, ts_ms: int) -> None:
    """Refuse a timestamp that is not a non-negative int of milliseconds."""
    if not isinstance(ts_ms, int) or isinstance(ts_ms, bool) or ts_ms < 0:
        raise InvalidInputError(
            f"{symbol}: ts_ms must be a non-negative int of milliseconds UTC; found {ts_ms!r}."
        )


def check_quote(symbol: str, bid: Decimal, ask: Decimal) -> None:
    """Refuse a quote that is not two finite Decimals >= 0 (0 means an empty book side)."""
    for name, value in (("bid", bid), ("ask", ask)):
        if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
            raise InvalidInputError(
                f"{symbol}: the quote's {name} must be a finite Decimal >= 0; found {value!r}."
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerBalance:
    asset: str
    free: Decimal
    used: Decimal  # reserved by open orders or held as position margin

    @property
    def total(self) -> Decimal:
        return self.free + self.used


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerOrder:
    """One order as the simulated account sees it."""

    exchange_order_id: str
    client_order_id: str | None
    symbol: str
    side: Side
    order_type: OrderType
    status: OrderStatus  # OPEN, PARTIALLY_FILLED, FILLED or CANCELED
    amount: Decimal  # rounded to the market's amount tick; contracts on swaps
    price: Decimal | None  # the limit, rounded to the tick; None for market orders
    fee_currency: str
    created_ts_ms: int
    updated_ts_ms: int
    filled: Decimal = _ZERO
    average_price: Decimal | None = None
    fee: Decimal = _ZERO
    reduce_only: bool = False
    leverage: int = 1

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.filled


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerFill:
    """One execution; ``realized_pnl`` is the gross profit of the position part it closed."""

    fill_id: str
    exchange_order_id: str
    client_order_id: str | None
    symbol: str
    side: Side
    price: Decimal
    amount: Decimal
    fee: Decimal
    fee_currency: str
    ts_ms: int
    is_maker: bool
    realized_pnl: Decimal = _ZERO
    liquidation: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerPosition:
    """An isolated linear swap position (one per symbol, one-way mode)."""

    symbol: str
    direction: Direction
    contracts: Decimal
    entry_price: Decimal  # average of the fills that opened it
    leverage: int
    margin: Decimal  # quote currency held in ``used``
    liquidation_price: Decimal | None  # None: the position cannot be liquidated
    realized_pnl: Decimal  # gross, from partial closes so far
    opened_ts_ms: int
    updated_ts_ms: int
    unrealized_pnl: Decimal | None = None  # at the last mid price the ledger saw


class Flows:
    """The balance changes one operation makes, checked against free balances, then applied."""

    def __init__(self) -> None:
        self._spend: defaultdict[str, Decimal] = defaultdict(Decimal)
        self._credit: defaultdict[str, Decimal] = defaultdict(Decimal)
        self._used: defaultdict[str, Decimal] = defaultdict(Decimal)

    def spend(self, asset: str, amount: Decimal) -> None:
        """Take ``amount`` out of the free balance (a negative amount is a rebate)."""
        self._spend[asset] += amount

    def credit(self, asset: str, amount: Decimal) -> None:
        """Add ``amount`` to the free balance."""
        self._credit[asset] += amount

    def move_to_used(self, asset: str, amount: Decimal) -> None:
        """Reserve ``amount`` of the free balance (negative: give it back)."""
        self._spend[asset] += amount
        self._used[asset] += amount

    def release(self, asset: str, amount: Decimal) -> None:
        """Return ``amount`` of the used balance to free."""
        self._credit[asset] += amount
        self._used[asset] -= amount

    def check(self, symbol: str, free: Mapping[str, Decimal]) -> None:
        """Raise InsufficientFundsError unless every free balance stays >= 0."""
        for asset in sorted(set(self._spend) | set(self._credit)):
            needed = self._spend[asset]
            available = free.get(asset, _ZERO) + self._credit[asset]
            if needed > available:
                raise InsufficientFundsError(
                    f"{symbol}: the order needs {_plain(needed)} {asset}; found "
                    f"{_plain(available)} {asset} free. Lower the amount, cancel open orders "
                    "or add funds."
                )

    def deltas(self) -> dict[str, tuple[Decimal, Decimal]]:
        """Return ``asset -> (free change, used change)``."""
        assets = set(self._spend) | set(self._credit) | set(self._used)
        return {a: (self._credit[a] - self._spend[a], self._used[a]) for a in assets}


def _plain(value: Decimal) -> str:
    """Write a Decimal without trailing zeros or an exponent: 0.1000 -> 0.1, 1E+2 -> 100."""
    return f"{value.normalize():f}"


def spot_flows(market: Market, side: Side, amount: Decimal, price: Decimal, fee: Decimal) -> Flows:
    """Return the flows of a spot fill: base against quote, the fee in quote."""
    flows = Flows()
    cost = amount * price
    if side is Side.BUY:
        flows.spend(market.quote, cost + fee)
        flows.credit(market.base, amount)
    else:
        flows.spend(market.base, amount)
        flows.credit(market.quote, cost - fee)
    return flows


@dataclass(frozen=True, slots=True, kw_only=True)
class PricedOrder:
    """An incoming order after intake: rounded, and priced if it fills on arrival."""

    amount: Decimal  # rounded toward zero to the amount tick
    limit: Decimal | None  # limit orders: rounded to the tick in the owner's favour
    fill_price: Decimal | None  # None: the order rests

    @property
    def reference_price(self) -> Decimal:
        """Return the price the order's size is judged at: its fill, else its limit."""
        price = self.fill_price if self.fill_price is not None else self.limit
        assert price is not None  # a market order always has a fill price
        return price


def price_order(
    market: Market,
    *,
    side: Side,
    order_type: OrderType,
    amount: Decimal,
    price: Decimal | None,
    bid: Decimal,
    ask: Decimal,
    slippage_rate: Decimal,
) -> PricedOrder:
    """Round an incoming order and price it with the shared rules, or refuse it."""
    symbol = market.symbol
    if not market.active:
        raise InvalidOrderError(
            f"{symbol}: the market is not active for trading; found active=False. Skip it."
        )
    if order_type not in (OrderType.MARKET, OrderType.LIMIT):
        raise InvalidOrderError(
            f"{symbol}: the simulated account takes market and limit orders; found "
            f"{order_type}. Send a market or limit order."
        )
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise InvalidOrderError(f"{symbol}: amount must be a finite Decimal; found {amount!r}.")
    is_buy = side is Side.BUY
    code = rules.side_code(side)
    if order_type is OrderType.MARKET:
        fill = rules.market_fill_price(code, float(bid), float(ask), float(slippage_rate))
        if fill != fill:  # NaN: the book side the order takes is empty
            raise InvalidOrderError(
                f"{symbol}: a market {side} needs a {'ask' if is_buy else 'bid'} > 0; found "
                f"bid {bid}, ask {ask}. Wait for a quote."
            )
        return PricedOrder(
            amount=market.round_amount(amount),
            limit=None,
            fill_price=taker_price(market, fill, side),
        )
    if not isinstance(price, Decimal) or not price.is_finite() or price <= 0:
        raise InvalidOrderError(
            f"{symbol}: a limit order needs a finite Decimal price > 0; found {price!r}."
        )
    # Rounding never makes a limit worse for its owner.
    limit = market.round_price(price, Rounding.DOWN if is_buy else Rounding.UP)
    if limit <= 0:
        raise InvalidOrderError(
            f"{symbol}: limit price {price} rounds to {limit} on tick {market.price_tick}; "
            "send a price of at least one tick."
        )
    fill = rules.limit_fill_on_arrival(code, float(limit), float(bid), float(ask))
    return PricedOrder(
        amount=market.round_amount(amount),
        limit=limit,
        fill_price=None if fill != fill else taker_price(market, fill, side),
    )


def taker_price(market: Market, price: float, side: Side) -> Decimal:
    """Convert a rule's fill price to the tick, rounded against the taker."""
    mode = Rounding.UP if side is Side.BUY else Rounding.DOWN
    rounded = market.round_price(from_float(price), mode)
    if rounded <= 0:
        raise InvalidOrderError(
            f"{market.symbol}: the {side} would fill at {price}, below one tick "
            f"{market.price_tick}; found no price to trade at. Wait for a better quote."
        )
    return rounded


def reservation(market: Market, order: LedgerOrder) -> tuple[str, Decimal]:
    """Return the asset and amount a resting order holds back to pay for its fill."""
    assert order.price is not None  # only limit orders rest
    if order.reduce_only:
        return market.quote, _ZERO  # it pays its fee out of what it closes
    if market.kind is MarketKind.SPOT and order.side is Side.SELL:
        return market.base, order.amount
    notional = market.notional(order.amount, order.price)
    fee = max(cash(costs.fee(float(notional), float(market.maker_fee_rate))), _ZERO)
    if market.kind is MarketKind.SPOT:
        return market.quote, notional + fee
    return market.quote, margin_for(market, order.amount, order.price, order.leverage) + fee


def margin_for(market: Market, contracts: Decimal, price: Decimal, leverage: int) -> Decimal:
    """Return the isolated margin of ``contracts`` at ``price``: notional / leverage."""
    return (market.notional(contracts, price) / leverage).quantize(CASH_QUANTUM)


def order_after_fill(order: LedgerOrder, fill: LedgerFill) -> LedgerOrder:
    """Return ``order`` with ``fill`` added: filled, average price, fee and status."""
    filled = order.filled + fill.amount
    average = (
        fill.price
        if order.average_price is None
        else (order.average_price * order.filled + fill.price * fill.amount) / filled
    )
    return dataclasses.replace(
        order,
        status=OrderStatus.FILLED if filled == order.amount else OrderStatus.PARTIALLY_FILLED,
        filled=filled,
        average_price=average,
        fee=order.fee + fill.fee,
        updated_ts_ms=max(fill.ts_ms, order.updated_ts_ms),
    )

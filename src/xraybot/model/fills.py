"""What happened: fills, the positions they build, and closed round-trip trades.

Units: a ``Fill`` and a ``Position`` count in the market's own unit, as the exchange
does (base on spot, contracts on swaps), so positions compare one to one with the
exchange's. A closed ``Trade`` counts in base units (contracts × ``Market.contract_size``):
it is the record PnL, returns and statistics are read from, and in base units
``Δprice × amount`` is the PnL on every market without knowing the contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from xraybot.model._checks import (
    require_decimal,
    require_non_negative,
    require_positive,
    require_text,
    require_ts_ms,
)
from xraybot.model.errors import InvalidInputError
from xraybot.model.signals import Direction, Side


@dataclass(frozen=True, slots=True, kw_only=True)
class Fill:
    """One execution of (part of) an order; ``fill_id`` is the exchange's trade id."""

    fill_id: str
    client_order_id: str
    user_id: str
    symbol: str
    side: Side
    price: Decimal
    amount: Decimal
    fee: Decimal
    fee_currency: str
    ts_ms: int
    is_maker: bool = False

    def __post_init__(self) -> None:
        owner = f"Fill({self.fill_id!r})"
        for field in ("fill_id", "client_order_id", "user_id", "symbol", "fee_currency"):
            require_text(owner, field, getattr(self, field))
        require_positive(owner, "price", self.price)
        require_positive(owner, "amount", self.amount)
        # Fees may be negative: maker rebates.
        require_decimal(owner, "fee", self.fee)
        require_ts_ms(owner, "ts_ms", self.ts_ms)

    @property
    def notional(self) -> Decimal:
        return self.price * self.amount


@dataclass(frozen=True, slots=True, kw_only=True)
class Position:
    """An open position of one user in one symbol, as the journal knows it.

    ``amount`` is in the market's unit (contracts on swaps), like the exchange's position.
    """

    user_id: str
    strategy: str
    symbol: str
    direction: Direction
    amount: Decimal
    entry_price: Decimal
    opened_ts_ms: int
    updated_ts_ms: int
    leverage: int = 1
    stop_price: Decimal | None = None
    target_price: Decimal | None = None
    realized_pnl: Decimal = Decimal(0)  # from partial closes so far
    fees_paid: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        owner = f"Position({self.user_id!r}, {self.symbol!r})"
        require_non_negative(owner, "amount", self.amount)
        require_positive(owner, "entry_price", self.entry_price)
        require_decimal(owner, "realized_pnl", self.realized_pnl)
        require_decimal(owner, "fees_paid", self.fees_paid)
        require_ts_ms(owner, "opened_ts_ms", self.opened_ts_ms)
        require_ts_ms(owner, "updated_ts_ms", self.updated_ts_ms)
        if self.leverage < 1:
            raise InvalidInputError(f"{owner}.leverage must be >= 1; found {self.leverage}.")

    @property
    def is_open(self) -> bool:
        return self.amount > 0

    def unrealized_pnl(self, mark_price: Decimal, contract_size: Decimal = Decimal(1)) -> Decimal:
        """Return the open PnL in quote at ``mark_price``; pass the market's contract size."""
        require_positive(
            f"Position({self.user_id!r}, {self.symbol!r})", "contract_size", contract_size
        )
        sign = 1 if self.direction is Direction.LONG else -1
        return sign * (mark_price - self.entry_price) * self.amount * contract_size


@dataclass(frozen=True, slots=True, kw_only=True)
class Trade:
    """A closed round trip: entry to exit of one position (or one part of it).

    ``amount`` is in BASE units (contracts × contract size on swaps) and ``fees`` in quote,
    so ``gross_pnl`` and ``return_pct`` need no market details.
    """

    trade_id: str  # the client order id of the entry order, plus the exit leg
    user_id: str
    strategy: str
    symbol: str
    direction: Direction
    amount: Decimal  # base units, not contracts
    entry_price: Decimal
    exit_price: Decimal
    entry_ts_ms: int
    exit_ts_ms: int
    fees: Decimal
    exit_reason: str
    leverage: int = 1

    def __post_init__(self) -> None:
        owner = f"Trade({self.trade_id!r})"
        for field in ("trade_id", "user_id", "strategy", "symbol", "exit_reason"):
            require_text(owner, field, getattr(self, field))
        require_positive(owner, "amount", self.amount)
        require_positive(owner, "entry_price", self.entry_price)
        require_positive(owner, "exit_price", self.exit_price)
        require_decimal(owner, "fees", self.fees)
        require_ts_ms(owner, "entry_ts_ms", self.entry_ts_ms)
        require_ts_ms(owner, "exit_ts_ms", self.exit_ts_ms)
        if self.exit_ts_ms < self.entry_ts_ms:
            raise InvalidInputError(
                f"{owner}: exit_ts_ms {self.exit_ts_ms} is before entry_ts_ms {self.entry_ts_ms}."
            )

    @property
    def gross_pnl(self) -> Decimal:
        sign = 1 if self.direction is Direction.LONG else -1
        return sign * (self.exit_price - self.entry_price) * self.amount

    @property
    def net_pnl(self) -> Decimal:
        return self.gross_pnl - self.fees

    @property
    def return_pct(self) -> Decimal:
        """Net return on the entry notional, in percent (leverage not applied)."""
        return self.net_pnl / (self.entry_price * self.amount) * 100

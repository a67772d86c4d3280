"""Decisions as data: a strategy emits a Signal, risk turns it into an OrderIntent."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from xraybot.model._checks import require_positive, require_text, require_ts_ms
from xraybot.model.errors import InvalidInputError
from xraybot.model.ids import derive_client_order_id


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class Direction(StrEnum):
    LONG = "long"
    SHORT = "short"

    @property
    def entry_side(self) -> Side:
        return Side.BUY if self is Direction.LONG else Side.SELL

    @property
    def exit_side(self) -> Side:
        return self.entry_side.opposite


class SignalKind(StrEnum):
    ENTRY = "entry"
    EXIT = "exit"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP_MARKET = "stop_market"


class IntentKind(StrEnum):
    """Why an order exists; part of its client order id."""

    OPEN = "open"
    CLOSE = "close"  # strategy exit signal
    REDUCE = "reduce"  # partial close
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"
    LIQUIDATE = "liquidate"  # kill switch or protection flattening the book


@dataclass(frozen=True, slots=True, kw_only=True)
class Signal:
    """A strategy's verdict on the candle that opened at ``ts_ms`` (known after it closed)."""

    strategy: str
    symbol: str
    ts_ms: int
    kind: SignalKind
    direction: Direction = Direction.LONG
    strength: float = 1.0
    tag: str = ""

    def __post_init__(self) -> None:
        owner = f"Signal({self.strategy!r}, {self.symbol!r})"
        require_text(owner, "strategy", self.strategy)
        require_text(owner, "symbol", self.symbol)
        require_ts_ms(owner, "ts_ms", self.ts_ms)
        if not 0.0 <= self.strength <= 1.0:
            raise InvalidInputError(f"{owner}.strength must be in [0, 1]; found {self.strength}.")


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderIntent:
    """What risk decided to send: sized, priced, and tied to the signal that caused it."""

    user_id: str
    strategy: str
    symbol: str
    side: Side
    kind: IntentKind
    order_type: OrderType
    amount: Decimal
    signal_ts_ms: int
    price: Decimal | None = None
    stop_price: Decimal | None = None
    reduce_only: bool = False
    leverage: int = 1
    leg: int = 0  # distinguishes several partial exits decided on one candle
    reason: str = ""

    def __post_init__(self) -> None:
        owner = f"OrderIntent({self.user_id!r}, {self.symbol!r})"
        for field in ("user_id", "strategy", "symbol"):
            require_text(owner, field, getattr(self, field))
        require_positive(owner, "amount", self.amount)
        require_ts_ms(owner, "signal_ts_ms", self.signal_ts_ms)
        if self.order_type is OrderType.LIMIT and self.price is None:
            raise InvalidInputError(f"{owner}: a limit order needs a price; found none.")
        if self.order_type is OrderType.STOP_MARKET and self.stop_price is None:
            raise InvalidInputError(f"{owner}: a stop order needs a stop_price; found none.")
        if self.price is not None:
            require_positive(owner, "price", self.price)
        if self.stop_price is not None:
            require_positive(owner, "stop_price", self.stop_price)
        if not isinstance(self.leverage, int) or self.leverage < 1:
            raise InvalidInputError(
                f"{owner}.leverage must be a whole number >= 1; found {self.leverage!r}."
            )
        if self.leg < 0:
            raise InvalidInputError(f"{owner}.leg must be >= 0; found {self.leg}.")

    @property
    def client_order_id(self) -> str:
        return derive_client_order_id(
            self.user_id, self.strategy, self.symbol, self.signal_ts_ms, self.kind, self.leg
        )

"""Orders and their lifecycle, an explicit transition table.

::

    PENDING_SUBMIT ──> OPEN ──> PARTIALLY_FILLED ──> FILLED
          │  │          │  └──────────┬──────────────┘
          │  │          └─> PENDING_CANCEL ──> CANCELED
          │  └─> REJECTED         (EXPIRED from any live state)
          └─> UNKNOWN  (answer lost: look the order up by client id, then move on)

Every change goes through :meth:`Order.transition`; a move the table does not allow
raises :class:`IllegalTransitionError` naming both states.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from xraybot.model._checks import require_non_negative, require_positive, require_ts_ms
from xraybot.model.errors import IllegalTransitionError, InvalidInputError
from xraybot.model.ids import CLIENT_ORDER_ID_LENGTH, derive_client_order_id
from xraybot.model.signals import IntentKind, OrderIntent, OrderType, Side


class OrderStatus(StrEnum):
    PENDING_SUBMIT = "pending_submit"  # journaled, not yet acknowledged by the exchange
    OPEN = "open"  # acknowledged, nothing filled
    PARTIALLY_FILLED = "partially_filled"
    PENDING_CANCEL = "pending_cancel"  # cancel sent, not yet confirmed
    UNKNOWN = "unknown"  # the answer was lost; must be looked up by client order id
    FILLED = "filled"
    CANCELED = "canceled"  # may carry a partial fill
    REJECTED = "rejected"  # the exchange refused it, or it was never placed
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


S = OrderStatus
_TERMINAL = frozenset({S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED})
_OUTCOMES = frozenset({S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED})

TRANSITIONS: Mapping[OrderStatus, frozenset[OrderStatus]] = {
    S.PENDING_SUBMIT: _OUTCOMES | {S.UNKNOWN},
    # A lookup either finds the order (any outcome), finds nothing yet (stay), or proves
    # it never arrived (back to PENDING_SUBMIT to resend under the same client id).
    S.UNKNOWN: _OUTCOMES | {S.UNKNOWN, S.PENDING_SUBMIT},
    S.OPEN: frozenset(
        {S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELED, S.EXPIRED, S.UNKNOWN}
    ),
    S.PARTIALLY_FILLED: frozenset(
        {S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELED, S.EXPIRED, S.UNKNOWN}
    ),
    # A cancel can lose the race against a fill, or be refused (the order stays live).
    S.PENDING_CANCEL: frozenset(
        {S.CANCELED, S.FILLED, S.PARTIALLY_FILLED, S.OPEN, S.EXPIRED, S.UNKNOWN}
    ),
    S.FILLED: frozenset(),
    S.CANCELED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}


def check_transition(source: OrderStatus, target: OrderStatus) -> None:
    if target not in TRANSITIONS[source]:
        allowed = ", ".join(sorted(TRANSITIONS[source])) or "none (terminal state)"
        raise IllegalTransitionError(
            f"illegal order transition {source} -> {target}; from {source} the allowed "
            f"states are: {allowed}.",
            source=source.value,
            target=target.value,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Order:
    """An order as we know it; a new value is made for every change of state."""

    client_order_id: str
    user_id: str
    strategy: str
    symbol: str
    side: Side
    kind: IntentKind
    order_type: OrderType
    amount: Decimal
    status: OrderStatus
    created_ts_ms: int
    updated_ts_ms: int
    price: Decimal | None = None
    stop_price: Decimal | None = None
    filled: Decimal = Decimal(0)
    average_price: Decimal | None = None
    exchange_order_id: str | None = None
    reduce_only: bool = False
    leverage: int = 1
    signal_ts_ms: int = 0

    def __post_init__(self) -> None:
        owner = f"Order({self.client_order_id!r})"
        require_positive(owner, "amount", self.amount)
        require_non_negative(owner, "filled", self.filled)
        require_ts_ms(owner, "created_ts_ms", self.created_ts_ms)
        require_ts_ms(owner, "updated_ts_ms", self.updated_ts_ms)
        if self.filled > self.amount:
            raise InvalidInputError(
                f"{owner}.filled must not exceed amount {self.amount}; found {self.filled}."
            )

    @classmethod
    def from_intent(cls, intent: OrderIntent, ts_ms: int) -> Order:
        return cls(
            client_order_id=intent.client_order_id,
            user_id=intent.user_id,
            strategy=intent.strategy,
            symbol=intent.symbol,
            side=intent.side,
            kind=intent.kind,
            order_type=intent.order_type,
            amount=intent.amount,
            status=OrderStatus.PENDING_SUBMIT,
            created_ts_ms=ts_ms,
            updated_ts_ms=ts_ms,
            price=intent.price,
            stop_price=intent.stop_price,
            reduce_only=intent.reduce_only,
            leverage=intent.leverage,
            signal_ts_ms=intent.signal_ts_ms,
        )

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.filled

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    def transition(self, status: OrderStatus, ts_ms: int, **changes: Any) -> Order:
        """Return this order moved to ``status``; raise IllegalTransitionError if forbidden."""
        check_transition(self.status, status)
        if ts_ms < self.updated_ts_ms:
            raise InvalidInputError(
                f"Order({self.client_order_id!r}): update time {ts_ms} is before the last "
                f"update {self.updated_ts_ms}; events must arrive in time order."
            )
        moved = dataclasses.replace(self, status=status, updated_ts_ms=ts_ms, **changes)
        if moved.filled < self.filled:
            raise InvalidInputError(
                f"Order({self.client_order_id!r}): filled amount cannot shrink; found "
                f"{moved.filled} after {self.filled}."
            )
        if status is OrderStatus.FILLED and moved.filled != moved.amount:
            raise InvalidInputError(
                f"Order({self.client_order_id!r}): a FILLED order must have filled == amount "
                f"({moved.amount}); found filled {moved.filled}."
            )
        return moved


__all__ = [
    "CLIENT_ORDER_ID_LENGTH",
    "TRANSITIONS",
    "Order",
    "OrderStatus",
    "check_transition",
    "derive_client_order_id",
]

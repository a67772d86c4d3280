"""Pure domain types: no I/O, no third-party clients. Every other package speaks these."""

from xraybot.model.candles import Candles, timeframe_to_ms
from xraybot.model.fills import Fill, Position, Trade
from xraybot.model.market import Market, MarketKind, Rounding, round_to_tick
from xraybot.model.orders import (
    TRANSITIONS,
    Order,
    OrderStatus,
    check_transition,
    derive_client_order_id,
)
from xraybot.model.signals import (
    Direction,
    IntentKind,
    OrderIntent,
    OrderType,
    Side,
    Signal,
    SignalKind,
)
from xraybot.model.users import StoredCredentials, TradingMode, UserLimits, UserProfile

__all__ = [
    "TRANSITIONS",
    "Candles",
    "Direction",
    "Fill",
    "IntentKind",
    "Market",
    "MarketKind",
    "Order",
    "OrderIntent",
    "OrderStatus",
    "OrderType",
    "Position",
    "Rounding",
    "Side",
    "Signal",
    "SignalKind",
    "StoredCredentials",
    "Trade",
    "TradingMode",
    "UserLimits",
    "UserProfile",
    "check_transition",
    "derive_client_order_id",
    "round_to_tick",
    "timeframe_to_ms",
]

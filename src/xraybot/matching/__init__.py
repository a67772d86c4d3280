"""Order simulation rules shared by the backtest kernel, the paper gateway and the simulator.

``rules`` (fills, stops, intrabar exits) and ``costs`` (fees, slippage, liquidation, funding,
profit) are plain numba-compatible functions; ``kernel`` holds their compiled forms and is the
only module that imports numba, so it is not imported here.
"""

from __future__ import annotations

from xraybot.matching.costs import fee, funding_payment, liquidation_price, pnl, slippage_price
from xraybot.matching.rules import (
    BUY,
    EXIT_END,
    EXIT_LIQUIDATION,
    EXIT_NONE,
    EXIT_REASON_CODES,
    EXIT_REASON_NAMES,
    EXIT_SIGNAL,
    EXIT_STOP_LOSS,
    EXIT_TAKE_PROFIT,
    LONG,
    SELL,
    SHORT,
    bar_limit_fill,
    bar_stop_fill,
    direction_code,
    exit_reason_code,
    exit_reason_name,
    intrabar_exit,
    limit_fill_on_arrival,
    limit_fill_resting,
    market_fill_price,
    side_code,
    stop_triggered,
)

__all__ = [
    "BUY",
    "EXIT_END",
    "EXIT_LIQUIDATION",
    "EXIT_NONE",
    "EXIT_REASON_CODES",
    "EXIT_REASON_NAMES",
    "EXIT_SIGNAL",
    "EXIT_STOP_LOSS",
    "EXIT_TAKE_PROFIT",
    "LONG",
    "SELL",
    "SHORT",
    "bar_limit_fill",
    "bar_stop_fill",
    "direction_code",
    "exit_reason_code",
    "exit_reason_name",
    "fee",
    "funding_payment",
    "intrabar_exit",
    "limit_fill_on_arrival",
    "limit_fill_resting",
    "liquidation_price",
    "market_fill_price",
    "pnl",
    "side_code",
    "slippage_price",
    "stop_triggered",
]

"""The margin watch: futures positions whose price nears their liquidation price.

The exchange's own liquidation price is compared with the last price; an alert is data
(``MarginAlert``) for the caller to route, never a notification sent from here.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

import structlog

from xraybot.exchange.port import ExchangeGateway
from xraybot.model.fills import Position
from xraybot.model.market import MarketKind
from xraybot.trading.monitor_types import MarginAlert
from xraybot.trading.order_manager import MarketLookup

log = structlog.get_logger(__name__)

__all__ = ["margin_alerts"]


async def margin_alerts(
    gateway: ExchangeGateway,
    markets: MarketLookup,
    user_id: str,
    positions: Iterable[Position],
    threshold: Decimal,
) -> list[MarginAlert]:
    """Alerts for ``user_id``'s swap ``positions`` less than ``threshold`` (a fraction of the price)
    from their liquidation price."""
    swaps: list[str] = []
    for position in positions:
        market = await markets(position.symbol)
        if market.kind is MarketKind.SWAP:
            swaps.append(position.symbol)
    if not swaps:
        return []
    alerts: list[MarginAlert] = []
    for report in await gateway.fetch_positions(swaps):
        liq = report.liquidation_price
        if liq is None or liq <= 0:
            continue
        price = (await gateway.fetch_ticker(report.symbol)).last
        distance = abs(price - liq) / price
        if distance < threshold:
            alerts.append(
                MarginAlert(
                    user_id=user_id,
                    symbol=report.symbol,
                    price=price,
                    liquidation_price=liq,
                    distance=distance,
                    threshold=threshold,
                )
            )
            log.warning("liquidation near", user_id=user_id, symbol=report.symbol)
    return alerts

"""ccxt's account dicts (orders, trades, positions, balances) turned into the port's reports.

The same rules as exchange/parsing.py: every number checked, a malformed answer refused
with a DataValidationError naming the exchange, the symbol, the field and the value.
Amounts stay in the market's unit (contracts on swaps), as the port promises.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from xraybot.exchange.parsing import Source, raw_info, raw_sub
from xraybot.exchange.port import Balance, OrderReport, PositionReport, TradeReport
from xraybot.exchange.quirks import ExchangeQuirks
from xraybot.model.market import Market, MarketKind
from xraybot.model.orders import OrderStatus
from xraybot.model.signals import Direction, Side

_BALANCE_META = frozenset({"info", "free", "used", "total", "timestamp", "datetime", "debt"})
_OPEN_STATUSES = frozenset({"open", "new", "partially_filled"})
_STATUS = {
    "closed": OrderStatus.FILLED,
    "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
    "rejected": OrderStatus.REJECTED,
    "expired": OrderStatus.EXPIRED,
}


def parse_balances(raw: Mapping[str, Any], exchange_id: str) -> dict[str, Balance]:
    """Return balances by asset from a ccxt balance dict."""
    out: dict[str, Balance] = {}
    for asset, entry in raw.items():
        if asset in _BALANCE_META or not isinstance(entry, Mapping):
            continue
        src = Source(exchange_id, f"balance {asset}")
        free = src.optional_decimal(entry.get("free"), "free")
        used = src.optional_decimal(entry.get("used"), "used")
        total = src.optional_decimal(entry.get("total"), "total")
        if free is None:
            free = (total - (used or 0)) if total is not None else Decimal(0)
        if used is None:
            used = (total - free) if total is not None else Decimal(0)
        out[str(asset)] = Balance(asset=str(asset), free=free, used=used)
    return out


def _side(src: Source, raw: Mapping[str, Any], market: Market, quirks: ExchangeQuirks) -> Side:
    if market.kind is MarketKind.SWAP and quirks.swap_side_codes:
        code = raw_info(raw).get("side")
        if code is not None and str(code) in quirks.swap_side_codes:
            return quirks.swap_side_codes[str(code)]
    side = raw.get("side")
    if side not in ("buy", "sell"):
        raise src.error("side", side, "'buy' or 'sell'")
    return Side(side)


def _amount(amount: Decimal, market: Market, quirks: ExchangeQuirks) -> Decimal:
    # The port speaks contracts on swaps; convert when ccxt speaks base units instead.
    if market.kind is MarketKind.SWAP and not quirks.swap_amount_in_contracts:
        return amount / market.contract_size
    return amount


def _client_order_id(raw: Mapping[str, Any]) -> str | None:
    info = raw_info(raw)
    for value in (raw.get("clientOrderId"), info.get("clientOrderId"), info.get("externalOid")):
        if isinstance(value, str) and value:
            return value
    return None


def order_status(src: Source, status: object, filled: Decimal) -> OrderStatus:
    """Map ccxt's order status (plus the filled amount) to the model's."""
    if isinstance(status, str) and status.lower() in _OPEN_STATUSES:
        return OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.OPEN
    mapped = _STATUS.get(status.lower()) if isinstance(status, str) else None
    if mapped is None:
        raise src.error("status", status, "one of open, closed, canceled, rejected, expired")
    return mapped


def parse_order(raw: Mapping[str, Any], market: Market, quirks: ExchangeQuirks) -> OrderReport:
    """Return the model OrderReport for a ccxt order dict (amounts in contracts on swaps)."""
    src = Source(market.exchange, market.symbol)
    filled = _amount(src.non_negative(raw.get("filled") or 0, "filled"), market, quirks)
    ts = raw.get("timestamp")
    if ts is None:
        ts = raw.get("lastUpdateTimestamp")
    fee = raw_sub(raw, "fee")
    fee_currency = fee.get("currency")
    return OrderReport(
        symbol=market.symbol,
        exchange_order_id=src.text(raw.get("id"), "id"),
        client_order_id=_client_order_id(raw),
        status=order_status(src, raw.get("status"), filled),
        side=_side(src, raw, market, quirks),
        amount=_amount(src.non_negative(raw.get("amount"), "amount"), market, quirks),
        filled=filled,
        average_price=src.price_or_none(raw.get("average"), "average"),
        price=src.price_or_none(raw.get("price"), "price"),
        fee=src.optional_decimal(fee.get("cost"), "fee.cost"),
        fee_currency=fee_currency if isinstance(fee_currency, str) else None,
        ts_ms=src.ts_ms(ts, "timestamp"),
    )


def parse_trade(raw: Mapping[str, Any], market: Market, quirks: ExchangeQuirks) -> TradeReport:
    """Return the model TradeReport for a ccxt trade dict (amounts in contracts on swaps)."""
    src = Source(market.exchange, market.symbol)
    fee = raw_sub(raw, "fee")
    fee_cost = fee.get("cost")
    fee_currency = fee.get("currency")
    return TradeReport(
        symbol=market.symbol,
        fill_id=src.text(raw.get("id"), "id"),
        exchange_order_id=src.text(raw.get("order"), "order"),
        client_order_id=_client_order_id(raw),
        side=_side(src, raw, market, quirks),
        price=src.positive(raw.get("price"), "price"),
        amount=_amount(src.positive(raw.get("amount"), "amount"), market, quirks),
        fee=Decimal(0) if fee_cost is None else src.decimal(fee_cost, "fee.cost"),
        fee_currency=fee_currency
        if isinstance(fee_currency, str) and fee_currency
        else market.quote,
        ts_ms=src.ts_ms(raw.get("timestamp"), "timestamp"),
        is_maker=raw.get("takerOrMaker") == "maker",
    )


def parse_position(raw: Mapping[str, Any], market: Market, *, now_ms: int) -> PositionReport | None:
    """Return the model PositionReport, or None for an empty (zero-contract) position."""
    src = Source(market.exchange, market.symbol)
    contracts = src.non_negative(raw.get("contracts"), "contracts")
    if contracts == 0:
        return None
    side = raw.get("side")
    if side not in ("long", "short"):
        raise src.error("side", side, "'long' or 'short'")
    leverage = raw.get("leverage")
    ts = raw.get("timestamp")
    return PositionReport(
        symbol=market.symbol,
        direction=Direction(side),
        contracts=contracts,
        entry_price=src.positive(raw.get("entryPrice"), "entryPrice"),
        leverage=1 if leverage is None else max(1, int(src.positive(leverage, "leverage"))),
        liquidation_price=src.price_or_none(raw.get("liquidationPrice"), "liquidationPrice"),
        unrealized_pnl=src.optional_decimal(raw.get("unrealizedPnl"), "unrealizedPnl"),
        ts_ms=now_ms if ts is None else src.ts_ms(ts, "timestamp"),
    )

"""Spot v3 JSON shapes, field for field as MEXC returns them (research doc §3)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from xraybot.sim.accounts import Account, SpotOrder, SpotTrade
from xraybot.sim.book import Top, change_since
from xraybot.sim.market import SimSymbol, Stats24h
from xraybot.sim.replies import float_text, number_text
from xraybot.sim.venue import decimal_places, spot_tick

TIME_IN_FORCE = {
    "LIMIT": "GTC",
    "LIMIT_MAKER": "POST_ONLY",
    "IMMEDIATE_OR_CANCEL": "IOC",
    "FILL_OR_KILL": "FOK",
    "MARKET": "IOC",
}
MAX_QUOTE_AMOUNT = "2000000"
MAX_QUOTE_AMOUNT_MARKET = "200000"


def symbol_info(symbol: SimSymbol) -> dict[str, Any]:
    """Return one ``exchangeInfo.symbols`` item: status "1" and API trading allowed."""
    amount_digits = decimal_places(symbol.amount_tick)
    price_digits = decimal_places(symbol.price_tick)
    return {
        "symbol": symbol.spot_id,
        "status": "1",
        "baseAsset": symbol.base,
        "baseAssetPrecision": amount_digits,
        "quoteAsset": symbol.quote,
        "quotePrecision": price_digits,
        "quoteAssetPrecision": price_digits,
        "baseCommissionPrecision": amount_digits,
        "quoteCommissionPrecision": price_digits,
        "orderTypes": ["LIMIT", "MARKET", "LIMIT_MAKER"],
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "quoteAmountPrecision": number_text(symbol.min_notional),
        "baseSizePrecision": number_text(spot_tick(symbol.amount_tick)),
        "permissions": ["SPOT"],
        "filters": [],
        "maxQuoteAmount": MAX_QUOTE_AMOUNT,
        "makerCommission": number_text(symbol.maker_fee),
        "takerCommission": number_text(symbol.taker_fee),
        "quoteAmountPrecisionMarket": number_text(symbol.min_notional),
        "maxQuoteAmountMarket": MAX_QUOTE_AMOUNT_MARKET,
        "fullName": symbol.base,
        "tradeSideType": 1,
    }


def ticker(
    symbol: SimSymbol, top: Top, stats: Stats24h, bid_qty: Decimal, ask_qty: Decimal
) -> dict[str, Any]:
    """Return a ``ticker/24hr`` item; it must carry no ``timestamp`` key (ccxt would misread it)."""
    last = float(top.last)
    change, rate = change_since(top.last, stats.open)
    return {
        "symbol": symbol.spot_id,
        "priceChange": number_text(change),
        "priceChangePercent": number_text(rate),
        "prevClosePrice": float_text(stats.open),
        "lastPrice": number_text(top.last),
        "bidPrice": number_text(top.bid),
        "bidQty": number_text(bid_qty),
        "askPrice": number_text(top.ask),
        "askQty": number_text(ask_qty),
        "openPrice": float_text(stats.open),
        "highPrice": float_text(max(stats.high, last)),
        "lowPrice": float_text(min(stats.low, last)),
        "volume": float_text(stats.base_volume),
        "quoteVolume": float_text(stats.quote_volume),
        "openTime": stats.open_ms,
        "closeTime": stats.close_ms,
        "count": None,
    }


def _price(order: SpotOrder) -> str:
    return number_text(order.price) if order.price is not None else "0"


def order(order: SpotOrder) -> dict[str, Any]:
    """Return the order object of GET order, openOrders and allOrders."""
    return {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "price": _price(order),
        "origQty": number_text(order.quantity),
        "executedQty": number_text(order.executed),
        "cummulativeQuoteQty": number_text(order.quote_executed),
        "status": order.status.value,
        "timeInForce": TIME_IN_FORCE[order.order_type],
        "type": order.order_type,
        "side": "BUY" if order.is_buy else "SELL",
        "stopPrice": "0",
        "icebergQty": "0",
        "time": order.created_ms,
        "updateTime": order.updated_ms,
        "isWorking": order.is_open,
        "origQuoteOrderQty": number_text(order.quote_quantity),
    }


def placed(order: SpotOrder) -> dict[str, Any]:
    """Return MEXC's ``POST order`` reply: no status and no clientOrderId, as upstream."""
    return {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "price": _price(order),
        "origQty": number_text(order.quantity),
        "type": order.order_type,
        "side": "BUY" if order.is_buy else "SELL",
        "transactTime": order.created_ms,
    }


def canceled(order: SpotOrder) -> dict[str, Any]:
    """Return the ``DELETE order`` reply."""
    return {
        "symbol": order.symbol,
        "origClientOrderId": order.client_order_id,
        "orderId": order.order_id,
        "clientOrderId": order.client_order_id,
        "price": _price(order),
        "origQty": number_text(order.quantity),
        "executedQty": number_text(order.executed),
        "cummulativeQuoteQty": number_text(order.quote_executed),
        "status": order.status.value,
        "timeInForce": TIME_IN_FORCE[order.order_type],
        "type": order.order_type,
        "side": "BUY" if order.is_buy else "SELL",
    }


def trade(fill: SpotTrade) -> dict[str, Any]:
    """Return a ``myTrades`` item."""
    return {
        "symbol": fill.symbol,
        "id": fill.trade_id,
        "orderId": fill.order_id,
        "orderListId": -1,
        "price": number_text(fill.price),
        "qty": number_text(fill.qty),
        "quoteQty": number_text(fill.quote_qty),
        "commission": number_text(fill.commission),
        "commissionAsset": fill.commission_asset,
        "time": fill.time_ms,
        "isBuyer": fill.is_buyer,
        "isMaker": fill.is_maker,
        "isBestMatch": True,
        "isSelfTrade": False,
        "clientOrderId": fill.client_order_id,
    }


def account(account: Account, now_ms: int) -> dict[str, Any]:
    """Return the ``account`` reply (only assets with a balance are listed)."""
    return {
        "makerCommission": 0,
        "takerCommission": 0,
        "buyerCommission": 0,
        "sellerCommission": 0,
        "canTrade": True,
        "canWithdraw": False,
        "canDeposit": False,
        "updateTime": now_ms,
        "accountType": "SPOT",
        "balances": [
            {"asset": asset, "free": number_text(w.free), "locked": number_text(w.locked)}
            for asset, w in sorted(account.spot.items())
            if w.free or w.locked
        ],
        "permissions": ["SPOT"],
    }

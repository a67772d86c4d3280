"""Contract v1 JSON shapes (the ``data`` inside MEXC's envelope; research doc §3)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from xraybot.sim.accounts import Account, Position, SwapDeal, SwapOrder
from xraybot.sim.book import Top, change_since
from xraybot.sim.market import SimSymbol, Stats24h
from xraybot.sim.replies import float_text, number_text
from xraybot.sim.swap_math import available_balance, position_margin
from xraybot.sim.swap_params import MAX_VOL, VOL_UNIT
from xraybot.sim.venue import decimal_places

SETTLE = "USDT"


def detail(symbol: SimSymbol, maintenance_rate: Decimal) -> dict[str, Any]:
    """Return one ``contract/detail`` item: state 0 (enabled) and API trading allowed."""
    return {
        "symbol": symbol.swap_id,
        "displayName": f"{symbol.swap_id} PERPETUAL",
        "displayNameEn": f"{symbol.swap_id} PERPETUAL",
        "positionOpenType": 3,
        "baseCoin": symbol.base,
        "quoteCoin": symbol.quote,
        "settleCoin": symbol.quote,
        "contractSize": number_text(symbol.contract_size),
        "minLeverage": 1,
        "maxLeverage": symbol.max_leverage,
        "priceScale": decimal_places(symbol.price_tick),
        "volScale": 0,
        "amountScale": 4,
        "priceUnit": number_text(symbol.price_tick),
        "volUnit": number_text(VOL_UNIT),
        "minVol": number_text(VOL_UNIT),
        "maxVol": number_text(MAX_VOL),
        "takerFeeRate": number_text(symbol.taker_fee),
        "makerFeeRate": number_text(symbol.maker_fee),
        "maintenanceMarginRate": number_text(maintenance_rate),
        "initialMarginRate": number_text(Decimal(1) / symbol.max_leverage),
        "state": 0,
        "isNew": False,
        "isHot": False,
        "isHidden": False,
        "apiAllowed": True,
        "maxNumOrders": [200, 50],
        "futureType": 1,
    }


def ticker(symbol: SimSymbol, top: Top, stats: Stats24h) -> dict[str, Any]:
    """Return a contract ticker; ``volume24`` is in contracts, as MEXC reports it."""
    last = float(top.last)
    change, rate = change_since(top.last, stats.open)
    contracts = stats.base_volume / float(symbol.contract_size)
    return {
        "symbol": symbol.swap_id,
        "lastPrice": number_text(top.last),
        "bid1": number_text(top.bid),
        "ask1": number_text(top.ask),
        "volume24": float_text(round(contracts)),
        "amount24": float_text(stats.quote_volume),
        "holdVol": "0",
        "lower24Price": float_text(min(stats.low, last)),
        "high24Price": float_text(max(stats.high, last)),
        "riseFallRate": number_text(rate),
        "riseFallValue": number_text(change),
        "indexPrice": number_text(top.last),
        "fairPrice": number_text(top.last),
        "fundingRate": "0",
        "maxBidPrice": number_text(top.last * Decimal("1.1")),
        "minAskPrice": number_text(top.last * Decimal("0.9")),
        "timestamp": top.ts_ms,
    }


def order(order: SwapOrder) -> dict[str, Any]:
    """Return the order object of order/get, order/external and the order lists."""
    return {
        "orderId": order.order_id,
        "symbol": order.symbol,
        "positionId": order.position_id,
        "price": number_text(order.price),
        "vol": number_text(order.vol),
        "leverage": order.leverage,
        "side": int(order.side),
        "category": 1,
        "orderType": order.order_type,
        "dealAvgPrice": number_text(order.average),
        "dealVol": number_text(order.deal_vol),
        "orderMargin": number_text(order.frozen),
        "takerFee": number_text(order.taker_fee),
        "makerFee": number_text(order.maker_fee),
        "profit": number_text(order.profit),
        "feeCurrency": SETTLE,
        "openType": order.open_type,
        "state": int(order.state),
        "externalOid": order.external_oid,
        "errorCode": 0,
        "usedMargin": number_text(order.frozen),
        "createTime": order.created_ms,
        "updateTime": order.updated_ms,
        "positionMode": order.position_mode,
    }


def deal(deal: SwapDeal) -> dict[str, Any]:
    """Return an ``order_deals`` item; ``positionMode`` marks it as a swap trade for ccxt."""
    return {
        "id": deal.deal_id,
        "symbol": deal.symbol,
        "side": int(deal.side),
        "vol": number_text(deal.vol),
        "price": number_text(deal.price),
        "feeCurrency": SETTLE,
        "fee": number_text(deal.fee),
        "timestamp": deal.time_ms,
        "profit": number_text(deal.profit),
        "category": 1,
        "orderId": deal.order_id,
        "positionMode": deal.position_mode,
        "taker": deal.is_taker,
        "isTaker": deal.is_taker,
    }


def position(position: Position, *, unrealized: Decimal, liquidation: Decimal) -> dict[str, Any]:
    """Return an ``open_positions`` item (``unRealizedPnl`` included: ccxt reads it)."""
    return {
        "positionId": position.position_id,
        "symbol": position.symbol,
        "positionType": position.position_type,
        "openType": position.open_type,
        "state": 1,
        "holdVol": number_text(position.hold_vol),
        "frozenVol": number_text(position.frozen_vol),
        "closeVol": number_text(position.close_vol),
        "holdAvgPrice": number_text(position.open_avg_price),
        "openAvgPrice": number_text(position.open_avg_price),
        "closeAvgPrice": number_text(position.close_avg_price),
        "liquidatePrice": number_text(liquidation),
        "oim": number_text(position.im),
        "im": number_text(position.im),
        "holdFee": "0",
        "realised": number_text(position.realised),
        "leverage": position.leverage,
        "createTime": position.created_ms,
        "updateTime": position.updated_ms,
        "autoAddIm": False,
        "unRealizedPnl": number_text(unrealized),
    }


def asset(account: Account, unrealized: Decimal) -> dict[str, Any]:
    """Return the USDT futures wallet: ``availableBalance`` is free, ``frozenBalance`` used."""
    wallet = account.futures
    return {
        "currency": SETTLE,
        "positionMargin": number_text(position_margin(account)),
        "availableBalance": number_text(available_balance(account)),
        "cashBalance": number_text(wallet.cash),
        "frozenBalance": number_text(wallet.frozen),
        "equity": number_text(wallet.cash + unrealized),
        "unrealized": number_text(unrealized),
        "bonus": "0",
    }

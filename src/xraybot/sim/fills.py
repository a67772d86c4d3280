"""Decimal adapters over ``matching.rules`` and ``matching.costs`` for the simulator's fills.

The rules themselves live in ``matching`` (one order simulation for the backtester, the paper
gateway and the simulator); this module only converts the simulator's Decimals to the rules'
floats and back. A market order fills at the ask (buy) or bid (sell) moved against the taker
by the slippage rate; a limit order whose opposite quote reaches its limit on arrival fills as
taker at that quote; a resting limit fills as maker at its own price once the opposite quote
reaches it (touching counts); the fee is ``abs(notional) * rate``.

Taker prices are rounded to the tick against the taker (buys up, sells down, never below one
tick), maker prices in the owner's favour (buys down, sells up), so rounding never gives
anyone a better price than the book or worse than the limit.
"""

from __future__ import annotations

import math
from decimal import Decimal

from xraybot.matching import costs, rules
from xraybot.matching.accounting import from_float
from xraybot.model.market import Rounding, round_to_tick
from xraybot.sim.book import Top


def _side(is_buy: bool) -> int:
    return rules.BUY if is_buy else rules.SELL


def _taker_price(value: float, is_buy: bool, tick: Decimal) -> Decimal:
    if is_buy:
        return round_to_tick(from_float(value), tick, Rounding.UP)
    return max(tick, round_to_tick(from_float(value), tick, Rounding.DOWN))


def market_fill_price(is_buy: bool, top: Top, slippage_rate: Decimal, tick: Decimal) -> Decimal:
    """Return a market order's fill price (``rules.market_fill_price``) on ``tick``."""
    price = rules.market_fill_price(
        _side(is_buy), float(top.bid), float(top.ask), float(slippage_rate)
    )
    return _taker_price(price, is_buy, tick)


def limit_fill_on_arrival(is_buy: bool, limit: Decimal, top: Top, tick: Decimal) -> Decimal | None:
    """Return a new limit order's taker price (``rules.limit_fill_on_arrival``); None: it rests."""
    price = rules.limit_fill_on_arrival(_side(is_buy), float(limit), float(top.bid), float(top.ask))
    if math.isnan(price):
        return None
    return _taker_price(price, is_buy, tick)


def limit_fill_resting(is_buy: bool, limit: Decimal, top: Top, tick: Decimal) -> Decimal | None:
    """Return a resting limit's maker price (``rules.limit_fill_resting``); None: it waits."""
    price = rules.limit_fill_resting(_side(is_buy), float(limit), float(top.bid), float(top.ask))
    if math.isnan(price):
        return None
    return round_to_tick(from_float(price), tick, Rounding.DOWN if is_buy else Rounding.UP)


def fee(notional: Decimal, rate: Decimal) -> Decimal:
    """Return the fee on ``notional`` at ``rate`` (``costs.fee``), in the notional's currency."""
    return from_float(costs.fee(float(notional), float(rate)))

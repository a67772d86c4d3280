"""Test markets: the order-step market, a simulator swap, and the MEXC-like BTC perpetual and
spot markets the risk tests size against."""

from __future__ import annotations

from decimal import Decimal

from xraybot.model.market import Market, MarketKind

SYMBOL = "BTC/USDT:USDT"


def market(kind: MarketKind = MarketKind.SWAP, **changes: object) -> Market:
    fields: dict[str, object] = {
        "exchange": "mexc",
        "symbol": SYMBOL if kind is MarketKind.SWAP else "BTC/USDT",
        "base": "BTC",
        "quote": "USDT",
        "kind": kind,
        "price_tick": Decimal("0.01"),
        "amount_tick": Decimal("0.001"),
        "taker_fee_rate": Decimal("0.001"),
        "max_leverage": 50 if kind is MarketKind.SWAP else 1,
    }
    fields.update(changes)
    return Market(**fields)  # type: ignore[arg-type]


def swap_market(symbol: str) -> Market:
    base = symbol.split("/")[0]
    return Market(
        exchange="sim",
        symbol=symbol,
        base=base,
        quote="USDT",
        kind=MarketKind.SWAP,
        price_tick=Decimal("0.01"),
        amount_tick=Decimal(1),
        max_leverage=20,
    )


def btc_perpetual(exchange: str = "sim") -> Market:
    """A BTC perpetual as MEXC lists it: 0.0001 BTC a contract, 0.02 % taker, up to 125x."""
    return Market(
        exchange=exchange,
        symbol="BTC/USDT:USDT",
        base="BTC",
        quote="USDT",
        kind=MarketKind.SWAP,
        price_tick=Decimal("0.1"),
        amount_tick=Decimal("1"),
        min_amount=Decimal("1"),
        min_cost=Decimal("5"),
        maker_fee_rate=Decimal("0"),
        taker_fee_rate=Decimal("0.0002"),
        contract_size=Decimal("0.0001"),
        max_leverage=125,
    )


def spot(symbol: str, amount_tick: str, exchange: str = "sim") -> Market:
    """A USDT spot market with a cent price tick, a 5 USDT minimum order and a 0.1 % taker fee."""
    return Market(
        exchange=exchange,
        symbol=symbol,
        base=symbol.split("/")[0],
        quote="USDT",
        price_tick=Decimal("0.01"),
        amount_tick=Decimal(amount_tick),
        min_cost=Decimal("5"),
        taker_fee_rate=Decimal("0.001"),
    )

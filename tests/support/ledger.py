"""Markets and ledger states for the matching ledger tests."""

from __future__ import annotations

import copy
from decimal import Decimal

from xraybot.matching.ledger import Ledger
from xraybot.model import Market, MarketKind

D = Decimal
SPOT = Market(
    exchange="test",
    symbol="BTC/USDT",
    base="BTC",
    quote="USDT",
    price_tick=D("0.01"),
    amount_tick=D("0.0001"),
    min_amount=D("0.0001"),
    min_cost=D("5"),
    maker_fee_rate=D("0.001"),
    taker_fee_rate=D("0.002"),
)
SWAP = Market(
    exchange="test",
    symbol="BTC/USDT:USDT",
    base="BTC",
    quote="USDT",
    kind=MarketKind.SWAP,
    price_tick=D("0.1"),
    amount_tick=D("1"),
    min_amount=D("1"),
    min_cost=D("1"),
    maker_fee_rate=D("0.0002"),
    taker_fee_rate=D("0.0006"),
    contract_size=D("0.0001"),
    max_leverage=200,
)


def state(ledger: Ledger) -> dict[str, object]:
    """Return a deep copy of everything the ledger holds, for "changed nothing" checks."""
    held = dict(vars(ledger))
    held["_log"] = dict(vars(held["_log"]))
    return copy.deepcopy(held)

"""DepositSettings: one validated record for the deposit calculator, each refusal naming its
field; both questions read it unchanged."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

import pytest

from xraybot.model.errors import InvalidInputError
from xraybot.model.market import Market, MarketKind
from xraybot.risk.deposit import DepositSettings, minimum_deposit, what_deposit_allows

BTC = Market(
    exchange="mexc",
    symbol="BTC/USDT:USDT",
    base="BTC",
    quote="USDT",
    kind=MarketKind.SWAP,
    price_tick=Decimal("0.1"),
    amount_tick=Decimal(1),
    min_amount=Decimal(1),
    contract_size=Decimal("0.0001"),
    max_leverage=125,
    taker_fee_rate=Decimal("0.0004"),
)
PRICES = {BTC.symbol: 60_000.0}


def settings(**changes: Any) -> DepositSettings:
    values: dict[str, Any] = {"prices": PRICES, "max_open_positions": 1, **changes}
    return DepositSettings(**values)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"prices": {BTC.symbol: 0.0}}, "prices['BTC/USDT:USDT']"),
        ({"prices": {BTC.symbol: math.nan}}, "prices['BTC/USDT:USDT']"),
        ({"prices": [60_000.0]}, "prices"),
        ({"max_open_positions": 0}, "max_open_positions"),
        ({"max_open_positions": True}, "max_open_positions"),
        ({"max_open_positions": 1.5}, "max_open_positions"),
        ({"margin_multiplier": 0.9}, "margin_multiplier"),
        ({"margin_multiplier": math.inf}, "margin_multiplier"),
        ({"leverage": 0}, "leverage"),
        ({"leverage": 2.5}, "leverage"),
        ({"fee_rate": math.nan}, "fee_rate"),
        ({"stake_mode": "martingale"}, "stake_mode"),
        ({"stake_mode": "fixed"}, "stake_amount"),
        ({"stake_mode": "fraction", "stake_amount": -0.1}, "stake_amount"),
        ({"stake_mode": "risk", "stake_amount": 0.01}, "stop_distance"),
        ({"stake_mode": "vol_target", "volatility": 0.01}, "target_volatility"),
        ({"stake_mode": "kelly", "payoff": 1.5}, "win_rate"),
        ({"stake_mode": "kelly", "win_rate": 0.6}, "payoff"),
        ({"volatility": math.inf}, "volatility"),
        ({"kelly_cap": math.nan}, "kelly_cap"),
    ],
)
def test_a_bad_field_is_refused_by_name(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(f"DepositSettings.{field}")):
        settings(**changes)


def test_the_record_is_frozen_and_keeps_its_own_prices() -> None:
    prices = dict(PRICES)
    record = settings(prices=prices, leverage=10)
    prices[BTC.symbol] = 1.0
    assert record.prices[BTC.symbol] == 60_000.0
    with pytest.raises(AttributeError):
        record.leverage = 20  # type: ignore[misc]
    with pytest.raises(TypeError):
        record.prices[BTC.symbol] = 1.0  # type: ignore[index]


def test_both_questions_read_the_same_record() -> None:
    record = settings(max_open_positions=1, margin_multiplier=2.0, leverage=10)
    report = minimum_deposit([BTC], record)
    allowance = what_deposit_allows([BTC], report.minimum_deposit, record)
    assert report.ok
    assert allowance.positions == 1
    assert allowance.minimum_deposit == report.minimum_deposit
    assert report.margin_multiplier == 2.0


def test_market_dependent_settings_are_checked_against_the_markets() -> None:
    with pytest.raises(InvalidInputError, match="at most 125"):
        minimum_deposit([BTC], settings(leverage=200))
    with pytest.raises(InvalidInputError, match="needs a price"):
        minimum_deposit([BTC], settings(prices={"ETH/USDT:USDT": 3000.0}))

"""risk.leverage: leverage from the stop distance and volatility, with the cap that bound it."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from xraybot.matching.costs import liquidation_price
from xraybot.matching.rules import LONG, SHORT
from xraybot.model.errors import InvalidInputError
from xraybot.model.market import Market, MarketKind
from xraybot.risk.leverage import (
    BOUND_LIQUIDATION,
    BOUND_MARKET_MAX,
    BOUND_MINIMUM,
    BOUND_SPOT,
    BOUND_USER_CAP,
    choose_leverage,
    leverage_for,
)

NAN = math.nan


def swap(symbol: str, max_leverage: int = 125) -> Market:
    return Market(
        exchange="mexc",
        symbol=f"{symbol}/USDT:USDT",
        base=symbol,
        quote="USDT",
        kind=MarketKind.SWAP,
        price_tick=Decimal("0.01"),
        amount_tick=Decimal(1),
        max_leverage=max_leverage,
    )


def test_a_three_percent_stop_allows_twenty_x() -> None:
    # Liquidation 1.5 % beyond a 3 % stop, mmr 0.5 %: 1 / (0.03 + 0.015 + 0.005) = 20.
    assert leverage_for(LONG, 100.0, 97.0, NAN, 0.005, 0.5, 125.0) == 20.0
    assert leverage_for(SHORT, 100.0, 103.0, NAN, 0.005, 0.5, 125.0) == 20.0
    assert liquidation_price(LONG, 100.0, 20.0, 0.005) <= 97.0 - 1.5
    assert liquidation_price(LONG, 100.0, 21.0, 0.005) > 97.0 - 1.5


def test_volatility_widens_the_buffer_when_larger() -> None:
    # One candle's 3 % beats half the 3 % stop: 1 / (0.03 + 0.03 + 0.005) = 15.4.
    assert leverage_for(LONG, 100.0, 97.0, 0.03, 0.005, 0.5, 125.0) == 15.0
    assert leverage_for(LONG, 100.0, 97.0, 0.01, 0.005, 0.5, 125.0) == 20.0


def test_caps_and_the_one_x_floor() -> None:
    assert leverage_for(LONG, 100.0, 97.0, NAN, 0.005, 0.5, 10.0) == 10.0
    assert leverage_for(LONG, 100.0, 97.0, NAN, 0.005, 0.5, 10.7) == 10.0
    assert leverage_for(LONG, 100.0, 40.0, NAN, 0.005, 1.0, 125.0) == 1.0


def test_bad_input_is_nan() -> None:
    assert math.isnan(leverage_for(LONG, 100.0, 103.0, NAN, 0.005, 0.5, 125.0))  # wrong side
    assert math.isnan(leverage_for(SHORT, 100.0, 97.0, NAN, 0.005, 0.5, 125.0))
    assert math.isnan(leverage_for(0, 100.0, 97.0, NAN, 0.005, 0.5, 125.0))
    assert math.isnan(leverage_for(LONG, 100.0, 97.0, NAN, 1.0, 0.5, 125.0))
    assert math.isnan(leverage_for(LONG, 100.0, 97.0, NAN, 0.005, -0.1, 125.0))
    assert math.isnan(leverage_for(LONG, 100.0, 97.0, -0.01, 0.005, 0.5, 125.0))
    assert math.isnan(leverage_for(LONG, 100.0, 97.0, NAN, 0.005, 0.5, 0.5))
    assert math.isnan(leverage_for(LONG, 100.0, NAN, NAN, 0.005, 0.5, 125.0))


def test_btc_gets_22x_and_sol_8x_and_the_decision_says_why() -> None:
    btc = choose_leverage(
        swap("BTC"),
        direction="long",
        entry_price=60_000.0,
        stop_price=58_380.0,  # 2.7 % away
        volatility=0.008,
        maintenance_margin_rate=0.004,
        user_cap=25,
    )
    sol = choose_leverage(
        swap("SOL", max_leverage=50),
        direction="long",
        entry_price=150.0,
        stop_price=138.0,  # 8 % away
        volatility=0.02,
        maintenance_margin_rate=0.004,
        user_cap=25,
    )
    assert (btc.value, sol.value) == (22, 8)
    assert btc.bound_by == sol.bound_by == BOUND_LIQUIDATION
    assert btc.ok
    assert sol.ok
    assert "2.70%" in btc.reasons[0]
    assert "8.00%" in sol.reasons[0]
    assert any("volatility 2.00%" in reason for reason in sol.reasons)
    assert sol.liquidation_price is not None
    assert sol.liquidation_price <= 138.0 - 0.5 * 12.0
    payload = sol.to_dict()
    assert payload["value"] == 8
    assert isinstance(payload["reasons"], list)


def test_the_decision_names_the_cap_that_bound_it() -> None:
    def decide(user_cap: float, market_max: int) -> str:
        return choose_leverage(
            swap("ETH", max_leverage=market_max),
            direction=SHORT,
            entry_price=100.0,
            stop_price=101.0,
            volatility=None,
            maintenance_margin_rate=0.005,
            user_cap=user_cap,
        ).bound_by

    assert decide(10, 125) == BOUND_USER_CAP
    assert decide(50, 20) == BOUND_MARKET_MAX
    assert decide(125, 125) == BOUND_LIQUIDATION


def test_one_x_that_cannot_protect_the_stop_is_not_ok() -> None:
    decision = choose_leverage(
        swap("DOGE"),
        direction="short",
        entry_price=1.0,
        stop_price=1.9,  # 90 % above: even 1x liquidates around 2.0 - mmr
        volatility=None,
        maintenance_margin_rate=0.005,
        safety=0.5,
        user_cap=10,
    )
    assert decision.value == 1
    assert not decision.ok
    assert decision.bound_by == BOUND_MINIMUM


def test_spot_is_one_x_without_liquidation() -> None:
    spot = Market(
        exchange="mexc",
        symbol="BTC/USDT",
        base="BTC",
        quote="USDT",
        price_tick=Decimal("0.01"),
        amount_tick=Decimal("0.00001"),
    )
    decision = choose_leverage(
        spot,
        direction="long",
        entry_price=100.0,
        stop_price=97.0,
        volatility=0.01,
        maintenance_margin_rate=0.0,
        user_cap=20,
    )
    assert (decision.value, decision.bound_by, decision.liquidation_price) == (1, BOUND_SPOT, None)


def test_wrong_side_stop_and_bad_numbers_raise() -> None:
    with pytest.raises(InvalidInputError, match="below the entry"):
        choose_leverage(
            swap("BTC"), direction="long", entry_price=100.0, stop_price=101.0,
            volatility=None, maintenance_margin_rate=0.005, user_cap=10,
        )  # fmt: skip
    with pytest.raises(InvalidInputError, match="direction"):
        choose_leverage(
            swap("BTC"), direction="up", entry_price=100.0, stop_price=99.0,
            volatility=None, maintenance_margin_rate=0.005, user_cap=10,
        )  # fmt: skip
    with pytest.raises(InvalidInputError, match="user_cap"):
        choose_leverage(
            swap("BTC"), direction="long", entry_price=100.0, stop_price=99.0,
            volatility=None, maintenance_margin_rate=0.005, user_cap=0.5,
        )  # fmt: skip

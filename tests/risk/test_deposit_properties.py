"""Properties of the deposit calculator, checked by actually sizing the positions it promises.

At the minimum deposit, opening the promised number of positions one after another (the
markets that tie up the most first) through ``size_position`` always succeeds, never below a
market's minimum, never past the free cash, and keeps the margin reserve of ``risk.limits``;
a deposit 2 % smaller holds fewer positions or trades fewer markets.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from xraybot.model.market import Market, MarketKind
from xraybot.risk.deposit import DepositSettings, minimum_deposit, what_deposit_allows
from xraybot.risk.sizing import size_position

pytestmark = pytest.mark.properties

TICKS = [Decimal(text) for text in ("1", "0.1", "0.01", "0.001", "5")]
CONTRACTS = [Decimal(text) for text in ("0.0001", "0.001", "0.01", "0.1", "1", "10")]
FEES = [Decimal(text) for text in ("0", "0.0002", "0.0004", "0.001", "-0.0001")]


@st.composite
def configurations(draw: st.DrawFn) -> tuple[list[Market], dict[str, Any]]:
    count = draw(st.integers(1, 4))
    leverage = draw(st.integers(1, 50))
    markets = []
    prices: dict[str, float] = {}
    for index in range(count):
        tick = draw(st.sampled_from(TICKS))
        market = Market(
            exchange="x",
            symbol=f"C{index}/USDT:USDT",
            base=f"C{index}",
            quote="USDT",
            kind=MarketKind.SWAP,
            price_tick=Decimal("0.0001"),
            amount_tick=tick,
            min_amount=tick * draw(st.integers(0, 20)),
            min_cost=Decimal(draw(st.sampled_from([0, 1, 5, 10]))),
            contract_size=draw(st.sampled_from(CONTRACTS)),
            max_leverage=draw(st.integers(leverage, 125)),
            taker_fee_rate=draw(st.sampled_from(FEES)),
        )
        markets.append(market)
        prices[market.symbol] = float(f"{draw(st.floats(0.01, 1e5)):.6g}")
    mode = draw(st.sampled_from([None, "fixed", "fraction", "risk"]))
    config: dict[str, Any] = {
        "prices": prices,
        "max_open_positions": draw(st.integers(1, 5)),
        "margin_multiplier": draw(st.floats(1.0, 3.0)),
        "leverage": leverage,
        "stake_mode": mode,
    }
    if mode == "fixed":
        config["stake_amount"] = draw(st.floats(1.0, 1e4))
    elif mode == "fraction":
        config["stake_amount"] = draw(st.floats(0.01, 0.5))
    elif mode == "risk":
        config["stake_amount"] = draw(st.floats(0.001, 0.05))
        config["stop_distance"] = draw(st.floats(0.005, 0.2))
    return markets, config


def fee_cost(rate: Decimal) -> Decimal:
    return rate if rate > 0 else Decimal(0)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=configurations())
def test_the_minimum_deposit_holds_the_promised_positions(
    case: tuple[list[Market], dict[str, Any]],
) -> None:
    markets, config = case
    report = minimum_deposit(markets, DepositSettings(**config))
    assume(report.ok)
    deposit = report.minimum_deposit
    by_symbol = {market.symbol: market for market in markets}
    mode = config["stake_mode"]
    equity = cash = deposit
    open_notional = Decimal(0)
    lev = config["leverage"]
    # The markets that tie up the most go first: the worst order for the deposit.
    order = sorted(report.markets, key=lambda row: row.reserve, reverse=True)
    if mode is not None:
        order = sorted(report.markets, key=lambda row: row.stake_notional or 0, reverse=True)
    for row in order[: report.positions]:
        market = by_symbol[row.symbol]
        price = Decimal(repr(config["prices"][row.symbol]))
        if mode is None:  # the smallest order itself
            notional, fee_rate = row.min_order_notional, row.fee_rate
            fee = notional * row.fee_rate
        else:
            decision = size_position(
                market,
                mode=mode,
                equity=equity,
                free_cash=cash,
                price=price,
                amount=config["stake_amount"],
                stop_price=float(price) * (1 - config.get("stop_distance", 0.5)),
                leverage=lev,
            )
            assert decision.ok, decision.refusal
            notional, fee = decision.notional, decision.fee
            fee_rate = decision.fee_rate
            assert notional >= row.min_order_notional
        open_notional += notional
        equity -= fee
        cash -= notional * (1 + lev * fee_cost(fee_rate)) / lev
        assert cash >= 0
        # The margin reserve of risk.limits holds after every entry.
        reserve = Decimal(repr(config["margin_multiplier"]))
        assert open_notional * reserve <= equity * lev


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=configurations())
def test_less_than_the_minimum_holds_fewer_positions(
    case: tuple[list[Market], dict[str, Any]],
) -> None:
    markets, config = case
    report = minimum_deposit(markets, DepositSettings(**config))
    assume(report.ok and report.minimum_deposit > 0)
    at = what_deposit_allows(markets, report.minimum_deposit, DepositSettings(**config))
    assert at.positions >= report.positions
    assert not at.too_small
    below = what_deposit_allows(
        markets, report.minimum_deposit * Decimal("0.98"), DepositSettings(**config)
    )
    # Fewer positions, or a market it can no longer trade.
    assert below.positions < report.positions or below.too_small

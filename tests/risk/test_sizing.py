"""risk.sizing: hand-checked stakes per mode, orders rounded to the market, refusals that help."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from xraybot.model.errors import InvalidInputError
from xraybot.model.market import Market, MarketKind
from xraybot.risk.amounts import minimum_order, round_up
from xraybot.risk.sizing import (
    SIZE_ALL,
    SIZE_FIXED,
    SIZE_FRACTION,
    SIZE_KELLY,
    SIZE_RISK,
    SIZE_VOL_TARGET,
    size_position,
    stake_notional,
)

NAN = math.nan


def notional(
    mode: int,
    *,
    equity: float = 1000.0,
    free_cash: float = math.inf,
    amount: float = NAN,
    price: float = 100.0,
    stop: float = NAN,
    vol: float = NAN,
    target: float = NAN,
    win: float = NAN,
    payoff: float = NAN,
    cap: float = 0.25,
    leverage: float = 1.0,
    fee: float = 0.0,
) -> float:
    return stake_notional(
        mode, equity, free_cash, amount, price, stop, vol, target, win, payoff, cap, leverage, fee
    )


def spot_btc() -> Market:
    return Market(
        exchange="mexc",
        symbol="BTC/USDT",
        base="BTC",
        quote="USDT",
        price_tick=Decimal("0.01"),
        amount_tick=Decimal("0.00001"),
        min_cost=Decimal(5),
        taker_fee_rate=Decimal("0.001"),
    )


def swap(symbol: str, contract_size: str, max_leverage: int = 125) -> Market:
    base = symbol.split("/")[0]
    return Market(
        exchange="mexc",
        symbol=f"{symbol}:USDT",
        base=base,
        quote="USDT",
        kind=MarketKind.SWAP,
        price_tick=Decimal("0.1"),
        amount_tick=Decimal(1),
        min_amount=Decimal(1),
        contract_size=Decimal(contract_size),
        max_leverage=max_leverage,
        taker_fee_rate=Decimal("0.0004"),
    )


# -- the scalar rule ------------------------------------------------------------------------


def test_cash_modes_commit_margin_plus_fee() -> None:
    # fixed: 100 quote pays margin + fee, 100 / (1 + 0.001) of notional at 1x.
    assert notional(SIZE_FIXED, amount=100.0, fee=0.001) == pytest.approx(100.0 / 1.001)
    # fraction: 10 % of 1000 committed at 10x, no fee: 100 / 0.1.
    assert notional(SIZE_FRACTION, amount=0.1, leverage=10.0) == pytest.approx(1000.0)
    # all: the free cash 500 at 2x.
    assert notional(SIZE_ALL, free_cash=500.0, leverage=2.0) == pytest.approx(1000.0)


def test_risk_mode_loses_the_share_at_the_stop_fees_included() -> None:
    # 1 % of 10000 at risk, stop 2 % away: 100 / 0.02.
    assert notional(SIZE_RISK, equity=10_000.0, amount=0.01, stop=98.0) == pytest.approx(5000.0)
    sized = notional(SIZE_RISK, equity=10_000.0, amount=0.01, stop=98.0, fee=0.001)
    loss = sized * 0.02 + sized * 0.001 + sized * 0.98 * 0.001  # move + entry fee + exit fee
    assert loss == pytest.approx(100.0)
    short = notional(SIZE_RISK, equity=10_000.0, amount=0.01, stop=102.0, fee=0.001)
    assert short * 0.02 + short * 0.001 + short * 1.02 * 0.001 == pytest.approx(100.0)


def test_volatility_target_and_capped_kelly() -> None:
    assert notional(SIZE_VOL_TARGET, vol=0.02, target=0.01) == pytest.approx(500.0)
    # f = 0.6 - 0.4 / 2 = 0.4, capped at 0.25.
    assert notional(SIZE_KELLY, win=0.6, payoff=2.0) == pytest.approx(250.0)
    assert notional(SIZE_KELLY, win=0.6, payoff=2.0, cap=0.5) == pytest.approx(400.0)
    assert notional(SIZE_KELLY, win=0.4, payoff=1.0) == 0.0  # no edge


def test_free_cash_caps_margin_plus_fee_and_rebates_are_not_counted_on() -> None:
    capped = notional(SIZE_FRACTION, amount=1.0, free_cash=100.0, leverage=4.0, fee=0.001)
    assert capped == pytest.approx(100.0 / (0.25 + 0.001))
    assert capped / 4.0 + capped * 0.001 <= 100.0
    rebate = notional(SIZE_FIXED, amount=100.0, fee=-0.0002)
    assert rebate == notional(SIZE_FIXED, amount=100.0, fee=0.0)
    assert notional(SIZE_ALL, free_cash=0.0) == 0.0
    assert notional(SIZE_FRACTION, amount=0.1, equity=-5.0) == 0.0


def test_bad_input_is_nan() -> None:
    assert math.isnan(notional(9, amount=1.0))
    assert math.isnan(notional(SIZE_FIXED, amount=1.0, price=0.0))
    assert math.isnan(notional(SIZE_FIXED, amount=1.0, leverage=0.5))
    assert math.isnan(notional(SIZE_FIXED, amount=-1.0))
    assert math.isnan(notional(SIZE_RISK, amount=0.01))  # no stop
    assert math.isnan(notional(SIZE_RISK, amount=0.01, stop=100.0))  # stop at the price
    assert math.isnan(notional(SIZE_VOL_TARGET, vol=0.0, target=0.01))
    assert math.isnan(notional(SIZE_KELLY, win=1.5, payoff=2.0))
    assert math.isnan(notional(SIZE_FIXED, amount=1.0, equity=NAN))


# -- size_position ---------------------------------------------------------------------------


def test_spot_order_rounds_down_to_the_amount_tick() -> None:
    decision = size_position(
        spot_btc(), mode="fraction", equity=1000.0, free_cash=1000.0, price=50_000.0, amount=0.1
    )
    # 100 committed -> 99.9001 notional -> 0.001998 BTC -> 0.00199 on the tick.
    assert decision.ok
    assert decision.amount == Decimal("0.00199")
    assert decision.notional == Decimal("99.50000")
    assert decision.margin == decision.notional
    assert decision.fee == Decimal("0.09950000")
    assert any("rounded down" in reason for reason in decision.reasons)


def test_swap_sizes_in_contracts() -> None:
    btc = swap("BTC/USDT", "0.0001")
    decision = size_position(
        btc, mode="fraction", equity=1000, free_cash=1000, price=60_000, amount=0.1, leverage=10
    )
    # 100 committed at 10x and fee 0.0004: 996.02 notional; a contract is 6 USDT -> 166.
    assert decision.ok
    assert decision.amount == Decimal(166)
    assert decision.notional == Decimal(996)
    assert decision.margin == Decimal("99.6")
    assert decision.fee == Decimal("0.3984")
    assert decision.margin + decision.fee <= 100


def test_refusal_names_the_smallest_order_and_the_equity_that_allows_it() -> None:
    sol = swap("SOL/USDT", "1", max_leverage=50)
    decision = size_position(
        sol, mode="fraction", equity=100, free_cash=100, price=150, amount=0.1, leverage=10
    )
    assert not decision.ok
    assert decision.amount == 0
    assert decision.min_order_amount == Decimal(1)
    assert decision.min_order_notional == Decimal(150)
    # 150 of notional needs 150 * 0.1004 / 0.1 = 150.6 of equity.
    assert decision.equity_needed == round_up(150.6) == Decimal("150.601")
    assert decision.refusal is not None
    assert "150 USDT" in decision.refusal
    assert "150.601" in decision.refusal
    enough = size_position(
        sol,
        mode="fraction",
        equity=decision.equity_needed,
        free_cash=decision.equity_needed,
        price=150,
        amount=0.1,
        leverage=10,
    )
    assert enough.ok
    assert enough.amount == 1


def test_fixed_stake_refusal_names_the_stake() -> None:
    sol = swap("SOL/USDT", "1", max_leverage=50)
    decision = size_position(
        sol, mode="fixed", equity=1000, free_cash=1000, price=150, amount=10, leverage=10
    )
    assert not decision.ok
    assert decision.stake_needed == round_up(150 * 0.1004)
    assert decision.refusal is not None
    assert "fixed stake" in decision.refusal


def test_free_cash_binds_and_is_never_exceeded() -> None:
    btc = swap("BTC/USDT", "0.0001")
    decision = size_position(
        btc, mode="fraction", equity=10_000, free_cash=50, price=60_000, amount=0.5, leverage=20
    )
    assert decision.ok
    assert decision.margin + decision.fee <= 50
    assert any("capped by the free cash" in reason for reason in decision.reasons)


def test_nothing_to_open_says_why() -> None:
    btc = swap("BTC/USDT", "0.0001")
    broke = size_position(btc, mode="all", equity=100, free_cash=0, price=60_000, amount=0)
    assert not broke.ok
    assert broke.refusal is not None
    assert "no free cash" in broke.refusal
    edge = size_position(
        btc, mode="kelly", equity=100, free_cash=100, price=60_000, amount=0, win_rate=0.3,
        payoff=1.0,
    )  # fmt: skip
    assert not edge.ok
    assert edge.refusal is not None
    assert "Kelly" in edge.refusal


def test_settings_that_can_never_work_raise() -> None:
    btc = swap("BTC/USDT", "0.0001", max_leverage=20)
    with pytest.raises(InvalidInputError, match="at most 20"):
        size_position(btc, mode="fixed", equity=1, free_cash=1, price=1, amount=1, leverage=50)
    with pytest.raises(InvalidInputError, match="at most 1"):
        size_position(spot_btc(), mode="fixed", equity=1, free_cash=1, price=1, amount=1,
                      leverage=2)  # fmt: skip
    with pytest.raises(InvalidInputError, match="stop_price"):
        size_position(btc, mode="risk", equity=1, free_cash=1, price=1, amount=0.01)
    with pytest.raises(InvalidInputError, match="sizing mode"):
        size_position(btc, mode="martingale", equity=1, free_cash=1, price=1, amount=1)
    with pytest.raises(InvalidInputError, match="volatility"):
        size_position(btc, mode="vol_target", equity=1, free_cash=1, price=1, amount=0)


def test_minimum_order_meets_every_minimum() -> None:
    market = Market(
        exchange="x",
        symbol="ETH/USDT",
        base="ETH",
        quote="USDT",
        price_tick=Decimal("0.01"),
        amount_tick=Decimal("0.001"),
        min_amount=Decimal("0.002"),
        min_cost=Decimal(10),
    )
    amount, cost = minimum_order(market, Decimal(3000))
    assert amount == Decimal("0.004")  # 10 / 3000 = 0.00333 -> up to the tick
    assert cost == Decimal(12)
    market.check_order_size(amount, Decimal(3000))
    assert minimum_order(market, Decimal(100_000)) == (Decimal("0.002"), Decimal("200.000"))


def test_to_dict_is_plain_data() -> None:
    decision = size_position(
        spot_btc(), mode="fixed", equity=1000, free_cash=1000, price=50_000, amount=100
    )
    payload = decision.to_dict()
    assert payload["ok"] is True
    assert payload["amount"] == "0.00199"
    assert isinstance(payload["reasons"], list)

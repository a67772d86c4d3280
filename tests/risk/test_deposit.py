"""risk.deposit: hand-checked minimum deposits, what a deposit allows, and refusals."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from xraybot.model.errors import InvalidInputError
from xraybot.model.market import Market, MarketKind
from xraybot.risk.amounts import round_up
from xraybot.risk.deposit import (
    DepositSettings,
    check_deposit,
    minimum_deposit,
    what_deposit_allows,
)


def swap(base: str, contract_size: str, max_leverage: int = 125, quote: str = "USDT") -> Market:
    return Market(
        exchange="mexc",
        symbol=f"{base}/{quote}:{quote}",
        base=base,
        quote=quote,
        kind=MarketKind.SWAP,
        price_tick=Decimal("0.1"),
        amount_tick=Decimal(1),
        min_amount=Decimal(1),
        contract_size=Decimal(contract_size),
        max_leverage=max_leverage,
        taker_fee_rate=Decimal("0.0004"),
    )


BTC = swap("BTC", "0.0001")  # one contract at 60000: 6 USDT
SOL = swap("SOL", "1", max_leverage=50)  # one contract at 150: 150 USDT
PRICES = {BTC.symbol: 60_000.0, SOL.symbol: 150.0}
BOTH = [BTC, SOL]
SETTINGS: dict[str, Any] = {"prices": PRICES, "margin_multiplier": 2.0, "leverage": 10}


def test_minimum_notionals_times_positions_times_multiplier_over_leverage_with_fees() -> None:
    report = minimum_deposit(BOTH, DepositSettings(max_open_positions=2, **SETTINGS))
    # BTC 6 x (2/10 + 0.0004) = 1.2024; SOL 150 x 0.2004 = 30.06.
    rows = {row.symbol: row for row in report.markets}
    assert rows[BTC.symbol].reserve == Decimal("1.2024")
    assert rows[SOL.symbol].reserve == Decimal("30.06")
    assert report.minimum_deposit == round_up(1.2024 + 30.06) == Decimal("31.2625")
    assert report.positions == 2
    assert report.ok
    assert report.binding == (SOL.symbol, BTC.symbol)
    one = minimum_deposit(BOTH, DepositSettings(max_open_positions=1, **SETTINGS))
    assert one.minimum_deposit == round_up(30.06)
    assert one.binding == (SOL.symbol,)
    # More positions than markets: one position per market.
    many = minimum_deposit(BOTH, DepositSettings(max_open_positions=5, **SETTINGS))
    assert many.positions == 2
    assert many.minimum_deposit == report.minimum_deposit


def test_what_a_deposit_allows() -> None:
    small = what_deposit_allows(BOTH, 20, DepositSettings(max_open_positions=3, **SETTINGS))
    assert small.tradable == (BTC.symbol,)
    assert small.too_small == (SOL.symbol,)
    assert (small.positions, small.positions_best_case) == (1, 1)
    assert any("SOL/USDT:USDT is too small" in reason for reason in small.reasons)
    enough = what_deposit_allows(BOTH, 100, DepositSettings(max_open_positions=3, **SETTINGS))
    assert enough.positions == 2
    assert not enough.too_small
    payload = enough.to_dict()
    assert payload["positions"] == 2
    assert payload["deposit"] == "100"


def test_worst_and_best_case_positions() -> None:
    eth = swap("ETH", "0.01")  # one contract at 3000: 30 USDT -> 30 x 0.2004 = 6.012
    markets = [BTC, SOL, eth]
    prices = {**PRICES, eth.symbol: 3000.0}
    allowance = what_deposit_allows(
        markets,
        36.1,
        DepositSettings(prices=prices, max_open_positions=3, margin_multiplier=2.0, leverage=10),
    )
    # Worst case SOL + ETH = 36.072; all three need 37.27; best case BTC + ETH + SOL too.
    assert allowance.positions == 2
    assert allowance.positions_best_case == 2
    roomy = what_deposit_allows(
        markets,
        37.3,
        DepositSettings(prices=prices, max_open_positions=3, margin_multiplier=2.0, leverage=10),
    )
    assert roomy.positions == 3


def test_a_fraction_stake_needs_the_last_slot_to_reach_the_minimum() -> None:
    settings = DepositSettings(
        max_open_positions=2, stake_mode="fraction", stake_amount=0.1,
        prices=PRICES, margin_multiplier=1.5, leverage=10,
    )  # fmt: skip
    report = minimum_deposit(BOTH, settings)
    per_equity = 0.1 / 0.1004  # notional per unit of equity
    drag = 1 - per_equity * 0.0004  # equity left after the first entry fee
    assert report.minimum_deposit == round_up(150 / (per_equity * drag))
    assert report.binding == (SOL.symbol,)
    assert report.ok


def test_a_stake_too_large_for_the_reserve_is_not_ok() -> None:
    settings = DepositSettings(
        max_open_positions=2, stake_mode="fraction", stake_amount=0.9,
        prices=PRICES, margin_multiplier=2.0, leverage=10,
    )  # fmt: skip
    report = minimum_deposit(BOTH, settings)
    # Each position is ~8.96x equity; two of them at 2/10 reserve take ~3.6x equity.
    assert not report.ok
    assert any("only 0 fit" in reason or "only 1 fit" in reason for reason in report.reasons)


def test_a_fixed_stake_too_small_for_a_market_names_the_stake_that_works() -> None:
    report = minimum_deposit(
        BOTH, DepositSettings(max_open_positions=2, stake_mode="fixed", stake_amount=10, **SETTINGS)
    )
    # 10 committed at 10x: 99.6 of notional, below SOL's 150.
    assert report.unreachable == (SOL.symbol,)
    assert not report.ok
    rows = {row.symbol: row for row in report.markets}
    assert rows[SOL.symbol].stake_needed == round_up(150 * 0.1004)
    assert report.minimum_deposit == round_up(10 / 0.1004 * 0.2004)


def test_check_deposit_refuses_a_deposit_that_opens_nothing() -> None:
    with pytest.raises(InvalidInputError, match="can open no position"):
        check_deposit(BOTH, 1, DepositSettings(max_open_positions=2, **SETTINGS))
    check_deposit(BOTH, 2, DepositSettings(max_open_positions=2, **SETTINGS))


def test_bad_settings_raise() -> None:
    with pytest.raises(InvalidInputError, match="one currency"):
        minimum_deposit(
            [BTC, swap("ETH", "0.01", quote="USDC")],
            DepositSettings(max_open_positions=1, prices={BTC.symbol: 1.0, "ETH/USDC:USDC": 1.0}),
        )
    with pytest.raises(InvalidInputError, match="needs a price"):
        minimum_deposit(BOTH, DepositSettings(max_open_positions=1, prices={BTC.symbol: 1.0}))
    with pytest.raises(InvalidInputError, match="at most 50"):
        minimum_deposit(BOTH, DepositSettings(max_open_positions=1, prices=PRICES, leverage=100))
    with pytest.raises(InvalidInputError, match="margin_multiplier"):
        minimum_deposit(
            BOTH, DepositSettings(max_open_positions=1, prices=PRICES, margin_multiplier=0.5)
        )
    with pytest.raises(InvalidInputError, match="stake_amount"):
        minimum_deposit(
            BOTH, DepositSettings(max_open_positions=1, prices=PRICES, stake_mode="fraction")
        )
    with pytest.raises(InvalidInputError, match="max_open_positions"):
        minimum_deposit(BOTH, DepositSettings(max_open_positions=0, prices=PRICES))


def test_report_to_dict_is_plain_data() -> None:
    payload = minimum_deposit(BOTH, DepositSettings(max_open_positions=2, **SETTINGS)).to_dict()
    assert payload["minimum_deposit"] == "31.2625"
    assert Decimal(payload["markets"][0]["min_order_notional"]) == 6
    assert isinstance(payload["reasons"], list)

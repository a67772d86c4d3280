"""risk.profile: loading a [risk] table, and refusing configurations that can never trade."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.markets import btc_perpetual, spot
from xraybot.model.errors import ConfigError, InvalidInputError
from xraybot.model.market import Market
from xraybot.risk.exits import ExitRules
from xraybot.risk.limits import LimitSettings
from xraybot.risk.profile import (
    RiskProfile,
    load_risk_profile,
    risk_profile_from,
    validate_against,
)
from xraybot.risk.protections_settings import ProtectionSettings
from xraybot.risk.sizing import SIZE_RISK

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "risk.toml"

SWAP = btc_perpetual()
SPOT = spot("ETH/USDT", amount_tick="0.0001")
PRICE = 64_000.0  # one contract: 6.4 USDT


def profile(**table: Any) -> RiskProfile:
    return risk_profile_from(table)


def problems(p: RiskProfile, market: Market, deposit: float, **kwargs: Any) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        validate_against(p, market, deposit, **kwargs)
    assert f"can never trade {market.symbol}" in str(caught.value)
    return caught.value.problems


# -- loading -----------------------------------------------------------------------------


def test_the_example_loads_with_every_section() -> None:
    p = load_risk_profile(EXAMPLE)
    assert p.market == "swap"
    assert p.timeframe == "1h"
    assert p.sizing.mode == "risk"
    assert p.sizing.mode_code == SIZE_RISK
    assert p.leverage.max == 20
    rules = p.exit_rules()
    assert isinstance(rules, ExitRules)
    assert rules.stop_loss_pct == 0.03
    assert rules.stop_loss_atr == 2.0
    assert rules.partial_targets == ((0.03, 0.5),)
    limits = p.limit_settings()
    assert limits == LimitSettings(
        max_open_positions=5,
        max_symbol_exposure=1.0,
        max_total_exposure=3.0,
        max_cluster_exposure=1.5,
        margin_multiplier=1.5,
    )
    assert isinstance(p.protections, ProtectionSettings)
    assert p.protections.cooldown == 2 * 3_600_000
    assert p.protections.stoploss_guard is not None
    # And it trades BTC with 1000 USDT.
    validate_against(p, SWAP, 1000.0, price=PRICE)


def test_defaults_are_a_safe_profile() -> None:
    p = RiskProfile()
    assert p.leverage.max == 1
    assert p.sizing.mode == "fraction"
    assert p.sizing.amount == 0.1
    assert p.exit_rules() == ExitRules()
    assert p.limit_settings() == LimitSettings(margin_multiplier=1.0)
    assert p.protections == ProtectionSettings()


def test_off_switches_an_optional_setting_off() -> None:
    p = profile(limits={"max_open_positions": "off", "max_total_exposure": "off"},
                exits={"stop_loss_pct": "off"})  # fmt: skip
    assert p.limits.max_open_positions is None
    assert p.limits.max_total_exposure is None
    assert p.exits.stop_loss_pct is None


def test_the_profile_is_frozen() -> None:
    p = RiskProfile()
    with pytest.raises(ValueError, match="frozen"):
        p.margin_multiplier = 2.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("table", "key", "says"),
    [
        ({"sizing": {"mode": "martingale"}}, "risk.sizing.mode", "fixed"),
        ({"sizing": {"mode": "fraction", "amount": 10}}, "risk.sizing", "amount <= 1"),
        ({"sizing": {"mode": "risk", "amount": 0.01}}, "risk", "exits.stop_loss_pct"),
        ({"sizing": {"mode": "vol_target"}}, "risk.sizing", "target_volatility"),
        ({"sizing": {"mode": "kelly", "payoff": 2}}, "risk.sizing", "win_rate"),
        ({"exits": {"stop_loss_pct": 3}}, "risk.exits.stop_loss_pct", "found 3"),
        ({"exits": {"partial_targets": [[0.04, 0.5], [0.02, 0.5]]}},
         "risk.exits.partial_targets", "ascend"),
        ({"limits": {"max_open_positions": 0}}, "risk.limits.max_open_positions", "equal to 1"),
        ({"limits": {"max_total_exposure": "lots"}}, "risk.limits.max_total_exposure", "lots"),
        ({"margin_multiplier": 0.5}, "risk.margin_multiplier", "1"),
        ({"market": "spot", "leverage": {"max": 5}}, "risk", "leverage.max = 1 on spot"),
        ({"timeframe": "7x"}, "risk", "timeframe"),
        ({"protections": {"cooldown": "soon"}}, "risk.protections.cooldown", "duration"),
        ({"limits": {"max_leverage": 3}}, "risk.limits.max_leverage", "unknown key"),
    ],
)  # fmt: skip
def test_each_bad_value_is_named_by_its_key(table: dict[str, Any], key: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        risk_profile_from(table, where="test.toml")
    assert "test.toml" in str(caught.value)
    assert any(p.startswith(f"{key}:") and says in p for p in caught.value.problems), (
        caught.value.problems
    )


def test_a_missing_file_or_table_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"examples/risk\.toml"):
        load_risk_profile(tmp_path / "nope.toml")
    other = tmp_path / "other.toml"
    other.write_text("[screen]\ntop = 3\n")
    with pytest.raises(ConfigError, match=r"needs a \[risk\] table; found \[screen\]"):
        load_risk_profile(other)


# -- can it ever trade? ------------------------------------------------------------------


def test_leverage_above_the_market_maximum_names_the_maximum() -> None:
    found = problems(profile(leverage={"max": 200}), SWAP, 1000.0, price=PRICE)
    assert found == (
        "risk.leverage.max: 200x is above BTC/USDT:USDT's maximum leverage 125x; set "
        "leverage.max = 125",
    )


def test_a_stop_inside_the_round_trip_fee_names_a_stop_that_works() -> None:
    found = problems(profile(exits={"stop_loss_pct": 0.0004}), SWAP, 1000.0, price=PRICE)
    assert len(found) == 1
    assert found[0].startswith("risk.exits.stop_loss_pct: 0.0004 is no wider than the "
                               "round-trip taker fee 2 x 0.0002 = 0.0004")  # fmt: skip
    assert "set stop_loss_pct above 0.0004 (e.g. 0.0008)" in found[0]
    # Just wider than the fees: it can trade.
    validate_against(profile(exits={"stop_loss_pct": 0.0005}), SWAP, 1000.0, price=PRICE)


def test_targets_inside_the_fee_are_refused_too() -> None:
    p = profile(exits={"take_profit_pct": 0.0003, "partial_targets": [[0.0002, 0.5]]})
    found = problems(p, SWAP, 1000.0)
    assert any(f.startswith("risk.exits.take_profit_pct: 0.0003") for f in found)
    assert any(f.startswith("risk.exits.partial_targets: level 0.0002") for f in found)


def test_a_deposit_below_the_smallest_order_names_the_deposit_that_works() -> None:
    # 1x, 10 % of equity: the 6.4 USDT contract needs 6.4 * (1 + 0.0002) / 0.1 = 64.0128,
    # rounded up to 6 digits with room for float error.
    p = profile(sizing={"mode": "fraction", "amount": 0.1})
    found = problems(p, SWAP, 50.0, price=PRICE)
    assert len(found) == 1
    assert found[0].startswith("deposit: 50 USDT cannot open")
    assert "a deposit of at least 64.0129 USDT works" in found[0]
    validate_against(p, SWAP, 64.0129, price=PRICE)
    with pytest.raises(ConfigError):
        validate_against(p, SWAP, 64.012, price=PRICE)


def test_without_a_price_only_the_minimum_notional_counts() -> None:
    p = profile(sizing={"mode": "fraction", "amount": 0.1})
    found = problems(p, SWAP, 40.0)  # min_cost 5: 5 * 1.0002 / 0.1 = 50.01
    assert "smallest order of 5 USDT" in found[0]
    assert "a deposit of at least 50.0101 USDT works" in found[0]
    validate_against(p, SWAP, 51.0)


def test_leverage_and_the_margin_reserve_move_the_minimum_deposit() -> None:
    # 10 % of equity at 10x, margin multiplier 2: the 6.4 USDT contract needs
    # 6.4 * (1/10 + 0.0002) / 0.1 = 6.4128 of deposit, and its margin 0.64 x 2 fits that.
    p = profile(sizing={"mode": "fraction", "amount": 0.1}, leverage={"max": 10},
                margin_multiplier=2.0)  # fmt: skip
    found = problems(p, SWAP, 5.0, price=PRICE)
    assert "leverage 10x, margin_multiplier 2" in found[0]
    assert "a deposit of at least 6.41281 USDT works" in found[0]
    validate_against(p, SWAP, 6.41281, price=PRICE)


def test_a_stake_the_reserve_can_never_hold_is_named() -> None:
    # All the cash as margin at 10x is 10x equity of notional; a reserve of 2 holds 5x.
    p = profile(sizing={"mode": "all"}, leverage={"max": 10}, margin_multiplier=2.0)
    found = problems(p, SWAP, 1000.0, price=PRICE)
    assert found[0].startswith(
        "risk.sizing: the all sizing, leverage 10x, margin_multiplier 2 can open no position "
        "on BTC/USDT:USDT whatever the deposit"
    )
    assert "margin multiplier" in found[0]


def test_a_fixed_stake_below_the_smallest_order_names_the_stake() -> None:
    p = profile(sizing={"mode": "fixed", "amount": 0.2})
    found = problems(p, SWAP, 1000.0, price=PRICE)
    assert found[0].startswith("risk.sizing.amount: 0.2 USDT per position cannot reach")
    assert "an amount of at least 6.40129 works" in found[0]
    validate_against(profile(sizing={"mode": "fixed", "amount": 6.40129}), SWAP, 1000.0,
                     price=PRICE)  # fmt: skip


def test_kelly_without_an_edge_names_the_payoff_that_has_one() -> None:
    p = profile(sizing={"mode": "kelly", "win_rate": 0.4, "payoff": 1.2})
    found = problems(p, SWAP, 1000.0, price=PRICE)
    assert found == (
        "risk.sizing.payoff: 1.2 with win_rate 0.4 gives a Kelly share -0.1 <= 0 (no edge), "
        "so nothing is ever opened; payoff must exceed 1.5 at this win rate",
    )
    validate_against(profile(sizing={"mode": "kelly", "win_rate": 0.4, "payoff": 1.6}), SWAP,
                     1000.0, price=PRICE)  # fmt: skip


def test_exposure_limits_too_small_for_one_order_name_the_multiple_that_works() -> None:
    p = profile(limits={"max_symbol_exposure": 0.001, "max_cluster_exposure": 0.5})
    found = problems(p, SWAP, 1000.0, price=PRICE)
    assert found == (
        "risk.limits.max_symbol_exposure: 0.001 x deposit 1,000 = 1 is below the smallest "
        "order 6.4; set max_symbol_exposure to at least 0.0064",
    )


def test_a_spot_profile_on_a_swap_market_is_named() -> None:
    found = problems(profile(market="spot"), SWAP, 1000.0, price=PRICE)
    assert found[0].startswith("risk.market: 'spot' but BTC/USDT:USDT is a swap market")


def test_every_problem_is_listed_at_once() -> None:
    p = profile(
        leverage={"max": 200},
        exits={"stop_loss_pct": 0.0003},
        sizing={"mode": "fraction", "amount": 0.01},
    )
    found = problems(p, SWAP, 1.0, price=PRICE)
    assert [f.split(":")[0] for f in found] == [
        "risk.leverage.max",
        "risk.exits.stop_loss_pct",
        "deposit",
    ]


def test_a_spot_market_with_a_spot_profile() -> None:
    p = profile(market="spot", leverage={"max": 1}, exits={"stop_loss_pct": 0.002})
    found = problems(p, SPOT, 1000.0, price=3000.0)  # 2 x 0.001 fee: 0.002 is too tight
    assert found[0].startswith("risk.exits.stop_loss_pct: 0.002 is no wider")
    validate_against(profile(market="spot"), SPOT, 1000.0, price=3000.0)


def test_a_negative_deposit_is_bad_input() -> None:
    with pytest.raises(InvalidInputError, match="deposit"):
        validate_against(RiskProfile(), SWAP, -1.0)

"""risk.protections: hand-checked scenarios per protection, the chain's reasons, the settings."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from xraybot.matching.rules import (
    EXIT_LIQUIDATION,
    EXIT_SIGNAL,
    EXIT_STOP_LOSS,
    EXIT_TAKE_PROFIT,
    EXIT_TRAILING,
)
from xraybot.model.errors import ConfigError, InvalidInputError
from xraybot.risk import protections as core
from xraybot.risk.protections_chain import ProtectionChain, fmt_duration, fmt_time
from xraybot.risk.protections_settings import (
    ProtectionSettings,
    parse_duration_ms,
    protection_settings_from,
)

MIN = 60_000
H = 3_600_000
DAY = 86_400_000
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
BTC, ETH, SOL = "BTC/USDT", "ETH/USDT", "SOL/USDT"


def chain(**settings: Any) -> ProtectionChain:
    return ProtectionChain(ProtectionSettings(**settings), [BTC, ETH, SOL])


def stop(c: ProtectionChain, symbol: str, ts: int, pnl: float = -50.0) -> None:
    c.record_exit(symbol, ts, pnl, "stop_loss", 10_000.0 + pnl)


def reason(decision: Any, protection: str) -> Any:
    return next(r for r in decision.reasons if r.protection == protection)


# -- cooldown ------------------------------------------------------------------------------


def test_cooldown_pauses_the_symbol_after_a_stop_loss() -> None:
    c = chain(cooldown="1h")
    stop(c, BTC, T0)
    blocked = c.check(BTC, T0 + 59 * MIN)
    assert not blocked.allowed
    assert blocked.blocked_by == "cooldown"
    assert blocked.until_ms == T0 + H
    assert "2024-01-01 01:00 UTC" in reason(blocked, "cooldown").detail
    assert c.check(BTC, T0 + H).allowed  # a pause lasts while ts < until
    assert c.check(ETH, T0 + MIN).allowed


@pytest.mark.parametrize(
    ("exit_reason", "pnl", "cools"),
    [
        (EXIT_STOP_LOSS, -10.0, True),
        (EXIT_TRAILING, -10.0, True),
        (EXIT_LIQUIDATION, -10.0, True),
        (EXIT_TRAILING, 25.0, False),  # a trailing stop in profit is no stop-loss
        (EXIT_STOP_LOSS, 0.5, False),  # a break-even stop covers its fees
        (EXIT_TAKE_PROFIT, 25.0, False),
        (EXIT_SIGNAL, -10.0, False),
    ],
)
def test_only_losing_stops_count_as_stop_losses(exit_reason: int, pnl: float, cools: bool) -> None:
    c = chain(cooldown="1h")
    c.record_exit(BTC, T0, pnl, exit_reason, 10_000.0 + pnl)
    assert c.check(BTC, T0 + MIN).allowed is not cools


# -- stop-loss guard -----------------------------------------------------------------------


def test_three_stop_losses_in_six_hours_pause_the_symbol_for_twelve() -> None:
    c = chain(stoploss_guard={"stop_losses": 3, "window": "6h", "pause": "12h"})
    stop(c, BTC, T0)
    stop(c, BTC, T0 + 2 * H)
    assert c.check(BTC, T0 + 3 * H).allowed
    stop(c, BTC, T0 + 5 * H)
    decision = c.check(BTC, T0 + 5 * H + MIN)
    assert decision.blocked_by == "stoploss_guard"
    assert decision.until_ms == T0 + 17 * H
    assert not c.check(BTC, T0 + 17 * H - 1).allowed
    assert c.check(BTC, T0 + 17 * H).allowed
    assert c.check(ETH, T0 + 6 * H).allowed  # the symbol, not the account
    detail = reason(decision, "stoploss_guard").detail
    assert "3 stop-losses within 6h on BTC/USDT" in detail
    assert "the last at 2024-01-01 05:00 UTC" in detail
    assert "until 2024-01-01 17:00 UTC" in detail


def test_the_window_is_inclusive_and_a_wider_spread_does_not_trip() -> None:
    c = chain(stoploss_guard={"stop_losses": 3, "window": "6h", "pause": "12h"})
    for hours in (0, 3, 6):
        stop(c, BTC, T0 + hours * H)
    assert c.check(BTC, T0 + 7 * H).blocked_by == "stoploss_guard"
    for hours in (0, 4, 8):
        stop(c, ETH, T0 + hours * H)
    assert c.check(ETH, T0 + 8 * H).allowed


def test_account_scope_counts_every_symbol_and_pauses_them_all() -> None:
    c = chain(stoploss_guard={"stop_losses": 3, "window": "6h", "pause": "12h", "scope": "account"})
    stop(c, BTC, T0)
    stop(c, ETH, T0 + H)
    stop(c, SOL, T0 + 2 * H)
    for symbol in (BTC, ETH, SOL):
        decision = c.check(symbol, T0 + 3 * H)
        assert decision.blocked_by == "stoploss_guard"
        assert decision.until_ms == T0 + 14 * H
        assert "across the account" in reason(decision, "stoploss_guard").detail


# -- maximum drawdown ----------------------------------------------------------------------


def test_drawdown_breaker_pauses_then_measures_a_fresh_fall() -> None:
    c = chain(max_drawdown={"max_drawdown": 0.2, "pause": "1d"})
    c.record_equity(T0, 10_000.0)
    c.record_equity(T0 + H, 12_000.0)
    c.record_equity(T0 + 2 * H, 9_700.0)  # 19.2 % below the 12,000 peak
    assert c.check(BTC, T0 + 2 * H).allowed
    c.record_equity(T0 + 3 * H, 9_600.0)  # exactly 20 %: reaching the limit trips
    decision = c.check(BTC, T0 + 3 * H)
    assert decision.blocked_by == "max_drawdown"
    assert decision.until_ms == T0 + 27 * H
    assert "drawdown 20% from the peak" in reason(decision, "max_drawdown").detail
    assert not c.check(SOL, T0 + 27 * H - 1).allowed
    c.record_equity(T0 + 28 * H, 8_000.0)  # 16.7 % below the trip's 9,600: no new trip
    assert c.check(BTC, T0 + 28 * H).allowed


def test_drawdown_without_pause_holds_until_reset() -> None:
    c = chain(max_drawdown={"max_drawdown": 0.1})
    c.record_equity(T0, 10_000.0)
    c.record_equity(T0 + H, 8_900.0)
    decision = c.check(ETH, T0 + 365 * DAY)
    assert decision.blocked_by == "max_drawdown"
    assert decision.until_ms == math.inf
    assert "until reset" in reason(decision, "max_drawdown").detail
    c.reset_drawdown()
    assert c.check(ETH, T0 + 365 * DAY).allowed
    c.record_equity(T0 + 366 * DAY, 8_100.0)  # 9 % below the 8,900 the reset started from
    assert c.check(ETH, T0 + 366 * DAY).allowed


# -- low profit ----------------------------------------------------------------------------


def test_low_profit_locks_a_symbol_whose_last_trades_lost_together() -> None:
    c = chain(low_profit={"trades": 3, "min_return": -0.02, "pause": "1d"})
    c.record_exit(BTC, T0, -100.0, "signal", 9_900.0)  # -1 %
    c.record_exit(BTC, T0 + H, 50.0, "take_profit", 9_950.0)  # +0.505 %
    assert c.check(BTC, T0 + H).allowed  # only two trades yet
    c.record_exit(BTC, T0 + 2 * H, -150.0, "signal", 9_800.0)  # -1.508 %: -2.003 % in all
    decision = c.check(BTC, T0 + 2 * H)
    assert decision.blocked_by == "low_profit"
    assert decision.until_ms == T0 + 26 * H
    assert "returned -2% together (under -2%)" in reason(decision, "low_profit").detail
    assert c.check(ETH, T0 + 2 * H).allowed
    assert c.check(BTC, T0 + 26 * H).allowed


# -- daily loss ----------------------------------------------------------------------------


def test_daily_loss_blocks_until_the_next_utc_midnight() -> None:
    c = chain(daily_loss=0.05)
    c.record_equity(T0 - H, 10_000.0)  # the last mark before the day: its opening equity
    c.record_equity(T0 + 10 * H, 9_600.0)
    assert c.check(BTC, T0 + 10 * H).allowed
    c.record_equity(T0 + 11 * H, 9_500.0)  # realized + marked: down 5 %
    decision = c.check(BTC, T0 + 11 * H)
    assert decision.blocked_by == "daily_loss"
    assert decision.until_ms == T0 + DAY
    detail = reason(decision, "daily_loss").detail
    assert "5% of the 10,000.00 it opened with" in detail
    assert "until 2024-01-02 00:00 UTC" in detail
    c.record_equity(T0 + 12 * H, 10_200.0)  # recovering does not lift the day's block
    assert c.check(SOL, T0 + DAY - 1).blocked_by == "daily_loss"
    assert c.check(SOL, T0 + DAY).allowed  # a new day, before any mark
    c.record_equity(T0 + DAY + H, 9_800.0)  # the new day opened with the 10,200 last mark
    assert c.check(SOL, T0 + DAY + H).allowed
    c.record_equity(T0 + DAY + 2 * H, 9_690.0)
    assert c.check(SOL, T0 + DAY + 2 * H).blocked_by == "daily_loss"


# -- kill switch ---------------------------------------------------------------------------


def test_kill_switch_blocks_every_symbol_at_once_until_revived() -> None:
    c = chain()
    c.kill("global", ts_ms=T0)
    for symbol in (BTC, ETH, SOL):
        for ts in (T0 - DAY, T0, T0 + 10 * 365 * DAY):
            decision = c.check(symbol, ts)
            assert decision.blocked_by == "kill_switch"
            assert decision.until_ms == math.inf
    assert (
        "global kill switch set at 2024-01-01 00:00 UTC" in reason(decision, "kill_switch").detail
    )
    c.kill("account", ts_ms=T0 + H)
    c.revive("global")
    assert c.check(BTC, T0).blocked_by == "kill_switch"  # the account's switch still holds
    c.revive("account")
    assert c.check(BTC, T0).allowed


def test_kill_switch_comes_first_and_params_cannot_switch_it_off() -> None:
    state = core.protection_state(2, 4)
    params = core.default_params()
    core.set_kill_switch(state, core.KILL_ACCOUNT, True, T0)
    assert core.entry_block(state, 7, T0, params) == core.BLOCK_KILL_SWITCH
    assert core.entry_block(state, 0, math.nan, params) == core.BLOCK_KILL_SWITCH
    core.set_kill_switch(state, core.KILL_ACCOUNT, False, T0)
    assert core.entry_block(state, 7, T0, params) == core.BLOCK_INVALID
    assert core.entry_block(state, 0, math.inf, params) == core.BLOCK_INVALID
    assert core.entry_block(state, 1, T0, params) == core.BLOCK_NONE


# -- several at once -----------------------------------------------------------------------


def test_the_first_blocking_protection_is_named_and_the_longest_pause_given() -> None:
    c = chain(cooldown="2h", stoploss_guard={"stop_losses": 1, "window": "1h", "pause": "30m"})
    stop(c, BTC, T0)
    decision = c.check(BTC, T0 + 10 * MIN)
    assert decision.blocked_by == "stoploss_guard"  # checked before the cooldown
    assert decision.until_ms == T0 + 2 * H
    verdicts = {r.protection: r.verdict for r in decision.reasons}
    assert verdicts == {
        "kill_switch": "clear",
        "max_drawdown": "off",
        "daily_loss": "off",
        "stoploss_guard": "blocked",
        "low_profit": "off",
        "cooldown": "blocked",
    }
    assert decision.to_dict()["reasons"][3]["until"] == "until 2024-01-01 00:30 UTC"


def test_the_chain_refuses_unknown_names() -> None:
    c = chain()
    with pytest.raises(InvalidInputError, match="not a symbol"):
        c.check("DOGE/USDT", T0)
    with pytest.raises(InvalidInputError, match="Unknown exit reason"):
        c.record_exit(BTC, T0, -1.0, "panic", 1.0)
    with pytest.raises(InvalidInputError, match="scope"):
        c.kill("everyone")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="unique"):
        ProtectionChain(ProtectionSettings(), [BTC, BTC])
    with pytest.raises(InvalidInputError, match="finite"):
        c.check(BTC, math.nan)  # type: ignore[arg-type]


# -- dynamic risk --------------------------------------------------------------------------


def test_risk_scale_multiplies_clipped_factors() -> None:
    c = chain(
        dynamic_risk={
            "floor": 0.25,
            "win_rate": {"trades": 4, "full_at": 0.5, "floor_at": 0.25},
            "drawdown": {"full_at": 0.05, "floor_at": 0.25},
            "volatility": {"full_at": 1.0, "floor_at": 2.0},
        }
    )
    assert c.scale(1.0).scale == 1.0  # nothing measured yet
    c.record_equity(T0, 10_000.0)
    c.record_equity(T0 + H, 8_500.0)  # 15 % drawdown: 0.25 + 0.75 * 0.5
    for pnl in (100.0, -50.0, 80.0, -40.0):  # 2 wins of 4: full size
        c.record_exit(BTC, T0 + H, pnl, "signal", 8_500.0)
    decision = c.scale(1.5)  # half way to the volatility floor: 0.625
    factors = {r.factor: r.value for r in decision.reasons}
    assert factors == pytest.approx({"win_rate": 1.0, "drawdown": 0.625, "volatility": 0.625})
    assert decision.scale == pytest.approx(0.390625)
    assert "drawdown 15% below the peak" in decision.reasons[1].detail
    c.record_exit(BTC, T0 + H, -10.0, "signal", 8_490.0)  # 1 win of the last 4: the floor
    decision = c.scale(3.0)
    assert decision.scale == 0.25
    assert decision.reasons[-1].factor == "floor"
    c.record_equity(T0 + 2 * H, 10_000.0)  # recovered
    for pnl in (1.0, 1.0, 1.0):
        c.record_exit(ETH, T0 + 2 * H, pnl, "signal", 10_000.0)
    assert c.scale(0.9).scale == 1.0


def test_risk_scale_is_one_when_off() -> None:
    c = chain()
    c.record_equity(T0, 10_000.0)
    c.record_equity(T0 + H, 1_000.0)
    decision = c.scale(5.0)
    assert decision.scale == 1.0
    assert decision.reasons[0].detail == "off"


# -- settings ------------------------------------------------------------------------------


def test_settings_become_the_params_vector() -> None:
    settings = ProtectionSettings(
        cooldown="90m",
        stoploss_guard={"stop_losses": 3, "window": "6h", "pause": "12h", "scope": "account"},
        max_drawdown={"max_drawdown": 0.2},
        low_profit={"trades": 5, "min_return": -0.01, "pause": "1d"},
        daily_loss=0.05,
        dynamic_risk={"floor": 0.3, "win_rate": {"trades": 30}},
    )
    p = settings.params()
    assert p.shape == (core.N_PARAMS,)
    assert p[core.P_COOLDOWN_MS] == 90 * MIN
    assert p[core.P_SL_GUARD_SCOPE] == core.SCOPE_ACCOUNT
    assert p[core.P_SL_GUARD_WINDOW_MS] == 6 * H
    assert p[core.P_DD_PAUSE_MS] == math.inf
    assert p[core.P_LOW_PROFIT_TRADES] == 5
    assert p[core.P_SCALE_WIN_FULL] == 0.5
    assert math.isnan(p[core.P_SCALE_DD_FULL])
    assert settings.history() == 30
    assert np.isnan(ProtectionSettings().params()).all()


def test_durations_and_off() -> None:
    assert parse_duration_ms("1d 6h") == 30 * H
    assert parse_duration_ms("1.5h") == 90 * MIN
    assert parse_duration_ms(250) == 250
    off = ProtectionSettings(cooldown="off", daily_loss="off", max_drawdown="off")
    assert off == ProtectionSettings()
    assert fmt_duration(30 * H) == "1d 6h"
    assert fmt_duration(500) == "500ms"
    assert fmt_time(T0 + 1_000) == "2024-01-01 00:00:01 UTC"


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"cooldown": "soon"}, "cooldown"),
        ({"cooldown": -5}, "cooldown"),
        ({"stoploss_guard": {"stop_losses": 0, "window": "6h", "pause": "1h"}}, "stop_losses"),
        ({"stoploss_guard": {"stop_losses": 3, "window": "6h"}}, "stoploss_guard.pause"),
        ({"stoploss_guard": {"stop_losses": 3, "window": 0, "pause": 1}}, "stoploss_guard.window"),
        ({"max_drawdown": {"max_drawdown": 1.5}}, "max_drawdown.max_drawdown"),
        ({"daily_loss": True}, "daily_loss"),
        ({"daily_loss": math.nan}, "daily_loss"),
        ({"low_profit": {"trades": 5000, "pause": "1d"}}, "low_profit.trades"),
        ({"dynamic_risk": {"floor": 0}}, "dynamic_risk.floor"),
        (
            {"dynamic_risk": {"drawdown": {"full_at": 0.3, "floor_at": 0.1}}},
            "dynamic_risk.drawdown",
        ),
        ({"dynamic_risk": {"win_rate": {"full_at": 0.2}}}, "dynamic_risk.win_rate"),
        ({"kill": True}, "kill"),
    ],
)
def test_invalid_settings_name_the_setting(settings: dict[str, Any], named: str) -> None:
    with pytest.raises(ValidationError, match=named.replace(".", r"\.")):
        ProtectionSettings(**settings)


def test_a_config_table_lists_every_problem_by_key() -> None:
    table = {"cooldown": "soon", "stoploss_guard": {"stop_losses": 3, "window": "x", "pause": 1}}
    with pytest.raises(ConfigError) as caught:
        protection_settings_from(table)
    problems = caught.value.problems
    assert any(p.startswith("risk.protections.cooldown: expected a duration") for p in problems)
    assert any(p.startswith("risk.protections.stoploss_guard.window:") for p in problems)


# -- the state array -----------------------------------------------------------------------


def test_state_layout_is_self_contained() -> None:
    state = core.protection_state(3, 5)
    assert state.dtype == np.float64
    assert state.ndim == 1
    assert len(state) == core.state_size(3, 5)
    assert core.symbol_base(3, 5, 2) + core.N_SYMBOL_FIELDS + 10 == len(state)
    assert (state[core.S_N_SYMBOLS], state[core.S_HISTORY]) == (3.0, 5.0)
    assert core.E_UNTIL + core.N_BLOCK == core.E_VALUE
    assert core.history_needed(core.default_params()) == 1
    assert core.block_name(core.BLOCK_STOPLOSS_GUARD) == "stoploss_guard"


def test_trips_latch_with_the_params_the_state_holds() -> None:
    params = ProtectionSettings(stoploss_guard={"stop_losses": 2, "window": "1h", "pause": "2h"})
    p = params.params()
    bare = core.protection_state(1, core.history_needed(p))  # never told the params
    asked = core.protection_state(1, core.history_needed(p))
    assert core.entry_block(asked, 0, T0, p) == core.BLOCK_NONE  # keeps a copy of p
    for state in (bare, asked):
        core.record_exit(state, 0, T0, -5.0, EXIT_STOP_LOSS, 995.0)
        core.record_exit(state, 0, T0 + MIN, -5.0, EXIT_STOP_LOSS, 990.0)
    assert core.entry_block(bare, 0, T0 + 2 * MIN, p) == core.BLOCK_NONE
    assert core.entry_block(asked, 0, T0 + 2 * MIN, p) == core.BLOCK_STOPLOSS_GUARD
    assert asked[core.E_UNTIL + core.BLOCK_STOPLOSS_GUARD] == T0 + MIN + 2 * H


def test_history_is_capped() -> None:
    p = core.default_params()
    p[core.P_LOW_PROFIT_TRADES] = 7
    assert core.history_needed(p) == 7
    p[core.P_SL_GUARD_COUNT] = 1e12
    assert core.history_needed(p) == core.MAX_HISTORY

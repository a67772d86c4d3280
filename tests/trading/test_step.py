"""The decision step on scripted signals: intents, their ids, and every reason for none."""

from __future__ import annotations

import math
from dataclasses import replace
from decimal import Decimal
from typing import ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.markets import SYMBOL, market
from tests.support.step import FLAT, HOUR, LAST, NOW, START, N, Scripted, candles, config
from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError, StrategyError
from xraybot.model.fills import Position
from xraybot.model.market import MarketKind
from xraybot.model.signals import Direction, IntentKind, OrderType, Side
from xraybot.risk.exits import ExitRules
from xraybot.risk.limits import OpenPosition
from xraybot.risk.profile import RiskProfile
from xraybot.risk.protections_chain import ProtectionChain
from xraybot.risk.protections_settings import ProtectionSettings
from xraybot.strategy.base import FeatureCache, Params, Signals, Strategy
from xraybot.trading.step import AccountView, StepConfig, StepDecision, decide


class Broken(Strategy):
    name: ClassVar[str] = "broken"

    def signals(
        self, candles: Candles, params: Params, cache: FeatureCache | None = None
    ) -> Signals:
        raise ZeroDivisionError("oops")


def held(direction: Direction = Direction.LONG, opened: int = START + HOUR) -> AccountView:
    position = Position(
        user_id="alice",
        strategy="scripted",
        symbol=SYMBOL,
        direction=direction,
        amount=Decimal("2.5"),
        entry_price=Decimal(100),
        opened_ts_ms=opened,
        updated_ts_ms=opened,
        leverage=3,
    )
    return AccountView(equity=10_000.0, free_cash=9_000.0, position=position)


def only(decision: StepDecision, kind: IntentKind) -> None:
    assert [i.kind for i in decision.intents] == [kind], decision


# -- entries ---------------------------------------------------------------------------------


def test_entry_signal_on_the_last_closed_candle_opens_sized_by_risk() -> None:
    decision = decide(candles(), NOW, config({LAST: "entry_long"}), FLAT)
    only(decision, IntentKind.OPEN)
    intent = decision.intents[0]
    assert intent.side is Side.BUY
    assert intent.order_type is OrderType.MARKET
    assert intent.signal_ts_ms == LAST
    assert not intent.reduce_only
    assert decision.row is not None
    assert decision.row.entry_long
    # fraction 0.1 of equity committed: margin + fee = 1000 at 1x and 0.1 % fee.
    assert decision.sizing is not None
    assert decision.sizing.ok
    price = Decimal(repr(float(decision.row.close)))
    assert intent.amount == market().round_amount(Decimal(1000) / (price * Decimal("1.001")))


def test_candles_not_yet_closed_are_not_read() -> None:
    # The entry is on the last candle, but at NOW - 1 ms it has not closed yet.
    decision = decide(candles(), NOW - 1, config({LAST: "entry_long"}), FLAT)
    assert decision.intents == ()
    assert decision.row is not None
    assert decision.row.ts_ms == LAST - HOUR
    empty = decide(candles(), START, config(), FLAT)
    assert empty.intents == ()
    assert "no BTC/USDT:USDT candle closed" in empty.skipped[0]


def test_short_entry_on_a_swap_and_long_plus_short_cancel() -> None:
    short = decide(candles(), NOW, config({LAST: "entry_short"}), FLAT)
    only(short, IntentKind.OPEN)
    assert short.intents[0].side is Side.SELL
    both = decide(candles(), NOW, config({LAST: "entry_long entry_short"}), FLAT)
    assert both.intents == ()
    assert "cancel" in both.skipped[0]


def test_spot_long_only_ignores_short_signals() -> None:
    decision = decide(
        candles("BTC/USDT"), NOW, config({LAST: "entry_short"}, kind=MarketKind.SPOT), FLAT
    )
    assert decision.intents == ()
    assert decision.skipped == ("flat: no entry signal",)


def test_shorts_on_spot_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="spot cannot sell short"):
        StepConfig(
            user_id="a",
            strategy=Scripted(),
            params={},
            market=market(MarketKind.SPOT),
            directions="both",
        )


def test_a_failing_strategy_is_a_strategy_error() -> None:
    cfg = StepConfig(user_id="a", strategy=Broken(), params={}, market=market(), window=10)
    with pytest.raises(StrategyError, match="broken"):
        decide(candles(), NOW, cfg, FLAT)


def test_candles_of_another_symbol_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="ETH/USDT"):
        decide(candles("ETH/USDT"), NOW, config(), FLAT)


# -- exits -------------------------------------------------------------------------------------


def test_exit_signal_closes_the_whole_position_reduce_only_and_never_reenters() -> None:
    script = {LAST: "exit_long entry_long entry_short"}
    decision = decide(candles(), NOW, config(script), held())
    only(decision, IntentKind.CLOSE)
    close = decision.intents[0]
    assert close.side is Side.SELL
    assert close.amount == Decimal("2.5")
    assert close.reduce_only
    assert close.leverage == 3
    assert close.order_type is OrderType.MARKET
    assert "no entry on the candle of an exit" in decision.skipped


def test_spot_close_is_not_reduce_only() -> None:
    spot = config({LAST: "exit_long"}, kind=MarketKind.SPOT)
    account = held()
    assert account.position is not None
    position = replace(account.position, symbol="BTC/USDT", leverage=1)
    decision = decide(
        candles("BTC/USDT"), NOW, spot, AccountView(equity=1e4, free_cash=0.0, position=position)
    )
    only(decision, IntentKind.CLOSE)
    assert not decision.intents[0].reduce_only


def test_a_short_closes_on_its_own_exit_signal_only() -> None:
    hold = decide(candles(), NOW, config({LAST: "exit_long"}), held(Direction.SHORT))
    assert hold.intents == ()
    assert "holding short" in hold.skipped[0]
    close = decide(candles(), NOW, config({LAST: "exit_short"}), held(Direction.SHORT))
    only(close, IntentKind.CLOSE)
    assert close.intents[0].side is Side.BUY


def test_time_exit_counts_candles_from_the_entry_candle() -> None:
    # Entered at the open of candle 40; at the open of candle 50 it has been held 10 candles.
    opened = START + 40 * HOUR + 1_234
    cfg = config(exits=ExitRules(time_exit_candles=10))
    only(decide(candles(), NOW, cfg, held(opened=opened)), IntentKind.CLOSE)
    early = decide(candles(), NOW - HOUR, cfg, held(opened=opened))
    assert early.intents == ()


# -- deterministic ids ---------------------------------------------------------------------


def test_same_inputs_give_the_same_client_order_ids() -> None:
    exits = ExitRules(stop_loss_pct=0.03, take_profit_pct=0.06)
    first = decide(candles(), NOW, config({LAST: "entry_long"}, exits=exits), FLAT)
    again = decide(candles(), NOW + 5_000, config({LAST: "entry_long"}, exits=exits), FLAT)
    ids = [i.client_order_id for i in first.intents]
    assert ids == [i.client_order_id for i in again.intents]
    assert len(set(ids)) == len(ids) == 3
    other_user = decide(candles(), NOW, config({LAST: "entry_long"}, exits=exits, user="bob"), FLAT)
    assert not set(ids) & {i.client_order_id for i in other_user.intents}
    later = candles(n=N + 1)
    moved = decide(later, NOW + HOUR, config({LAST + HOUR: "entry_long"}, exits=exits), FLAT)
    assert not set(ids) & {i.client_order_id for i in moved.intents}


# -- stop, targets, leverage -----------------------------------------------------------------


def test_stop_and_targets_ride_along_as_reduce_only_intents() -> None:
    exits = ExitRules(
        stop_loss_pct=0.03, take_profit_pct=0.06, partial_targets=((0.02, 0.5), (0.04, 0.25))
    )
    decision = decide(candles(), NOW, config({LAST: "entry_long"}, exits=exits), FLAT)
    opened, stop, *targets = decision.intents
    assert decision.row is not None
    close = decision.row.close
    assert stop.kind is IntentKind.STOP_LOSS
    assert stop.order_type is OrderType.STOP_MARKET
    assert stop.stop_price == market().round_price(Decimal(repr(close * 0.97)))
    assert stop.side is Side.SELL
    assert stop.reduce_only
    assert stop.amount == opened.amount
    assert [(t.kind, t.leg) for t in targets] == [
        (IntentKind.TAKE_PROFIT, leg) for leg in (1, 2, 0)
    ]
    assert sum(t.amount for t in targets) == opened.amount
    assert targets[-1].price == decision.target_price
    assert decision.stop_price == stop.stop_price
    assert all(t.reduce_only and t.price is not None for t in targets)


def test_leverage_comes_from_the_stop_and_no_stop_means_1x() -> None:
    profile = RiskProfile(market="swap", leverage={"max": 20})
    with_stop = decide(
        candles(),
        NOW,
        config({LAST: "entry_long"}, profile=profile, exits=ExitRules(stop_loss_pct=0.03)),
        FLAT,
    )
    assert with_stop.leverage is not None
    assert with_stop.intents[0].leverage == with_stop.leverage.value > 1
    no_stop = decide(candles(), NOW, config({LAST: "entry_long"}, profile=profile), FLAT)
    assert no_stop.intents[0].leverage == 1
    assert any("no stop" in n for n in no_stop.notes)


# -- blocked entries -------------------------------------------------------------------------


def test_protections_block_with_the_reason() -> None:
    chain = ProtectionChain(ProtectionSettings(), [SYMBOL])
    chain.kill("account", ts_ms=START)
    decision = decide(candles(), NOW, config({LAST: "entry_long"}), FLAT, chain)
    assert decision.intents == ()
    assert decision.protection is not None
    assert not decision.protection.allowed
    assert "kill_switch" in decision.skipped[0]
    chain.revive("account")
    only(decide(candles(), NOW, config({LAST: "entry_long"}), FLAT, chain), IntentKind.OPEN)


def test_sizing_below_the_market_minimum_is_refused_with_the_numbers() -> None:
    tiny = market(min_cost=Decimal(5_000))
    decision = decide(candles(), NOW, config({LAST: "entry_long"}, mkt=tiny), FLAT)
    assert decision.intents == ()
    assert decision.skipped[0].startswith("sizing: ")
    assert decision.sizing is not None
    assert not decision.sizing.ok
    broke = decide(
        candles(), NOW, config({LAST: "entry_long"}), AccountView(equity=1e4, free_cash=0.0)
    )
    assert broke.intents == ()
    assert "free cash" in broke.skipped[0]


def test_max_open_positions_blocks_and_names_the_limit() -> None:
    profile = RiskProfile(market="swap", limits={"max_open_positions": 1})
    others = (OpenPosition("ETH/USDT:USDT", 500.0),)
    account = AccountView(equity=1e4, free_cash=9_500.0, others=others)
    decision = decide(candles(), NOW, config({LAST: "entry_long"}, profile=profile), account)
    assert decision.intents == ()
    assert decision.skipped[0].startswith("limits: ")
    assert "max_open_positions" in decision.skipped[0]
    assert decision.limits is not None
    assert not decision.limits.allowed


def test_exposure_limit_shrinks_the_entry_to_its_room() -> None:
    profile = RiskProfile(
        market="swap",
        sizing={"mode": "fraction", "amount": 0.5},
        limits={"max_symbol_exposure": 0.2},
    )
    decision = decide(candles(), NOW, config({LAST: "entry_long"}, profile=profile), FLAT)
    only(decision, IntentKind.OPEN)
    assert decision.sizing is not None
    assert decision.sizing.notional <= Decimal(2_000)
    assert decision.sizing.notional > Decimal(1_990)
    assert any("shrunk" in n for n in decision.notes)


@settings(max_examples=60, deadline=None)
@given(
    equity=st.floats(min_value=50.0, max_value=1e7),
    cash_share=st.floats(min_value=0.0, max_value=1.0),
    fraction=st.floats(min_value=0.01, max_value=1.0),
    exposure=st.one_of(st.none(), st.floats(min_value=0.05, max_value=3.0)),
)
def test_an_open_never_needs_more_than_the_free_cash_nor_breaks_a_limit(
    equity: float, cash_share: float, fraction: float, exposure: float | None
) -> None:
    profile = RiskProfile(
        market="swap",
        sizing={"mode": "fraction", "amount": fraction},
        limits={"max_symbol_exposure": exposure},
    )
    account = AccountView(equity=equity, free_cash=equity * cash_share)
    decision = decide(candles(), NOW, config({LAST: "entry_long"}, profile=profile), account)
    opened = decision.opens
    if opened is None:
        assert decision.skipped
        return
    sized = decision.sizing
    assert sized is not None
    assert sized.ok
    assert opened.amount == sized.amount
    assert sized.margin + sized.fee <= Decimal(repr(account.free_cash))
    if exposure is not None:
        assert float(sized.notional) <= equity * exposure * (1 + 1e-12)
    assert not math.isnan(float(sized.notional))

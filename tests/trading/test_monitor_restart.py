"""A protection plan rebuilt after a restart is the plan the step decided with the OPEN.

``rebuild_plan`` only sees the journaled OPEN order and the window it was decided on; it must
give the same stop, the same target legs (same ids, prices, amounts) as
``ProtectionPlan.from_decision`` on the live decision, for any exit rules and direction.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.step import FLAT, LAST, NOW, candles, config
from xraybot.model.errors import InvalidInputError
from xraybot.model.market import MarketKind
from xraybot.model.orders import Order
from xraybot.model.signals import IntentKind
from xraybot.risk.exits import ExitRules
from xraybot.trading.monitor_types import ProtectionPlan, rebuild_plan
from xraybot.trading.step import decide

pcts = st.one_of(st.none(), st.floats(0.005, 0.2))
atrs = st.one_of(st.none(), st.floats(0.5, 4.0))


@settings(max_examples=60, deadline=None)
@given(
    stop_pct=pcts,
    stop_atr=atrs,
    target_pct=pcts,
    target_atr=atrs,
    partials=st.sampled_from([(), ((0.02, 0.5),), ((0.015, 0.3), (0.04, 0.25))]),
    short=st.booleans(),
    spot=st.booleans(),
)
def test_rebuilt_plan_equals_the_decided_one(
    stop_pct: float | None,
    stop_atr: float | None,
    target_pct: float | None,
    target_atr: float | None,
    partials: tuple[tuple[float, float], ...],
    short: bool,
    spot: bool,
) -> None:
    exits = ExitRules(
        stop_loss_pct=stop_pct,
        stop_loss_atr=stop_atr,
        take_profit_pct=target_pct,
        take_profit_atr=target_atr,
        partial_targets=partials,
    )
    kind = MarketKind.SPOT if spot else MarketKind.SWAP
    short = short and not spot
    step = config({LAST: "entry_short" if short else "entry_long"}, kind=kind, exits=exits)
    series = candles(step.market.symbol)
    decision = decide(series, NOW, step, FLAT)
    if decision.opens is None:
        return  # sized to nothing: no OPEN, no plan
    decided = ProtectionPlan.from_decision(decision, exits)
    (opened,) = [i for i in decision.intents if i.kind is IntentKind.OPEN]
    order = Order.from_intent(opened, NOW)
    assert step.window is not None
    window = series.closed(NOW).tail(step.window)
    assert rebuild_plan(order, window, exits, step.market) == decided


def test_a_window_not_ending_on_the_signal_candle_is_refused() -> None:
    exits = ExitRules(stop_loss_pct=0.03)
    step = config({LAST: "entry_long"}, exits=exits)
    decision = decide(candles(), NOW, step, FLAT)
    (opened,) = [i for i in decision.intents if i.kind is IntentKind.OPEN]
    early = candles().closed(LAST)  # stops one candle short of the signal candle
    with pytest.raises(InvalidInputError, match="must end on the signal candle"):
        rebuild_plan(Order.from_intent(opened, NOW), early, exits, step.market)

"""Replaying the candles closed while nobody watched: the stop the live watch would have held.

``replay_held`` must find the first candle that crossed the stop in force on it (initial,
break-even or trailing, moved by the candles before it), take local targets crossed on the
way, ignore candles before the position was held, and otherwise end with the best price
seen, as the live monitor's closed-candle ticks would.
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from xraybot.model.candles import Candles
from xraybot.model.signals import Direction
from xraybot.risk.exits import ExitRules
from xraybot.trading.monitor_downtime import replay_held
from xraybot.trading.monitor_types import ProtectionPlan, stop_now

MINUTE = 60_000
T0 = 1_700_000_040_000 // MINUTE * MINUTE


def plan(
    stop: str | None = "98", exits: ExitRules | None = None, short: bool = False
) -> ProtectionPlan:
    return ProtectionPlan(
        user_id="u",
        strategy="s",
        symbol="BTC/USDT",
        direction=Direction.SHORT if short else Direction.LONG,
        signal_ts_ms=T0 - MINUTE,
        opened_amount=Decimal(1),
        stop_price=None if stop is None else Decimal(stop),
        exits=exits or ExitRules(stop_loss_pct=0.02),
    )


def bars(*ohl: tuple[float, float, float], start: int = T0) -> Candles:
    n = len(ohl)
    o, h, low = (np.array(col, dtype=np.float64) for col in zip(*ohl, strict=True))
    ts = np.arange(start, start + n * MINUTE, MINUTE, dtype=np.int64)
    return Candles("BTC/USDT", "1m", ts, o, h, low, o.copy(), np.ones(n))


def test_the_first_candle_through_the_stop_is_found_with_its_time_and_level() -> None:
    candles = bars((100, 101, 99), (100, 100.5, 97.5), (100, 101, 90))
    replay = replay_held(plan(), candles, entry=100.0, from_ts_ms=T0, fee_rate=0.0)
    (hit,) = replay.missed
    assert hit.is_stop
    assert hit.candle_ts_ms == T0 + MINUTE
    assert hit.level == 98.0
    assert hit.price == 98.0
    assert "stop-loss 98 hit while the bot was down" in hit.describe()
    assert "UTC" in hit.describe()


def test_a_candle_opening_past_the_stop_fills_at_its_open() -> None:
    candles = bars((100, 101, 99), (95, 96, 94))
    (hit,) = replay_held(plan(), candles, entry=100.0, from_ts_ms=T0, fee_rate=0.0).missed
    assert hit.price == 95.0


def test_candles_before_the_position_was_held_are_ignored() -> None:
    candles = bars((100, 100, 90), (100, 101, 99))
    replay = replay_held(plan(), candles, entry=100.0, from_ts_ms=T0 + MINUTE, fee_rate=0.0)
    assert replay.missed == ()
    assert replay.best == 101.0


def test_the_trailing_stop_follows_the_closed_highs_and_is_hit_on_the_way_back() -> None:
    exits = ExitRules(stop_loss_pct=0.02, trailing_pct=0.02)
    candles = bars((100, 110, 100), (109, 109.5, 107.5), (108, 108, 106))
    (hit,) = replay_held(
        plan(exits=exits), candles, entry=100.0, from_ts_ms=T0, fee_rate=0.0
    ).missed
    assert hit.trailing
    assert hit.candle_ts_ms == T0 + MINUTE
    assert math.isclose(hit.level, 110 * 0.98)
    assert "trailing stop" in hit.describe()


def test_a_local_target_is_taken_and_the_stop_still_watched_afterwards() -> None:
    candles = bars((100, 103, 99), (101, 101, 97))
    replay = replay_held(
        plan(), candles, entry=100.0, from_ts_ms=T0, fee_rate=0.0, local_targets={1: 102.5}
    )
    target, stop = replay.missed
    assert (target.leg, target.price, target.candle_ts_ms) == (1, 102.5, T0)
    assert stop.is_stop
    assert stop.candle_ts_ms == T0 + MINUTE


def test_a_short_is_stopped_by_a_high_through_its_stop() -> None:
    candles = bars((100, 101, 99), (100, 103, 99))
    (hit,) = replay_held(
        plan("102", short=True), candles, entry=100.0, from_ts_ms=T0, fee_rate=0.0
    ).missed
    assert (hit.level, hit.price, hit.candle_ts_ms) == (102.0, 102.0, T0 + MINUTE)


@given(
    lows=st.lists(st.floats(90, 99.9), min_size=1, max_size=12),
    rise=st.lists(st.floats(0, 8), min_size=12, max_size=12),
)
def test_no_hit_means_no_candle_reached_the_stop_in_force_on_it(
    lows: list[float], rise: list[float]
) -> None:
    exits = ExitRules(stop_loss_pct=0.05, trailing_pct=0.03, breakeven_at_pct=0.02)
    p = plan("95", exits=exits)
    ohl = [(100.0, 100.0 + rise[i], low) for i, low in enumerate(lows)]
    replay = replay_held(p, bars(*ohl), entry=100.0, from_ts_ms=T0, fee_rate=0.001)
    best = 100.0
    for i, (_, high, low) in enumerate(ohl):
        stop = stop_now(p, 100.0, best, 0.001).price
        if low <= stop:
            assert replay.missed[-1].candle_ts_ms == T0 + i * MINUTE
            assert replay.missed[-1].level == stop
            return
        best = max(best, high)
    assert replay.missed == ()
    assert replay.best == best

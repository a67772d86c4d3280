"""What the locally watched exits would have done while the bot was not watching.

A stop (or a target the exchange would not take) watched only by this process does not
exist while the process is down. At start-up the monitor replays the candles closed since
the position opened through the same rules the live watch applies on each closed candle
(``matching.rules.intrabar_exit`` with the stop first, then ``risk.exits`` moving the
break-even and trailing stop on the candle's extreme), so the stop in force on each candle
is exactly the one the live monitor would have held.

The replay starts at the position's first candle, not at the last candle a running monitor
saw: the trailing and break-even levels depend on every candle since the entry, and a
candle the live monitor already checked gives the same answer again (nothing hit, or a
close it already journaled under the same client id, which the order manager settles
instead of resending).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from xraybot.matching.rules import EXIT_STOP_LOSS, EXIT_TAKE_PROFIT, intrabar_exit
from xraybot.model.candles import Candles
from xraybot.risk.exits import favourable_extreme
from xraybot.trading.monitor_types import ProtectionPlan, StopLevel, direction_code, stop_now

__all__ = ["MissedExit", "Replay", "nearest_target", "replay_held"]


def _utc(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True, slots=True, kw_only=True)
class MissedExit:
    """A stop or local target a closed candle crossed while nobody watched."""

    candle_ts_ms: int  # open time of the candle that crossed it
    level: float  # the stop or target in force on that candle
    price: float  # where it was crossed: the level, or the open when the candle gapped past
    leg: int = -1  # the target's leg; -1 for the stop
    trailing: bool = False
    moved: bool = False  # a break-even or trailing stop, not the initial one

    @property
    def is_stop(self) -> bool:
        return self.leg < 0

    def describe(self) -> str:
        if self.is_stop:
            what = "trailing stop" if self.trailing else "break-even stop" if self.moved else None
            what = what or "stop-loss"
        else:
            what = f"target (leg {self.leg})"
        return (
            f"{what} {self.level:.8g} hit while the bot was down: the candle of "
            f"{_utc(self.candle_ts_ms)} traded through it at {self.price:.8g}; closed at market "
            "on restart"
        )


@dataclass(frozen=True, slots=True)
class Replay:
    """The watch state after the replay and the exits it found, in the order they happened.

    At most one stop, always last: it ends the position.
    """

    best: float
    stop: StopLevel
    missed: tuple[MissedExit, ...] = ()


def nearest_target(direction: int, levels: Mapping[int, float]) -> tuple[int, float]:
    """The local target the price reaches first (leg, level); (-1, NaN) when none."""
    sign = 1 if direction > 0 else -1
    best_leg, best = -1, math.nan
    for leg, level in levels.items():
        if math.isnan(best) or sign * level < sign * best:
            best_leg, best = leg, level
    return best_leg, best


def replay_held(
    plan: ProtectionPlan,
    candles: Candles,
    *,
    entry: float,
    from_ts_ms: int,
    fee_rate: float,
    local_targets: Mapping[int, float] | None = None,
) -> Replay:
    """Replay the closed ``candles`` opening at or after ``from_ts_ms`` (the first candle the
    position was held in) against the plan's stop and the ``local_targets`` (leg -> level).

    ``entry`` is the position's entry price and ``fee_rate`` the taker fee (break-even).
    """
    code = direction_code(plan.direction)
    pending = dict(local_targets or {})
    best = entry
    stop = stop_now(plan, entry, best, fee_rate)
    missed: list[MissedExit] = []
    for i in range(len(candles)):
        ts = int(candles.ts_ms[i])
        if ts < from_ts_ms:
            continue
        open_, high, low = float(candles.open[i]), float(candles.high[i]), float(candles.low[i])
        while True:
            leg, target = nearest_target(code, pending)
            price, reason = intrabar_exit(code, open_, high, low, stop.price, target)
            if reason == EXIT_STOP_LOSS:
                hit = MissedExit(
                    candle_ts_ms=ts,
                    level=stop.price,
                    price=price,
                    trailing=stop.trailing,
                    moved=stop.moved,
                )
                return Replay(best, stop, (*missed, hit))
            if reason != EXIT_TAKE_PROFIT:
                break
            # A target taken; a farther one may sit inside the same candle too.
            del pending[leg]
            missed.append(MissedExit(candle_ts_ms=ts, level=target, price=price, leg=leg))
        best = favourable_extreme(code, best, high, low)
        stop = stop_now(plan, entry, best, fee_rate)
    return Replay(best, stop, tuple(missed))

"""The runtime's clocks: the trading side reads time only through ``trading.ports.Clock``.

``LiveClock`` is the wall clock, optionally shifted by the exchange's measured offset (the
live feed measures it), so journal timestamps and candle closes agree with the exchange.
``ManualClock`` only moves when told to: replays and tests drive it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from xraybot.model.errors import InvalidInputError


def wall_ms() -> int:
    """Return the local wall clock in integer ms UTC."""
    return time.time_ns() // 1_000_000


class LiveClock:
    """The wall clock (or ``source``) plus ``offset_ms()``: the exchange's time as we know it."""

    def __init__(
        self,
        source: Callable[[], int] = wall_ms,
        offset_ms: Callable[[], int] | None = None,
    ) -> None:
        self._source = source
        self._offset = offset_ms

    def now_ms(self) -> int:
        offset = self._offset() if self._offset is not None else 0
        return self._source() + offset


class ManualClock:
    """A clock that moves only by ``advance`` / ``set``; never backward."""

    def __init__(self, start_ms: int) -> None:
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def advance(self, ms: int) -> int:
        if ms < 0:
            raise InvalidInputError(f"a clock moves forward only; found an advance of {ms} ms.")
        self._now += ms
        return self._now

    def set(self, now_ms: int) -> int:
        if now_ms < self._now:
            raise InvalidInputError(
                f"a clock moves forward only; found {now_ms} before the current {self._now}."
            )
        self._now = now_ms
        return self._now


__all__ = ["LiveClock", "ManualClock", "wall_ms"]

"""The simulator's clock: wall time scaled by a speed factor, plus manual advances.

``now = start + (wall() - wall_at_start) * speed * 1000 + advanced``. Speed 0 freezes the
clock so that only :meth:`SimClock.advance` moves it (what tests and step-by-step replays
want). The clock never runs backward: negative advances are refused, and a wall clock that
steps back (an NTP correction) holds the simulated time still instead of rewinding it.
No method awaits, so one instance is safe to share inside an asyncio server.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from xraybot.model.errors import InvalidInputError


def _check_speed(speed: float) -> float:
    if isinstance(speed, bool) or not isinstance(speed, int | float) or not math.isfinite(speed):
        raise InvalidInputError(f"clock speed must be a finite number >= 0; found {speed!r}.")
    if speed < 0:
        raise InvalidInputError(
            f"clock speed must be >= 0 (0 freezes the clock); found {speed}. "
            "Simulated time never runs backward."
        )
    return float(speed)


def _check_ms(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInputError(f"{name} must be an int of milliseconds; found {value!r}.")
    return value


class SimClock:
    """Simulated time in integer ms UTC, running at ``speed`` times the wall clock."""

    def __init__(
        self, start_ms: int, speed: float = 1.0, wall: Callable[[], float] = time.time
    ) -> None:
        start = _check_ms("start_ms", start_ms)
        if start < 0:
            raise InvalidInputError(f"start_ms must be >= 0; found {start}.")
        self._wall = wall
        self._speed = _check_speed(speed)
        self._anchor_ms = start  # simulated time at _anchor_wall, advances included
        self._anchor_wall = wall()
        self._last_ms = start

    @property
    def speed(self) -> float:
        return self._speed

    def now_ms(self) -> int:
        """Return the simulated time in ms; never less than a value returned before."""
        elapsed = (self._wall() - self._anchor_wall) * self._speed * 1000.0
        now = self._anchor_ms + math.floor(elapsed)
        if now > self._last_ms:
            self._last_ms = now
        return self._last_ms

    def advance(self, ms: int) -> int:
        """Move the clock ``ms`` milliseconds forward and return the new time."""
        step = _check_ms("advance ms", ms)
        if step < 0:
            raise InvalidInputError(
                f"the clock only moves forward; found an advance of {step} ms. "
                "Restart the simulator with an earlier start time to go back."
            )
        now = self.now_ms()
        self._anchor_ms += step
        self._last_ms = now + step
        return self._last_ms

    def advance_to(self, target_ms: int) -> int:
        """Move the clock forward to ``target_ms`` (not before now) and return it."""
        target = _check_ms("target_ms", target_ms)
        now = self.now_ms()
        if target < now:
            raise InvalidInputError(
                f"the clock only moves forward; it is at {now} ms and {target} ms was asked. "
                "Restart the simulator with an earlier start time to go back."
            )
        return self.advance(target - now)

    def set_speed(self, speed: float) -> None:
        """Change the speed from now on; the time reached so far is kept."""
        checked = _check_speed(speed)
        now = self.now_ms()
        self._anchor_ms = now
        self._anchor_wall = self._wall()
        self._speed = checked

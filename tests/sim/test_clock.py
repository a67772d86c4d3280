"""SimClock: scaled wall time plus manual advances, never backward."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xraybot.model.errors import InvalidInputError
from xraybot.sim.clock import SimClock

START = 1_700_000_000_000


class Wall:
    """A wall clock in seconds that moves only when told."""

    def __init__(self, t: float = 1_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_real_time_at_speed_one() -> None:
    wall = Wall()
    clock = SimClock(START, wall=wall)
    assert clock.now_ms() == START
    wall.t += 2.5
    assert clock.now_ms() == START + 2_500


def test_speed_scales_elapsed_wall_time() -> None:
    wall = Wall()
    clock = SimClock(START, speed=60.0, wall=wall)
    wall.t += 1.0
    assert clock.now_ms() == START + 60_000


def test_speed_zero_freezes_until_advanced() -> None:
    wall = Wall()
    clock = SimClock(START, speed=0, wall=wall)
    wall.t += 3_600
    assert clock.now_ms() == START
    assert clock.advance(90_000) == START + 90_000
    assert clock.now_ms() == START + 90_000


def test_advance_adds_to_running_time() -> None:
    wall = Wall()
    clock = SimClock(START, speed=2.0, wall=wall)
    wall.t += 1.0
    clock.advance(10_000)
    wall.t += 1.0
    assert clock.now_ms() == START + 2_000 + 10_000 + 2_000


@pytest.mark.parametrize("ms", [-1, -60_000])
def test_negative_advance_is_refused(ms: int) -> None:
    clock = SimClock(START, speed=0)
    with pytest.raises(InvalidInputError, match="only moves forward"):
        clock.advance(ms)
    assert clock.now_ms() == START


def test_advance_to_moves_forward_only() -> None:
    clock = SimClock(START, speed=0)
    assert clock.advance_to(START + 5_000) == START + 5_000
    with pytest.raises(InvalidInputError, match="only moves forward"):
        clock.advance_to(START)


def test_wall_clock_stepping_back_holds_time() -> None:
    wall = Wall()
    clock = SimClock(START, wall=wall)
    wall.t += 10
    assert clock.now_ms() == START + 10_000
    wall.t -= 5  # an NTP correction
    assert clock.now_ms() == START + 10_000
    wall.t += 7
    assert clock.now_ms() == START + 12_000


def test_set_speed_keeps_the_time_reached() -> None:
    wall = Wall()
    clock = SimClock(START, speed=10.0, wall=wall)
    wall.t += 1
    clock.set_speed(0)
    wall.t += 100
    assert clock.now_ms() == START + 10_000
    clock.set_speed(1.0)
    wall.t += 1
    assert clock.now_ms() == START + 11_000
    assert clock.speed == 1.0


@pytest.mark.parametrize("speed", [-1.0, math.nan, math.inf, "fast", True])
def test_bad_speeds_are_refused(speed: object) -> None:
    with pytest.raises(InvalidInputError, match="speed"):
        SimClock(START, speed=speed)  # type: ignore[arg-type]


@pytest.mark.parametrize("start", [-1, 1.5, "0"])
def test_bad_starts_are_refused(start: object) -> None:
    with pytest.raises(InvalidInputError, match="start_ms"):
        SimClock(start)  # type: ignore[arg-type]


@given(
    steps=st.lists(
        st.tuples(st.floats(-5, 50, allow_nan=False), st.integers(0, 10**7)), max_size=30
    ),
    speed=st.floats(0, 1_000, allow_nan=False),
)
def test_time_never_goes_backward(steps: list[tuple[float, int]], speed: float) -> None:
    wall = Wall()
    clock = SimClock(START, speed=speed, wall=wall)
    seen = clock.now_ms()
    for wall_step, advance in steps:
        wall.t += wall_step
        now = clock.now_ms()
        assert now >= seen
        after = clock.advance(advance)
        assert after == now + advance
        seen = clock.now_ms()
        assert seen >= after

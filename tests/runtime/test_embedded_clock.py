"""The runtime's clocks."""

from __future__ import annotations

import pytest

from xraybot.model.errors import InvalidInputError
from xraybot.runtime.clock import LiveClock, ManualClock


def test_live_clock_adds_the_exchange_offset() -> None:
    offset = [0]
    clock = LiveClock(source=lambda: 1_000, offset_ms=lambda: offset[0])
    assert clock.now_ms() == 1_000
    offset[0] = -250
    assert clock.now_ms() == 750


def test_manual_clock_moves_forward_only() -> None:
    clock = ManualClock(10)
    assert clock.advance(5) == 15
    assert clock.set(20) == 20
    with pytest.raises(InvalidInputError, match="forward only"):
        clock.advance(-1)
    with pytest.raises(InvalidInputError, match="forward only"):
        clock.set(19)
    assert clock.now_ms() == 20

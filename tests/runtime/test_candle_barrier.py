"""A user's candle waits for all their symbols, but never more than one candle."""

from __future__ import annotations

from xraybot.runtime.embedded_trading import next_ready

H = 3_600_000


def test_a_candle_waits_for_every_awaited_symbol() -> None:
    pending = {0: {"A": 1}}
    assert next_ready(pending, {"A": 0}, ["A", "B"]) is None
    assert next_ready(pending, {"A": 0, "B": 0}, ["A", "B"]) == 0


def test_a_dropped_symbol_is_not_waited_for() -> None:
    assert next_ready({0: {"A": 1}}, {"A": 0}, ["A"]) == 0


def test_a_lagging_symbol_holds_the_candle_at_most_until_the_next_one() -> None:
    pending = {0: {"A": 1}, H: {"A": 1}}
    # A has delivered the next candle while B is still missing the first: the first goes.
    assert next_ready(pending, {"A": H}, ["A", "B"]) == 0
    # ... and the next one waits for B again, like any new candle.
    assert next_ready({H: {"A": 1}}, {"A": H}, ["A", "B"]) is None


def test_the_oldest_candle_goes_first_and_nothing_pending_waits() -> None:
    assert next_ready({2 * H: {}, H: {}}, {"A": 2 * H, "B": 2 * H}, ["A", "B"]) == H
    assert next_ready({}, {"A": 0}, ["A"]) is None

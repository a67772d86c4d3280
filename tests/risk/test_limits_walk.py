"""limit_block and limit_room share one walk over the caps: whatever the book, the room is
exactly where limit_block's verdict turns, and both name the same cap when nothing fits."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xraybot.backtest.kernel import as_python
from xraybot.risk import kernel
from xraybot.risk.limits import (
    LIMIT_BAD_INPUT,
    LIMIT_CLUSTER,
    LIMIT_MARGIN,
    LIMIT_MAX_OPEN,
    LIMIT_OK,
    LIMIT_SYMBOL,
    LIMIT_TOTAL,
    limit_block,
    limit_room,
    limit_walk,
)

pytestmark = pytest.mark.properties

NAN = math.nan
BLOCKS = (limit_block, kernel.limit_block_nb)
ROOMS = (limit_room, kernel.limit_room_nb)


@st.composite
def books(draw: st.DrawFn) -> tuple[float, ...]:
    """limit_room's arguments: a book with each cap on or off, often filled near a cap."""
    equity = draw(st.floats(1.0, 1e8))

    def cap() -> float:
        return draw(st.one_of(st.just(NAN), st.floats(0.01, 50.0)))

    symbol_cap, total_cap, cluster_cap = cap(), cap(), cap()
    margin = draw(st.one_of(st.just(NAN), st.floats(1.0, 5.0)))
    leverage = draw(st.one_of(st.just(1.0), st.floats(1.0, 125.0)))

    def used(multiple: float) -> float:
        near = equity * (1.0 if math.isnan(multiple) else multiple)
        return draw(st.one_of(st.floats(0.0, 1e9), st.floats(0.0, 1.05).map(lambda f: near * f)))

    symbol = 0.0 if draw(st.booleans()) else used(symbol_cap)
    total = symbol + used(total_cap)
    cluster = draw(st.one_of(st.just(NAN), st.just(symbol + used(cluster_cap))))
    count = float(draw(st.integers(0, 10)))
    max_open = draw(st.one_of(st.just(NAN), st.integers(1, 10).map(float)))
    return (
        count, max_open, symbol, total, equity, symbol_cap, total_cap, cluster,
        cluster_cap, margin, leverage,
    )  # fmt: skip


def _with_new(room_args: tuple[float, ...], new: float) -> tuple[float, ...]:
    return (*room_args[:4], new, *room_args[4:])


def _probes(room: float) -> list[float]:
    """Notionals on both sides of the room: the room, the next floats, and ± a relative eps."""
    if math.isinf(room):
        return [1.0, 1e12, 1e300]
    found = [room, float(np.nextafter(room, math.inf)), room * (1 + 1e-9) + 1e-300]
    if room > 0.0:
        found += [float(np.nextafter(room, 0.0)), room * (1 - 1e-9), room / 2]
    return [x for x in found if x > 0.0]


@settings(max_examples=500, deadline=None)
@given(b=books())
def test_the_room_admits_exactly_what_limit_block_allows(b: tuple[float, ...]) -> None:
    for block, room_of in zip(BLOCKS, ROOMS, strict=True):
        room = room_of(*b)
        assert room >= 0.0
        for new in _probes(room):
            assert (block(*_with_new(b, new)) == LIMIT_OK) == (new <= room), (block, new, room)


@settings(max_examples=300, deadline=None)
@given(b=books(), new=st.floats(1e-6, 1e10))
def test_block_and_room_are_the_walk_s_two_answers(b: tuple[float, ...], new: float) -> None:
    code, room = limit_walk(*_with_new(b, new))
    assert limit_block(*_with_new(b, new)) == code
    assert limit_room(*b) == room
    assert kernel.limit_walk_nb(*_with_new(b, new)) == (code, room)


@pytest.mark.parametrize(
    ("book", "code"),
    [
        # count, max_open, symbol, total, equity, symbol x, total x, cluster, cluster x, margin
        ((0.0, 1.0, 0.0, 0.0, 1000.0, 0.5, NAN, NAN, NAN, NAN), LIMIT_SYMBOL),
        ((0.0, 1.0, 0.0, 900.0, 1000.0, NAN, 1.0, NAN, NAN, NAN), LIMIT_TOTAL),
        ((0.0, 1.0, 0.0, 0.0, 1000.0, NAN, NAN, 400.0, 0.5, NAN), LIMIT_CLUSTER),
        ((0.0, 1.0, 0.0, 900.0, 1000.0, NAN, NAN, NAN, NAN, 1.0), LIMIT_MARGIN),
        ((1.0, 1.0, 0.0, 900.0, 1000.0, NAN, NAN, NAN, NAN, NAN), LIMIT_MAX_OPEN),
        ((0.0, 1.0, -1.0, 0.0, 1000.0, NAN, NAN, NAN, NAN, NAN), LIMIT_BAD_INPUT),
    ],
)
def test_each_cap_binds_both_answers(book: tuple[float, ...], code: int) -> None:
    args = (*book, 1.0)
    room = limit_room(*args)
    assert room < 1000.0
    assert limit_block(*_with_new(args, 1000.0)) == code
    if room > 0.0:
        assert limit_block(*_with_new(args, room)) == LIMIT_OK
    # The compiled pair and the backtest's plain-Python run of them agree.
    assert kernel.limit_room_nb(*args) == as_python(kernel.limit_room_nb)(*args) == room
    blocked = _with_new(args, 1000.0)
    assert kernel.limit_block_nb(*blocked) == as_python(kernel.limit_block_nb)(*blocked) == code

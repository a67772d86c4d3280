"""risk.limits invariants over random books: no limit is ever exceeded, the room is exact,
and the compiled twins decide as plain Python does."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xraybot.risk import kernel
from xraybot.risk.limits import (
    LIMIT_OK,
    LimitSettings,
    OpenPosition,
    check_limits,
    limit_block,
    limit_room,
)

pytestmark = pytest.mark.properties

NAN = math.nan


def _off_or(values: st.SearchStrategy[float]) -> st.SearchStrategy[float]:
    return st.one_of(st.just(NAN), values)


money = st.floats(0.0, 1e9, allow_nan=False)
multiple = _off_or(st.floats(0.01, 50.0))


@st.composite
def books(draw: st.DrawFn) -> dict[str, float]:
    """A book and limits; notionals are often drawn right at a cap, where rounding bites."""
    equity = draw(st.floats(1.0, 1e8))
    caps = {
        "max_symbol": draw(multiple),
        "max_total": draw(multiple),
        "max_cluster": draw(multiple),
    }
    leverage = draw(st.one_of(st.just(1.0), st.floats(1.0, 125.0)))
    margin = draw(_off_or(st.floats(1.0, 5.0)))

    def near(multiple_: float) -> float:
        cap = equity * multiple_ if not math.isnan(multiple_) else equity
        return draw(st.one_of(money, st.floats(0.0, 1.0).map(lambda f: cap * f)))

    symbol = 0.0 if draw(st.booleans()) else near(caps["max_symbol"])
    total = symbol + near(caps["max_total"])
    cluster = draw(st.one_of(st.just(NAN), st.just(symbol + near(caps["max_cluster"]))))
    return {
        "count": float(draw(st.integers(0, 30))),
        "max_open": draw(_off_or(st.integers(1, 30).map(float))),
        "symbol": symbol,
        "total": total,
        "equity": equity,
        "cluster": cluster,
        "margin": margin,
        "leverage": leverage,
        **caps,
    }


def _block_args(b: dict[str, float], new: float) -> tuple[float, ...]:
    return (
        b["count"], b["max_open"], b["symbol"], b["total"], new, b["equity"], b["max_symbol"],
        b["max_total"], b["cluster"], b["max_cluster"], b["margin"], b["leverage"],
    )  # fmt: skip


def _room_args(b: dict[str, float]) -> tuple[float, ...]:
    args = _block_args(b, 0.0)
    return args[:4] + args[5:]


def _within(used: float, new: float, multiple: float, equity: float) -> bool:
    return math.isnan(multiple) or used + new <= equity * multiple


@settings(max_examples=400, deadline=None)
@given(b=books(), new=st.one_of(st.floats(1e-6, 1e10), st.floats(0.0, 1.0)))
def test_after_any_accepted_entry_no_limit_is_exceeded(b: dict[str, float], new: float) -> None:
    if new <= 0.0:
        return
    if limit_block(*_block_args(b, new)) != LIMIT_OK:
        return
    equity = b["equity"]
    if b["symbol"] == 0.0 and not math.isnan(b["max_open"]):
        assert b["count"] + 1 <= b["max_open"]
    assert _within(b["symbol"], new, b["max_symbol"], equity)
    assert _within(b["total"], new, b["max_total"], equity)
    if not math.isnan(b["cluster"]):
        assert _within(b["cluster"], new, b["max_cluster"], equity)
    if not math.isnan(b["margin"]):
        assert b["total"] + new <= equity * b["leverage"] / b["margin"]


@settings(max_examples=400, deadline=None)
@given(b=books())
def test_the_room_is_the_largest_accepted_notional(b: dict[str, float]) -> None:
    room = limit_room(*_room_args(b))
    assert room >= 0.0
    if math.isinf(room):
        assert limit_block(*_block_args(b, 1e15)) == LIMIT_OK
        return
    above = float(np.nextafter(room, math.inf))
    assert limit_block(*_block_args(b, above)) != LIMIT_OK
    if room > 0.0:
        assert limit_block(*_block_args(b, room)) == LIMIT_OK
        assert limit_block(*_block_args(b, room / 2)) == LIMIT_OK or room / 2 == 0.0


@settings(max_examples=200, deadline=None)
@given(b=books(), new=st.floats(1e-3, 1e10))
def test_compiled_twins_decide_as_plain_python(b: dict[str, float], new: float) -> None:
    assert kernel.limit_block_nb(*_block_args(b, new)) == limit_block(*_block_args(b, new))
    plain, compiled = limit_room(*_room_args(b)), kernel.limit_room_nb(*_room_args(b))
    assert plain == compiled or (math.isnan(plain) and math.isnan(compiled))


# Arguments chosen to break things: NaN, inf, negatives, zero, for every position.
awkward = st.sampled_from([NAN, math.inf, -math.inf, -1.0, 0.0, 0.5, 1.0, 3.0, 1e6])


@settings(max_examples=300, deadline=None)
@given(args=st.tuples(*([awkward] * 12)))
def test_compiled_twins_agree_on_awkward_input(args: tuple[float, ...]) -> None:
    assert kernel.limit_block_nb(*args) == limit_block(*args)
    room_args = args[:4] + args[5:]
    plain, compiled = limit_room(*room_args), kernel.limit_room_nb(*room_args)
    assert plain == compiled or (math.isnan(plain) and math.isnan(compiled))


def test_the_eleven_argument_form_of_the_contract_compiles() -> None:
    args: Any = (1, 3.0, 0.0, 100.0, 50.0, 1000.0, 0.5, 2.0, 100.0, 1.0, 1.5)
    assert kernel.limit_block_nb(*args) == limit_block(*args) == LIMIT_OK
    room_args = args[:4] + args[5:]
    assert kernel.limit_room_nb(*room_args) == limit_room(*room_args)


symbols = st.sampled_from(["BTC/USDT", "ETH/USDT", "SOL/USDT", "DOGE/USDT", "XRP/USDT"])


@settings(max_examples=200, deadline=None)
@given(
    positions=st.lists(
        st.builds(OpenPosition, symbols, st.floats(0.0, 5e4), st.floats(1.0, 50.0)),
        max_size=6,
    ),
    symbol=symbols,
    new=st.floats(1.0, 5e4),
    equity=st.floats(100.0, 1e5),
    limits=st.builds(
        LimitSettings,
        st.one_of(st.none(), st.integers(1, 6)),
        st.one_of(st.none(), st.floats(0.05, 5.0)),
        st.one_of(st.none(), st.floats(0.05, 10.0)),
        st.one_of(st.none(), st.floats(0.05, 5.0)),
        st.one_of(st.none(), st.floats(1.0, 4.0)),
    ),
    leverage=st.floats(1.0, 50.0),
)
def test_check_limits_allows_exactly_up_to_its_room(
    positions: list[OpenPosition],
    symbol: str,
    new: float,
    equity: float,
    limits: LimitSettings,
    leverage: float,
) -> None:
    clusters = {"BTC/USDT": 0, "ETH/USDT": 0, "SOL/USDT": 1}
    decision = check_limits(
        limits, symbol=symbol, new_notional=new, equity=equity, positions=positions,
        clusters=clusters, leverage=leverage,
    )  # fmt: skip
    assert decision.allowed == (new <= decision.room)
    assert decision.allowed == all(c.passed for c in decision.checks)
    assert decision.room == min(c.room for c in decision.checks)
    if decision.allowed:
        for check in decision.checks[1:]:
            assert check.after <= check.cap, check.reason
        if symbol not in {p.symbol for p in positions if p.notional > 0.0}:
            assert decision.checks[0].after <= decision.checks[0].cap

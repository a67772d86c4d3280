"""Properties of leverage: liquidation never before the stop, caps kept, compiled == plain."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xraybot.matching.costs import liquidation_price
from xraybot.matching.rules import LONG, SHORT
from xraybot.model.market import Market, MarketKind
from xraybot.risk import kernel
from xraybot.risk.leverage import BOUND_MINIMUM, choose_leverage, leverage_for

pytestmark = pytest.mark.properties

entries = st.floats(1e-4, 1e6)
distances = st.floats(1e-4, 0.95)
vols = st.one_of(st.just(math.nan), st.floats(0.0, 0.3))
mmrs = st.floats(0.0, 0.05)
safeties = st.floats(0.0, 3.0)
caps = st.one_of(st.floats(1.0, 200.0), st.integers(1, 200).map(float))


def beyond(direction: int, entry: float, stop: float, vol: float, safety: float, lev: float,
           mmr: float) -> bool:  # fmt: skip
    """Liquidation lies beyond the stop by max(safety x stop distance, volatility)."""
    gap = entry - stop if direction == LONG else stop - entry
    buffer = safety * gap
    if not math.isnan(vol) and vol * entry > buffer:
        buffer = vol * entry
    liquidation = liquidation_price(direction, entry, lev, mmr)
    if direction == LONG:
        return liquidation <= stop - buffer
    return liquidation >= stop + buffer


@settings(max_examples=1000, deadline=None)
@given(
    direction=st.sampled_from([LONG, SHORT]),
    entry=entries,
    distance=distances,
    vol=vols,
    mmr=mmrs,
    safety=safeties,
    cap=caps,
)
def test_liquidation_never_comes_before_the_stop(
    direction: int, entry: float, distance: float, vol: float, mmr: float, safety: float,
    cap: float,
) -> None:  # fmt: skip
    stop = entry * (1.0 - distance) if direction == LONG else entry * (1.0 + distance)
    lev = leverage_for(direction, entry, stop, vol, mmr, safety, cap)
    assert lev >= 1.0
    assert lev == math.floor(lev)
    assert lev <= cap
    protected = beyond(direction, entry, stop, vol, safety, lev, mmr)
    assert protected or lev == 1.0
    # The highest such whole leverage under the cap.
    if lev + 1.0 <= cap:
        assert not beyond(direction, entry, stop, vol, safety, lev + 1.0, mmr)


@st.composite
def swaps(draw: st.DrawFn) -> Market:
    return Market(
        exchange="x",
        symbol="AAA/USDT:USDT",
        base="AAA",
        quote="USDT",
        kind=MarketKind.SWAP,
        price_tick=Decimal("0.0001"),
        amount_tick=Decimal(1),
        max_leverage=draw(st.integers(1, 200)),
    )


@settings(max_examples=500, deadline=None)
@given(
    market=swaps(),
    direction=st.sampled_from(["long", "short"]),
    entry=entries,
    distance=distances,
    vol=vols,
    mmr=mmrs,
    safety=safeties,
    user_cap=caps,
)
def test_the_decision_keeps_both_caps_and_reports_protection(
    market: Market, direction: str, entry: float, distance: float, vol: float, mmr: float,
    safety: float, user_cap: float,
) -> None:  # fmt: skip
    stop = entry * (1.0 - distance) if direction == "long" else entry * (1.0 + distance)
    decision = choose_leverage(
        market,
        direction=direction,
        entry_price=entry,
        stop_price=stop,
        volatility=None if math.isnan(vol) else vol,
        maintenance_margin_rate=mmr,
        safety=safety,
        user_cap=user_cap,
    )
    assert 1 <= decision.value <= market.max_leverage
    assert decision.value <= user_cap
    code = LONG if direction == "long" else SHORT
    assert decision.ok == beyond(code, entry, stop, vol, safety, float(decision.value), mmr)
    assert decision.ok or decision.bound_by == BOUND_MINIMUM
    assert decision.liquidation_price == liquidation_price(code, entry, decision.value, mmr)


# -- compiled twin ---------------------------------------------------------------------------

EDGES = [0.0, 1.0, 0.5, 0.005, 97.0, 100.0, 103.0, 125.0, 1e6, -1.0, math.nan, math.inf]
reals = st.one_of(st.sampled_from(EDGES), st.floats(allow_nan=True, allow_infinity=True))


def identical(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


@settings(max_examples=1000, deadline=None)
@given(direction=st.sampled_from([LONG, SHORT, 0, 2]), args=st.tuples(*[reals for _ in range(6)]))
def test_compiled_leverage_for_is_bit_identical(direction: int, args: tuple[float, ...]) -> None:
    expected = leverage_for(direction, *args)
    found = kernel.leverage_for_nb(direction, *args)
    assert identical(found, expected), f"{direction}{args}: python {expected!r}, numba {found!r}"
    assert kernel.COMPILED["leverage_for"] is kernel.leverage_for_nb
    assert kernel.leverage_for_nb.py_func is leverage_for  # type: ignore[attr-defined]


@settings(max_examples=300, deadline=None)
@given(
    direction=st.sampled_from([LONG, SHORT]),
    entry=entries,
    distance=distances,
    vol=vols,
    mmr=mmrs,
    safety=safeties,
    cap=caps,
)
def test_compiled_leverage_for_agrees_on_realistic_input(
    direction: int, entry: float, distance: float, vol: float, mmr: float, safety: float,
    cap: float,
) -> None:  # fmt: skip
    stop = entry * (1.0 - distance) if direction == LONG else entry * (1.0 + distance)
    args = (direction, entry, stop, vol, mmr, safety, cap)
    assert identical(kernel.leverage_for_nb(*args), leverage_for(*args))

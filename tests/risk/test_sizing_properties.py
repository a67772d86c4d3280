"""Properties of sizing: on the tick, never below the minimums, never above the free cash.

Over random markets (ticks, minimums, contract sizes), prices, balances, modes, leverage and
fees; and the compiled rule is bit-identical to the plain one.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xraybot.model.market import Market, MarketKind
from xraybot.risk import kernel
from xraybot.risk.sizing import MODE_CODES, SizingDecision, size_position, stake_notional

pytestmark = pytest.mark.properties

TICKS = [Decimal(text) for text in ("1", "0.1", "0.01", "0.001", "0.00001", "0.5", "5", "1E-8")]
CONTRACTS = [Decimal(text) for text in ("0.0001", "0.001", "0.01", "0.1", "1", "10", "100")]
FEES = [Decimal(text) for text in ("0", "0.0002", "0.0004", "0.001", "0.002", "-0.0001")]


@st.composite
def markets(draw: st.DrawFn) -> Market:
    kind = draw(st.sampled_from([MarketKind.SPOT, MarketKind.SWAP]))
    tick = draw(st.sampled_from(TICKS))
    return Market(
        exchange="x",
        symbol="AAA/USDT" if kind is MarketKind.SPOT else "AAA/USDT:USDT",
        base="AAA",
        quote="USDT",
        kind=kind,
        price_tick=Decimal("0.0001"),
        amount_tick=tick,
        min_amount=tick * draw(st.integers(0, 1000)),
        min_cost=Decimal(draw(st.sampled_from([0, 1, 5, 10, 100]))),
        contract_size=Decimal(1) if kind is MarketKind.SPOT else draw(st.sampled_from(CONTRACTS)),
        max_leverage=1 if kind is MarketKind.SPOT else draw(st.integers(1, 200)),
        taker_fee_rate=draw(st.sampled_from(FEES)),
    )


prices = st.floats(1e-4, 1e6, allow_nan=False).map(lambda x: float(f"{x:.6g}"))
balances = st.floats(0.0, 1e7, allow_nan=False)


@st.composite
def requests(draw: st.DrawFn) -> tuple[Market, dict[str, Any]]:
    market = draw(markets())
    price = draw(prices)
    mode = draw(st.sampled_from(sorted(MODE_CODES)))
    distance = draw(st.floats(0.001, 0.5))
    request: dict[str, Any] = {
        "mode": mode,
        "equity": draw(balances),
        "free_cash": draw(st.one_of(balances, st.floats(-100.0, 0.0))),
        "price": price,
        "amount": {
            "fixed": draw(st.one_of(st.just(0.0), st.floats(1e-6, 1e5))),
            "fraction": draw(st.one_of(st.just(0.0), st.floats(1e-6, 1.0))),
            "risk": draw(st.one_of(st.just(0.0), st.floats(1e-6, 0.1))),
        }.get(mode, 0.0),
        "stop_price": price * (1.0 - distance if draw(st.booleans()) else 1.0 + distance),
        "volatility": draw(st.floats(1e-4, 0.2)),
        "target_volatility": draw(st.one_of(st.just(0.0), st.floats(1e-6, 0.05))),
        "win_rate": draw(st.floats(0.0, 1.0)),
        "payoff": draw(st.floats(0.1, 5.0)),
        "kelly_cap": draw(st.one_of(st.just(0.0), st.floats(1e-6, 1.0))),
        "leverage": draw(st.integers(1, market.max_leverage)),
        "fee_rate": draw(st.one_of(st.none(), st.sampled_from(FEES))),
    }
    return market, request


def fee_cost(decision: SizingDecision) -> Decimal:
    return decision.fee_rate if decision.fee_rate > 0 else Decimal(0)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=requests())
def test_sizes_respect_tick_minimums_and_balance(case: tuple[Market, dict[str, Any]]) -> None:
    market, request = case
    decision = size_position(market, **request)
    free_cash = Decimal(repr(request["free_cash"]))
    if not decision.ok:
        assert decision.amount == 0
        assert decision.notional == 0
        assert decision.refusal
        return
    amount = decision.amount
    price = Decimal(repr(request["price"]))
    assert amount > 0
    assert amount % market.amount_tick == 0  # on the tick
    assert amount >= market.min_amount
    assert decision.notional == market.notional(amount, price)
    assert decision.notional >= market.min_cost
    market.check_order_size(amount, price)  # the market's own check agrees
    # Margin + entry fee within the free cash, exactly (multiplied out: no rounding).
    lev = decision.leverage
    assert decision.notional * (1 + lev * fee_cost(decision)) <= free_cash * lev
    # Never more than the rule asked for.
    assert float(decision.notional) <= decision.requested_notional * (1 + 1e-12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=requests())
def test_a_refusal_names_numbers_that_work(case: tuple[Market, dict[str, Any]]) -> None:
    market, request = case
    decision = size_position(market, **request)
    if decision.ok or not decision.requested_notional > 0:
        return
    assert decision.refusal is not None
    assert str(decision.min_order_notional) in decision.refusal
    assert decision.free_cash_needed is not None
    retry = dict(request, free_cash=decision.free_cash_needed)
    if decision.equity_needed is not None:
        retry["equity"] = decision.equity_needed
    if decision.stake_needed is not None:
        retry["amount"] = decision.stake_needed
    if request["mode"] in ("fraction", "risk", "vol_target", "kelly"):
        # Only a stake too small for any float equity goes without a number.
        assert decision.equity_needed is not None or "no equity would" in decision.refusal
    assert size_position(market, **retry).ok, decision.refusal


# -- compiled twin ---------------------------------------------------------------------------

EDGES = [0.0, 1.0, 0.5, 0.01, 2.0, 100.0, 98.0, 1e9, -1.0, math.nan, math.inf, -math.inf]
reals = st.one_of(st.sampled_from(EDGES), st.floats(allow_nan=True, allow_infinity=True))


def identical(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


@settings(max_examples=500, deadline=None)
@given(
    mode=st.sampled_from([*MODE_CODES.values(), -1, 7]),
    args=st.tuples(*[reals for _ in range(12)]),
)
def test_compiled_stake_notional_is_bit_identical(mode: int, args: tuple[float, ...]) -> None:
    expected = stake_notional(mode, *args)
    found = kernel.stake_notional_nb(mode, *args)
    assert identical(found, expected), f"{mode}{args}: python {expected!r}, numba {found!r}"
    assert kernel.COMPILED["stake_notional"] is kernel.stake_notional_nb
    assert kernel.stake_notional_nb.py_func is stake_notional  # type: ignore[attr-defined]

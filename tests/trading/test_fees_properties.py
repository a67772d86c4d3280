"""Properties of the performance fee over random histories of trading and cash flows.

Money is drawn with two decimals and rates with two, so every Decimal sum is exact and
the identities below hold to the last digit.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xraybot.trading.fees import CashFlow, FeeAccount

pytestmark = pytest.mark.properties

D = Decimal
T0 = 1_700_000_000_000
CENTS = st.integers(0, 10_000_000).map(lambda c: D(c) / 100)
RATES = st.sampled_from([D(0), D("0.1"), D("0.15"), D("0.2"), D("0.25"), D("0.5")])
# A period: its cash flows (cents, + deposit / - withdrawal) and the trading result in cents.
PERIODS = st.lists(
    st.tuples(
        st.lists(st.integers(-500_000, 500_000).filter(bool), max_size=3),
        st.integers(-2_000_000, 2_000_000),
    ),
    min_size=1,
    max_size=24,
)


@given(opening=CENTS, rate=RATES, periods=PERIODS)
def test_fees_add_up_to_the_rate_times_the_best_gain_once(
    opening: Decimal, rate: Decimal, periods: list[tuple[list[int], int]]
) -> None:
    account = FeeAccount.open("u", rate, opening, T0)
    equity = opening
    ts = T0
    best_adjusted = opening  # flow-adjusted equity: what trading alone made of the opening
    for flows, pnl_cents in periods:
        for cents in flows:
            amount = D(cents) / 100
            if equity + amount < 0:
                continue  # cannot withdraw more than the account holds
            ts += 1
            before = account.high_water_mark
            account = account.apply_flow(CashFlow(ts_ms=ts, amount=amount))
            equity += amount
            # Only a withdrawal lowers the mark, and by exactly what was withdrawn.
            assert account.high_water_mark - before == amount
        equity = max(equity + D(pnl_cents) / 100, D(0))
        ts += 1
        charge = account.settle(equity, ts)
        assert charge.fee >= 0
        assert charge.hwm_after >= charge.hwm_before  # settling never lowers the mark
        assert charge.fee == rate * charge.chargeable_gain
        account = charge.account
        best_adjusted = max(best_adjusted, equity - account.net_deposits)
    # Every gain is charged once: the total is the rate times the best adjusted gain.
    # (A zero rate never moves the mark, so it charges nothing either way.)
    assert account.fees_charged == rate * (best_adjusted - opening)


@given(opening=CENTS, rate=RATES, equities=st.lists(CENTS, min_size=1, max_size=20))
def test_settling_the_same_equity_again_charges_nothing(
    opening: Decimal, rate: Decimal, equities: list[Decimal]
) -> None:
    account = FeeAccount.open("u", rate, opening, T0)
    for i, equity in enumerate(equities):
        first = account.settle(equity, T0 + 2 * i + 1)
        again = first.account.settle(equity, T0 + 2 * i + 2)
        assert again.fee == 0
        assert again.hwm_after == first.hwm_after
        account = again.account


@given(opening=CENTS, rate=RATES, deposits=st.lists(CENTS.filter(bool), max_size=5))
def test_a_deposit_alone_is_never_charged(
    opening: Decimal, rate: Decimal, deposits: list[Decimal]
) -> None:
    account = FeeAccount.open("u", rate, opening, T0)
    for i, amount in enumerate(deposits):
        account = account.apply_flow(CashFlow(ts_ms=T0 + i + 1, amount=amount))
    charge = account.settle(opening + sum(deposits, D(0)), T0 + 100)
    assert charge.fee == 0

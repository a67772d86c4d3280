"""Performance fees with a high-water mark, and the monthly statement."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from xraybot.model import Direction, Trade
from xraybot.model.errors import InvalidInputError
from xraybot.trading.fees import CashFlow, FeeAccount, month_bounds, monthly_statement

D = Decimal
USER = "alice"
NOV_START, NOV_END = month_bounds(2026, 11)
DEC_START, DEC_END = month_bounds(2026, 12)
T0 = NOV_START - 1


def account(equity: str = "1000", rate: str = "0.2") -> FeeAccount:
    return FeeAccount.open(USER, D(rate), D(equity), T0)


def trade(trade_id: str, exit_ts_ms: int, exit_price: str, user_id: str = USER) -> Trade:
    return Trade(
        trade_id=trade_id,
        user_id=user_id,
        strategy="ema_cross",
        symbol="BTC/USDT",
        direction=Direction.LONG,
        amount=D("2"),
        entry_price=D("100"),
        exit_price=D(exit_price),
        entry_ts_ms=exit_ts_ms - 1_000,
        exit_ts_ms=exit_ts_ms,
        fees=D("0.4"),
        exit_reason="take_profit",
    )


def test_a_fee_is_the_rate_times_the_gain_above_the_mark() -> None:
    charge = account().settle(D("1250"), NOV_START)

    assert charge.fee == D("50.0")
    assert (charge.hwm_before, charge.hwm_after, charge.chargeable_gain) == (
        D("1000"),
        D("1250"),
        D("250"),
    )
    assert charge.account.fees_charged == D("50.0")


def test_below_the_mark_nothing_is_charged_and_the_mark_stays() -> None:
    first = account().settle(D("1250"), NOV_START).account
    down = first.settle(D("1100"), NOV_START + 1)
    back = down.account.settle(D("1250"), NOV_START + 2)
    higher = back.account.settle(D("1300"), NOV_START + 3)

    assert (down.fee, down.hwm_after) == (D(0), D("1250"))
    assert back.fee == 0  # recovering the drawdown is not a new gain
    assert higher.fee == D("10.0")  # only the 50 above the old peak


def test_deposits_and_withdrawals_are_never_charged() -> None:
    deposited = account().apply_flow(CashFlow(ts_ms=NOV_START, amount=D("500")))
    charge = deposited.settle(D("1500"), NOV_START + 1)

    assert deposited.high_water_mark == D("1500")
    assert charge.fee == 0

    withdrawn = account().apply_flow(CashFlow(ts_ms=NOV_START, amount=D("-300")))
    after_loss = withdrawn.settle(D("650"), NOV_START + 1)  # traded 50 away
    assert withdrawn.high_water_mark == D("700")
    assert after_loss.fee == 0
    assert withdrawn.settle(D("760"), NOV_START + 1).fee == D("12.0")


def test_a_settled_period_is_never_settled_again() -> None:
    settled = account().settle(D("1250"), NOV_START).account

    with pytest.raises(InvalidInputError, match="settled twice"):
        settled.settle(D("1250"), NOV_START)
    with pytest.raises(InvalidInputError, match="already settled"):
        settled.apply_flow(CashFlow(ts_ms=NOV_START - 5, amount=D("10")))


@pytest.mark.parametrize(("rate", "equity"), [("1", "1000"), ("-0.1", "1000"), ("0.2", "-1")])
def test_bad_accounts_are_refused(rate: str, equity: str) -> None:
    with pytest.raises(InvalidInputError):
        FeeAccount.open(USER, D(rate), D(equity), T0)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="found 0"):
        CashFlow(ts_ms=NOV_START, amount=D(0))
    with pytest.raises(InvalidInputError, match="float"):
        account().settle(1250.0, NOV_START)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="month 1-12"):
        month_bounds(2026, 13)


def test_the_monthly_statement() -> None:
    trades = [
        trade("t1", NOV_START + 10, "110"),  # +20 gross
        trade("t2", NOV_START + 20, "95"),  # -10 gross
        trade("t0", NOV_START - 1, "120"),  # October: not in the statement
        trade("t3", DEC_START, "120"),  # December
        trade("x1", NOV_START + 30, "150", user_id="bob"),
    ]
    flows = [
        CashFlow(ts_ms=NOV_START + 5, amount=D("200"), note="top-up"),
        CashFlow(ts_ms=NOV_START + 25, amount=D("-50")),
    ]

    statement, after = monthly_statement(
        account(), year=2026, month=11, equity_end=D("1169.2"), trades=trades, flows=flows
    )

    assert [t.trade_id for t in statement.trades] == ["t1", "t2"]
    assert (statement.gross_pnl, statement.exchange_fees, statement.realized_pnl) == (
        D("10"),
        D("0.8"),
        D("9.2"),
    )
    assert (statement.deposits, statement.withdrawals) == (D("200"), D("50"))
    # Mark 1000 + 200 - 50 = 1150; equity 1169.2 is 19.2 above it.
    assert (statement.hwm_before, statement.hwm_after) == (D("1000"), D("1169.2"))
    assert statement.performance_fee == D("3.84")
    assert after.high_water_mark == D("1169.2")
    assert after.settled_ts_ms == NOV_END - 1
    data = statement.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["performance_fee"] == "3.84"
    assert data["trade_count"] == 2
    assert data["trades"][0]["direction"] == "long"

    december, _ = monthly_statement(after, year=2026, month=12, equity_end=D("1169.2"))
    assert december.performance_fee == 0
    assert december.hwm_before == D("1169.2")
    with pytest.raises(InvalidInputError, match="settled twice"):
        monthly_statement(after, year=2026, month=11, equity_end=D("2000"))


def test_a_flow_outside_the_month_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="outside the month"):
        monthly_statement(
            account(),
            year=2026,
            month=11,
            equity_end=D("1000"),
            flows=[CashFlow(ts_ms=DEC_START, amount=D("5"))],
        )

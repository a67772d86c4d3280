"""fills.py: Fill, Position and Trade arithmetic against hand-computed values."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given

from tests.model import strategies as gen
from xraybot.model import Direction, Fill, Position, Side, Trade
from xraybot.model.errors import InvalidInputError

D = Decimal


def trade(**overrides: Any) -> Trade:
    fields: dict[str, Any] = {
        "trade_id": "xbabc:0",
        "user_id": "alice",
        "strategy": "ema_cross",
        "symbol": "BTC/USDT",
        "direction": Direction.LONG,
        "amount": D("2"),
        "entry_price": D("100"),
        "exit_price": D("110"),
        "entry_ts_ms": 1_000,
        "exit_ts_ms": 2_000,
        "fees": D("0.5"),
        "exit_reason": "take_profit",
    }
    fields.update(overrides)
    return Trade(**fields)


def position(**overrides: Any) -> Position:
    fields: dict[str, Any] = {
        "user_id": "alice",
        "strategy": "ema_cross",
        "symbol": "BTC/USDT",
        "direction": Direction.LONG,
        "amount": D("0.5"),
        "entry_price": D("60000"),
        "opened_ts_ms": 1_000,
        "updated_ts_ms": 1_000,
    }
    fields.update(overrides)
    return Position(**fields)


@pytest.mark.parametrize(
    ("direction", "entry", "exit_", "amount", "fees", "gross", "net", "return_pct"),
    [
        # long win: (110 - 100) * 2 = 20; 20 - 0.5 = 19.5; 19.5 / 200 = 9.75 %
        (Direction.LONG, "100", "110", "2", "0.5", "20", "19.5", "9.75"),
        # long loss: (95 - 100) * 2 = -10; -10.5; -10.5 / 200 = -5.25 %
        (Direction.LONG, "100", "95", "2", "0.5", "-10", "-10.5", "-5.25"),
        # short win: -(90 - 100) * 2 = 20; 19.5; 9.75 %
        (Direction.SHORT, "100", "90", "2", "0.5", "20", "19.5", "9.75"),
        # short loss: -(110 - 100) * 2 = -20; -20.5; -10.25 %
        (Direction.SHORT, "100", "110", "2", "0.5", "-20", "-20.5", "-10.25"),
        # 0.1 BTC long 60000 -> 61500, fees 0.1% a side: 6 + 6.15 = 12.15
        # gross 150, net 137.85, on 6000 notional = 2.2975 %
        (Direction.LONG, "60000", "61500", "0.1", "12.15", "150", "137.85", "2.2975"),
        # maker rebates make fees negative: net above gross
        (Direction.SHORT, "2000", "1990", "1", "-0.4", "10", "10.4", "0.52"),
    ],
)
def test_trade_pnl(
    direction: Direction,
    entry: str,
    exit_: str,
    amount: str,
    fees: str,
    gross: str,
    net: str,
    return_pct: str,
) -> None:
    made = trade(
        direction=direction,
        entry_price=D(entry),
        exit_price=D(exit_),
        amount=D(amount),
        fees=D(fees),
    )
    assert made.gross_pnl == D(gross)
    assert made.net_pnl == D(net)
    assert made.return_pct == D(return_pct)


def test_return_ignores_leverage() -> None:
    assert trade(leverage=10).return_pct == trade(leverage=1).return_pct == D("9.75")


@gen.FAST
@given(entry=gen.prices(), exit_=gen.prices(), amount=gen.amounts())
def test_long_and_short_mirror_each_other(entry: Decimal, exit_: Decimal, amount: Decimal) -> None:
    long_ = trade(entry_price=entry, exit_price=exit_, amount=amount, fees=D(0))
    short = trade(
        direction=Direction.SHORT, entry_price=entry, exit_price=exit_, amount=amount, fees=D(0)
    )
    assert long_.gross_pnl == -short.gross_pnl
    assert (long_.gross_pnl > 0) == (exit_ > entry)
    assert long_.net_pnl == long_.gross_pnl


def test_exit_before_entry_is_refused() -> None:
    with pytest.raises(InvalidInputError) as caught:
        trade(entry_ts_ms=2_000, exit_ts_ms=1_999)
    message = str(caught.value)
    assert "exit_ts_ms 1999 is before entry_ts_ms 2000" in message
    assert "Trade('xbabc:0')" in message


def test_exit_in_the_same_millisecond_is_allowed() -> None:
    assert trade(entry_ts_ms=2_000, exit_ts_ms=2_000).exit_ts_ms == 2_000


@pytest.mark.parametrize(
    ("field", "value", "pattern"),
    [
        ("amount", D(0), r"\.amount must be > 0"),
        ("entry_price", D("-1"), r"\.entry_price must be > 0"),
        ("exit_price", 110.0, r"\.exit_price must be a finite Decimal"),
        ("fees", 0.5, r"\.fees must be a finite Decimal"),
        ("exit_reason", "", r"\.exit_reason must be a non-empty string"),
        ("entry_ts_ms", 1.5, r"\.entry_ts_ms must be a non-negative int"),
    ],
)
def test_trade_validation(field: str, value: object, pattern: str) -> None:
    with pytest.raises(InvalidInputError, match=pattern):
        trade(**{field: value})


@pytest.mark.parametrize(
    ("direction", "mark", "expected"),
    [
        (Direction.LONG, "61000", "500"),  # (61000 - 60000) * 0.5
        (Direction.LONG, "59000", "-500"),
        (Direction.SHORT, "61000", "-500"),
        (Direction.SHORT, "58500", "750"),
        (Direction.SHORT, "60000", "0"),
    ],
)
def test_position_unrealized_pnl(direction: Direction, mark: str, expected: str) -> None:
    assert position(direction=direction).unrealized_pnl(D(mark)) == D(expected)


def test_position_unrealized_pnl_counts_contracts_in_base_units() -> None:
    contracts = position(amount=D("5000"))  # 5000 contracts of 0.0001 BTC = 0.5 BTC
    assert contracts.unrealized_pnl(D("61000"), D("0.0001")) == D("500")
    with pytest.raises(InvalidInputError, match=r"\.contract_size must be > 0"):
        contracts.unrealized_pnl(D("61000"), D(0))


def test_position_open_and_closed() -> None:
    assert position().is_open
    assert not position(amount=D(0)).is_open


@pytest.mark.parametrize(
    ("field", "value", "pattern"),
    [
        ("amount", D("-0.1"), r"\.amount must be >= 0"),
        ("entry_price", D(0), r"\.entry_price must be > 0"),
        ("leverage", 0, r"\.leverage must be >= 1; found 0"),
        ("realized_pnl", 1.0, r"\.realized_pnl must be a finite Decimal"),
    ],
)
def test_position_validation(field: str, value: object, pattern: str) -> None:
    with pytest.raises(InvalidInputError, match=pattern):
        position(**{field: value})


def test_fill_notional_and_rebate() -> None:
    fill = Fill(
        fill_id="T1",
        client_order_id="xb" + "a" * 30,
        user_id="alice",
        symbol="BTC/USDT",
        side=Side.BUY,
        price=D("60000.5"),
        amount=D("0.002"),
        fee=D("-0.01"),  # maker rebate
        fee_currency="USDT",
        ts_ms=1_000,
        is_maker=True,
    )
    assert fill.notional == D("120.0010")


@pytest.mark.parametrize(
    ("field", "value", "pattern"),
    [
        ("price", D(0), r"Fill\('T1'\)\.price must be > 0"),
        ("amount", 0.1, r"\.amount must be a finite Decimal"),
        ("fee", D("NaN"), r"\.fee must be a finite Decimal"),
        ("fee_currency", "", r"\.fee_currency must be a non-empty string"),
    ],
)
def test_fill_validation(field: str, value: object, pattern: str) -> None:
    fields: dict[str, Any] = {
        "fill_id": "T1",
        "client_order_id": "xb" + "a" * 30,
        "user_id": "alice",
        "symbol": "BTC/USDT",
        "side": Side.SELL,
        "price": D("1"),
        "amount": D("1"),
        "fee": D("0"),
        "fee_currency": "USDT",
        "ts_ms": 0,
    }
    fields[field] = value
    with pytest.raises(InvalidInputError, match=pattern):
        Fill(**fields)

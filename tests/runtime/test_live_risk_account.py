"""The live account as the risk layer sees it: exit dating, the book's marks, a growing chain."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.support.markets import market
from xraybot.model.fills import Position, Trade
from xraybot.model.market import MarketKind
from xraybot.model.signals import Direction
from xraybot.risk.protections_settings import ProtectionSettings
from xraybot.runtime.embedded_account import AccountRisk, Book, exit_time

HOUR = 3_600_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % HOUR


def trade(reason: str, exit_ts_ms: int, symbol: str = "BTC/USDT") -> Trade:
    return Trade(
        trade_id=f"{symbol}-{exit_ts_ms}",
        user_id="u1",
        strategy="s",
        symbol=symbol,
        direction=Direction.LONG,
        amount=Decimal(1),
        entry_price=Decimal(100),
        exit_price=Decimal(90),
        entry_ts_ms=T0,
        exit_ts_ms=exit_ts_ms,
        fees=Decimal(0),
        exit_reason=reason,
    )


def position(symbol: str, amount: str, entry: str) -> Position:
    return Position(
        user_id="u1",
        strategy="s",
        symbol=symbol,
        direction=Direction.LONG,
        amount=Decimal(amount),
        entry_price=Decimal(entry),
        opened_ts_ms=T0,
        updated_ts_ms=T0,
    )


def test_exits_are_dated_as_the_kernel_dates_them() -> None:
    filled = T0 + 5 * HOUR + 1_234
    assert exit_time(trade("close", filled), HOUR) == T0 + 5 * HOUR  # at the open
    assert exit_time(trade("liquidate", filled), HOUR) == T0 + 5 * HOUR
    assert exit_time(trade("stop_loss", filled), HOUR) == T0 + 6 * HOUR - 1  # at the close
    assert exit_time(trade("take_profit", filled), HOUR) == T0 + 6 * HOUR - 1


def test_the_view_counts_the_other_positions_at_their_last_close() -> None:
    spot = {
        "BTC/USDT": market(MarketKind.SPOT),
        "ETH/USDT": market(MarketKind.SPOT, symbol="ETH/USDT", base="ETH"),
    }
    risk = AccountRisk.of("u1", ProtectionSettings(), spot, timeframe_ms=HOUR, markets=spot)
    held = (position("BTC/USDT", "0.5", "100"), position("ETH/USDT", "2", "10"))
    risk.closes["BTC/USDT"] = 120.0  # ETH has no close yet: marked at its entry price
    assert risk.mark_value(held[0]) == pytest.approx(60.0)
    book = Book(equity=1_000.0, free_cash=900.0, positions=held)
    view = risk.view(book, "ETH/USDT")
    assert view.position == held[1]
    assert [(o.symbol, o.notional) for o in view.others] == [("BTC/USDT", pytest.approx(60.0))]
    assert view.equity == 1_000.0
    assert view.free_cash == 900.0
    assert risk.view(book, "SOL/USDT").position is None


def test_a_swap_position_adds_its_unrealized_pnl_only() -> None:
    swap = {"BTC/USDT:USDT": market(MarketKind.SWAP, contract_size=Decimal("0.1"))}
    risk = AccountRisk.of("u1", ProtectionSettings(), swap, timeframe_ms=HOUR, markets=swap)
    held = position("BTC/USDT:USDT", "10", "100")
    risk.closes["BTC/USDT:USDT"] = 110.0
    assert risk.mark_value(held) == pytest.approx(10.0)  # (110 - 100) x 10 contracts x 0.1
    assert risk.notional(held) == pytest.approx(110.0)


def test_symbols_added_to_the_chain_keep_what_was_recorded() -> None:
    settings = ProtectionSettings(cooldown=2 * HOUR)
    risk = AccountRisk.of("u1", settings, ["BTC/USDT"], timeframe_ms=HOUR, markets={})
    stopped = trade("stop_loss", T0 + HOUR + 5)
    risk.chain.record_exit("BTC/USDT", exit_time(stopped, HOUR), -10.0, "stop_loss", 990.0)
    risk.chain.record_equity(T0 + 2 * HOUR - 1, 990.0)
    risk.chain.add_symbols(["ETH/USDT", "BTC/USDT", "SOL/USDT"])
    assert risk.chain.symbols == ("BTC/USDT", "ETH/USDT", "SOL/USDT")
    blocked = risk.chain.check("BTC/USDT", T0 + 3 * HOUR)
    assert blocked.blocked_by == "cooldown"
    assert blocked.until_ms == T0 + 4 * HOUR - 1
    assert risk.chain.check("ETH/USDT", T0 + 3 * HOUR).allowed
    risk.chain.record_exit("SOL/USDT", T0 + 3 * HOUR, -5.0, "stop_loss", 985.0)
    assert risk.chain.check("SOL/USDT", T0 + 4 * HOUR).blocked_by == "cooldown"
    assert risk.chain.check("BTC/USDT", T0 + 4 * HOUR).allowed

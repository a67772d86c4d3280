"""Parity with the risk rules on: the portfolio kernel and the live engine trade alike.

Four symbols share one account under a low-profit lock (a losing trade locks its symbol for
two days) and a limit of two open positions. The kernel runs them with ``run_portfolio``;
the replay runs them through ``EmbeddedRuntime`` against the simulator (``runtime.replay``),
where the runtime feeds the user's protection chain and counts every open position in the
limits. The replay decides from the candle that completes the step's window on, so the
kernel's entries before that candle are masked out: both start flat, with no history.

The trades must match candle for candle (entry, exit, direction), prices within
``PRICE_TOLERANCE`` as in ``test_parity`` (the kernel is given the paper slippage, so what is
left is the simulator's spread and tick). The kernel must report entries refused by the lock
and by the limit on the replayed candles, and trade otherwise with the rules off: so the
rules bound and the replay applied them.
"""

from __future__ import annotations

import dataclasses

import pytest

from tests.support.parity import sample, trips
from xraybot.backtest.portfolio import run_portfolio
from xraybot.backtest.results import BacktestSettings, TradeRecords
from xraybot.backtest.risk_results import RiskSettings
from xraybot.model.candles import Candles
from xraybot.risk.exits import ExitRules
from xraybot.risk.limits import LimitSettings
from xraybot.risk.protections_settings import LowProfitLock, ProtectionSettings
from xraybot.runtime.replay import replay
from xraybot.strategy.base import Params, Signals, Strategy
from xraybot.strategy.registry import load_strategy

STRATEGY = "ichimoku_trend"
BASES = ("BTC", "ETH", "SOL", "XRP")
CANDLES = 1_000  # the step's window (454 for this strategy) plus enough to trade and block
PRICE_TOLERANCE = 0.002  # relative: the simulator's spread and tick (module docstring)
SIM_TAKER_FEE = 0.0005
PAPER_SLIPPAGE_BPS = 5.0  # runtime.embedded_users.PAPER_SLIPPAGE
SETTINGS = BacktestSettings(
    market="spot",
    directions="long",
    exits=ExitRules(),
    fee_rate=SIM_TAKER_FEE,
    slippage_bps=PAPER_SLIPPAGE_BPS,
    stake="fraction",
    stake_amount=0.3,
    max_open_trades=4,
    risk=RiskSettings(
        protections=ProtectionSettings(
            low_profit=LowProfitLock(trades=1, min_return=0.0, pause=48 * 3_600_000)
        ),
        limits=LimitSettings(max_open_positions=2),
    ),
    risk_rules=True,
)


def entering_from(strategy: Strategy, first_ms: int) -> Strategy:
    """``strategy`` with every entry signal before the candle ``first_ms`` masked out."""

    class Late(type(strategy)):  # type: ignore[misc]
        def signals(self, candles: Candles, params: Params, cache: object = None) -> Signals:
            drawn: Signals = super().signals(candles, params, cache)
            early = candles.ts_ms < first_ms
            return dataclasses.replace(drawn, entry_long=drawn.entry_long & ~early)

    late: Strategy = Late()
    return late


@pytest.fixture(scope="module")
def replayed() -> tuple[dict[str, TradeRecords], int]:
    series = {c.symbol: c for c in (sample(b, CANDLES) for b in BASES)}
    result = replay(series, load_strategy(STRATEGY), None, SETTINGS)
    assert result.errors == 0
    return dict(result.trades), max(result.first_decision_ts.values())


def kernel_trades(
    first_ms: int, settings: BacktestSettings
) -> tuple[dict[str, TradeRecords], dict[str, int]]:
    """The portfolio kernel's trades per symbol (entries from ``first_ms`` on) and what its
    risk layer refused, per reason."""
    strategy = entering_from(load_strategy(STRATEGY), first_ms)
    result = run_portfolio([sample(b, CANDLES) for b in BASES], strategy, None, settings)
    return {r.symbol: r.trades for r in result.results}, result.blocked


def test_replay_with_protections_and_limits_trades_as_the_portfolio_kernel(
    replayed: tuple[dict[str, TradeRecords], int],
) -> None:
    trades, first_ms = replayed
    kernel, blocked = kernel_trades(first_ms, SETTINGS)
    assert blocked.get("low_profit", 0) > 0, "the lock should refuse entries here"
    assert blocked.get("max_open_positions", 0) > 0, "the limit should refuse entries here"
    free, _ = kernel_trades(first_ms, dataclasses.replace(SETTINGS, risk=None, risk_rules=False))
    assert sum(len(t) for t in free.values()) > sum(len(t) for t in kernel.values())
    for symbol, mine in trades.items():
        theirs = kernel[symbol]
        assert trips(mine) == trips(theirs), symbol
        assert mine.entry_price == pytest.approx(theirs.entry_price, rel=PRICE_TOLERANCE)
        assert mine.exit_price == pytest.approx(theirs.exit_price, rel=PRICE_TOLERANCE)
    assert sum(len(t) for t in trades.values()) >= 10

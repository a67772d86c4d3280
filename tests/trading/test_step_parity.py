"""Parity: the live decision step, walked one closed candle at a time, trades as the kernel.

Each built-in strategy runs on real candles (the bundled sample) twice: once through
``run_backtest`` with every exit rule off, once through ``trading.step.decide`` on the
trailing window at every candle's close, with a small account that fills an OPEN or a CLOSE
at the next candle's open, as the kernel does. Both must give the same entry and exit times.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache

import pytest

from xraybot.backtest.engine import run_backtest
from xraybot.backtest.results import BacktestSettings
from xraybot.data.import_names import recognise
from xraybot.data.importers import load
from xraybot.data.sample import sample_dir
from xraybot.model.candles import Candles
from xraybot.model.fills import Position
from xraybot.model.market import Market, MarketKind
from xraybot.model.signals import Direction, Side
from xraybot.risk.exits import ExitRules
from xraybot.strategy.base import Strategy
from xraybot.strategy.registry import builtin_names, load_strategy
from xraybot.trading.step import AccountView, Directions, StepConfig, decide

CANDLES = 2_000  # long enough for every built-in to trade dozens of times, short to stay fast
NO_EXITS = ExitRules()
Trip = tuple[int, int, int]  # entry ts, exit ts, direction (+1 long, -1 short)


@cache
def sample(base: str) -> Candles:
    return load(recognise(sample_dir() / "binance" / f"{base}_USDT-1h.csv.gz")).tail(CANDLES)


def market(candles: Candles, kind: MarketKind) -> Market:
    return Market(
        exchange="binance",
        symbol=candles.symbol,
        base=candles.symbol.split("/")[0],
        quote="USDT",
        kind=kind,
        price_tick=Decimal("0.00001"),
        amount_tick=Decimal("0.00001"),
        max_leverage=10 if kind is MarketKind.SWAP else 1,
    )


def kernel_trips(candles: Candles, strategy: Strategy, settings: BacktestSettings) -> list[Trip]:
    trades = run_backtest(candles, strategy, None, settings).trades
    return list(
        zip(
            trades.entry_ts.tolist(),
            trades.exit_ts.tolist(),
            trades.direction.tolist(),
            strict=True,
        )
    )


def step_trips(candles: Candles, config: StepConfig) -> list[Trip]:
    """Walk the candles: decide at each close, fill at the next open (no stops, no targets)."""
    tf = candles.timeframe_ms
    position: Position | None = None
    pending = None
    trips: list[Trip] = []
    for i in range(len(candles)):
        ts = int(candles.ts_ms[i])
        if pending is not None:
            if position is None:
                direction = Direction.LONG if pending.side is Side.BUY else Direction.SHORT
                position = Position(
                    user_id=pending.user_id,
                    strategy=pending.strategy,
                    symbol=pending.symbol,
                    direction=direction,
                    amount=pending.amount,
                    entry_price=Decimal(repr(float(candles.open[i]))),
                    opened_ts_ms=ts,
                    updated_ts_ms=ts,
                )
            else:
                assert position is not None
                sign = 1 if position.direction is Direction.LONG else -1
                trips.append((position.opened_ts_ms, ts, sign))
                position = None
            pending = None
        account = AccountView(equity=10_000.0, free_cash=10_000.0, position=position)
        decision = decide(candles, ts + tf, config, account)
        assert not (decision.opens and decision.closes)
        if i + 1 < len(candles):
            pending = decision.opens or decision.closes
    if position is not None:  # the kernel closes what is open at the last candle
        sign = 1 if position.direction is Direction.LONG else -1
        trips.append((position.opened_ts_ms, int(candles.ts_ms[-1]), sign))
    return trips


MODES: tuple[tuple[MarketKind, Directions], ...] = (
    (MarketKind.SPOT, "long"),
    (MarketKind.SWAP, "both"),
)
CASES = [(name, kind, directions) for name in builtin_names() for kind, directions in MODES]


@pytest.mark.parametrize(("name", "kind", "directions"), CASES)
def test_step_trades_as_the_kernel(name: str, kind: MarketKind, directions: Directions) -> None:
    candles = sample("BTC")
    strategy = load_strategy(name)
    settings = BacktestSettings(market=kind.value, directions=directions, exits=NO_EXITS)
    expected = kernel_trips(candles, strategy, settings)
    config = StepConfig(
        user_id="u1",
        strategy=strategy,
        params=strategy.resolve(None),
        market=market(candles, kind),
        directions=directions,
        exits=NO_EXITS,
    )
    got = step_trips(candles, config)
    assert len(expected) >= 5, f"{name} should trade on {CANDLES} candles"
    assert got == expected


def test_the_swap_cases_include_shorts() -> None:
    """At least some built-ins short on the sample, so the short path is compared too."""
    candles = sample("BTC")
    settings = BacktestSettings(market="swap", directions="both", exits=NO_EXITS)
    shorts = {
        name: sum(d == -1 for *_, d in kernel_trips(candles, load_strategy(name), settings))
        for name in builtin_names()
    }
    assert sum(1 for count in shorts.values() if count > 0) >= 2, shorts

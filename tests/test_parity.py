"""Parity: the kernel and the live engine replayed against the simulator trade alike.

Each built-in strategy runs on real candles (the bundled sample) through ``run_backtest``
and through ``runtime.replay.replay`` (``EmbeddedRuntime`` on the replay clock, a paper user
filling at the simulator's quotes), with every exit rule off and fees equal (the simulator's
taker fee). The replay decides from the candle that completes the step's window on, so the
comparison starts at the first candle both are flat after that; from there entry and exit
candles and directions must be equal.

Prices differ by the paper fill: the simulator's quote at the next candle's open (half its
spread, under 1 bp on BTC), the paper slippage (5 bps) and the simulator's price tick; so
fill prices are compared within ``PRICE_TOLERANCE`` (relative).
"""

from __future__ import annotations

from functools import cache

import pytest

from xraybot.backtest.engine import run_backtest
from xraybot.backtest.results import BacktestSettings, TradeRecords
from xraybot.data.import_names import recognise
from xraybot.data.importers import load
from xraybot.data.sample import sample_dir
from xraybot.model.candles import Candles
from xraybot.risk.exits import ExitRules
from xraybot.runtime.replay import replay
from xraybot.strategy.registry import builtin_names, load_strategy

CANDLES = 1_500  # the step's window (about 625 on 1h) plus enough replayed candles to trade
PRICE_TOLERANCE = 0.002  # relative: spread + paper slippage + tick (module docstring)
SIM_TAKER_FEE = 0.0005  # what the simulator's markets (and so the paper ledger) charge
SETTINGS = BacktestSettings(
    market="spot", directions="long", exits=ExitRules(), fee_rate=SIM_TAKER_FEE
)
Trip = tuple[int, int, int]


@cache
def sample(base: str) -> Candles:
    return load(recognise(sample_dir() / "binance" / f"{base}_USDT-1h.csv.gz")).tail(CANDLES)


def trips(trades: TradeRecords) -> list[Trip]:
    return list(
        zip(
            trades.entry_ts.tolist(),
            trades.exit_ts.tolist(),
            trades.direction.tolist(),
            strict=True,
        )
    )


def compared(
    kernel: TradeRecords, replayed: TradeRecords, first_fill: int
) -> tuple[int, list[int], list[int]]:
    """The cut (first candle both are flat from) and the row indices compared on each side."""
    cut = first_fill
    for entry, exit_ in zip(kernel.entry_ts.tolist(), kernel.exit_ts.tolist(), strict=True):
        if entry < first_fill <= exit_:
            cut = max(cut, exit_)  # the kernel was in a trade the replay never saw begin
    k = [i for i, t in enumerate(kernel.entry_ts.tolist()) if t >= cut]
    r = [i for i, t in enumerate(replayed.entry_ts.tolist()) if t >= cut]
    return cut, k, r


@pytest.mark.parametrize("name", builtin_names())
def test_replay_trades_as_the_kernel(name: str) -> None:
    candles = sample("BTC")
    strategy = load_strategy(name)
    kernel = run_backtest(candles, strategy, None, SETTINGS).trades
    result = replay({candles.symbol: candles}, strategy, None, SETTINGS)
    assert result.errors == 0
    replayed = result.trades[candles.symbol]
    first_fill = result.first_decision_ts[candles.symbol] + candles.timeframe_ms
    _, k, r = compared(kernel, replayed, first_fill)
    assert len(k) >= 3, f"{name} should trade on the replayed candles"
    kt, rt = trips(kernel), trips(replayed)
    assert [rt[i] for i in r] == [kt[i] for i in k]
    for i, j in zip(k, r, strict=True):
        assert replayed.entry_price[j] == pytest.approx(kernel.entry_price[i], rel=PRICE_TOLERANCE)
        if kernel.exit_reason[i] != 5:  # at the end both close at the last close, exactly
            assert replayed.exit_price[j] == pytest.approx(
                kernel.exit_price[i], rel=PRICE_TOLERANCE
            )

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

import pytest

from tests.support.parity import PRICE_TOLERANCE, SIM_TAKER_FEE, compared, sample, trips
from xraybot.backtest.engine import run_backtest
from xraybot.backtest.results import BacktestSettings
from xraybot.risk.exits import ExitRules
from xraybot.runtime.replay import replay
from xraybot.strategy.registry import builtin_names, load_strategy

SETTINGS = BacktestSettings(
    market="spot", directions="long", exits=ExitRules(), fee_rate=SIM_TAKER_FEE
)


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

"""``runtime.replay``: the live engine on the replay clock against the in-process simulator.

Kernel parity for every built-in is in tests/test_parity.py (spot) and tests/test_parity_swap.py;
here: several symbols at once, what the records hold, the end-of-data close, refusals and
``xraybot backtest --replay``; swaps in tests/runtime/test_replay_swap.py.
"""

from __future__ import annotations

import dataclasses
import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from tests.support.logs import restored_logging
from xraybot.backtest.results import BacktestSettings
from xraybot.cli.app import main
from xraybot.data.import_names import recognise
from xraybot.data.importers import load
from xraybot.data.sample import sample_dir
from xraybot.matching.rules import EXIT_END, EXIT_SIGNAL
from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError
from xraybot.risk.exits import ExitRules
from xraybot.runtime.replay import replay
from xraybot.strategy.registry import load_strategy

NO_EXITS = BacktestSettings(exits=ExitRules())

HOLD = '''
from typing import ClassVar

import numpy as np

from xraybot.strategy.base import Param, Signals, Strategy


class Hold(Strategy):
    """In on the first candle, never out."""

    name: ClassVar[str] = "hold"
    parameters: ClassVar[tuple[Param, ...]] = ()

    def signals(self, candles, params, cache=None):
        n = len(candles)
        return Signals(entry_long=np.ones(n, dtype=bool), exit_long=np.zeros(n, dtype=bool))

    def warmup(self, params):
        return 1
'''


@cache
def sample(base: str, n: int = 900) -> Candles:
    return load(recognise(sample_dir() / "binance" / f"{base}_USDT-1h.csv.gz")).tail(n)


def test_two_symbols_trade_on_their_own_candles_with_fills_at_the_next_open() -> None:
    series = {c.symbol: c for c in (sample("BTC"), sample("ETH"))}
    seen: list[tuple[int, int]] = []
    result = replay(
        series,
        load_strategy("ema_cross"),
        None,
        NO_EXITS,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert result.errors == 0
    steps = seen[-1][1]
    assert seen[-1] == (steps, steps)
    assert result.decisions == 2 * (steps + 1)  # every candle of both symbols, once
    for symbol, candles in series.items():
        trades = result.trades[symbol]
        assert len(trades) >= 3, symbol
        first_fill = result.first_decision_ts[symbol] + candles.timeframe_ms
        assert (trades.entry_ts >= first_fill).all()
        assert (trades.entry_ts < trades.exit_ts).all()
        assert (np.diff(trades.entry_ts) > 0).all()
        assert (trades.direction == 1).all()  # spot: long only
        assert set(trades.exit_reason.tolist()) <= {EXIT_SIGNAL, EXIT_END}
        # Entry and exit candles are the ones whose open filled the order.
        assert (candles.ts_ms[trades.entry_index] == trades.entry_ts).all()
        opens = candles.open[trades.entry_index]
        np.testing.assert_allclose(trades.entry_price, opens, rtol=0.002)
        assert (trades.amount > 0).all()


def test_a_position_open_at_the_end_is_closed_at_the_last_close(tmp_path: Path) -> None:
    path = tmp_path / "hold.py"
    path.write_text(HOLD)
    strategy = load_strategy(f"{path}:Hold")
    candles = sample("BTC", 700)
    result = replay(
        {candles.symbol: candles}, strategy, None, NO_EXITS, strategy_spec=f"{path}:Hold"
    )
    trades = result.trades[candles.symbol]
    first_fill = result.first_decision_ts[candles.symbol] + candles.timeframe_ms
    assert trades.entry_ts.tolist() == [first_fill]
    assert trades.exit_ts.tolist() == [int(candles.ts_ms[-1])]
    assert trades.exit_reason.tolist() == [EXIT_END]
    assert trades.exit_price[0] == candles.close[-1]


def test_refuses_swap_symbols_on_spot_mixed_timeframes_and_too_few_candles() -> None:
    btc = sample("BTC")
    strategy = load_strategy("rsi_reversion")
    with pytest.raises(InvalidInputError, match="spot replay symbol must be a pair like BTC/USDT"):
        replay({"BTC/USDT:USDT": btc}, strategy, None, NO_EXITS)
    daily = dataclasses.replace(sample("ETH"), timeframe="1d")
    with pytest.raises(InvalidInputError, match="one timeframe; found 1d, 1h"):
        replay({btc.symbol: btc, daily.symbol: daily}, strategy, None, NO_EXITS)
    with pytest.raises(InvalidInputError, match="needs more than"):
        replay({btc.symbol: btc.tail(50)}, strategy, None, NO_EXITS)
    with pytest.raises(InvalidInputError, match="no symbol"):
        replay({}, strategy, None, NO_EXITS)


def test_backtest_replay_cli_writes_the_replayed_trades(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XRAYBOT_STORAGE__DATA_DIR", str(tmp_path / "journal"))
    monkeypatch.delenv("XRAYBOT_CONFIG", raising=False)
    out_json = tmp_path / "replay.json"
    argv = [
        "backtest",
        "--replay",
        "--strategy",
        "ema_cross",
        "--data-dir",
        str(sample_dir()),
        "--exchange",
        "binance",
        "--symbols",
        "BTC/USDT",
        "--start",
        "2025-11-15",
        "--json",
        str(out_json),
    ]
    with restored_logging(), pytest.raises(SystemExit) as caught:
        main(argv)
    out = capsys.readouterr()
    assert caught.value.code == 0, out.out + out.err
    assert "replay" in out.out
    payload = json.loads(out_json.read_text())
    assert payload["mode"] == "replay"
    assert payload["errors"] == 0
    [row] = payload["results"]
    assert row["symbol"] == "BTC/USDT"
    assert row["trades"], "ema_cross trades on six weeks of BTC"
    assert {t["side"] for t in row["trades"]} == {"long"}

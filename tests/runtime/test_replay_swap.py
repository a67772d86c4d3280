"""``runtime.replay`` on the simulator's replayed perpetuals: shorts, contracts, refusals and
``xraybot backtest --replay --market swap``.

Kernel parity for every built-in on swaps is in tests/test_parity_swap.py.
"""

from __future__ import annotations

import dataclasses
import json
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from tests.support.logs import restored_logging
from tests.support.parity import PRICE_TOLERANCE, SIM_TAKER_FEE, compared
from xraybot.backtest.results import BacktestSettings
from xraybot.cli.app import main
from xraybot.data.import_names import recognise
from xraybot.data.importers import load
from xraybot.data.sample import sample_dir
from xraybot.matching.rules import EXIT_END
from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError
from xraybot.risk.exits import ExitRules
from xraybot.runtime.replay import replay
from xraybot.strategy.registry import load_strategy

SWAP = BacktestSettings(market="swap", directions="short", exits=ExitRules())

SHORT = '''
from typing import ClassVar

import numpy as np

from xraybot.strategy.base import Param, Signals, Strategy


class Short(Strategy):
    """Short on the first candle, never out."""

    name: ClassVar[str] = "short"
    parameters: ClassVar[tuple[Param, ...]] = ()

    def signals(self, candles, params, cache=None):
        n = len(candles)
        no = np.zeros(n, dtype=bool)
        return Signals(
            entry_long=no, exit_long=no, entry_short=np.ones(n, dtype=bool), exit_short=no
        )

    def warmup(self, params):
        return 1
'''


@cache
def sample(base: str, n: int = 500) -> Candles:
    return load(recognise(sample_dir() / "binance" / f"{base}_USDT-1h.csv.gz")).tail(n)


def test_a_short_on_the_contract_is_closed_at_the_last_close_in_base_units(
    tmp_path: Path,
) -> None:
    path = tmp_path / "short.py"
    path.write_text(SHORT)
    spec = f"{path}:Short"
    candles = dataclasses.replace(sample("BTC"), symbol="BTC/USDT:USDT")
    result = replay({candles.symbol: candles}, load_strategy(spec), None, SWAP, strategy_spec=spec)
    assert result.errors == 0
    trades = result.trades["BTC/USDT:USDT"]
    first_fill = result.first_decision_ts[candles.symbol] + candles.timeframe_ms
    assert trades.entry_ts.tolist() == [first_fill]
    assert trades.direction.tolist() == [-1]
    assert trades.exit_reason.tolist() == [EXIT_END]
    assert trades.exit_price[0] == candles.close[-1]
    # The default sizing opens a tenth of the equity: about 1,000 USDT of BTC in base units
    # (whole 0.0001 BTC contracts), not a count of contracts.
    notional = trades.amount[0] * trades.entry_price[0]
    assert notional == pytest.approx(1_000, rel=0.01)
    assert round(trades.amount[0] / 0.0001, 6) == round(trades.amount[0] / 0.0001)


def test_a_swap_replay_refuses_what_it_cannot_trade() -> None:
    btc = sample("BTC", 700)  # more than ema_cross's window: the last checks need the market
    strategy = load_strategy("ema_cross")
    one = {btc.symbol: btc}
    with pytest.raises(InvalidInputError, match="funding"):
        replay(one, strategy, None, dataclasses.replace(SWAP, funding_rate=0.0001))
    with pytest.raises(InvalidInputError, match="whole leverage"):
        replay(one, strategy, None, dataclasses.replace(SWAP, leverage=1.5))
    with pytest.raises(InvalidInputError, match="BTC/USDT:USDT"):
        replay({"BTC/USDT:BTC": btc}, strategy, None, SWAP)
    too_high = dataclasses.replace(SWAP, leverage=150, maintenance_margin_rate=0.001)
    with pytest.raises(InvalidInputError, match="at most 125x"):
        replay(one, strategy, None, too_high)
    # 20 million USDT a day: listed as a perpetual, with a 100x cap rather than BTC's 200x.
    quieter = dataclasses.replace(btc, volume=2e7 / 24 / btc.close)
    with pytest.raises(InvalidInputError, match="above the replayed contract's maximum 100"):
        replay({btc.symbol: quieter}, strategy, None, dataclasses.replace(too_high, leverage=110))
    thin = dataclasses.replace(btc, volume=np.full(len(btc), 1e-3))
    with pytest.raises(InvalidInputError, match="lists no BTC/USDT:USDT contract"):
        replay({btc.symbol: thin}, strategy, None, SWAP)


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with restored_logging(), pytest.raises(SystemExit) as caught:
        main(argv)
    out = capsys.readouterr()
    assert caught.value.code == 0, out.out + out.err
    return out.out


def _records(rows: list[dict[str, Any]]) -> SimpleNamespace:
    """What ``compared`` reads of a TradeRecords, from a ``--json`` trade list."""
    return SimpleNamespace(
        entry_ts=np.array([r["entry_ts"] for r in rows], dtype=np.int64),
        exit_ts=np.array([r["exit_ts"] for r in rows], dtype=np.int64),
    )


def test_backtest_replay_on_swaps_trades_as_the_kernel_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XRAYBOT_STORAGE__DATA_DIR", str(tmp_path / "journal"))
    monkeypatch.delenv("XRAYBOT_CONFIG", raising=False)
    common = [
        "backtest",
        "--strategy",
        "bollinger_breakout",
        "--data-dir",
        str(sample_dir()),
        "--exchange",
        "binance",
        "--symbols",
        "BTC/USDT",
        "--start",
        "2025-11-15",
        "--market",
        "swap",
        "--directions",
        "both",
        "--leverage",
        "2",
        "--fee",
        str(SIM_TAKER_FEE),
    ]
    replay_json, kernel_json = tmp_path / "replay.json", tmp_path / "kernel.json"
    assert "replay" in _cli([*common, "--replay", "--json", str(replay_json)], capsys)
    _cli([*common, "--no-cache", "--json", str(kernel_json)], capsys)
    replayed = json.loads(replay_json.read_text())
    kernel = json.loads(kernel_json.read_text())
    assert replayed["mode"] == "replay"
    assert replayed["errors"] == 0
    assert replayed["settings"]["market"] == "swap"
    [r_row], [k_row] = replayed["results"], kernel["results"]
    first_fill = r_row["first_decision_ts"] + 3_600_000
    _, k, r = compared(_records(k_row["trades"]), _records(r_row["trades"]), first_fill)
    r_trades = [r_row["trades"][i] for i in r]
    k_trades = [k_row["trades"][i] for i in k]
    assert len(k_trades) >= 3
    assert {t["side"] for t in r_trades} == {"long", "short"}

    def trip(t: dict[str, Any]) -> tuple[int, int, str]:
        return t["entry_ts"], t["exit_ts"], t["side"]

    assert [trip(t) for t in r_trades] == [trip(t) for t in k_trades]
    for got, want in zip(r_trades, k_trades, strict=True):
        assert got["entry_price"] == pytest.approx(want["entry_price"], rel=PRICE_TOLERANCE)

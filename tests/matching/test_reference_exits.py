"""The reference spec's exit rule (rsi_reversion.md, rule 3) replayed on its golden trades.

For every golden trade, ``intrabar_exit`` with the spec's stop (-3%) and target (+6%) must stay
silent on each candle from the entry candle until the exit, and on a stop-loss or take-profit
exit candle return the golden reason and price. Needs ``../shared/reference`` next to the repo;
skipped without it.
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pytest

from xraybot.matching.rules import EXIT_NONE, LONG, exit_reason_name, intrabar_exit

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference"
GOLDEN = sorted((REFERENCE / "golden").glob("*/*.trades.csv"))
STOP_LOSS, TAKE_PROFIT = 0.03, 0.06


def read_candles(path: Path) -> tuple[dict[int, int], list[tuple[float, float, float]]]:
    """Index of each open time, and ``(open, high, low)`` per candle."""
    index: dict[int, int] = {}
    rows: list[tuple[float, float, float]] = []
    with gzip.open(path, "rt", newline="") as handle:
        for row in csv.DictReader(handle):
            index[int(row["timestamp"])] = len(rows)
            rows.append((float(row["open"]), float(row["high"]), float(row["low"])))
    return index, rows


@pytest.mark.skipif(not GOLDEN, reason=f"no golden trades under {REFERENCE}")
@pytest.mark.parametrize("golden", GOLDEN, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_golden_exits_follow_intrabar_exit(golden: Path) -> None:
    candles_file = (
        REFERENCE / "data" / golden.parent.name / golden.name.replace(".trades.csv", ".csv.gz")
    )
    index, rows = read_candles(candles_file)
    with golden.open(newline="") as handle:
        trades = list(csv.DictReader(handle))
    assert trades
    for trade in trades:
        entry = float(trade["entry_price"])
        stop, target = entry * (1 - STOP_LOSS), entry * (1 + TAKE_PROFIT)
        first, last = index[int(trade["entry_ts"])], index[int(trade["exit_ts"])]
        reason = trade["exit_reason"]
        assert rows[first][0] == entry  # entries fill at the open of the entry candle
        # A signal exit sells at the exit candle's open, before that candle is checked; an end
        # exit closes after the last candle was checked.
        silent_until = last if reason == "end" else last - 1
        for i in range(first, silent_until + 1):
            price, code = intrabar_exit(LONG, *rows[i], stop, target)
            assert code == EXIT_NONE, f"{trade}: candle {i} exits with {exit_reason_name(code)}"
        if reason in ("stop_loss", "take_profit"):
            price, code = intrabar_exit(LONG, *rows[last], stop, target)
            assert exit_reason_name(code) == reason, trade
            assert price == pytest.approx(float(trade["exit_price"]), rel=1e-9), trade

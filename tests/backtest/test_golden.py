"""``rsi_reversion`` on the kernel reproduces the reference's golden trades, file by file.

Same count; same entry and exit time and exit reason; entry and exit prices within 1e-9
relative; and the compounded total return of ``golden/summary.json``. Needs
``../shared/reference``; skipped without it.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.support.shared import REFERENCE_DIR, needs_reference
from xraybot.backtest.engine import run_backtest
from xraybot.backtest.results import BacktestSettings
from xraybot.data.import_names import recognise
from xraybot.data.importers import load
from xraybot.strategy.registry import load_strategy

GOLDEN = REFERENCE_DIR / "golden"
FILES = sorted(p.relative_to(GOLDEN) for p in GOLDEN.glob("*/*.trades.csv"))
SETTINGS = BacktestSettings(equity=10_000.0, fee_rate=0.001, stake="all")


def summary() -> dict[str, dict[str, object]]:
    rows = json.loads((GOLDEN / "summary.json").read_text())
    return {row["file"]: row for row in rows}


@needs_reference
def test_every_reference_file_has_golden_trades() -> None:
    assert len(FILES) == 15
    assert {f"{f.parent}/{f.name.replace('.trades.csv', '.csv.gz')}" for f in FILES} == set(
        summary()
    )


@needs_reference
@pytest.mark.parametrize("golden", FILES, ids=str)
def test_rsi_reversion_reproduces_the_golden_trades(golden: Path) -> None:
    data_name = f"{golden.parent}/{golden.name.replace('.trades.csv', '.csv.gz')}"
    candles = load(recognise(REFERENCE_DIR / "data" / data_name))
    expected = summary()[data_name]
    assert len(candles) == expected["candles"]
    with (GOLDEN / golden).open(newline="") as handle:
        rows = list(csv.DictReader(handle))

    result = run_backtest(candles, load_strategy("rsi_reversion"), settings=SETTINGS)

    found = result.trades.to_dicts()
    assert len(found) == len(rows) == expected["trades"]
    for trade, row in zip(found, rows, strict=True):
        where = f"{data_name} trade entered at {row['entry_time']}"
        assert trade["entry_ts"] == int(row["entry_ts"]), where
        assert trade["exit_ts"] == int(row["exit_ts"]), where
        assert trade["exit_reason"] == row["exit_reason"], where
        assert trade["side"] == "long", where
        assert trade["entry_price"] == pytest.approx(float(row["entry_price"]), rel=1e-9), where
        assert trade["exit_price"] == pytest.approx(float(row["exit_price"]), rel=1e-9), where
    total_return_pct = (result.equity[-1] / SETTINGS.equity - 1) * 100
    assert total_return_pct == pytest.approx(expected["return_pct"], abs=1e-6)

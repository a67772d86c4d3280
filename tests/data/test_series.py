from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from tests.support.shared import REFERENCE_DIR, needs_reference
from xraybot.data.series import load_one, load_series
from xraybot.data.store import CandleStore
from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError

HOUR = 3_600_000


def _candles(symbol: str, n: int, start: int = 1_700_000_000_000 // HOUR * HOUR) -> Candles:
    close = 100.0 + np.arange(n, dtype=np.float64)
    return Candles(
        symbol,
        "1h",
        start + HOUR * np.arange(n, dtype=np.int64),
        close,
        close + 1.0,
        close - 1.0,
        close,
        np.ones(n),
    )


def _write_csv(path: Path, candles: Candles) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["timestamp,open,high,low,close,volume"]
    for i in range(len(candles)):
        lines.append(
            f"{candles.ts_ms[i]},{float(candles.open[i])!r},{float(candles.high[i])!r},"
            f"{float(candles.low[i])!r},{float(candles.close[i])!r},{float(candles.volume[i])!r}"
        )
    path.write_bytes(gzip.compress("\n".join(lines).encode()))


def test_reads_the_csv_layout_with_a_time_range(tmp_path: Path) -> None:
    written = _candles("BTC/USDT", 48)
    _write_csv(tmp_path / "binance" / "BTC_USDT-1h.csv.gz", written)
    [read] = load_series(tmp_path, "binance", ["BTC/USDT"], "1h")
    assert np.array_equal(read.ts_ms, written.ts_ms)
    assert np.array_equal(read.close, written.close)
    part = load_one(
        tmp_path, "binance", "BTC/USDT", "1h", int(written.ts_ms[10]), int(written.ts_ms[20])
    )
    assert len(part) == 10
    assert part.ts_ms[0] == written.ts_ms[10]


def test_the_store_wins_over_a_csv_file(tmp_path: Path) -> None:
    _write_csv(tmp_path / "binance" / "ETH_USDT-1h.csv.gz", _candles("ETH/USDT", 10))
    CandleStore(tmp_path).write("binance", _candles("ETH/USDT", 30))
    assert len(load_one(tmp_path, "binance", "ETH/USDT", "1h")) == 30


def test_missing_series_names_both_places_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as caught:
        load_series(tmp_path, "binance", ["SOL/USDT"], "1h")
    message = str(caught.value)
    assert "SOL_USDT-1h.csv.gz" in message
    assert "1h.parquet" in message
    assert "xraybot data download" in message


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="no symbols"):
        load_series(tmp_path, "binance", [], "1h")
    with pytest.raises(InvalidInputError, match="before the end"):
        load_series(tmp_path, "binance", ["BTC/USDT"], "1h", 10, 5)


def test_a_bad_file_is_refused_row_by_row(tmp_path: Path) -> None:
    path = tmp_path / "binance" / "BTC_USDT-1h.csv.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(b"timestamp,open,high,low,close,volume\n0,1,0.5,2,1,1\n"))
    with pytest.raises(InvalidInputError, match="high"):
        load_one(tmp_path, "binance", "BTC/USDT", "1h")


@needs_reference
def test_reads_the_reference_data() -> None:
    btc, eth = load_series(REFERENCE_DIR / "data", "binance", ["BTC/USDT", "ETH/USDT"], "1h")
    assert (len(btc), len(eth)) == (12556, 12554)

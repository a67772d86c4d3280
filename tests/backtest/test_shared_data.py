from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from xraybot.backtest.shared_data import SharedSeries
from xraybot.model.candles import Candles
from xraybot.model.errors import DataValidationError, InvalidInputError

COLUMNS = ("ts_ms", "open", "high", "low", "close", "volume")


def make_candles(symbol: str, n: int, seed: int, timeframe: str = "1h") -> Candles:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[100.0], close[:-1]])[:n]
    high = np.maximum(open_, close) * 1.002
    low = np.minimum(open_, close) * 0.998
    ts = 1_700_000_000_000 + np.arange(n, dtype=np.int64) * 3_600_000
    return Candles(symbol, timeframe, ts, open_, high, low, close, rng.uniform(1, 5, n))


@pytest.fixture
def series() -> list[Candles]:
    return [
        make_candles("BTC/USDT", 500, 1),
        make_candles("ETH/USDT", 37, 2, "4h"),
        make_candles("EMPTY/USDT", 0, 3),
        make_candles("SOL/USDT", 1200, 4),
    ]


def test_round_trip_keeps_every_value_and_the_index(series: list[Candles], tmp_path: Path) -> None:
    shared = SharedSeries.create(series, tmp_path)
    reopened = SharedSeries.open(shared.path)
    for loaded in (shared, reopened):
        assert len(loaded) == len(series)
        assert loaded.symbols == tuple(c.symbol for c in series)
        for original, mapped in zip(series, loaded, strict=True):
            assert mapped.timeframe == original.timeframe
            for name in COLUMNS:
                np.testing.assert_array_equal(getattr(mapped, name), getattr(original, name))
                assert getattr(mapped, name).dtype == getattr(original, name).dtype
    assert [e.offset for e in reopened.entries] == [0, 500, 537, 537]
    assert [e.rows for e in reopened.entries] == [500, 37, 0, 1200]


def test_candles_are_views_into_the_mapping_not_copies(
    series: list[Candles], tmp_path: Path
) -> None:
    shared = SharedSeries.open(SharedSeries.create(series, tmp_path).path)
    start, stop = shared.address_range
    assert stop - start == shared.path.stat().st_size
    for candles in shared:
        if len(candles) == 0:
            continue
        for name in COLUMNS:
            column = getattr(candles, name)
            address = column.__array_interface__["data"][0]
            assert start <= address
            assert address + column.nbytes <= stop
            assert column.flags.c_contiguous
    # Two views of one series share memory; slicing copies nothing either.
    first = shared[0]
    assert np.shares_memory(first.close, shared[0].close)
    assert np.shares_memory(first.tail(10).close, first.close)


def test_mapped_arrays_are_read_only(series: list[Candles], tmp_path: Path) -> None:
    shared = SharedSeries.create(series, tmp_path)
    close = shared[0].close
    assert not close.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        close[0] = 1.0
    with pytest.raises(ValueError, match="WRITEABLE"):
        close.flags.writeable = True  # the buffer underneath is a read-only mapping


def test_pickling_sends_the_path_not_the_data(series: list[Candles], tmp_path: Path) -> None:
    shared = SharedSeries.create(series, tmp_path)
    payload = pickle.dumps(shared)
    assert len(payload) < 500 < shared.nbytes
    again = pickle.loads(payload)  # noqa: S301 - our own bytes
    assert again.path == shared.path
    np.testing.assert_array_equal(again[3].close, series[3].close)


def test_files_get_unique_names_in_one_folder(series: list[Candles], tmp_path: Path) -> None:
    a = SharedSeries.create(series[:1], tmp_path)
    b = SharedSeries.create(series[1:], tmp_path)
    assert a.path != b.path
    assert a.symbols == ("BTC/USDT",)
    assert b.symbols == ("ETH/USDT", "EMPTY/USDT", "SOL/USDT")
    assert not list(tmp_path.glob(".series-*"))  # no half-written leftovers


def test_bad_inputs_are_refused(series: list[Candles], tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        SharedSeries.create(series, tmp_path / "missing")
    with pytest.raises(InvalidInputError, match="Candles"):
        SharedSeries.create([np.zeros(3)], tmp_path)  # type: ignore[list-item]
    with pytest.raises(InvalidInputError, match="does not exist"):
        SharedSeries.open(tmp_path / "nothing.arrow")
    junk = tmp_path / "junk.arrow"
    junk.write_bytes(b"not an arrow file at all")
    with pytest.raises(DataValidationError, match="not a shared series file"):
        SharedSeries.open(junk)

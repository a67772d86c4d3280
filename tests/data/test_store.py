"""The candle store: exact round trips, merging, gaps, range reads, zero-copy reads, listing."""

from __future__ import annotations

import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.store import COLUMNS, DAY, HOUR, MINUTE, T0, make_candles, same_bits, steps
from xraybot.data import store as store_module
from xraybot.data.store import (
    CandleStore,
    Gap,
    SeriesKey,
    candles_from_table,
    find_gaps,
    merge_candles,
    symbol_to_safe,
)
from xraybot.model import Candles
from xraybot.model.errors import InvalidInputError, StorageError

FAST = settings(max_examples=40, deadline=None)


@pytest.fixture
def store(tmp_path: Path) -> CandleStore:
    return CandleStore(tmp_path)


@pytest.fixture
def small_row_groups(monkeypatch: pytest.MonkeyPatch) -> int:
    """Write row groups of 1,000 rows so that range reads have groups to skip."""
    monkeypatch.setattr(store_module, "ROW_GROUP_ROWS", 1_000)
    return 1_000


@pytest.fixture
def decoded_groups(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """Record the row groups every read decodes (a spy; pyarrow still does the work)."""
    calls: list[list[int]] = []
    real = pq.ParquetFile.read_row_groups

    def spy(self: pq.ParquetFile, row_groups: list[int], *args: Any, **kwargs: Any) -> Any:
        calls.append(list(row_groups))
        return real(self, row_groups, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "read_row_groups", spy)
    return calls


# -- round trips ------------------------------------------------------------------------


@st.composite
def candle_series(draw: st.DrawFn) -> Candles:
    """Series with arbitrary float bits (tiny, huge, subnormal volumes, -0.0) and holes."""
    n = draw(st.integers(1, 60))
    offsets = sorted(draw(st.sets(st.integers(0, 500), min_size=n, max_size=n)))
    ts = T0 + np.array(offsets, dtype=np.int64) * MINUTE
    price = st.floats(1e-12, 1e12, allow_nan=False, allow_infinity=False)
    rows = [draw(st.tuples(price, price, price, price)) for _ in range(n)]
    volume = st.one_of(st.floats(0.0, 1e18, allow_nan=False), st.just(-0.0))
    o = np.array([r[0] for r in rows])
    c = np.array([r[1] for r in rows])
    h = np.maximum(np.maximum(o, c), np.array([r[2] for r in rows]))
    lo = np.minimum(np.minimum(o, c), np.array([r[3] for r in rows]))
    v = np.array([draw(volume) for _ in range(n)])
    return Candles("PEPE/USDT", "1m", ts, o, h, lo, c, v)


@FAST
@given(candle_series())
def test_a_write_reads_back_bit_for_bit(candles: Candles) -> None:
    with tempfile.TemporaryDirectory() as root:
        store = CandleStore(Path(root))
        report = store.write("mexc", candles)
        assert (report.added, report.replaced, report.rows) == (len(candles), 0, len(candles))
        assert same_bits(store.read("mexc", "PEPE/USDT", "1m"), candles)


def test_a_swap_symbol_round_trips_and_its_file_is_where_the_layout_says(
    store: CandleStore, tmp_path: Path
) -> None:
    candles = make_candles(steps(T0, 48, HOUR), symbol="BTC/USDT:USDT", timeframe="1h")
    store.write("mexc", candles)
    path = tmp_path / "ohlcv" / "mexc" / "BTC_USDT-USDT" / "1h.parquet"
    assert store.path("mexc", "BTC/USDT:USDT", "1h") == path
    assert path.is_file()
    assert same_bits(store.read("mexc", "BTC/USDT:USDT", "1h"), candles)
    assert symbol_to_safe("BTC/USDT") == "BTC_USDT"


def test_reading_a_series_that_is_not_stored_gives_empty_candles(store: CandleStore) -> None:
    empty = store.read("mexc", "ETH/USDT", "1h")
    assert len(empty) == 0
    assert (empty.symbol, empty.timeframe) == ("ETH/USDT", "1h")
    assert store.last_ts("mexc", "ETH/USDT", "1h") is None
    info = store.info("mexc", "ETH/USDT", "1h")
    assert (info.rows, info.first_ms, info.last_ms, info.gaps, info.bytes) == (0, None, None, (), 0)


def test_writing_nothing_creates_or_changes_no_file(store: CandleStore, tmp_path: Path) -> None:
    report = store.write("mexc", Candles.empty("BTC/USDT", "1m"))
    assert (report.added, report.replaced, report.rows) == (0, 0, 0)
    assert not (tmp_path / "ohlcv").exists()
    store.write("mexc", make_candles(steps(T0, 7)))
    before = store.path("mexc", "BTC/USDT", "1m").stat()
    report = store.write("mexc", Candles.empty("BTC/USDT", "1m"))
    assert (report.added, report.replaced, report.rows) == (0, 0, 7)
    assert store.path("mexc", "BTC/USDT", "1m").stat().st_ino == before.st_ino


# -- merging ----------------------------------------------------------------------------


def test_an_overlapping_write_merges_and_the_new_row_wins(store: CandleStore) -> None:
    old = make_candles(steps(T0, 10), seed=1)
    new = make_candles(steps(T0 + 5 * MINUTE, 10), seed=2, scale=3.0)
    store.write("mexc", old)
    report = store.write("mexc", new)
    assert (report.added, report.replaced, report.rows) == (5, 5, 15)
    got = store.read("mexc", "BTC/USDT", "1m")
    np.testing.assert_array_equal(got.ts_ms, steps(T0, 15))
    np.testing.assert_array_equal(got.close[:5], old.close[:5])
    np.testing.assert_array_equal(got.close[5:], new.close)  # every overlapping row replaced
    np.testing.assert_array_equal(got.volume[5:], new.volume)


def test_a_write_before_the_stored_rows_and_one_filling_a_hole_keep_the_order(
    store: CandleStore,
) -> None:
    store.write("mexc", make_candles(steps(T0 + 100 * MINUTE, 5)))
    store.write("mexc", make_candles(steps(T0, 5)))  # before everything
    store.write("mexc", make_candles(steps(T0 + 50 * MINUTE, 3)))  # into the hole
    got = store.read("mexc", "BTC/USDT", "1m")
    expected = np.concatenate(
        [steps(T0, 5), steps(T0 + 50 * MINUTE, 3), steps(T0 + 100 * MINUTE, 5)]
    )
    np.testing.assert_array_equal(got.ts_ms, expected)


@FAST
@given(
    st.sets(st.integers(0, 200), max_size=60),
    st.sets(st.integers(0, 200), max_size=60),
)
def test_merge_is_the_union_with_new_values_on_equal_times(
    old_at: set[int], new_at: set[int]
) -> None:
    old = make_candles(T0 + np.array(sorted(old_at), dtype=np.int64) * MINUTE, seed=1)
    new = make_candles(T0 + np.array(sorted(new_at), dtype=np.int64) * MINUTE, seed=2, scale=5)
    merged, replaced = merge_candles(old, new)
    model = {int(t): float(c) for t, c in zip(old.ts_ms, old.close, strict=True)}
    model.update({int(t): float(c) for t, c in zip(new.ts_ms, new.close, strict=True)})
    assert replaced == len(old_at & new_at)
    assert merged.ts_ms.tolist() == sorted(model)
    assert merged.close.tolist() == [model[t] for t in sorted(model)]


# -- gaps -------------------------------------------------------------------------------


def test_gaps_are_found_with_their_bounds_and_counts(store: CandleStore) -> None:
    runs = [(0, 10), (13, 5), (100, 1), (102, 2)]  # (first minute, length)
    minutes = np.concatenate([steps(T0 + first * MINUTE, n) for first, n in runs])
    store.write("mexc", make_candles(minutes))
    info = store.info("mexc", "BTC/USDT", "1m")
    assert info.gaps == (
        Gap(start_ms=T0 + 10 * MINUTE, end_ms=T0 + 13 * MINUTE, missing=3),
        Gap(start_ms=T0 + 18 * MINUTE, end_ms=T0 + 100 * MINUTE, missing=82),
        Gap(start_ms=T0 + 101 * MINUTE, end_ms=T0 + 102 * MINUTE, missing=1),
    )
    assert info.missing == 86
    assert (info.rows, info.first_ms, info.last_ms) == (18, T0, T0 + 103 * MINUTE)
    assert info.bytes == store.path("mexc", "BTC/USDT", "1m").stat().st_size > 0


def test_a_contiguous_series_has_no_gaps_and_weekly_candles_open_on_monday(
    store: CandleStore,
) -> None:
    week = 7 * DAY
    weeks = np.concatenate([steps(T0, 3, week), steps(T0 + 5 * week, 2, week)])
    store.write("binance", make_candles(weeks, timeframe="1w"))
    assert store.info("binance", "BTC/USDT", "1w").gaps == (Gap(T0 + 3 * week, T0 + 5 * week, 2),)
    assert find_gaps(steps(T0, 100, HOUR), HOUR) == ()
    assert find_gaps(np.array([T0], dtype=np.int64), HOUR) == ()


# -- range reads ------------------------------------------------------------------------


def test_range_reads_are_half_open_and_match_slicing(
    store: CandleStore, small_row_groups: int
) -> None:
    full = make_candles(steps(T0, 5_500))
    store.write("mexc", full)
    edges = [None, T0 - MINUTE, T0, T0 + 999 * MINUTE, T0 + 1000 * MINUTE, T0 + 1001 * MINUTE]
    edges += [T0 + 5_499 * MINUTE, T0 + 5_500 * MINUTE, T0 + 9_000 * MINUTE, T0 + 30_001]
    for start in edges:
        for end in edges:
            got = store.read("mexc", "BTC/USDT", "1m", start, end)
            assert same_bits(got, full.between(start, end)), (start, end)
    one = store.read("mexc", "BTC/USDT", "1m", T0 + 7 * MINUTE, T0 + 8 * MINUTE)
    assert one.ts_ms.tolist() == [T0 + 7 * MINUTE]  # start included, end excluded


def test_a_range_read_decodes_only_the_row_groups_it_needs(
    store: CandleStore, small_row_groups: int, decoded_groups: list[list[int]]
) -> None:
    store.write("mexc", make_candles(steps(T0, 20_000)))
    assert pq.ParquetFile(store.path("mexc", "BTC/USDT", "1m")).metadata.num_row_groups == 20
    decoded_groups.clear()
    got = store.read("mexc", "BTC/USDT", "1m", T0 + 4_500 * MINUTE, T0 + 5_500 * MINUTE)
    assert len(got) == 1_000
    assert decoded_groups == [[4, 5]]
    store.read("mexc", "BTC/USDT", "1m", T0 + 30_000 * MINUTE, None)
    assert decoded_groups == [[4, 5]]  # nothing overlaps: nothing decoded
    store.read("mexc", "BTC/USDT", "1m")
    assert decoded_groups[-1] == list(range(20))


# -- zero copy --------------------------------------------------------------------------


def _buffer_view(table: pa.Table, name: str) -> np.ndarray:
    chunks = table.column(name).chunks
    assert len(chunks) == 1
    chunk = chunks[0]
    dtype = np.int64 if name == "ts_ms" else np.float64
    whole = np.frombuffer(chunk.buffers()[1], dtype=dtype)
    return whole[chunk.offset : chunk.offset + len(chunk)]


@pytest.mark.parametrize("rows_per_group", [65_536, 1_000])
def test_candles_view_the_arrow_buffers_without_a_copy(
    store: CandleStore, monkeypatch: pytest.MonkeyPatch, rows_per_group: int
) -> None:
    monkeypatch.setattr(store_module, "ROW_GROUP_ROWS", rows_per_group)
    store.write("mexc", make_candles(steps(T0, 20_000)))
    for start, end in [(None, None), (T0 + 1_500 * MINUTE, T0 + 17_000 * MINUTE)]:
        table = store.read_table("mexc", "BTC/USDT", "1m", start, end)
        candles = candles_from_table(table, "BTC/USDT", "1m")
        for name in COLUMNS:
            column = getattr(candles, name)
            assert np.shares_memory(column, _buffer_view(table, name)), name
            assert not column.flags.writeable


def test_a_full_read_allocates_no_numpy_copy_of_the_data(store: CandleStore) -> None:
    rows = 200_000
    store.write("mexc", make_candles(steps(T0, rows)))
    store.read("mexc", "BTC/USDT", "1m")  # warm imports and caches
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        candles = store.read("mexc", "BTC/USDT", "1m")
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(candles) == rows
    # numpy reports its own allocations to tracemalloc (Arrow's are not traced): a copy of
    # the six columns would hold rows * 48 bytes; the views hold a few hundred bytes.
    assert held < rows * 48 // 100, held


# -- listing and names ------------------------------------------------------------------


def test_series_lists_everything_stored_and_ignores_temp_and_foreign_files(
    store: CandleStore, tmp_path: Path
) -> None:
    store.write("mexc", make_candles(steps(T0, 3, HOUR), symbol="ETH/USDT", timeframe="1h"))
    store.write("mexc", make_candles(steps(T0, 3), symbol="ETH/USDT", timeframe="1m"))
    store.write("mexc", make_candles(steps(T0, 3, HOUR), symbol="BTC/USDT:USDT", timeframe="1h"))
    store.write("binance", make_candles(steps(T0, 3, DAY), timeframe="1d"))
    folder = tmp_path / "ohlcv" / "mexc" / "ETH_USDT"
    (folder / ".1h.parquet.123-abcd.tmp").write_bytes(b"half a file")
    (folder / "notes.txt").write_text("not ours")
    (folder / "weird.parquet").write_bytes(b"not a timeframe")
    assert store.series() == [
        SeriesKey("binance", "BTC/USDT", "1d"),
        SeriesKey("mexc", "BTC/USDT:USDT", "1h"),
        SeriesKey("mexc", "ETH/USDT", "1m"),
        SeriesKey("mexc", "ETH/USDT", "1h"),
    ]
    assert store.series("binance") == [SeriesKey("binance", "BTC/USDT", "1d")]
    assert store.series("kucoin") == []
    assert store.last_ts("mexc", "ETH/USDT", "1h") == T0 + 2 * HOUR


@pytest.mark.parametrize(
    ("exchange", "symbol", "timeframe"),
    [
        ("MEXC", "BTC/USDT", "1m"),
        ("../mexc", "BTC/USDT", "1m"),
        ("mexc", "../BTC", "1m"),
        ("mexc", "BTC USDT", "1m"),
        ("mexc", "", "1m"),
        ("mexc", "BTC/USDT", "1x"),
    ],
)
def test_names_that_are_not_file_safe_are_refused(
    store: CandleStore, exchange: str, symbol: str, timeframe: str
) -> None:
    with pytest.raises(InvalidInputError, match="found"):
        store.read(exchange, symbol, timeframe)


def test_two_symbols_sharing_a_file_name_are_refused(store: CandleStore) -> None:
    store.write("mexc", make_candles(steps(T0, 3), symbol="A_B/USDT"))
    with pytest.raises(StorageError, match="'A_B/USDT', not 'A/B_USDT'"):
        store.write("mexc", make_candles(steps(T0, 3), symbol="A/B_USDT"))
    with pytest.raises(StorageError, match="same file name"):
        store.read("mexc", "A/B_USDT", "1m")


def test_a_damaged_file_is_reported_and_never_overwritten(store: CandleStore) -> None:
    path = store.path("mexc", "BTC/USDT", "1m")
    store.write("mexc", make_candles(steps(T0, 3)))
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(StorageError, match=r"could not read the candle file .*1m\.parquet"):
        store.read("mexc", "BTC/USDT", "1m")
    with pytest.raises(StorageError, match="download or import the series again"):
        store.write("mexc", make_candles(steps(T0 + 3 * MINUTE, 3)))
    assert path.read_bytes() == b"PAR1 this is not parquet"


def test_a_parquet_file_of_other_columns_is_refused(store: CandleStore) -> None:
    path = store.path("mexc", "BTC/USDT", "1m")
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table({"date": [1, 2], "close": [1.0, 2.0]}), path)
    with pytest.raises(StorageError, match="not an xraybot candle file"):
        store.read("mexc", "BTC/USDT", "1m")

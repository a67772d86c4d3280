"""candles.py: timeframes, validation, read-only columns and copy-free closed-candle slicing."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.model import strategies as gen
from xraybot.model import Candles, timeframe_to_ms
from xraybot.model.errors import DataValidationError, InvalidInputError

COLUMNS = ("ts_ms", "open", "high", "low", "close", "volume")
PRICE_COLUMNS = COLUMNS[1:]


def columns_for(ts: np.ndarray) -> dict[str, np.ndarray]:
    """Distinct, row-identifying values per column, so a wrong slice cannot look right."""
    base = ts.astype(np.float64) / 1000.0
    return {
        "ts_ms": ts,
        "open": base + 0.1,
        "high": base + 0.2,
        "low": base + 0.3,
        "close": base + 0.4,
        "volume": base + 0.5,
    }


def make(ts: np.ndarray | list[int], timeframe: str = "1m", symbol: str = "BTC/USDT") -> Candles:
    array = np.asarray(ts, dtype=np.int64)
    return Candles(symbol, timeframe, **columns_for(array))


def assert_rows(candles: Candles, expected_ts: np.ndarray) -> None:
    """The slice holds exactly the rows stamped ``expected_ts``, every column aligned."""
    expected = columns_for(np.asarray(expected_ts, dtype=np.int64))
    assert len(candles) == len(expected_ts)
    for name in COLUMNS:
        np.testing.assert_array_equal(getattr(candles, name), expected[name], err_msg=name)


# --------------------------------------------------------------------------- timeframes


@pytest.mark.parametrize(
    ("timeframe", "ms"),
    [
        ("1m", 60_000),
        ("3m", 180_000),
        ("15m", 900_000),
        ("1h", 3_600_000),
        ("4h", 14_400_000),
        ("12h", 43_200_000),
        ("1d", 86_400_000),
        ("3d", 259_200_000),
        ("1w", 604_800_000),
    ],
)
def test_timeframe_to_ms_known_values(timeframe: str, ms: int) -> None:
    assert timeframe_to_ms(timeframe) == ms


@gen.FAST
@given(count=st.integers(1, 10_000), unit=st.sampled_from("mhdw"))
def test_timeframe_to_ms_scales_with_the_count(count: int, unit: str) -> None:
    assert timeframe_to_ms(f"{count}{unit}") == count * timeframe_to_ms(f"1{unit}")


@pytest.mark.parametrize(
    "timeframe",
    ["", "1", "m", "0m", "00h", "1M", "1s", "1y", "1 m", " 1m", "-1m", "1.5h", "h1", "1mm", "1H"],
)
def test_timeframe_to_ms_refuses_malformed_values_naming_them(timeframe: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        timeframe_to_ms(timeframe)
    assert f"found {timeframe!r}" in str(caught.value)


# Regression: `^...$` with re.match accepts a trailing newline, and `\d` accepts
# any Unicode digit, so these odd strings pass as timeframes (and would name files and keys).
@pytest.mark.parametrize("timeframe", ["1m\n", "\u0661m"], ids=["trailing-newline", "arabic-1"])
def test_timeframe_to_ms_refuses_trailing_newline_and_non_ascii_digits(timeframe: str) -> None:
    with pytest.raises(InvalidInputError):
        timeframe_to_ms(timeframe)


def test_candles_refuse_a_bad_timeframe() -> None:
    with pytest.raises(InvalidInputError, match=r"found '1x'"):
        make([0, 60_000], timeframe="1x")


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "ts",
    [
        np.array([0, 60_000], dtype=np.int32),
        np.array([0.0, 60_000.0], dtype=np.float64),
        np.array([0, 60_000], dtype=np.uint64),
        [0, 60_000],
    ],
    ids=["int32", "float64", "uint64", "list"],
)
def test_candles_refuse_ts_that_is_not_int64(ts: object) -> None:
    good = columns_for(np.array([0, 60_000], dtype=np.int64))
    with pytest.raises(DataValidationError, match=r"ts_ms must be a numpy int64 array") as caught:
        Candles("BTC/USDT", "1m", ts, *(good[name] for name in PRICE_COLUMNS))  # type: ignore[arg-type]
    found = getattr(ts, "dtype", type(ts).__name__)
    assert f"found {found}" in str(caught.value)


@pytest.mark.parametrize("column", PRICE_COLUMNS)
@pytest.mark.parametrize("dtype", [np.float32, np.int64, object])
def test_candles_refuse_price_columns_that_are_not_float64(column: str, dtype: type) -> None:
    fields = columns_for(np.array([0, 60_000], dtype=np.int64))
    fields[column] = fields[column].astype(dtype)
    with pytest.raises(DataValidationError) as caught:
        Candles("BTC/USDT", "1m", **fields)
    message = str(caught.value)
    assert f".{column} must be a numpy float64 array" in message
    assert f"found {np.dtype(dtype)}" in message


@pytest.mark.parametrize("column", PRICE_COLUMNS)
@pytest.mark.parametrize("length", [0, 2, 4])
def test_candles_refuse_mismatched_lengths(column: str, length: int) -> None:
    fields = columns_for(np.array([0, 60_000, 120_000], dtype=np.int64))
    fields[column] = np.zeros(length, dtype=np.float64)
    with pytest.raises(DataValidationError) as caught:
        Candles("BTC/USDT", "1m", **fields)
    message = str(caught.value)
    assert f".{column} must have the same length as ts_ms (3)" in message
    assert f"found shape ({length},)" in message


def test_candles_refuse_two_dimensional_columns() -> None:
    fields = columns_for(np.array([0, 60_000], dtype=np.int64))
    with pytest.raises(DataValidationError, match=r"ts_ms must be 1-D; found 2-D"):
        Candles("BTC/USDT", "1m", **{**fields, "ts_ms": fields["ts_ms"].reshape(1, 2)})
    with pytest.raises(DataValidationError, match=r"\.low must have the same length"):
        Candles("BTC/USDT", "1m", **{**fields, "low": fields["low"].reshape(2, 1)})


@pytest.mark.parametrize(
    ("ts", "row", "found", "after"),
    [
        ([0, 120_000, 60_000], 2, 60_000, 120_000),  # out of order
        ([0, 60_000, 60_000, 120_000], 2, 60_000, 60_000),  # duplicate
        ([60_000, 0], 1, 0, 60_000),
    ],
)
def test_candles_refuse_unsorted_or_duplicate_timestamps_naming_the_row(
    ts: list[int], row: int, found: int, after: int
) -> None:
    with pytest.raises(DataValidationError) as caught:
        make(ts)
    message = str(caught.value)
    assert f"row {row} has {found} after {after}" in message
    assert "Candles('BTC/USDT', '1m')" in message


@gen.FAST
@given(data=st.data(), duplicate=st.booleans())
def test_candles_name_the_first_bad_row(data: st.DataObject, duplicate: bool) -> None:
    ts = data.draw(gen.ascending_ts(60_000, max_size=30).filter(lambda a: len(a) >= 2))
    row = data.draw(st.integers(1, len(ts) - 1))
    broken = ts.copy()
    broken[row] = ts[row - 1] if duplicate else ts[row - 1] - data.draw(st.integers(1, 10**6))
    with pytest.raises(DataValidationError, match=rf"row {row} has {broken[row]} after"):
        make(broken)


# --------------------------------------------------------------------------- read-only


@pytest.mark.parametrize("column", COLUMNS)
def test_columns_are_read_only_but_the_callers_arrays_stay_writable(column: str) -> None:
    fields = columns_for(np.array([0, 60_000, 120_000], dtype=np.int64))
    candles = Candles("BTC/USDT", "1m", **fields)
    with pytest.raises(ValueError, match="read-only"):
        getattr(candles, column)[0] = 1
    assert not getattr(candles, column).flags.writeable
    assert fields[column].flags.writeable
    fields[column][0] = 7  # the caller's own array is not frozen behind their back
    assert fields[column][0] == 7


@pytest.mark.parametrize("method", ["closed", "between", "tail"])
def test_slices_are_read_only_too(method: str) -> None:
    candles = make([0, 60_000, 120_000])
    part = {
        "closed": lambda: candles.closed(10**9),
        "between": lambda: candles.between(0, 10**9),
        "tail": lambda: candles.tail(2),
    }[method]()
    for name in COLUMNS:
        with pytest.raises(ValueError, match="read-only"):
            getattr(part, name)[0] = 1


def test_candles_fields_cannot_be_reassigned() -> None:
    candles = make([0, 60_000])
    with pytest.raises(dataclasses.FrozenInstanceError):
        candles.close = np.zeros(2)  # type: ignore[misc]


def test_construction_does_not_copy() -> None:
    fields = columns_for(np.array([0, 60_000], dtype=np.int64))
    candles = Candles("BTC/USDT", "1m", **fields)
    for name in COLUMNS:
        assert np.shares_memory(getattr(candles, name), fields[name])


# ----------------------------------------------------------------- closed / between / tail


@gen.FAST
@given(
    data=st.data(),
    timeframe=st.sampled_from(sorted(gen.TIMEFRAMES_MS)),
)
def test_closed_returns_exactly_the_candles_closed_by_now(
    data: st.DataObject, timeframe: str
) -> None:
    tf = gen.TIMEFRAMES_MS[timeframe]
    ts = data.draw(gen.ascending_ts(tf), label="ts")
    low = int(ts[0]) - 2 * tf if len(ts) else 0
    high = int(ts[-1]) + 2 * tf if len(ts) else 10 * tf
    # Often exactly on a close boundary, where an off-by-one would show.
    on_boundary = st.sampled_from([int(t) + tf + d for t in ts for d in (-1, 0, 1)] or [0])
    now = data.draw(st.one_of(st.integers(low, high), on_boundary), label="now")
    candles = make(ts, timeframe)
    closed = candles.closed(now)
    assert_rows(closed, ts[ts + tf <= now])
    if len(closed):
        for name in COLUMNS:
            assert np.shares_memory(getattr(closed, name), getattr(candles, name)), name


def test_closed_boundary_example() -> None:
    candles = make([0, 60_000, 120_000])
    assert len(candles.closed(119_999)) == 1  # the 60_000 candle closes at 120_000
    assert len(candles.closed(120_000)) == 2
    assert len(candles.closed(59_999)) == 0
    assert len(candles.closed(180_000)) == 3


@gen.FAST
@given(
    data=st.data(),
    start=st.one_of(st.none(), st.integers(-5, 50)),
    end=st.one_of(st.none(), st.integers(-5, 50)),
)
def test_between_is_half_open(data: st.DataObject, start: int | None, end: int | None) -> None:
    tf = 60_000
    ts = data.draw(gen.ascending_ts(tf, max_size=20))
    origin = int(ts[0]) if len(ts) else 0
    start_ms = None if start is None else origin + start * tf
    end_ms = None if end is None else origin + end * tf
    candles = make(ts)
    keep = np.ones(len(ts), dtype=bool)
    if start_ms is not None:
        keep &= ts >= start_ms
    if end_ms is not None:
        keep &= ts < end_ms
    part = candles.between(start_ms, end_ms)
    assert_rows(part, ts[keep])
    if len(part):
        assert np.shares_memory(part.close, candles.close)


def test_between_example() -> None:
    candles = make([0, 60_000, 120_000, 180_000])
    assert_rows(candles.between(60_000, 180_000), np.array([60_000, 120_000]))
    assert_rows(candles.between(60_001, 180_001), np.array([120_000, 180_000]))
    assert len(candles.between(180_000, 60_000)) == 0
    assert_rows(candles.between(), candles.ts_ms)


@gen.FAST
@given(data=st.data(), count=st.integers(0, 50))
def test_tail_returns_the_last_rows(data: st.DataObject, count: int) -> None:
    ts = data.draw(gen.ascending_ts(60_000, max_size=30))
    candles = make(ts)
    part = candles.tail(count)
    assert_rows(part, ts[len(ts) - min(count, len(ts)) :])
    if len(part):
        assert np.shares_memory(part.ts_ms, candles.ts_ms)


def test_tail_refuses_a_negative_count() -> None:
    with pytest.raises(InvalidInputError, match=r"tail count must be >= 0; found -1"):
        make([0]).tail(-1)


def test_slices_keep_symbol_and_timeframe() -> None:
    candles = make([0, 3_600_000], timeframe="1h", symbol="ETH/USDT")
    for part in (candles.closed(10**10), candles.between(0, 1), candles.tail(1)):
        assert (part.symbol, part.timeframe, part.timeframe_ms) == ("ETH/USDT", "1h", 3_600_000)


def test_empty() -> None:
    candles = Candles.empty("BTC/USDT", "5m")
    assert len(candles) == 0
    assert candles.timeframe_ms == 300_000
    assert candles.ts_ms.dtype == np.int64
    for name in PRICE_COLUMNS:
        column = getattr(candles, name)
        assert column.dtype == np.float64
        assert column.shape == (0,)
        assert not column.flags.writeable
    assert len(candles.closed(10**12)) == 0
    assert len(candles.between(0, 10**12)) == 0
    assert len(candles.tail(5)) == 0


def test_empty_validates_the_timeframe() -> None:
    with pytest.raises(InvalidInputError, match=r"found '5x'"):
        Candles.empty("BTC/USDT", "5x")

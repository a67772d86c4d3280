"""The point-in-time universe: listing, last full day's volume and delisting, as known then."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.store import DAY, HOUR, T0, make_candles, steps
from xraybot.data.store import CandleStore
from xraybot.data.universe import UniverseRow, UniverseStore
from xraybot.model import Candles
from xraybot.model.errors import DataValidationError, InvalidInputError, StorageError

PROPERTY = settings(max_examples=30, deadline=None)
BATCHES = settings(max_examples=15, deadline=None)


@pytest.fixture
def universe(tmp_path: Path) -> UniverseStore:
    return UniverseStore(tmp_path)


def test_daily_volumes_are_used_only_once_each_day_has_ended(universe: UniverseStore) -> None:
    days = steps(T0, 5, DAY)
    universe.record_daily("mexc", "BTC/USDT", days, np.array([10.0, 20.0, 30.0, 40.0, 50.0]))
    assert universe.as_of("mexc", T0) == []
    assert universe.as_of("mexc", T0 + DAY - 1) == []  # the first day has not ended
    assert universe.as_of("mexc", T0 + DAY) == [UniverseRow("BTC/USDT", T0, None, 10.0, 1)]
    assert universe.as_of("mexc", T0 + 3 * DAY + 5 * HOUR) == [
        UniverseRow("BTC/USDT", T0, None, 30.0, 3)
    ]


def test_a_symbol_without_data_for_more_than_n_days_is_marked_delisted(tmp_path: Path) -> None:
    universe = UniverseStore(tmp_path, delisted_after_days=3)
    universe.record_daily("mexc", "DEAD/USDT", steps(T0, 2, DAY), np.array([5.0, 6.0]))
    last_close = T0 + 2 * DAY
    assert universe.as_of("mexc", last_close + 3 * DAY)[0].delisted_ms is None
    row = universe.as_of("mexc", last_close + 3 * DAY + 1)[0]
    assert (row.delisted_ms, row.quote_volume_24h, row.days_listed) == (last_close, 6.0, 5)
    with pytest.raises(InvalidInputError, match="found 0"):
        UniverseStore(tmp_path, delisted_after_days=0)


def test_symbols_come_largest_volume_first_and_exchanges_stay_apart(
    universe: UniverseStore,
) -> None:
    days = steps(T0, 3, DAY)
    universe.record_daily("mexc", "ETH/USDT", days, np.array([1.0, 2.0, 3.0]))
    universe.record_daily("mexc", "BTC/USDT", days, np.array([9.0, 9.0, 9.0]))
    universe.record_daily("mexc", "NEW/USDT", days[2:], np.array([100.0]))
    universe.record_daily("binance", "SOL/USDT", days, np.array([1.0, 1.0, 1.0]))
    rows = universe.as_of("mexc", T0 + 2 * DAY + HOUR)
    assert [(r.symbol, r.quote_volume_24h) for r in rows] == [("BTC/USDT", 9.0), ("ETH/USDT", 2.0)]
    rows = universe.as_of("mexc", T0 + 3 * DAY)
    assert [r.symbol for r in rows] == ["NEW/USDT", "BTC/USDT", "ETH/USDT"]
    assert [r.symbol for r in universe.as_of("binance", T0 + 3 * DAY)] == ["SOL/USDT"]
    assert universe.as_of("kucoin", T0 + 3 * DAY) == []


def test_recording_a_day_again_replaces_it(universe: UniverseStore) -> None:
    universe.record_daily("mexc", "BTC/USDT", steps(T0, 2, DAY), np.array([1.0, 2.0]))
    universe.record_daily("mexc", "BTC/USDT", steps(T0 + DAY, 2, DAY), np.array([7.0, 8.0]))
    assert universe.as_of("mexc", T0 + 2 * DAY)[0].quote_volume_24h == 7.0
    assert universe.as_of("mexc", T0 + 3 * DAY)[0].quote_volume_24h == 8.0


def test_another_instance_sees_new_records(tmp_path: Path) -> None:
    reader, writer = UniverseStore(tmp_path), UniverseStore(tmp_path)
    writer.record_daily("mexc", "BTC/USDT", steps(T0, 1, DAY), np.array([1.0]))
    assert len(reader.as_of("mexc", T0 + DAY)) == 1
    writer.record_daily("mexc", "ETH/USDT", steps(T0, 1, DAY), np.array([2.0]))
    assert len(reader.as_of("mexc", T0 + DAY)) == 2


def test_candles_give_close_times_volume_per_utc_day(universe: UniverseStore) -> None:
    hours = steps(T0 + 20 * HOUR, 30, HOUR)  # 4 hours of day 0, then 24 of day 1, 2 of day 2
    candles = make_candles(hours, timeframe="1h")
    universe.record_from_candles("mexc", candles)
    quote = candles.close * candles.volume
    row = universe.as_of("mexc", T0 + 2 * DAY)[0]
    assert row.listed_ms == T0 + 20 * HOUR
    assert row.quote_volume_24h == pytest.approx(quote[4:28].sum(), rel=1e-12)
    assert universe.as_of("mexc", T0 + 20 * HOUR) == []  # its first candle is still open
    first = universe.as_of("mexc", T0 + 21 * HOUR)[0]
    assert (first.listed_ms, first.quote_volume_24h, first.days_listed) == (T0 + 20 * HOUR, 0.0, 0)


def test_many_series_are_recorded_in_one_rewrite(universe: UniverseStore) -> None:
    series = [
        make_candles(steps(T0, 48, HOUR), symbol=symbol, timeframe="1h", seed=i)
        for i, symbol in enumerate(["A/USDT", "B/USDT", "C/USDT"])
    ]
    universe.record_many_from_candles("mexc", series)
    rows = {r.symbol: r for r in universe.as_of("mexc", T0 + 2 * DAY)}
    for candles in series:
        second_day = (candles.close * candles.volume)[24:].sum()
        assert rows[candles.symbol].quote_volume_24h == pytest.approx(second_day, rel=1e-12)
        assert rows[candles.symbol].days_listed == 2


def test_candles_of_a_timeframe_that_does_not_divide_a_day_are_refused(
    universe: UniverseStore,
) -> None:
    with pytest.raises(InvalidInputError, match="found 1w for BTC/USDT"):
        universe.record_from_candles("mexc", make_candles(steps(T0, 3, 7 * DAY), timeframe="1w"))
    with pytest.raises(InvalidInputError, match="found 7h"):
        universe.record_from_candles("mexc", make_candles(steps(T0, 3, 7 * HOUR), timeframe="7h"))


def test_bad_candles_or_daily_values_are_refused_with_their_row(universe: UniverseStore) -> None:
    candles = make_candles(steps(T0, 5, HOUR), timeframe="1h")
    volume = candles.volume.copy()
    volume[2] = -1.0
    bad = Candles("BTC/USDT", "1h", candles.ts_ms, candles.open, candles.high, candles.low,
                  candles.close, volume)  # fmt: skip
    with pytest.raises(DataValidationError, match="row 2"):
        universe.record_from_candles("mexc", bad)
    days = steps(T0, 3, DAY)
    with pytest.raises(DataValidationError, match=r"00:00 UTC.*row 1 \(day_ms"):
        universe.record_daily("mexc", "BTC/USDT", days + np.array([0, 1, 0]), np.ones(3))
    with pytest.raises(DataValidationError, match=r"appear once.*row 2"):
        universe.record_daily("mexc", "BTC/USDT", days[[0, 1, 1]], np.ones(3))
    with pytest.raises(DataValidationError, match=r"finite and >= 0.*row 0"):
        universe.record_daily("mexc", "BTC/USDT", days, np.array([np.nan, 1.0, 1.0]))
    with pytest.raises(DataValidationError, match="one length"):
        universe.record_daily("mexc", "BTC/USDT", days, np.ones(2))
    assert not universe.path("mexc").exists()


def test_a_damaged_universe_file_is_reported(universe: UniverseStore) -> None:
    universe.path("mexc").parent.mkdir(parents=True)
    universe.path("mexc").write_bytes(b"garbage")
    with pytest.raises(StorageError, match="could not read the universe file"):
        universe.as_of("mexc", T0)


# -- no lookahead -----------------------------------------------------------------------


@st.composite
def histories(draw: st.DrawFn) -> list[Candles]:
    """A few symbols with random listing times, lengths, holes, zero volumes and timeframes."""
    out = []
    for symbol in draw(st.lists(st.sampled_from(["A/USDT", "B/USDT", "C/USDT"]), min_size=1,
                                max_size=3, unique=True)):  # fmt: skip
        timeframe = draw(st.sampled_from(["1h", "4h", "1d"]))
        step = {"1h": HOUR, "4h": 4 * HOUR, "1d": DAY}[timeframe]
        start = T0 + draw(st.integers(0, 10 * DAY // step)) * step
        count = draw(st.integers(1, 20 * DAY // step))
        keep = draw(st.lists(st.booleans(), min_size=count, max_size=count))
        ts = start + np.flatnonzero(np.array(keep) | (np.arange(count) == 0)) * step
        candles = make_candles(ts, symbol=symbol, timeframe=timeframe, seed=len(out))
        if draw(st.booleans()):  # some days trade nothing at all
            volume = np.where(np.arange(len(candles)) % 3 == 0, 0.0, candles.volume)
            candles = Candles(symbol, timeframe, candles.ts_ms, candles.open, candles.high,
                              candles.low, candles.close, volume)  # fmt: skip
        out.append(candles)
    return out


@PROPERTY
@given(histories(), st.integers(-DAY, 35 * DAY), st.integers(1, 5))
def test_as_of_never_uses_data_from_after_its_time(
    history: list[Candles], offset_ms: int, delisted_after_days: int
) -> None:
    ts_ms = T0 + offset_ms
    with tempfile.TemporaryDirectory() as full_root, tempfile.TemporaryDirectory() as past_root:
        full = UniverseStore(Path(full_root), delisted_after_days=delisted_after_days)
        for candles in history:
            full.record_from_candles("mexc", candles)
        past = UniverseStore(Path(past_root), delisted_after_days=delisted_after_days)
        for candles in history:
            known = candles.closed(ts_ms)  # what had closed by then, and nothing else
            if len(known):
                past.record_from_candles("mexc", known)
        assert full.as_of("mexc", ts_ms) == past.as_of("mexc", ts_ms)


@BATCHES
@given(histories(), st.lists(st.integers(1, 400), max_size=3))
def test_recording_in_batches_after_each_store_write_equals_recording_the_whole(
    history: list[Candles], cuts: list[int]
) -> None:
    """An incremental download records each batch after writing it; edge days still add up."""
    with tempfile.TemporaryDirectory() as whole_root, tempfile.TemporaryDirectory() as batch_root:
        whole = UniverseStore(Path(whole_root))
        store, batched = CandleStore(Path(batch_root)), UniverseStore(Path(batch_root))
        for candles in history:
            whole.record_from_candles("mexc", candles)
            edges = sorted({0, len(candles), *(c % (len(candles) + 1) for c in cuts)})
            for lo, hi in itertools.pairwise(edges):
                # overlap one candle, as a resumed download re-fetches the last one
                first = int(candles.ts_ms[max(lo - 1, 0)])
                batch = candles.between(first, int(candles.ts_ms[hi - 1]) + 1)
                store.write("mexc", batch)
                batched.record_from_candles("mexc", batch)
        for day in range(-1, 33):
            ts_ms = T0 + day * DAY + 7 * HOUR
            assert whole.as_of("mexc", ts_ms) == batched.as_of("mexc", ts_ms)
